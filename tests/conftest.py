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
