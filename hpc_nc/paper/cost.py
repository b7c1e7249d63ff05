"""Cost of the paper's study: a per-dot cost model, node predictions and the measured record.

Model (:class:`CostModel`): CPU seconds of one task on one rank as a function of the atom
count N, ``s(N) = overhead + assembly (N/N7) + solve (N/N7)^p [x alloy factor] +
analysis (N/N7)^2``, plus ``relax (N/N7)^q`` once per STR structure, N7 = 11543 (the 7 a
dot). The default constants come from benchmarks/RESULTS.md (idle 2-core VM, one rank):
block-Davidson gap states of pure ZnS dots 2a-7a fitted to 31.9 s (N/N7)^1.11, the 7 a
alloy 1.23x the pure dot, Hamiltonian assembly 0.37 s at 7 a, Coulomb sum 0.74 s at 7 a
(O(N^2)), TAO bncg relaxation 2a-15a fitted to 0.89 s (N/N7)^1.35. Once a study has run,
:func:`fit_cost_model` refits the prefactor and exponent to the measured per-task times
(``costs.csv``), and that measured model gives the 64-core prediction.

Node prediction (:func:`makespan`): the task farm hands the next task to the next free
rank group in task order; with per-task times t_i on P ranks that is greedy list
scheduling, simulated exactly here. Its wall time lies between max(sum t / P, max t) and
that bound plus max t.

Measured record (``cost.json`` in the figure's directory): one entry per ``make paper``
session that ran tasks: wall seconds, CPU seconds of all processes of the run (user +
system, from ``getrusage(RUSAGE_CHILDREN)``: every rank is a reaped descendant), peak
resident memory of the largest single process (``ru_maxrss``, i.e. the peak per rank),
ranks, tasks done before and after. Sessions add up across resumed runs.
"""

from __future__ import annotations

import heapq
import json
import os
import platform
import resource
import subprocess
import time
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

N7 = 11543  # atoms of the 7 a dot, the benchmarks' reference size
NODE_RANKS = 64


@dataclass(frozen=True)
class CostModel:
    """CPU seconds of a task on one rank (module docstring); all times in seconds."""

    solve_s: float = 31.9
    solve_exp: float = 1.11
    alloy_factor: float = 1.23
    assembly_s: float = 0.37
    analysis_s: float = 0.74
    relax_s: float = 0.89
    relax_exp: float = 1.35
    overhead_s: float = 0.5
    source: str = "benchmarks/RESULTS.md (davidson 2a-7a, TAO bncg 3a-15a, Coulomb 7a; idle 2-core VM)"

    def task_seconds(self, n_atoms, alloyed=False) -> np.ndarray:
        x = np.asarray(n_atoms, dtype=float) / N7
        solve = self.solve_s * x ** self.solve_exp * np.where(alloyed, self.alloy_factor, 1.0)
        return self.overhead_s + self.assembly_s * x + solve + self.analysis_s * x ** 2

    def relax_seconds(self, n_atoms) -> np.ndarray:
        return self.relax_s * (np.asarray(n_atoms, dtype=float) / N7) ** self.relax_exp


def fit_cost_model(n_atoms: Sequence[float], seconds: Sequence[float], source: str = "measured") -> CostModel:
    """A model fitted to measured per-task seconds: ``s = a (N/N7)^p`` by least squares in
    log-log (p kept at the default if fewer than two distinct sizes were measured); the
    relaxation, measured separately per run, is folded into ``a``. Raises ValueError when
    no finite positive time is given."""
    n = np.asarray(n_atoms, dtype=float)
    t = np.asarray(seconds, dtype=float)
    ok = np.isfinite(t) & (t > 0) & (n > 0)
    if not ok.any():
        raise ValueError("no measured task time to fit")
    x, y = np.log(n[ok] / N7), np.log(t[ok])
    if np.unique(n[ok]).size >= 2:
        p, log_a = np.polyfit(x, y, 1)
    else:
        p = CostModel.solve_exp
        log_a = float(np.mean(y - p * x))
    return CostModel(solve_s=float(np.exp(log_a)), solve_exp=float(p), alloy_factor=1.0, assembly_s=0.0,
                     analysis_s=0.0, relax_s=0.0, overhead_s=0.0, source=source)


def job_task_seconds(job, model: CostModel = CostModel()) -> tuple[np.ndarray, float]:
    """Predicted CPU seconds per task of a JobSpec, and of its relaxations (total)."""
    n = np.array([t.n_atoms for t in job.tasks], dtype=float)
    alloyed = np.array([t.model != "VCA" and not (t.x_cu in (0.0, 1.0) and t.x_in in (0.0, 1.0))
                        for t in job.tasks])
    structures = {t.structure_key: t.n_atoms for t in job.tasks if t.model == "STR"}
    relax = float(np.sum(model.relax_seconds(np.array(list(structures.values()), dtype=float)))) \
        if structures else 0.0
    return model.task_seconds(n, alloyed), relax


def makespan(task_seconds: Sequence[float], n_ranks: int) -> float:
    """Wall seconds of the farm: tasks in order, each to the rank free first (module doc)."""
    free = [0.0] * max(1, int(n_ranks))
    heapq.heapify(free)
    for t in task_seconds:
        start = heapq.heappop(free)
        heapq.heappush(free, start + float(t))
    return max(free)


def predict_job(job, model: CostModel = CostModel(), n_ranks: int = NODE_RANKS) -> dict:
    """Predicted cost of a job: task count, CPU hours, wall on ``n_ranks`` ranks, memory."""
    from hpc_nc.io.jobs import estimate_task_memory_bytes

    tasks, relax = job_task_seconds(job, model)
    n_states = job.n_electrons + job.n_holes
    mem = max(estimate_task_memory_bytes(t.n_atoms, n_states, job.solver["strategy"]) for t in job.tasks)
    return {"job": job.name, "n_tasks": len(job.tasks), "cpu_seconds": float(tasks.sum() + relax),
            "relax_seconds": relax, "max_task_seconds": float(tasks.max()),
            "node_wall_seconds": makespan(tasks, n_ranks) + relax / n_ranks, "n_ranks": n_ranks,
            "memory_per_rank_bytes": int(mem), "model": model.source}


# -- measured record ------------------------------------------------------------------------
def run_measured(cmd: Sequence[str], env: dict | None = None) -> dict:
    """Run ``cmd`` to completion; its wall, CPU (children, user + system) and peak RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    rc = subprocess.run(list(cmd), env=env).returncode
    wall = time.time() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # ru_maxrss (KiB on Linux) of children is the largest single descendant's peak, over the
    # whole life of this process: a later, smaller run reports the earlier peak. The driver
    # runs one figure per call in practice; the record says so.
    return {"returncode": rc, "wall_seconds": wall, "cpu_seconds": cpu, "peak_rss_mib": after.ru_maxrss / 1024.0,
            "started_unix": t0}


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
    """Totals over sessions: wall, CPU seconds, peak RSS (max), ranks used."""
    s = record.get("sessions", [])
    return {"sessions": len(s), "wall_seconds": float(sum(x["wall_seconds"] for x in s)),
            "cpu_seconds": float(sum(x["cpu_seconds"] for x in s)),
            "peak_rss_mib": float(max((x["peak_rss_mib"] for x in s), default=float("nan"))),
            "ranks": sorted({int(x.get("np", 0)) for x in s})}


def model_dict(model: CostModel) -> dict:
    return asdict(model)
