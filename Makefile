# Two commands matter on a fresh machine: `make demo` and `make test`. Both install first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.autodata-installed
# llama.cpp must be built portably here: a native build segfaults in the AMX kernels (DESIGN.md section 6).
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
DEMO_OUT ?= runs/demo
TORCH_VERSION ?= 2.13.0

.PHONY: install demo test test-slow test-unit test-integration bench serve clean help

help:
	@echo "make demo   install, then generate data from ../shared/corpora with the embedded model"
	@echo "make test   install, then run the test suite"
	@echo "make test-slow  only the slow-marked tests (meta-optimizer on the embedded model)"
	@echo "make serve  langgraph dev on 127.0.0.1:2025 (every graph, LangGraph Studio / SDK)"
	@echo "make bench  run the benchmarks (on demand; prints ratios)"

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU torch from this machine's disk; an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install -q "torch==$(TORCH_VERSION)"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install -q -e ".[local,serve,training,dev]"
	touch $(STAMP)

demo: install
	LANGSMITH_TRACING=$${LANGSMITH_TRACING:-false} $(BIN)/autodata demo --corpora ../shared/corpora --out $(DEMO_OUT)

# Everything, the slow-marked test included (2 meta-optimizer iterations on the embedded model: ~2.5 min idle).
test: install
	LANGSMITH_TRACING=false $(BIN)/python -m pytest -q -p no:cacheprovider

# Only the slow-marked tests.
test-slow: install
	LANGSMITH_TRACING=false $(BIN)/python -m pytest -q -p no:cacheprovider -m slow

test-unit: install
	LANGSMITH_TRACING=false $(BIN)/python -m pytest -q tests/unit

test-integration: install
	LANGSMITH_TRACING=false $(BIN)/python -m pytest -q tests/integration

serve: install
	LANGGRAPH_CLI_NO_ANALYTICS=1 $(BIN)/langgraph dev --no-browser --host 127.0.0.1 --port 2025

bench: install
	LANGSMITH_TRACING=false $(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) runs .pytest_cache
