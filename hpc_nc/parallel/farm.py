"""Dynamic MPI task farm: groups of ranks take tasks from a shared one-sided counter.

``run_farm`` splits a communicator into groups of ``ranks_per_task`` ranks. The tasks still
to do are ordered largest first (decreasing ``n_atoms``, then index), because the cost of a
task grows steeply with its atom count and starting the big ones early keeps the tail of the
sweep short. The root of each group takes the next position in that order from a counter
that lives in rank 0's memory of an MPI-3 window (``MPI_Fetch_and_op``), so no rank has to
act as a coordinator and a slow task never holds up the others.

A task that raises on any rank of its group is recorded as failed with a one-line message
and the group goes on with the next task. The group agrees on the outcome collectively after
``run_task`` returns on every rank, so the only way to hang a group is a ``run_task`` that
leaves some of its ranks blocked in a collective call that another rank abandoned by
raising; stage drivers therefore catch their own errors before any collective call (see
``agree_on_error``).

Progress: every group root, after finishing a task, adds to three more counters in the window
(done, failed, atoms finished) and prints one line with the global counts and an ETA; on a
terminal (single-process runs) the line is redrawn in place as a progress bar. While a task
runs, the group root writes a heartbeat line every ``HPC_NC_HEARTBEAT_S`` seconds (default
20) with what the task is doing (:mod:`hpc_nc.parallel.heartbeat`). Ranks that wait (for
the group root's next task, or for the others' last tasks at the end) sleep between tests
of a nonblocking request instead of spinning in a blocking call.

Caveat: where the network has no hardware one-sided support, an MPI library may progress
passive-target operations only when rank 0 calls MPI, so a group root's fetch can wait for
rank 0's current task to reach an MPI call. Shared memory (one node) and RDMA networks
(InfiniBand via UCX) do not have this problem.

The farm knows nothing about physics: a task is any object with ``index``, ``key`` and
``n_atoms`` attributes.
"""

from __future__ import annotations

import gc
import inspect
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from hpc_nc.errors import HpcNcError
from hpc_nc.parallel.collective import agree_on_error
from hpc_nc.parallel.heartbeat import TaskHeartbeat

# Slots of the int64 counters in rank 0's window memory: next position in the task order,
# tasks done, tasks failed, atoms of the finished tasks (the ETA's measure of work).
_NEXT, _DONE, _FAILED, _ATOMS = 0, 1, 2, 3
_N_COUNTERS = 4


class FarmError(HpcNcError):
    """The farm cannot run as asked (e.g. ranks do not divide into groups)."""


@dataclass(frozen=True)
class FarmSummary:
    """What a farm run did; identical on every rank of the communicator.

    ``task_seconds`` maps task index to the wall time (s) its group spent in ``run_task``
    (measured on the group root), for done and failed tasks alike; the efficiency of the farm
    is ``sum(task_seconds) * ranks_per_task / (wall_seconds * n_ranks)``.
    """

    n_tasks: int
    n_done: int
    n_failed: int
    n_skipped: int
    wall_seconds: float
    n_ranks: int
    ranks_per_task: int
    task_seconds: dict = field(default_factory=dict)
    failures: tuple = ()  # ((index, message), ...) sorted by index

    @property
    def busy_fraction(self) -> float:
        """Fraction of rank-seconds spent inside ``run_task`` (1.0 = no farm overhead)."""
        busy = sum(self.task_seconds.values()) * self.ranks_per_task
        return busy / max(self.wall_seconds * self.n_ranks, 1e-300)


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line, at most 200 characters (what the results file keeps)."""
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text}"[:200]


def task_order(tasks: Sequence, skip: Iterable[int] = ()) -> list:
    """Tasks not in ``skip`` (indices), largest first: decreasing n_atoms, then index."""
    skip = set(int(i) for i in skip)
    todo = [t for t in tasks if int(t.index) not in skip]
    return sorted(todo, key=lambda t: (-int(t.n_atoms), int(t.index)))


def split_groups(comm, ranks_per_task: int):
    """Collective: the sub-communicator of this rank's group of ``ranks_per_task`` ranks.

    Groups are blocks of consecutive ranks, so a group stays on one node when the launcher
    places consecutive ranks together (the usual default).
    """
    ranks_per_task = int(ranks_per_task)
    if ranks_per_task < 1 or comm.size % ranks_per_task != 0:
        raise FarmError(
            f"ranks_per_task={ranks_per_task} does not divide the {comm.size} MPI ranks into "
            f"equal groups; launch a multiple of {max(ranks_per_task, 1)} ranks or change ranks_per_task"
        )
    return comm.Split(color=comm.rank // ranks_per_task, key=comm.rank)


def free_group(group_comm) -> None:
    """Collective on ``group_comm``: release PETSc objects still living on it, then free it.

    PETSc keeps garbage (destroyed-in-Python objects whose collective destroy is deferred)
    per communicator; freeing the communicator first would leave it dangling.
    """
    gc.collect()
    petsc = sys.modules.get("petsc4py.PETSc")
    if petsc is not None:
        petsc.garbage_cleanup(group_comm)
    group_comm.Free()


class _Progress:
    """One line per completed task (log mode) or a redrawn bar (terminal mode)."""

    def __init__(self, mode: str, n_todo: int, n_skipped: int, stream, n_ranks: int, atoms_todo: int):
        if mode not in ("auto", "bar", "log", "none"):
            raise FarmError(f"progress must be 'auto', 'bar', 'log' or 'none', not {mode!r}")
        if mode == "auto":
            # Under mpirun OpenMPI gives ranks a pseudo-terminal even when the job's output goes
            # to a file, so a terminal is trusted only in a single-process run.
            isatty = getattr(stream, "isatty", lambda: False)
            mode = "bar" if n_ranks == 1 and isatty() else "log"
        self.mode, self.n_todo, self.n_skipped, self.stream = mode, n_todo, n_skipped, stream
        self.atoms_todo = max(int(atoms_todo), 1)
        self.t0 = time.perf_counter()

    def line(self, done: int, failed: int, atoms_finished: int) -> str:
        # The ETA scales elapsed time by atoms still to do, not by tasks: with the largest
        # tasks first a count-based estimate would be far too pessimistic early on.
        finished = done + failed
        remaining = self.n_todo - finished
        elapsed = time.perf_counter() - self.t0
        eta = elapsed * (self.atoms_todo - atoms_finished) / atoms_finished if atoms_finished else float("nan")
        counts = f"{done} done, {failed} failed, {remaining} remaining"
        if self.n_skipped:
            counts += f" ({self.n_skipped} skipped: already done)"
        return f"{counts}, elapsed {_hms(elapsed)}, ETA {_hms(eta)}"

    def update(self, done: int, failed: int, atoms_finished: int, what: str = "") -> None:
        if self.mode == "none":
            return
        text = self.line(done, failed, atoms_finished)
        if self.mode == "bar":
            width = 30
            filled = int(round(width * (done + failed) / max(self.n_todo, 1)))
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {text}  ")
        else:
            stamp = time.strftime("%H:%M:%S")
            self.stream.write(f"[farm {stamp}] {what}{text}\n")
        self.stream.flush()

    def finish(self, summary: FarmSummary) -> None:
        if self.mode == "none":
            return
        end = "\n" if self.mode == "bar" else ""
        stamp = time.strftime("%H:%M:%S")
        self.stream.write(
            f"{end}[farm {stamp}] finished: {summary.n_done} done, {summary.n_failed} failed, "
            f"{summary.n_skipped} skipped in {_hms(summary.wall_seconds)} "
            f"(busy fraction {summary.busy_fraction:.2f})\n"
        )
        for index, message in summary.failures:
            self.stream.write(f"[farm] task {index} failed: {message}\n")
        self.stream.flush()


def _hms(seconds: float) -> str:
    if not np.isfinite(seconds):
        return "--:--:--"
    s = int(round(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


# Polling interval of an idle rank (s): short against a task, long against a core's time slice.
IDLE_POLL_S = 0.02


def _wait_sleeping(request) -> None:
    """Complete a nonblocking MPI request, sleeping between tests instead of busy-waiting
    (blocking MPI calls in OpenMPI spin the core while they wait)."""
    while not request.Test():
        time.sleep(IDLE_POLL_S)


def _bcast_sleeping(group, value):
    """``group.bcast(value, root=0)`` for a small int, waiting asleep on the non-root ranks
    (they wait here while the group root fetches the next position)."""
    buf = np.array([-1 if value is None else int(value)], dtype=np.int64)
    if group.size > 1:
        _wait_sleeping(group.Ibcast(buf, root=0))
    return int(buf[0])


def _wants_seconds(on_done: Callable) -> bool:
    try:
        return "seconds" in inspect.signature(on_done).parameters
    except (TypeError, ValueError):
        return False


def run_farm(
    comm,
    tasks: Sequence,
    ranks_per_task: int,
    run_task: Callable[[Any, Any], dict],
    on_done: Callable[..., None],
    *,
    skip: Iterable[int] = (),
    progress: str = "auto",
    stream=None,
) -> FarmSummary:
    """Collective over ``comm``: run every task not in ``skip`` once, on a group of ranks.

    - ``tasks``: objects with ``index`` (int, unique), ``key`` and ``n_atoms``; the same
      sequence on every rank.
    - ``run_task(group_comm, task) -> dict`` is called collectively on the group's ranks;
      the result of the group root is the one kept.
    - ``on_done(task, result, error)`` is called on the group root only, with
      ``(task, result, None)`` on success and ``(task, None, message)`` when any rank of the
      group raised (``message`` is ``Type: text`` on one line). If ``on_done`` has a
      parameter named ``seconds`` it also receives the task's wall time (s). An exception
      raised by ``on_done`` itself counts the task as failed; it is reported, not re-raised.
    - ``skip``: task indices not to run (already done in the results file).
    - ``progress``: "auto" (a bar on a terminal in a one-process run, log lines otherwise),
      "bar", "log" or "none";
      written to ``stream`` (default ``sys.stdout``) by the group roots.

    Returns the same :class:`FarmSummary` on every rank. Raises :class:`FarmError` (on every
    rank) if ``comm.size`` is not a multiple of ``ranks_per_task``.
    """
    from mpi4py import MPI

    t_start = time.perf_counter()
    stream = sys.stdout if stream is None else stream
    tasks = list(tasks)
    indices = [int(t.index) for t in tasks]
    if len(set(indices)) != len(indices):
        raise FarmError("task indices are not unique; every task needs its own row index")
    skip = set(int(i) for i in skip) & set(indices)
    order = task_order(tasks, skip)
    n_todo = len(order)

    reporter = _Progress(progress, n_todo, len(skip), stream, comm.size, sum(max(int(t.n_atoms), 1) for t in order))
    group = split_groups(comm, ranks_per_task)
    is_root = group.rank == 0
    pass_seconds = _wants_seconds(on_done)

    # The int64 counters live on rank 0; disp_unit 8 so that target displacements count
    # counters, not bytes.
    itemsize = MPI.INT64_T.Get_size()
    win = MPI.Win.Allocate(_N_COUNTERS * itemsize if comm.rank == 0 else 0, itemsize, comm=comm)
    if comm.rank == 0:
        win.Lock(0, MPI.LOCK_EXCLUSIVE)
        win.Put(np.zeros(_N_COUNTERS, dtype=np.int64), 0)
        win.Unlock(0)
    comm.Barrier()  # counters are zero before anyone fetches
    reporter.t0 = time.perf_counter()

    one = np.ones(1, dtype=np.int64)
    fetched = np.zeros(1, dtype=np.int64)
    my_seconds: dict[int, float] = {}
    my_failures: list[tuple[int, str]] = []
    n_my_done = 0
    # run_task and on_done errors are caught inside the loop, so every rank reaches Free.
    while True:
        if is_root:
            win.Lock(0, MPI.LOCK_SHARED)  # accumulate ops are atomic among themselves
            win.Fetch_and_op(one, fetched, 0, _NEXT, MPI.SUM)
            win.Unlock(0)
            position = int(fetched[0])
        else:
            position = None
        position = _bcast_sleeping(group, position)
        if position >= n_todo:
            break
        task = order[position]

        t0 = time.perf_counter()
        result, error = None, None
        try:
            with TaskHeartbeat(
                f"task {task.index} ({int(task.n_atoms)} atoms)", enabled=is_root and progress != "none", stream=stream
            ):
                result = run_task(group, task)
        except Exception as exc:  # noqa: BLE001 - any failure of one task is recorded
            error = one_line(exc)
        error = agree_on_error(group, error)
        seconds = time.perf_counter() - t0
        if not is_root:
            continue

        if error is None and not isinstance(result, dict):
            error = f"FarmError: run_task returned {type(result).__name__}, not dict"
        try:
            args = (task, None if error else result, error)
            on_done(*args, seconds=seconds) if pass_seconds else on_done(*args)
        except Exception as exc:  # noqa: BLE001 - e.g. a full disk: record, go on
            error = f"storing the result failed: {one_line(exc)}"[:200]
            try:
                args = (task, None, error)
                on_done(*args, seconds=seconds) if pass_seconds else on_done(*args)
            except Exception:  # noqa: BLE001 - nothing more can be done for this task
                pass
        my_seconds[int(task.index)] = seconds
        if error is None:
            n_my_done += 1
        else:
            my_failures.append((int(task.index), error))

        increment = np.zeros(_N_COUNTERS, dtype=np.int64)
        increment[_FAILED if error else _DONE] = 1
        increment[_ATOMS] = max(int(task.n_atoms), 1)
        before = np.zeros(_N_COUNTERS, dtype=np.int64)
        win.Lock(0, MPI.LOCK_SHARED)
        win.Get_accumulate(increment, before, 0, op=MPI.SUM)
        win.Unlock(0)
        after = before + increment
        what = f"task {task.index} {'FAILED' if error else 'done'} ({seconds:.1f} s); "
        reporter.update(int(after[_DONE]), int(after[_FAILED]), int(after[_ATOMS]), what)
    # A rank out of tasks waits here for the others' last tasks: sleeping, not spinning in
    # a blocking collective at 100 % CPU (which would also slow the ranks still working).
    _wait_sleeping(comm.Ibarrier())
    win.Free()

    # Everyone learns the outcome (the roots hold it) so the summary is the same everywhere.
    mine = (my_seconds, my_failures, n_my_done) if is_root else ({}, [], 0)
    gathered = comm.allgather(mine + (time.perf_counter() - t_start,))
    free_group(group)
    task_seconds: dict[int, float] = {}
    failures: list[tuple[int, str]] = []
    n_done = 0
    for secs, fails, done, _ in gathered:
        task_seconds.update(secs)
        failures.extend(fails)
        n_done += done
    summary = FarmSummary(
        n_tasks=len(tasks),
        n_done=n_done,
        n_failed=len(failures),
        n_skipped=len(skip),
        wall_seconds=max(g[3] for g in gathered),
        n_ranks=comm.size,
        ranks_per_task=int(ranks_per_task),
        task_seconds=dict(sorted(task_seconds.items())),
        failures=tuple(sorted(failures)),
    )
    if comm.rank == 0:
        reporter.finish(summary)
    return summary
