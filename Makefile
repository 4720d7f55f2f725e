.DEFAULT_GOAL := help
SHELL := /bin/bash
export VIRTUAL_ENV := $(CURDIR)/.venv
PY := .venv/bin/python
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.venv/.installed: pyproject.toml
	python3 -m venv .venv
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q --group dev
	touch $@

.PHONY: install
install: .venv/.installed ## Create .venv with the development tools

.PHONY: build-dev
build-dev: install ## Build the extension in debug mode into .venv
	$(PY) -m maturin develop -q

.PHONY: build-release
build-release: install ## Build the extension optimized into .venv (what benchmarks measure)
	$(PY) -m maturin develop -q --release

.PHONY: wheel
wheel: install ## Build the release wheel into dist/
	$(PY) -m maturin build -q --release --out dist

.PHONY: format
format: install ## Reformat Python and Rust code
	$(PY) -m ruff check --fix python tests benches
	$(PY) -m ruff format python tests benches
	cargo fmt

.PHONY: lint
lint: install ## ruff, rustfmt and clippy (warnings are errors)
	$(PY) -m ruff check python tests benches examples
	$(PY) -m ruff format --check python tests benches examples
	cargo fmt --all -- --check
	cargo clippy -q --all-targets -- -D warnings
	cargo clippy -q --all-targets --features python -- -D warnings

.PHONY: typecheck
typecheck: install ## mypy --strict and stubtest against the built module
	$(PY) -m mypy python/vapi_fast tests benches
	$(PY) -m mypy.stubtest vapi_fast._native --allowlist .stubtest-allowlist

.PHONY: test-rust
test-rust: ## cargo test (pure Rust core, no Python)
	cargo test -q --release

.PHONY: test
test: build-release test-rust ## Rust and Python tests
	$(PY) -m pytest -q

.PHONY: bench
bench: build-release ## Benchmarks with the comparison libraries; prints the ratio table
	mkdir -p .benchmarks
	$(PY) -m pytest benches --benchmark-only --benchmark-group-by=group --benchmark-columns=median,iqr,ops -q \
		--benchmark-json=.benchmarks/latest.json
	$(PY) benches/report.py .benchmarks/latest.json
	$(PY) benches/quality_report.py

.PHONY: bench-load
bench-load: build-release ## Load test: concurrent calls against the mock, three audio paths (~10 min)
	mkdir -p .benchmarks
	$(PY) -m benches.load.sweep --json .benchmarks/load.json --markdown .benchmarks/load.md

.PHONY: bench-smoke
bench-smoke: install ## Run every benchmark once, untimed
	$(PY) -m pytest benches --benchmark-disable -q

.PHONY: demo
demo: build-release ## Run the demo
	.venv/bin/vapi-fast demo

.PHONY: check
check: ## Everything CI runs, from a fresh clone: wheel, lint, types, all tests, bench smoke
	bash .ci/run

.PHONY: all
all: format build-dev lint typecheck test bench-smoke ## The usual loop

.PHONY: help
help: ## List targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'
