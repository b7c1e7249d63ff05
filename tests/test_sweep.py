"""The stages through the farm into the stores: rank/group independence, resume, end to end."""

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pytest
from _mpi_env import fresh_mpi_env

from hpc_nc.io.jobs import parse_job

JOB = textwrap.dedent("""
    name: sweeptest
    sweep:
      compositions: [[0.0, 1.0], [0.3, 0.3]]
      geometries: [[1.0, 0.5]]
      model: [NSTR, VCA]
      realizations: 2
      seed: 3
    states: {electrons: 2, holes: 4}
    analysis: {n_radial_bins: 40}
""")

# Quantities that are invariant under unitary mixing inside degenerate levels: they must not
# depend on the rank count or the group layout (eigenvector phases and degenerate bases may).
INVARIANT = [
    "results/electron_energies",
    "results/hole_energies",
    "results/gap",
    "results/exciton_energies",
    "results/dipole_sq",
    "results/J_ee",
    "results/J_hh",
    "results/J_eh",
    "results/dXX",
    "results/core_weight_E1",
    "results/core_weight_H1",
]


@pytest.fixture
def shared_dir(comm):
    path = tempfile.mkdtemp(prefix="hpc_nc_sweep_") if comm.rank == 0 else None
    path = comm.bcast(path, root=0)
    yield path
    comm.Barrier()
    if comm.rank == 0:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.mpi
def test_solve_stage_group_layout_independent_and_resumable(comm, petsc, shared_dir):
    from hpc_nc.io.store import read_results
    from hpc_nc.pipeline.sweep import run_solve

    job = parse_job(JOB, source="test")
    paths = {}
    for rpt in sorted({1, comm.size}):
        j = parse_job(JOB, source="test", overrides={"parallel": {"ranks_per_task": rpt}})
        paths[rpt] = os.path.join(shared_dir, f"r{rpt}.h5")
        summary = run_solve(comm, j, results_path=paths[rpt], progress="none")
        assert summary.n_failed == 0 and summary.n_done == len(job.tasks)
        # resume: a second run finds everything done and recomputes nothing
        again = run_solve(comm, j, results_path=paths[rpt], progress="none")
        assert again.n_done == 0 and again.n_skipped == len(job.tasks)
    comm.Barrier()
    data = {rpt: read_results(p) for rpt, p in paths.items()}
    first = data[min(data)]
    assert np.all(first["status"] == 1)
    e1, h1 = first["results/E1"], first["results/H1"]
    assert np.all(e1 > h1) and np.all(np.isfinite(first["results/J_eh"]))
    # the VCA and NSTR of a pure InS core are the same dot
    t = first["tasks/model"]
    pure = first["tasks/x_in"] == 1.0
    np.testing.assert_allclose(e1[pure & (t == "VCA")], e1[pure & (t == "NSTR")], atol=1e-8)
    for other in data.values():
        for key in INVARIANT:
            np.testing.assert_allclose(other[key], first[key], rtol=1e-6, atol=1e-7, err_msg=key)


ENV = fresh_mpi_env()  # children are fresh MPI jobs even when pytest runs under mpirun

STR_JOB = textwrap.dedent("""
    name: e2e
    sweep:
      compositions: [[0.0, 1.0], [1.0, 0.0]]
      geometries: [[1.0, 0.5]]
      vbo_ins: [1.1, 1.6]
      model: [STR]
    states: {electrons: 2, holes: 4}
    analysis: {n_radial_bins: 40}
""")


def _run(cwd, *args):
    return subprocess.run(
        [sys.executable, "-m", "hpc_nc", *args], cwd=cwd, capture_output=True, text=True, env=ENV, timeout=600
    )


@pytest.mark.skipif(os.environ.get("OMPI_COMM_WORLD_SIZE") is not None, reason="spawns its own mpirun")
def test_run_end_to_end_str_on_1_and_2_ranks(tmp_path):
    from hpc_nc.io.store import read_results, read_structure

    out = {}
    for n in (1, 2):
        d = tmp_path / f"n{n}"
        d.mkdir()
        (d / "job.yaml").write_text(STR_JOB)
        res = _run(d, "run", "job.yaml", "-n", str(n), "--no-plots")
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
        assert "results/e2e.h5" in res.stdout
        out[n] = read_results(d / "results" / "e2e.h5")
        assert np.all(out[n]["status"] == 1)
        # the relaxed structure is shared by the two VBOs of the InS core
        job = parse_job(STR_JOB)
        s = read_structure(d / "results" / "e2e_structures.h5", job.tasks[0].structure_key)
        assert s["positions"].shape == (job.tasks[0].n_atoms, 3)
        assert s["max_force_ev_per_angstrom"] < 1e-4
    for key in INVARIANT:
        np.testing.assert_allclose(out[2][key], out[1][key], rtol=1e-5, atol=1e-6, err_msg=key)
    # a larger InS/ZnS VBO raises H1 (holes) while CuS tasks do not care about it
    x_in, vbo = out[1]["tasks/x_in"], out[1]["tasks/vbo_ins"]
    h1 = out[1]["results/H1"]
    assert h1[(x_in == 1) & (vbo == 1.6)][0] > h1[(x_in == 1) & (vbo == 1.1)][0] + 0.2
    np.testing.assert_allclose(h1[(x_in == 0) & (vbo == 1.6)], h1[(x_in == 0) & (vbo == 1.1)], atol=1e-7)
    # resume: running again recomputes nothing
    again = _run(tmp_path / "n1", "run", "job.yaml", "-n", "1", "--no-plots")
    assert again.returncode == 0 and "(4 already done)" in again.stdout
