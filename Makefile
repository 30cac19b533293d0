# The two commands a newcomer needs: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: run test soak bench lint install migrate demo clean promises mutate

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@# The customer page's translations (locale/*/django.po -> .mo; needs GNU gettext's
	@# msgfmt; without it the committed .mo files are used as they are). No settings
	@# module: compiling needs none, and production settings would ask for secrets.
	@if command -v msgfmt >/dev/null; then \
		env -u DJANGO_SETTINGS_MODULE $(BIN)/python -m django compilemessages \
			--ignore=.venv --ignore=var --ignore=mutants -v0; \
	else echo "msgfmt (Debian package gettext) not found: using the committed .mo files"; fi
	touch $(STAMP)

install: $(STAMP)

# Web + Celery worker + beat + sandboxes on embedded defaults (SQLite, on-disk broker).
run: install
	PORT=$(PORT) $(BIN)/python scripts/run.py

migrate: install
	$(BIN)/python manage.py migrate

demo: migrate
	$(BIN)/python manage.py demo

# Every test, against PostgreSQL and Redis. scripts/with_services.py brings up what the
# tests need first: DATABASE_URL / REDIS_URL when set (never a fallback); else the servers
# at 127.0.0.1:5432 / 6379 when they answer; else throwaway ones started from the installed
# binaries on free ports and stopped when the run ends. As root it apt-get installs what
# is missing (chromium, postgresql, redis-server); anyone else is told the package names.
# Two pytest-xdist workers (the machine's two cores), a test file per worker at a time
# (--dist loadfile keeps a file's fixtures and figures together); TEST_WORKERS=0 runs serially.
# The API fuzz file runs after them on its own: schemathesis gives all its operations one
# test id, which xdist would run once. With PYTEST_ARGS only those run, on the workers.
TEST_WORKERS ?= 2
SERIAL_TESTS := tests/abuse/test_api_fuzz.py
PYTEST := $(BIN)/python -m pytest -m "not soak"
test: install
	$(BIN)/python scripts/with_services.py -- sh -c '\
		if [ -n "$(PYTEST_ARGS)" ]; then exec $(PYTEST) -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS); fi; \
		$(PYTEST) -n $(TEST_WORKERS) --dist loadfile --ignore=$(SERIAL_TESTS) && $(PYTEST) $(SERIAL_TESTS)'
	@$(BIN)/python scripts/promises.py > /dev/null

# CI (CI=true) fails the run when a test skips for a reason outside the allow-list in
# tests/conftest.py (ALLOWED_SKIPS); `make test STRICT_SKIPS=1` does the same locally.

# Mutation testing of the security-critical modules (config: [tool.mutmut] in pyproject.toml).
# Slow, so not part of `make test`. Prints every surviving mutant and fails if there is one.
# Narrow it with e.g. `make mutate MUTANTS='kyc.crypto*'`.
# Tenant scoping in kyc.selectors is its scoping functions (the page-state and dashboard
# reads there are not security-critical and are left out).
MUTANTS ?= kyc.crypto* kyc.status* kyc.services.inbox.x_inbound_store* \
	kyc.selectors.x_merchants_for_user* kyc.selectors.x_api_key_for_token* \
	kyc.selectors.x_transfers_for_merchant* kyc.selectors.x_records_for_merchant* \
	kyc.selectors.x_review_queue* kyc.selectors.x_reviews_waiting* \
	portal.api.auth* providers.corepass.signature* providers.blockpass.signature* \
	providers.corepass.callbacks*
mutate: install
	$(BIN)/python scripts/check_services.py
	$(BIN)/mutmut run --max-children 1 $(foreach m,$(MUTANTS),'$(m)')
	@$(BIN)/mutmut results > var/mutmut-results.txt 2>&1; cat var/mutmut-results.txt
	@! grep -q ": survived$$" var/mutmut-results.txt \
		|| (echo "make mutate: surviving mutants above: add a test that kills each"; exit 1)

# Re-render README's "What we promise" table from the figures the last test run recorded.
promises:
	$(BIN)/python scripts/promises.py

# Longer fault and soak runs.
soak: install
	$(BIN)/python scripts/check_services.py
	$(BIN)/python -m pytest -m soak $(PYTEST_ARGS)

# Load benchmark (bench/) on a production-like stack on 127.0.0.1 (see README), with py-spy flame
# graphs of the measured paths written to var/bench/ (the `bench` extra).
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench: install $(BENCH_STAMP)
	$(BIN)/python scripts/check_services.py
	$(BIN)/python -m bench.run $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy portal kyc providers bench

clean:
	rm -rf var staticfiles .pytest_cache
