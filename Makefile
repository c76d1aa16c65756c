# The two commands: `make run` and `make test`. Everything installs into .venv.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: run test test-unit test-integration test-e2e lint migrate seed contracts \
        contracts-check bench chaos dlq-replay k8s-validate infra-check clean security

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

infra-check: $(STAMP)
	@$(BIN)/python scripts/check_infra.py

migrate: $(STAMP)
	$(BIN)/python -m crm_platform.migrations

seed: migrate
	$(BIN)/python -m gateway.seed

# Starts every service and the gateway (http://127.0.0.1:8000, docs at /docs).
run: $(STAMP)
	@$(BIN)/python scripts/check_infra.py --broker-only
	$(BIN)/python -m crm_platform.migrations
	$(BIN)/python -m crm_platform.service.topology
	$(BIN)/python -m gateway.seed
	@echo "gateway: http://127.0.0.1:8000/docs   (Ctrl-C stops everything)"
# each process's ops port comes from Procfile: an exported CRM_OPS_PORT would give all one
	env -u CRM_OPS_PORT $(BIN)/honcho start -f Procfile

test: $(STAMP) infra-check contracts-check
	$(BIN)/pytest -q tests

# S1 … S8 of issue 26 in full: every role of the permission table in the matrix, bigger
# and deeper hostile bodies, schemathesis with its coverage phase and many more examples
# per operation (`make test` runs the short versions)
security: $(STAMP) infra-check
	CRM_SECURITY_FULL=1 $(BIN)/pytest -q -s tests/unit/test_security_units.py \
		tests/e2e/test_security_tokens.py tests/e2e/test_security_matrix.py \
		tests/e2e/test_security_input.py tests/e2e/test_security_mass_assignment.py \
		tests/e2e/test_security_erasure.py tests/e2e/test_security_load.py \
		tests/e2e/test_security_file_names.py tests/e2e/test_security_schemathesis.py

test-unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

lint: $(STAMP)
	$(BIN)/ruff check libs gateway services tests bench scripts
	$(BIN)/mypy libs/crm_platform gateway $(wildcard services/*/domain)

contracts: $(STAMP)
	$(BIN)/python -m crm_platform.contracts write

contracts-check: $(STAMP)
	$(BIN)/python -m crm_platform.contracts check

bench: $(STAMP) infra-check
	$(BIN)/python bench/gateway_rpc.py

# deploy/k8s: both overlays rendered offline (kubectl kustomize), validated against the
# Kubernetes API schemas and the invariants in the test; no cluster needed
k8s-validate: $(STAMP)
	@command -v kubectl >/dev/null || { echo "k8s-validate needs kubectl (kustomize built in)"; exit 1; }
	$(BIN)/python scripts/k8s_manifests.py check
	$(BIN)/pytest -q tests/unit/test_k8s_manifests.py

# Chaos under load, the full run (docs/reliability.md): UNITS=2000 is 10,000 API writes.
UNITS ?= 2000
chaos: $(STAMP) infra-check
	$(BIN)/python bench/chaos.py --units $(UNITS)

# Dead letters: `make dlq-replay` lists every dead-letter queue of `make run`'s broker;
# `make dlq-replay QUEUE=<handler queue>.dlq` moves that one's messages back, once the
# cause is fixed (crmctl dlq replay; consumers drop what they had applied already).
dlq-replay: $(STAMP)
ifdef QUEUE
	$(BIN)/python -m crm_platform.cli dlq replay --queue $(QUEUE)
else
	$(BIN)/python -m crm_platform.cli dlq list --show
endif

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
