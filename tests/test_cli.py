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
