# Two commands set up everything on a fresh machine (Python 3.11, root or a writable venv):
#   make demo   creates/updates .venv, installs kpanim, runs the main job on the embedded default
#   make test   creates/updates .venv with the test extras, installs the test tools, lints (ruff), runs every test
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
OUT ?= demo_out

.PHONY: demo test venv install install-dev test-tools clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip setuptools wheel

# Re-install only when the project's metadata changes (stamp files).
$(VENV)/.stamp-run: pyproject.toml | $(PY)
	$(PIP) install -e .
	touch $@

$(VENV)/.stamp-dev: pyproject.toml | $(PY)
	$(PIP) install -e '.[dev,train,blender]'
	touch $@ $(VENV)/.stamp-run

install: $(VENV)/.stamp-run
install-dev: $(VENV)/.stamp-dev

# Node-side checkers and players (glTF-Validator, three.js, TalkingHead.js, three-vrm) and headless Chromium for the browser tests.
test-tools:
	@bash scripts/install_test_tools.sh

demo: install
	$(VENV)/bin/kpanim demo -o $(OUT)

test: install-dev test-tools
	$(VENV)/bin/ruff check --quiet .
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) node_modules $(OUT) build *.egg-info
