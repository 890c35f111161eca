# Two commands for a user: `make demo` and `make test`. Both set up .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= out

.PHONY: setup demo test lint bench inspect clean

setup: $(STAMP)

# torch is pinned here: on a CPU box the pin takes the local CPU build, on a GPU box the CUDA one.
$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]' torch==2.13.0
	touch $(STAMP)

demo: setup inspect

inspect: setup
	$(BIN)/curate inspect data/demo

test: setup
	$(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check curate tests benchmarks tools
	$(BIN)/ruff format --check curate tests benchmarks tools

clean:
	rm -rf $(OUT)
