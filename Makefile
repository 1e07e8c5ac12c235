# The two commands a new user needs: `make run` (start the system) and `make test` (run every test).
# Both create or reuse .venv and install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: install run test lint openapi fuzz faults stock-properties bench bench-cold-start bench-requests bench-storm bench-flash-sale bench-latency bench-webhooks bench-kpis bench-capacity clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(STAMP) node_modules/.installed

run: install ## start moto, the CDK-defined resources, the API on 127.0.0.1 and seed data
	$(BIN)/python -m local

test: install lint ## lint, type-check, unit + handler + infra + local + end-to-end tests, cdk synth
	$(BIN)/python -m pytest -n 2 --dist loadgroup --durations=20
	npx cdk synth --quiet > /dev/null && echo "cdk synth: ok"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy oms functions

openapi: $(STAMP) ## regenerate docs/openapi.json from the handlers' routes
	$(BIN)/python -m scripts.openapi > docs/openapi.json

fuzz: install ## the contract test with many more generated cases per operation (OMS_CONTRACT_EXAMPLES)
	OMS_CONTRACT_EXAMPLES=$${OMS_CONTRACT_EXAMPLES:-500} $(BIN)/python -m pytest tests/e2e/test_contract.py -v

faults: install ## the fault suite: every scenario, 20 concurrent orders each (make test runs a fast subset)
	OMS_FAULT_SWEEP=full OMS_FAULT_ORDERS=$${OMS_FAULT_ORDERS:-20} $(BIN)/python -m pytest tests/e2e/test_fault_suite.py -v

stock-properties: $(STAMP) ## the stateful stock property test, 500 runs (make test runs 12)
	OMS_STOCK_EXAMPLES=$${OMS_STOCK_EXAMPLES:-500} $(BIN)/python -m pytest tests/handlers/test_stock_invariants.py tests/handlers/test_sharded_stock.py -v

bench: bench-cold-start bench-requests bench-storm bench-latency bench-webhooks bench-kpis bench-capacity bench-flash-sale ## every benchmark, one after another

bench-cold-start: $(STAMP) ## each function's init against a bare boto3 process with the same clients
	$(BIN)/python -m bench.cold_start

bench-requests: $(STAMP) ## AWS requests per POST /orders and per order, from moto's request recorder
	$(BIN)/python -m bench.aws_requests

bench-storm: $(STAMP) ## 200 orders for 10 units from 16 clients (then with 15 backorderable): nothing oversold
	$(BIN)/python -m bench.storm
	$(BIN)/python -m bench.storm --incoming 15

bench-flash-sale: $(STAMP) ## a step from 1 to 64 buyers on one (sharded) SKU until past its sell-out: counters agree exactly
	$(BIN)/python -m bench.flash_sale

bench-latency: $(STAMP) ## placement-to-PROCESSING latency on the local stack
	$(BIN)/python -m bench.order_latency

bench-webhooks: $(STAMP) ## a carrier webhook's answer time and how soon its event is applied, on the local stack
	$(BIN)/python -m bench.webhook_latency

bench-kpis: $(STAMP) ## the KPI projection for a month of 100,000 orders: item sizes, the report's time, requests per change
	$(BIN)/python -m bench.kpis

bench-capacity: install ## each scenario's demand per order on the local stack, then the capacity model (docs/capacity.md)
	$(BIN)/python -m bench.capacity record
	$(BIN)/python -m bench.capacity model

clean:
	rm -rf .oms cdk.out .pytest_cache .mypy_cache .ruff_cache
