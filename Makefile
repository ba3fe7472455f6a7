# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: demo test lint venv test-deps bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[test,demo,serve]'
	touch $@

venv: $(VENV)/.installed
	bash scripts/web-assets.sh  # the web UI's htmx, uPlot and Cytoscape, from the npm registry

demo: venv
	$(PY) demo/demo.py

test-deps: venv
	bash scripts/ensure-postgres.sh
	bash scripts/ensure-chromium.sh  # Debian's chromium, which Playwright drives in tests/web
	$(PY) tests/client_venvs.py  # the real clients users bring, in virtualenvs of their own

lint: venv
	$(VENV)/bin/ruff check src tests benchmarks demo scripts
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# The tests run mk as whole processes hundreds of times: compiled once here, or where
# PYTHONDONTWRITEBYTECODE is set each would compile the modules it imports again (0.25 s a process).
test: test-deps lint
	$(PY) -m compileall -q src tests > /dev/null
	$(VENV)/bin/pytest -q -n 2 --maxschedchunk 2 --durations=15  # the slowest tests, for whoever keeps the suite under 10 minutes

bench: venv
	$(PY) benchmarks/registry.py

clean:
	rm -rf $(VENV) .venv-clients demo/output .pytest_cache
