# Every target sets up what it needs: a fresh clone with Python 3.11+, make and Node.js/npm is enough.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SETUP  := $(VENV)/.installed
# Where pip gets torch from; empty: PyPI (on Linux, a large CUDA build). For the CPU-only wheel:
#   make setup TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
TORCH_INDEX_URL ?=
TORCH := $(shell grep -o 'torch==[0-9.]*' pyproject.toml)

.PHONY: setup test grade lessons stubs pair site serve lab challenge ablation bench dist clean

setup: $(SETUP)

# Re-install whenever the pinned dependencies change. A venv without pip (`python3 -m venv` failed
# half-way, as on Debian without python3-venv) is made again.
$(SETUP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is needed; set PYTHON=python3.11")'
	@test -x $(VENV)/bin/pip || { rm -rf $(VENV); $(PYTHON) -m venv $(VENV); } || { rm -rf $(VENV); \
	  echo "Could not create $(VENV). On Debian/Ubuntu install the venv module first: sudo apt install python3-venv"; exit 1; }
	$(PY) -m pip install --quiet --upgrade pip
	$(if $(TORCH_INDEX_URL),$(PY) -m pip install --quiet '$(TORCH)' --index-url '$(TORCH_INDEX_URL)')
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

## The course's whole test suite (what CI runs); ruff first (pyproject.toml [tool.ruff]). The graded tests run in `course.grade --check`
## (on the solutions and on the stubs), so the last step leaves them out; plain `pytest` runs all.
test: setup
	$(PY) -m ruff check .
	$(PY) -m course.stubs --check
	$(PY) -m course.lessons check-pairs
	$(PY) -m course.grade --check
	@# the graded tests pass on the solutions for other seeds too, not only for today's
	for n in 1 2 3 4 5 6; do $(PY) -m pytest -q -m exercise -p no:cacheprovider tests/graded --seed-shift $$n || exit 1; done
	$(PY) -m course.mutants
	$(PY) -m course.lessons run
	$(PY) -m course.site build
	$(PY) -m pytest -m 'not exercise'

## Grade your exercises: `make grade` or `make grade LESSON=01`.
grade: setup
	@$(PY) -m course.grade $(if $(LESSON),--lesson $(LESSON))

## Execute every lesson top to bottom (cached in build/executed/).
lessons: setup
	$(PY) -m course.lessons run

## Regenerate exercises/ from solutions/; refuses to overwrite files you edited unless FORCE=1 (then backs them up).
stubs: setup
	$(PY) -m course.stubs $(if $(FORCE),--force)

## Rewrite each lesson's .ipynb from its .py; refuses to overwrite one edited outside jupytext unless FORCE=1.
pair: setup
	$(PY) -m course.lessons pair $(if $(FORCE),--force)

## Build the site into build/site (executes changed lessons first).
site: setup
	$(PY) -m course.site build

## Build, then serve the site on http://127.0.0.1:8000.
serve: setup
	$(PY) -m course.site serve

## Open the lessons as notebooks: JupyterLab in the course's environment, with its kernel
## ("Python (callbacks-to-norms)", also there for other editors). LAB_ARGS=--no-browser on a server.
lab: setup
	$(PY) -m ipykernel install --sys-prefix --name callbacks-to-norms --display-name "Python (callbacks-to-norms)" >/dev/null
	$(PY) -m course.threads $(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS) lessons/

## Score a challenge entry over 3 seeds and save its result (the Challenges page's leaderboard):
## `make challenge NAME=one-epoch ENTRY=my_entry.py [ARGS="--smoke"]`; without ENTRY, the reference entries.
challenge: setup
	@test -n "$(NAME)" || { echo "usage: make challenge NAME=one-epoch|tiny-batch|beat-98 [ENTRY=path/to/entry.py] [ARGS=--smoke]"; exit 2; }
	$(PY) -m course.challenges run $(NAME) $(ENTRY) $(ARGS)

## Rerun the normalisation ablation of the Challenges page (long: batch size 2 is 25,000 steps a row).
ablation: setup
	$(PY) -m course.challenges ablation

## Run every benchmark (course/bench.py) and print its figures and ratios.
bench: setup
	$(PY) -m course.bench

## Build the course's wheel and sdist into dist/ (what `pip install <repo-url>` builds): the course library,
## its solutions and tools; lessons run from any folder with it installed (MNIST is downloaded at run time).
dist: setup
	rm -rf dist
	$(PY) -m build --outdir dist .

clean:
	rm -rf build dist
