# Two commands for a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstalled whenever pyproject.toml changes.
$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(VENV)/.cli-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[cli]'
	touch $@

demo: $(VENV)/.cli-installed
	$(BIN)/sora2pro generate --offline "a happy dog running in the garden" --frames 15 --output demo.mp4 --overwrite
	@echo "The video is at $(CURDIR)/demo.mp4"

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python tools/check_layers.py

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy --strict sora2pro tests/typing_api.py benchmarks

unit: $(VENV)/.dev-installed
	$(BIN)/pytest -n auto

test: lint typecheck unit

# Figures for the README, not a test: about 10 minutes (benchmarks/README.md).
bench: $(VENV)/.dev-installed
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis demo.mp4
