# VowRewards: `make run` brings everything up, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
# checkov (Kubernetes security scan in make test) pins what our own pins exclude: its own venv
CHECKOV_VENV ?= .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(shell cksum < deploy/requirements-checkov.txt | cut -d' ' -f1)

.PHONY: run test migrate bench faults install servers portal clean image

run: install
	$(PY) -m devtools.run

test: install
	$(PY) -m devtools.test $(ARGS)

migrate: install
	$(PY) -m devtools.servers
	$(PY) -m plumbing.migrate --bootstrap

BENCH_STAMP := $(VENV)/.bench-$(shell cksum < requirements-bench.txt | cut -d' ' -f1)

bench: install $(BENCH_STAMP)
	$(PY) -m devtools.bench $(ARGS)

# faults injected under load on servers of its own (devtools/faults.py); ARGS="--soak 60" for a short soak
faults: install
	$(PY) -m devtools.faults $(ARGS)

$(BENCH_STAMP): requirements-bench.txt $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	@rm -f $(VENV)/.bench-*
	@touch $@

servers: install
	$(PY) -m devtools.servers

portal: install
	$(PY) -m devtools.portal --force

install: $(STAMP) $(CHECKOV_STAMP)

$(CHECKOV_STAMP): deploy/requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV) || \
		{ echo "vowrewards: could not create a virtualenv for checkov: install python3-venv"; exit 1; }
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r deploy/requirements-checkov.txt
	@rm -f $(CHECKOV_VENV)/.installed-*
	@touch $@

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "vowrewards: Python 3.11 or newer is needed as $(PYTHON) (set PYTHON=...)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || \
		{ echo "vowrewards: could not create a virtualenv: install python3-venv (Debian/Ubuntu: sudo apt-get install python3-venv)"; exit 1; }
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

# The container image (deploy/Dockerfile) with docker or podman, whichever has a daemon.
IMAGE ?= vowrewards:dev
image:
	@if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then \
		DOCKER_BUILDKIT=1 docker build -f deploy/Dockerfile -t $(IMAGE) . ; \
	elif command -v podman >/dev/null 2>&1 && podman info >/dev/null 2>&1; then \
		podman build -f deploy/Dockerfile --ignorefile deploy/Dockerfile.dockerignore -t $(IMAGE) . ; \
	else \
		echo "vowrewards: make image needs docker or podman with a reachable daemon (docker info / podman info fail here)"; exit 1; \
	fi

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .local node_modules gateway/portal/dist test-artifacts
