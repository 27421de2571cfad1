# One command each: install, run the stack on the embedded SQLite default, test, lint.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python

.PHONY: install run test lint bench

install:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt

run:
	DEBUG=$${DEBUG:-true} $(PY) manage.py runstack

test:
	$(PY) -m pytest $(PYTEST_ARGS)

lint:
	$(VENV)/bin/ruff check .

# Needs PostgreSQL, Redis and wrk (apt-get install wrk); about 7 minutes on 2 cores.
bench:
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) bench/run.py
	$(PY) bench/delivery.py
