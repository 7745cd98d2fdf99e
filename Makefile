# Two commands for a newcomer on a fresh machine:
#   make demo   set everything up and run the main job
#   make test   set everything up and run the whole test suite (ruff + pytest)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: setup test demo lint bench clean

setup: $(STAMP)

# torch first, pinned to the CPU build that lies on disk (other versions pull a multi-GB CUDA build).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(VENV)/bin/ruff check .
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest

# The offline demo: a fake Telegram server, `dermbot run` on a tiny random model, one full case.
# `make demo DEMO_ARGS="--model bczhou/tiny-llava-v1-hf"` runs it on a real model.
demo: $(STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m bot.demo $(DEMO_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) bench/eval_speed.py
	$(PY) bench/bot_load.py
	$(PY) bench/drafting.py
	$(PY) bench/training.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
