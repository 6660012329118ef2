# shoplab: the front door. `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: help setup test test-unit test-quick test-integration test-e2e lint fmt lock clean bench-shop profile-shop count-shop bench-exporter load \
	local-up local-down local-status local-reset demo readme-picture up down prometheus-config compose-config \
	alerts-test alerts-review alertmanager-config \
	dashboards dashboards-check verify-dashboards audit fuzz capacity chaos generate check rules rules-check report \
	k8s-plan gate ab trend lint-workflows

help: ## List every target with what it does
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: ## Install system packages (Debian, as root) and the Python venv; idempotent
	@bash scripts/setup.sh

$(PY):
	@echo "make: $(VENV) is missing; run 'make setup' first" >&2; exit 1

test: $(PY) ## Lint and every test (unit, integration, e2e) in three streams at once; the slowest; one summary line
	@bash scripts/test.sh $(PYTEST_ARGS)

test-unit: $(PY) ## Unit tests only: no server (~40 s)
	@echo "test-unit: pytest tests/unit"
	@$(PY) -m pytest -q tests/unit $(PYTEST_ARGS)

test-quick: $(PY) ## The developer's loop: unit and integration (real servers), no native stack (~5 min)
	@echo "test-quick: pytest -m 'not e2e' (tests/unit, tests/integration)"
	@$(PY) -m pytest -q -m "not e2e" --durations=10 $(PYTEST_ARGS)

test-integration: $(PY) ## Integration tests only: real MariaDB, Redis, Prometheus from the harness
	@echo "test-integration: pytest tests/integration"
	@$(PY) -m pytest -q tests/integration $(PYTEST_ARGS)

test-e2e: $(PY) ## End-to-end tests only: one shared native stack (and the replicas' own)
	@echo "test-e2e: pytest tests/e2e (one shared native stack on free ports)"
	@$(PY) -m pytest -q tests/e2e --durations=10 $(PYTEST_ARGS)

lint: $(PY) ## ruff check and format check; deploy/k8s/ rendered and validated offline; the CI workflows
	@echo "lint: ruff check + ruff format --check + deploy/k8s (kustomize, schemas) + workflows"
	@$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check --quiet . \
	  && $(PY) -m deploy.check && $(MAKE) --no-print-directory lint-workflows && echo "lint: clean"

# shellcheck and pyflakes are not installed by make setup: off, so every machine lints alike.
lint-workflows: $(PY) ## actionlint and GitHub's workflow schema (check-jsonschema) on .github/workflows/
	@echo "lint-workflows: actionlint + check-jsonschema --builtin-schema vendor.github-workflows"
	@$(VENV)/bin/actionlint -shellcheck= -pyflakes= .github/workflows/*.yml \
	  && $(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

k8s-plan: $(PY) ## Write deploy/k8s/load/plan.json (the load overlay's plan) from lab/load/scenarios.json
	@$(PY) -m lab.load.k8s_plan

fmt: $(PY) ## Apply ruff fixes and formatting
	@$(VENV)/bin/ruff check --fix . ; $(VENV)/bin/ruff format .

lock: ## Re-resolve dependencies from pyproject.toml into constraints.txt
	@echo "lock: resolving in a scratch venv"
	@rm -rf .lock-venv && python3 -m venv .lock-venv \
	  && .lock-venv/bin/pip install -q --disable-pip-version-check -e '.[dev]' >/dev/null \
	  && .lock-venv/bin/pip freeze --exclude-editable --disable-pip-version-check | grep -v '^-e' > constraints.txt \
	  && rm -rf .lock-venv && echo "lock: wrote constraints.txt ($$(wc -l < constraints.txt) pins)"

bench-shop: $(PY) ## The shop, its textbook peer (bench/peer/) and the Spring shop: held rates, ratios, CPU/request
	@echo "bench-shop: own MariaDB + Redis; shop (granian), peer (gunicorn), Spring shop (JVM warmed first) on loopback; interleaved k6 steps"
	@$(PY) bench/bench_shop.py $(BENCH_ARGS)

TOOL ?= k6
SCENARIO ?= smoke
LOAD_ARGS_COMMON = --tool $(TOOL) $(if $(TARGET_TPS),--target-tps $(TARGET_TPS)) \
	$(if $(SCALE),--scale $(SCALE)) $(if $(HOT_USERS),--hot-users $(HOT_USERS)) \
	$(if $(PROCESSES),--locust-processes $(PROCESSES)) $(if $(STRATEGY),--strategy $(STRATEGY))
LOAD_ARGS = --scenario $(SCENARIO) $(LOAD_ARGS_COMMON) $(if $(WATCH),--watch $(WATCH))

load: $(PY) ## Load test: TOOL=k6|locust SCENARIO=smoke|load|soak|stress|spike [TARGET_TPS= SCALE= HOT_USERS= STRATEGY=]
	@$(PY) -m lab.load $(LOAD_ARGS)

capacity: $(PY) ## Highest rate holding the SLO, what limits it, its spread and the USL model [TOOL= STRATEGY= TARGET_TPS= SCALE= BUDGET=600 RUNS=1 LOCAL_SHOP_REPLICAS=1,2,3]
	@$(PY) -m lab.capacity $(LOAD_ARGS_COMMON) $(if $(BUDGET),--budget $(BUDGET)) $(if $(RUNS),--runs $(RUNS))

gate: $(PY) ## CI perf gate: own stack on free ports, k6 smoke + short load, thresholds, audit, deck; exit 0 only on PASS [TARGET_TPS=50 SCALE=0.15 GATE_BUDGET=300]
	@echo "gate: own native stack on free ports; a smoke, then the short load run; thresholds, audit, deck"
	@$(PY) -m lab.gate

ab: $(PY) ## BASE=<git ref> against the working tree: interleaved short loads on one stack, ratios head/base per metric [AB_PASSES=4 AB_HEAD_ENV=]
	@echo "ab: BASE against the working tree: interleaved passes on one native stack on free ports"
	@$(PY) -m lab.gate ab

audit: $(PY) ## The books balance and every 201 the client saw is stored [RUN=<testid>, default: newest]
	@echo "audit: invariants of the shop's database, then the run's order log reconciled"
	@$(PY) -m lab.audit $(if $(RUN),--run $(RUN))

chaos: $(PY) ## Faults during a steady load on an own native stack, a row each [FAULT=all|name TOOL=k6 SCALE=1 TARGET_TPS=200]
	@echo "chaos: own native stack on free ports; FAULT=$(or $(FAULT),all) during a $(TOOL) load at a quarter of TARGET_TPS"
	@$(PY) -m lab.chaos --fault $(or $(FAULT),all) --tool $(TOOL) $(if $(SCALE),--scale $(SCALE)) \
	  $(if $(TARGET_TPS),--target-tps $(TARGET_TPS))

fuzz: $(PY) ## Longer fuzzing: schemathesis on the OpenAPI contract (all checks, stateful), hypothesis on the InnoDB parser [FUZZ_EXAMPLES=300]
	@echo "fuzz: schemathesis against the shop's /openapi.json ($(or $(FUZZ_EXAMPLES),300) examples per operation), then the parser (hypothesis profile fuzz)"
	@FUZZ_EXAMPLES=$(or $(FUZZ_EXAMPLES),300) $(PY) -m pytest -q tests/integration/test_contract_fuzz.py
	@HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -q tests/unit/test_innodb_parser_fuzz.py

report: $(PY) ## The deck of a run: RUN=<testid> [BASELINE=<testid>] -> results/<RUN>/report.html, .md, .json, .png
	@if [ -z "$(RUN)" ]; then echo "report: set RUN=<testid> (a folder under results/)" >&2; exit 2; fi
	@echo "report: $(RUN)$(if $(BASELINE), against $(BASELINE)) from the native stack's Prometheus"
	@$(PY) -m lab.report $(RUN) $(if $(BASELINE),--baseline $(BASELINE)) $(REPORT_ARGS)

trend: $(PY) ## Change points (Apache Otava) in the run history of make gate and make capacity, drawn -> results/trend.html [HISTORY_FILE=results/history.jsonl]
	@echo "trend: the run history's change points (Apache Otava)"
	@$(PY) -m lab.report.trend

profile-shop: $(PY) ## Where one request's CPU goes in the shop, by layer (py-spy under k6; ~1 min)
	@echo "profile-shop: own MariaDB + Redis + shop (shop.serve); k6 orders then popular, py-spy on every worker"
	@$(PY) bench/profile_shop.py $(PROFILE_ARGS)

count-shop: $(PY) ## Instructions per request of the shop's app and its peer's (callgrind; deterministic; ~8 min)
	@echo "count-shop: own MariaDB + Redis; the app in-process under valgrind --tool=callgrind, n then 3n requests per case"
	@$(PY) bench/count_shop.py $(COUNT_ARGS)

bench-exporter: $(PY) ## Benchmark the InnoDB exporter: parser docs/s, scrape p50/p99 under load (<90 s)
	@echo "bench-exporter: parser throughput, then own MariaDB + write load + exporter on loopback"
	@$(PY) bench/bench_exporter.py $(BENCH_ARGS)

.PHONY: bench-sales
bench-sales: $(PY) ## Daily sales in the order transaction vs queued (SHOP_SALES_MODE), hot products, interleaved (~2 min)
	@echo "bench-sales: own MariaDB on a free loopback port, 5 hot products; sync, async, sync, async steps"
	@$(PY) -m bench.sales $(BENCH_ARGS)

local-up: $(PY) ## Start the native stack (MariaDB, Redis, shop behind nginx, exporters, Prometheus, Alertmanager) [LOCAL_SHOP_REPLICAS=1]
	@$(PY) -m stack up

local-status: $(PY) ## One line per native stack component: up or DOWN, and its URL
	@$(PY) -m stack status

local-down: $(PY) ## Stop exactly what local-up started
	@$(PY) -m stack down

local-reset: $(PY) ## Stop the native stack and delete its data (next local-up seeds afresh)
	@$(PY) -m stack reset

readme-picture: $(PY) ## docs/deck.png, the README's picture: the newest demo deck's first screen, small
	@$(PY) -m lab.demo picture

demo: $(PY) ## The story in ~3 min: naive deadlocks on users, the safe fix, TARGET_TPS held or not, the deck [TARGET=]
	@$(PY) -m lab.demo

prometheus-config: $(PY) ## Render provisioning/prometheus/prometheus.yml (compose) from jobs.yml
	@$(PY) -m stack prometheus-config

compose-config: $(PY) ## Render compose.yml from the service table (stack/services.py)
	@$(PY) -m stack compose

alerts-test: $(PY) ## promtool check + unit tests of the alert rules; firing/silent cases per alert
	@$(PY) -m stack.alert_rules test

alerts-review: $(PY) ## Render docs/alerts.md from the rule files (group, severity, for, expr, runbook)
	@$(PY) -m stack.alert_rules review

alertmanager-config: $(PY) ## Render compose's alertmanager.local.yml with Slack/email from .env
	@$(PY) -m stack.alertmanager_config

generate: $(PY) ## Regenerate every generated file: recording rules, dashboards, compose.yml and its prometheus.yml, docs/alerts.md, the k8s plan and ConfigMap sources
	@echo "generate: rules, dashboards, compose.yml, prometheus config, docs/alerts.md, k8s plan and sources"
	@$(PY) -m signals.build && $(PY) -m dashboards.build && $(PY) -m stack prometheus-config \
	  && $(PY) -m stack compose && $(PY) -m stack.alert_rules review && $(PY) -m lab.load.k8s_plan \
	  && $(PY) -m deploy.sources

check: $(PY) ## Fail if any generated file is stale (rules, dashboards, compose.yml, prometheus.yml, docs/alerts.md, the k8s plan and sources)
	@echo "check: every generated file against a fresh build"
	@$(PY) -m signals.build --check && $(PY) -m dashboards.build --check \
	  && $(PY) -m stack compose --check \
	  && $(PY) -m stack.alert_rules review --check && $(PY) -m lab.load.k8s_plan --check \
	  && $(PY) -m deploy.sources --check \
	  && $(PY) -c "from stack.prometheus_config import COMPOSE_CONFIG as c, dump, render; \
	    raise SystemExit(0 if c.read_text() == dump(render('compose')) else 'check: prometheus.yml stale')" \
	  && echo "check: every generated file is fresh"

rules: $(PY) ## Generate the recording rules from the signal catalog (signals/catalog.py)
	@$(PY) -m signals.build

rules-check: $(PY) ## Fail if a generated recording rule file differs from a fresh build
	@$(PY) -m signals.build --check

dashboards: $(PY) ## Generate the Grafana dashboards (grafanalib) into provisioning/grafana/dashboards/
	@$(PY) -m dashboards.build

dashboards-check: $(PY) ## Fail if the committed dashboard JSON differs from a fresh build
	@$(PY) -m dashboards.build --check

verify-dashboards: $(PY) ## Every panel's queries on Prometheus during short naive k6 and Locust runs; n/a by the target's dialect (~3 min) [TARGET= VERIFY_ARGS=--running]
	@echo "verify-dashboards: $(if $(TARGET),TARGET=$(TARGET),the shop (with --running: the running stack's target)) on a native stack (naive), a short k6 then Locust load, every panel queried"
	@$(PY) -m lab.verify.verify $(VERIFY_ARGS)

up: ## Start the Docker stack (compose.yml); needs a Docker engine and .env
	@bash scripts/compose.sh up -d --build

down: ## Stop the Docker stack
	@bash scripts/compose.sh down

clean: ## Remove the venv and caches (not the system packages)
	@echo "clean: removing $(VENV) and caches"
	@rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
