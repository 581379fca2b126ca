# One Makefile for developers and CI (.ci/run calls these targets).
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
# Two test processes on a two-core machine; each gets its own databases.
TEST_WORKERS ?= 2

export UV_LINK_MODE := copy

.PHONY: install browser wrk run test lint format bench clean

# uv comes from PyPI into a private tools venv, so a machine with only Python and pip works.
$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON)
	touch $(STAMP)

install: $(STAMP)

# The browser tests (tests/web/test_browser.py) drive Debian's Chromium; install it where it is
# missing (as root; otherwise say how). Playwright never downloads a browser here.
CHROMIUM := /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "browser: installing Debian's chromium"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update && apt-get install -y chromium; \
	  else \
	    echo "browser: $(CHROMIUM) is missing; as root run: apt-get install -y chromium" \
	      "(the browser tests are skipped without it)"; \
	  fi; \
	fi

run: install
	$(VENV)/bin/kasacare serve --host $(HOST) --port $(PORT)

test: install browser
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadgroup

lint: install
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

# The ingest benchmark drives the server with Debian's wrk (a C load generator, so the client
# takes little CPU from the server it measures); install it where it is missing, as root.
wrk:
	@if ! command -v wrk >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "bench: installing Debian's wrk"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update && apt-get install -y wrk; \
	  else \
	    echo "bench: wrk is missing; as root run: apt-get install -y wrk"; exit 1; \
	  fi; \
	fi

# Speed lives here and in docs/benchmarks.md, never in tests (about 12 minutes on 2 cores;
# the ingest part alone, `python -m benchmarks --only ingest`, about 6).
bench: install wrk
	$(VENV)/bin/python -m benchmarks

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache var test-artifacts
