"""Zinc-blende nanocrystal geometry: a sphere cut centred on an anion (docs/physics.md §1).

Positions are held exactly as integers in units of a/4 (a = lattice constant): anions (S)
sit where all three integers are even with sum = 0 mod 4, cations where all three are odd
with sum = 3 mod 4 (anion + (1,1,1)). Inclusion tests therefore compare integers exactly.

Boundary convention: an atom belongs to a sphere of radius R if |r| <= R (atoms exactly on
the boundary are *included*), with a relative tolerance of 1e-9 on R^2 for radii that are
not multiples of a/4. The same rule labels core atoms (|r| <= core radius). With it a
7a-radius dot has 11,543 atoms (11,489 if boundary atoms were excluded).

Neighbour slots: every atom has four bond directions, slot k. An anion's bonds point along
(a/4)·s_k with s = (1,1,1), (1,-1,-1), (-1,1,-1), (-1,-1,1); a cation's along -(a/4)·s_k.
``neighbors[i, k]`` is the atom at the end of slot k, or -1 when that atom is outside the
dot (a dangling bond, passivated later). Atoms are stored in Morton (Z-curve) order of their
integer coordinates so that atoms close in space are close in index: distributed matrices
with rows in this order have few off-process couplings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hpc_nc.errors import HpcNcError

ZNS_LATTICE_CONSTANT = 5.409  # Angstrom, docs/physics.md §1

# Ideal anion->cation bond directions in units of a/4 (slot order is a convention used
# everywhere: neighbours, passivation hybrids, VFF angles).
ANION_BOND_STEPS = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=np.int64)

_SITE_OFFSET = 1 << 20  # site ids: integer coordinates shifted to be non-negative
_SITE_BASE = 1 << 21


@dataclass(frozen=True, eq=False)
class Nanocrystal:
    """An ideal (unrelaxed) zinc-blende core/shell dot. All arrays are read-only.

    Attributes
    ----------
    lattice_constant: Angstrom.
    core_radius, total_radius: Angstrom (shell thickness = total - core; 0 for core-only).
    grid: (N, 3) int64, positions in units of a/4.
    positions: (N, 3) float64, Angstrom, origin at the central anion.
    is_cation: (N,) bool.
    in_core: (N,) bool, |r| <= core radius (any species).
    site_id: (N,) int64, a label of the lattice site that does not depend on the dot's size
        or the atom order; alloy random numbers are keyed by it.
    neighbors: (N, 4) int64, atom index per bond slot, -1 where the neighbour is missing.
    bond_vectors: (N, 4, 3) float64, Angstrom, ideal vector from the atom along each slot
        (defined for missing neighbours too: it is the dangling-bond direction).
    """

    lattice_constant: float
    core_radius: float
    total_radius: float
    grid: np.ndarray
    positions: np.ndarray
    is_cation: np.ndarray
    in_core: np.ndarray
    site_id: np.ndarray
    neighbors: np.ndarray
    bond_vectors: np.ndarray

    @property
    def n_atoms(self) -> int:
        return int(self.grid.shape[0])

    @property
    def n_neighbors(self) -> np.ndarray:
        """(N,) number of real neighbours (4 in the bulk, fewer on the surface)."""
        return (self.neighbors >= 0).sum(axis=1)

    @property
    def is_surface(self) -> np.ndarray:
        """(N,) bool: atoms with at least one dangling bond."""
        return self.n_neighbors < 4

    @property
    def missing_bonds(self) -> np.ndarray:
        """(N, 4) bool: slot k of atom i is a dangling bond."""
        return self.neighbors < 0

    @property
    def radii(self) -> np.ndarray:
        """(N,) distance of each atom from the centre, Angstrom."""
        return np.linalg.norm(self.positions, axis=1)

    @property
    def shell_thickness(self) -> float:
        return self.total_radius - self.core_radius


def atom_block(n_atoms: int, size: int, rank: int) -> tuple[int, int]:
    """Atoms [start, stop) owned by ``rank`` of ``size``: a contiguous, even split (the first
    n_atoms % size ranks get one more). Contiguous blocks of the Morton-ordered dot keep
    the off-process couplings of the distributed H and VFF Hessian few."""
    base, extra = divmod(int(n_atoms), int(size))
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def count_atoms_in_sphere(radius_a: float, include_boundary: bool = True) -> int:
    """Independent brute-force count of zinc-blende atoms within radius_a lattice constants.

    Loops over conventional cubic cells and their 8-atom basis (different code path from
    :func:`build_nanocrystal`, used by the tests as a cross-check).
    """
    basis = np.array([[0, 0, 0], [0, 2, 2], [2, 0, 2], [2, 2, 0], [1, 1, 1], [1, 3, 3], [3, 1, 3], [3, 3, 1]])
    r4 = 4.0 * radius_a
    n = int(np.ceil(radius_a)) + 1
    cells = np.arange(-n, n + 1)
    cx, cy, cz = np.meshgrid(cells, cells, cells, indexing="ij")
    origins = 4 * np.stack([cx.ravel(), cy.ravel(), cz.ravel()], axis=1)
    pts = (origins[:, None, :] + basis[None, :, :]).reshape(-1, 3)
    d2 = (pts.astype(float) ** 2).sum(axis=1)
    lim = r4 * r4
    return int((d2 <= lim).sum() if include_boundary else (d2 < lim).sum())


def count_atoms_by_columns(radius_a: float) -> int:
    """Zinc-blende atoms within radius_a lattice constants (boundary included), in O(R^2).

    The same count as :func:`count_atoms_in_sphere` (tested equal), without enumerating the
    O(R^3) lattice points: the job validator counts atoms of every task this way, so that a
    huge radius costs milliseconds, not terabytes. In a/4 units the sites are the points with
    all coordinates even and x+y+z = 0 (mod 4), or all odd and x+y+z = 3 (mod 4); for each
    column (x, y) the allowed z form one residue class mod 4 in [-m, m], m = isqrt(L - x² - y²)
    with L = floor((4 radius_a)²) (squared distances are integers).
    """
    limit = math.floor((4.0 * radius_a) * (4.0 * radius_a))
    if limit < 0:
        return 0
    n = math.isqrt(limit)
    c = np.arange(-n, n + 1, dtype=np.int64)
    x, y = np.meshgrid(c, c, indexing="ij")
    x, y = x.ravel(), y.ravel()
    rest = limit - x * x - y * y
    keep = (rest >= 0) & ((x - y) % 2 == 0)  # both even or both odd
    x, y, rest = x[keep], y[keep], rest[keep]
    m = np.floor(np.sqrt(rest.astype(float))).astype(np.int64)
    m += ((m + 1) * (m + 1) <= rest).astype(np.int64)  # exact integer square root
    m -= (m * m > rest).astype(np.int64)
    residue = np.where(x % 2 == 0, (-x - y) % 4, (3 - x - y) % 4)
    # integers z in [-m, m] with z = residue (mod 4)
    count = (m - residue) // 4 - (-m - 1 - residue) // 4
    return int(count.sum())


def _within(d2: np.ndarray, radius_quarters: float) -> np.ndarray:
    return d2 <= radius_quarters * radius_quarters * (1.0 + 1e-9)


def _morton_key(grid: np.ndarray) -> np.ndarray:
    """Interleave the bits of the (shifted, non-negative) integer coordinates."""
    g = (grid - grid.min(axis=0)).astype(np.uint64)
    key = np.zeros(len(g), dtype=np.uint64)
    for bit in range(21):
        for axis in range(3):
            key |= ((g[:, axis] >> np.uint64(bit)) & np.uint64(1)) << np.uint64(3 * bit + axis)
    return key


def site_ids(grid: np.ndarray) -> np.ndarray:
    """Size- and order-independent integer label of lattice sites given in a/4 units."""
    g = grid.astype(np.int64) + _SITE_OFFSET
    return (g[:, 0] * _SITE_BASE + g[:, 1]) * _SITE_BASE + g[:, 2]


def build_nanocrystal(
    core_radius_a: float,
    shell_thickness_a: float = 0.0,
    lattice_constant: float = ZNS_LATTICE_CONSTANT,
) -> Nanocrystal:
    """Cut a zinc-blende sphere of radius core+shell (in lattice constants) around an anion.

    Pure function: the same arguments always give the same arrays.
    """
    if not (np.isfinite(core_radius_a) and core_radius_a > 0):
        raise HpcNcError(f"core radius must be a positive number of lattice constants, got {core_radius_a!r}")
    if not (np.isfinite(shell_thickness_a) and shell_thickness_a >= 0):
        raise HpcNcError(f"shell thickness must be >= 0 lattice constants, got {shell_thickness_a!r}")
    total_a = core_radius_a + shell_thickness_a
    rq_total = 4.0 * total_a  # radius in a/4 units
    rq_core = 4.0 * core_radius_a
    n = int(np.ceil(rq_total)) + 1
    ax = np.arange(-n, n + 1, dtype=np.int64)
    gx, gy, gz = np.meshgrid(ax, ax, ax, indexing="ij")
    grid = np.stack([gx.ravel(), gy.ravel(), gz.ravel()], axis=1)
    par = grid % 2
    s = grid.sum(axis=1) % 4
    anion = (par == 0).all(axis=1) & (s == 0)
    cation = (par == 1).all(axis=1) & (s == 3)
    d2 = (grid.astype(float) ** 2).sum(axis=1)
    keep = (anion | cation) & _within(d2, rq_total)
    grid = grid[keep]
    order = np.argsort(_morton_key(grid), kind="stable")
    grid = np.ascontiguousarray(grid[order])
    is_cation = (grid % 2 == 1).all(axis=1)
    d2 = (grid.astype(float) ** 2).sum(axis=1)
    in_core = _within(d2, rq_core)

    # Neighbour lookup through sorted site ids (exact integer matching).
    ids = site_ids(grid)
    sorter = np.argsort(ids)
    sorted_ids = ids[sorter]
    sign = np.where(is_cation, -1, 1)[:, None, None]
    steps = sign * ANION_BOND_STEPS[None, :, :]  # (N,4,3) in a/4 units
    target = site_ids((grid[:, None, :] + steps).reshape(-1, 3))
    pos = np.searchsorted(sorted_ids, target)
    pos = np.minimum(pos, len(sorted_ids) - 1)
    found = sorted_ids[pos] == target
    neighbors = np.where(found, sorter[pos], -1).reshape(-1, 4).astype(np.int64)

    quarter = lattice_constant / 4.0
    arrays = dict(
        grid=grid,
        positions=grid.astype(np.float64) * quarter,
        is_cation=is_cation,
        in_core=in_core,
        site_id=ids,
        neighbors=neighbors,
        bond_vectors=steps.astype(np.float64) * quarter,
    )
    for arr in arrays.values():
        arr.setflags(write=False)
    return Nanocrystal(
        lattice_constant=float(lattice_constant),
        core_radius=float(core_radius_a * lattice_constant),
        total_radius=float(total_a * lattice_constant),
        **arrays,
    )
