# Two entry points do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: venv test lint typecheck docs demo bench fonts system-deps schemas clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; \
	  sys.exit(0 if (3, 11) <= v < (3, 13) else "Huhang needs Python 3.11 or 3.12 (durable-rules does not import on 3.13); set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,demo]'
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check kernel plugins tests scripts
	$(BIN)/ruff format --check kernel plugins tests scripts
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy kernel

# What the tests need from the system: LibreOffice and poppler render the Word documents to PNG
# pages (tests/test_documents.py). As root with apt they are installed when missing; elsewhere
# the rendering test skips (CI sets HUHANG_REQUIRE_OFFICE=1 so that it cannot skip there).
SYSTEM_PACKAGES := libreoffice-writer-nogui poppler-utils fonts-wqy-microhei
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
	$(BIN)/huhang demo

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
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet
	@! grep -rlE '<(script|link)[^>]+(src|href)="(https?:)?//' site --include='*.html' \
	  || (echo "错误：以上页面从外部网站加载脚本或样式" >&2; exit 1)

schemas: $(STAMP)
	$(BIN)/python -c "import sys, kernel.tools.schemagen as g; sys.exit(g.main())"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info site
