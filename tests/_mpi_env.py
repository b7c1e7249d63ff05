"""Environment for child processes started by tests (CLI runs, fresh mpirun jobs)."""

import os

TESTS = os.path.dirname(os.path.abspath(__file__))


def fresh_mpi_env() -> dict:
    """This process's environment without inherited MPI variables (so a child started from
    a test that itself runs under mpirun is a fresh MPI job), with root and
    oversubscription allowed for OpenMPI and the checkout on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_", "OPAL_", "ORTE_"))}
    env.update(
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        OMPI_MCA_rmaps_base_oversubscribe="1",
        H5PY_ALWAYS_USE_MPI="1",
        OMP_NUM_THREADS="1",
    )
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.path.dirname(TESTS), env.get("PYTHONPATH")]))
    return env
