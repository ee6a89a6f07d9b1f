# ppml-lab: `make lab` to learn, `make test` to check everything. Both build .venv from the pins.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
# Offline and quiet: no telemetry, no update checks, Ray's temp files inside the project.
export FLWR_TELEMETRY_ENABLED := 0
export FLWR_DISABLE_UPDATE_CHECK := 1
export RAY_USAGE_STATS_ENABLED := 0
export RAY_TMPDIR := $(CURDIR)/.ray_tmp
export PYTHONHASHSEED := 0

.PHONY: venv lab test test-unit test-notebooks notebooks bench budget lint test-browser test-flaky book test-book clean editions

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 --no-browser --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root,)

test: test-unit test-notebooks

test-unit: $(STAMP)
	mkdir -p $(RAY_TMPDIR)
	$(PY) -m pytest tests --ignore=tests/browser -m "not flaky_known"

test-notebooks: $(STAMP)
	mkdir -p $(RAY_TMPDIR)
	$(PY) -m pytest -p no:cacheprovider --nbval-lax --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=600 $(NOTEBOOKS)

notebooks: $(STAMP)
	$(PY) scripts/run_notebooks.py $(NOTEBOOKS)

bench: $(STAMP)
	@set -e; for b in benchmarks/[a-z]*.py; do echo "== $$b"; $(PY) $$b --quick; done

budget: $(STAMP)
	$(PY) scripts/budget.py $(NOTEBOOKS)

test-browser: $(STAMP)
	command -v chromium >/dev/null || { echo 'test-browser needs Debian chromium: apt-get install chromium' >&2; exit 1; }
	$(PY) -m pytest tests/browser --ignore=tests/browser/test_book.py -p no:cacheprovider

test-flaky: $(STAMP)
	mkdir -p $(RAY_TMPDIR)
	# pytest exits 5 when no test carries the marker: that is the good case, not a failure
	$(PY) -m pytest tests -m flaky_known -p no:cacheprovider || test $$? -eq 5

# The book: the committed notebooks (outputs as committed, nothing re-executed) and the API reference,
# as a static site in build/book/ that needs no network to build or to read. Fails on a missing notebook
# page or a broken internal link; docstring warnings go to build/book-warnings.log.
book: $(STAMP)
	rm -rf build/book
	$(PY) -m sphinx -b html -q -w build/book-warnings.log -d build/book_doctrees docs build/book
	@echo "book: build/book/index.html ($$(grep -c . build/book-warnings.log) warnings in build/book-warnings.log)"

test-book: $(STAMP)
	command -v chromium >/dev/null || { echo 'test-book needs Debian chromium: apt-get install chromium' >&2; exit 1; }
	$(PY) -m pytest tests/browser/test_book.py -p no:cacheprovider

# ruff on everything; mypy on the package (configuration in pyproject.toml [tool.mypy])
lint: $(STAMP)
	$(VENV)/bin/ruff check ppml_lab tests benchmarks scripts
	$(VENV)/bin/mypy

# Coding exercises: otter assign on every master in exercises/source/ -> build/editions/{student,instructor,autograder}.
# (scripts/editions.py --splice NN also writes the student section into notebooks/NN; see exercises/README.md.)
editions: $(STAMP)
	$(PY) scripts/editions.py

clean:
	rm -rf $(VENV) .pytest_cache .ray_tmp
