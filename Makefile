# onkobench: `make demo` runs the bundled demo leaderboard, `make test` runs the whole test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUNS ?= runs/demo
SITE ?= site

.PHONY: demo test test-fast site install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch==2.13.0 first: on these machines it is a local CPU build, so the hf extra's torch range
# is already satisfied and pip never resolves a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[hf,dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/onkobench run --suite demo --out $(RUNS)
	$(BIN)/onkobench run --suite urollmeval-demo --out $(RUNS)
	$(BIN)/onkobench report $(RUNS) --out $(SITE)

site: install
	$(BIN)/onkobench report $(RUNS) --out $(SITE)

test: install
	$(BIN)/python -m pytest --runslow -q

test-fast: install
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(RUNS) $(SITE)
