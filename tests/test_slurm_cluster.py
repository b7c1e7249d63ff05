"""`hpc-nc slurm` against a real single-node Slurm 22.05 (slurm/local_cluster.sh).

The single job, the array plus merge, and the two-step relax/solve pair each run a small
variant of jobs/demo.yaml (the smaller geometry, all three compositions, one InS offset:
4 tasks) through sbatch/srun --mpi=pmix, and their results must equal
those of `hpc-nc run` to 1e-12. Skipped, with the reason, where the Slurm packages cannot
be installed or the daemons do not start (set HPC_NC_SLURM_TESTS=0 to skip on purpose).
"""

import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "jobs", "demo.yaml")
SCRIPT = os.path.join(ROOT, "slurm", "local_cluster.sh")
# 4 of the demo's 16 tasks: the smaller dots, one InS offset; still InS, CuS and the alloy
# with its two realisations, all STR (relax + solve)
SMALL = ["--set", "sweep.geometries=[[1.0, 1.0]]", "--set", "sweep.vbo_ins=[1.1]"]
FIELDS = (
    "status",
    "tasks/key",
    "results/E1",
    "results/H1",
    "results/gap",
    "results/electron_energies",
    "results/hole_energies",
    "results/exciton_energies",
    "results/oscillator_strengths",
)


def _env(conf: str) -> dict:
    env = dict(
        os.environ,
        SLURM_CONF=conf,
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        OMPI_MCA_rmaps_base_oversubscribe="1",
    )
    return {
        k: v
        for k, v in env.items()
        if not k.startswith(("SLURM_JOB", "SLURM_ARRAY", "OMPI_COMM_WORLD", "PMIX_")) or k == "SLURM_CONF"
    }


@pytest.fixture(scope="module")
def cluster():
    if os.environ.get("HPC_NC_SLURM_TESTS") == "0":
        pytest.skip("HPC_NC_SLURM_TESTS=0")
    if "OMPI_COMM_WORLD_SIZE" in os.environ or "PMIX_RANK" in os.environ:
        pytest.skip("runs sbatch itself; not under mpirun")
    if not sys.platform.startswith("linux") or shutil.which("dpkg-query") is None:
        pytest.skip("the local Slurm cluster needs Debian packages (dpkg/apt)")
    if os.geteuid() != 0 and shutil.which("sudo") is None:
        pytest.skip("installing/starting Slurm needs root or sudo")
    proc = subprocess.run(["bash", SCRIPT, "up"], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        pytest.skip(f"local Slurm cluster could not be started: {' '.join(proc.stderr.split())[-300:]}")
    conf = subprocess.run(["bash", SCRIPT, "env"], capture_output=True, text=True).stdout.split("=", 1)[1].strip()
    yield _env(conf)
    # the cluster is left up (idempotent `up` reuses it); `slurm/local_cluster.sh down` stops it


def _wait(env, job_ids, timeout=900):
    """Poll squeue until the jobs have left the queue (no slurmdbd, so no sacct)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        out = subprocess.run(
            ["squeue", "-h", "-o", "%i %T %r", "-j", ",".join(job_ids)], env=env, capture_output=True, text=True
        ).stdout
        active = [line for line in out.splitlines() if line.strip()]
        if not active:
            return
        for line in active:
            assert "PartitionConfig" not in line and "PartitionTimeLimit" not in line, line
        time.sleep(1)
    subprocess.run(["scancel", *job_ids], env=env)
    pytest.fail(f"jobs {job_ids} still queued after {timeout} s")


def _job_states(env, job_ids):
    """State and exit code per job from the jobcomp/filetxt log written by the cluster."""
    conf = env["SLURM_CONF"]
    log = os.path.join(os.path.dirname(conf), "jobcomp.log")
    states = {}
    with open(log, encoding="utf-8") as fh:
        for line in fh:
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            jid = fields.get("JobId")
            if jid and any(jid == j or jid.startswith(j) for j in job_ids):
                states[jid] = (fields.get("JobState"), fields.get("ExitCode"))
    return states


def _hpc(*args, env, cwd):
    return subprocess.run(
        [sys.executable, "-m", "hpc_nc", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=900
    )


def _submit(env, cwd, *args):
    proc = _hpc("slurm", DEMO, *SMALL, *args, env=env, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    ids = [line.split()[1].rstrip(":") for line in proc.stdout.splitlines() if line.startswith("submitted ")]
    assert ids, proc.stdout
    return ids, proc


def _read(path):
    from hpc_nc.io.store import read_results

    return read_results(path)


def _compare(a, b):
    for f in FIELDS:
        x, y = np.asarray(a[f]), np.asarray(b[f])
        assert x.shape == y.shape, f
        if x.dtype.kind in "fc":
            np.testing.assert_allclose(x, y, rtol=0, atol=1e-12, equal_nan=True, err_msg=f)
        else:
            np.testing.assert_array_equal(x, y, err_msg=f)


@pytest.fixture(scope="module")
def reference(cluster, tmp_path_factory):
    d = tmp_path_factory.mktemp("ref")
    proc = _hpc(
        "run",
        DEMO,
        *SMALL,
        "-n",
        "2",
        "--no-plots",
        "--results",
        str(d / "ref.h5"),
        "--structures",
        str(d / "ref_structures.h5"),
        "--progress",
        "none",
        env=cluster,
        cwd=str(d),
    )
    assert proc.returncode == 0, proc.stderr
    data = _read(d / "ref.h5")
    assert (np.asarray(data["status"]) == 1).all()
    return data


def test_single_job_matches_run(cluster, reference, tmp_path):
    ids, proc = _submit(cluster, str(tmp_path), "--results", str(tmp_path / "out" / "single.h5"))
    assert len(ids) == 1
    _wait(cluster, ids)
    assert _job_states(cluster, ids)[ids[0]] == ("COMPLETED", "0:0")
    _compare(_read(tmp_path / "out" / "single.h5"), reference)
    logs = os.listdir(tmp_path / "out" / "logs")
    assert logs == [f"hpc-nc-demo-{ids[0]}.out"]
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".out")]  # nothing in the working folder
    # resubmitting with the job still queued is refused; here it has finished, so a second
    # submission runs, resumes and skips every task
    ids2, _ = _submit(cluster, str(tmp_path), "--results", str(tmp_path / "out" / "single.h5"))
    _wait(cluster, ids2)
    text = (tmp_path / "out" / "logs" / f"hpc-nc-demo-{ids2[0]}.out").read_text()
    assert "4 tasks (4 already done)" in text


def test_array_and_merge_match_run(cluster, reference, tmp_path):
    ids, _ = _submit(cluster, str(tmp_path), "--array", "2", "--results", str(tmp_path / "arr.h5"))
    assert len(ids) == 2
    _wait(cluster, ids)
    states = _job_states(cluster, ids)
    assert states[ids[1]] == ("COMPLETED", "0:0"), states
    _compare(_read(tmp_path / "arr.h5"), reference)
    logs = sorted(os.listdir(tmp_path / "logs"))
    assert f"hpc-nc-demo-merge-{ids[1]}.out" in logs  # no %a (4294967294) on the merge job
    assert [f for f in logs if f.startswith(f"hpc-nc-demo-{ids[0]}_")] == [
        f"hpc-nc-demo-{ids[0]}_{k}.out" for k in range(2)
    ]


def test_two_step_matches_run_and_guards_duplicates(cluster, reference, tmp_path):
    res = str(tmp_path / "two.h5")
    # hold the first job so both are still queued when the duplicate is submitted
    ids, _ = _submit(cluster, str(tmp_path), "--two-step", "--results", res, "--relax-sbatch-arg=--hold")
    assert len(ids) == 2
    dup = _hpc("slurm", DEMO, *SMALL, "--results", res, env=cluster, cwd=str(tmp_path))
    assert dup.returncode == 2 and "already queued or running" in dup.stderr and ids[0] in dup.stderr
    subprocess.run(["scontrol", "release", ids[0]], env=cluster, check=True)
    _wait(cluster, ids)
    states = _job_states(cluster, ids)
    assert states[ids[0]] == ("COMPLETED", "0:0") and states[ids[1]] == ("COMPLETED", "0:0"), states
    _compare(_read(res), reference)


def test_failed_tasks_fail_the_job(cluster, tmp_path):
    """A solve whose tasks all fail (no structures: StructureMissingError) exits 3, so Slurm
    records FAILED and an afterok chain stops."""
    from hpc_nc.pipeline.slurm import TEMPLATE_DIR

    env = dict(cluster, HPC_NC=f"{sys.executable} -m hpc_nc")
    proc = subprocess.run(
        [
            "sbatch",
            "--parsable",
            "--ntasks=1",
            "--time=00:10:00",
            f"--output={tmp_path}/%j.out",
            os.path.join(TEMPLATE_DIR, "relax_solve.sbatch"),
            "solve",
            DEMO,
            *SMALL,
            "--set",
            "sweep.compositions=[[0.0, 1.0]]",
            "--results",
            str(tmp_path / "bad.h5"),
            "--structures",
            str(tmp_path / "missing.h5"),
        ],
        env=env,
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    job_id = proc.stdout.strip().split(";")[0]
    _wait(cluster, [job_id])
    assert _job_states(cluster, [job_id])[job_id] == ("FAILED", "3:0")
    log = (tmp_path / f"{job_id}.out").read_text()
    assert "1 task(s) failed" in log and "Traceback" not in log
