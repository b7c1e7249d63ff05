"""Interior eigenstates of the tight-binding Hamiltonian with SLEPc: the band-edge states.

The electronic stage needs the few electron states just above and the few hole states just
below the gap of a complex Hermitian H with 10^4–10^6 rows. Strategies (backends behind the
one function :func:`solve_gap_states`, chosen by :class:`EigenSettings`):

* ``"shift-invert"``: Krylov–Schur on (H − σ)^-1 with a MUMPS **LU**
  factorisation (Cholesky in a complex PETSc build factors H as complex *symmetric* and
  silently gives wrong eigenvalues; DESIGN.md, "Facts about this stack"). By default one
  shift per band edge, just inside the gap (two factorisations, one alive at a time, each
  reused by all rounds of its side). ``single_shift=True`` uses one factorisation at the
  gap centre for both sides (with σ in the gap electrons are the largest and holes the
  most negative θ = 1/(λ − σ), so both are extremal), but the wanted θ are then poorly
  separated and it needed about twice the restarts in the benchmark.
* ``"davidson"`` (default): block Davidson with harmonic Ritz extraction, preconditioned
  by the LDLᵀ factorisation of the spin-orbit-free H₀ − σ (one real 5N block for both
  spins, MUMPS block-low-rank) and expanded with Kramers partners (hpc_nc/solvers/davidson.py).
  The eigenpairs are those of the full H; at 7a it was 7x faster than shift-invert on a
  pure ZnS dot and 14x on an alloy dot, with under a third of its memory
  (benchmarks/RESULTS.md, eigensolver section).
* ``"harmonic"``: factorisation-free Krylov–Schur with harmonic Ritz extraction around a
  target placed just inside the gap next to each band edge, with a larger subspace.
  Memory is a few dozen vectors; cost is many matrix–vector products.
(A folded-spectrum variant, smallest eigenvalues of (H − σ)^2 through a shell operator,
was tried and dropped: slower than harmonic extraction and short of converged states with
SLEPc's default iteration limit; see benchmarks/RESULTS.md, eigensolver section.)

Why "one-sided" ordering: a single target at mid-gap, sorted by distance, can return only
hole states (the hole density of states is much higher, measured on a CuS/ZnS dot). We
therefore sort with a user comparison that prefers, for the electron solve, states above
the gap centre in ascending order and, for the hole solve, states below it in descending
order. The gap centre m = (vbm_estimate + cbm_estimate)/2 lies inside the dot's gap because
quantum confinement widens the gap of the bulk constituents (electron states move up
from the lowest bulk CBM, hole states down from the highest bulk VBM), assuming alloy
disorder and strain move the edges by less than half the bulk gap (true in every test case;
if violated, a hole state above the gap centre would be counted as an electron).

Why targets inside the gap, not at the bulk edges: Krylov methods converge fastest for the
eigenvalues closest to the target, and confinement moves every wanted state *away* from the
bulk edge, so a target a little inside the gap (a fraction ``edge_margin`` of the bulk gap)
is as close as one can safely get to e_1 and h_1 while staying on the gap side of them, so
that the wanted states are the nearest ones on their side.

Completeness. Krylov methods started from one vector see only one direction of a degenerate
eigenspace in exact arithmetic; every level here is at least a Kramers pair and cubic dots
have 4-fold levels, so a partner can be missed. After each solve we (1) add the Kramers
partner T v (T = iσ_y K, local to each atom's 10 rows) of every vector whose partner is not
in the span found, checking its residual, and (2) solve again with all found vectors as a
deflation space: the nearest *new* state must lie beyond the last state kept, otherwise it
was missing and is merged, and the check repeats. Only that nearest new state decides, so
the check asks for ``check_states`` (2) states, not a full look-ahead block; the criterion
is unchanged. (Kramers completion alone cannot replace the check: when Krylov has seen one
direction v of a 4-fold level, span{v, T v} is T-closed and the level's other pair stays
invisible; the deflated solve finds it: tests/test_eigensolver.py,
test_check_solve_finds_the_hidden_pair_of_a_fourfold_level.) The kept count is even and,
where it would cut a degenerate level, the kept part of that level is made closed under T (whole
Kramers pairs).

Residuals ||H x − λ x|| (eV, x normalised) come from ``EPS.computeError`` and must be below
``tol · max(1, ||H||_inf)``; otherwise, or when fewer states converge than asked for, every
rank raises the same :class:`~hpc_nc.errors.ConvergenceError`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from hpc_nc.physics.tight_binding import time_reversal  # noqa: F401 (also this module's API)
from hpc_nc.errors import ConvergenceError, HpcNcError
from hpc_nc.parallel import heartbeat
from hpc_nc.parallel.collective import agree_on_error
from hpc_nc.settings import DEFAULT_SOLVER

STRATEGIES = ("davidson", "shift-invert", "harmonic")

# PETSc options of the davidson preconditioner's MUMPS factorisation (prefix "davidson_"),
# used where neither the command line nor the job file sets them. Block low-rank at 1e-3
# halves the 7a factorisation time and shrinks the factor; the preconditioner need not be
# exact (the spin-orbit term is left out of it anyway), and at 5a the iteration count was
# unchanged at 1e-3 (it grew at 1e-2). benchmarks/RESULTS.md, eigensolver section.
DAVIDSON_PETSC_DEFAULTS = {"davidson_mat_mumps_icntl_35": 2, "davidson_mat_mumps_cntl_7": 1e-3}



@dataclass(frozen=True)
class EigenSettings:
    """Solver settings (data; identical on every rank).

    strategy: "davidson" (block Davidson, spin-orbit-free LDLᵀ preconditioner), "shift-invert"
        (MUMPS LU) or "harmonic" (factorisation-free).
    tol: SLEPc relative tolerance; the absolute residual check is tol·max(1, ||H||_inf) eV.
    max_it: SLEPc maximum restarts per solve (0: SLEPc default); davidson: iterations per
        solve (0: 300).
    ncv, mpd: subspace sizes (0: chosen per strategy from the number of states asked). For
        davidson ncv is the largest search space (raised to the minimum the block needs).
    extra_states: states asked for beyond the wanted count on each side (look-ahead that
        makes the cut between kept and dropped states visible).
    edge_margin: fraction of the bulk gap by which the targets sit inside the gap
        (None: 0.02 for the SLEPc strategies, 0.07 eV for ZnS; 0 for davidson, whose
        harmonic extraction does not need the target on the gap side of the states and
        converged in 10-20 % fewer iterations at the bulk edge than 0.02 inside it; davidson
        also moves its target to the states once it has located them). Only speed depends
        on it: the side of a state is decided by the gap centre, not by the target. Closer targets separate the wanted
        θ = 1/(λ − σ) better (0.02 instead of 0.1 cut a shift-invert solve's triangular
        solves by ~1.5x at 4a; benchmarks/RESULTS.md, eigensolver section); a state that
        confinement does not push past the target (alloy/strain) is still found (in
        shift-invert as an extremal negative θ), only more slowly.
    check_states: states asked for in the deflated check solve; only the nearest new state
        decides the check, so 2 (one Kramers pair) suffices and halves its cost vs 4.
    check_tol: davidson only: relative tolerance of the check solve's first pass; it only
        has to place the nearest new state beyond the last kept one (|θ − λ| ≤ residual),
        and is re-run at ``tol`` when that is not clear (see :func:`_davidson_side`).
    guard: davidson only: block vectors beyond the states asked for (they set the look-
        ahead of the block and the largest degeneracy it resolves from a random start).
    single_shift: shift-invert only: one factorisation at the gap centre for both sides
        (half the factorisation work, but more iterations: see benchmarks/RESULTS.md, eigensolver section).
    degeneracy_tol: eV; eigenvalues closer than this form one degenerate level.
    verify: run the deflated check solve (no new state may appear inside the kept range).
    max_rounds: solve/verify rounds per side before giving up.
    petsc_options: extra PETSc options (e.g. from the job file, without leading "-"):
        inserted into the options database only where the command line did not set them,
        and removed again afterwards.
    """

    strategy: str = DEFAULT_SOLVER.strategy
    tol: float = DEFAULT_SOLVER.tol
    max_it: int = DEFAULT_SOLVER.max_it
    ncv: int = DEFAULT_SOLVER.ncv
    mpd: int = 0
    extra_states: int | None = None
    edge_margin: float | None = None
    check_states: int = 2
    check_tol: float = 1e-5
    guard: int = 6
    single_shift: bool = False
    degeneracy_tol: float = 1e-6
    verify: bool = True
    max_rounds: int = 4
    petsc_options: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise HpcNcError(f"unknown eigensolver strategy {self.strategy!r} (use one of {', '.join(STRATEGIES)})")
        if not (self.tol > 0):
            raise HpcNcError(f"eigensolver tol must be > 0, got {self.tol!r}")
        if self.check_states < 1:
            raise HpcNcError(f"check_states must be >= 1, got {self.check_states!r}")
        if self.guard < 0:
            raise HpcNcError(f"guard must be >= 0, got {self.guard!r}")
        if self.extra_states is not None and (self.extra_states < 0 or self.extra_states % 2):
            raise HpcNcError(f"extra_states must be even and >= 0, got {self.extra_states!r}")
        if not (self.check_tol > 0):
            raise HpcNcError(f"check_tol must be > 0, got {self.check_tol!r}")

    @property
    def extra(self) -> int:
        """extra_states with the strategy's default filled in: 4 for the SLEPc strategies,
        0 for davidson, whose block already carries ``guard`` vectors beyond the wanted
        states and whose check solve settles a cut through a degenerate level (7a: 20 %
        faster than 4, same states)."""
        if self.extra_states is not None:
            return int(self.extra_states)
        return 0 if self.strategy == "davidson" else 4

    @property
    def margin(self) -> float:
        """edge_margin with the strategy's default filled in."""
        if self.edge_margin is not None:
            return float(self.edge_margin)
        return 0.0 if self.strategy == "davidson" else 0.02


@dataclass(frozen=True, eq=False)
class GapStates:
    """Band-edge eigenpairs, identical on every rank of the communicator.

    electron_energies: (n_e,) eV ascending; hole_energies: (n_h,) eV descending.
    electron_vectors: (10N, n_e) complex128; hole_vectors: (10N, n_h) complex128; unit norm.
    residuals: (n_e + n_h,) eV, ||H x − λ x|| for electrons then holes.
    diagnostics: strategy, n_converged, iterations, solve_seconds, targets, rounds, ...
    """

    electron_energies: np.ndarray
    hole_energies: np.ndarray
    electron_vectors: np.ndarray
    hole_vectors: np.ndarray
    residuals: np.ndarray
    diagnostics: dict



def _as_option_value(value) -> str | None:
    if value is None or value is True:
        return None  # a flag
    if value is False:
        return "false"
    return str(value)


class _OptionsScope:
    """Insert options the command line did not give; remove exactly those on exit."""

    def __init__(self, PETSc, options: Mapping[str, object]):
        self._db = PETSc.Options()
        self._inserted: list[str] = []
        self._options = dict(options)

    def __enter__(self):
        for key, value in self._options.items():
            name = str(key).lstrip("-")
            if not self._db.hasName(name):
                self._db.setValue(name, _as_option_value(value))
                self._inserted.append(name)
        return self

    def __exit__(self, *exc):
        for name in self._inserted:
            self._db.delValue(name)
        return False


def _one_sided_key(side: str, boundary: float):
    """Sort key: wanted side first, nearest to the gap centre first."""
    if side == "electron":
        return lambda lam: (0 if lam > boundary else 1, abs(lam - boundary))
    return lambda lam: (0 if lam < boundary else 1, abs(lam - boundary))


def _comparison(key):
    def compare(a, b, *args):
        ka, kb = key(complex(a).real), key(complex(b).real)
        return -1 if ka < kb else (1 if ka > kb else 0)

    return compare


class _SideResult:
    def __init__(self):
        self.values: list[float] = []
        self.vectors: list = []  # PETSc Vecs
        self.residuals: list[float] = []
        self.iterations: list[int] = []
        self.n_converged = 0
        self.n_kramers_added = 0
        self.rounds = 0
        self.final_target: float | None = None  # davidson: the target after any move


def _make_eps(PETSc, SLEPc, H, settings: EigenSettings, target: float, nev: int):
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


def _set_dimensions(PETSc, eps, settings: EigenSettings, nev: int) -> None:
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


def _cluster_bounds(values, tol: float) -> list[tuple[int, int]]:
    """Index ranges [i, j) of consecutive (sorted) values closer than tol: the degenerate
    levels, by the same rule the observables use (hpc_nc.physics.observables.degenerate_levels)."""
    from hpc_nc.physics.observables import degenerate_levels

    return degenerate_levels(values, tol)


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


def _solve_side(PETSc, SLEPc, H, eps, n: int, side: str, boundary: float, target: float,
                settings: EigenSettings, res_limit: float):
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


def _kept_states(res: _SideResult, n: int, key, deg_tol: float):
    """Sort, keep n; a degenerate level cut by the boundary keeps a T-closed subspace."""
    order = sorted(range(len(res.values)), key=lambda i: key(res.values[i]))
    values = [res.values[i] for i in order]
    arrays = [res.vectors[i] for i in order]
    resid = [res.residuals[i] for i in order]
    split = False
    for lo, hi in _cluster_bounds(values, deg_tol):
        if lo < n < hi:
            split = True
            level = np.column_stack(arrays[lo:hi])  # gathered numpy vectors
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
    for lo, hi in _cluster_bounds(values[:n], deg_tol):
        if hi - lo > 1:
            block = kept[:, lo:hi]
            w, u = np.linalg.eigh(block.conj().T @ block)
            kept[:, lo:hi] = block @ (u * (1.0 / np.sqrt(w))) @ u.conj().T
    return np.array(values[:n]), kept, np.array(resid[:n]), split


def _gather_rows(comm, local: np.ndarray) -> np.ndarray:
    """Full copy on every rank of an array distributed by rows (rank order = ownership order)."""
    return np.concatenate(comm.allgather(np.ascontiguousarray(local)), axis=0)


def _gather(comm, vec) -> np.ndarray:
    """Full copy of a distributed Vec on every rank."""
    return _gather_rows(comm, np.array(vec.getArray(readonly=True), dtype=np.complex128))


def _slepc_sides(PETSc, SLEPc, H, n_electrons, n_holes, targets, boundary, settings, h_scale):
    """Both sides with SLEPc Krylov–Schur: (results, verified, error or None, res_limit, extra
    diagnostics)."""
    results, verified, solvers = {}, {}, {}
    res_limit = settings.tol * h_scale
    error = None
    try:
        with _OptionsScope(PETSc, settings.petsc_options):
            for side, n in (("electron", n_electrons), ("hole", n_holes)):
                if n == 0:
                    results[side], verified[side] = _SideResult(), True
                    continue
                target = targets[side]
                if target not in solvers:
                    solvers[target] = _make_eps(PETSc, SLEPc, H, settings, target, n + settings.extra)
                    # A looser -eps_tol from the command line loosens the residual check too.
                    res_limit = max(settings.tol, solvers[target].getTolerances()[0]) * h_scale
                results[side], verified[side] = _solve_side(
                    PETSc, SLEPc, H, solvers[target], n, side, boundary, target, settings, res_limit)
                if side == "electron" and targets["hole"] != target:
                    # Free this side's factorisation before the other side builds its own.
                    solvers.pop(target).destroy()
    except (ConvergenceError, PETSc.Error) as exc:
        error = f"{exc}".strip().splitlines()[0] if isinstance(exc, ConvergenceError) else \
            f"SLEPc/PETSc failed in the {settings.strategy} eigensolve: error code {getattr(exc, 'ierr', '?')}"
    finally:
        for eps in solvers.values():
            eps.destroy()
    return results, verified, error, res_limit, {}


def _davidson_side(ops, n, side, boundary, target, settings, res_limit):
    """One side with the block Davidson solver: (_SideResult with gathered vectors, verified).

    Main solve: n + extra states (default 0 here: the check below is the look-ahead).
    Check (``verify``): a fresh random block deflated against every state found must find
    nothing on the near side of the last kept state. Its first pass stops at the looser
    ``check_tol``: a new state θ with residual r is placed within r of an eigenvalue, which
    decides the check when |θ − λ_last| > r + degeneracy_tol. Otherwise (a state that was
    missed, or too close to tell) the check is repeated at ``tol`` and its states are merged,
    and the check runs again (at most ``max_rounds`` rounds in all).
    """
    from hpc_nc.solvers.davidson import block_davidson

    key = _one_sided_key(side, boundary)
    deg = settings.degeneracy_tol
    loose = max(settings.check_tol / settings.tol, 1.0) * res_limit  # the check's first pass
    options = dict(guard=settings.guard, max_dim=settings.ncv, max_it=settings.max_it or 300)
    ops.set_shift(target)
    res = _SideResult()
    theta, X, resid, its = block_davidson(ops, n + settings.extra, target, key, res_limit, seed=1,
                                          retarget_toward=boundary, **options)
    target = ops.shift  # the check solves use the (possibly moved) target and its factorisation
    res.iterations.append(its)
    res.rounds = 1
    verified = not settings.verify
    while len(theta) < n or not verified:
        if res.rounds >= settings.max_rounds:
            raise ConvergenceError(f"block Davidson kept finding skipped {side} states after "
                                   f"{settings.max_rounds} rounds; raise guard or max_rounds")
        seed = 1 + res.rounds
        res.rounds += 1
        if len(theta) < n:  # fewer than asked for (defensive): find the rest, deflated
            t_new, X_new, r_new, its = block_davidson(ops, n - len(theta), target, key, res_limit,
                                                      deflation=X, seed=seed, **options)
            res.iterations.append(its)
        else:
            last_kept = sorted(theta, key=key)[n - 1]

            def beyond(values, margins):
                return all(key(v) > key(last_kept) and abs(v - last_kept) > deg + m
                           for v, m in zip(values, margins))

            t_new, X_new, r_new, its = block_davidson(ops, settings.check_states, target, key, loose,
                                                      deflation=X, seed=seed, **options)
            res.iterations.append(its)
            if beyond(t_new, r_new):
                verified = True
                break
            if loose > res_limit:  # not clear at the loose tolerance: converge the same check fully
                t_new, X_new, r_new, its = block_davidson(ops, settings.check_states, target, key, res_limit,
                                                          deflation=X, seed=seed, **options)
                res.iterations.append(its)
            if beyond(t_new, np.zeros(len(t_new))):
                verified = True
                break
        # Merge the new states (orthogonal to X already) and check again.
        theta = np.concatenate([theta, t_new])
        X = np.hstack([X, X_new])
        resid = np.concatenate([resid, r_new])
    res.final_target = float(target)
    res.values = [float(v) for v in theta]
    res.residuals = [float(r) for r in resid]
    full = _gather_rows(ops.comm, X)
    res.vectors = [full[:, j].copy() for j in range(full.shape[1])]
    res.n_converged = len(theta)
    return res, verified


def _davidson_sides(comm, PETSc, H, n_electrons, n_holes, targets, boundary, settings, res_limit):
    """Both sides with the block Davidson solver: as :func:`_slepc_sides`."""
    from hpc_nc.solvers.davidson import BlockOperators
    from hpc_nc.parallel.petsc_build import blas_threads

    results, verified, extra = {}, {}, {}
    error = None
    ops = None
    try:
        with _OptionsScope(PETSc, {**DAVIDSON_PETSC_DEFAULTS, **settings.petsc_options}), blas_threads(1):
            ops = BlockOperators(comm, H)
            for side, n in (("electron", n_electrons), ("hole", n_holes)):
                if n == 0:
                    results[side], verified[side] = _SideResult(), True
                    continue
                results[side], verified[side] = _davidson_side(ops, n, side, boundary, targets[side], settings,
                                                               res_limit)
            extra = {"preconditioner_factor_seconds": float(ops.factor_seconds),
                     "preconditioner_solves": int(ops.n_solves),
                     "preconditioner_rhs": int(ops.n_rhs), "h_block_products": int(ops.n_mults),
                     "final_targets": {s: r.final_target for s, r in results.items()}}
    except (ConvergenceError, PETSc.Error) as exc:
        error = f"{exc}".strip().splitlines()[0] if isinstance(exc, ConvergenceError) else \
            f"PETSc/MUMPS failed in the davidson eigensolve: error code {getattr(exc, 'ierr', '?')}"
    finally:
        if ops is not None:
            ops.destroy()
    return results, verified, error, res_limit, extra


def solve_gap_states(comm, H, n_electrons: int, n_holes: int, vbm_estimate: float, cbm_estimate: float,
                     settings: EigenSettings | None = None) -> GapStates:
    """The n_electrons lowest states above and n_holes highest below the gap of H.

    Collective over ``comm`` (the mpi4py communicator of H). H: complex Hermitian PETSc Mat
    (eV), rows distributed in whole atoms (10 rows each). vbm_estimate/cbm_estimate: eV,
    the highest bulk VBM and lowest bulk CBM of the compounds present (the dot's gap
    contains [vbm_estimate, cbm_estimate] up to alloy/strain corrections; only the gap
    centre must lie in the dot's gap). Counts are even (Kramers pairs kept together).
    All PETSc objects created here are destroyed before returning.
    """
    from hpc_nc.parallel.petsc_build import select_build

    PETSc, SLEPc = select_build("complex")
    settings = settings or EigenSettings()
    for name, n in (("n_electrons", n_electrons), ("n_holes", n_holes)):
        if n < 0 or n % 2:
            raise HpcNcError(f"{name} must be even and >= 0 (Kramers pairs), got {n}")
    if not cbm_estimate > vbm_estimate:
        raise HpcNcError(f"cbm_estimate {cbm_estimate} eV must lie above vbm_estimate {vbm_estimate} eV")
    if H.getSize()[0] < n_electrons + n_holes + settings.extra + 2:
        raise HpcNcError(f"H has only {H.getSize()[0]} rows for {n_electrons + n_holes} states")
    gap = cbm_estimate - vbm_estimate
    boundary = 0.5 * (vbm_estimate + cbm_estimate)
    if settings.strategy == "shift-invert" and settings.single_shift:
        targets = {"electron": boundary, "hole": boundary}
    else:
        targets = {"electron": cbm_estimate - settings.margin * gap,
                   "hole": vbm_estimate + settings.margin * gap}
    h_scale = max(1.0, H.norm(PETSc.NormType.INFINITY))  # eV; residual limit = tol * h_scale
    res_limit = settings.tol * h_scale
    t0 = time.perf_counter()
    if settings.strategy == "davidson":
        results, verified, error, res_limit, extra = _davidson_sides(
            comm, PETSc, H, n_electrons, n_holes, targets, boundary, settings, res_limit)
    else:
        results, verified, error, res_limit, extra = _slepc_sides(
            PETSc, SLEPc, H, n_electrons, n_holes, targets, boundary, settings, h_scale)
    seconds = time.perf_counter() - t0
    out = {}
    try:
        if error is None:
            for side, n in (("electron", n_electrons), ("hole", n_holes)):
                res = results[side]
                key = _one_sided_key(side, boundary)
                if settings.strategy != "davidson":  # davidson's vectors are gathered already
                    petsc_vectors, res.vectors = res.vectors, [_gather(comm, v) for v in res.vectors]
                    for v in petsc_vectors:
                        v.destroy()
                out[side] = _kept_states(res, n, key, settings.degeneracy_tol)
                bad = [r for r in out[side][2] if not r <= res_limit]
                if bad:
                    error = (f"{side} residual {max(bad):.2e} eV above the limit {res_limit:.2e} eV "
                             f"({settings.strategy}); tighten tol or raise max_it")
    finally:
        for res in results.values():
            for v in res.vectors:
                if hasattr(v, "destroy"):
                    v.destroy()
    # Every rank raises the same message (SLEPc results are replicated, but be sure).
    error = agree_on_error(comm, error)
    if error:
        raise ConvergenceError(error)
    dim = H.getSize()[0]

    def part(side, n):
        if n == 0:
            return np.zeros(0), np.zeros((dim, 0), np.complex128), np.zeros(0)
        values, vectors, resid, _ = out[side]
        return values, vectors, resid

    e_val, e_vec, e_res = part("electron", n_electrons)
    h_val, h_vec, h_res = part("hole", n_holes)
    diagnostics = {
        "strategy": settings.strategy,
        "n_converged": int(sum(r.n_converged for r in results.values())),
        "iterations": [int(i) for r in results.values() for i in r.iterations],
        "rounds": {s: r.rounds for s, r in results.items()},
        "kramers_partners_added": int(sum(r.n_kramers_added for r in results.values())),
        "split_degenerate_level": {s: bool(out[s][3]) for s in out},
        "verified": dict(verified),
        "solve_seconds": float(seconds),
        "targets": {"electron": float(targets["electron"]), "hole": float(targets["hole"]),
                    "gap_centre": float(boundary)},
        "residual_limit": float(res_limit),
        "tol": settings.tol,
        **extra,
    }
    return GapStates(
        electron_energies=e_val,
        hole_energies=h_val,
        electron_vectors=e_vec,
        hole_vectors=h_vec,
        residuals=np.concatenate([e_res, h_res]),
        diagnostics=diagnostics,
    )
