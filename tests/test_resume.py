"""Resume after SIGKILL: a real sweep is killed mid-way, then the same command finishes it.

The sweep (tests/_farm_worker.py) runs as its own program, serially and under
``mpirun -n 2``. After the kill the results file must still open, hold correct rows for the
tasks it marks done and nothing else; the second run must compute exactly the remaining
tasks, leave the killed run's rows untouched, and end with every task done once with the
right values. Not marked ``mpi``: the test launches its own MPI job.
"""

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from _mpi_env import fresh_mpi_env

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from _farm_worker import expected, make_tasks  # noqa: E402

from hpc_nc.io.store import DONE, PENDING, read_results  # noqa: E402

N_TASKS = 14
SLEEP_S = 0.2
KILL_AFTER = 4  # rows stored before the kill


def command(launcher, results, log_dir, ranks_per_task=1):
    worker = [
        sys.executable,
        os.path.join(HERE, "_farm_worker.py"),
        results,
        log_dir,
        str(N_TASKS),
        str(SLEEP_S),
        str(ranks_per_task),
    ]
    if launcher == "mpirun":
        return [shutil.which("mpirun"), "-n", "2"] + worker
    return worker


def lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return [int(x) for x in fh.read().split()]


def check_rows(data, rows):
    for task in make_tasks(N_TASKS):
        if task.index not in rows:
            continue
        want = expected(task)
        np.testing.assert_array_equal(data["results/values"][task.index], want["values"])
        a, b = data["atom_offsets"][task.index : task.index + 2]
        np.testing.assert_array_equal(data["results/weights"][a:b], want["weights"])


@pytest.mark.parametrize("launcher", ["python", "mpirun"])
def test_sigkill_mid_sweep_then_resume(tmp_path, launcher):
    if launcher == "mpirun" and shutil.which("mpirun") is None:
        pytest.skip("mpirun not installed")
    results = str(tmp_path / "results.h5")
    first, second = tmp_path / "run1", tmp_path / "run2"
    first.mkdir()
    second.mkdir()
    env = fresh_mpi_env()

    # 1. start the sweep and SIGKILL every process of it once a few rows are stored
    proc = subprocess.Popen(
        command(launcher, results, str(first)),
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    try:
        while len(lines(first / "stored")) < KILL_AFTER:
            assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the sweep did not store rows within 60 s"
            time.sleep(0.02)
    finally:
        for pid in lines(first / "pids"):  # the ranks, by the ids they reported
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        os.killpg(proc.pid, signal.SIGKILL)  # the launcher's own process group
        proc.wait(timeout=30)

    # 2. the killed run's file opens and holds only correct, complete rows
    data = read_results(results)
    done_1 = set(np.flatnonzero(data["status"] == DONE).tolist())
    assert set(np.unique(data["status"]).tolist()) <= {PENDING, DONE}
    assert set(lines(first / "stored")) <= done_1  # everything reported stored is in the file
    assert KILL_AFTER <= len(done_1) < N_TASKS, "the kill did not land mid-sweep"
    check_rows(data, done_1)
    finished_1 = data["timings/finished_unix"].copy()
    assert not os.path.exists(results + ".creating")

    # 3. the same command again finishes the sweep
    run = subprocess.run(
        command(launcher, results, str(second)), env=env, timeout=120, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert run.returncode == 0, run.stdout.decode()[-3000:]
    computed_2 = lines(second / "computed")
    assert sorted(computed_2) == sorted(set(range(N_TASKS)) - done_1)  # each remaining task once, no redo
    final = read_results(results)
    assert np.all(final["status"] == DONE)
    check_rows(final, set(range(N_TASKS)))
    done_rows = sorted(done_1)
    np.testing.assert_array_equal(final["timings/finished_unix"][done_rows], finished_1[done_rows])
    assert f"({len(done_1)} skipped: already done)" in run.stdout.decode()
