# Two entry points a fresh Debian machine needs (python3, git, curl, make):
#   make demo   build, publish and install on the embedded default (no network, no cloud)
#   make test   lint and every test
# Both create .venv and install what they need, Debian packages included, idempotently.

SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
# Tools the tests drive for real: installers' curl/wget/openssl, shells for completions, readelf, groff.
DEBIAN_PACKAGES := python3-venv shellcheck pigz nix-bin openssl wget binutils zsh fish groff-base openssh-client
PYTEST_WORKERS ?= 2
SHELL_SCRIPTS = $(shell git ls-files | while read -r f; do [ -f "$$f" ] && head -c 64 "$$f" | grep -qE '^\#!.*(ba)?sh' && echo "$$f"; done)

.PHONY: deps debian-deps bytecode test lint demo bench clean

deps: debian-deps $(VENV)/.installed bytecode

debian-deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s "$$p" >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  echo "installing Debian packages:$$missing"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing >/dev/null; \
	fi

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip >/dev/null 2>&1 || true
	@echo "installing Python packages into $(VENV)"
	@$(PY) -m pip install -q -e '.[test]' >$(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@touch $@

# The project's own modules byte-compiled, as pip does for a wheel: the editable install leaves that to the
# first run, which PYTHONDONTWRITEBYTECODE forbids, and crio-get then compiles ~40 modules each start (~45 ms).
# Up to date it only stats the files (~50 ms); a .pyc whose source changed since is not used (mtime, size).
bytecode: $(VENV)/.installed
	@$(PY) -m compileall -q crio release/crio_release installer/crio_installer >/dev/null

lint: deps
	$(VENV)/bin/ruff check .
	shellcheck $(SHELL_SCRIPTS)
	$(VENV)/bin/actionlint .github/workflows/*.yml

test: lint
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) -q

demo: deps
	$(VENV)/bin/crio-release demo

bench: deps
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) "$$b" || exit 1; done

# scripts/get embeds the public-good trusted root; this copies it from the installed sigstore package
# (tests/get/test_keyless_openssl.py fails while the two differ).
.PHONY: embedded-trusted-root
embedded-trusted-root: deps
	$(PY) scripts/embed_trusted_root.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
