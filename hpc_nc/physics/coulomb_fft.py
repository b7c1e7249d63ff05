"""Coulomb potentials of atomistic densities by FFT convolution on the zinc-blende lattice.

The direct sum (hpc_nc/physics/coulomb.py) costs O(N^2 M) for N atoms and M densities.
When every atom sits on an ideal zinc-blende site, V_ij depends only on the lattice offset
R_i - R_j, so Phi = V rho is a discrete convolution and costs O(G log G) per density by
FFT, with G the number of grid points of the padded box (docs/physics.md §5; the approach
of M. Rozanski and M. Zielinski, Comput. Phys. Commun. 287, 108693 (2023): atoms on a
regular grid, densities embedded on it, zero padding, the pair potential tabulated on the
grid offsets; this code is our own).

Grid. Zinc blende is two interpenetrating fcc lattices, each a subset of the simple-cubic
lattice of spacing a/2 (the points whose integer coordinates sum to an even number), the
second shifted by t = (a/4)(1, 1, 1). We therefore use a simple-cubic grid of spacing a/2
with a two-site basis {0, t}: sublattice s in {0, 1}, grid index g, R = R_0 + (a/2) g + s t.
(The equivalent single grid of spacing a/4 has 8x the points for the same box; half the a/2
grid points are empty, the price of an orthogonal FFT grid.) With L_k points along axis k,
linear (not circular) convolution needs a padded length P_k >= 2 L_k - 1; the four kernels

    K_ss'(d) = v(|(a/2) d + (s - s') t|)     for d in [-(L-1), L-1]^3,  K_ss(0) = V_ii

are transformed once and the potential of one density is

    Phi_s = IFFT( sum_s' FFT(K_ss') FFT(rho_s') ),   s, s' in {0, 1},

read back at the atoms' grid points. K_00 = K_11 (the offsets coincide), so three kernel
transforms are kept. Per density: 2 forward and 2 inverse real FFTs of P_1 P_2 P_3 points.

Exactness. For atoms exactly on the lattice this is the same bilinear form as the direct sum
for any pair potential v(r) (screening model) and on-site value; the only difference is
floating-point rounding of the FFT, O(1e-15 log G) relative to the largest |Phi|. Relaxed
(STR) positions are off the lattice: the convolution then does not apply, and
``lattice_grid`` raises instead of silently using the ideal sites.

Parallel algorithm (collective): the density columns are dealt out to the ranks in
contiguous blocks (each rank holds the whole grid: 16 bytes x P^3 per column in flight, a few
hundred MiB at 15a), each column is transformed by exactly the same operations on any rank
count, and an Allreduce of the (N, M) result (zeros outside a rank's columns) gives every
rank the same array, bit-identical for 1 and p ranks.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from hpc_nc.errors import HpcNcError
from hpc_nc.parallel.collective import agree_on_error

GRID_TOLERANCE = 1e-6  # Angstrom: farther from an ideal site means "not on the lattice"
DEFAULT_CHUNK_BYTES = 1 << 28  # at most ~256 MiB of FFT work arrays per batch of columns


class LatticeGrid:
    """Atoms of a zinc-blende dot on the two-site simple-cubic grid of spacing a/2.

    sublattice: (N,) 0 or 1; index: (N, 3) grid indices >= 0; shape: (L1, L2, L3);
    padded: (P1, P2, P3) FFT lengths; spacing: a/2 (Angstrom); shift: t = (a/4)(1,1,1).
    """

    def __init__(self, sublattice, index, shape, padded, spacing, shift):
        self.sublattice = sublattice
        self.index = index
        self.shape = shape
        self.padded = padded
        self.spacing = spacing
        self.shift = shift

    @property
    def n_points(self) -> int:
        return int(np.prod(self.padded))


def lattice_grid(positions: np.ndarray, lattice_constant: float) -> LatticeGrid:
    """Map atoms to the grid (module docstring); HpcNcError if any is off the lattice."""
    from scipy.fft import next_fast_len

    p = np.asarray(positions, dtype=float)
    if p.ndim != 2 or p.shape[1] != 3 or len(p) == 0:
        raise HpcNcError(f"positions must be (N, 3) with N > 0, got shape {p.shape}")
    if not (np.isfinite(lattice_constant) and lattice_constant > 0):
        raise HpcNcError(f"lattice constant must be positive, got {lattice_constant!r}")
    quarter = lattice_constant / 4.0
    q = (p - p[0]) / quarter  # a/4 units, relative to the first atom
    qi = np.rint(q)
    off = float(np.max(np.abs(q - qi))) * quarter
    if off > GRID_TOLERANCE:
        raise HpcNcError(
            f"atoms are not on the ideal zinc-blende lattice (a = {lattice_constant} Angstrom; "
            f"largest offset {off:.3g} Angstrom): the FFT Coulomb path needs unrelaxed positions"
        )
    qi = qi.astype(np.int64)
    parity = qi % 2
    if np.any(parity != parity[:, :1]):
        # neither on the a/2 grid through the first atom nor on its copy shifted by t
        raise HpcNcError("atoms are not on a zinc-blende lattice (mixed parity of a/4 coordinates)")
    sub = parity[:, 0]
    g = (qi - sub[:, None]) // 2
    g -= g.min(axis=0)
    if len(np.unique(g * 2 + sub[:, None], axis=0)) != len(g):
        raise HpcNcError("two atoms on the same lattice site")
    shape = tuple(int(x) + 1 for x in g.max(axis=0))
    padded = tuple(int(next_fast_len(2 * n - 1, real=True)) for n in shape)
    return LatticeGrid(sub.astype(np.int8), g, shape, padded, lattice_constant / 2.0, np.full(3, quarter))


def _kernel_transforms(grid: LatticeGrid, pair_potential: Callable, onsite_ev: float) -> dict:
    """FFTs of K_00 (= K_11), K_01, K_10 on the padded grid (module docstring)."""
    from scipy.fft import rfftn

    axes = [np.fft.fftfreq(p, 1.0 / p).astype(np.int64) for p in grid.padded]  # signed offsets 0..,-..
    out = {}
    for key, sign in (("00", 0.0), ("01", -1.0), ("10", 1.0)):
        # K_ss'(d) = v(|(a/2) d + (s - s') t|): "01" is s=0, s'=1 -> -t
        dx, dy, dz = (grid.spacing * axes[k] + sign * grid.shift[k] for k in range(3))
        r = np.sqrt(dx[:, None, None] ** 2 + dy[None, :, None] ** 2 + dz[None, None, :] ** 2)
        valid = [np.abs(axes[k]) <= grid.shape[k] - 1 for k in range(3)]
        mask = valid[0][:, None, None] & valid[1][None, :, None] & valid[2][None, None, :]
        k = np.zeros(grid.padded)
        if key == "00":
            r[0, 0, 0] = 1.0  # placeholder; the on-site value replaces it
        vals = np.asarray(pair_potential(r[mask]), dtype=float)
        if vals.shape != (int(mask.sum()),) or not np.all(np.isfinite(vals)):
            raise HpcNcError("pair potential must return finite values of the shape of its argument")
        k[mask] = vals
        if key == "00":
            k[0, 0, 0] = onsite_ev
        out[key] = rfftn(k)
    return out


def convolve_columns(
    grid: LatticeGrid, kernels: dict, columns: np.ndarray, chunk_bytes: int = DEFAULT_CHUNK_BYTES, workers: int = 1
) -> np.ndarray:
    """Serial kernel: Phi[:, m] = V columns[:, m] for real (N, M) columns by FFT convolution."""
    from scipy.fft import irfftn, rfftn

    n, m = columns.shape
    out = np.empty((n, m))
    per_col = 2 * 8 * grid.n_points * 2  # two real grids + their half-spectra (complex)
    chunk = max(1, min(m, int(chunk_bytes) // per_col))
    s = grid.sublattice
    gi = [grid.index[s == k] for k in (0, 1)]
    rows = [np.flatnonzero(s == k) for k in (0, 1)]
    ax = (1, 2, 3)
    for c0 in range(0, m, chunk):
        c1 = min(m, c0 + chunk)
        spec = []
        for k in (0, 1):
            rho = np.zeros((c1 - c0, *grid.padded))
            rho[:, gi[k][:, 0], gi[k][:, 1], gi[k][:, 2]] = columns[rows[k], c0:c1].T
            spec.append(rfftn(rho, axes=ax, workers=workers))
            del rho
        for k, (same, cross) in enumerate((("00", "01"), ("00", "10"))):
            phi = irfftn(
                spec[k] * kernels[same] + spec[1 - k] * kernels[cross], s=grid.padded, axes=ax, workers=workers
            )
            out[rows[k], c0:c1] = phi[:, gi[k][:, 0], gi[k][:, 1], gi[k][:, 2]].T
            del phi
    return out


def coulomb_potential_fft(
    comm,
    positions: np.ndarray,
    densities: np.ndarray,
    pair_potential: Callable[[np.ndarray], np.ndarray],
    onsite_ev: float,
    lattice_constant: float,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> np.ndarray:
    """Collective: Phi = V @ densities (eV x density units), the same array on every rank.

    pair_potential: v(r) in eV for distances r in Angstrom (numpy array in, same shape out),
    the screened interaction of two distinct atoms; onsite_ev: V_ii. densities (N,) or (N, M),
    real or complex. positions must be the ideal zinc-blende sites of lattice constant
    lattice_constant (Angstrom); see the module docstring for the algorithm and its cost.
    """
    dens = np.asarray(densities)
    single = dens.ndim == 1
    dens = dens[:, None] if single else dens
    is_complex = np.iscomplexobj(dens)
    cols = np.ascontiguousarray(np.concatenate([dens.real, dens.imag], axis=1) if is_complex else dens, dtype=float)
    size = 1 if comm is None else comm.Get_size()
    rank = 0 if comm is None else comm.Get_rank()
    m = cols.shape[1]
    lo, hi = m * rank // size, m * (rank + 1) // size
    phi = np.zeros_like(cols)
    error = None
    try:
        if len(cols) != len(positions):
            raise HpcNcError(f"{len(cols)} density rows for {len(positions)} atoms")
        grid = lattice_grid(positions, lattice_constant)
        if hi > lo:
            kernels = _kernel_transforms(grid, pair_potential, float(onsite_ev))
            phi[:, lo:hi] = convolve_columns(grid, kernels, cols[:, lo:hi], chunk_bytes)
    except Exception as exc:  # noqa: BLE001 -- agreed below, so no rank is left waiting
        error = f"rank {rank}: {exc}" if size > 1 else str(exc)
    if comm is not None and size > 1:
        error = agree_on_error(comm, error)
    if error:
        raise HpcNcError(f"Coulomb integrals (FFT) failed: {error}")
    if comm is not None and size > 1:
        from mpi4py import MPI

        comm.Allreduce(MPI.IN_PLACE, phi, op=MPI.SUM)
    if is_complex:
        half = dens.shape[1]
        phi = phi[:, :half] + 1j * phi[:, half:]
    return phi[:, 0] if single else phi


# -- choice between the direct sum and the convolution ------------------------------------------

COULOMB_METHODS = ("auto", "direct", "fft")
# Smallest dot for which ``auto`` takes the FFT path: the measured crossover of CPU time for
# the CI's 26 complex densities (benchmarks/RESULTS.md, "Coulomb integrals: direct sum against
# FFT"); the direct sum is exact for relaxed positions too, and cheaper below this size.
AUTO_FFT_MIN_ATOMS = 7000


def uniform_pair_potential(epsilon: float) -> Callable[[np.ndarray], np.ndarray]:
    """v(r) = e^2/(epsilon r) in eV for r in Angstrom (the "uniform" screening model)."""
    from hpc_nc.physics.coulomb import screening_model

    return screened_pair_potential(screening_model("uniform", epsilon))


def screened_pair_potential(model) -> Callable[[np.ndarray], np.ndarray]:
    """v(r) = e^2/(epsilon(r) r) in eV for r > 0 in Angstrom, for a hpc_nc.physics.coulomb.Screening."""
    from hpc_nc.physics.coulomb import COULOMB_EV_ANGSTROM

    def v(r: np.ndarray) -> np.ndarray:
        r = np.asarray(r, dtype=float)
        return COULOMB_EV_ANGSTROM / (model.epsilon_of_r(r) * r)

    return v


def chosen_method(method: str, positions: np.ndarray, lattice_constant: float) -> str:
    """'direct' or 'fft' for a requested method; ``auto``: fft for dots of at least
    AUTO_FFT_MIN_ATOMS atoms whose atoms sit on the ideal lattice, direct otherwise
    (relaxed STR positions always take the exact direct sum). Depends only on its inputs,
    so all ranks agree."""
    if method not in COULOMB_METHODS:
        raise HpcNcError(f"unknown Coulomb method {method!r} (use one of {', '.join(COULOMB_METHODS)})")
    if method != "auto":
        return method
    if len(positions) < AUTO_FFT_MIN_ATOMS:
        return "direct"
    try:
        lattice_grid(positions, lattice_constant)
    except HpcNcError:
        return "direct"
    return "fft"


def coulomb_potential_by_method(
    comm,
    positions,
    densities,
    epsilon,
    onsite_ev,
    max_block_elements,
    method: str = "direct",
    lattice_constant: float | None = None,
    screening: str | None = None,
) -> np.ndarray:
    """Collective: Phi = V densities by the direct sum or the FFT convolution (same V).

    Arguments as hpc_nc.physics.coulomb.coulomb_potential (screening: one of its
    SCREENING_MODELS, default DEFAULT_SCREENING), plus method (COULOMB_METHODS) and the
    lattice constant of the ideal sites (Angstrom; default ZnS).
    """
    from hpc_nc.physics.coulomb import DEFAULT_SCREENING, ZNS_LATTICE_CONSTANT, coulomb_potential, screening_model

    screening = DEFAULT_SCREENING if screening is None else screening
    a = ZNS_LATTICE_CONSTANT if lattice_constant is None else float(lattice_constant)
    if chosen_method(method, positions, a) == "direct":
        return coulomb_potential(comm, positions, densities, epsilon, onsite_ev, max_block_elements, screening)
    model = screening_model(screening, epsilon, onsite_ev)
    return coulomb_potential_fft(comm, positions, densities, screened_pair_potential(model), model.onsite_ev, a)
