"""Cost of the paper's study: per-task predictions, the task-farm node prediction and the
measured record.

Per-task cost, before a study has run: the project's cost model
(:mod:`hpc_nc.pipeline.cost`, coefficients in hpc_nc/data/cost_model.yaml fitted to the
benchmarks): CPU seconds of each electronic task on its rank group, plus one relaxation per
STR structure. After a study has run, :func:`fit_cost_model` fits a power law
``s = a (N/N7)^p`` (N7 = 11543, the 7 a dot) to the measured per-task wall times of the study
(``costs.csv``, one rank per task), and that measured model gives the 64-core prediction.

Node prediction (:func:`makespan`): the task farm hands the next task to the next free
rank group in task order; with per-task times t_i on P ranks that is greedy list
scheduling, simulated exactly here. Its wall time lies between max(sum t / P, max t) and
that bound plus max t. Every process also solves the pure-ZnS dot of each (R, H) it meets
once (the classifier's homogeneous reference): on many ranks nearly every task of a map
pays it, on one rank each geometry once; the simulation charges it per rank.

Measured record (``cost.json`` in the figure's directory): one entry per ``make paper``
session that ran tasks: wall seconds, CPU seconds of all processes of the run (user +
system, from ``getrusage(RUSAGE_CHILDREN)`` in a wrapper process per command: every rank is
a reaped descendant of mpirun, checked in the tests), peak resident memory of the largest
single process (``ru_maxrss``, i.e. the peak per rank), ranks, tasks done before and after. Sessions add up across resumed
runs.
"""

from __future__ import annotations

import heapq
import json
import os
import platform
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

N7 = 11543  # atoms of the 7 a dot, the reference size of the fitted power law
NODE_RANKS = 64
BENCHMARK_SOURCE = "hpc_nc/pipeline/cost.py (hpc_nc/data/cost_model.yaml, fitted to the benchmarks)"


@dataclass(frozen=True)
class PowerLawCost:
    """Measured per-task seconds ``solve_s (N/N7)^solve_exp`` (relaxation folded in)."""

    solve_s: float
    solve_exp: float
    source: str = "measured"

    def task_seconds(self, n_atoms, alloyed=False) -> np.ndarray:  # noqa: ARG002 - one law for all
        return self.solve_s * (np.asarray(n_atoms, dtype=float) / N7) ** self.solve_exp

    def relax_seconds(self, n_atoms) -> np.ndarray:
        return np.zeros_like(np.asarray(n_atoms, dtype=float))


DEFAULT_EXPONENT = 1.1  # davidson 2a-7a in benchmarks/RESULTS.md scales as N^1.1


def fit_cost_model(n_atoms: Sequence[float], seconds: Sequence[float], source: str = "measured") -> PowerLawCost:
    """Power law fitted to measured per-task seconds by least squares in log-log (exponent
    DEFAULT_EXPONENT if fewer than two distinct sizes were measured). Raises ValueError
    when no finite positive time is given."""
    n = np.asarray(n_atoms, dtype=float)
    t = np.asarray(seconds, dtype=float)
    ok = np.isfinite(t) & (t > 0) & (n > 0)
    if not ok.any():
        raise ValueError("no measured task time to fit")
    x, y = np.log(n[ok] / N7), np.log(t[ok])
    if np.unique(n[ok]).size >= 2:
        p, log_a = np.polyfit(x, y, 1)
    else:
        p = DEFAULT_EXPONENT
        log_a = float(np.mean(y - p * x))
    return PowerLawCost(solve_s=float(np.exp(log_a)), solve_exp=float(p), source=source)


def job_task_seconds(job, model: PowerLawCost | None = None) -> tuple[np.ndarray, float]:
    """Predicted CPU seconds per task of a JobSpec and of its relaxations (total).

    ``model`` None: the benchmark-fitted project model (``hpc_nc.pipeline.cost``) with the
    job's states, strategy and ranks per task; else the given (measured) power law.
    """
    n = np.array([t.n_atoms for t in job.tasks], dtype=float)
    structures = [t.n_atoms for t in {t.structure_key: t for t in job.tasks if t.model == "STR"}.values()]
    if model is not None:
        return model.task_seconds(n), float(np.sum(model.relax_seconds(np.array(structures, dtype=float))))
    from hpc_nc.pipeline.cost import predict_relax, predict_task

    n_states = job.n_electrons + job.n_holes
    strategy = job.solver.strategy
    cache: dict[int, float] = {}
    for k in set(int(v) for v in n):
        cache[k] = predict_task(k, n_states, strategy, job.ranks_per_task).cpu_s
    relax = float(sum(predict_relax(int(k), job.ranks_per_task).cpu_s for k in structures))
    return np.array([cache[int(v)] for v in n]), relax


def reference_keys(job) -> list:
    """Per task, the geometry whose pure-ZnS reference solve the classifier needs, or None.

    The electronic stage solves the homogeneous ZnS dot of a task's (R, H) once per process
    and geometry (hpc_nc.pipeline.electronic_stage.homogeneous_reference) unless the task is
    itself homogeneous (pure ZnS core or no shell)."""
    return [
        None if (t.x_cu == 0 and t.x_in == 0) or t.shell_thickness_a == 0 else (t.core_radius_a, t.shell_thickness_a)
        for t in job.tasks
    ]


def makespan(
    task_seconds: Sequence[float],
    n_ranks: int,
    keys: Sequence | None = None,
    key_seconds: Sequence[float] | None = None,
) -> float:
    """Wall seconds of the farm: tasks in order, each to the rank free first (module doc).

    ``keys``/``key_seconds``: a rank pays ``key_seconds[i]`` extra the first time it meets
    ``keys[i]`` (not None), e.g. the per-process reference solve of a geometry."""
    n = max(1, int(n_ranks))
    free = [(0.0, r) for r in range(n)]
    heapq.heapify(free)
    seen: list[set] = [set() for _ in range(n)]
    for i, t in enumerate(task_seconds):
        start, r = heapq.heappop(free)
        extra = 0.0
        if keys is not None and keys[i] is not None and keys[i] not in seen[r]:
            seen[r].add(keys[i])
            extra = float(key_seconds[i])
        heapq.heappush(free, (start + float(t) + extra, r))
    return max(t for t, _ in free)


def reference_seconds(job, model: PowerLawCost | None = None) -> np.ndarray:
    """Per task, the predicted seconds of its geometry's pure-ZnS reference solve (0 if none)."""
    keys = reference_keys(job)
    n = np.array([t.n_atoms for t in job.tasks], dtype=float)
    if model is not None:
        return np.where([k is not None for k in keys], model.task_seconds(n), 0.0)
    from hpc_nc.pipeline.cost import predict_task

    n_states = job.n_electrons + job.n_holes
    return np.array(
        [
            0.0 if k is None else predict_task(int(v), n_states, job.solver.strategy, job.ranks_per_task).cpu_s
            for k, v in zip(keys, n)
        ]
    )


def predict_job(job, model: PowerLawCost | None = None, n_ranks: int = NODE_RANKS) -> dict:
    """Predicted cost of a job: task count, CPU seconds, wall on ``n_ranks`` ranks (one
    rank per task, relaxations spread evenly), memory per rank."""
    from hpc_nc.io.jobs import estimate_task_memory_bytes

    tasks, relax = job_task_seconds(job, model)
    keys, ref = reference_keys(job), reference_seconds(job, model)
    once = {k: r for k, r in zip(keys, ref) if k is not None}  # at least one reference per geometry
    n_states = job.n_electrons + job.n_holes
    mem = max(estimate_task_memory_bytes(t.n_atoms, n_states, job.solver.strategy) for t in job.tasks)
    return {
        "job": job.name,
        "n_tasks": len(job.tasks),
        "cpu_seconds": float(tasks.sum() + relax + sum(once.values())),
        "relax_seconds": relax,
        "reference_seconds_min": float(sum(once.values())),
        "max_task_seconds": float(tasks.max()),
        "node_wall_seconds": makespan(tasks, n_ranks, keys, ref) + relax / n_ranks,
        "n_ranks": n_ranks,
        "memory_per_rank_bytes": int(mem),
        "model": model.source if model else BENCHMARK_SOURCE,
    }


# -- measured record ------------------------------------------------------------------------
# A fresh process per measured command: RUSAGE_CHILDREN's ru_maxrss is a lifetime maximum of
# the process that reaps the children, so measuring in the driver itself would report an
# earlier, larger figure's peak for every later figure of the same `make paper`.
_WRAPPER = (
    "import json, resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[2:]).returncode\n"
    "r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "json.dump({'cpu': r.ru_utime + r.ru_stime, 'maxrss_kib': r.ru_maxrss}, open(sys.argv[1], 'w'))\n"
    "sys.exit(rc)\n"
)


def run_measured(cmd: Sequence[str], env: dict | None = None) -> dict:
    """Run ``cmd`` to completion in a measuring wrapper process; its wall seconds, CPU seconds
    (user + system of every descendant, mpirun's ranks included) and the peak RSS of its
    largest single descendant (MiB), which for ``hpc-nc run`` is the peak of one rank."""
    import sys
    import tempfile

    fd, out = tempfile.mkstemp(prefix="hpc_nc_cost_", suffix=".json")
    os.close(fd)
    t0 = time.time()
    try:
        rc = subprocess.run([sys.executable, "-c", _WRAPPER, out, *cmd], env=env).returncode
        wall = time.time() - t0
        try:
            with open(out, encoding="utf-8") as fh:
                usage = json.load(fh)
        except (OSError, ValueError):  # the wrapper was killed: nothing measured
            usage = {"cpu": float("nan"), "maxrss_kib": float("nan")}
    finally:
        os.unlink(out)
    return {
        "returncode": rc,
        "wall_seconds": wall,
        "cpu_seconds": float(usage["cpu"]),
        "peak_rss_mib": float(usage["maxrss_kib"]) / 1024.0,
        "started_unix": t0,
    }


def record_session(fig_dir: str, session: dict) -> dict:
    """Append one session to ``fig_dir``/cost.json; returns the whole record."""
    path = os.path.join(fig_dir, "cost.json")
    record = read_record(fig_dir)
    session = dict(session, host=platform.node(), cpu_count=os.cpu_count())
    record["sessions"].append(session)
    os.makedirs(fig_dir, exist_ok=True)
    with open(path + ".partial", "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=1)
    os.replace(path + ".partial", path)
    return record


def read_record(fig_dir: str) -> dict:
    path = os.path.join(fig_dir, "cost.json")
    if not os.path.exists(path):
        return {"sessions": []}
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def summarize_record(record: dict) -> dict:
    """Totals over sessions: wall, CPU seconds, peak RSS (max), ranks used.

    A session stopped by a signal has no measured CPU time (NaN in cost.json): ``cpu_seconds``
    then sums the measured sessions only, a lower bound, and ``cpu_unmeasured`` counts the others.
    """
    s = record.get("sessions", [])
    cpu = [float(x["cpu_seconds"]) for x in s]
    return {
        "sessions": len(s),
        "wall_seconds": float(sum(x["wall_seconds"] for x in s)),
        "cpu_seconds": float(sum(c for c in cpu if np.isfinite(c))),
        "cpu_unmeasured": sum(1 for c in cpu if not np.isfinite(c)),
        "peak_rss_mib": float(
            max((x["peak_rss_mib"] for x in s if np.isfinite(x["peak_rss_mib"])), default=float("nan"))
        ),
        "ranks": sorted({int(x.get("np", 0)) for x in s}),
    }
