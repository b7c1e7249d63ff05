"""Coulomb and exchange integrals over atomistic densities (docs/physics.md, "Coulomb integrals").

Every integral the exciton stage needs is a bilinear form of the screened Coulomb matrix
V (N x N, eV) between two atom-resolved (transition) densities:

    I[a, b] = sum_i sum_j  left_a(i) V_ij right_b(j),
    V_ij = 14.399645 eV Angstrom / (epsilon(r_ij) r_ij)   (i != j, r_ij = |R_i - R_j|),
    V_ii = on-site integral (below).

Direct integrals take densities rho_a(i) = sum_alpha |psi_a(i, alpha)|^2, exchange integrals
transition densities rho_ab(i) = sum_alpha conj(psi_a(i, alpha)) psi_b(i, alpha) (orbital
contraction on each atom; the on-site dipole terms between s and p orbitals of one atom are
neglected, the usual point-charge approximation of atomistic CI beyond the on-site term).
The same V (same screening model) serves the direct and the exchange integrals of the CI.

Constants.
* e^2 / (4 pi eps0) = 14.399645 eV Angstrom (CODATA 2018: e = 1.602176634e-19 C exactly,
  eps0 = 8.8541878128e-12 F/m); Bohr radius a_B = 0.529177210903 Angstrom (CODATA 2018).
* epsilon_inf defaults to 5.2, the high-frequency (electronic) dielectric constant of ZnS,
  the shell material and host of every dot (docs/physics.md; Ashcroft & Mermin, Solid State
  Physics (1976), ch. 27, list 5.1 for ZnS; the project's 5.2 is within that 2 %, its own
  primary source is not at hand). One host medium screens the whole dot: the core's
  own dielectric constant is not used.

Screening models (``SCREENING_MODELS``, job key ``coulomb.screening``):
* ``thomas-fermi-resta`` (default): the model-dielectric function of R. Resta, Phys. Rev. B
  16, 2717 (1977), as used for atomistic Coulomb matrix elements by the paper's group
  (Rozanski & Zielinski, Comput. Phys. Commun. 2018 and 287, 108693 (2023)):
      epsilon(r) = eps_inf q R_s / (sinh(q (R_s - r)) + q r)   for r < R_s,
      epsilon(r) = eps_inf                                     for r >= R_s,
  with R_s fixed by sinh(q R_s) / (q R_s) = eps_inf (so epsilon is continuous at R_s) and
  q the Thomas-Fermi wave vector of the valence electron gas, q^2 = 4 k_F / (pi a_B),
  k_F = (3 pi^2 n0)^(1/3), i.e. q = 2 (3 n0 / pi)^(1/6) / sqrt(a_B). n0 = 32 / a^3 (8 valence
  electrons per ZnS formula unit, 4 per cubic cell). For ZnS (a = 5.409 Angstrom): n0 =
  0.2022 / Angstrom^3, q = 2.090 / Angstrom, R_s = 1.738 Angstrom. epsilon(0) = 1 (no
  screening at zero distance), epsilon(r >= R_s) = eps_inf. R_s is shorter than the
  nearest-neighbour distance sqrt(3) a / 4 = 2.342 Angstrom, so in a zinc-blende dot every
  off-site pair sees eps_inf and only the on-site term is unscreened: V_ii = U_0, the bare
  on-site integral. (The kernel still evaluates epsilon(r) for any pair closer than R_s:
  relaxed or test geometries are not assumed.)
* ``uniform``: epsilon(r) = eps_inf at every distance, the on-site term included
  (V_ii = U_0 / eps_inf). The project's model before issue 10, kept for comparison.
* ``none``: epsilon = 1 everywhere (bare Coulomb; V_ii = U_0).

On-site term U_0 (bare): the Coulomb energy of two unit charges each spread uniformly over
the same sphere of radius r_ws, 6/5 e^2 / r_ws (classical electrostatics of a uniformly
charged sphere: the pair-distance distribution of the sphere averaged over 1/r), with r_ws
the Wigner-Seitz radius of one atom of zinc blende, (3/(4 pi) a^3/8)^(1/3) = 1.678 Angstrom
for a = 5.409 Angstrom: U_0 = 10.30 eV. Under thomas-fermi-resta the on-site integral takes
epsilon(0) = 1, i.e. V_ii = U_0 unscreened, as the short-range (intra-atomic) integrals are
treated by the paper's group. This is a point-charge reading of the model: averaging
1/(epsilon(r) r) over the same sphere's pair distances instead gives 2.60 eV, since half
of those distances exceed R_s (``onsite_sphere_average_ev``). The on-site value is the
largest model uncertainty of J_hh for strongly localised holes (docs/VALIDATION.md,
"Delta_XX"); ``onsite_ev`` overrides it per run.

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

import math
from dataclasses import dataclass

import numpy as np

from hpc_nc.errors import HpcNcError
from hpc_nc.parallel.collective import agree_on_error
from hpc_nc.settings import DEFAULT_ANALYSIS

COULOMB_EV_ANGSTROM = 14.399645  # e^2/(4 pi eps0), CODATA 2018
BOHR_ANGSTROM = 0.529177210903  # a_B, CODATA 2018
ZNS_EPSILON_INF = 5.2  # ZnS high-frequency dielectric constant (module docstring)
ZNS_LATTICE_CONSTANT = 5.409  # Angstrom (docs/physics.md)
VALENCE_ELECTRONS_PER_CUBIC_CELL = 32  # zinc blende: 8 per formula unit, 4 formula units
SCREENING_MODELS = ("thomas-fermi-resta", "uniform", "none")
DEFAULT_SCREENING = DEFAULT_ANALYSIS.screening  # the job default (hpc_nc/settings.py)
MIN_ATOM_DISTANCE = 0.1  # Angstrom: closer distinct atoms mean broken input, not physics
DEFAULT_BLOCK_ELEMENTS = 1 << 22  # rows x N doubles per kernel call (~32 MiB per temporary)
MIN_BLOCKS = 256  # at least this many row blocks (if N allows), so up to 256 ranks get work


def wigner_seitz_radius(lattice_constant: float = ZNS_LATTICE_CONSTANT) -> float:
    """Radius (Angstrom) of the sphere with the volume of one zinc-blende atom, a^3/8."""
    return float((3.0 / (4.0 * np.pi) * lattice_constant**3 / 8.0) ** (1.0 / 3.0))


def thomas_fermi_wavevector(lattice_constant: float = ZNS_LATTICE_CONSTANT) -> float:
    """q_TF (1/Angstrom) of the valence electron gas of zinc blende, n0 = 32/a^3 (docstring)."""
    n0 = VALENCE_ELECTRONS_PER_CUBIC_CELL / lattice_constant**3
    return float(2.0 * (3.0 * n0 / np.pi) ** (1.0 / 6.0) / np.sqrt(BOHR_ANGSTROM))


def resta_radius(epsilon: float, q_tf: float) -> float:
    """R_s (Angstrom) solving sinh(q R_s)/(q R_s) = epsilon (Resta 1977); 0 for epsilon = 1."""
    _check_epsilon(epsilon)
    if epsilon < 1.0:
        raise HpcNcError(f"Thomas-Fermi-Resta screening needs epsilon >= 1, got {epsilon!r}")
    if epsilon == 1.0:
        return 0.0
    from scipy.optimize import brentq

    hi = 1.0
    while math.sinh(hi) / hi < epsilon:  # sinh(x)/x grows monotonically from 1
        hi *= 2.0
    x = brentq(lambda t: math.sinh(t) / t - epsilon, 1e-12, hi, xtol=1e-15, rtol=1e-15, maxiter=200)
    return float(x / q_tf)


@dataclass(frozen=True)
class Screening:
    """One screening model with its parameters (module docstring).

    model: one of SCREENING_MODELS. epsilon: eps_inf. q_tf: 1/Angstrom, r_s: Angstrom
    (thomas-fermi-resta only; 0 otherwise). onsite_ev: V_ii in eV.
    """

    model: str
    epsilon: float
    q_tf: float
    r_s: float
    onsite_ev: float

    def epsilon_of_r(self, r: np.ndarray) -> np.ndarray:
        """epsilon(r) for distances r (Angstrom), same shape."""
        r = np.asarray(r, dtype=float)
        if self.model == "none":
            return np.ones_like(r)
        if self.model == "uniform":
            return np.full_like(r, self.epsilon)
        out = np.full_like(r, self.epsilon)
        short = r < self.r_s
        if np.any(short):
            q, rs = self.q_tf, self.r_s
            out[short] = self.epsilon * q * rs / (np.sinh(q * (rs - r[short])) + q * r[short])
        return out

    @property
    def long_range_epsilon(self) -> float:
        """The epsilon of every pair farther apart than r_s."""
        return 1.0 if self.model == "none" else self.epsilon


def bare_onsite_ev(lattice_constant: float = ZNS_LATTICE_CONSTANT) -> float:
    """U_0 = 6/5 e^2 / r_ws (eV): two unit charges on one uniform Wigner-Seitz sphere."""
    return 1.2 * COULOMB_EV_ANGSTROM / wigner_seitz_radius(lattice_constant)


def onsite_coulomb_ev(
    epsilon: float = ZNS_EPSILON_INF,
    lattice_constant: float = ZNS_LATTICE_CONSTANT,
    screening: str = DEFAULT_SCREENING,
) -> float:
    """Default on-site integral V_ii (eV) of a screening model (module docstring).

    thomas-fermi-resta: U_0 (epsilon(0) = 1); uniform: U_0 / epsilon; none: U_0.
    """
    _check_screening(screening)
    _check_epsilon(epsilon)
    u0 = bare_onsite_ev(lattice_constant)
    return u0 / epsilon if screening == "uniform" else u0


def onsite_sphere_average_ev(screening: Screening, lattice_constant: float = ZNS_LATTICE_CONSTANT) -> float:
    """e^2 <1/(epsilon(r) r)> over the pair distances of a uniform Wigner-Seitz sphere (eV).

    The alternative reading of the on-site term quoted in the module docstring (not used by
    the kernel); for epsilon = const it equals 6/5 e^2/(epsilon r_ws) exactly.
    """
    from scipy.integrate import quad

    rad = wigner_seitz_radius(lattice_constant)

    def pair_density(r):  # distance distribution of two points in a ball of radius rad
        x = r / rad
        return 3.0 * x * x / rad * (1.0 - 0.75 * x + x**3 / 16.0)

    def integrand(r):
        return pair_density(r) / (r * float(screening.epsilon_of_r(np.array([r]))[0]))

    pts = [screening.r_s] if 0 < screening.r_s < 2 * rad else None
    return COULOMB_EV_ANGSTROM * quad(integrand, 0.0, 2.0 * rad, points=pts, limit=200)[0]


def screening_model(
    model: str = DEFAULT_SCREENING,
    epsilon: float = ZNS_EPSILON_INF,
    onsite_ev: float | None = None,
    lattice_constant: float = ZNS_LATTICE_CONSTANT,
) -> Screening:
    """The Screening of a run: model, eps_inf, optional on-site override (eV)."""
    _check_screening(model)
    _check_epsilon(epsilon)
    q_tf = r_s = 0.0
    if model == "thomas-fermi-resta":
        q_tf = thomas_fermi_wavevector(lattice_constant)
        r_s = resta_radius(epsilon, q_tf)
    onsite = onsite_coulomb_ev(epsilon, lattice_constant, model) if onsite_ev is None else float(onsite_ev)
    return Screening(model=model, epsilon=float(epsilon), q_tf=q_tf, r_s=r_s, onsite_ev=onsite)


def _check_epsilon(epsilon: float) -> None:
    if not (np.isfinite(epsilon) and epsilon > 0):
        raise HpcNcError(f"dielectric constant must be positive, got {epsilon!r}")


def _check_screening(model: str) -> None:
    if model not in SCREENING_MODELS:
        raise HpcNcError(f"unknown screening model {model!r} (known: {', '.join(SCREENING_MODELS)})")


def coulomb_matrix_dense(
    positions: np.ndarray,
    epsilon: float = ZNS_EPSILON_INF,
    onsite_ev: float | None = None,
    screening: str = DEFAULT_SCREENING,
) -> np.ndarray:
    """(N, N) screened Coulomb matrix V_ij in eV. Reference for tests and small dots only:
    evaluates epsilon(r) on every pair with no shortcut (the kernel skips r >= R_s)."""
    model = screening_model(screening, epsilon, onsite_ev)
    p = np.asarray(positions, dtype=float)
    diff = p[:, None, :] - p[None, :, :]
    dist = np.sqrt((diff**2).sum(axis=2))
    np.fill_diagonal(dist, 1.0)
    v = COULOMB_EV_ANGSTROM / (model.epsilon_of_r(dist) * dist)
    np.fill_diagonal(v, model.onsite_ev)
    return v


def coulomb_rows(
    positions: np.ndarray,
    row_start: int,
    row_stop: int,
    densities: np.ndarray,
    model: Screening,
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
    d2[local, local + row_start] = np.inf  # self term replaced below
    closest2 = float(d2.min())
    if closest2 < MIN_ATOM_DISTANCE**2:
        raise HpcNcError(f"two distinct atoms closer than {MIN_ATOM_DISTANCE} Angstrom: positions are broken")
    inv = np.sqrt(d2, out=d2)
    # Pairs closer than R_s get the distance-dependent epsilon. In a zinc-blende dot none
    # exist (R_s 1.74 Angstrom < bond 2.34 Angstrom), and then the block-sized boolean mask
    # is not built (its cost was within the noise at 7a: 1.7-1.9 CPU s with or without it).
    if model.r_s > 0 and closest2 < model.r_s**2:
        short = inv < model.r_s
        eps_short = model.epsilon_of_r(inv[short])
        vals = COULOMB_EV_ANGSTROM / (eps_short * inv[short])
        np.divide(COULOMB_EV_ANGSTROM / model.long_range_epsilon, inv, out=inv)
        inv[short] = vals
    else:
        np.divide(COULOMB_EV_ANGSTROM / model.long_range_epsilon, inv, out=inv)
    inv[local, local + row_start] = model.onsite_ev
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
    screening: str = DEFAULT_SCREENING,
) -> np.ndarray:
    """Collective: Phi = V @ densities, (N, M) in eV, the same array on every rank.

    comm: mpi4py communicator of the task (or None for a serial call). densities (N,) or
    (N, M), real or complex (V is real, so real and imaginary parts are done as separate
    real columns). screening: one of SCREENING_MODELS. Inputs must be identical on all
    ranks. Memory per rank: O(N M) plus about three temporaries of max_block_elements doubles.
    """
    model = screening_model(screening, epsilon, onsite_ev)
    dens = np.asarray(densities)
    single = dens.ndim == 1
    dens = dens[:, None] if single else dens
    is_complex = np.iscomplexobj(dens)
    real_cols = np.ascontiguousarray(
        np.concatenate([dens.real, dens.imag], axis=1) if is_complex else dens, dtype=float
    )
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
            phi[edges[b] : edges[b + 1]] = coulomb_rows(positions, edges[b], edges[b + 1], real_cols, model)
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
    screening: str = DEFAULT_SCREENING,
) -> np.ndarray:
    """Collective: I[a, b] = sum_ij left[i, a] V_ij right[j, b] in eV, shape (A, B).

    No complex conjugation is applied: pass conj(...) yourself where the integral needs it.
    left/right may be (N,) (then that axis is dropped).
    """
    phi = coulomb_potential(comm, positions, right, epsilon, onsite_ev, max_block_elements, screening)
    lt = np.asarray(left)
    return np.tensordot(lt, phi, axes=([0], [0]))
