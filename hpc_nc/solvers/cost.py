"""Predicted time and peak memory of a gap-state solve per strategy, and the ``auto`` choice.

Power-law fits t = a·(atoms/10⁴)^p to the measurements of benchmarks/RESULTS.md
("Strategies side by side": pure ZnS dots, 8 electrons + 8 holes, tol 1e-9, one rank,
CPU seconds and peak resident memory of the process, H included). The fits are for
16 states; other counts scale the block work linearly (a rough rule, stated, not fitted).
The pipeline's cost model (issue 13, item 7) may replace these with its own fits; the
functions keep their signatures.
"""

from __future__ import annotations

import os

# name: (seconds at 10^4 atoms, exponent, MiB at 10^4 atoms, exponent) for 16 states, one rank.
FITS = {
    "davidson": (22.0, 1.72, 1290.0, 1.09),
    "chebyshev": (60.0, 1.50, 700.0, 1.00),
}
AUTO_CANDIDATES = ("davidson", "chebyshev")
MIB = 1024.0**2


def predict(strategy: str, n_atoms: int, n_states: int = 16, ranks: int = 1) -> tuple[float, float]:
    """(CPU seconds summed over ranks, peak bytes summed over ranks) of one solve."""
    if strategy not in FITS:
        raise KeyError(f"no cost fit for strategy {strategy!r}")
    t0, pt, m0, pm = FITS[strategy]
    x = max(n_atoms, 1) / 1e4
    states = max(n_states, 2) / 16.0
    seconds = t0 * x**pt * (0.5 + 0.5 * states)
    # every rank holds a Python/PETSc floor of ~150 MiB besides its share
    peak = (m0 * x**pm * (0.8 + 0.2 * states) + 150.0 * (ranks - 1)) * MIB
    return float(seconds), float(peak)


def memory_per_rank(ranks: int) -> float:
    """Bytes of memory available to each of ``ranks`` ranks on this machine (MemAvailable
    of /proc/meminfo, shared evenly); infinity where it cannot be read."""
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
    preds = {s: predict(s, n_atoms, n_states, ranks) for s in AUTO_CANDIDATES}
    fits = [s for s in AUTO_CANDIDATES if preds[s][1] / max(ranks, 1) <= memory_per_rank_bytes]
    if fits:
        return min(fits, key=lambda s: (preds[s][0], AUTO_CANDIDATES.index(s)))
    return min(AUTO_CANDIDATES, key=lambda s: preds[s][1])
