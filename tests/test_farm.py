"""Task farm: every task once, largest first, same results for any grouping, failures isolated.

The tasks here are generic (the farm must not know the physics): a frozen dataclass with
index, key and n_atoms. Each task's "computation" is split over the ranks of its group and
reduced, with integer-valued floats so that the sum is exact whatever the split; the closed
form is sum(k for k < n) = n (n - 1) / 2.
"""

import faulthandler
import io
from dataclasses import dataclass

import numpy as np
import pytest

from hpc_nc.parallel.collective import agree_on_error
from hpc_nc.parallel.farm import FarmError, run_farm, task_order

pytestmark = pytest.mark.mpi

HANG_GUARD_S = 120  # a hung collective kills the process (test failure) instead of blocking CI


@dataclass(frozen=True)
class Job:
    index: int
    key: str
    n_atoms: int


def make_tasks(n=9):
    # n_atoms not monotonic in index, with a tie, so the order rule is exercised.
    sizes = [30, 50, 10, 50, 20, 70, 40, 60, 15, 25, 35][:n]
    return [Job(i, f"job-{i}", s) for i, s in enumerate(sizes)]


def split_sum(group, task):
    """Sum of arange(n_atoms) * (index + 1), each rank of the group summing its own slice."""
    values = np.arange(task.n_atoms, dtype=np.float64) * (task.index + 1)
    mine = values[group.rank :: group.size].sum()
    total = group.allreduce(mine)
    return {"total": total, "key": task.key}


def closed_form(task):
    return task.n_atoms * (task.n_atoms - 1) / 2 * (task.index + 1)


def run_and_collect(comm, tasks, ranks_per_task, run_task, **kwargs):
    """Run the farm; return (summary, {index: (result, error)} merged from every group root, calls)."""
    stored, calls = {}, []

    def on_done(task, result, error):
        calls.append(task.index)
        stored[task.index] = (result, error)

    faulthandler.dump_traceback_later(HANG_GUARD_S, exit=True)
    try:
        summary = run_farm(comm, tasks, ranks_per_task, run_task, on_done, progress="none", **kwargs)
    finally:
        faulthandler.cancel_dump_traceback_later()
    merged, all_calls = {}, []
    for part, part_calls in comm.allgather((stored, calls)):
        merged.update(part)
        all_calls.extend(part_calls)
    return summary, merged, all_calls


def test_every_task_once_with_exact_results(comm):
    tasks = make_tasks()
    summary, stored, calls = run_and_collect(comm, tasks, 1, split_sum)
    assert sorted(calls) == [t.index for t in tasks]  # each task stored exactly once
    assert summary.n_done == len(tasks) and summary.n_failed == 0 and summary.n_skipped == 0
    for t in tasks:
        result, error = stored[t.index]
        assert error is None
        assert result["total"] == closed_form(t)
        assert result["key"] == t.key
    assert sorted(summary.task_seconds) == [t.index for t in tasks]
    assert 0.0 < summary.busy_fraction <= 1.0 + 1e-9


def test_grouping_does_not_change_results(comm):
    tasks = make_tasks()
    _, one_rank_groups, _ = run_and_collect(comm, tasks, 1, split_sum)
    summary, whole_comm_group, _ = run_and_collect(comm, tasks, comm.size, split_sum)
    assert summary.ranks_per_task == comm.size
    assert one_rank_groups == whole_comm_group


def test_largest_tasks_first(comm):
    tasks = make_tasks()
    expected = [t.index for t in sorted(tasks, key=lambda t: (-t.n_atoms, t.index))]
    assert [t.index for t in task_order(tasks)] == expected
    # With a single group the tasks run one after the other in exactly that order.
    _, _, calls = run_and_collect(comm, tasks, comm.size, split_sum)
    assert calls == expected


def test_skip_runs_only_the_rest(comm):
    tasks = make_tasks()
    skip = {0, 3, 5}
    summary, stored, calls = run_and_collect(comm, tasks, 1, split_sum, skip=skip)
    assert sorted(calls) == sorted(set(range(len(tasks))) - skip)
    assert summary.n_skipped == len(skip) and summary.n_done == len(tasks) - len(skip)


def test_failure_on_one_rank_is_isolated(comm):
    """A task raising on the last rank of its group only: recorded failed, the rest done."""
    tasks = make_tasks()
    bad = 4

    def flaky(group, task):
        # Raise after the group's collective calls: a rank that abandons a collective its
        # partners are blocked in would hang them (no MPI library can prevent that), which is
        # why stage drivers agree on errors before collective calls.
        result = split_sum(group, task)
        if task.index == bad and group.rank == group.size - 1:
            raise ValueError(f"bad input for\n task {task.index}")  # multi-line on purpose
        return result

    for ranks_per_task in sorted({1, comm.size}):
        summary, stored, calls = run_and_collect(comm, tasks, ranks_per_task, flaky)
        assert sorted(calls) == [t.index for t in tasks]
        assert summary.n_failed == 1 and summary.n_done == len(tasks) - 1
        message = f"ValueError: bad input for task {bad}"
        assert summary.failures == ((bad, message),)
        assert stored[bad] == (None, message)
        for t in tasks:
            if t.index != bad:
                assert stored[t.index][0]["total"] == closed_form(t)


def test_on_done_error_counts_as_failure(comm):
    tasks = make_tasks(4)
    seen = []

    def on_done(task, result, error):
        seen.append((task.index, error))
        if task.index == 2 and error is None:
            raise OSError("disk full")

    summary = run_farm(comm, tasks, 1, split_sum, on_done, progress="none")
    assert summary.n_failed == 1 and summary.n_done == 3
    index, message = summary.failures[0]
    assert index == 2 and "disk full" in message
    everyone = [x for part in comm.allgather(seen) for x in part]
    assert (2, message) in everyone  # the failure was handed to on_done as well


def test_non_dividing_group_size_is_a_clear_error(comm):
    with pytest.raises(FarmError, match=f"does not divide the {comm.size} MPI ranks"):
        run_farm(comm, make_tasks(2), comm.size + 1, split_sum, lambda *a: None, progress="none")


def test_seconds_and_progress_lines(comm):
    tasks = make_tasks(5)
    got, stream = [], io.StringIO()

    def on_done(task, result, error, seconds):
        got.append(seconds)

    summary = run_farm(comm, tasks, 1, split_sum, on_done, progress="log", stream=stream)
    assert all(s >= 0.0 for s in got)
    lines = [x for part in comm.allgather(stream.getvalue().splitlines()) for x in part]
    per_task = [x for x in lines if " done (" in x]
    assert len(per_task) == len(tasks)
    assert any(f"{len(tasks)} done, 0 failed, 0 remaining" in x for x in per_task)
    assert summary.n_done == len(tasks)


def test_agree_on_error(comm):
    mine = "broken" if comm.rank == comm.size - 1 else None
    assert agree_on_error(comm, mine) == "broken"
    assert agree_on_error(comm, None) is None


def test_heartbeat_lines_inside_a_long_task(comm, monkeypatch):
    """A task longer than HPC_NC_HEARTBEAT_S gets 'running for' lines with its status, from
    its group root only; HPC_NC_HEARTBEAT_S=0 turns them off."""
    import time

    from hpc_nc.parallel import heartbeat

    def slow(group, task):
        heartbeat.status(f"step of task {task.index}")
        time.sleep(0.35)
        return {"total": 0.0, "key": task.key}

    tasks = make_tasks(comm.size)  # one task per rank
    monkeypatch.setenv("HPC_NC_HEARTBEAT_S", "0.1")
    stream = io.StringIO()
    run_farm(comm, tasks, 1, slow, lambda *a: None, progress="log", stream=stream)
    beats = [x for x in stream.getvalue().splitlines() if x.startswith("[heartbeat")]
    mine = [t.index for t in tasks if any(f"] task {t.index} (" in x for x in beats)]
    assert len(mine) == 1 and all(f"step of task {mine[0]}" in x for x in beats)  # my task only
    assert 2 <= len(beats) <= 4  # every 0.1 s of a 0.35 s task
    assert heartbeat.current_status() == ""
    monkeypatch.setenv("HPC_NC_HEARTBEAT_S", "0")
    stream = io.StringIO()
    run_farm(comm, tasks, 1, slow, lambda *a: None, progress="log", stream=stream)
    assert "[heartbeat" not in stream.getvalue()


def test_idle_ranks_sleep_instead_of_spinning(comm):
    """While one rank runs the last (long) task, the ranks without work must not burn a core:
    their CPU time over the wait stays far below the wall time."""
    import resource
    import time

    if comm.size < 2:
        pytest.skip("needs an idle rank (mpirun -n 2)")
    tasks = [Job(0, "long", 100)]  # one task for the whole communicator

    def long_task(group, task):
        time.sleep(2.0)
        return {"total": 0.0, "key": task.key}

    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    summary = run_farm(comm, tasks, 1, long_task, lambda *a: None, progress="none")
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    assert summary.n_done == 1 and wall >= 2.0
    # the working rank sleeps too (time.sleep), so every rank's CPU time must be small;
    # (measured: 0.01 s); a blocking collective spins: 0.5 s even on a machine at load 15
    assert cpu < 0.1 * wall, f"rank {comm.rank} used {cpu:.2f} s CPU in {wall:.2f} s"
