# tempmodels — the two commands:
#   make book   set up (if needed), execute every chapter with papermill, build the HTML book
#   make test   set up (if needed), run the package tests and the nbval reproducibility gate
#
# PROFILE picks the execution profile (notebooks/profiles.yml): quick | cpu | gpu.
# `make book` publishes the cpu profile; CI builds the quick one.

PYTHON_SYS ?= python3
VENV       := .venv
PY         := $(VENV)/bin/python
PROFILE    ?= cpu
NOTEBOOKS  := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
EXECUTED   := $(patsubst notebooks/%,book/chapters/%,$(NOTEBOOKS))
SYS_TOOLS  := espeak-ng:espeak-ng dot:graphviz

.PHONY: book test env sysdeps execute html nbval pytest clean help

help:
	@echo "make book  [PROFILE=cpu|quick|gpu]  execute chapters + build book/_build/html"
	@echo "make test                          pytest + nbval on the quick profile"

# ---------------------------------------------------------------- set-up
sysdeps:
	@missing=""; for pair in $(SYS_TOOLS); do \
	  tool=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$tool >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "ERROR: missing system packages:$$missing"; \
	    echo "  Debian/Ubuntu: sudo apt-get install$$missing"; \
	    echo "  conda:         conda env create -f environment.yml (brings them from conda-forge)"; \
	    echo "  macOS:         brew install$$missing"; exit 1; \
	  fi; fi

$(PY): pyproject.toml
	@test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	@$(PY) -m pip --version >/dev/null 2>&1 || $(PY) -m ensurepip >/dev/null   # venvs made by uv have no pip
	$(PY) -m pip install -q --upgrade pip uv
	$(VENV)/bin/uv pip install -q --python $(PY) -e '.[book,test]'
	@touch $(PY)

env: sysdeps $(PY)

# ---------------------------------------------------------------- the book
execute: env
	$(PY) -m tempmodels.execute --profile $(PROFILE) $(NOTEBOOKS)

html: env
	$(VENV)/bin/jupyter-book build . --path-output book -W -n --keep-going
	@echo "book: book/_build/html/index.html"

book: execute html

# ---------------------------------------------------------------- tests
# pytest exits 5 when it collects nothing; make would report that as a generic failure, so say it.
pytest: env
	@$(PY) -m pytest tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "ERROR: pytest collected no tests"; fi; exit $$rc

# Re-execute each quick-profile chapter and compare its checked outputs (nbval).
nbval: env
	$(PY) -m tempmodels.execute --profile quick $(NOTEBOOKS)
	$(PY) -m pytest --nbval $(EXECUTED) --nbval-sanitize-with tests/nbval_sanitize.cfg

test: pytest nbval

clean:
	rm -rf book/_build book/chapters build
