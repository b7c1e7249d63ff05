"""Block Davidson for the band-edge states, preconditioned by the spin-orbit-free shifted H.

Why this strategy exists (benchmarks/RESULTS.md, eigensolver section): at 7a (115,430 rows)
SLEPc shift-and-invert spends ~95 s in two complex MUMPS LU factorisations of H − σ and
~80 s in ~330 single-vector triangular solves. Both costs come from the spin-orbit
coupling: without it H is spin-diagonal with two *equal real* blocks H₀ of 5N rows. So

* the preconditioner is K = H₀ − σ, one real symmetric 5N block applied to both spin
  components. Its LDLᵀ factorisation (MUMPS "Cholesky"; valid here because K is real, so
  complex-symmetric = Hermitian) costs ~1/16 of the flops of the LU of H − σ (half the
  unknowns per atom: 1/8; symmetric: 1/2) and ~1/10 of its memory;
* the eigensolver is a *block* method, so every K solve has many right-hand sides (both
  spin components of every active vector). MUMPS reads the factor once per block: at 7a one
  right-hand side costs ~110 ms, 32 together ~16 ms each.

Spin-orbit is not dropped from the answer: the eigenpairs are those of the full H (the
residual ||H x − θ x|| is checked against the same limit as for the other strategies);
K only steers the search. Measured: with K the block iteration needs the same number of
iterations as with the exact (H − σ)⁻¹ (4a: 20 and 20).

Algorithm (one side; σ starts at the bulk band edge of that side and moves next to the
states once they are located, see ``retarget_toward``):
  V orthonormal search space (local rows x m), W = H V, A = Vᴴ W, G = Wᴴ W.
  Harmonic Rayleigh–Ritz around σ (Morgan, Lin. Alg. Appl. 154, 289 (1991)):
      (A − σ) y = μ (G − σ(A + Aᴴ) + σ²) y,   μ ≈ 1/(λ − σ),
  which, unlike plain Rayleigh–Ritz, gives no spurious Ritz values between the bands for an
  interior target. The candidates are sorted by the same one-sided key as the SLEPc path
  (wanted side of the gap centre first, nearest to it first), the leading ``block``
  harmonic vectors are orthonormalised and Rayleigh quotients θ taken inside them.
  Residuals R = H X − X θ; the unconverged ones are expanded with T = K⁻¹ R, one solve per
  Kramers pair (K⁻¹ T r = T K⁻¹ r, :func:`kramers_selection`), orthogonalised twice (block
  Gram–Schmidt + SVQB) against the deflation space and V. At ``max_dim`` the space
  restarts from the leading ``keep`` harmonic vectors (thick restart).

Completeness: a block started from ``block`` ≥ nev + guard random vectors sees every
direction of a degenerate level whose multiplicity is below the block size (block Krylov
theory; Golub and Underwood 1977), so, unlike single-vector Krylov, it needs no Kramers
completion to find both members of a pair or all four of a cubic Γ8 level. The caller's
deflated check solve (``verify``) still runs, with a fresh random block.

Kernels here are plain numpy (no MPI): :func:`spin_orbit_free_rows`, :func:`start_block`,
:func:`kramers_selection`, :func:`harmonic_ritz`, :func:`_better_target`. :class:`BlockOperators` holds the distributed parts with ``comm``
explicit; :func:`block_davidson` runs one solve on them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from hpc_nc.errors import ConvergenceError, HpcNcError
from hpc_nc.parallel import heartbeat
from hpc_nc.physics.tight_binding import time_reversal
from hpc_nc.solvers.block import BlockSpace, kramers_selection, start_block  # noqa: F401 (davidson's API)

if TYPE_CHECKING:
    from mpi4py import MPI
    from petsc4py import PETSc

    from hpc_nc.solvers.eigensolver import EigenSettings
    from hpc_nc.solvers.sides import SideSolution

N_SPIN_ORB = 10
N_ORB = 5


# ----------------------------------------------------------------------------- numpy kernels
def spin_orbit_free_rows(
    indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, row_start: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR rows of H₀ (H without spin-orbit, one spin) from local CSR rows of H.

    indptr/indices/values: rows 10*a .. of whole atoms starting at global row ``row_start``
    (a multiple of 10), global columns, orbital index ``5*spin + orb`` inside an atom.
    Returns (indptr, indices, values) of the spin-up rows, real part, spin-up columns only,
    with columns renumbered 10a + orb -> 5a + orb. Chadi's spin-orbit is the only spin-mixing
    or imaginary term (its up-up entries ±iλ couple px and py), so this is exactly the
    spin-independent part of H. Pure numpy.
    """
    indptr = np.asarray(indptr)
    indices = np.asarray(indices)
    values = np.asarray(values)
    if row_start % N_SPIN_ORB or (len(indptr) - 1) % N_SPIN_ORB:
        raise HpcNcError("spin_orbit_free_rows needs whole atoms (10 rows each)")
    n_rows = len(indptr) - 1
    local_rows = np.arange(n_rows)
    up_rows = local_rows[(local_rows % N_SPIN_ORB) < N_ORB]
    counts = np.diff(indptr)
    row_of_entry = np.repeat(local_rows, counts)
    keep = ((row_of_entry % N_SPIN_ORB) < N_ORB) & ((indices % N_SPIN_ORB) < N_ORB)
    new_counts = np.bincount(row_of_entry[keep], minlength=n_rows)[up_rows]
    out_ptr = np.zeros(len(up_rows) + 1, dtype=np.int64)
    np.cumsum(new_counts, out=out_ptr[1:])
    cols = indices[keep]
    out_cols = (cols // N_SPIN_ORB) * N_ORB + cols % N_SPIN_ORB
    return out_ptr, out_cols.astype(np.int64), np.real(values[keep]).astype(np.float64)


def to_spin_columns(block: np.ndarray) -> np.ndarray:
    """(10n, k) rows (atom, spin, orb) -> (5n, 2k): spin-up columns then spin-down columns."""
    k = block.shape[1]
    return block.reshape(-1, 2, N_ORB, k).transpose(0, 2, 1, 3).reshape(-1, 2 * k)


def from_spin_columns(block: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_spin_columns`: (5n, 2k) -> (10n, k)."""
    k = block.shape[1] // 2
    return block.reshape(-1, N_ORB, 2, k).transpose(0, 2, 1, 3).reshape(-1, k)


def harmonic_vectors(
    A: np.ndarray, G: np.ndarray, sigma: float, key: Callable[[float], tuple[int, float]]
) -> np.ndarray:
    """Every harmonic Ritz vector around sigma (columns, sorted by ``key`` of its harmonic
    value) from A = Vᴴ H V, G = (H V)ᴴ (H V), V orthonormal. Pure."""
    import scipy.linalg

    m = A.shape[0]
    A = 0.5 * (A + A.conj().T)
    G = 0.5 * (G + G.conj().T)
    eye = np.eye(m)
    SS = G - 2.0 * sigma * A + sigma**2 * eye  # (W - σV)ᴴ(W - σV), Hermitian positive
    mu, Z = scipy.linalg.eigh(A - sigma * eye, SS)
    with np.errstate(divide="ignore"):
        theta_h = sigma + np.where(mu != 0, 1.0 / np.where(mu != 0, mu, 1.0), np.inf)
    order = sorted(range(m), key=lambda i: key(theta_h[i]))
    return Z[:, order]


def harmonic_ritz(
    A: np.ndarray, G: np.ndarray, sigma: float, key: Callable[[float], tuple[int, float]], count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Harmonic Ritz selection around sigma from A = Vᴴ H V, G = (H V)ᴴ (H V), V orthonormal.

    Returns (Y, theta, Y_all): Y (m, count) orthonormal coefficients of the ``count`` leading
    candidates by ``key`` (a function of an energy, eV) with Rayleigh quotients theta (eV),
    sorted by key; Y_all (m, m) every harmonic vector in key order (for restarts).
    """
    A = 0.5 * (A + A.conj().T)
    Z = harmonic_vectors(A, G, sigma, key)
    Q, _ = np.linalg.qr(Z[:, :count])
    theta, U = np.linalg.eigh(Q.conj().T @ A @ Q)
    Y = Q @ U
    order = sorted(range(len(theta)), key=lambda i: key(theta[i]))
    return Y[:, order], theta[order], Z


def _better_target(theta: np.ndarray, r1: float, sigma: float, toward: float) -> float | None:
    """A new target next to the wanted Ritz values theta (key order), or None to keep sigma
    (see ``retarget_toward`` in :func:`block_davidson`). Pure."""
    t1 = float(theta[0])
    spread = float(np.max(np.abs(theta - t1)))
    if not r1 < 0.1 * abs(t1 - sigma):
        return None  # θ₁ not yet known well enough to move to
    new = t1 + np.sign(toward - t1) * max(0.25 * spread, 0.01)
    return float(new) if abs(new - sigma) > max(spread, 0.05) else None


# ----------------------------------------------------------------------------- distributed
class BlockOperators(BlockSpace):
    """The distributed operations of the block solver, on local row blocks (numpy): those of
    :class:`~hpc_nc.solvers.block.BlockSpace` plus the preconditioner.

    H: complex Hermitian PETSc Mat (eV), rows owned in whole atoms; comm: its mpi4py
    communicator. The preconditioner K = H₀ − σ is built once from H's own rows and
    refactorised (numeric phase only) for each σ by :meth:`set_shift`.
    """

    def __init__(self, comm, H, options_prefix: str = "davidson_"):
        from hpc_nc.parallel.petsc_matrix import aij_from_local_csr

        super().__init__(comm, H)
        PETSc = self.PETSc
        indptr, indices, values = H.getValuesCSR()
        k_ptr, k_cols, k_vals = spin_orbit_free_rows(indptr, indices, values, self.row_start)
        # Every row needs its diagonal entry: set_shift shifts it in place.
        rows = np.repeat(np.arange(self.n_local // 2), np.diff(k_ptr))
        if not np.array_equal(
            np.bincount(rows[k_cols == rows + self.row_start // 2], minlength=self.n_local // 2),
            np.ones(self.n_local // 2, int),
        ):
            raise HpcNcError("H has a row without a diagonal entry")
        K = aij_from_local_csr(PETSc, H.getComm(), k_ptr, k_cols, k_vals, self.n_global // 2)
        # Flag it symmetric (MUMPS then factors LDLᵀ) but not Hermitian: PETSc 3.18 refuses
        # MUMPS Cholesky of a complex matrix flagged Hermitian; K is real, so both hold.
        K.setOption(PETSc.Mat.Option.SYMMETRIC, True)
        K.setOption(PETSc.Mat.Option.SYMMETRY_ETERNAL, True)
        self.K = K
        self.shift = 0.0
        self.pc = None
        self.options_prefix = options_prefix
        self.factor_seconds = 0.0
        self.n_solves = 0
        self.n_rhs = 0

    # -- preconditioner
    def set_shift(self, sigma: float) -> None:
        """K = H₀ − sigma (eV), factorised (LDLᵀ, MUMPS); the symbolic analysis is kept."""
        PETSc = self.PETSc
        t0 = time.perf_counter()
        self.K.shift(self.shift - sigma)  # K holds H₀ - self.shift
        self.shift = sigma
        if self.pc is None:
            self.pc = PETSc.PC().create(comm=self.K.getComm())
            self.pc.setOptionsPrefix(self.options_prefix)
            self.pc.setType("cholesky")  # LDLᵀ: K is real symmetric (see module docstring)
            self.pc.setFactorSolverType("mumps")
            self.pc.setOperators(self.K, self.K)
            self.pc.setFromOptions()
        else:
            self.pc.setOperators(self.K, self.K)
        self.pc.setUp()
        self.factor_seconds += time.perf_counter() - t0

    def precondition(self, R: np.ndarray) -> np.ndarray:
        """K⁻¹ R for a local block R (n_local, k): one multi-right-hand-side solve."""
        B = np.asfortranarray(to_spin_columns(R))
        k2 = B.shape[1]
        Bm = self._dense(B, self.n_global // 2)
        Xm = Bm.duplicate()
        self.pc.getFactorMatrix().matSolve(Bm, Xm)
        X = np.array(Xm.getDenseArray())
        Bm.destroy()
        Xm.destroy()
        self.n_solves += 1
        self.n_rhs += k2
        return from_spin_columns(X)

    def destroy(self) -> None:
        if self.pc is not None:
            self.pc.destroy()
        self.K.destroy()


def block_davidson(
    ops: BlockOperators,
    nev: int,
    sigma: float,
    key: Callable[[float], tuple[int, float]],
    res_limit: float,
    *,
    guard: int = 8,
    max_dim: int = 0,
    keep: int = 0,
    max_it: int = 300,
    deflation: np.ndarray | None = None,
    seed: int = 1,
    kramers: bool = True,
    monitor: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
    retarget_toward: float | None = None,
    max_retargets: int = 2,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The ``nev`` leading eigenpairs of H by ``key`` near sigma (eV); ops.set_shift(sigma) first.

    res_limit: eV, every returned pair has ||H x − θ x|| ≤ res_limit. deflation: local rows
    (n_local, d) of orthonormal vectors to stay orthogonal to (states already found).
    Returns (theta (nev,), X (n_local, nev) orthonormal, residuals (nev,), iterations).
    monitor: optional callable(iteration, theta, residuals) called every iteration.
    retarget_toward: the gap centre (eV) to move the target: when the leading Ritz value
        θ₁ is known to 10 % of its distance from σ and σ is further from it than the
        spread w of the wanted Ritz values (and 0.05 eV), σ moves to θ₁ − max(w/4, 0.01 eV)
        on the gap side and K is refactorised (at most ``max_retargets`` times; the final
        σ is ``ops.shift``). Why: the targets come from the bulk band edges of the
        compounds present, which a dilute alloy misses by up to ~1 eV (Cu0.1In0.3 core:
        CBM estimate 2.44 eV from CuS, e₁ = 3.64 eV), and the iterations then go into
        finding the states. None: σ stays.
    kramers: expand with T K⁻¹ r as well as K⁻¹ r (half the solves; H must commute with
    time reversal, which holds without magnetic fields; only speed depends on it, the
    residuals are checked either way).
    Raises ConvergenceError (same message on every rank) after max_it iterations.
    """
    if nev < 1 or guard < 0 or max_it < 1:
        raise HpcNcError(f"block_davidson needs nev >= 1, guard >= 0, max_it >= 1 (got {nev}, {guard}, {max_it})")
    block = nev + guard
    keep = keep or 2 * block
    # The search space: 100 columns by default (at 7a 100-160 gave the same iterations and
    # 80 one more); never below what a restart plus one expansion needs.
    max_dim = max(max_dim or max(keep + 2 * block, 100), keep + block)
    D = deflation if deflation is not None and deflation.shape[1] else None
    bases = [D] if D is not None else []
    # Search space V and W = H V live in preallocated column-major buffers: the first m
    # columns are in use, new columns are written behind them (no copies when growing).
    V = np.zeros((ops.n_local, max_dim), dtype=np.complex128, order="F")
    W = np.zeros_like(V)
    P = ops.precondition(start_block(seed, ops.row_start, ops.n_local, (block + 1) // 2))
    T = ops.orthonormalize(np.hstack([P, time_reversal(P)]), bases)
    m = T.shape[1]
    V[:, :m] = T
    W[:, :m] = ops.hmult(T)
    A, G = ops.gram(V[:, :m], W[:, :m]), ops.gram(W[:, :m], W[:, :m])
    rnorm = np.full(nev, np.inf)
    retargets = 0
    for iteration in range(1, max_it + 1):
        Y, theta, Z = ops.agree(harmonic_ritz(A, G, sigma, key, min(block, m)))
        X, HX = V[:, :m] @ Y, W[:, :m] @ Y
        R = HX - X * theta
        rnorm = ops.agree(ops.column_norms(R))
        converged = rnorm <= res_limit
        if monitor is not None:
            monitor(iteration, theta, rnorm)
        heartbeat.status(
            f"block Davidson iteration {iteration}, largest residual {float(np.max(rnorm)):.1e} eV "
            f"(target {res_limit:.0e})"
        )
        if retarget_toward is not None and retargets < max_retargets and len(theta) >= nev:
            new = _better_target(theta[:nev], rnorm[0], sigma, retarget_toward)
            if new is not None:
                ops.set_shift(new)
                sigma = new
                retargets += 1
        if len(theta) >= nev and converged[:nev].all():
            # Honest final residuals: H applied afresh to the returned vectors.
            X = np.asfortranarray(X[:, :nev])
            final = ops.agree(ops.column_norms(ops.hmult(X) - X * theta[:nev]))
            return theta[:nev], X, final, iteration
        active = R[:, ~converged]
        if kramers:  # one solve per Kramers pair: K⁻¹ T r = T K⁻¹ r
            P = ops.precondition(np.asfortranarray(active[:, ops.kramers_representatives(active)]))
            T = np.hstack([P, time_reversal(P)])
        else:
            T = ops.precondition(np.asfortranarray(active))
        if m + T.shape[1] > max_dim:  # thick restart from the leading harmonic vectors
            Q, _ = np.linalg.qr(Z[:, :keep])
            Q = ops.agree(Q)
            V[:, :keep] = V[:, :m] @ Q
            W[:, :keep] = W[:, :m] @ Q
            A, G = Q.conj().T @ A @ Q, Q.conj().T @ G @ Q
            m = keep
        T = ops.orthonormalize(T, bases + [V[:, :m]])
        k = T.shape[1]
        if k == 0:
            break  # the space cannot grow: stagnation, reported below
        V[:, m : m + k] = T
        W[:, m : m + k] = ops.hmult(T)
        Vn, Wn = V[:, m : m + k], W[:, m : m + k]
        AVT, ATT = ops.gram(V[:, :m], Wn), ops.gram(Vn, Wn)
        GVT, GTT = ops.gram(W[:, :m], Wn), ops.gram(Wn, Wn)
        A = np.block([[A, AVT], [AVT.conj().T, ATT]])
        G = np.block([[G, GVT], [GVT.conj().T, GTT]])
        m += k
    n_ok = int(np.sum(rnorm[:nev] <= res_limit))
    worst = float(np.max(rnorm[:nev])) if len(rnorm) else float("inf")
    why = f"in {max_it} iterations" if iteration == max_it else "(the search space stopped growing)"
    raise ConvergenceError(
        f"block Davidson converged {n_ok} of {nev} states near {sigma:.4f} eV {why} "
        f"(largest residual {worst:.2e} eV > {res_limit:.2e} eV); raise max_it or guard"
    )


# ----------------------------------------------------------------------------- the backend
# PETSc options of the davidson preconditioner's MUMPS factorisation (prefix "davidson_"),
# used where neither the command line nor the job file sets them. Block low-rank at 1e-3
# halves the 7a factorisation time and shrinks the factor; the preconditioner need not be
# exact (the spin-orbit term is left out of it anyway), and at 5a the iteration count was
# unchanged at 1e-3 (it grew at 1e-2). benchmarks/RESULTS.md, eigensolver section.
DAVIDSON_PETSC_DEFAULTS = {"davidson_mat_mumps_icntl_35": 2, "davidson_mat_mumps_cntl_7": 1e-3}


def _side(ops: BlockOperators, n: int, side: str, boundary: float, target: float, settings, res_limit: float):
    """One side: main solve (n + extra states, target moved to the states), then the
    deflated check of hpc_nc/solvers/sides.py (:func:`check_rounds`) at the moved target."""
    from hpc_nc.solvers.sides import BlockRun, block_solution, check_rounds, one_sided_key

    key = one_sided_key(side, boundary)
    options = dict(guard=settings.guard, max_dim=settings.ncv, max_it=settings.max_it or 300)
    ops.set_shift(target)
    solver = block_davidson_kramers if settings.kramers_space else block_davidson
    theta, X, resid, its = solver(
        ops, n + settings.extra, target, key, res_limit, seed=settings.seed, retarget_toward=boundary, **options
    )
    run = BlockRun(theta, X, resid, [its])

    def solve(nev, limit, deflation, seed):  # the check solves: the (possibly moved) target
        return solver(ops, nev, ops.shift, key, limit, deflation=deflation, seed=seed + settings.seed - 1, **options)

    check_rounds(run, solve, n, side, key, settings, res_limit, "block Davidson")
    return block_solution(ops, run, final_target=float(ops.shift))


def solve_sides(
    comm: MPI.Comm,
    H: PETSc.Mat,
    counts: Mapping[str, int],
    targets: Mapping[str, float],
    boundary: float,
    settings: EigenSettings,
    res_limit: float,
) -> tuple[dict[str, SideSolution], dict[str, object]]:
    """Both sides with the block Davidson solver: ({side: SideSolution}, extra diagnostics).
    counts: {"electron": n_e, "hole": n_h}; targets: eV per side. Raises ConvergenceError
    (a PETSc/MUMPS error becomes one, with its code)."""
    from hpc_nc.parallel.petsc_build import blas_threads, select_build
    from hpc_nc.solvers.options import OptionsScope
    from hpc_nc.solvers.sides import SideSolution

    PETSc, _ = select_build("complex")
    results = {}
    ops = None
    try:
        with OptionsScope(PETSc, {**DAVIDSON_PETSC_DEFAULTS, **settings.petsc_options}), blas_threads(1):
            ops = BlockOperators(comm, H)
            for side in ("electron", "hole"):
                n = counts[side]
                results[side] = (
                    SideSolution.empty(ops.n_global)
                    if n == 0
                    else _side(ops, n, side, boundary, targets[side], settings, res_limit)
                )
            extra = {
                "preconditioner_factor_seconds": float(ops.factor_seconds),
                "preconditioner_solves": int(ops.n_solves),
                "preconditioner_rhs": int(ops.n_rhs),
                "h_block_products": int(ops.n_mults),
                "final_targets": {s: r.final_target for s, r in results.items()},
            }
    except PETSc.Error as exc:
        raise ConvergenceError(
            f"PETSc/MUMPS failed in the davidson eigensolve: error code {getattr(exc, 'ierr', '?')}"
        ) from None
    finally:
        if ops is not None:
            ops.destroy()
    return results, extra


# ----------------------------------------------------------------------------- T-invariant space
def _kramers_orthonormalize(ops: BlockOperators, P: np.ndarray, bases: list[np.ndarray]) -> np.ndarray:
    """Columns P' spanning (P, T P) minus the span of every [B, T B] in ``bases``, with
    [P', T P'] orthonormal (hpc_nc/solvers/quaternion.py). Each B must itself have
    [B, T B] orthonormal. Directions already in the span (relative norm < METRIC_DROP) are
    dropped."""
    from hpc_nc.solvers.quaternion import METRIC_DROP, quaternion_full, structured_pairs

    norms = ops.agree(ops.column_norms(P))
    P = np.asfortranarray(P[:, norms > 0] / norms[norms > 0])
    for _ in range(2):  # twice is enough (Giraud et al., Numer. Math. 101, 87 (2005))
        for B in bases:
            if B is None or not B.shape[1] or not P.shape[1]:
                continue
            # P -= B (Bᴴ P) + T B ((T B)ᴴ P), with (T B)ᴴ P = −conj(Bᴴ T P) and T B c = T(B conj c)
            c = ops.gram(B, np.hstack([P, time_reversal(P)]))
            k = P.shape[1]
            P = P - B @ c[:, :k] + time_reversal(B @ c[:, k:])
        if not P.shape[1]:
            break
        TP = time_reversal(P)
        c = ops.agree(ops.gram(P, np.hstack([P, TP])))
        k = P.shape[1]
        # Gram–Schmidt in the metric: structured_pairs drops a column keeping < METRIC_DROP
        # of its norm (rounding noise kept at 1e-8 was deflated away as a spurious direction
        # and a check solve stagnated); the columns are unit, so the same level as a floor.
        Q = structured_pairs(np.eye(2 * k, k), metric=quaternion_full(c[:, :k], c[:, k:]), floor=METRIC_DROP)
        P = P @ Q[:k] + TP @ Q[k:]
    return np.asfortranarray(P)


def _pair_ritz(A: np.ndarray, G: np.ndarray, sigma: float, key, pairs: int):
    """Harmonic Ritz selection of :func:`harmonic_ritz` on a T-invariant space, one vector
    per Kramers pair: (Y (2q, r) coefficient representatives in key order, theta (r,),
    Z (2q, 2q) every harmonic vector in key order). Y's partners are τ(Y), same θ."""
    from hpc_nc.solvers.quaternion import structured_pairs, tau

    Z = harmonic_vectors(A, G, sigma, key)
    Qh = structured_pairs(Z, count=pairs)
    S = np.hstack([Qh, tau(Qh)])
    As = S.conj().T @ A @ S
    theta, Us = np.linalg.eigh(0.5 * (As + As.conj().T))
    order = sorted(range(len(theta)), key=lambda i: key(theta[i]))
    Ys = structured_pairs(S @ Us[:, order], count=pairs)
    theta = np.real(np.einsum("ij,ik,kj->j", Ys.conj(), A, Ys))
    order = sorted(range(Ys.shape[1]), key=lambda i: key(theta[i]))
    return Ys[:, order], theta[order], Z


def _expand(U: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """V Y for V = [U, T U] and coefficients Y (2q, k): U Y₁ + T(U conj Y₂)."""
    q = U.shape[1]
    return U @ Y[:q] + time_reversal(U @ np.conj(Y[q:]))


def block_davidson_kramers(
    ops: BlockOperators,
    nev: int,
    sigma: float,
    key: Callable[[float], tuple[int, float]],
    res_limit: float,
    *,
    guard: int = 8,
    max_dim: int = 0,
    keep: int = 0,
    max_it: int = 300,
    deflation: np.ndarray | None = None,
    seed: int = 1,
    monitor: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
    retarget_toward: float | None = None,
    max_retargets: int = 2,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """:func:`block_davidson` with a time-reversal invariant search space V = [U, T U].

    Same arguments, results and guarantees (residuals with H, max_it, ConvergenceError), but
    only U and H U are stored and multiplied (hpc_nc/solvers/quaternion.py): half the
    products with H, Gram matrices and projections of the unstructured space, and half its
    memory. Every Ritz pair is exactly degenerate; returned states come as (x, T x) pairs
    in key order (nev rounded up to pairs internally, the first nev returned). The
    expansion of each unconverged pair is K⁻¹ r of its representative (K commutes with T,
    so T K⁻¹ r = K⁻¹ T r is in the space too).
    """
    from hpc_nc.solvers.quaternion import quaternion_full, structured_pairs, tau

    if nev < 1 or guard < 0 or max_it < 1:
        raise HpcNcError(f"block_davidson needs nev >= 1, guard >= 0, max_it >= 1 (got {nev}, {guard}, {max_it})")
    n_pairs = (nev + 1) // 2
    block = nev + guard
    block_pairs = (block + 1) // 2
    keep_pairs = (keep or 2 * block) // 2
    max_dim = max(max_dim or max(2 * keep_pairs + 2 * block, 100), 2 * keep_pairs + block)
    q_max = max_dim // 2  # V = [U, T U] holds at most max_dim columns, as the unstructured space
    bases = []
    if deflation is not None and deflation.shape[1]:
        bases = [_kramers_orthonormalize(ops, deflation, [])]  # T-closed deflation basis
    U = np.zeros((ops.n_local, q_max), dtype=np.complex128, order="F")
    HU = np.zeros_like(U)
    P = ops.precondition(start_block(seed, ops.row_start, ops.n_local, block_pairs))
    P = _kramers_orthonormalize(ops, P, bases)
    q = P.shape[1]
    U[:, :q] = P
    HU[:, :q] = ops.hmult(P)
    a = b = g = h = np.zeros((0, 0), dtype=np.complex128)
    new = q  # columns of U not yet in the small matrices (the last ``new`` ones)
    rnorm = np.full(n_pairs, np.inf)
    retargets = 0
    for iteration in range(1, max_it + 1):
        # extend a = Uᴴ H U, b = Uᴴ T(H U), g = (HU)ᴴ (HU), h = (HU)ᴴ T(HU) by the new columns
        old = q - new
        HN = HU[:, old:q]
        rhs = np.hstack([HN, time_reversal(HN)])
        cu, ch = ops.gram(U[:, :q], rhs), ops.gram(HU[:, :q], rhs)
        a = _grow_hermitian(a, cu[:, :new])
        b = _grow_antisymmetric(b, cu[:, new:])
        g = _grow_hermitian(g, ch[:, :new])
        h = _grow_antisymmetric(h, ch[:, new:])
        A, G = quaternion_full(a, b), quaternion_full(g, h)
        Y, theta, Z = ops.agree(_pair_ritz(A, G, sigma, key, min(block_pairs, q)))
        X, HX = _expand(U[:, :q], Y), _expand(HU[:, :q], Y)
        R = HX - X * theta
        rnorm = ops.agree(ops.column_norms(R))
        converged = rnorm <= res_limit
        if monitor is not None:
            monitor(iteration, np.repeat(theta, 2), np.repeat(rnorm, 2))
        heartbeat.status(
            f"block Davidson iteration {iteration}, largest residual {float(np.max(rnorm)):.1e} eV "
            f"(target {res_limit:.0e})"
        )
        if retarget_toward is not None and retargets < max_retargets and len(theta) >= n_pairs:
            target = _better_target(np.repeat(theta[:n_pairs], 2), rnorm[0], sigma, retarget_toward)
            if target is not None:
                ops.set_shift(target)
                sigma = target
                retargets += 1
        if len(theta) >= n_pairs and converged[:n_pairs].all():
            Xp = X[:, :n_pairs]
            X = np.empty((ops.n_local, 2 * n_pairs), dtype=np.complex128, order="F")
            X[:, 0::2], X[:, 1::2] = Xp, time_reversal(Xp)
            X = np.asfortranarray(X[:, :nev])
            values = np.repeat(theta[:n_pairs], 2)[:nev]
            final = ops.agree(ops.column_norms(ops.hmult(X) - X * values))  # honest residuals
            return values, X, final, iteration
        P = ops.precondition(np.asfortranarray(R[:, ~converged]))
        if q + P.shape[1] > q_max:  # thick restart from the leading harmonic pairs
            Qr = ops.agree(structured_pairs(Z, count=keep_pairs))
            S = np.hstack([Qr, tau(Qr)])
            k = Qr.shape[1]
            U[:, :k], HU[:, :k] = _expand(U[:, :q], Qr), _expand(HU[:, :q], Qr)
            As, Gs = S.conj().T @ A @ S, S.conj().T @ G @ S
            a, b, g, h = As[:k, :k], As[:k, k:], Gs[:k, :k], Gs[:k, k:]
            q = k
        P = _kramers_orthonormalize(ops, P, bases + [U[:, :q]])
        new = P.shape[1]
        if new == 0:
            break  # the space cannot grow: stagnation, reported below
        U[:, q : q + new] = P
        HU[:, q : q + new] = ops.hmult(P)
        q += new
    n_ok = 2 * int(np.sum(rnorm[:n_pairs] <= res_limit))
    worst = float(np.max(rnorm[:n_pairs])) if len(rnorm) else float("inf")
    why = f"in {max_it} iterations" if iteration == max_it else "(the search space stopped growing)"
    raise ConvergenceError(
        f"block Davidson converged {min(n_ok, nev)} of {nev} states near {sigma:.4f} eV {why} "
        f"(largest residual {worst:.2e} eV > {res_limit:.2e} eV); raise max_it or guard"
    )


def _grow_hermitian(m: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """[[m, c_old], [c_oldᴴ, c_new]] from the new columns cols = [c_old; c_new] (Hermitian)."""
    k = m.shape[0]
    c_old, c_new = cols[:k], cols[k:]
    return np.block([[m, c_old], [c_old.conj().T, 0.5 * (c_new + c_new.conj().T)]])


def _grow_antisymmetric(m: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """[[m, c_old], [−c_oldᵀ, c_new]] from the new columns (complex antisymmetric)."""
    k = m.shape[0]
    c_old, c_new = cols[:k], cols[k:]
    return np.block([[m, c_old], [-c_old.T, 0.5 * (c_new - c_new.T)]])
