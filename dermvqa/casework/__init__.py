"""Use cases of patients and clinicians as database transactions (no Telegram)."""
