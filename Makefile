# Gatehouse: `make run` starts the platform on embedded defaults, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Where the supervisor of managed servers listens (a unix socket under the var directory, or
# http://127.0.0.1:<port>), and the demo's remote server's port.
SUPERVISOR_URL ?= unix://$(abspath $(or $(GATEHOUSE_VAR_DIR),var))/run/supervisor.sock
DEMO_SERVER_PORT ?= 9001

.PHONY: install lock run run-prod test lint bench bench-rules bench-export bench-log bench-soak clean

install: $(VENV)/.installed node_modules/.installed

# requirements.lock pins every package the install resolves to, so two installs get the same.
$(VENV)/.installed: pyproject.toml requirements.lock connector/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e ".[dev]"
	$(BIN)/pip install --quiet --no-deps -e ./connector
	touch $@

# Re-resolve requirements.lock after a change to pyproject.toml's dependencies; versions already
# pinned stay unless a new requirement needs another (`LOCK_ARGS=--upgrade` takes the newest).
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --quiet \
		--custom-compile-command "make lock" $(LOCK_ARGS) -o requirements.lock

# npm from Node 20 installs the Node test tooling; the Node 24 wheel in the venv runs it.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --engine-strict=false
	touch $@

# Node is not needed to run the platform: without npx the demo's managed server shows why it
# is not running.
run: $(VENV)/.installed
	$(BIN)/python manage.py migrate --no-input
	@# The demo's remote MCP server and the supervisor of managed (stdio) servers start first, so
	@# they listen by the platform's first health check, and stop with the platform.
	$(BIN)/python manage.py run_demo_server --port $(DEMO_SERVER_PORT) & demo=$$!; \
	MANAGED_SUPERVISOR_URL=$(SUPERVISOR_URL) $(BIN)/python manage.py run_managed & \
	managed=$$!; trap 'kill $$demo $$managed 2>/dev/null' EXIT INT TERM; \
	$(BIN)/python manage.py load_demo --url http://$(HOST):$(PORT) \
		--demo-server-url http://127.0.0.1:$(DEMO_SERVER_PORT)/mcp && \
	$(BIN)/python manage.py collectstatic --no-input --verbosity 0 && \
	MANAGED_SUPERVISOR_URL=$(SUPERVISOR_URL) \
	$(BIN)/python manage.py serve --host $(HOST) --port $(PORT)

# The production topology on this machine, without containers: web workers, the Celery worker
# and beat, and the supervisor (deploy/Procfile), on PostgreSQL and Redis.
run-prod: $(VENV)/.installed
	@test -n "$$REDIS_URL" || \
		{ echo "make run-prod needs REDIS_URL (Redis), and DATABASE_URL (PostgreSQL) in production"; exit 2; }
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py collectstatic --no-input --verbosity 0
	PATH=$(abspath $(BIN)):$$PATH WEB_HOST=$(HOST) WEB_PORT=$(PORT) $(BIN)/honcho start --no-colour -f deploy/Procfile

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# One test process per core (at most four), each test file kept in one process: the files share
# their upstream servers and live gateways between their tests.
PYTEST_PROCESSES ?= auto
test: lint
	$(BIN)/pytest -n $(PYTEST_PROCESSES) --maxprocesses 4 --dist loadfile

# The data-plane table and bars, then the audit writer's ingest rate (SQLite and PostgreSQL).
bench: install
	$(BIN)/python bench/run.py; status=$$?; \
	$(BIN)/python bench/audit_ingest.py --entries 40000 --rounds 3 && exit $$status

# The default rule set's MB/s beside detect-secrets' on the labelled corpus, and both tools'
# findings per kind.
bench-rules: install
	$(BIN)/python bench/rules_engine.py

# Peak memory of exporting 1,000,000 audit log rows beside 10,000 (SQLite; PostgreSQL too when
# BENCH_DATABASE_URL is set). Several minutes: not part of `make bench`.
bench-export: install
	$(BIN)/python bench/export_memory.py

# The log viewer, search, timeline and filtered exports on 10,000,000 log rows in PostgreSQL
# (partitioned by day); LOG_ARGS="--rows 1000000" for a quicker run. Needs PostgreSQL.
bench-log: install
	$(BIN)/python bench/log_scale.py $(LOG_ARGS)

# The platform under four misbehaving upstreams for SOAK_MINUTES (30): healthy latency per
# window, errors, the server's memory and audit completeness. Not part of `make bench`.
bench-soak: install
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) var node_modules
