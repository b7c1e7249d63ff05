# hpc_nc: `make demo` runs the demo sweep, `make test` the whole test suite, `make paper` the paper's
# study (jobs/paper/; NP=ranks, FIG=one figure e.g. FIG=6, EXTENDED=1 adds the extended Fig. 6/10 maps,
# COMMIT=1 commits each figure's docs/reproduction/figN/ once it has run, PLOT_ONLY=1 never computes).
# Both set everything up first (`make setup`, idempotent: seconds on a set-up machine).

SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.hpc_nc-setup
NP    ?= 2
SUDO  := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian's native stack: PETSc/SLEPc 3.18 real+complex, OpenMPI, MUMPS, parallel h5py.
APT_PACKAGES := python3-petsc4py python3-slepc4py python3-petsc4py-real python3-petsc4py-complex \
  python3-slepc4py-real python3-slepc4py-complex python3-mpi4py python3-h5py-mpi python3-yaml \
  python3-numpy python3-scipy python3-matplotlib python3-venv python3-pip python3-pytest \
  python3-setuptools openmpi-bin make

# OpenMPI refuses root without these, and needs oversubscribe for more ranks than cores.
export OMPI_ALLOW_RUN_AS_ROOT := 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1
export OMPI_MCA_rmaps_base_oversubscribe := 1
MPIRUN := mpirun -n $(NP)

.PHONY: setup test test-slow lint test-serial test-mpi demo bench fuzz clean-results paper

setup: $(STAMP)

$(STAMP): pyproject.toml
	@missing=$$(dpkg-query -W -f='$${db:Status-Status} $${Package}\n' $(APT_PACKAGES) 2>/dev/null | awk '$$1!="installed"{print $$2}'; \
	  for p in $(APT_PACKAGES); do dpkg-query -W $$p >/dev/null 2>&1 || echo $$p; done | sort -u); \
	if [ -n "$$missing" ]; then \
	  echo "setup: installing Debian packages: $$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
	@[ -x $(PY) ] || /usr/bin/python3 -m venv --system-site-packages $(VENV)
	@# --no-deps: pip must never install numpy/h5py/mpi4py/petsc4py/slepc4py over the system builds.
	@$(PY) -m pip install -q --no-build-isolation --no-deps -e . 2>&1 | grep -v -i "notice" || true
	@# ruff (lint + format check) is the only tool taken from PyPI; it has no Python dependencies.
	@$(PY) -m pip install -q "ruff>=0.6" 2>&1 | grep -v -i -e "notice" -e "is ignored" || true
	@$(PY) -c "import hpc_nc, numpy, scipy, yaml, h5py, mpi4py, matplotlib, pytest" \
	  || { echo "setup: the environment is incomplete (see above)"; exit 1; }
	@touch $(STAMP)
	@echo "setup: ready ($(VENV), $$($(PY) --version))"

# Lint and format check (pyproject.toml [tool.ruff]); part of `make test`.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Lint, then the serial suite in the complex build, the real-build (TAO) tests, then every
# MPI-marked test again under mpirun -n 2 in each build. Tests marked `slow` (minutes each:
# paper-size physics cases) run with `make test-slow`.
test: setup lint
	$(PY) -m pytest -q -m "not slow"
	HPC_NC_SCALAR=real $(PY) -m pytest -q -m real_build
	$(MPIRUN) $(PY) -m pytest -q -p no:cacheprovider -m "mpi and not real_build"
	HPC_NC_SCALAR=real $(MPIRUN) $(PY) -m pytest -q -p no:cacheprovider -m "mpi and real_build"

test-slow: setup
	$(PY) -m pytest -q -m slow

demo: setup
	$(VENV)/bin/hpc-nc run jobs/demo.yaml -n $(NP)

# Resumable: finished tasks are kept (results/paper/*.h5); a figure whose committed CSVs are
# complete is only re-plotted. Writes docs/reproduction/ and the cost block of benchmarks/RESULTS.md.
paper: setup
	$(PY) -m hpc_nc.paper run --np $(NP) $(if $(FIG),--fig $(FIG)) $(if $(EXTENDED),--extended) $(if $(PLOT_ONLY),--plot-only) $(if $(COMMIT),--commit)

bench: setup
	$(PY) benchmarks/run_all.py

# Nightly-size job-file fuzzing campaign (the test suite runs 500 cases): `make fuzz CASES=20000 SEED=7`.
CASES ?= 20000
SEED  ?= 1
fuzz: setup
	HPC_NC_FUZZ_CASES=$(CASES) HPC_NC_FUZZ_SEED=$(SEED) $(PY) -m pytest -q tests/test_fuzz_jobs.py

clean-results:
	rm -rf results
