# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
export FLASK_APP := wsgi.py

.PHONY: run test test-pg test-two-servers county-stack lint serve translations babel-extract clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt requirements.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# Compiled catalogues are build output: made here, not committed.
translations: $(VENV)/.installed
	$(BIN)/pybabel compile -d translations

run: translations
	$(BIN)/flask db upgrade
	$(BIN)/flask demo load --if-empty
	HOST=$(HOST) PORT=$(PORT) $(BIN)/python run.py

# Production serving: gunicorn with WEB_CONCURRENCY workers (default from the cores) on HOST:PORT,
# DATABASE_URL's database migrated first; no demo data (gunicorn.conf.py holds the settings).
serve: translations
	$(BIN)/flask db upgrade
	HOST=$(HOST) PORT=$(PORT) $(BIN)/gunicorn -c gunicorn.conf.py

# Style, then the import layers of pyproject.toml (tests/test_layers.py shows a new circle failing).
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

# Test processes (pytest-xdist): one per core by default; TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= auto

test: $(VENV)/.installed-dev translations lint
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS); rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; exit 1; fi; exit $$rc

# The suite again on PostgreSQL: TEST_DATABASE_URL names a server (see .ci/postgres.sh).
test-pg: $(VENV)/.installed-dev translations
	@test -n "$$TEST_DATABASE_URL" || { echo "test-pg: set TEST_DATABASE_URL (eval \"\$$(.ci/postgres.sh)\")"; exit 2; }
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS); rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; exit 1; fi; exit $$rc

# A county deployment on this machine (issue 18, README "Deploying for a county"): two gunicorn
# app servers in stateless mode, PostgreSQL (TEST_DATABASE_URL's server, else .ci/postgres.sh),
# moto's S3 server and redis-server, on free ports, until Ctrl-C (deploy/county_stack.py).
county-stack: $(VENV)/.installed-dev translations
	$(BIN)/python deploy/county_stack.py

# The proof against that stack (tests/test_two_servers.py, its own stack): 100 users for 60 s
# (LOAD_USERS, LOAD_SECONDS shorten it), a file and a throttle shared, a server killed mid-run.
test-two-servers: $(VENV)/.installed-dev translations
	TWO_SERVERS=1 $(BIN)/python -m pytest -q -n 0 tests/test_two_servers.py

# Extract our strings and merge them into the catalogue (run after changing user-facing text).
babel-extract: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k lazy_gettext -k _l -o translations/messages.pot .
	$(BIN)/pybabel update -N -i translations/messages.pot -d translations

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
