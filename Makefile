# Two commands matter on a fresh machine: `make demo` and `make test`. Both install first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.autodata-installed
# llama.cpp must be built portably here: a native build segfaults in the AMX kernels (DESIGN.md section 6).
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
DEMO_OUT ?= runs/demo
# The scale-out stack's server: langgraph-runtime-pg pins langgraph-api==0.11.1, so it gets its own virtualenv
# and .venv keeps its newer langgraph-api for `langgraph dev` (DESIGN.md section 6).
SCALE_VENV ?= .venv-scale
SCALE_STAMP := $(SCALE_VENV)/.autodata-scale-installed
RUNTIME_PG ?= langgraph-runtime-pg==0.11.1.post1
REPLICAS ?= 2
WORKERS ?= 0
SCALE_PORT ?= 2030
TORCH_VERSION ?= 2.13.0

.PHONY: install demo test test-slow test-unit test-integration bench serve clean help scale-venv serve-scale serve-scale-stop

help:
	@echo "make demo   install, then generate data from ../shared/corpora with the embedded model"
	@echo "make test   install, then run the test suite"
	@echo "make test-slow  only the slow-marked tests (meta-optimizer on the embedded model)"
	@echo "make serve  langgraph dev on 127.0.0.1:2025 (every graph, LangGraph Studio / SDK)"
	@echo "make bench  run the benchmarks (on demand; prints ratios)"
	@echo "make serve-scale  Postgres, Redis and REPLICAS=2 API replicas (+ WORKERS=0 queue workers) on loopback"
	@echo "make serve-scale-stop  stop everything serve-scale started"

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
# The scale-out tests also need Postgres and Redis from the distribution (.ci/run installs them).
test: install scale-venv
	LANGSMITH_TRACING=false $(BIN)/python -m pytest -q -p no:cacheprovider

# Only the slow-marked tests.
test-slow: install
	LANGSMITH_TRACING=false $(BIN)/python -m pytest -q -p no:cacheprovider -m slow

test-unit: install
	LANGSMITH_TRACING=false $(BIN)/python -m pytest -q tests/unit

test-integration: install scale-venv
	LANGSMITH_TRACING=false $(BIN)/python -m pytest -q tests/integration

serve: install
	LANGGRAPH_CLI_NO_ANALYTICS=1 $(BIN)/langgraph dev --no-browser --host 127.0.0.1 --port 2025

bench: install scale-venv
	LANGSMITH_TRACING=false $(BIN)/python benchmarks/run_all.py

# The pg runtime's virtualenv: langgraph-api 0.11.1 with the Postgres/Redis runtime, and this package (the graphs).
scale-venv: $(SCALE_STAMP)

$(SCALE_STAMP): pyproject.toml
	test -x $(SCALE_VENV)/bin/python || $(PYTHON) -m venv $(SCALE_VENV)
	$(SCALE_VENV)/bin/python -m pip install -q --upgrade pip
	$(SCALE_VENV)/bin/python -m pip install -q "$(RUNTIME_PG)" -e .
	touch $(SCALE_STAMP)

# Postgres, Redis, REPLICAS API replicas (ports from SCALE_PORT) and WORKERS queue workers, serving every graph in
# langgraph.json on 127.0.0.1 with the models of this shell's AUTODATA_* settings; returns once all answer.
serve-scale: scale-venv
	$(SCALE_VENV)/bin/python scripts/scale_stack.py up --replicas $(REPLICAS) --workers $(WORKERS) --port $(SCALE_PORT)

serve-scale-stop:
	$(PYTHON) scripts/scale_stack.py down

clean:
	rm -rf $(VENV) $(SCALE_VENV) .scale-stack runs .pytest_cache
