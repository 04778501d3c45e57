# One command to run the gateway, one to test it. Both build .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

$(VENV)/.run-deps: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .  # the command, .venv/bin/ollama-gate
	touch $@

$(VENV)/.test-deps: $(VENV)/.run-deps requirements-test.txt
	$(PY) -m pip install -q -r requirements-test.txt
	touch $@

.PHONY: install run test bench oidc-provider
install: $(VENV)/.run-deps

run: $(VENV)/.run-deps  ## install, create the database (first key printed once), serve
	$(VENV)/bin/ollama-gate serve --init

test: $(VENV)/.test-deps  ## install and run the whole test suite
	$(PY) -m pytest -q

oidc-provider:  ## the test OpenID provider, in a venv of its own (.cache/oidc-provider)
	PYTHON=$(PYTHON) bash tests/oidc_provider/setup.sh

bench: $(VENV)/.test-deps  ## gateway vs direct, written to bench/RESULTS.md
	$(PY) bench/run.py
