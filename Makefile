# Two commands for a newcomer: `make run` and `make test`. Each builds the virtual
# environment first when it is missing or the lock changed, so neither needs `make install`.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
# Touched after a successful install: older than the lock means "install again".
INSTALLED := $(VENV)/.installed

.PHONY: install run test test-fast lint bench lock

$(INSTALLED): requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "evonexus needs Python 3.11: set PYTHON=python3.11")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements-dev.txt
	touch $@

install: $(INSTALLED)

run: $(INSTALLED)
	DEBUG=$${DEBUG:-true} $(PY) manage.py runstack

test: $(INSTALLED)
	$(PY) -m pytest $(PYTEST_ARGS)

# The in-process tests alone (no server, worker or browser processes): under a minute.
test-fast: $(INSTALLED)
	$(PY) -m pytest -m "not process" -q $(PYTEST_ARGS)

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .

# Re-resolve after editing the dependencies in pyproject.toml: uv.lock, then its two
# pip-readable exports (requirements.txt: production; requirements-dev.txt: everything).
lock: $(INSTALLED)
	$(VENV)/bin/uv lock
	$(VENV)/bin/uv export --quiet --no-default-groups --no-emit-project -o requirements.txt
	$(VENV)/bin/uv export --quiet --all-groups --no-emit-project -o requirements-dev.txt

# Needs PostgreSQL, Redis and wrk (apt-get install wrk); about 20 minutes on 2 cores.
bench: $(INSTALLED)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) bench/run.py
	$(PY) bench/delivery.py
	$(PY) bench/media.py
	$(PY) bench/breaker.py
