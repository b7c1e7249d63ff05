"""Coulomb and exchange integrals over atomistic densities (PHYSICS.md §5).

Every integral the exciton stage needs is a bilinear form of the screened Coulomb matrix
V (N x N, eV) between two atom-resolved (transition) densities:

    I[a, b] = sum_i sum_j  left_a(i) V_ij right_b(j),
    V_ij = 14.399645 eV Angstrom / (epsilon |R_i - R_j|)   (i != j),
    V_ii = onsite_ev.

Direct integrals take densities rho_a(i) = sum_alpha |psi_a(i, alpha)|^2, exchange integrals
transition densities rho_ab(i) = sum_alpha conj(psi_a(i, alpha)) psi_b(i, alpha) (orbital
contraction on each atom; the on-site dipole terms between s and p orbitals of one atom are
neglected, the usual point-charge approximation of atomistic CI beyond the on-site term).

Constants.
* e^2 / (4 pi eps0) = 14.399645 eV Angstrom (CODATA 2018: e = 1.602176634e-19 C exactly,
  eps0 = 8.8541878128e-12 F/m).
* epsilon defaults to 5.2, the high-frequency dielectric constant of ZnS (PHYSICS.md §5;
  the static value is 8.3-8.6). One constant screens all distances, including the on-site
  term. This is a simplification: more elaborate treatments (distance-dependent screening,
  reduced screening at short range) exist and are not implemented.
* On-site term (i = j) default, an *estimate*: the Coulomb interaction of two unit charges
  each spread uniformly over the same sphere of radius r_ws, 6/5 * e^2 / (epsilon r_ws)
  (classical electrostatics of a uniformly charged sphere), with r_ws the Wigner-Seitz
  radius of one atom of zinc blende, (3/(4 pi) * a^3/8)^(1/3) = 1.678 Angstrom for
  a = 5.409 Angstrom. This gives 10.30 eV / epsilon (1.98 eV for epsilon = 5.2), larger than
  the nearest-neighbour value 14.4/(epsilon * 2.342) = 1.18 eV as it should be, and keeps V
  positive definite on the test dots (so every diagonal exchange integral is >= 0).
  The paper's CI follows Zielinski et al., PRB 81, 085301 (2010), who (as far as we know;
  not checked against the article here) evaluate the short-range terms from atomic
  orbitals; we did not reproduce their numbers, so this default is a documented estimate,
  configurable per run (``onsite_ev``).

Parallel algorithm (``coulomb_potential``, collective): the potentials
Phi(i, m) = sum_j V_ij rho_m(j) are computed for all densities m at once. Rows i are cut into
blocks of a size that depends only on N and the memory bound (never on the number of ranks;
at least MIN_BLOCKS = 256 blocks when N allows, for load balance);
whole blocks are dealt out contiguously to the ranks; each block is one serial numpy kernel
(distances, 1/r, one matrix product); an Allreduce of the (N, M) result (zeros outside a
rank's rows, so the sum is exact) gives every rank the same array. Each row is computed by
exactly the same floating-point operations for any rank count, so results on 1 and on p
ranks agree to the last bit unless the BLAS library itself changes its summation order.
Bilinear forms then cost O(N M) on every rank.
"""

from __future__ import annotations

import numpy as np

from hpc_nc.errors import HpcNcError
from hpc_nc.parallel.collective import agree_on_error

COULOMB_EV_ANGSTROM = 14.399645  # e^2/(4 pi eps0), CODATA 2018
ZNS_EPSILON_INF = 5.2  # ZnS high-frequency dielectric constant (PHYSICS.md §5)
ZNS_LATTICE_CONSTANT = 5.409  # Angstrom (PHYSICS.md §1)
MIN_ATOM_DISTANCE = 0.1  # Angstrom: closer distinct atoms mean broken input, not physics
DEFAULT_BLOCK_ELEMENTS = 1 << 22  # rows x N doubles per kernel call (~32 MiB per temporary)
MIN_BLOCKS = 256  # at least this many row blocks (if N allows), so up to 256 ranks get work


def wigner_seitz_radius(lattice_constant: float = ZNS_LATTICE_CONSTANT) -> float:
    """Radius (Angstrom) of the sphere with the volume of one zinc-blende atom, a^3/8."""
    return float((3.0 / (4.0 * np.pi) * lattice_constant**3 / 8.0) ** (1.0 / 3.0))


def onsite_coulomb_ev(epsilon: float = ZNS_EPSILON_INF, lattice_constant: float = ZNS_LATTICE_CONSTANT) -> float:
    """Default on-site integral V_ii (eV): 6/5 e^2/(epsilon r_ws), an estimate (module docstring)."""
    return 1.2 * COULOMB_EV_ANGSTROM / (epsilon * wigner_seitz_radius(lattice_constant))


def _check_epsilon(epsilon: float) -> None:
    if not (np.isfinite(epsilon) and epsilon > 0):
        raise HpcNcError(f"dielectric constant must be positive, got {epsilon!r}")


def coulomb_matrix_dense(positions: np.ndarray, epsilon: float = ZNS_EPSILON_INF, onsite_ev: float | None = None) -> np.ndarray:
    """(N, N) screened Coulomb matrix V_ij in eV. Reference for tests and small dots only."""
    _check_epsilon(epsilon)
    onsite = onsite_coulomb_ev(epsilon) if onsite_ev is None else float(onsite_ev)
    p = np.asarray(positions, dtype=float)
    diff = p[:, None, :] - p[None, :, :]
    dist = np.sqrt((diff**2).sum(axis=2))
    np.fill_diagonal(dist, 1.0)
    v = COULOMB_EV_ANGSTROM / (epsilon * dist)
    np.fill_diagonal(v, onsite)
    return v


def coulomb_rows(
    positions: np.ndarray,
    row_start: int,
    row_stop: int,
    densities: np.ndarray,
    epsilon: float,
    onsite_ev: float,
) -> np.ndarray:
    """Serial kernel: Phi[i - row_start, m] = sum_j V_ij densities[j, m] for i in [start, stop).

    densities: (N, M) real. Returns (row_stop - row_start, M) in eV (times the density units).
    """
    p = np.asarray(positions, dtype=float)
    rows = p[row_start:row_stop]
    # |Ri - Rj|^2 via the expanded form (one matrix product). Its rounding error is about
    # 1e-16 * |R|^2 absolute, i.e. < 1e-12 relative for any pair of distinct atoms in a dot
    # of radius < 100 Angstrom (distances >= 2.3 Angstrom).
    sq = (p * p).sum(axis=1)
    d2 = sq[row_start:row_stop, None] + sq[None, :] - 2.0 * (rows @ p.T)
    local = np.arange(row_stop - row_start)
    d2[local, local + row_start] = 1.0  # self term replaced below
    if d2.min() < MIN_ATOM_DISTANCE**2:
        raise HpcNcError(f"two distinct atoms closer than {MIN_ATOM_DISTANCE} Angstrom: positions are broken")
    inv = np.sqrt(d2, out=d2)
    np.divide(COULOMB_EV_ANGSTROM / epsilon, inv, out=inv)
    inv[local, local + row_start] = onsite_ev
    return inv @ densities


def _block_bounds(n_atoms: int, max_block_elements: int) -> np.ndarray:
    """Global row-block edges: depend on N and the memory bound only, never on the ranks."""
    block = max(1, min(int(max_block_elements) // max(n_atoms, 1), -(-n_atoms // MIN_BLOCKS)))
    return np.append(np.arange(0, n_atoms, block), n_atoms)


def coulomb_potential(
    comm,
    positions: np.ndarray,
    densities: np.ndarray,
    epsilon: float = ZNS_EPSILON_INF,
    onsite_ev: float | None = None,
    max_block_elements: int = DEFAULT_BLOCK_ELEMENTS,
) -> np.ndarray:
    """Collective: Phi = V @ densities, (N, M) in eV, the same array on every rank.

    comm: mpi4py communicator of the task (or None for a serial call). densities (N,) or
    (N, M), real or complex (V is real, so real and imaginary parts are done as separate
    real columns). Inputs must be identical on all ranks. Memory per rank: O(N M) plus
    about three temporaries of max_block_elements doubles.
    """
    _check_epsilon(epsilon)
    onsite = onsite_coulomb_ev(epsilon) if onsite_ev is None else float(onsite_ev)
    dens = np.asarray(densities)
    single = dens.ndim == 1
    dens = dens[:, None] if single else dens
    is_complex = np.iscomplexobj(dens)
    real_cols = np.ascontiguousarray(np.concatenate([dens.real, dens.imag], axis=1) if is_complex else dens, dtype=float)
    n_atoms = real_cols.shape[0]
    size = 1 if comm is None else comm.Get_size()
    rank = 0 if comm is None else comm.Get_rank()
    edges = _block_bounds(n_atoms, max_block_elements)
    n_blocks = len(edges) - 1
    my_blocks = range(n_blocks * rank // size, n_blocks * (rank + 1) // size)
    phi = np.zeros_like(real_cols)
    error = None
    try:
        for b in my_blocks:
            phi[edges[b] : edges[b + 1]] = coulomb_rows(positions, edges[b], edges[b + 1], real_cols, epsilon, onsite)
    except Exception as exc:  # noqa: BLE001 -- agreed below, so no rank is left waiting
        error = f"rank {rank}: {exc}"
    if comm is not None and size > 1:
        error = agree_on_error(comm, error)
    if error:
        raise HpcNcError(f"Coulomb integrals failed: {error}")
    if comm is not None and size > 1:
        from mpi4py import MPI

        comm.Allreduce(MPI.IN_PLACE, phi, op=MPI.SUM)
    if is_complex:
        m = dens.shape[1]
        phi = phi[:, :m] + 1j * phi[:, m:]
    return phi[:, 0] if single else phi


def coulomb_integrals(
    comm,
    positions: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    epsilon: float = ZNS_EPSILON_INF,
    onsite_ev: float | None = None,
    max_block_elements: int = DEFAULT_BLOCK_ELEMENTS,
) -> np.ndarray:
    """Collective: I[a, b] = sum_ij left[i, a] V_ij right[j, b] in eV, shape (A, B).

    No complex conjugation is applied: pass conj(...) yourself where the integral needs it.
    left/right may be (N,) (then that axis is dropped).
    """
    phi = coulomb_potential(comm, positions, right, epsilon, onsite_ev, max_block_elements)
    lt = np.asarray(left)
    return np.tensordot(lt, phi, axes=([0], [0]))
