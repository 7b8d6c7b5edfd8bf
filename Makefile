# b24reports: `make demo` and `make test` work on a fresh Debian machine with only python3.
# They create .venv (python3 -m venv; installs python3-venv via apt when missing), install uv
# into it and `uv pip install -e .[dev]`, compile the venv's and lib/'s Python to bytecode (as pip
# does; uv does not, and with PYTHONDONTWRITEBYTECODE set nothing else would: each render kernel
# then compiled ~1.5 s of imports at every start, docs/benchmarks.md), install Debian chromium
# for PDFs when missing (as root, or with sudo; skipped with a message otherwise), build the pages' partial
# plotly.js with npm (see PLOTLY_B24); `make test` also needs pdftotext (poppler-utils,
# installed the same way) for the print check of the report PDFs. Re-runs are fast: the install is redone only
# when pyproject.toml changes.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.b24reports-installed
PYTEST_ARGS ?= -q
CHROMIUM_CMDS := chromium chromium-browser google-chrome google-chrome-stable

# apt-get install $(1) as root, or through sudo; fails (status 1) when neither is possible
define apt_install
if [ "$$(id -u)" = 0 ]; then \
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1); \
elif command -v sudo >/dev/null 2>&1; then \
  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1); \
else false; fi
endef

.PHONY: all install chromium poppler demo test bench clean-venv help

all: help

help:
	@echo "make demo   - install, then generate a demo portal, sync it and render every report into outputs/demo/"
	@echo "make test   - install, then check the layer contract (lint-imports) and run the test suite"
	@echo "make bench  - install, then run the issue 2 benchmark (benchmarks/run_all.py \$$BENCH_ARGS; ~25 min at scale 40)"

$(BIN)/python:
	@if ! $(PYTHON) -m venv $(VENV) >/dev/null 2>&1; then \
	  echo "python3 -m venv failed (Debian needs python3-venv); installing it with apt-get"; \
	  rm -rf $(VENV); \
	  { $(call apt_install,python3-venv); } || { echo "error: cannot install python3-venv; run: sudo apt-get install -y python3-venv" >&2; exit 1; }; \
	  $(PYTHON) -m venv $(VENV); \
	fi

$(STAMP): pyproject.toml | $(BIN)/python
	@[ -x $(BIN)/uv ] || $(BIN)/python -m pip install -q --disable-pip-version-check uv
	$(BIN)/uv pip install -q --python $(BIN)/python -e '.[dev]'
	@# a few packages ship files that are not Python 3 (test data): their errors are not ours
	-@$(BIN)/python -m compileall -q -q -j 0 $(VENV)/lib lib
	@touch $(STAMP)

# the partial plotly.js of the pages (lib/b24reports/outputs/plotlyjs.py): npm installs plotly.js
# and esbuild from js/package-lock.json, esbuild builds it; node and npm come from apt when missing.
# Without them the pages carry the whole plotly.js (4.8 MB instead of 1.2 MB): a warning, not an error.
PLOTLY_B24 := lib/b24reports/outputs/static/plotly-b24.min.js

$(PLOTLY_B24): js/package.json js/package-lock.json js/plotly-b24.cjs js/build.mjs
	@if ! command -v npm >/dev/null 2>&1; then \
	  echo "npm not found: installing nodejs and npm with apt-get (for the pages' partial plotly.js)"; \
	  { $(call apt_install,nodejs npm); } || true; \
	fi; \
	if command -v npm >/dev/null 2>&1 && (cd js && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build); then \
	  echo "built $@"; \
	else \
	  echo "warning: could not build $@; the pages will carry the whole plotly.js (install node and npm, then run make install)"; \
	fi

install: $(STAMP) $(PLOTLY_B24)

chromium:
	@for c in $(CHROMIUM_CMDS); do command -v $$c >/dev/null 2>&1 && exit 0; done; \
	echo "chromium not found: installing it with apt-get (for PDF output)"; \
	{ $(call apt_install,chromium); } || echo "warning: could not install chromium; PDFs will be skipped (install it with: sudo apt-get install -y chromium)"

# pdftotext (Debian poppler-utils): the print check of the report PDFs in the tests
poppler:
	@command -v pdftotext >/dev/null 2>&1 && exit 0; \
	echo "pdftotext not found: installing poppler-utils with apt-get (for the PDF print check)"; \
	{ $(call apt_install,poppler-utils); } || { echo "error: cannot install poppler-utils; run: sudo apt-get install -y poppler-utils" >&2; exit 1; }

demo: install chromium
	@formats=html,xlsx,json; \
	for c in $(CHROMIUM_CMDS); do command -v $$c >/dev/null 2>&1 && formats=html,pdf,xlsx,json && break; done; \
	$(BIN)/b24reports demo --formats $$formats

test: install chromium poppler
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

clean-venv:
	rm -rf $(VENV)
