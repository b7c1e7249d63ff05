"""A small farm + results store sweep, run as its own (MPI) program by tests/test_resume.py.

    [mpirun -n P] python tests/_farm_worker.py RESULTS LOG_DIR N_TASKS SLEEP_S RANKS_PER_TASK

Each task sleeps SLEEP_S seconds (so that a SIGKILL lands mid-sweep) and returns values that
follow from its index alone (``expected``). Side channels in LOG_DIR, appended one line at a
time by the group root: ``pids`` (every rank's process id, for the killer), ``computed`` (index
of every task that ran) and ``stored`` (index of every task whose row was written).
"""

import os
import sys
import time
from dataclasses import dataclass

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the checkout, when run as a script

from hpc_nc.io.store import FieldSpec, ResultsStore  # noqa: E402
from hpc_nc.parallel.farm import run_farm  # noqa: E402


@dataclass(frozen=True)
class SweepTask:
    index: int
    key: str
    n_atoms: int


FIELDS = [
    FieldSpec("values", (3,), "f8", "eV", "three numbers that follow from the task index"),
    FieldSpec("weights", ("n_atoms",), "f8", "1", "per-atom numbers that follow from the task index"),
]


def make_tasks(n):
    return [SweepTask(i, f"task-{i:03d}", 5 + (7 * i) % 11) for i in range(n)]


def expected(task):
    return {
        "values": np.array([task.index, task.index**2, -0.5 * task.index], dtype=float),
        "weights": np.linspace(0.0, 1.0, task.n_atoms) + task.index,
    }


def append_line(path, text):
    # O_APPEND writes of one short line are atomic, so ranks never interleave within a line.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (text + "\n").encode())
    finally:
        os.close(fd)


def main(argv):
    from mpi4py import MPI

    results, log_dir, n_tasks, sleep_s, ranks_per_task = argv[1], argv[2], int(argv[3]), float(argv[4]), int(argv[5])
    comm = MPI.COMM_WORLD
    append_line(os.path.join(log_dir, "pids"), str(os.getpid()))
    tasks = make_tasks(n_tasks)
    store = ResultsStore.create_or_open(comm, results, tasks, FIELDS, {"job_text": "resume test"})

    def run_task(group, task):
        time.sleep(sleep_s)
        if group.rank == 0:
            append_line(os.path.join(log_dir, "computed"), str(task.index))
        return expected(task)

    def on_done(task, result, error, seconds):
        store.record(task, result, error, seconds=seconds)
        append_line(os.path.join(log_dir, "stored"), str(task.index))

    try:
        summary = run_farm(comm, tasks, ranks_per_task, run_task, on_done, skip=store.done, progress="log")
    finally:
        store.close()
    return 0 if summary.n_failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
