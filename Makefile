# Two commands: `make run` (the app on the offline MNIST default) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench bench-quick screenshots setup clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	$(BIN)/pip install --disable-pip-version-check -q -e . --no-build-isolation --no-deps
	touch $(STAMP)

setup: $(STAMP)

# Local to this machine; `make run ARGS="--shared --data-root DIR"` serves others (README, Serving others).
run: $(STAMP)
	$(BIN)/python -m ui.serve $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Rewrites the tracked docs/screenshots/*.png (a plain test run writes them under tests/artifacts/ only).
screenshots: $(STAMP)
	UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest -q -m browser

bench: $(STAMP)
	$(BIN)/python -m benchmarks

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks --quick

clean:
	rm -rf $(VENV) .pytest_cache
