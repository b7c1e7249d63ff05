"""The gap-state API: the band-edge eigenstates of the tight-binding Hamiltonian.

The electronic stage needs the few electron states just above and the few hole states just
below the gap of a complex Hermitian H with 10^4–10^6 rows. Strategies (backends behind the
one function :func:`solve_gap_states`, chosen by :class:`EigenSettings`; each backend
returns numpy vectors per side, hpc_nc.solvers.sides.SideSolution, and raises
ConvergenceError; this module keeps the wanted states and makes every rank agree):

* ``"shift-invert"``: Krylov–Schur on (H − σ)^-1 with a MUMPS **LU**
  factorisation (Cholesky in a complex PETSc build factors H as complex *symmetric* and
  silently gives wrong eigenvalues; docs/design.md, "Facts about this stack"). By default one
  shift per band edge, just inside the gap (two factorisations, one alive at a time, each
  reused by all rounds of its side). ``single_shift=True`` uses one factorisation at the
  gap centre for both sides (with σ in the gap electrons are the largest and holes the
  most negative θ = 1/(λ − σ), so both are extremal), but the wanted θ are then poorly
  separated and it needed about twice the restarts in the benchmark.
* ``"davidson"``: block Davidson with harmonic Ritz extraction, preconditioned
  by the LDLᵀ factorisation of the spin-orbit-free H₀ − σ (one real 5N block for both
  spins, MUMPS block-low-rank) and expanded with Kramers partners (hpc_nc/solvers/davidson.py).
  The eigenpairs are those of the full H; at 7a it was 7x faster than shift-invert on a
  pure ZnS dot and 14x on an alloy dot, with under a third of its memory
  (benchmarks/RESULTS.md, eigensolver section).
* ``"chebyshev"``: factorisation-free Chebyshev-filtered block subspace iteration on
  (H − σ)² folded around a point of the gap (hpc_nc/solvers/chebyshev.py); memory is H and
  a few blocks of vectors, linear in the atoms: the strategy for dots whose davidson factor
  does not fit (benchmarks/RESULTS.md, strategies side by side).
* ``"auto"`` (default): per task, the faster of davidson and chebyshev among those
  predicted to fit the memory per rank (hpc_nc/solvers/cost.py).
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

The block strategies (davidson, chebyshev) need no Kramers completion (a block of random
vectors sees whole degenerate levels) but run the same deflated check
(hpc_nc.solvers.sides.check_rounds).

Residuals ||H x − λ x|| (eV, x normalised) come from ``EPS.computeError`` (the block
strategies apply H afresh) and must be below
``tol · max(1, ||H||_inf)``; otherwise, or when fewer states converge than asked for, every
rank raises the same :class:`~hpc_nc.errors.ConvergenceError`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from hpc_nc.errors import ConvergenceError, HpcNcError
from hpc_nc.parallel.collective import agree_on_error
from hpc_nc.physics.tight_binding import time_reversal  # noqa: F401 (also this module's API)
from hpc_nc.settings import DEFAULT_SOLVER
from hpc_nc.solvers.davidson import DAVIDSON_PETSC_DEFAULTS  # noqa: F401 (also this module's API)
from hpc_nc.solvers.sides import kept_states, one_sided_key

if TYPE_CHECKING:
    from mpi4py import MPI
    from petsc4py import PETSc

# The strategies of the gap-state API: the one home of this tuple (hpc_nc.io.jobs imports it).
# "auto" is resolved per task by :func:`resolve_strategy` before a solve.
STRATEGIES = ("davidson", "shift-invert", "harmonic", "chebyshev", "auto")
BLOCK_STRATEGIES = ("davidson", "chebyshev")  # block solvers: no look-ahead states, targets at the edges


@dataclass(frozen=True)
class EigenSettings:
    """Solver settings (data; identical on every rank).

    strategy: "davidson" (block Davidson, spin-orbit-free LDLᵀ preconditioner), "shift-invert"
        (MUMPS LU), "harmonic" (factorisation-free Krylov–Schur), "chebyshev" (factorisation-
        free Chebyshev-filtered block subspace iteration, memory linear in the atoms) or
        "auto" (default: chosen per task from predicted time and memory, :func:`resolve_strategy`).
    tol: SLEPc relative tolerance; the absolute residual check is tol·max(1, ||H||_inf) eV.
    max_it: SLEPc maximum restarts per solve (0: SLEPc default); davidson: iterations per
        solve (0: 300); chebyshev: filter iterations per solve (0: 400).
    degree: chebyshev only: degree of the filter polynomial in (H − σ)² per iteration
        (0: hpc_nc.solvers.chebyshev.DEFAULT_DEGREE).
    seed: davidson and chebyshev: seed of the random start blocks (the main solve's; each
        check solve adds its round number), for a second run from a different start.
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
    check_tol: davidson and chebyshev: relative tolerance of the check solve's first pass; it only
        has to place the nearest new state beyond the last kept one (|θ − λ| ≤ residual),
        and is re-run at ``tol`` when that is not clear (see hpc_nc.solvers.sides.check_rounds).
    guard: davidson and chebyshev: block vectors beyond the states asked for (they set the look-
        ahead of the block and the largest degeneracy it resolves from a random start).
    single_shift: shift-invert only: one factorisation at the gap centre for both sides
        (half the factorisation work, but more iterations: see benchmarks/RESULTS.md, eigensolver section).
    degeneracy_tol: eV; eigenvalues closer than this form one degenerate level.
    verify: run the deflated check solve (no new state may appear inside the kept range).
    kramers_space: davidson only: keep the search space time-reversal invariant, V = [U, T U]
        (hpc_nc/solvers/quaternion.py): half the products with H, Gram matrices and
        projections, half the search-space memory, exact Kramers pairs (1.13x less CPU at
        7a). False: the unstructured space of the first version (for comparison).
    max_rounds: solve/verify rounds per side before giving up.
    petsc_options: extra PETSc options (e.g. from the job file, without leading "-"):
        inserted into the options database only where the command line did not set them,
        and removed again afterwards.
    """

    strategy: str = DEFAULT_SOLVER.strategy
    tol: float = DEFAULT_SOLVER.tol
    max_it: int = DEFAULT_SOLVER.max_it
    degree: int = 0
    seed: int = 1
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
    kramers_space: bool = True
    max_rounds: int = 4
    petsc_options: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise HpcNcError(f"unknown eigensolver strategy {self.strategy!r} (use one of {', '.join(STRATEGIES)})")
        if not (self.tol > 0):
            raise HpcNcError(f"eigensolver tol must be > 0, got {self.tol!r}")
        if self.check_states < 1:
            raise HpcNcError(f"check_states must be >= 1, got {self.check_states!r}")
        if self.degree < 0:
            raise HpcNcError(f"degree must be >= 0, got {self.degree!r}")
        if self.seed < 1:
            raise HpcNcError(f"seed must be >= 1, got {self.seed!r}")
        if self.guard < 0:
            raise HpcNcError(f"guard must be >= 0, got {self.guard!r}")
        if self.extra_states is not None and (self.extra_states < 0 or self.extra_states % 2):
            raise HpcNcError(f"extra_states must be even and >= 0, got {self.extra_states!r}")
        if not (self.check_tol > 0):
            raise HpcNcError(f"check_tol must be > 0, got {self.check_tol!r}")

    @property
    def extra(self) -> int:
        """extra_states with the strategy's default filled in: 4 for the SLEPc strategies,
        0 for the block strategies (davidson, chebyshev), whose block already carries ``guard`` vectors beyond the wanted
        states and whose check solve settles a cut through a degenerate level (7a: 20 %
        faster than 4, same states)."""
        if self.extra_states is not None:
            return int(self.extra_states)
        return 0 if self.strategy in BLOCK_STRATEGIES else 4

    @property
    def margin(self) -> float:
        """edge_margin with the strategy's default filled in."""
        if self.edge_margin is not None:
            return float(self.edge_margin)
        return 0.0 if self.strategy in BLOCK_STRATEGIES else 0.02


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


def resolve_strategy(
    settings: EigenSettings, n_rows: int, n_states: int, ranks: int, memory_per_rank_bytes: float | None = None
) -> EigenSettings:
    """The settings with ``strategy: auto`` replaced by the strategy to run (others unchanged).

    auto picks, from :mod:`hpc_nc.solvers.cost` (fits to benchmarks/RESULTS.md), the
    strategy with the smaller predicted time among those whose predicted peak memory per
    rank fits in ``memory_per_rank_bytes`` (None: this machine's available memory divided
    by the ranks on it, :func:`hpc_nc.solvers.cost.memory_per_rank`); when neither is
    predicted to fit, the one with the smaller memory. Deterministic and identical on
    every rank for identical arguments (the caller passes one rank's memory figure to all).
    """
    if settings.strategy != "auto":
        return settings
    from dataclasses import replace

    from hpc_nc.solvers import cost

    budget = cost.memory_per_rank(ranks) if memory_per_rank_bytes is None else memory_per_rank_bytes
    return replace(settings, strategy=cost.choose_strategy(n_rows // 10, n_states, ranks, budget))


def solve_gap_states(
    comm: MPI.Comm,
    H: PETSc.Mat,
    n_electrons: int,
    n_holes: int,
    vbm_estimate: float,
    cbm_estimate: float,
    settings: EigenSettings | None = None,
) -> GapStates:
    """The n_electrons lowest states above and n_holes highest below the gap of H.

    Collective over ``comm`` (the mpi4py communicator of H). H: complex Hermitian PETSc Mat
    (eV), rows distributed in whole atoms (10 rows each). vbm_estimate/cbm_estimate: eV,
    the highest bulk VBM and lowest bulk CBM of the compounds present (the dot's gap
    contains [vbm_estimate, cbm_estimate] up to alloy/strain corrections; only the gap
    centre must lie in the dot's gap). Counts are even (Kramers pairs kept together).
    ``strategy: auto`` is resolved here (:func:`resolve_strategy`, rank 0's memory figure)
    unless the caller did. Every backend returns numpy vectors and raises on failure; every
    rank then raises the same :class:`~hpc_nc.errors.ConvergenceError`.
    All PETSc objects created here are destroyed before returning.
    """
    from hpc_nc.parallel.petsc_build import select_build

    PETSc, _ = select_build("complex")
    settings = settings or EigenSettings()
    for name, n in (("n_electrons", n_electrons), ("n_holes", n_holes)):
        if n < 0 or n % 2:
            raise HpcNcError(f"{name} must be even and >= 0 (Kramers pairs), got {n}")
    if not cbm_estimate > vbm_estimate:
        raise HpcNcError(f"cbm_estimate {cbm_estimate} eV must lie above vbm_estimate {vbm_estimate} eV")
    if settings.strategy == "auto":
        from hpc_nc.solvers import cost

        budget = comm.bcast(cost.memory_per_rank(comm.size), root=0)
        settings = resolve_strategy(settings, H.getSize()[0], n_electrons + n_holes, comm.size, budget)
    if H.getSize()[0] < n_electrons + n_holes + settings.extra + 2:
        raise HpcNcError(f"H has only {H.getSize()[0]} rows for {n_electrons + n_holes} states")
    gap = cbm_estimate - vbm_estimate
    boundary = 0.5 * (vbm_estimate + cbm_estimate)
    if settings.strategy == "shift-invert" and settings.single_shift:
        targets = {"electron": boundary, "hole": boundary}
    else:
        targets = {"electron": cbm_estimate - settings.margin * gap, "hole": vbm_estimate + settings.margin * gap}
    counts = {"electron": n_electrons, "hole": n_holes}
    h_scale = max(1.0, H.norm(PETSc.NormType.INFINITY))  # eV; residual limit = tol * h_scale
    res_limit = settings.tol * h_scale
    t0 = time.perf_counter()
    error, results, extra, out = None, {}, {}, {}
    try:
        if settings.strategy == "davidson":
            from hpc_nc.solvers import davidson

            results, extra = davidson.solve_sides(comm, H, counts, targets, boundary, settings, res_limit)
        elif settings.strategy == "chebyshev":
            from hpc_nc.solvers import chebyshev

            results, extra = chebyshev.solve_sides(comm, H, counts, targets, boundary, settings, res_limit)
        else:
            from hpc_nc.solvers import slepc_backend

            results, extra, res_limit = slepc_backend.solve_sides(comm, H, counts, targets, boundary, settings, h_scale)
        for side, n in counts.items():
            out[side] = kept_states(results[side], n, one_sided_key(side, boundary), settings.degeneracy_tol)
            bad = [r for r in out[side][2] if not r <= res_limit]
            if bad:
                raise ConvergenceError(
                    f"{side} residual {max(bad):.2e} eV above the limit {res_limit:.2e} eV "
                    f"({settings.strategy}); tighten tol or raise max_it"
                )
    except ConvergenceError as exc:
        error = f"{exc}".strip().splitlines()[0]
    seconds = time.perf_counter() - t0
    # Every rank raises the same message (backends decide collectively, but be sure).
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
        "verified": {s: bool(r.verified) for s, r in results.items()},
        "solve_seconds": float(seconds),
        "targets": {
            "electron": float(targets["electron"]),
            "hole": float(targets["hole"]),
            "gap_centre": float(boundary),
        },
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
