"""Counter-based random numbers keyed by (seed, site id).

The value for a site depends only on the seed and the site's size-independent id, never on
the rank count, the atom order or how many numbers were drawn before (SplitMix64 finaliser
mixing). Alloy realisations and the davidson start block both draw from it.
"""

from __future__ import annotations

import numpy as np

from hpc_nc.errors import HpcNcError

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix64(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def uniform_for_sites(seed: int, site_id: np.ndarray) -> np.ndarray:
    """Uniform numbers in [0, 1) that depend only on (seed, site id). Pure, vectorised."""
    if not (isinstance(seed, (int, np.integer)) and 0 <= int(seed) < 2**63):
        raise HpcNcError(f"seed must be an integer in [0, 2^63), got {seed!r}")
    with np.errstate(over="ignore"):
        golden = np.uint64(0x9E3779B97F4A7C15)
        key = _mix64(np.uint64(int(seed)) * golden + golden)
        z = _mix64(site_id.astype(np.uint64) ^ key)
        z = _mix64(z + golden)
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
