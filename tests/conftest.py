"""Test configuration: one PETSc scalar type per process, same assertions on any rank count.

The scalar type is chosen by HPC_NC_SCALAR (complex by default); tests that need the real
build (TAO) carry ``@pytest.mark.real_build`` and are run by ``make test`` in a second
pytest process with HPC_NC_SCALAR=real. Tests marked ``mpi`` run again under
``mpirun -n 2``. After each test: garbage collection and a barrier, so that collective
PETSc destructors line up on all ranks (the DOLFINx recipe).
"""

import gc
import os

import pytest

SCALAR = os.environ.get("HPC_NC_SCALAR", "complex")


def _mpi_rank() -> int:
    for var in ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"):
        if var in os.environ:
            try:
                return int(os.environ[var])
            except ValueError:
                pass
    return -1  # not under an MPI launcher


@pytest.hookimpl(trylast=True)  # after the terminal plugin has registered its reporter
def pytest_configure(config):
    """Under mpirun: one report (rank 0's), no colour codes.

    OpenMPI gives every rank a pseudo-terminal, so pytest would colour its output even when
    the log goes to a file, and every rank would print the whole report. Rank 0 reports as
    usual (colour only on request: --color=yes); the other ranks print nothing but the
    tests that fail on them, one line each, so a rank-dependent failure is still seen."""
    rank = _mpi_rank()
    if rank < 0:
        return
    if config.option.color == "auto":
        config.option.color = "no"
        try:
            config.get_terminal_writer().hasmarkup = False  # the writer exists already
        except (AttributeError, AssertionError):
            pass
    if rank > 0:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            config.pluginmanager.unregister(reporter)
        config.pluginmanager.register(_OtherRankFailures(rank), "hpc_nc_rank_failures")


class _OtherRankFailures:
    def __init__(self, rank: int):
        self.rank = rank

    def pytest_runtest_logreport(self, report):
        if report.failed:
            import sys

            text = str(report.longrepr).strip().splitlines()
            last = text[-1] if text else ""
            sys.stderr.write(f"[rank {self.rank}] FAILED {report.nodeid} ({report.when}): {last}\n")
            sys.stderr.flush()


def pytest_collection_modifyitems(config, items):
    want_real = SCALAR == "real"
    skip = pytest.mark.skip(reason=f"needs the {'complex' if want_real else 'real'} PETSc build (HPC_NC_SCALAR)")
    for item in items:
        if ("real_build" in item.keywords) != want_real:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def petsc():
    """(PETSc, SLEPc) of the build selected by HPC_NC_SCALAR."""
    from hpc_nc.parallel.petsc_build import select_build

    return select_build(SCALAR)


@pytest.fixture(scope="session")
def comm():
    from mpi4py import MPI

    return MPI.COMM_WORLD


@pytest.fixture(autouse=True)
def _collective_cleanup():
    yield
    gc.collect()
    try:
        from mpi4py import MPI

        if MPI.Is_initialized() and not MPI.Is_finalized():
            MPI.COMM_WORLD.Barrier()
    except ImportError:
        pass
