# The few commands a person types. `make run` starts everything; `make test` runs every test.
SHELL := /bin/bash
# pgserver ships wheels for CPython 3.11 and 3.12 only.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench bench-quick lint format browsers clean clean-data check-python

check-python:
	@if [ -z "$(PYTHON)" ]; then \
	  echo "auditsite needs Python 3.11 or 3.12 (the embedded PostgreSQL, pgserver, has wheels for those only)."; \
	  echo "Install one, e.g. 'apt-get install python3.11 python3.11-venv' or 'pyenv install 3.11', then run make again."; \
	  exit 1; fi

$(STAMP): requirements.txt requirements-dev.txt | check-python
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

## run: set up on a fresh machine and start web + worker + beat (embedded DB/Redis unless configured)
run: $(STAMP)
	$(BIN)/python -m auditsite.stack

## test: set up and run the whole suite (DATABASE_URL / CELERY_BROKER_URL, else the embedded
## PostgreSQL and Redis, started by the test run and stopped when it ends)
test: $(STAMP) browsers
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## bench: the performance benchmarks of SPEC §9 (figures go to bench/results/)
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

## bench-quick: the same benchmarks on smaller inputs (B3 at 1,000,000 log rows), a smoke run
bench-quick: $(STAMP)
	$(BIN)/python -m bench --quick $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## browsers: Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium),
## with a Japanese font so screenshots of Japanese pages are legible
APT_GET := $(if $(filter 0,$(shell id -u)),apt-get,sudo apt-get)
browsers:
	@command -v chromium >/dev/null || { $(APT_GET) update -qq && $(APT_GET) install -y -qq chromium chromium-driver; } \
	  || { echo "The browser tests need Debian's chromium: apt-get install chromium chromium-driver"; exit 1; }
	@fc-list 2>/dev/null | grep -qi ipagothic || { $(APT_GET) update -qq && $(APT_GET) install -y -qq fonts-ipafont-gothic; } \
	  || { echo "Screenshots of Japanese pages need a Japanese font: apt-get install fonts-ipafont-gothic"; exit 1; }

## clean-data: start over: the embedded servers' data (var/) and stored files (media/) go
clean-data:
	@if [ -x $(BIN)/python ] && ! $(BIN)/python -c "import sys; from auditsite import embedded; \
	  sys.exit(embedded.postgres_running() or embedded.redis_running())"; then \
	  echo "The embedded servers are running (make run?): stop them first."; exit 1; fi
	rm -rf var media

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache staticfiles
