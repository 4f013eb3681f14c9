# Two commands on a fresh machine: `make run` and `make test`.
# Debian packages come from packages.txt (and packages-dev.txt for tests),
# Python packages from requirements.txt (and requirements-dev.txt), into .venv.

PYTHON ?= python3.11
VENV   := .venv
# The S3-compatible test server (moto) lives apart from the app (tests/s3server-requirements.txt says why).
S3VENV := .venv-s3
PY     := $(VENV)/bin/python
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-cluster cluster cluster-stop setup setup-dev debs debs-dev bench clean

run: setup
	$(PY) app.py $(ARGS)

test: setup-dev
	$(PY) -m ruff check .
	HF_HUB_OFFLINE=1 $(PY) -m pytest $(PYTEST_ARGS)
	$(MAKE) test-cluster

# The tests on a real local Ray cluster (-m ray), in a private network namespace with only loopback: Ray
# would otherwise advertise the machine's outside address (needs root, or sudo, for unshare).
# Where namespaces cannot be made (a container without the capability), the tests run as they are and skip,
# saying why, rather than stopping `make test`.
test-cluster: setup-dev
	@if $(SUDO) unshare -n true 2>/dev/null; then \
		$(SUDO) unshare -n sh -c 'ip link set lo up && HF_HUB_OFFLINE=1 RAY_USAGE_STATS_ENABLED=0 \
			$(PY) -m pytest -m ray tests/cluster $(PYTEST_ARGS)'; \
	else \
		echo "no private network namespace here (unshare -n refused): the Ray cluster tests are skipped"; \
		HF_HUB_OFFLINE=1 RAY_USAGE_STATS_ENABLED=0 $(PY) -m pytest -m ray tests/cluster $(PYTEST_ARGS); \
	fi

# A local Ray head and one worker node for trying EXECUTOR=ray: then `RAY_ADDRESS=127.0.0.1:6379 make run`.
# Ray's session files and logs go to $(RAY_TEMP); `make cluster-stop` stops these two nodes.
RAY_TEMP ?= $(CURDIR)/data/ray
cluster: setup
	mkdir -p $(RAY_TEMP)
	RAY_USAGE_STATS_ENABLED=0 $(VENV)/bin/ray start --head --node-ip-address=127.0.0.1 --port=6379 --num-cpus=0 \
		--include-dashboard=false --disable-usage-stats --temp-dir=$(RAY_TEMP)
	RAY_USAGE_STATS_ENABLED=0 $(VENV)/bin/ray start --address=127.0.0.1:6379 --node-ip-address=127.0.0.1 \
		--num-cpus=3 --disable-usage-stats
	@echo "Ray cluster up: RAY_ADDRESS=127.0.0.1:6379 make run"

cluster-stop:
	$(VENV)/bin/ray stop

bench: setup-dev
	$(PY) bench/startup.py
	$(PY) bench/voice.py
	$(PY) bench/sung.py
	$(PY) bench/trust.py
	$(PY) bench/talking_head.py
	$(PY) bench/music.py
	$(PY) bench/video.py
	$(PY) bench/slides.py
	$(PY) bench/load.py
	$(PY) bench/media.py
	$(SUDO) unshare -n sh -c 'ip link set lo up && RAY_USAGE_STATS_ENABLED=0 $(PY) bench/scale.py'

setup: debs $(VENV)/.installed
setup-dev: debs debs-dev $(VENV)/.installed-dev $(S3VENV)/.installed

# Installs only the Debian packages that are missing (apt-get update once, when needed).
debs:
	@bash .ci/apt-install packages.txt

debs-dev:
	@bash .ci/apt-install packages-dev.txt

$(VENV)/bin/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

$(S3VENV)/.installed: tests/s3server-requirements.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(S3VENV)
	$(S3VENV)/bin/python -m pip install --quiet -r tests/s3server-requirements.txt
	touch $@

clean:
	rm -rf $(VENV) $(S3VENV) .pytest_cache
