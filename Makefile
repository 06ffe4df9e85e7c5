# The two commands: `make demo` and `make test`. Both build their own virtual environment.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo demo-vertex test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@test -x $(VENV)/bin/uv || $(VENV)/bin/python -m pip install -q --disable-pip-version-check uv
	@$(VENV)/bin/uv pip install -q --python $(PY) --compile-bytecode -e '.[local,test]'
	@touch $(STAMP)

demo: $(STAMP)
	@$(PY) scripts/demo.py

demo-vertex: $(STAMP)
	@$(PY) scripts/demo.py --backend vertex

test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) build dist *.egg-info
