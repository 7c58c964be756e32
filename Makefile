# Two entry points do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# PYTHON may name an interpreter that pyenv has installed but not activated (python3.13 beside a
# global 3.11): then every installed pyenv version is searched for it.
PY_ASK := -c 'import sys; print(sys.executable, "%d.%d" % sys.version_info[:2])'
PY_EXE := $(shell $(PYTHON) $(PY_ASK) 2>/dev/null || \
            PYENV_VERSION="$$(pyenv versions --bare 2>/dev/null | paste -sd: -)" $(PYTHON) $(PY_ASK) 2>/dev/null)
PY_VER := $(word 2,$(PY_EXE))
# One stamp per interpreter version: another PYTHON rebuilds the venv.
STAMP  := $(VENV)/.installed-stamp-$(PY_VER)
# durable-rules 2.0.28 does not import on Python 3.13: there its source is built with a
# compatibility patch into .wheelhouse/ (docs/operations/install.md); 3.11 and 3.12 use it as
# published.
ifneq ($(filter 3.11 3.12,$(PY_VER)),)
ENGINE_WHEEL :=
else
ENGINE_WHEEL := scripts/build_engine_wheel.py
endif

.PHONY: venv test lint typecheck docs demo bench fonts system-deps schemas api-docs clean

venv: $(STAMP)

$(STAMP): pyproject.toml $(if $(ENGINE_WHEEL),scripts/build_engine_wheel.py scripts/durable-rules-py313.patch)
	@case "$(PY_VER)" in \
	  3.11|3.12) ;; \
	  3.13) echo "Python 3.13: durable-rules 2.0.28 will be built from its source with a one-line compatibility patch (docs/operations/install.md)";; \
	  "") echo "$(PYTHON) was not found: set PYTHON to a Python 3.11, 3.12 or 3.13 interpreter" >&2; exit 1;; \
	  *) echo "Huhang is tested on Python 3.11 to 3.13, $(PYTHON) is $(PY_VER): set PYTHON=python3.13 or python3.11" >&2; exit 1;; \
	esac
	@[ "$$($(BIN)/python $(PY_ASK) 2>/dev/null | cut -d' ' -f2)" = "$(PY_VER)" ] || \
	  { echo "$(word 1,$(PY_EXE)) -m venv --clear $(VENV)"; $(word 1,$(PY_EXE)) -m venv --clear $(VENV); }
	$(BIN)/pip install --quiet --upgrade pip
	$(if $(ENGINE_WHEEL),$(BIN)/python $(ENGINE_WHEEL) >/dev/null)
	$(BIN)/pip install --quiet $(if $(ENGINE_WHEEL),--find-links .wheelhouse) -e '.[dev,demo]'
	@# the bytecode an installed wheel carries: an editable checkout where Python may not write
	@# it (PYTHONDONTWRITEBYTECODE) would compile every module again at each command
	$(BIN)/python -m compileall -q kernel plugins >/dev/null
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check kernel plugins tests scripts bench
	$(BIN)/ruff format --check kernel plugins tests scripts bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy kernel

# What the tests need from the system: LibreOffice and poppler render the Word documents to PNG
# pages (tests/test_documents.py); Debian's chromium is the browser of the console's tests
# (tests/test_console_browser.py: Playwright for Python drives /usr/bin/chromium, it downloads no
# browser of its own). As root with apt they are installed when missing; elsewhere those tests
# skip (CI sets HUHANG_REQUIRE_OFFICE=1 and HUHANG_REQUIRE_BROWSER=1 so that they cannot skip).
SYSTEM_PACKAGES := libreoffice-writer-nogui poppler-utils fonts-wqy-microhei chromium
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing$$missing"; \
	  (apt-get install -y -q --no-install-recommends $$missing >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends $$missing >/dev/null)); \
	elif [ -n "$$missing" ]; then echo "not installed (tests that need them skip):$$missing"; fi

test: lint typecheck docs system-deps
	$(BIN)/python -m pytest

# The demo's chart needs a font with Chinese glyphs. Debian's WenQuanYi Micro Hei is small
# (1.6 MB); as root we install it with apt when fontconfig knows no Chinese font, otherwise a
# font package from PyPI goes into the venv.
fonts: $(STAMP)
	@if fc-list :lang=zh 2>/dev/null | grep -q .; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  (apt-get install -y -q --no-install-recommends fonts-wqy-microhei >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends fonts-wqy-microhei >/dev/null)) \
	  || $(BIN)/pip install --quiet mplfonts; \
	else $(BIN)/pip install --quiet mplfonts; fi

demo: fonts
	$(BIN)/huhang validate
	$(BIN)/huhang explain examples/tickets/c-land.yaml
	$(BIN)/huhang demo --level examples/levels/hantai

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench

# The documentation site, built strictly (a broken link, a page missing from the nav or a stale
# generated page fails): output in site/. Then check that no page loads a script, a style sheet
# or a font from another host (the site must work without a CDN).
DOCS_STAMP := $(VENV)/.docs-stamp

$(DOCS_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[docs]'
	@touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(BIN)/python scripts/gen_docs.py --check
	$(BIN)/python scripts/gen_api_docs.py --check
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet
	@! grep -rlE '<(script|link)[^>]+(src|href)="(https?:)?//' site --include='*.html' \
	  || (echo "错误：以上页面从外部网站加载脚本或样式" >&2; exit 1)

# The HTTP API's OpenAPI document and its reference page (docs/reference/openapi.json, api.md)
api-docs: $(STAMP)
	$(BIN)/python scripts/gen_api_docs.py

schemas: $(STAMP)
	$(BIN)/python -c "import sys, kernel.tools.schemagen as g; sys.exit(g.main())"

clean:
	rm -rf $(VENV) .wheelhouse .pytest_cache .mypy_cache .ruff_cache build *.egg-info site
