"""What every gap-state backend shares: the one-sided order, the deflated completeness check
of the block solvers, and the post-processing of one side (kept states, T-closed cuts).

A backend (SLEPc in hpc_nc/solvers/slepc_backend.py, davidson in
hpc_nc/solvers/davidson.py, chebyshev in hpc_nc/solvers/chebyshev.py) returns, per side,
a :class:`SideSolution` of numpy arrays (vectors gathered on every rank) and raises
:class:`~hpc_nc.errors.ConvergenceError` when it cannot deliver; the public API
(hpc_nc/solvers/eigensolver.py) keeps the wanted states (:func:`kept_states`) and makes
every rank raise the same error. Why one-sided order and the check: see the docstring of
hpc_nc/solvers/eigensolver.py and docs/design.md (eigensolver strategies).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from hpc_nc.errors import ConvergenceError
from hpc_nc.physics.tight_binding import time_reversal

if TYPE_CHECKING:
    from hpc_nc.solvers.block import BlockSpace
    from hpc_nc.solvers.eigensolver import EigenSettings


def one_sided_key(side: str, boundary: float) -> Callable[[float], tuple[int, float]]:
    """Sort key: wanted side first, nearest to the gap centre first."""
    if side == "electron":
        return lambda lam: (0 if lam > boundary else 1, abs(lam - boundary))
    return lambda lam: (0 if lam < boundary else 1, abs(lam - boundary))


def cluster_bounds(values: Sequence[float] | np.ndarray, tol: float) -> list[tuple[int, int]]:
    """Index ranges [i, j) of consecutive (sorted) values closer than tol: the degenerate
    levels, by the same rule the observables use (hpc_nc.physics.observables.degenerate_levels)."""
    from hpc_nc.physics.observables import degenerate_levels

    return degenerate_levels(values, tol)


@dataclass
class SideSolution:
    """One side as a backend found it: every state found (not yet cut to the count asked).

    values: (k,) eV; vectors: (10N, k) complex128, full copy on every rank, unit norm;
    residuals: (k,) eV, ||H x − λ x||; iterations: per solve; rounds: solves incl. checks.
    """

    values: np.ndarray
    vectors: np.ndarray
    residuals: np.ndarray
    iterations: list[int] = field(default_factory=list)
    rounds: int = 0
    n_converged: int = 0
    n_kramers_added: int = 0
    verified: bool = False
    final_target: float | None = None

    @classmethod
    def empty(cls, dim: int) -> SideSolution:
        return cls(np.zeros(0), np.zeros((dim, 0), np.complex128), np.zeros(0), verified=True)


@dataclass
class BlockRun:
    """State of one side of a block solver between its main solve and its checks (local rows)."""

    theta: np.ndarray
    X: np.ndarray
    resid: np.ndarray
    iterations: list[int]
    rounds: int = 1
    verified: bool = False


def check_rounds(
    run: BlockRun,
    solve: Callable[[int, float, np.ndarray, int], tuple[np.ndarray, np.ndarray, np.ndarray, int]],
    n: int,
    side: str,
    key: Callable[[float], tuple[int, float]],
    settings: EigenSettings,
    res_limit: float,
    method: str,
) -> None:
    """The deflated completeness check of a block solver, updating ``run`` in place.

    solve(nev, tol, deflation, seed) -> (theta, X, residuals, iterations): one block solve
    from a fresh random block (seed) orthogonal to ``deflation`` (local rows).
    Check (``settings.verify``): a solve deflated against every state found must find
    nothing on the near side of the last kept state. Its first pass stops at the looser
    ``settings.check_tol``: a new state θ with residual r is placed within r of an
    eigenvalue, which decides the check when |θ − λ_last| > r + degeneracy_tol. Otherwise (a
    state that was missed, or too close to tell) the check is repeated at ``res_limit`` and
    its states are merged, and the check runs again (at most ``max_rounds`` rounds in all).
    Fewer states than asked (defensive): the rest are solved for, deflated.
    """
    deg = settings.degeneracy_tol
    loose = max(settings.check_tol / settings.tol, 1.0) * res_limit  # the check's first pass
    run.verified = not settings.verify
    while len(run.theta) < n or not run.verified:
        if run.rounds >= settings.max_rounds:
            raise ConvergenceError(
                f"{method} kept finding skipped {side} states after "
                f"{settings.max_rounds} rounds; raise guard or max_rounds"
            )
        seed = 1 + run.rounds
        run.rounds += 1
        if len(run.theta) < n:
            t_new, X_new, r_new, its = solve(n - len(run.theta), res_limit, run.X, seed)
            run.iterations.append(its)
        else:
            last_kept = sorted(run.theta, key=key)[n - 1]

            def beyond(values, margins):
                return all(
                    key(v) > key(last_kept) and abs(v - last_kept) > deg + m  # noqa: B023 (called in this pass)
                    for v, m in zip(values, margins)
                )

            t_new, X_new, r_new, its = solve(settings.check_states, loose, run.X, seed)
            run.iterations.append(its)
            if beyond(t_new, r_new):
                run.verified = True
                break
            if loose > res_limit:  # not clear at the loose tolerance: converge the same check fully
                t_new, X_new, r_new, its = solve(settings.check_states, res_limit, run.X, seed)
                run.iterations.append(its)
            if beyond(t_new, np.zeros(len(t_new))):
                run.verified = True
                break
        # Merge the new states (orthogonal to X already) and check again.
        run.theta = np.concatenate([run.theta, t_new])
        run.X = np.hstack([run.X, X_new])
        run.resid = np.concatenate([run.resid, r_new])


def block_solution(space: BlockSpace, run: BlockRun, final_target: float | None = None) -> SideSolution:
    """A :class:`SideSolution` from a finished block run (vectors gathered on every rank)."""
    return SideSolution(
        values=np.asarray(run.theta, float),
        vectors=space.gather_rows(run.X),
        residuals=np.asarray(run.resid, float),
        iterations=list(run.iterations),
        rounds=run.rounds,
        n_converged=len(run.theta),
        verified=run.verified,
        final_target=final_target,
    )


def kept_states(
    res: SideSolution, n: int, key: Callable[[float], tuple[int, float]], deg_tol: float
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, bool]:
    """Sort, keep n; a degenerate level cut by the boundary keeps a T-closed subspace.

    Returns (values (n,), vectors (10N, n) or None when n = 0, residuals (n,), split)."""
    order = sorted(range(len(res.values)), key=lambda i: key(res.values[i]))
    values = [float(res.values[i]) for i in order]
    arrays = [res.vectors[:, i] for i in order]
    resid = [float(res.residuals[i]) for i in order]
    split = False
    for lo, hi in cluster_bounds(values, deg_tol):
        if lo < n < hi:
            split = True
            level = np.column_stack(arrays[lo:hi])
            basis = []
            pool = [level[:, j] for j in range(level.shape[1])]
            while len(basis) < n - lo:
                v = pool.pop(0)
                for b in basis:
                    v = v - np.vdot(b, v) * b
                nv = np.linalg.norm(v)
                if nv < 0.5:
                    continue
                v = v / nv
                tv = time_reversal(v)
                for b in basis:
                    tv = tv - np.vdot(b, tv) * b
                basis += [v, tv / np.linalg.norm(tv)]
            for j, b in enumerate(basis):
                arrays[lo + j] = b
    if not n:
        return np.array(values[:n]), None, np.array(resid[:n]), split
    kept = np.column_stack(arrays[:n])
    # Vectors of one level come from different solves (Krylov, Kramers partners T v, the
    # deflated check solve) and are orthogonal only to ~tol; a symmetric (Lowdin)
    # orthonormalisation inside each level fixes that without leaving the level's subspace.
    for lo, hi in cluster_bounds(values[:n], deg_tol):
        if hi - lo > 1:
            block = kept[:, lo:hi]
            w, u = np.linalg.eigh(block.conj().T @ block)
            kept[:, lo:hi] = block @ (u * (1.0 / np.sqrt(w))) @ u.conj().T
    return np.array(values[:n]), kept, np.array(resid[:n]), split
