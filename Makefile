# berth: `make run` sets everything up and runs a container; `make test` runs the whole suite.
# Both install what is missing (Debian packages with apt-get, Python packages into .venv).

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTHON ?= $(shell command -v python3.11 || command -v python3)
# python3.11: the distribution's CPython (PGO + LTO), which `make venv` picks to run berth-runtime
# when it starts quicker than the venv's (berth/runtime/cli/launcher.py).
APT_PACKAGES := busybox-static gcc libc6-dev libseccomp2 runc crun iproute2 nftables util-linux procps skopeo docker-registry chromium chromium-driver curl python3.11
BERTH_HOST ?= unix:///run/berth/berth.sock
PYTEST_ARGS ?=

.PHONY: run test deps venv lint typecheck daemon images registry-image clean-venv bench

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v docker >/dev/null 2>&1 || missing="$$missing docker.io"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip >/dev/null 2>&1 || true
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

# berth's own .pyc files: with PYTHONDONTWRITEBYTECODE set (as on these machines) every berth
# process (CLI, berthd, each shim factory) would otherwise compile its modules from source.
#
# berth-runtime is started once per container operation (runc's command contract), so its script
# is ours, not pip's: `python -S` (no site step), src/ put on sys.path directly (PYTHONPATH still
# comes first), on the quickest-starting CPython of the venv's version installed (measured; see
# berth/runtime/cli/launcher.py). Rewritten here because pip writes its own.
venv: $(VENV)/.installed
	@$(PY) -m compileall -q src/berth >/dev/null
	@$(PY) -m berth.runtime.cli.launcher $(VENV)/bin/berth-runtime src

daemon: deps venv
	@if ! BERTH_HOST=$(BERTH_HOST) $(PY) -c 'import socket,sys,os; s=socket.socket(socket.AF_UNIX); s.connect(os.environ["BERTH_HOST"][7:])' 2>/dev/null; then \
	  echo "starting berthd (log: /var/log/berthd.log)"; \
	  setsid $(VENV)/bin/berthd -H $(BERTH_HOST) >>/var/log/berthd.log 2>&1 < /dev/null & \
	  for i in $$(seq 100); do [ -S $(subst unix://,,$(BERTH_HOST)) ] && break; sleep 0.1; done; \
	fi

images: daemon
	$(PY) -m berth.baseimages -H $(BERTH_HOST)

# berth/registry: berth's registry server with the host's Python (~90 MB, about half a minute).
registry-image: daemon
	$(PY) -m berth.baseimages -H $(BERTH_HOST) registry

run: images
	$(VENV)/bin/berth -H $(BERTH_HOST) run --rm hello-world
	$(VENV)/bin/berth -H $(BERTH_HOST) run --rm busybox echo "hello from berth"

test: deps venv
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# Side-by-side benchmark against a private dockerd (bench/README.md); not part of `make test`.
BENCH_ARGS ?=
bench: deps venv
	$(PY) -m bench.run $(BENCH_ARGS)

lint: venv
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/mypy

clean-venv:
	rm -rf $(VENV)
