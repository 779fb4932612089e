# The two commands the README promises:
#   make up     install everything, build what is missing, bring up the default cluster
#   make test   install everything, build what is missing, run every test (lab included)
# Slow artefacts (Kubernetes binaries, the base image, pip wheels) are cached
# under ~/.cache, so a second run is fast.

SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
LAB   := scripts/lab-netns.sh
PYTEST_ARGS ?=

.PHONY: up test unit typecheck lab-tests deps venv binaries image lab lab-down bench bench-ha bench-dev bench-ansible clean

deps: venv
	bash scripts/install-host-packages.sh

$(VENV)/.installed: pyproject.toml
	bash scripts/install-host-packages.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

binaries: deps
	bash scripts/build-kubernetes.sh
	bash scripts/fetch-etcd35.sh

image: deps
	$(VENV)/bin/k8sboot image build

lab: deps
	bash $(LAB) up

lab-down:
	bash $(LAB) down

# the package's types (config in pyproject.toml)
typecheck: venv
	$(VENV)/bin/mypy

# fast: types, then the pure unit tests, no lab
unit: typecheck
	$(VENV)/bin/pytest -m "not lab" -q $(PYTEST_ARGS)

test: deps binaries image lab typecheck
	bash $(LAB) exec $(VENV)/bin/pytest -q --durations=25 $(PYTEST_ARGS)

up: deps binaries image lab
	bash $(LAB) exec $(VENV)/bin/k8sboot up

bench: deps binaries image lab
	bash $(LAB) exec $(PY) bench/bench_up.py

bench-ha: deps binaries image lab
	bash $(LAB) exec $(PY) bench/bench_ha.py

bench-dev: deps binaries image lab
	bash $(LAB) exec $(PY) bench/bench_dev.py

bench-ansible: deps binaries image lab
	bash $(LAB) exec $(PY) bench/bench_ansible.py

clean: lab-down
	rm -rf $(VENV)

# a wheel with roles/, templates/, inventory/ and the Vagrantfile inside, into dist/
# (build isolation: pip fetches the setuptools pyproject.toml asks for; a fresh build/ so
# nothing deleted from the tree lingers in the wheel)
.PHONY: wheel
wheel: venv
	rm -rf build
	$(PY) -m pip wheel --no-deps -w dist .
