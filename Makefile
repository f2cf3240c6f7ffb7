# sfl-opt developer commands. Every target creates .venv and installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PIP     = $(BIN)/python -m pip
# The CPU build of PyTorch that lies on this machine's disk; never install an unpinned torch.
TORCH  ?= torch==2.13.0

.PHONY: demo test bench lint figures clean install install-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed-core: $(BIN)/python setup.cfg pyproject.toml
	$(PIP) install -q -e ".[all]"
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed-core
	$(PIP) install -q "$(TORCH)"
	$(PIP) install -q -e ".[all,test,harness]"
	touch $@

install: $(VENV)/.installed-core

install-test: $(VENV)/.installed-test

## make demo: install, then solve the bundled default scenario and compare with the baselines
demo: $(VENV)/.installed-core
	$(BIN)/sfl-opt solve
	$(BIN)/sfl-opt compare --seeds 3

## make test: install (with the harness extra, CPU torch), then run the whole test suite
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest tests -q

## make bench: the speed targets (pytest-benchmark)
bench: $(VENV)/.installed-test
	$(BIN)/python -m pytest benchmarks -q --benchmark-columns=min,median,max,rounds

lint: $(VENV)/.installed-test
	$(BIN)/ruff check sfl_opt tests benchmarks

figures: $(VENV)/.installed-core
	$(BIN)/sfl-opt figures

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .benchmarks
	find sfl_opt -name "*.nbi" -delete -o -name "*.nbc" -delete  # Numba caches
