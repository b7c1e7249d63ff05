"""Predicted time and peak memory of a gap-state solve per strategy, and the ``auto`` choice.

One model, one data file: the solve coefficients are the ``solve`` entries of
hpc_nc/data/cost_model.yaml (written by benchmarks/fit_cost.py from measured runs; its
``source`` and ``machine`` say where each number comes from), read here and by the job-level
cost model of hpc_nc/pipeline/cost.py (which adds the Coulomb integrals and the relaxation).
For a dot of N atoms on r ranks (docs/design.md, "Resources and cost model"):

    CPU seconds, summed over the ranks   (c0 + a (N/1e4)^p) r^beta
    peak bytes of each rank               m0 + b (N/1e4)^q / r^gamma

The fits were measured at 16 states (8 electrons + 8 holes); the state count is not part of
them. The ``auto`` strategy (:func:`choose_strategy`) is the fastest predicted among
AUTO_CANDIDATES whose peak per rank fits the memory per rank, else the one with the least
memory.
"""

from __future__ import annotations

import functools
import os
from typing import NamedTuple

import yaml

from hpc_nc.errors import HpcNcError

DATA_FILE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "cost_model.yaml")
N_REF = 1.0e4  # atoms: the fits' reference size
AUTO_CANDIDATES = ("davidson", "chebyshev")


class SolveCost(NamedTuple):
    """Predicted cost of one gap-state solve on ``ranks`` ranks."""

    cpu_s: float  # summed over the ranks
    peak_bytes_per_rank: float
    extrapolated: bool  # atoms outside the sizes the fit was measured on


@functools.lru_cache(maxsize=4)
def load_model(path: str = DATA_FILE) -> dict:
    """The fit coefficients (hpc_nc/data/cost_model.yaml) as a dict."""
    with open(path) as f:
        return yaml.safe_load(f)


def solve_cost(strategy: str, n_atoms: int, ranks: int = 1, model: dict | None = None) -> SolveCost:
    """Predicted cost of the gap-state solve of an n_atoms dot (module docstring for the
    formula). Raises HpcNcError for a strategy without a fit or a meaningless size."""
    m = load_model() if model is None else model
    if strategy not in m["solve"]:
        raise HpcNcError(f"no cost fit for strategy {strategy!r} (fitted: {', '.join(m['solve'])})")
    if n_atoms <= 0 or ranks < 1:
        raise HpcNcError(f"bad task size: {n_atoms} atoms on {ranks} ranks")
    f = m["solve"][strategy]
    x = n_atoms / N_REF
    cpu = (f["c0_s"] + f["a_s"] * x ** f["p"]) * ranks ** f["beta"]
    per_rank = m["m0_bytes"] + f["b_bytes"] * x ** f["q"] / ranks ** f["gamma"]
    lo, hi = f["fitted_atoms"]
    return SolveCost(float(cpu), float(per_rank), not (lo <= n_atoms <= hi))


def predict(strategy: str, n_atoms: int, n_states: int = 16, ranks: int = 1) -> tuple[float, float]:
    """(CPU seconds summed over ranks, peak bytes summed over ranks) of one solve.
    n_states: part of the interface only (the fits are for 16 states, module docstring)."""
    c = solve_cost(strategy, n_atoms, ranks)
    return c.cpu_s, c.peak_bytes_per_rank * ranks


def memory_per_rank(ranks: int) -> float:
    """Bytes of memory each of ``ranks`` ranks on this node may use: Slurm's
    --mem-per-cpu or --mem where the job sets them, else MemAvailable of /proc/meminfo
    shared evenly; HPC_NC_MEMORY_PER_RANK_GB where /proc cannot be read; else infinity."""
    for key, share in (("SLURM_MEM_PER_CPU", 1), ("SLURM_MEM_PER_NODE", max(ranks, 1))):
        value = os.environ.get(key)
        if value and value.isdigit():
            return int(value) * 1024.0**2 / share  # Slurm gives MiB
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024.0 / max(ranks, 1)
    except OSError:
        pass
    env = os.environ.get("HPC_NC_MEMORY_PER_RANK_GB")
    return float(env) * 1024.0**3 if env else float("inf")


def choose_strategy(n_atoms: int, n_states: int, ranks: int, memory_per_rank_bytes: float) -> str:
    """The ``auto`` strategy: the fastest predicted among AUTO_CANDIDATES whose predicted
    peak per rank fits in memory_per_rank_bytes; if none fits, the one with the least memory."""
    costs = {s: solve_cost(s, n_atoms, ranks) for s in AUTO_CANDIDATES}
    fits = [s for s in AUTO_CANDIDATES if costs[s].peak_bytes_per_rank <= memory_per_rank_bytes]
    if fits:
        return min(fits, key=lambda s: (costs[s].cpu_s, AUTO_CANDIDATES.index(s)))
    return min(AUTO_CANDIDATES, key=lambda s: costs[s].peak_bytes_per_rank)
