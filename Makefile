# Auralis: the two commands are `make run` and `make test`.
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test setup setup-test test-unit test-integration test-browser test-js bench clean cluster cluster-down

setup:
	@bash scripts/setup.sh

setup-test:
	@bash scripts/setup.sh --test

run: setup
	$(VENV)/bin/auralis serve --host $(HOST) --port $(PORT)

test: setup-test
	$(PY) -m pytest -q tests/unit tests/integration
	@$(MAKE) --no-print-directory test-js
	$(PY) -m pytest -q tests/browser

test-unit: setup-test
	$(PY) -m pytest -q tests/unit

test-integration: setup-test
	$(PY) -m pytest -q tests/integration

test-browser: setup-test
	$(PY) -m pytest -q tests/browser

test-js:
	@if ls tests/js/*.test.mjs >/dev/null 2>&1; then node --test tests/js/; else echo "no JS tests"; fi

# A local cluster on loopback: 2 instances + nginx at http://127.0.0.1:8080 + redis-server
# (scripts/cluster.py; docs/deploy.md). Stopped, every pid checked, by `make cluster-down`.
cluster:
	@bash scripts/setup.sh --cluster
	$(PY) scripts/cluster.py up

cluster-down:
	@if [ -x $(PY) ]; then $(PY) scripts/cluster.py down; else python3 scripts/cluster.py down; fi

bench: setup-test
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info .cluster
