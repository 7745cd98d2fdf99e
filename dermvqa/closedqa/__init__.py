"""The MEDIQA-MAGIC 2025 closed clinical questions: definitions, answers, a text extractor, the scorer.

The 27 questions (9 families) in ``definitions.json`` are the organisers' file
``closedquestions_definitions_imageclef2025.json`` (DermaVQA-DAS, Yim et al., DermaVQA, MICCAI 2024;
MEDIQA-MAGIC 2025 overview), shipped unchanged under CC BY 4.0.
"""
