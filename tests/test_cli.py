"""The command line as a user meets it: exit codes and one-line errors, on 1 and 2 ranks."""

import json
import shutil
import subprocess
import sys

import pytest
from _mpi_env import fresh_mpi_env

ENV = fresh_mpi_env()  # children are fresh MPI jobs even when pytest runs under mpirun


def hpc_nc(*args, ranks=0, timeout=120):
    cmd = [sys.executable, "-m", "hpc_nc", *args]
    if ranks:
        cmd = ["mpirun", "-n", str(ranks), *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=timeout)


def test_validate_demo_json():
    out = hpc_nc("validate", "jobs/demo.yaml", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["n_tasks"] == len(data["tasks"]) > 0
    assert all(t["n_atoms"] > 0 for t in data["tasks"])


@pytest.mark.parametrize("ranks", [0, 2])
def test_malformed_job_exits_2_with_one_line(tmp_path, ranks):
    if ranks and shutil.which("mpirun") is None:
        pytest.skip("no mpirun")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsweep: {x_cu: [0.7], x_in: [0.5], core_radius_a: [1]}\n")
    out = hpc_nc("validate", str(bad), ranks=ranks)
    assert out.returncode == 2
    ours = [line for line in out.stderr.splitlines() if line.startswith("hpc-nc: error:")]
    assert len(ours) == 1 and "x_cu + x_in" in ours[0]
    assert "Traceback" not in out.stderr + out.stdout


def test_missing_job_file():
    out = hpc_nc("validate", "nope.yaml")
    assert out.returncode == 2 and out.stderr.strip() == "hpc-nc: error: nope.yaml: job file not found"


def test_info_lists_both_builds():
    out = hpc_nc("info", "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    builds = {b["scalar"]: b for b in info["builds"]}
    assert builds["real"]["scalar_type"] == "float64" and builds["real"]["tao_cg"]
    assert builds["complex"]["scalar_type"] == "complex128"
    assert builds["complex"]["mumps"]
    assert info["h5py_mpi"] is True


def test_environment_inherited_from_an_mpi_singleton_is_not_a_launcher(monkeypatch):
    """A script that imported mpi4py (an OpenMPI singleton) and then started `hpc-nc run`
    passes PMIX_RANK & co. to it: that is not mpirun/srun, and the child mpirun must not
    inherit the parent's PMIx wiring. Under a real launcher the check still fires."""
    from hpc_nc import cli

    for key in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "OMPI_MCA_ess", "PMIX_NAMESPACE"):
        monkeypatch.delenv(key, raising=False)
    assert not cli._inside_mpi_job()
    monkeypatch.setenv("PMIX_RANK", "0")
    assert cli._inside_mpi_job()  # srun --mpi=pmix
    monkeypatch.setenv("OMPI_MCA_ess", "singleton")
    monkeypatch.setenv("PMIX_NAMESPACE", "123")
    assert not cli._inside_mpi_job()
    env = cli._launcher_env()
    assert "PMIX_RANK" not in env and "PMIX_NAMESPACE" not in env and "OMPI_MCA_ess" not in env
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")  # mpirun sets this; a singleton does not
    assert cli._inside_mpi_job()
