"""Single-particle observables of tight-binding states (docs/physics.md §5). Plain numpy, no MPI.

State vectors follow the shared contract: shape (10N, n) complex128, row = 10*atom +
5*spin + orb (spin 0 = up, 1 = down; orb = s, px, py, pz, s*). All densities are
*atom-resolved*: rho(i) = sum over the 10 spin-orbitals of atom i of |psi(i, alpha)|^2 (the
tight-binding basis is orthonormal, so this sums to 1 for a normalised state).

Degenerate levels. Every level of the spin-orbit Hamiltonian is at least a Kramers pair
(psi, T psi) with T = -i sigma_y K, i.e. (psi_up, psi_down) -> (-conj(psi_down), conj(psi_up));
dots with Td symmetry also have 4-fold levels (double-group Gamma8 quartets). An eigensolver
may return any orthonormal basis of a degenerate level (it differs between runs, rank counts
and identical dots), so every quantity reported "per level" is built from basis-invariant
traces over the level's whole subspace: the atom density of a level is the *mean* of the
densities of all its states (sum_k |psi_k(i)|^2 over an orthonormal basis of a subspace is the
diagonal of its projector, hence basis independent), and the optical activity sums |d|^2 over
all states of the electron and of the hole level. Levels are found by
``degenerate_levels`` (consecutive energies within a tolerance). Within one Kramers pair
the two partners even have identical atom densities (sum_alpha conj(psi_alpha) (T psi)_alpha
= 0 on every atom), so for 2-fold levels the level mean equals each state's own density.

Radial densities are reported on a FIXED radial grid (same array shape for every task of a
sweep): ``radial_grid(max_radius, n_bins)`` gives the bin centres; bin k covers
[k, k+1) * max_radius / n_bins (Angstrom) and atoms beyond the last edge are counted in the
last bin (relaxed surfaces can move outward a little). Two versions:

* per atomic layer (``layer_density``): probability in each bin divided by the bin width,
  1/Angstrom, so that sum(P) * dr = 1. With the default bin width (~0.1 Angstrom) the inner
  zinc-blende shells (radii sqrt(n) a/4) fall in separate bins and the layer-to-layer
  oscillations of the paper's Figs. 3-5 are visible; far out, where shells are closer than
  one bin, neighbouring shells share a bin.
* envelope (``envelope_density``): every atom's probability spread by a Gaussian of width
  sigma (default a/4 = 1.35 Angstrom, the spacing of consecutive anion/cation planes along
  <100>, i.e. about one atomic layer), mirrored at r = 0 so that no probability is lost at the
  centre, and renormalised so that sum(P) * dr = 1 on the grid. This is the "envelope" that
  the paper draws as dashed lines; it removes the cation/anion layer oscillation, which is
  exactly what is needed to tell "different atomic layers" apart from "different regions".

Overlap measures (both in [0, 1], 1 for identical distributions, 0 for disjoint ones):

* atomic overlap O_atom = sum_i sqrt(rho_e(i) rho_h(i)), the Bhattacharyya coefficient
  (fidelity) of the two atom distributions. Chosen over sum_i min(rho_e, rho_h) because it is
  smooth in the densities (no kinks when the two curves cross), it is the overlap
  <|psi_e| , |psi_h|> of the amplitude magnitudes (the quantity that bounds a transition
  matrix element of an atom-diagonal operator: |sum_i rho_eh(i) f(i)| <= max|f| O_atom by
  Cauchy-Schwarz), and it treats the two carriers symmetrically.
* envelope overlap O_env = integral sqrt(P_e(r) P_h(r)) dr of the two envelopes, the same
  coefficient for the smoothed radial distributions. Electron and hole on alternating
  atomic layers of the same region give O_atom ~ 0 but O_env ~ 1 (the paper's "type-I with
  low optical activity" case, discussion of its Fig. 6).

Transition dipole (single particle, diagonal position operator, docs/physics.md §5):
d_eh = <e|r|h> = sum_i sum_alpha conj(psi_e(i,alpha)) psi_h(i,alpha) R_i, Angstrom (times the
elementary charge for a dipole moment). Because <e|h> = 0 it does not depend on the origin.
"""

from __future__ import annotations

import numpy as np

from hpc_nc.errors import HpcNcError
from hpc_nc.physics import tight_binding

ORBITALS_PER_ATOM = 10  # 5 orbitals x 2 spins (shared contract)
DEFAULT_ENVELOPE_WIDTH = 5.409 / 4.0  # Angstrom: a(ZnS)/4, docs/physics.md §1


def _as_atoms(vectors: np.ndarray) -> np.ndarray:
    """(10N, n) -> (N, 10, n) view, checking the contract's layout."""
    v = np.asarray(vectors)
    if v.ndim == 1:
        v = v[:, None]
    if v.ndim != 2 or v.shape[0] % ORBITALS_PER_ATOM != 0:
        raise HpcNcError(f"state vectors must have shape (10*N, n), got {v.shape}")
    return v.reshape(v.shape[0] // ORBITALS_PER_ATOM, ORBITALS_PER_ATOM, v.shape[1])


def time_reversal(vectors: np.ndarray) -> np.ndarray:
    """Kramers partners T psi of (10N, n) state vectors (a 1-D vector gives (10N, 1)), with
    the layout checked; the operator is :func:`hpc_nc.physics.tight_binding.time_reversal`."""
    v = _as_atoms(vectors)
    return tight_binding.time_reversal(v.reshape(-1, v.shape[2]))


def atom_densities(vectors: np.ndarray) -> np.ndarray:
    """(N, n) probability of each state on each atom: sum over its 10 spin-orbitals."""
    v = _as_atoms(vectors)
    return np.einsum("ian,ian->in", v.conj(), v).real


def pair_densities(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """(N, n_left, n_right) atom-resolved transition densities rho_ab(i) = sum_alpha conj(a) b.

    The orbital contraction on each atom is the approximation of docs/physics.md §5 (no
    inter-orbital dipole terms on one atom).
    """
    a = _as_atoms(left)
    b = _as_atoms(right)
    if a.shape[0] != b.shape[0]:
        raise HpcNcError(f"state vectors of different dots: {a.shape[0]} vs {b.shape[0]} atoms")
    return np.einsum("iam,ian->imn", a.conj(), b)


def level_density(vectors: np.ndarray, first: int = 0, size: int = 2) -> np.ndarray:
    """(N,) atom density of the level made of states first .. first+size-1 (their mean).

    Invariant under any unitary mixing of those states (size 2: a Kramers pair).
    """
    rho = atom_densities(np.asarray(vectors)[:, first : first + size])
    return rho.mean(axis=1)


def degenerate_levels(energies: np.ndarray, tol: float) -> list[tuple[int, int]]:
    """Index ranges [lo, hi) of degenerate levels of sorted (ascending or descending) energies
    in eV: a state joins the level of the previous one when their energies differ by at
    most tol (eV; chained, so a level may span a little more than tol)."""
    e = np.asarray(energies, dtype=float)
    bounds, start = [], 0
    for k in range(1, len(e) + 1):
        if k == len(e) or abs(e[k] - e[k - 1]) > tol:
            bounds.append((start, k))
            start = k
    return bounds


def level_average(values: np.ndarray, levels: list[tuple[int, int]], axis: int = -1) -> np.ndarray:
    """Replace every state's entry along ``axis`` by the mean over its level (``levels`` as
    from ``degenerate_levels``, covering the whole axis)."""
    v = np.moveaxis(np.array(values, dtype=float), axis, -1)
    out = np.empty_like(v)
    for lo, hi in levels:
        out[..., lo:hi] = v[..., lo:hi].mean(axis=-1, keepdims=True)
    return np.moveaxis(out, -1, axis)


def block_average(
    matrix: np.ndarray, row_levels: list[tuple[int, int]], col_levels: list[tuple[int, int]]
) -> np.ndarray:
    """(n_row, n_col) real matrix with every (row level x column level) block replaced by its
    mean. For matrix = |d_eh|^2 each block mean is tr(P_A r P_B r)/(g_A g_B), basis invariant."""
    m = np.asarray(matrix, dtype=float)
    out = np.empty_like(m)
    for a, b in row_levels:
        for c, d in col_levels:
            out[a:b, c:d] = m[a:b, c:d].mean()
    return out


def core_weight(density: np.ndarray, in_core: np.ndarray) -> np.ndarray:
    """Fraction of the probability on core atoms; density (N,) or (N, n) -> scalar or (n,)."""
    rho = np.asarray(density, dtype=float)
    total = rho.sum(axis=0)
    return rho[np.asarray(in_core, dtype=bool)].sum(axis=0) / total


def radial_grid(max_radius: float, n_bins: int) -> np.ndarray:
    """Centres (n_bins,) of equal radial bins covering [0, max_radius] (Angstrom)."""
    if not (max_radius > 0 and int(n_bins) >= 2):
        raise HpcNcError(f"radial grid needs max_radius > 0 and n_bins >= 2, got {max_radius}, {n_bins}")
    dr = max_radius / n_bins
    return (np.arange(int(n_bins)) + 0.5) * dr


def _grid_step(grid: np.ndarray) -> float:
    return float(grid[1] - grid[0])


def atomic_shells(positions: np.ndarray, density: np.ndarray, tol: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Probability per atomic shell (atoms grouped by distinct |R|): (radii, probabilities).

    Radii closer than tol (Angstrom) to the previous one join its shell (relaxed positions).
    Variable length (the number of shells depends on the dot): for plots and checks; the
    results file stores the fixed-grid ``layer_density`` instead. The radius of a shell is
    the probability-weighted mean radius of its atoms (plain mean where it carries none).
    """
    rho = np.asarray(density, dtype=float)
    r = np.linalg.norm(np.asarray(positions, dtype=float), axis=1)
    order = np.argsort(r, kind="stable")
    rs = r[order]
    label = np.concatenate([[0], np.cumsum(np.diff(rs) > tol)])
    prob = np.bincount(label, weights=rho[order])
    count = np.bincount(label)
    weighted = np.bincount(label, weights=rho[order] * rs)
    plain = np.bincount(label, weights=rs) / count
    radii = np.divide(weighted, prob, out=plain.copy(), where=prob > 0)
    return radii, prob


def layer_density(positions: np.ndarray, density: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Radial probability density per atomic layer on a fixed grid, 1/Angstrom.

    density: (N,) or (N, n) atom probabilities. Returns (n_bins,) or (n, n_bins) with
    sum(P) * dr equal to the total probability (1 for a normalised state).
    """
    rho = np.asarray(density, dtype=float)
    single = rho.ndim == 1
    rho = rho[:, None] if single else rho
    dr = _grid_step(grid)
    r = np.linalg.norm(np.asarray(positions, dtype=float), axis=1)
    k = np.minimum((r / dr).astype(np.int64), len(grid) - 1)
    out = np.zeros((rho.shape[1], len(grid)))
    for m in range(rho.shape[1]):
        out[m] = np.bincount(k, weights=rho[:, m], minlength=len(grid)) / dr
    return out[0] if single else out


def envelope_density(
    positions: np.ndarray,
    density: np.ndarray,
    grid: np.ndarray,
    width: float = DEFAULT_ENVELOPE_WIDTH,
) -> np.ndarray:
    """Gaussian-smoothed radial probability density (1/Angstrom), sum(P) * dr = 1 on the grid.

    width: Gaussian standard deviation in Angstrom (default a/4, about one atomic layer).
    """
    rho = np.asarray(density, dtype=float)
    single = rho.ndim == 1
    rho = rho[:, None] if single else rho
    dr = _grid_step(grid)
    # Summing the atoms' weights on the fine layer grid first, then smoothing that histogram,
    # costs O(n_bins^2) instead of O(N n_bins); the bin width is << width, so the error is
    # second order in dr/width (< 1e-3 relative for the defaults).
    hist = layer_density(positions, rho, grid) * dr  # (n, n_bins) probabilities
    g = np.asarray(grid)
    diff = g[:, None] - g[None, :]
    summ = g[:, None] + g[None, :]
    kernel = np.exp(-0.5 * (diff / width) ** 2) + np.exp(-0.5 * (summ / width) ** 2)
    env = hist @ kernel.T  # (n, n_bins)
    norm = env.sum(axis=1, keepdims=True) * dr
    env = np.divide(env, norm, out=np.zeros_like(env), where=norm > 0)
    return env[0] if single else env


def density_maximum(grid: np.ndarray, profile: np.ndarray) -> float:
    """Radius (Angstrom) of the maximum of a radial profile, refined by a parabola through
    the largest grid value and its two neighbours (exact for a locally quadratic peak)."""
    p = np.asarray(profile, dtype=float)
    k = int(np.argmax(p))
    if 0 < k < len(p) - 1:
        den = p[k - 1] - 2.0 * p[k] + p[k + 1]
        if den < 0:
            shift = 0.5 * (p[k - 1] - p[k + 1]) / den
            return float(grid[k] + shift * _grid_step(grid))
    return float(grid[k])


def atomic_overlap(density_a: np.ndarray, density_b: np.ndarray) -> float:
    """Bhattacharyya coefficient sum_i sqrt(rho_a(i) rho_b(i)) of two atom distributions
    (each renormalised to 1 first), in [0, 1]."""
    a = np.clip(np.asarray(density_a, dtype=float), 0.0, None)
    b = np.clip(np.asarray(density_b, dtype=float), 0.0, None)
    return float(np.sqrt(a / a.sum() * b / b.sum()).sum())


def envelope_overlap(grid: np.ndarray, envelope_a: np.ndarray, envelope_b: np.ndarray) -> float:
    """integral sqrt(P_a(r) P_b(r)) dr of two normalised radial envelopes, in [0, 1]."""
    a = np.clip(np.asarray(envelope_a, dtype=float), 0.0, None)
    b = np.clip(np.asarray(envelope_b, dtype=float), 0.0, None)
    return float(np.sqrt(a * b).sum() * _grid_step(grid))


def transition_dipoles(positions: np.ndarray, electron_vectors: np.ndarray, hole_vectors: np.ndarray) -> np.ndarray:
    """(n_e, n_h, 3) complex d_eh = <e|r|h> = sum_i sum_alpha conj(psi_e) psi_h R_i, Angstrom."""
    rho = pair_densities(electron_vectors, hole_vectors)  # (N, n_e, n_h)
    return np.einsum("imn,ic->mnc", rho, np.asarray(positions, dtype=float))


def optical_activity(dipoles: np.ndarray, n_e1: int = 2, n_h1: int = 2) -> float:
    """Optical activity (Angstrom^2) of the E1 -> H1 transition: |d_eh|^2 summed over the
    three Cartesian components and over all n_e1 states of the E1 level (electron states
    0 .. n_e1-1) and all n_h1 states of the H1 level (hole states 0 .. n_h1-1), times
    (2/n_e1)(2/n_h1): "per Kramers pair and Kramers pair", so that 2-fold levels give the plain
    sum over both partners, sum_{e in {0,1}} sum_{h in {0,1}} |d_eh|^2. The sum over complete
    levels is tr(P_E1 r P_H1 r), invariant under any unitary mixing inside either level."""
    d = np.asarray(dipoles)
    if not (1 <= n_e1 <= d.shape[0] and 1 <= n_h1 <= d.shape[1]):
        raise HpcNcError(f"level sizes {n_e1}, {n_h1} do not fit dipoles of shape {d.shape}")
    return float((np.abs(d[:n_e1, :n_h1, :]) ** 2).sum() * (2.0 / n_e1) * (2.0 / n_h1))
