"""Task-farm efficiency with a synthetic CPU-bound task of known cost.

    OMP_NUM_THREADS=1 mpirun -n 2 python benchmarks/bench_farm.py [--tasks 24] [--repeat 3]

Efficiency = (sum over tasks of the task's serial cost) / (wall time x ranks), where a task's
serial cost is its number of work units times the time of one unit measured on one rank
beforehand (calibration). A work unit is a fixed 160x160 float64 matrix product chain;
a task of n_atoms costs n_atoms // 12 units (cost grows with the dot size, as real tasks do).
In a group of several ranks the units are shared out and the checksum reduced, like a
distributed solve.

Configurations, all in this one process set:
- farm, 2 groups of 1 (dynamic, largest first) -- the farm as used in sweeps;
- farm, 1 group of 2 (each task split over both ranks);
- farm, 2 groups of 1, index order (same counter, no size ordering);
- baseline: static round robin, 2 groups of 1 (task i on rank i % 2, no counter);
- farm, 2 groups of 1, writing every row to a ResultsStore (HDF5, mpio when 2 ranks).
Prints medians over the repeats and each rank's peak memory. "busy fraction" is the share of
rank-seconds spent inside tasks (from FarmSummary; for the baseline, per-rank task time), a
measure of scheduling overhead and idle tail that does not depend on the calibration; the
unit time is re-measured before every run because the machine's speed drifts under load.
"""

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from hpc_nc.io.store import FieldSpec, ResultsStore  # noqa: E402
from hpc_nc.parallel.farm import run_farm  # noqa: E402

UNIT_N = 160
ATOMS_PER_UNIT = 12


@dataclass(frozen=True)
class BenchTask:
    index: int
    key: str
    n_atoms: int


def make_tasks(n, seed=3):
    # Dot sizes of a radius sweep: n_atoms ~ R^3 for R in 1..4 (in units of ~250 atoms).
    rng = np.random.default_rng(seed)
    radii = rng.uniform(1.0, 4.0, size=n)
    return [BenchTask(i, f"bench-{i}", int(250 * r**3)) for i, r in enumerate(radii)]


def units_of(task):
    return max(1, task.n_atoms // ATOMS_PER_UNIT)


_A = np.random.default_rng(0).standard_normal((UNIT_N, UNIT_N)) / np.sqrt(UNIT_N)


def work_unit(k):
    x = _A * (1.0 + 1e-3 * k)
    for _ in range(4):
        x = x @ _A
    return float(x[0, 0])


def synthetic(group, task):
    local = sum(work_unit(k) for k in range(group.rank, units_of(task), group.size))
    return {"checksum": np.array([group.allreduce(local)])}


def calibrate(comm, n=100):
    """Seconds per work unit on one rank (median of 5 x n units, every rank at once)."""
    samples = []
    for _ in range(5):
        t0 = time.perf_counter()
        for k in range(n):
            work_unit(k)
        samples.append((time.perf_counter() - t0) / n)
    return comm.allreduce(statistics.median(samples)) / comm.size


def static_round_robin(comm, tasks):
    """Baseline: no farm; rank r runs tasks r, r + size, ... in index order."""
    from mpi4py import MPI

    comm.Barrier()
    t0 = time.perf_counter()
    for task in tasks[comm.rank :: comm.size]:
        synthetic(MPI.COMM_SELF, task)
    busy = time.perf_counter() - t0
    comm.Barrier()
    wall = time.perf_counter() - t0
    return wall, comm.allreduce(busy) / (wall * comm.size)


def farm_wall(comm, tasks, ranks_per_task, store_dir=None):
    comm.Barrier()
    t0 = time.perf_counter()
    if store_dir is None:
        summary = run_farm(comm, tasks, ranks_per_task, synthetic, lambda *a: None, progress="none")
    else:
        path = os.path.join(store_dir, f"bench_{comm.bcast(time.time_ns())}.h5")
        store = ResultsStore.create_or_open(
            comm, path, tasks, [FieldSpec("checksum", (1,), "f8", "1", "")], {"job_text": "benchmark"}
        )
        summary = run_farm(comm, tasks, ranks_per_task, synthetic, store.record, progress="none")
        store.close()
    comm.Barrier()
    return time.perf_counter() - t0, summary.busy_fraction


def main():
    from mpi4py import MPI

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    tasks = make_tasks(args.tasks)
    n_units = sum(units_of(t) for t in tasks)
    index_order = [replace(t, n_atoms=1) for t in tasks]  # same work (units fixed below), no sorting
    units = {t.index: units_of(t) for t in tasks}
    store_dir = comm.bcast(tempfile.mkdtemp(prefix="bench_farm_") if comm.rank == 0 else None)

    def synthetic_fixed(group, task):
        local = sum(work_unit(k) for k in range(group.rank, units[task.index], group.size))
        return {"checksum": np.array([group.allreduce(local)])}

    groups = f"{comm.size} group{'s' if comm.size > 1 else ''} of 1"
    configs = {
        f"farm, {groups}, largest first": lambda: farm_wall(comm, tasks, 1),
        f"farm, 1 group of {comm.size}": lambda: farm_wall(comm, tasks, comm.size),
        f"farm, {groups}, index order": lambda: _farm_fixed(comm, index_order, synthetic_fixed),
        f"baseline: static round robin, {groups}": lambda: static_round_robin(comm, tasks),
        f"farm + HDF5 ResultsStore, {groups}": lambda: farm_wall(comm, tasks, 1, store_dir),
    }
    walls = {name: [] for name in configs}
    effs = {name: [] for name in configs}
    busys = {name: [] for name in configs}
    t_units = []
    for _ in range(args.repeat):  # interleaved, so that load changes hit every config alike
        for name, fn in configs.items():
            # calibrate right before each run: the machine is shared and its speed drifts
            t_units.append(calibrate(comm))
            wall, busy = fn()
            walls[name].append(wall)
            busys[name].append(busy)
            effs[name].append(n_units * t_units[-1] / (wall * comm.size))
    t_unit = statistics.median(t_units)
    useful = n_units * t_unit
    overhead = per_task_overhead(comm, store_dir)
    peak_mb = comm.gather(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
    if comm.rank == 0:
        print(
            f"# farm benchmark: {comm.size} ranks, {len(tasks)} tasks, {n_units} work units of "
            f"{t_unit * 1e3:.2f} ms (median; {min(t_units) * 1e3:.2f}..{max(t_units) * 1e3:.2f}) -> useful "
            f"{useful:.2f} s; load average {os.getloadavg()[0]:.2f}"
        )
        print(
            f"# ideal wall = useful / ranks = {useful / comm.size:.2f} s; largest task "
            f"{max(units.values()) * t_unit:.2f} s"
        )
        base = statistics.median(walls[f"baseline: static round robin, {groups}"])
        print(
            "| configuration | wall median (s) | min..max (s) | efficiency (median) | busy fraction (median) "
            "| speed-up vs baseline |"
        )
        print("|---|---|---|---|---|---|")
        for name, w in walls.items():
            med = statistics.median(w)
            print(
                f"| {name} | {med:.2f} | {min(w):.2f}..{max(w):.2f} | {statistics.median(effs[name]):.2f} | "
                f"{statistics.median(busys[name]):.3f} | {base / med:.2f} |"
            )
        for name, (n, seconds) in overhead.items():
            print(
                f"# per-task farm overhead, {name}: {seconds / n * 1e6:.0f} us per task "
                f"({n} empty tasks, {comm.size} ranks)"
            )
        print(f"# peak RSS per rank (MB): {', '.join(f'{m:.0f}' for m in peak_mb)}")
        for f in os.listdir(store_dir):
            os.remove(os.path.join(store_dir, f))
        os.rmdir(store_dir)


def per_task_overhead(comm, store_dir, n=2000):
    """Wall seconds of a farm of n empty tasks: counter, broadcast, agreement, progress counters
    (and one HDF5 row write per task with the store)."""
    tasks = [BenchTask(i, f"empty-{i}", 1) for i in range(n)]
    empty = {"checksum": np.zeros(1)}
    out = {}
    for name, with_store in (("no store", False), ("with ResultsStore", True)):
        path = os.path.join(store_dir, f"overhead_{int(with_store)}.h5")
        store = (
            ResultsStore.create_or_open(comm, path, tasks, [FieldSpec("checksum", (1,), "f8", "1", "")])
            if with_store
            else None
        )
        comm.Barrier()
        t0 = time.perf_counter()
        run_farm(comm, tasks, 1, lambda g, t: empty, store.record if store else (lambda *a: None), progress="none")
        comm.Barrier()
        out[name] = (n, time.perf_counter() - t0)
        if store:
            store.close()
    return out


def _farm_fixed(comm, tasks, run_task):
    comm.Barrier()
    t0 = time.perf_counter()
    summary = run_farm(comm, tasks, 1, run_task, lambda *a: None, progress="none")
    comm.Barrier()
    return time.perf_counter() - t0, summary.busy_fraction


if __name__ == "__main__":
    main()
