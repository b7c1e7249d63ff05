"""PETSc build selection and a collective smoke test on subcommunicators, in each build."""

import os
import subprocess
import sys

import numpy as np
import pytest

from hpc_nc.errors import BuildError
from hpc_nc.parallel.petsc_build import find_builds, select_build

SCALAR = os.environ.get("HPC_NC_SCALAR", "complex")


def test_both_builds_found():
    builds = find_builds()
    for s in ("real", "complex"):
        assert builds[s]["petsc_dir"] and os.path.isdir(builds[s]["petsc_dir"])
        assert builds[s]["slepc_dir"] and os.path.isdir(builds[s]["slepc_dir"])


def test_selected_build_has_requested_scalar(petsc):
    PETSc, SLEPc = petsc
    want = np.complex128 if SCALAR == "complex" else np.float64
    assert PETSc.ScalarType is want
    other = "real" if SCALAR == "complex" else "complex"
    with pytest.raises(BuildError, match=f"needs {other}"):
        select_build(other)


def test_wrong_build_in_fresh_process_gives_one_line():
    code = (
        "import os,sys\n"
        "os.environ['PETSC_DIR']=os.environ['HPC_NC_TEST_DIR']\n"
        "from hpc_nc.parallel.petsc_build import select_build\n"
        "from hpc_nc.errors import BuildError\n"
        "try:\n    select_build('real')\n"
        "except BuildError as e:\n    print('ERR', e); sys.exit(3)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_"))}
    # a user-provided (non-Debian-path) PETSC_DIR is respected and then checked: use a
    # symlink so the path is not recognised as Debian's own
    link = "/tmp/hpc_nc_test_complex_petsc"
    if not os.path.islink(link):
        try:
            os.symlink(find_builds()["complex"]["petsc_dir"], link)
        except FileExistsError:
            pass
    env["HPC_NC_TEST_DIR"] = link
    env.pop("HPC_NC_PETSC_DIR_REAL", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 3, out.stderr
    assert "complex scalars but this stage needs real" in out.stdout


@pytest.mark.mpi
@pytest.mark.parametrize("build", ["complex", pytest.param("real", marks=pytest.mark.real_build)])
def test_collective_smoke_on_subcommunicators(petsc, comm, build):
    """Each rank forms its own group (split by rank), and the whole world forms one group:
    a distributed matrix-vector product and a SLEPc eigen solve on each group's comm."""
    PETSc, SLEPc = petsc
    for color in (comm.rank, 0):
        sub = comm.Split(color, comm.rank)
        pcomm = PETSc.Comm(sub)
        n = 40
        A = PETSc.Mat().createAIJ([n, n], nnz=(3, 2), comm=pcomm)
        lo, hi = A.getOwnershipRange()
        for i in range(lo, hi):  # 1-D Laplacian: eigenvalues 2 - 2 cos(k pi / (n+1))
            A[i, i] = 2.0
            if i > 0:
                A[i, i - 1] = -1.0
            if i < n - 1:
                A[i, i + 1] = -1.0
        A.assemble()
        x, y = A.createVecs()
        x.set(1.0)
        A.mult(x, y)
        assert y.sum() == pytest.approx(2.0)  # only the two end rows survive
        eps = SLEPc.EPS().create(comm=pcomm)
        eps.setOperators(A)
        eps.setProblemType(SLEPc.EPS.ProblemType.HEP)
        eps.setWhichEigenpairs(SLEPc.EPS.Which.SMALLEST_REAL)
        eps.setDimensions(3)
        eps.setTolerances(1e-10, 2000)
        eps.solve()
        assert eps.getConverged() >= 3
        got = sorted(eps.getEigenvalue(i).real for i in range(3))
        exact = 2 - 2 * np.cos(np.arange(1, 4) * np.pi / (n + 1))
        np.testing.assert_allclose(got, exact, atol=1e-8)
        for obj in (eps, A, x, y):
            obj.destroy()
        PETSc.garbage_cleanup(pcomm)
        sub.Free()
