# The two commands a newcomer needs: `make run` (the gateway on embedded defaults) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Integration and e2e tests use the local PostgreSQL and Redis (.ci/run starts them when absent).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/wagateway
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install run test lint unit neonize integration docs

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt -r requirements-dev.txt
	touch $@

install: $(STAMP)

run: install
	$(BIN)/python manage.py serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python manage.py errors --check
	$(BIN)/python manage.py configdoc --check

unit: install
	env -u DATABASE_URL -u REDIS_URL $(BIN)/python -m pytest tests/unit

# The neonize adapter's tests run in a pytest process of their own: its Go core must never share a
# process with the rest of the suite (which forks subprocesses).
neonize: install
	env -u DATABASE_URL -u REDIS_URL $(BIN)/python -m pytest tests/neonize

integration: install
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python -m pytest tests/integration tests/e2e

test: lint unit neonize integration

docs: install
	$(BIN)/python manage.py errors --format markdown
	$(BIN)/python manage.py configdoc
