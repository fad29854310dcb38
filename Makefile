# tempmodels — the two commands:
#   make book   set up (if needed), execute every chapter with papermill, build the HTML book
#   make test   set up (if needed), run the package tests and the nbval reproducibility gate
#
# PROFILE picks the execution profile (notebooks/profiles.yml): quick | cpu | gpu.
# `make book` publishes the cpu profile; CI builds the quick one from the reviewed outputs.
# Only chapters whose notebook, package code, parameters or data changed are re-executed;
# FORCE=1 re-executes every chapter.
#
# The reproducibility gate: tests/golden/ holds each chapter executed with the quick profile,
# reviewed and committed. `make golden` regenerates it (never edit it by hand); `make nbval`
# re-executes each golden notebook once and fails on any checked output that differs — where this
# machine's numerical fingerprint (tempmodels/numerics.py) equals the one the golden chapter recorded;
# elsewhere it executes every cell and says which chapters it could not compare (tests/conftest.py).

PYTHON_SYS ?= python3
VENV       := .venv
PY         := $(VENV)/bin/python
PROFILE    ?= cpu
NOTEBOOKS  := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb notebooks/A[0-9]_*.ipynb))
GOLDEN     := $(patsubst notebooks/%,tests/golden/%,$(NOTEBOOKS))
SYS_TOOLS  := espeak-ng:espeak-ng dot:graphviz
OPT_TOOLS  := chromium:chromium

.PHONY: book test env sysdeps execute html nbval pytest golden ci-book browser-check clean help

help:
	@echo "make book  [PROFILE=cpu|quick|gpu]  execute chapters + build book/_build/html"
	@echo "make test                          pytest + nbval against the reviewed outputs (tests/golden)"
	@echo "make golden                        re-execute the quick profile into tests/golden (then review the diff)"
	@echo "make browser-check                 open every built chapter in headless Chromium (offline); screenshots in build/screenshots"

# ---------------------------------------------------------------- set-up
sysdeps:
	@missing=""; for pair in $(SYS_TOOLS); do \
	  tool=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$tool >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	optional=""; for pair in $(OPT_TOOLS); do \
	  tool=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$tool >/dev/null 2>&1 || optional="$$optional $$pkg"; done; \
	if [ -n "$$missing$$optional" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing system packages:$$missing$$optional"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing $$optional >/dev/null; \
	elif [ -n "$$missing" ]; then \
	  echo "ERROR: missing system packages:$$missing"; \
	  echo "  Debian/Ubuntu: sudo apt-get install$$missing$$optional"; \
	  echo "  conda:         conda env create -f environment.yml (brings them from conda-forge)"; \
	  echo "  macOS:         brew install$$missing"; exit 1; \
	elif [ -n "$$optional" ]; then \
	  echo "note:$$optional not found: only 'make browser-check' (CI's check of the built pages) needs it;"; \
	  echo "  Debian/Ubuntu: sudo apt-get install$$optional"; \
	fi

$(PY): pyproject.toml
	@test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	@$(PY) -m pip --version >/dev/null 2>&1 || $(PY) -m ensurepip >/dev/null   # venvs made by uv have no pip
	$(PY) -m pip install -q --upgrade pip uv
	$(VENV)/bin/uv pip install -q --compile-bytecode --python $(PY) -e '.[book,test]'
	@touch $(PY)

env: sysdeps $(PY)

# ---------------------------------------------------------------- the book
# The published (cpu-profile) chapters are committed in book/published/ with their stamps: a fresh
# clone renders them at once and re-executes only those whose inputs changed. Other profiles execute
# into build/chapters-<profile>/. The book renders a copy in book/chapters/.
PUBLISHED := book/published
EXEC_OUT   = $(if $(filter cpu,$(PROFILE)),$(PUBLISHED),build/chapters-$(PROFILE))
execute: env
	$(PY) -m tempmodels.execute --profile $(PROFILE) --out $(EXEC_OUT) $(if $(FORCE),--force) $(NOTEBOOKS)
	mkdir -p book/chapters && cp $(patsubst notebooks/%,$(EXEC_OUT)/%,$(NOTEBOOKS)) book/chapters/

# MathJax served from the book itself (offline): copied from the pinned django-static-mathjax package.
MATHJAX := book/_static/mathjax/tex-mml-chtml.js
$(MATHJAX): $(PY)
	@rm -rf book/_static/mathjax
	cp -r "$$($(PY) -c 'import mathjax, pathlib; print(pathlib.Path(mathjax.__file__).parent / "static" / "mathjax" / "es5")')" book/_static/mathjax

html: env $(MATHJAX)
	$(VENV)/bin/jupyter-book build . --path-output book -W -n --keep-going
	@echo "book: book/_build/html/index.html"

book: execute html

# ---------------------------------------------------------------- tests
# pytest exits 5 when it collects nothing; make would report that as a generic failure, so say it.
pytest: env
	@$(PY) -m pytest tests --durations=8; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "ERROR: pytest collected no tests"; fi; exit $$rc

# Re-execute each reviewed quick-profile chapter once and compare its checked outputs (nbval);
# tests/test_golden.py (in `pytest`) fails first if a golden notebook is older than its source.
# The run cache (tempmodels/run_cache.py) starts empty here, so every run is trained in this
# session: chapters share identical runs with each other, never with an earlier session.
# Each chapter's time (training, scoring, references, runs trained vs cached) is printed at the end.
NBVAL_RUNS := build/nbval-runs
NBVAL_TIMINGS := build/timings-nbval.jsonl
nbval: env
	rm -rf $(NBVAL_RUNS) $(NBVAL_TIMINGS) && mkdir -p build
	TEMPMODELS_RUN_CACHE=$(abspath $(NBVAL_RUNS)) TEMPMODELS_TIMINGS=$(abspath $(NBVAL_TIMINGS)) \
	  $(PY) -m pytest --nbval $(GOLDEN) --nbval-sanitize-with tests/nbval_sanitize.cfg

# Regenerate the reviewed outputs; commit them after reading `git diff --stat tests/golden`.
golden: env
	$(PY) -m tempmodels.execute --profile quick --out tests/golden $(if $(FORCE),--force) $(NOTEBOOKS)

# Every chapter page in headless Chromium, offline: math typeset, images loaded, audio with a
# source, no warnings in outputs, no JavaScript errors. Screenshots: build/screenshots/.
browser-check: env
	$(PY) -m tempmodels.bookcheck book/_build/html --screenshots build/screenshots

# CI's book: the golden notebooks that `make nbval` just reproduced, rendered without re-executing.
ci-book: env
	mkdir -p book/chapters && cp $(GOLDEN) book/chapters/
	$(MAKE) html

test: env
	@s=$$(date +%s); $(MAKE) --no-print-directory pytest || exit $$?; p=$$(date +%s); \
	$(MAKE) --no-print-directory nbval || exit $$?; e=$$(date +%s); \
	echo "== make test: pytest $$((p - s)) s, nbval (each chapter executed once) $$((e - p)) s"

clean:
	rm -rf book/_build book/chapters book/_static/mathjax build
