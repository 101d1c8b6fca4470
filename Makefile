# VowRewards: `make run` brings everything up, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: run test migrate bench install servers portal clean

run: install
	$(PY) -m devtools.run

test: install
	$(PY) -m devtools.test $(ARGS)

migrate: install
	$(PY) -m devtools.servers
	$(PY) -m plumbing.migrate --bootstrap

bench: install
	$(PY) -m devtools.bench $(ARGS)

servers: install
	$(PY) -m devtools.servers

portal: install
	$(PY) -m devtools.portal --force

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "vowrewards: Python 3.11 or newer is needed as $(PYTHON) (set PYTHON=...)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || \
		{ echo "vowrewards: could not create a virtualenv: install python3-venv (Debian/Ubuntu: sudo apt-get install python3-venv)"; exit 1; }
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

clean:
	rm -rf $(VENV) .local node_modules gateway/portal/dist test-artifacts
