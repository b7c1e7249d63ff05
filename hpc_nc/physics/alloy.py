"""Random alloy realisations of the core cations (docs/physics.md §2).

For every core cation site one uniform number u in [0, 1) is drawn: In if u < x_In, Cu if
x_In <= u < x_In + x_Cu, else Zn. The shell is pure ZnS and anions are always S.

u depends only on (seed, site id): it is a counter-based generator (a SplitMix64-style
integer hash, Steele et al., OOPSLA 2014) evaluated on the pair, so the same dot is built on
any number of ranks, in any atom order, and a core site keeps its random number when the
shell grows. The same site's number is also shared by different compositions with the same
seed, which makes composition sweeps smooth (common random numbers).

Cation compositions are stored as weights over the compounds (``COMPOUNDS``): one-hot for
a random alloy (NSTR, STR), fractional for the virtual crystal (VCA). Anion rows are zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpc_nc.errors import HpcNcError
from hpc_nc.parallel.rng import uniform_for_sites
from hpc_nc.physics.geometry import Nanocrystal

COMPOUNDS = ("ZnS", "InS", "CuS")  # weight columns; index = compound code
ZNS, INS, CUS = 0, 1, 2


def check_composition(x_cu: float, x_in: float) -> None:
    for name, x in (("x_cu", x_cu), ("x_in", x_in)):
        if not (np.isfinite(x) and 0.0 <= x <= 1.0):
            raise HpcNcError(f"{name} must lie in [0, 1], got {x!r}")
    if x_cu + x_in > 1.0 + 1e-12:
        raise HpcNcError(f"x_cu + x_in = {x_cu + x_in:g} exceeds 1")


@dataclass(frozen=True, eq=False)
class AlloyRealisation:
    """Compound weights of every atom and the composition actually realised.

    compound_weights: (N, 3) float64 over COMPOUNDS; rows of cations sum to 1, anions 0.
    x_cu, x_in: nominal fractions of core cations; realised_x_cu, realised_x_in: drawn ones.
    seed, realization: the generator key (realisation r uses seed + r).
    """

    compound_weights: np.ndarray
    x_cu: float
    x_in: float
    realised_x_cu: float
    realised_x_in: float
    seed: int
    virtual_crystal: bool

    @property
    def cation_compound(self) -> np.ndarray:
        """(N,) compound code of each cation (argmax of the weights), -1 for anions."""
        w = self.compound_weights
        return np.where(w.sum(axis=1) > 0, w.argmax(axis=1), -1)


def realise_alloy(nc: Nanocrystal, x_cu: float, x_in: float, seed: int) -> AlloyRealisation:
    """Random Zn/In/Cu occupation of the core cations (NSTR and STR models)."""
    check_composition(x_cu, x_in)
    weights = np.zeros((nc.n_atoms, len(COMPOUNDS)))
    weights[nc.is_cation, ZNS] = 1.0
    core_cat = np.flatnonzero(nc.is_cation & nc.in_core)
    u = uniform_for_sites(seed, nc.site_id[core_cat])
    code = np.where(u < x_in, INS, np.where(u < x_in + x_cu, CUS, ZNS))
    weights[core_cat] = 0.0
    weights[core_cat, code] = 1.0
    n = max(len(core_cat), 1)
    weights.setflags(write=False)
    return AlloyRealisation(
        compound_weights=weights,
        x_cu=float(x_cu),
        x_in=float(x_in),
        realised_x_cu=float((code == CUS).sum() / n),
        realised_x_in=float((code == INS).sum() / n),
        seed=int(seed),
        virtual_crystal=False,
    )


def virtual_crystal(nc: Nanocrystal, x_cu: float, x_in: float) -> AlloyRealisation:
    """VCA: every core cation is a virtual cation with composition-weighted parameters."""
    check_composition(x_cu, x_in)
    weights = np.zeros((nc.n_atoms, len(COMPOUNDS)))
    weights[nc.is_cation, ZNS] = 1.0
    core_cat = nc.is_cation & nc.in_core
    weights[core_cat] = [1.0 - x_cu - x_in, x_in, x_cu]
    weights.setflags(write=False)
    return AlloyRealisation(weights, float(x_cu), float(x_in), float(x_cu), float(x_in), 0, True)
