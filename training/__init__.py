"""training: the nightly learning loop (dataset, LoRA fine-tuning, evaluation gate, registry)."""
