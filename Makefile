# ClinSight: `make run` serves the app, `make test` runs the whole suite. Each does its own set-up.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
ADDRESS ?= 127.0.0.1
PYTEST_ARGS ?=

.PHONY: run test test-fast bench seed chromium postgresql nginx venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-notes.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -r requirements-notes.txt
	touch $@

# Debian's Chromium for the browser tests (never `playwright install`: it downloads and fails offline).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && \
		$$SUDO apt-get install -y -q --no-install-recommends chromium fonts-liberation fonts-noto-color-emoji; \
	fi

# Debian's PostgreSQL server binaries for the store tests' PostgreSQL leg (issue 16). The tests start their
# own throwaway cluster (tests/pg_cluster.py, which reuses deploy/local_postgres.py: initdb in a temp folder, Unix
# socket only, deleted at the end).
postgresql:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && \
		$$SUDO apt-get install -y -q --no-install-recommends postgresql; \
	fi

# Debian's nginx for `make cluster` (issue 16). In bookworm `nginx` is the server itself (nginx-light is `nginx`
# plus the echo module, which is not needed); it already has ip_hash, hash and websocket proxying. The cluster runs its own nginx
# from deploy/ under var/cluster/ (never the system service, never as root); RUNLEVEL=1 asks the package's
# scripts not to start the system service (where they obey it: sysvinit's invoke-rc.d, not systemd).
nginx:
	@if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && \
		$$SUDO env RUNLEVEL=1 apt-get install -y -q --no-install-recommends nginx; \
	fi

seed: venv
	$(PY) -m engine seed

run: venv seed
	$(PY) -m streamlit run serve.py --server.port $(PORT) --server.address $(ADDRESS) --server.headless true --browser.gatherUsageStats false

# The suite runs in $(TEST_WORKERS) processes (pytest-xdist), one whole test file at a time per process, so
# a module's server, store and browser stay together; TEST_WORKERS=0 runs it in this process alone. Files are
# handed out in collection order (tests/conftest.py puts the long browser files first), not xdist's default
# of most tests first, which left the few-test but long browser files for the end.
TEST_WORKERS ?= 2
XDIST = -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder
test: venv chromium postgresql nginx
	$(PY) -m pytest tests $(XDIST) $(PYTEST_ARGS)

# Unit + AppTest only (no browser); handy while developing.
test-fast: venv
	$(PY) -m pytest tests -m "not e2e" $(XDIST) $(PYTEST_ARGS)

# Flake detector: the suite N times, then per test how often it failed (tests/repeat.py; JUnit XML per run in
# test-artifacts/repeat). Narrow it with PYTEST_ARGS, e.g. `make test-repeat N=5 PYTEST_ARGS=tests/e2e`.
N ?= 5
.PHONY: test-repeat
test-repeat: venv chromium
	$(PY) -m tests.repeat --runs $(N) $(XDIST) $(PYTEST_ARGS)

bench: venv
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts

# Reliability and security (tests/reliability): full-size runs; each prints one JSON object as its last line
# (cases, failures, crashes, lost_rows). `make test` runs the same harnesses at a reduced size.
FUZZ_CASES ?= 1000
SOAK_SECONDS ?= 60
SOAK_KILLS ?= 20
.PHONY: fuzz soak

fuzz: venv
	@$(PY) -m tests.reliability.fuzz --cases $(FUZZ_CASES)

soak: venv
	@$(PY) -m tests.reliability.soak run --writers 8 --seconds $(SOAK_SECONDS) --kills $(SOAK_KILLS)

# REST API (FastAPI) on loopback; the same engine and store as the app. Docs at http://127.0.0.1:8000/docs
.PHONY: api
API_PORT ?= 8000
api: venv
	$(PY) -m uvicorn --factory engine.api.app:create_app --host 127.0.0.1 --port $(API_PORT) --no-server-header

# A cluster on this machine (issue 16): PostgreSQL (var/cluster/pg unless CLINSIGHT_DATABASE_URL is set), N app
# replicas, M API workers, nginx in front on CLUSTER_LISTEN with sticky sessions (deploy/cluster.py, deploy/).
# N and M are make variables: `make cluster N=3 M=2`. N also counts runs for test-repeat, so here it defaults to 2
# unless given on the command line or in the environment.
M ?= 2
CLUSTER_LISTEN ?= 127.0.0.1:8080
CLUSTER_STATE ?= var/cluster
CLUSTER_REPLICAS = $(if $(filter command line environment,$(origin N)),$(N),2)
.PHONY: cluster cluster-stop cluster-status
cluster: venv nginx postgresql
	$(PY) -m deploy.cluster start --state $(CLUSTER_STATE) --replicas $(CLUSTER_REPLICAS) \
		--api-workers $(M) --listen $(CLUSTER_LISTEN)

cluster-stop:
	@$(PY) -m deploy.cluster stop --state $(CLUSTER_STATE)

cluster-status:
	@$(PY) -m deploy.cluster status --state $(CLUSTER_STATE)
