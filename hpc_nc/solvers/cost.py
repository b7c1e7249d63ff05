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

# name: (CPU seconds at 10^4 atoms, exponent, peak MiB at 10^4 atoms, exponent) for 16 states,
# one rank. davidson: 5a (4,235 atoms) 11.7 s / 560 MiB (2026-12-07) and 10a (33,533 atoms)
# 228 s / 4.75 GB (issue 13); 7a (11,543 atoms) predicted 49 s / 1,541 MiB against 35.5-37.4 s
# and 1,475 MiB measured. chebyshev: 5a 114 s / 214 MiB (2026-12-07); exponents from the
# method: products with H grow like the inverse level spacing ~ R and each costs ~ N, so
# time ~ N^(4/3); memory is H plus a few blocks, ~ N.
FITS = {
    "davidson": (40.3, 1.44, 1333.0, 1.01),
    "chebyshev": (358.0, 4.0 / 3.0, 505.0, 1.00),
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
