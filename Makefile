# The commands a person types. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export UV_PYTHON_DOWNLOADS := never
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")

.PHONY: help install demo up test lint bench bench-engine bench-ingest

help: ## list the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

install: ## install uv (if missing) and every package of the workspace from uv.lock
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@$(UV) sync --all-packages --frozen --quiet

demo: install ## run one real sweep on real data on the embedded stack, print the leaderboard, stop
	@$(UV) run --frozen zixly demo

up: install ## run the embedded stack in the foreground (ingest :8080, dashboard :8000) until Ctrl-C
	@$(UV) run --frozen zixly up

test: install ## run every test (starts Tansu, uses or starts PostgreSQL)
	@$(UV) run --frozen pytest

lint: install ## ruff, import-linter
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen ruff format --check .
	@$(UV) run --frozen lint-imports

bench: install ## backtest engine benchmark against vectorbt and backtesting.py (JSON lines)
	@$(UV) run --frozen python benchmarks/bench_engine.py

bench-ingest: install ## ingest benchmark: signed webhooks at rising concurrency, acks=all, events counted (JSON lines)
	@$(UV) run --frozen python benchmarks/bench_ingest.py

.PHONY: bench-scale asyncapi test-reliability

bench-scale: install ## 1 vs 2 backtester replicas on one sweep, then the 1-32 replica task spread (JSON lines)
	@$(UV) run --frozen python benchmarks/bench_scale.py

asyncapi: install ## write the AsyncAPI documents of the FastStream apps to docs/asyncapi/
	@$(UV) run --frozen zixly asyncapi docs/asyncapi

test-reliability: install ## the failure tests alone (ZIXLY_RELIABILITY_KILL_RUNS=20 for the full check of 20 kill runs)
	@$(UV) run --frozen pytest tests/reliability
