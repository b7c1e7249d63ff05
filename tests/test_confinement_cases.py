"""The confinement cases of issue 10 through `hpc-nc run` (docs/VALIDATION.md, "Confinement
classifier"), and the refusal to resume a results file with another screening model."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from _mpi_env import fresh_mpi_env

HERE = os.path.dirname(os.path.abspath(__file__))
ENV = fresh_mpi_env()  # children are fresh MPI jobs even when pytest runs under mpirun
not_under_mpirun = pytest.mark.skipif(
    os.environ.get("OMPI_COMM_WORLD_SIZE") is not None, reason="spawns its own mpirun"
)


def _hpc_nc(cwd, *args):
    return subprocess.run(
        [sys.executable, "-m", "hpc_nc", *args], cwd=cwd, capture_output=True, text=True, env=ENV, timeout=1800
    )


def _run_job(tmp_path, name, n):
    d = tmp_path / f"{name}_n{n}"
    d.mkdir()
    shutil.copy(os.path.join(HERE, "jobs", f"{name}.yaml"), d / "job.yaml")
    res = _hpc_nc(d, "run", "job.yaml", "-n", str(n), "--no-plots")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    from hpc_nc.io.store import read_results

    data = read_results(d / "results" / f"{name}.h5")
    assert np.all(data["status"] == 1)
    return d, data


def _rows(data, x_cu, x_in, r, h):
    t = data
    return np.flatnonzero(
        (t["tasks/x_cu"] == x_cu)
        & (t["tasks/x_in"] == x_in)
        & (t["tasks/core_radius_a"] == r)
        & (t["tasks/shell_thickness_a"] == h)
    )


def _label(data, i):
    lab = data["results/confinement"][i]
    return lab.decode() if isinstance(lab, bytes) else str(lab)


def _check_cases(data):
    # 1. pure ZnS: type-I at either split of the same 915-atom dot, and its own reference
    for r, h in ((1.0, 2.0), (2.0, 1.0)):
        (i,) = _rows(data, 0.0, 0.0, r, h)
        assert _label(data, i) == "type-I"
        assert data["results/reference_core_weight_E1"][i] == data["results/core_weight_E1"][i]
    # 2. CuS/ZnS R = H = 2a STR: both carriers drawn into the core
    (i,) = _rows(data, 1.0, 0.0, 2.0, 2.0)
    assert _label(data, i) == "type-I", data["results/confinement_reason"][i]
    assert data["results/core_weight_E1"][i] > data["results/reference_core_weight_E1"][i]
    assert data["results/core_weight_H1"][i] > data["results/reference_core_weight_H1"][i]
    # 4. the Fig. 12 corner: type-II with Delta_XX >= 0.6 eV in both realisations
    corner = _rows(data, 0.0, 0.5, 1.0, 3.0)
    assert len(corner) == 2
    for i in corner:
        assert _label(data, i) == "type-II", data["results/confinement_reason"][i]
        assert data["results/dXX"][i] >= 0.6
    # the reference of R = 1a, H = 3a is the pure ZnS dot's, not a fixed number (tiny core)
    assert np.all(data["results/reference_core_weight_E1"][corner] < 0.1)


@not_under_mpirun
def test_confinement_cases_through_hpc_nc_run_and_resume_refusal(tmp_path):
    d, data = _run_job(tmp_path, "confinement_cases", 2)
    _check_cases(data)
    # the job's default screening is recorded; another model must not resume into this file
    from hpc_nc.io.store import read_provenance

    analysis = json.loads(read_provenance(d / "results" / "confinement_cases.h5")["analysis_settings"])
    assert analysis["screening"] == "thomas-fermi-resta"
    res = _hpc_nc(d, "solve", "job.yaml", "--set", "analysis.screening=uniform")
    assert res.returncode == 2, res.stdout[-1000:] + res.stderr[-1000:]
    assert "different analysis_settings" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.slow
@not_under_mpirun
def test_confinement_cases_rank_independent_and_ins_zns_3a(tmp_path):
    """Slow (minutes): case 3 (InS/ZnS R = H = 3a STR, VBO 1.1 eV: type-II; the ZnS dot of
    that size: type-I), and the fast cases again on 1 rank with the same labels and numbers."""
    _, slow = _run_job(tmp_path, "confinement_cases_slow", 2)
    (i,) = _rows(slow, 0.0, 1.0, 3.0, 3.0)
    assert _label(slow, i) == "type-II", slow["results/confinement_reason"][i]
    (z,) = _rows(slow, 0.0, 0.0, 3.0, 3.0)
    assert _label(slow, z) == "type-I"
    # the InS dot's reference is exactly the ZnS task's own weights (same dot, same solver)
    np.testing.assert_allclose(
        slow["results/reference_core_weight_E1"][i], slow["results/core_weight_E1"][z], atol=1e-6
    )
    _, one = _run_job(tmp_path, "confinement_cases", 1)
    _, two = _run_job(tmp_path, "confinement_cases", 2)
    _check_cases(one)
    assert [_label(one, k) for k in range(len(one["status"]))] == [_label(two, k) for k in range(len(two["status"]))]
    for key in (
        "results/dXX",
        "results/J_eh",
        "results/core_weight_E1",
        "results/core_weight_H1",
        "results/reference_core_weight_E1",
        "results/reference_core_weight_H1",
    ):
        np.testing.assert_allclose(one[key], two[key], rtol=1e-6, atol=1e-7, err_msg=key)
