# Two entry points do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: venv test lint typecheck demo bench schemas clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; \
	  sys.exit(0 if (3, 11) <= v < (3, 13) else "Huhang needs Python 3.11 or 3.12 (durable-rules does not import on 3.13); set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check kernel plugins tests
	$(BIN)/ruff format --check kernel plugins tests

typecheck: $(STAMP)
	$(BIN)/mypy kernel

test: lint typecheck
	$(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/huhang validate
	$(BIN)/huhang explain examples/tickets/*.yaml

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench

schemas: $(STAMP)
	$(BIN)/python -c "import sys, kernel.schemagen as g; sys.exit(g.main())"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
