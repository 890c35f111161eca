# Two commands for a user: `make demo` and `make test`. Both set up .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= out

# Without GEMINI_API_KEY the annotation step talks to the local fake LLM server (labelled so).
FAKE_LLM := $(if $(GEMINI_API_KEY),,CURATE_FAKE_LLM=1)
SAMPLE ?= 200

.PHONY: setup demo test lint bench inspect annotate clean

setup: $(STAMP)

# torch is pinned here: on a CPU box the pin takes the local CPU build, on a GPU box the CUDA one.
$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]' torch==2.13.0
	touch $(STAMP)

demo: setup inspect annotate

inspect: setup
	$(BIN)/curate inspect data/demo

annotate: setup
	$(FAKE_LLM) $(BIN)/curate annotate data/demo --sample $(SAMPLE) --rpm 60000 -o $(OUT)/annotations

bench: setup
	$(BIN)/python benchmarks/annotate_throughput.py

test: setup
	$(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check curate tests benchmarks tools
	$(BIN)/ruff format --check curate tests benchmarks tools

clean:
	rm -rf $(OUT)
