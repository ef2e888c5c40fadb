# Quick start: `make demo` (train + evaluate the 2-window demo model), `make test` (lint + the test suite).
# Each target creates the local virtual environment .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The torch the quick start and CI install and test with, before the package: pyproject.toml only asks for
# torch>=2.11 so that `pip install -e .` keeps a machine's own (CUDA) build. `make TORCH=...` for another.
TORCH ?= torch==2.13.0

.PHONY: demo test bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/winwin train configs/demo.yaml

test: $(STAMP)
	$(BIN)/ruff check winwin tests experiments
	$(BIN)/ruff format --check winwin tests experiments
	$(BIN)/python -m pytest tests

bench: $(STAMP)
	$(BIN)/winwin bench train

clean:
	rm -rf $(VENV) runs
