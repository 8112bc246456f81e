# learnseg: `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Two installs: what the main job needs (training + serving), and the tools to test and lint.
RUN_STAMP := $(VENV)/.run-stamp
DEV_STAMP := $(VENV)/.dev-stamp
ROWS ?= 205843
SEED ?= 0

.DEFAULT_GOAL := help
.PHONY: help install install-run lock run serve train report inspect synth test lint format bench bench-assign bench-diff docker docker-nightly docker-run clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-10s %s\n", $$1, $$2}'

# Dependencies come pinned, with hashes, from requirements/*.lock (`make lock` writes them from
# pyproject.toml); the project itself is then installed without resolving anything more.
# The client distribution (clients/python: httpx and pydantic, both in every lock) goes in too.
$(RUN_STAMP): pyproject.toml requirements/run.lock clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements/run.lock
	$(PY) -m pip install --quiet --no-deps -e . -e ./clients/python
	@touch $(RUN_STAMP)

$(DEV_STAMP): $(RUN_STAMP) requirements/dev.lock
	$(PY) -m pip install --quiet --require-hashes -r requirements/dev.lock
	@touch $(DEV_STAMP)

install-run: $(RUN_STAMP) ## Create .venv with what training and serving need, and the client (no Spark, no dev tools)

lock: ## Re-pin every dependency (requirements/{serve,run,dev}.lock, with hashes) from pyproject.toml
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --python-version 3.11 --universal --generate-hashes --no-header -q -o requirements/serve.lock
	$(VENV)/bin/uv pip compile pyproject.toml --extra train --python-version 3.11 --universal --generate-hashes --no-header -q -o requirements/run.lock
	$(VENV)/bin/uv pip compile pyproject.toml --extra train --extra dev --extra spark --python-version 3.11 --universal --generate-hashes --no-header -q -o requirements/dev.lock

install: $(DEV_STAMP) ## install-run, plus the dev tools and the Spark engine (tests, lint, bench)

run: install-run ## Main job: train on the embedded default if models/LATEST is missing, then serve
	@test -f models/LATEST || $(PY) -m training train
	$(PY) -m service

serve: install-run ## Serve models/LATEST on 127.0.0.1:8000 (LEARNSEG_* settings apply)
	$(PY) -m service

train: install-run ## Train on the embedded default, or DATA=path-or-URL (ARGS="--k 5" etc.)
	$(PY) -m training train $(if $(DATA),--data $(DATA)) $(ARGS)

report: install-run ## Rebuild the report of MODEL=models/<version> (default: models/LATEST)
	$(PY) -m training report $(or $(MODEL),models/$$(cat models/LATEST))

inspect: install-run ## Data-quality summary of SOURCE=path-or-URL (default: the embedded table)
	$(PY) -m training inspect $(SOURCE)

synth: install-run ## Write the embedded default table to OUT=path (ROWS, SEED)
	$(PY) -m training synth --rows $(ROWS) --seed $(SEED) --out $(or $(OUT),data/learners.csv)

lint: install ## ruff, mypy, import contracts (import-linter), hadolint, deploy/ manifests (offline)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/hadolint Dockerfile
	$(VENV)/bin/kubernetes-validate --strict --quiet deploy/kubernetes/*.yaml
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.compose-spec deploy/compose.yaml

format: install ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint ## Lint, type-check and run the whole test suite
	$(PY) -m pytest

bench: install ## Benchmarks (tables on stdout; results go to docs/benchmarks.md)
	$(PY) bench/data.py
	$(PY) bench/train.py
	$(PY) bench/clustering.py

bench-assign: install ## Bulk assignment against pyarrow on 0.2M/2M/10M rows (tables kept in /tmp)
	$(PY) bench/assign.py

bench-diff: install ## diff against one assign on 205,843 rows, and the churn of a 90 % retrain
	$(PY) bench/diff.py

docker: ## Build the image (models mounted at run time; BAKE_MODELS=true bakes models/LATEST in)
	docker build -t learnseg $(if $(BAKE_MODELS),--build-arg BAKE_MODELS=$(BAKE_MODELS)) .

docker-nightly: ## Build the nightly job's image (python -m training: train, diff, assign)
	docker build --target nightly -t learnseg-nightly .

docker-run: ## Run the image with ./models mounted read-only on port 8000 (LEARNSEG_API_KEYS=... set)
	docker run --rm -p 8000:8000 -e LEARNSEG_API_KEYS -e LEARNSEG_ADMIN_KEYS -v "$$PWD/models:/app/models:ro" learnseg

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
