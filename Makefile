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

# The suite on SQLite (or on DATABASE_URL); then, when DATABASE_URL is unset and a local
# PostgreSQL answers, the tests marked `postgresql` (and `postgresql_only`: PgBouncer) on
# it: the production statement is tested on every run, not only in CI. (pytest's exit 5
# there: none selected.)
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/test
PG_ANSWERS := import socket; socket.create_connection(("127.0.0.1", 5432), timeout=1)

test: $(INSTALLED)
	$(PY) -m pytest $(PYTEST_ARGS)
	@if [ -z "$$DATABASE_URL" ] && $(PY) -c '$(PG_ANSWERS)' 2>/dev/null; then \
		echo "== the PostgreSQL tests (-m 'postgresql or postgresql_only'), on $(PG_TEST_URL)"; \
		DATABASE_URL=$(PG_TEST_URL) $(PY) -m pytest -m "postgresql or postgresql_only" -q $(PYTEST_ARGS) \
			|| [ $$? -eq 5 ]; \
	fi

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

# Needs PostgreSQL, Redis and wrk (apt-get install wrk); about 35 minutes on 2 cores.
bench: $(INSTALLED)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) bench/run.py
	$(PY) bench/delivery.py
	$(PY) bench/media.py
	$(PY) bench/breaker.py
	$(PY) bench/instances.py
