"""dermvqa: the core of the dermatology assistant, usable without Telegram.

Data formats of the DermaVQA / MEDIQA-MAGIC challenge, the seed paper's prompts, the challenge's
metrics (deltaBLEU, BERTScore) and answer-collapse metrics, storage, the job queue, the drafters and
the worker. This package never imports ``bot`` or ``training``.
"""

__version__ = "0.1.0"
