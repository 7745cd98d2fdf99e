"""Drafters: vision-language model backends behind one interface (see ``base.Drafter``)."""
