# Every target sets up what it needs: a fresh clone with Python 3.11+ and make is enough.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SETUP  := $(VENV)/.installed

.PHONY: setup test grade lessons stubs pair site serve clean

setup: $(SETUP)

# Re-install whenever the pinned dependencies change.
$(SETUP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is needed; set PYTHON=python3.11")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

## The course's whole test suite (what CI runs).
test: setup
	$(PY) -m course.stubs --check
	$(PY) -m course.lessons check-pairs
	$(PY) -m course.grade --check
	$(PY) -m course.lessons run
	$(PY) -m course.site build
	$(PY) -m pytest

## Grade your exercises: `make grade` or `make grade LESSON=01`.
grade: setup
	@$(PY) -m course.grade $(if $(LESSON),--lesson $(LESSON))

## Execute every lesson top to bottom (cached in build/executed/).
lessons: setup
	$(PY) -m course.lessons run

## Regenerate exercises/ from solutions/ (maintainers; overwrites exercises/).
stubs: setup
	$(PY) -m course.stubs

## Rewrite each lesson's .ipynb from its .py.
pair: setup
	$(PY) -m course.lessons pair

## Build the site into build/site (executes changed lessons first).
site: setup
	$(PY) -m course.site build

## Build, then serve the site on http://127.0.0.1:8000.
serve: setup
	$(PY) -m course.site serve

clean:
	rm -rf build site
