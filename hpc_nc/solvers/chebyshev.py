"""Chebyshev-filtered block subspace iteration for the band-edge states: no factorisation.

Why this strategy exists (benchmarks/RESULTS.md, eigensolver section): the davidson
preconditioner's LDLᵀ factor grows like a 3-D nested-dissection factor (7a -> 10a: atoms
2.9x, memory 3.2x; a 15a dot extrapolates to 20-25 GB). This solver needs only products
with H, so its memory is H plus a few blocks of 10N-vectors: linear in the atoms.

Filter (Zhou & Saad, SIAM J. Matrix Anal. Appl. 29, 954 (2007) and Zhou, Saad, Tiago &
Chelikowsky, J. Comput. Phys. 219, 172 (2006) for filtered subspace iteration; the
interior-window idea as in the EVSL filters of Li, Xi, Erlandson & Saad, SIAM J. Sci.
Comput. 38, A2512 (2016)). One side, say the electrons: the wanted states are the lowest
above the gap centre c. With a cut D (eV, a distance from c: the filter window is
(c, c + D)) fold H around the point σ = c + D/2 inside the gap:

    F = (H − σ)²,   μ = (λ − σ)²,   damped interval [μ_cut, μ_max] with μ_cut = (D/2)².

Every hole state (λ < c) has |λ − σ| > D/2 and every electron state beyond the window too,
so all unwanted states lie in the damped interval, where the Chebyshev polynomial
T_m(ℓ(μ)) (ℓ maps [μ_cut, μ_max] onto [−1, 1]) is bounded by 1, while the states in the
window (the lowest electrons, nearest σ) are amplified like cosh(m·acosh|ℓ(μ)|). Folding
around a point of the *gap* is what makes the filter cheap: interior eigenvalues become the
lowest of F, and the separation that matters is (λ_b+1 − λ_n)·(λ_b+1 + λ_n − 2σ), the level
spacing times about the gap, not the level spacing alone. A polynomial of degree m in F
costs 2m products with H per vector. μ_max comes from Gershgorin discs of H (a safe bound:
an eigenvalue beyond it would be amplified without limit).

Iteration (one side; holes are the mirror image, distances measured downward from c):
  V orthonormal, T-invariant (span{X, T X}), b = nev + guard columns (rounded up to pairs).
  Rayleigh–Ritz with F, then with H inside F's window (:func:`folded_ritz`: no spurious
  interior Ritz values): θ, X = V Y, the window's sorted by the one-sided key (wanted side
  first, nearest to c first); residuals R = H X − X θ; stop when the leading nev have
  ||r|| ≤ res_limit (the residual is recomputed with a fresh H product on return).
  Leading converged states are locked at level boundaries (deflated, no longer filtered),
  and the block shrinks by as many.
  Otherwise the cut D follows the block: D = the largest wanted-side distance in the
  block once θ₁ is located (r₁ < d₁/10), never above 1.8 d₁ (σ stays below the lowest
  state) and widened 1.5x while fewer than nev wanted-side Ritz values lie in the window.
  Filter only one member of each Kramers pair (representatives S, :func:`kramers_selection`):
  p(H) commutes with time reversal T = iσ_y K, so p(H) T s = T p(H) s, and the next space
  is span{p(F) S, T p(F) S}: half the products, and the space stays T-invariant, so Ritz
  values come in exact Kramers pairs.
  The scaled three-term recurrence (Zhou et al. 2006) keeps the lowest μ at O(1), so no
  overflow at any degree.

Completeness, as for davidson: a block of b ≥ nev + guard random vectors sees every
direction of a degenerate level of multiplicity below b; the caller's deflated check
solve (hpc_nc/solvers/sides.py) runs this solver again from a fresh random block
orthogonal to the states found and accepts only if no new state lies on the near side of
the last kept one; residuals are ||H x − θ x|| with the full H.

Kernels here are plain numpy (:func:`gershgorin_bounds`, :func:`chebyshev_filter`,
:func:`next_cut`); :func:`block_chebyshev` runs one solve on a
:class:`~hpc_nc.solvers.block.BlockSpace` (``comm`` explicit there).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from hpc_nc.errors import ConvergenceError, HpcNcError
from hpc_nc.parallel import heartbeat
from hpc_nc.physics.tight_binding import time_reversal
from hpc_nc.solvers.block import BlockSpace, start_block
from hpc_nc.solvers.options import OptionsScope

if TYPE_CHECKING:
    from mpi4py import MPI
    from petsc4py import PETSc

    from hpc_nc.solvers.eigensolver import EigenSettings
    from hpc_nc.solvers.sides import SideSolution

DEFAULT_DEGREE = 48  # degree in F = (H − σ)²: 96 products with H per vector and iteration (2a-3a: fewer products in all than 16 or 32)
DEFAULT_MAX_IT = 400
log = logging.getLogger(__name__)  # one line per iteration at DEBUG (long runs: progress)


# ----------------------------------------------------------------------------- numpy kernels
def gershgorin_bounds(
    indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, row_start: int
) -> tuple[float, float]:
    """(lower, upper) eV: every eigenvalue of the Hermitian H lies inside the union of the
    Gershgorin discs of these local CSR rows (global columns) and those of the other ranks
    (combine with min/max). Pure numpy."""
    indptr = np.asarray(indptr)
    n_rows = len(indptr) - 1
    if n_rows == 0:
        return np.inf, -np.inf
    rows = np.repeat(np.arange(n_rows), np.diff(indptr))
    diag_mask = np.asarray(indices) == rows + row_start
    diag = np.zeros(n_rows)
    np.add.at(diag, rows[diag_mask], np.real(np.asarray(values)[diag_mask]))
    radius = np.bincount(rows[~diag_mask], weights=np.abs(np.asarray(values)[~diag_mask]), minlength=n_rows)
    return float(np.min(diag - radius)), float(np.max(diag + radius))


def chebyshev_filter(
    apply_f: Callable[[np.ndarray], np.ndarray], X: np.ndarray, degree: int, cut: float, top: float, low: float
) -> np.ndarray:
    """p(F) X with p the degree-``degree`` Chebyshev polynomial of the first kind mapped
    to damp [cut, top] (|p| ≤ 1/|T_m(ℓ(low))| there), scaled so that p(low) = 1.

    apply_f: callable, F applied to a block; F Hermitian with spectrum in [0, top] (any
    eigenvalue above ``top`` would be amplified: top must be an upper bound).
    low < cut: the point where p = 1 (an estimate of F's lowest eigenvalue; 0 is safe).
    The scaled recurrence of Zhou, Saad, Tiago & Chelikowsky (2006): s_k = T_{k-1}(ℓ(low))
    / T_k(ℓ(low)) carried along, so no intermediate block grows beyond O(1).
    """
    if degree < 1:
        raise HpcNcError(f"Chebyshev filter degree must be >= 1, got {degree}")
    if not (low < cut < top):
        raise HpcNcError(f"Chebyshev filter needs low < cut < top, got {low}, {cut}, {top}")
    half = 0.5 * (top - cut)
    centre = 0.5 * (top + cut)
    s = half / (low - centre)  # 1/ℓ(low), in (−1, 0)
    s1 = s
    Y = (apply_f(X) - centre * X) * (s1 / half)
    for _ in range(2, degree + 1):
        s_new = 1.0 / (2.0 / s1 - s)
        Y_new = (apply_f(Y) - centre * Y) * (2.0 * s_new / half) - X * (s * s_new)
        X, Y, s = Y, Y_new, s_new
    return Y


def next_cut(
    distances: np.ndarray, residuals: np.ndarray, reach: float, nev: int, farthest: float, widest: float
) -> float:
    """The filter window's next far end (a distance from the opposite bound, eV). Pure.

    distances: the window's wanted-side Ritz values as distances from the opposite bound
    (the gap centre, or the other side's first state), ascending; residuals: theirs (eV);
    reach: the current far end; farthest: the distance of the block's farthest F-Ritz
    state (an upper bound on the block's reach by interlacing for F); widest: the largest
    sensible reach (the spectrum's extent). Rule (module docstring): widen 1.5x while fewer
    than nev lie inside the window; once the nearest is located (residual below a tenth of
    its distance) follow the block's farthest state (as CheFSI sets its cut at the block's
    largest Ritz value), never inside the nev-th wanted state plus its residual and at most
    1.8x the nearest distance (the fold point σ = opposite + reach/2 then stays below the
    lowest state).
    """
    if len(distances) < nev:
        return float(min(1.5 * reach, widest))
    if not residuals[0] < 0.1 * distances[0]:
        return float(reach)
    return float(min(max(farthest, distances[nev - 1] + residuals[nev - 1]), 1.8 * distances[0], widest))


def folded_ritz(
    A: np.ndarray, G: np.ndarray, sigma: float, mu_cut: float, key: Callable[[float], tuple[int, float]]
) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Ritz extraction for the filtered block, from A = Vᴴ H V and G = (H V)ᴴ (H V), V orthonormal.

    First Rayleigh–Ritz with F = (H − σ)² (its matrix is G − 2σA + σ², no further product):
    the wanted states are F's lowest, so its Ritz vectors below μ_cut (the filter window)
    carry no spurious mixture of window states with damped ones, which a plain Rayleigh–
    Ritz with H produces for interior values (a Ritz value in the gap that never converges
    and, being nearest the gap centre, would be taken as wanted). Then Rayleigh–Ritz with
    H inside that window subspace separates states of equal μ (σ ± d). Returns
    (theta, Y, n_window, mu_max): the window's Ritz values sorted by ``key`` first, then the other
    F-Ritz vectors (ascending μ) with their H Rayleigh quotients; Y (m, m) orthonormal;
    mu_max: F's largest Ritz value in the block. Pure.
    """
    m = A.shape[0]
    A = 0.5 * (A + A.conj().T)
    F = 0.5 * (G + G.conj().T) - 2.0 * sigma * A + sigma**2 * np.eye(m)
    mu, Z = np.linalg.eigh(F)
    n_window = int(np.sum(mu < mu_cut))
    Zw, Zr = Z[:, :n_window], Z[:, n_window:]
    theta_w, U = np.linalg.eigh(Zw.conj().T @ A @ Zw)
    order = sorted(range(n_window), key=lambda i: key(theta_w[i]))
    Yw = (Zw @ U)[:, order]
    theta_r = np.real(np.einsum("ij,ik,kj->j", Zr.conj(), A, Zr))
    return np.concatenate([theta_w[order], theta_r]), np.hstack([Yw, Zr]), n_window, float(mu[-1])


# ----------------------------------------------------------------------------- distributed
def spectrum_bounds(space: BlockSpace, steps: int = 40, seed: int = 7) -> tuple[float, float]:
    """(lower, upper) eV bounds of the distributed H's spectrum, identical on every rank.

    Gershgorin discs are safe but loose for these Hamiltonians (2a ZnS: [−38, 42] eV for a
    spectrum [−14, 26.5] eV), and the filter's cost grows with the bound. So the bound is
    the extreme Ritz value of a ``steps``-step Lanczos run plus its residual β_k|z_k| and
    1 % of the spread (after Zhou & Li, Linear Algebra Appl. 435, 480 (2011): a bound in
    practice, not a theorem; the extremes converge first in Lanczos), never beyond the
    Gershgorin discs. An eigenvalue beyond it would slow the filter down (it is amplified),
    never make a result wrong: residuals and the check decide. The Lanczos vectors are
    fully reorthogonalised (steps is small)."""
    from mpi4py import MPI

    indptr, indices, values = space.H.getValuesCSR()
    lo, hi = gershgorin_bounds(indptr, indices, values, space.row_start)
    del indptr, indices, values
    lo, hi = space.comm.allreduce(lo, op=MPI.MIN), space.comm.allreduce(hi, op=MPI.MAX)
    steps = max(2, min(steps, space.n_global - 1))
    Q = np.zeros((space.n_local, steps), dtype=np.complex128, order="F")
    q = start_block(seed, space.row_start, space.n_local, 1)[:, 0]
    q = q / space.column_norms(q[:, None])[0]
    alpha, beta = [], []
    for j in range(steps):
        Q[:, j] = q
        w = space.hmult(q[:, None])[:, 0]
        a = float(np.real(space.gram(q[:, None], w[:, None])[0, 0]))
        w = w - Q[:, : j + 1] @ space.gram(Q[:, : j + 1], w[:, None])[:, 0]
        w = w - Q[:, : j + 1] @ space.gram(Q[:, : j + 1], w[:, None])[:, 0]
        b = float(space.column_norms(w[:, None])[0])
        alpha.append(a)
        beta.append(b)
        if b == 0.0:
            break
        q = w / b
    k = len(alpha)
    T = np.diag(alpha) + np.diag(beta[: k - 1], 1) + np.diag(beta[: k - 1], -1)
    ritz, Z = np.linalg.eigh(T)
    # residual of an extreme Ritz pair: beta_k |last component of its vector|; plus 1 % of
    # the spread as a guard against an extreme eigenvalue the run has not yet resolved
    guard = 0.01 * (ritz[-1] - ritz[0])
    lower = max(lo, ritz[0] - beta[k - 1] * abs(Z[-1, 0]) - guard)
    upper = min(hi, ritz[-1] + beta[k - 1] * abs(Z[-1, -1]) + guard)
    return space.agree((float(lower), float(upper)))


def block_chebyshev(
    space: BlockSpace,
    nev: int,
    key: Callable[[float], tuple[int, float]],
    res_limit: float,
    boundary: float,
    side: int,
    bounds: tuple[float, float],
    opposite: float,
    cut: float,
    *,
    guard: int = 6,
    degree: int = DEFAULT_DEGREE,
    max_it: int = DEFAULT_MAX_IT,
    deflation: np.ndarray | None = None,
    seed: int = 1,
    degeneracy_tol: float = 1e-6,
    monitor: Callable[[int, np.ndarray, np.ndarray, float], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, float]:
    """The ``nev`` leading eigenpairs of H by ``key`` on one side of the gap centre.

    boundary: the gap centre c (eV); side: +1 for electrons (λ > c), −1 for holes; key:
    the one-sided sort key of that side (hpc_nc.solvers.sides.one_sided_key). bounds:
    (lower, upper) eV bounds of H's spectrum (:func:`spectrum_bounds`). opposite (eV): no
    state of the other side lies nearer than this (c when nothing is known; the other
    side's first state once it is solved: the fold point then moves away from the wanted
    states, which separates them better). cut: the first window's far end (eV), beyond the
    wanted states if possible (widened automatically otherwise). res_limit: eV, every
    returned pair has ||H x − θ x|| ≤ res_limit. deflation: local rows (n_local, d) of
    orthonormal vectors to stay orthogonal to. Returns (theta (nev,), X (n_local, nev)
    orthonormal, residuals (nev,), iterations, the last cut (eV)). Raises ConvergenceError
    (same message on every rank) after ``max_it`` iterations.
    """
    if nev < 1 or guard < 0 or max_it < 1 or degree < 1:
        raise HpcNcError(
            f"block_chebyshev needs nev >= 1, guard >= 0, max_it >= 1, degree >= 1 "
            f"(got {nev}, {guard}, {max_it}, {degree})"
        )
    if side not in (1, -1) or not side * (boundary - opposite) >= 0 or not side * (cut - boundary) > 0:
        raise HpcNcError(
            f"block_chebyshev needs side +1 or -1, the opposite bound behind the gap centre and "
            f"the cut beyond it (got {side}, {opposite}, {boundary}, {cut})"
        )
    lower, upper = bounds
    widest = max(upper - opposite, opposite - lower)
    reach = side * (cut - opposite)  # the window (opposite, cut) as a distance
    block = nev + guard + (nev + guard) % 2  # whole Kramers pairs
    D = deflation if deflation is not None and deflation.shape[1] else None
    S = start_block(seed, space.row_start, space.n_local, block // 2)
    V = space.orthonormalize(np.hstack([S, time_reversal(S)]), [D] if D is not None else [])
    # Locked (converged, leading, whole levels): no longer filtered; the rest stays orthogonal.
    locked_X = np.zeros((space.n_local, 0), dtype=np.complex128, order="F")
    locked_theta = np.zeros(0)
    rnorm = np.full(nev, np.inf)
    sigma = opposite + side * 0.5 * reach
    for iteration in range(1, max_it + 1):
        active = nev - len(locked_theta)
        bases = [B for B in (D, locked_X) if B is not None and B.shape[1]]
        W = space.hmult(V)
        A, G = space.gram(V, W), space.gram(W, W)
        theta, Y, n_window, mu_max = space.agree(folded_ritz(A, G, sigma, (0.5 * reach) ** 2, key))
        X, HX = V @ Y, W @ Y
        del W
        rnorm = space.agree(space.column_norms(HX - X * theta))
        del HX
        if monitor is not None:
            monitor(
                iteration,
                np.concatenate([locked_theta, theta]),
                np.concatenate([np.zeros(len(locked_theta)), rnorm]),
                opposite + side * reach,
            )
        heartbeat.status(
            f"Chebyshev filter iteration {iteration}, largest residual "
            f"{float(np.max(rnorm[:active])) if active > 0 else 0.0:.1e} eV"
        )
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "side %+d nev %d (%d locked) it %d: theta %.6f .. %.6f max residual %.2e eV, window to %.4f eV",
                side,
                nev,
                len(locked_theta),
                iteration,
                theta[0],
                theta[min(active, len(theta)) - 1],
                float(np.max(rnorm[:active])),
                opposite + side * reach,
            )
        wanted = side * (theta - boundary) > 0
        good = (np.arange(len(theta)) < n_window) & wanted & (rnorm <= res_limit)
        if good[:active].all():
            X = np.asfortranarray(np.hstack([locked_X, X[:, :active]]))
            theta = np.concatenate([locked_theta, theta[:active]])
            final = space.agree(space.column_norms(space.hmult(X) - X * theta))
            return theta, X, final, iteration, float(opposite + side * reach)
        # Lock the leading converged states up to a level boundary (never split a level).
        n_lock = int(np.argmin(good[:active]))  # leading run of converged wanted states
        while n_lock > 0 and abs(theta[n_lock] - theta[n_lock - 1]) <= degeneracy_tol:
            n_lock -= 1
        if n_lock:
            locked_X = np.asfortranarray(np.hstack([locked_X, X[:, :n_lock]]))
            locked_theta = np.concatenate([locked_theta, theta[:n_lock]])
            bases = [B for B in (D, locked_X) if B is not None and B.shape[1]]
            X, theta, rnorm, n_window = X[:, n_lock:], theta[n_lock:], rnorm[n_lock:], n_window - n_lock
            wanted = wanted[n_lock:]
            active -= n_lock
        in_window = wanted & (np.arange(len(theta)) < n_window)
        dist = side * (theta[in_window] - opposite)
        if iteration > 1:  # the first Ritz values are those of the random start: filter first
            reach = next_cut(
                dist, rnorm[in_window], reach, active, side * (sigma - opposite) + np.sqrt(max(mu_max, 0.0)), widest
            )
        sigma = opposite + side * 0.5 * reach
        top = max(upper - sigma, sigma - lower) ** 2
        mu_cut = (0.5 * reach) ** 2
        low = (dist[0] - 0.5 * reach) ** 2 if len(dist) and dist[0] > 0.5 * reach else 0.0
        low = min(low, 0.5 * mu_cut)

        def apply_f(Z, sigma=sigma):
            HZ = space.hmult(Z) - sigma * Z
            return space.hmult(HZ) - sigma * HZ

        reps = space.kramers_representatives(np.asfortranarray(X))
        P = chebyshev_filter(apply_f, np.asfortranarray(X[:, reps]), degree, mu_cut, top, low)
        del X
        V = space.orthonormalize(np.hstack([P, time_reversal(P)]), bases)
        size = active + guard + (active + guard) % 2
        if V.shape[1] < size:  # lost directions (rank-deficient filtered block): refill
            extra = start_block(seed + 1000 * iteration, space.row_start, space.n_local, (size - V.shape[1] + 1) // 2)
            V = np.hstack([V, space.orthonormalize(np.hstack([extra, time_reversal(extra)]), bases + [V])])
    rnorm = np.concatenate([np.zeros(len(locked_theta)), rnorm])
    n_ok = int(np.sum(rnorm[:nev] <= res_limit))
    worst = float(np.max(rnorm[:nev])) if len(rnorm) else float("inf")
    raise ConvergenceError(
        f"Chebyshev filter converged {n_ok} of {nev} states on the {'electron' if side > 0 else 'hole'} side "
        f"in {max_it} iterations (largest residual {worst:.2e} eV > {res_limit:.2e} eV); raise max_it or degree"
    )


# ----------------------------------------------------------------------------- the backend
def solve_sides(
    comm: MPI.Comm,
    H: PETSc.Mat,
    counts: Mapping[str, int],
    targets: Mapping[str, float],
    boundary: float,
    settings: EigenSettings,
    res_limit: float,
) -> tuple[dict[str, SideSolution], dict[str, object]]:
    """Both sides with the Chebyshev filter: ({side: SideSolution}, extra diagnostics).

    Order: electron main solve, hole main solve, then the deflated checks of both
    (hpc_nc/solvers/sides.py, :func:`check_rounds`), so each solve after the first folds
    around a point between the other side's first state and its own window (the opposite
    bound; the gap centre while the other side is unknown): a larger distance to the fold
    point separates the wanted states better (module docstring). The first window reaches
    half the distance gap centre -> target beyond the target. Raises ConvergenceError (a
    PETSc error becomes one, with its code)."""
    import time

    from hpc_nc.parallel.petsc_build import blas_threads, select_build
    from hpc_nc.solvers.sides import BlockRun, SideSolution, block_solution, check_rounds, one_sided_key

    PETSc, _ = select_build("complex")
    sign = {"electron": 1, "hole": -1}
    degree = settings.degree or DEFAULT_DEGREE
    max_it = settings.max_it or DEFAULT_MAX_IT
    space = BlockSpace(comm, H)
    runs, cuts, keys = {}, {}, {}
    results = {}
    t0 = time.perf_counter()
    try:
        with OptionsScope(PETSc, settings.petsc_options), blas_threads(1):
            bounds = spectrum_bounds(space)

            def opposite(side):  # nearest possible state of the other side (eV)
                other = "hole" if side == "electron" else "electron"
                run = runs.get(other)
                if run is None or not len(run.theta):
                    return boundary
                found = run.theta[sign[other] * (run.theta - boundary) > 0]
                return float(found[np.argmin(np.abs(found - boundary))]) if len(found) else boundary

            def solver(side):
                def solve(nev, limit, deflation, seed):
                    theta, X, resid, its, cuts[side] = block_chebyshev(
                        space,
                        nev,
                        keys[side],
                        limit,
                        boundary,
                        sign[side],
                        bounds,
                        opposite(side),
                        cuts[side],
                        guard=settings.guard,
                        degree=degree,
                        max_it=max_it,
                        deflation=deflation,
                        seed=seed + settings.seed - 1,
                        degeneracy_tol=settings.degeneracy_tol,
                    )
                    return theta, X, resid, its

                return solve

            for side in ("electron", "hole"):
                if counts[side]:
                    keys[side] = one_sided_key(side, boundary)
                    cuts[side] = targets[side] + 0.5 * (targets[side] - boundary)
                    theta, X, resid, its = solver(side)(counts[side] + settings.extra, res_limit, None, 1)
                    runs[side] = BlockRun(theta, X, resid, [its])
            for side in ("electron", "hole"):
                if counts[side]:
                    check_rounds(
                        runs[side],
                        solver(side),
                        counts[side],
                        side,
                        keys[side],
                        settings,
                        res_limit,
                        "Chebyshev-filtered subspace iteration",
                    )
                    results[side] = block_solution(space, runs[side])
                else:
                    results[side] = SideSolution.empty(space.n_global)
    except PETSc.Error as exc:
        raise ConvergenceError(
            f"PETSc failed in the chebyshev eigensolve: error code {getattr(exc, 'ierr', '?')}"
        ) from None
    extra = {
        "h_block_products": int(space.n_mults),
        "filter_degree": int(degree),
        "spectrum_bounds": [float(b) for b in bounds],
        "final_cuts": {s: float(c) for s, c in cuts.items()},
        "filter_seconds": float(time.perf_counter() - t0),
    }
    return results, extra
