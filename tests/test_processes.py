"""Processes and exit codes (hpc_nc/cli.py docstring): 0 done, 1 internal error, 2 usage or
input, 3 tasks failed, 4 tasks pending, 130 SIGINT, 143 SIGTERM; `hpc-nc run` passes SIGTERM
and SIGINT on to mpirun and its ranks, which die with it even on SIGKILL; one message per
error under mpirun -n 2."""

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from _mpi_env import fresh_mpi_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "jobs", "demo.yaml")
ENV = fresh_mpi_env()
TINY = [
    "--set",
    "sweep.geometries=[[1.0, 1.0]]",
    "--set",
    "sweep.compositions=[[0.0, 1.0], [1.0, 0.0]]",
    "--set",
    "sweep.vbo_ins=[1.1]",
]  # 2 tasks, ~1 s each
needs_mpirun = pytest.mark.skipif(shutil.which("mpirun") is None, reason="no mpirun")
pytestmark = pytest.mark.skipif(
    "OMPI_COMM_WORLD_SIZE" in os.environ, reason="starts its own mpirun jobs; runs in the serial pass"
)


def hpc_nc(*args, ranks=0, timeout=300, cwd=None):
    cmd = [sys.executable, "-m", "hpc_nc", *args]
    if ranks:
        cmd = ["mpirun", "--quiet", "-n", str(ranks), *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=timeout, cwd=cwd)


def _paths(tmp_path):
    return ["--results", str(tmp_path / "r.h5"), "--structures", str(tmp_path / "s.h5")]


@pytest.mark.parametrize("ranks", [0, 2])
def test_all_tasks_failed_exits_3(tmp_path, ranks):
    if ranks and shutil.which("mpirun") is None:
        pytest.skip("no mpirun")
    # no structures file: every STR task fails with StructureMissingError
    out = hpc_nc(
        "solve",
        DEMO,
        *TINY,
        "--results",
        str(tmp_path / "r.h5"),
        "--structures",
        str(tmp_path / "missing.h5"),
        "--progress",
        "none",
        ranks=ranks,
    )
    assert out.returncode == 3, out.stderr
    assert out.stderr.count("2 task(s) failed and were recorded") == 1
    assert "Traceback" not in out.stderr + out.stdout


def test_run_exit_0_then_4_for_pending_tasks(tmp_path):
    out = hpc_nc("run", DEMO, *TINY, "-n", "1", "--no-plots", "--shard", "0/2", "--progress", "none", *_paths(tmp_path))
    assert out.returncode == 4, out.stderr
    assert "1 done, 0 failed, 1 pending" in out.stdout and "exit status 4" in out.stderr
    out = hpc_nc("run", DEMO, *TINY, "-n", "1", "--no-plots", "--progress", "none", *_paths(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "2 done, 0 failed, 0 pending" in out.stdout


@needs_mpirun
def test_input_error_inside_a_stage_is_one_line_without_resume_advice(tmp_path):
    (tmp_path / "d").mkdir()
    out = hpc_nc(
        "run",
        DEMO,
        *TINY,
        "-n",
        "2",
        "--no-plots",
        "--results",
        str(tmp_path / "d"),
        "--structures",
        str(tmp_path / "s.h5"),
        "--progress",
        "none",
    )
    assert out.returncode == 2
    errors = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("hpc-nc: error:"), out.stderr
    assert "resume" not in out.stderr and "mpirun" not in out.stderr  # no banner, no futile advice


def test_bad_rank_count_is_a_usage_error():
    out = hpc_nc("run", DEMO, "-n", "0")
    assert out.returncode == 2 and out.stderr.startswith("hpc-nc: error: -n 0")


@pytest.mark.parametrize("ranks", [0, 2])
def test_unexpected_exception_is_one_line_and_a_traceback_file(tmp_path, ranks):
    if ranks and shutil.which("mpirun") is None:
        pytest.skip("no mpirun")
    code = (
        "import sys, hpc_nc.cli as c\n"
        "def boom(args):\n    raise RuntimeError('simulated bug')\n"
        "c.cmd_validate = boom\nsys.exit(c.main(['validate', 'jobs/demo.yaml']))\n"
    )
    cmd = [sys.executable, "-c", code]
    if ranks:
        cmd = ["mpirun", "--quiet", "-n", str(ranks), *cmd]
    env = dict(ENV, HPC_NC_LOG_DIR=str(tmp_path))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 1
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("hpc-nc: internal error: RuntimeError: simulated bug (full traceback in ")
    files = sorted(os.listdir(tmp_path))
    assert len(files) == max(ranks, 1)
    text = (tmp_path / files[0]).read_text()
    assert "Traceback" in text and "simulated bug" in text


def _processes_mentioning(marker: str) -> list[int]:
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmdline = fh.read().decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            pids.append(int(pid))
    return pids


# 4 tasks of a few seconds each: two rounds on 2 ranks, so a signal after the first task
# lands while the second round runs
MEDIUM = ["--set", "sweep.geometries=[[1.5, 1.0]]", "--set", "sweep.compositions=[[0.0, 1.0], [1.0, 0.0]]"]


def _start_run(tmp_path, n=2):
    cmd = [
        sys.executable,
        "-m",
        "hpc_nc",
        "run",
        DEMO,
        *MEDIUM,
        "-n",
        str(n),
        "--no-plots",
        "--progress",
        "log",
        *_paths(tmp_path),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    # wait until the solve stage has finished a task (the relax stage takes a few seconds)
    t0 = time.time()
    seen = []
    while time.time() - t0 < 300:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith("[farm") and "done" in line and any(s.startswith("solve:") for s in seen):
            return proc
    proc.kill()
    pytest.fail("the solve stage never finished a task:\n" + "".join(seen))


@needs_mpirun
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_mpirun_and_ranks_and_says_how_to_resume(tmp_path, sig):
    proc = _start_run(tmp_path)
    assert _processes_mentioning(str(tmp_path / "r.h5"))  # mpirun and its ranks are running
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == (143 if sig == signal.SIGTERM else 130), err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    name = "SIGTERM" if sig == signal.SIGTERM else "SIGINT"
    assert lines[0].startswith(f"run: stopped by {name} during solve: ")
    assert "of 4 tasks are saved in" in lines[0] and "resume with: hpc-nc run " in lines[0]
    time.sleep(1)
    assert _processes_mentioning(str(tmp_path / "r.h5")) == []  # nothing left computing


@needs_mpirun
def test_sigkill_of_run_takes_mpirun_and_ranks_with_it(tmp_path):
    proc = _start_run(tmp_path)
    proc.kill()
    proc.wait()
    t0 = time.time()
    while _processes_mentioning(str(tmp_path / "r.h5")) and time.time() - t0 < 30:
        time.sleep(0.5)
    left = _processes_mentioning(str(tmp_path / "r.h5"))
    for pid in left:  # clean up before failing
        os.kill(pid, signal.SIGKILL)
    assert left == []
    # and the interrupted file resumes to completion
    out = hpc_nc("run", DEMO, *MEDIUM, "-n", "2", "--no-plots", "--progress", "none", *_paths(tmp_path))
    assert out.returncode == 0, out.stderr
    from hpc_nc.io.store import read_results

    assert (np.asarray(read_results(str(tmp_path / "r.h5"))["status"]) == 1).all()


@needs_mpirun
def test_a_rank_killed_from_outside_is_reported_not_taken_for_a_user_stop(tmp_path):
    """SIGKILL of one rank (what the out-of-memory killer does) ends `run` with exit 1 and one
    line naming the likely cause, not with 'stopped by SIGTERM'."""
    proc = _start_run(tmp_path)
    ranks = []
    for pid in _processes_mentioning(str(tmp_path / "r.h5")):
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = fh.read().split(b"\0")
        if b"solve" in argv and not any(a.endswith(b"mpirun") for a in argv):
            ranks.append(pid)
    assert ranks
    os.kill(ranks[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "was killed (SIGKILL" in lines[0] and "resume with:" in lines[0], err


def test_run_started_by_an_mpi_singleton_is_not_taken_for_an_mpi_job(tmp_path):
    """A Python process that initialised MPI (pytest, a driver) leaves PMIX_RANK in the
    environment of its children; `hpc-nc run` started from it must still run both stages."""
    code = (
        "import subprocess, sys\nfrom mpi4py import MPI  # singleton: sets PMIX_* for children\n"
        f"sys.exit(subprocess.run([sys.executable, '-m', 'hpc_nc', 'run', {DEMO!r}, *{TINY!r}, '-n', '1', "
        f"'--no-plots', '--progress', 'none', *{_paths(tmp_path)!r}]).returncode)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "cannot run both stages" not in out.stderr
