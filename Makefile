# twin3d — two commands do everything on a fresh machine:
#   make demo   create .venv, install twin3d, run the demo (USD + PNG files in ./twin3d-demo)
#   make test   create .venv, install twin3d with the tf and dev extras, run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= twin3d-demo
# the CPU build of torch; installed first so nothing pulls a CUDA build
TORCH  ?= torch==2.13.0

.PHONY: demo test install install-dev benchmarks clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[tf,dev]"
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

demo: install
	$(BIN)/twin3d demo --out $(OUT)

test: install-dev
	$(BIN)/python -m pytest -q

benchmarks: install-dev
	for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
