# Quick start: `make run` (the demo gateway on 127.0.0.1:8080) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test bench lock clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml setup.py src/relaygate/_speedups.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

run: install
	$(BIN)/relaygate demo --host 127.0.0.1 --port 8080

test: install
	scripts/test-services.sh
	$(BIN)/python -m pytest
	RELAYGATE_PURE=1 $(BIN)/python -m pytest -p no:randomly tests/providers tests/governance/test_limits.py tests/governance/test_allowance.py tests/governance/test_limiter.py tests/governance/test_leases.py  # the Python code the C module stands in for

bench: install
	$(BIN)/python bench/run.py
	$(BIN)/python bench/side_by_side.py
	$(BIN)/python bench/side_by_side.py --stream
	$(BIN)/python bench/side_by_side.py --systems core,anthropic
	$(BIN)/python bench/side_by_side.py --systems core,anthropic --stream
	$(BIN)/python bench/instructions.py --systems core,governed,redis,anthropic  # needs valgrind
	$(BIN)/python bench/instructions.py --writer

lock:
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --extra test --strip-extras --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
