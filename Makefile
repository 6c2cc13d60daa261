# jiedao — see README.md. Two commands matter: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
MANAGE := $(PY) manage.py
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test test-unit test-e2e lint bench install static messages lock serve worker clean

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "jiedao needs Python 3.11+"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q uv==0.13.9
	$(UV) pip sync -q --python $(PY) requirements.lock
	$(UV) pip install -q --python $(PY) --no-deps -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed

static: install
	npm run --silent build
	$(MANAGE) compilemessages -v 0 --ignore=node_modules --ignore=.venv
	$(MANAGE) collectstatic --noinput -v 0

demo: static
	$(MANAGE) migrate --noinput -v 0
	$(MANAGE) demo_world --if-empty
	$(MANAGE) run_demo --host $(HOST) --port $(PORT)

serve: static
	$(MANAGE) runserver $(HOST):$(PORT)

worker: install
	$(MANAGE) run_worker

# The whole suite: unit, service, API, permission matrix, property tests and browser tests.
# DATABASE_URL=postgres://... make test runs it on PostgreSQL.
test: static
	$(PY) -m pytest -q -n 2 -m "not e2e"
	$(PY) -m pytest -q -m e2e

test-unit: install
	$(PY) -m pytest -q -n 2 -m "not e2e"

test-e2e: static
	$(PY) -m pytest -q -m e2e

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy jiedao
	$(MANAGE) makemigrations --check --dry-run -v 1
	@# The production settings pass Django's deployment checks (with throw-away keys).
	JIEDAO_ENV=production ALLOWED_HOSTS=jiedao.example.gov.cn \
	  SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	  JIEDAO_FIELD_KEY="$$($(PY) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
	  $(MANAGE) check --deploy --fail-level WARNING

bench: static
	@# The bench serves with DEBUG off: hashed static files need their manifest.
	DEBUG=0 JIEDAO_ENV=development $(MANAGE) collectstatic --noinput -v 0
	$(PY) -m bench

messages: install
	$(MANAGE) makemessages -l zh_Hans -l en --ignore=node_modules --ignore=.venv --ignore=tests --ignore=bench

# Re-pin Python dependencies after editing pyproject.toml (no registry host is written into the lock).
lock: install
	$(UV) pip compile pyproject.toml --group dev --generate-hashes --python-version 3.11 --universal -o requirements.lock -q

clean:
	rm -rf $(VENV) node_modules jiedao/static/dist staticfiles var
