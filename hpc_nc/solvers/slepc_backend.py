"""The SLEPc backend of the gap-state API: Krylov–Schur "shift-invert" (MUMPS LU) and
"harmonic" (factorisation-free harmonic extraction), each side checked complete.

Called by hpc_nc/solvers/eigensolver.py (the strategies, targets, Kramers completion and
deflated check are described there). Inside, vectors are PETSc Vecs (SLEPc's deflation
space needs them); what leaves :func:`solve_sides` is numpy, gathered on every rank, and
failures leave as :class:`~hpc_nc.errors.ConvergenceError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from hpc_nc.errors import ConvergenceError
from hpc_nc.parallel import heartbeat
from hpc_nc.physics.tight_binding import time_reversal
from hpc_nc.solvers.options import OptionsScope
from hpc_nc.solvers.sides import SideSolution
from hpc_nc.solvers.sides import cluster_bounds as _cluster_bounds
from hpc_nc.solvers.sides import one_sided_key as _one_sided_key

if TYPE_CHECKING:
    from mpi4py import MPI
    from petsc4py import PETSc

    from hpc_nc.solvers.eigensolver import EigenSettings


def _comparison(key):
    def compare(a, b, *args):
        ka, kb = key(complex(a).real), key(complex(b).real)
        return -1 if ka < kb else (1 if ka > kb else 0)

    return compare


class _SideResult:
    def __init__(self):
        self.values: list[float] = []
        self.vectors: list = []  # PETSc Vecs (this backend only)
        self.residuals: list[float] = []
        self.iterations: list[int] = []
        self.n_converged = 0
        self.n_kramers_added = 0
        self.rounds = 0


def _make_eps(PETSc, SLEPc, H, settings, target: float, nev: int):
    """EPS around one target: strategy settings first, then the options database overrides.

    One EPS object serves every round (and, for one shift, both sides): re-solving an EPS
    whose ST is already set up reuses the MUMPS factorisation.
    """
    eps = SLEPc.EPS().create(comm=H.getComm())
    eps.setOperators(H)
    eps.setProblemType(SLEPc.EPS.ProblemType.HEP)
    eps.setType(SLEPc.EPS.Type.KRYLOVSCHUR)
    _set_dimensions(PETSc, eps, settings, nev)
    eps.setTolerances(settings.tol, settings.max_it or PETSc.DECIDE)
    eps.setTarget(target)
    if settings.strategy == "shift-invert":
        st = eps.getST()
        st.setType(SLEPc.ST.Type.SINVERT)
        ksp = st.getKSP()
        ksp.setType("preonly")
        pc = ksp.getPC()
        # LU, never Cholesky: complex Cholesky is complex-symmetric (wrong for Hermitian H).
        pc.setType("lu")
        pc.setFactorSolverType("mumps")
    else:
        eps.setExtraction(SLEPc.EPS.Extraction.HARMONIC)
    eps.setWhichEigenpairs(SLEPc.EPS.Which.TARGET_MAGNITUDE)
    eps.setFromOptions()
    return eps


def _set_dimensions(PETSc, eps, settings, nev: int) -> None:
    if settings.strategy == "shift-invert":
        ncv = settings.ncv or max(2 * nev, nev + 16)
    else:
        # Interior harmonic Ritz values need a wide search space to separate the wanted
        # ones from the many nearby unconverged ones; restarts are cheap (no factorisation).
        ncv = settings.ncv or max(4 * nev, nev + 64)
    # A subspace size given as a PETSc option (command line or job file) wins.
    opts = PETSc.Options()
    if opts.hasName("eps_ncv"):
        ncv = opts.getInt("eps_ncv")
    mpd = opts.getInt("eps_mpd") if opts.hasName("eps_mpd") else (settings.mpd or PETSc.DECIDE)
    eps.setDimensions(nev, max(ncv, nev + 2), mpd)


def _complete_kramers(H, res: _SideResult, key, deg_tol: float, res_limit: float) -> None:
    """Add T v for every vector whose Kramers partner is missing from its level's span."""
    order = sorted(range(len(res.values)), key=lambda i: key(res.values[i]))
    values = [res.values[i] for i in order]
    vecs = [res.vectors[i] for i in order]
    for lo, hi in _cluster_bounds(values, deg_tol):
        level = list(vecs[lo:hi])
        lam = float(np.mean(values[lo:hi]))
        for v in list(level):
            w = v.duplicate()
            w.setArray(time_reversal(v.getArray(readonly=True)))
            for _ in range(2):  # Gram-Schmidt twice for stability
                for u in level:
                    w.axpy(-w.dot(u), u)  # VecDot(w, u) = u^H w
            norm = w.norm()
            if norm < 0.5:  # T v already in the span (norm ~ residual size)
                w.destroy()
                continue
            w.scale(1.0 / norm)
            hw = w.duplicate()
            H.mult(w, hw)
            hw.axpy(-lam, w)
            r = hw.norm()
            hw.destroy()
            if r > res_limit:  # H is not time-reversal invariant: not a partner
                w.destroy()
                continue
            level.append(w)
            res.values.append(lam)
            res.vectors.append(w)
            res.residuals.append(r)
            res.n_kramers_added += 1


def _collect(eps, SLEPc, res: _SideResult, key, H) -> int:
    """Append the converged pairs of the wanted side; return how many were converged."""
    nconv = eps.getConverged()
    res.n_converged += nconv
    res.iterations.append(eps.getIterationNumber())
    for i in range(nconv):
        lam = eps.getEigenvalue(i).real
        if key(lam)[0] != 0:
            continue
        v = H.createVecRight()
        eps.getEigenvector(i, v)
        v.normalize()
        res.values.append(lam)
        res.vectors.append(v)
        res.residuals.append(eps.computeError(i, SLEPc.EPS.ErrorType.ABSOLUTE))
    return nconv


def _solve_side(PETSc, SLEPc, H, eps, n: int, side: str, boundary: float, target: float, settings, res_limit: float):
    """Find the n states of one side nearest the gap, checked complete: (result, verified)."""
    res = _SideResult()
    try:
        return _solve_side_rounds(PETSc, SLEPc, H, eps, res, n, side, boundary, target, settings, res_limit)
    except BaseException:
        for v in res.vectors:  # nobody else will see this side's vectors
            v.destroy()
        raise


def _solve_side_rounds(PETSc, SLEPc, H, eps, res, n, side, boundary, target, settings, res_limit):
    key = _one_sided_key(side, boundary)
    deg = settings.degeneracy_tol
    verified = False
    for round_ in range(settings.max_rounds):
        have = len(res.values)
        if have >= n and (verified or not settings.verify):
            break
        checking = have >= n
        nev = settings.check_states if checking else n - have + settings.extra
        res.rounds = round_ + 1
        _set_dimensions(PETSc, eps, settings, nev)
        eps.setWhichEigenpairs(SLEPc.EPS.Which.USER)
        eps.setEigenvalueComparison(_comparison(key))
        eps.setDeflationSpace(res.vectors)  # empty list clears the previous side's space
        heartbeat.status(f"SLEPc {settings.strategy}: {side} states, round {round_ + 1}")
        eps.solve()
        before = len(res.values)
        nconv = _collect(eps, SLEPc, res, key, H)
        if nconv < nev:
            raise ConvergenceError(
                f"SLEPc ({settings.strategy}) converged {nconv} of {nev} {side} states near "
                f"{target:.4f} eV in round {round_ + 1}; raise max_it or ncv, or check the targets"
            )
        new_values = res.values[before:]
        _complete_kramers(H, res, key, deg, res_limit)
        if checking:
            last_kept = sorted(res.values[:before], key=key)[n - 1]
            verified = all(key(v) > key(last_kept) and abs(v - last_kept) > deg for v in new_values)
    if len(res.values) < n:
        raise ConvergenceError(
            f"SLEPc ({settings.strategy}) found {len(res.values)} of {n} {side} states after "
            f"{settings.max_rounds} rounds; raise extra_states or max_rounds"
        )
    if settings.verify and not verified:
        raise ConvergenceError(
            f"SLEPc ({settings.strategy}) kept finding skipped {side} states after "
            f"{settings.max_rounds} rounds; raise extra_states or ncv"
        )
    return res, verified


def solve_sides(
    comm: MPI.Comm,
    H: PETSc.Mat,
    counts: Mapping[str, int],
    targets: Mapping[str, float],
    boundary: float,
    settings: EigenSettings,
    h_scale: float,
) -> tuple[dict[str, SideSolution], dict[str, object], float]:
    """Both sides with SLEPc Krylov–Schur: ({side: SideSolution}, extra diagnostics, residual
    limit). counts: {"electron": n_e, "hole": n_h}; targets: eV per side. Raises
    ConvergenceError (a PETSc error becomes one, with its code)."""
    from hpc_nc.parallel.petsc_build import select_build

    PETSc, SLEPc = select_build("complex")
    results, solvers = {}, {}
    res_limit = settings.tol * h_scale
    dim = H.getSize()[0]
    try:
        with OptionsScope(PETSc, settings.petsc_options):
            for side in ("electron", "hole"):
                n = counts[side]
                if n == 0:
                    results[side] = SideSolution.empty(dim)
                    continue
                target = targets[side]
                if target not in solvers:
                    solvers[target] = _make_eps(PETSc, SLEPc, H, settings, target, n + settings.extra)
                    # A looser -eps_tol from the command line loosens the residual check too.
                    res_limit = max(settings.tol, solvers[target].getTolerances()[0]) * h_scale
                res, verified = _solve_side(
                    PETSc, SLEPc, H, solvers[target], n, side, boundary, target, settings, res_limit
                )
                results[side] = _to_numpy(comm, res, verified)
                if side == "electron" and targets["hole"] != target:
                    # Free this side's factorisation before the other side builds its own.
                    solvers.pop(target).destroy()
    except PETSc.Error as exc:
        raise ConvergenceError(
            f"SLEPc/PETSc failed in the {settings.strategy} eigensolve: error code {getattr(exc, 'ierr', '?')}"
        ) from None
    finally:
        for eps in solvers.values():
            eps.destroy()
    return results, {}, res_limit


def _to_numpy(comm, res: _SideResult, verified: bool) -> SideSolution:
    """Gather the side's Vecs on every rank as numpy columns and destroy them."""
    try:
        dim = res.vectors[0].getSize() if res.vectors else 0
        vectors = (
            np.column_stack([_gather(comm, v) for v in res.vectors])
            if res.vectors
            else np.zeros((dim, 0), np.complex128)
        )
    finally:
        for v in res.vectors:
            v.destroy()
    return SideSolution(
        values=np.array(res.values, float),
        vectors=vectors,
        residuals=np.array(res.residuals, float),
        iterations=list(res.iterations),
        rounds=res.rounds,
        n_converged=res.n_converged,
        n_kramers_added=res.n_kramers_added,
        verified=bool(verified),
    )


def _gather_rows(comm, local: np.ndarray) -> np.ndarray:
    """Full copy on every rank of an array distributed by rows (rank order = ownership order)."""
    return np.concatenate(comm.allgather(np.ascontiguousarray(local)), axis=0)


def _gather(comm, vec) -> np.ndarray:
    """Full copy of a distributed Vec on every rank."""
    return _gather_rows(comm, np.array(vec.getArray(readonly=True), dtype=np.complex128))
