"""Structure stage: distributed Keating VFF relaxation of a nanocrystal with PETSc TAO.

Runs in the real PETSc build (TAO has no solvers in complex builds). Positions live in a
PETSc Vec with 3 rows per atom; atoms are owned in contiguous, even blocks (the same split
as the electronic stage's ``atom_ownership``). Every rank evaluates the Keating energy and
gradient of its own atoms with the numpy kernels of :mod:`hpc_nc.physics.vff`, after a VecScatter
gathers the ghost positions it needs (neighbours up to two bonds away). The Hessian (for
``nls``) is a distributed MPIAIJ matrix preallocated exactly from the bond graph.

Convergence is declared on the largest atomic force, max_i |F_i| <= force_tol (eV/Å), a
criterion that does not depend on the dot's size (TAO's own gatol is on the 2-norm of the
whole gradient, which grows as √N). Free boundaries; the energy is invariant under rigid
translations and rotations, and the net force (which should vanish) is projected out of
the gradient and the centroid of the atoms is restored after the solve (preconditioned
search directions may translate the dot; the energy cannot tell).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from hpc_nc.errors import HpcNcError
from hpc_nc.parallel import heartbeat
from hpc_nc.physics.alloy import COMPOUNDS
from hpc_nc.physics.geometry import atom_block
from hpc_nc.physics.vff import (
    VffParameters,
    block_terms,
    bond_length_histogram,
    hydrostatic_strain,
    keating_energy_gradient,
    keating_hessian,
    load_vff,
    mean_bond_strain,
    nanocrystal_terms,
    radial_profile,
)
from hpc_nc.settings import DEFAULT_RELAX

if TYPE_CHECKING:
    from mpi4py import MPI

    from hpc_nc.physics.alloy import AlloyRealisation
    from hpc_nc.physics.geometry import Nanocrystal

# Fixed diagnostic grids (shapes the same for every task of a sweep).
DEFAULT_BOND_LENGTH_EDGES = tuple(np.round(np.linspace(2.0, 3.0, 201), 6))  # Å, 5 mÅ bins
DEFAULT_RADIAL_EDGES = tuple(np.linspace(0.0, 100.0, 101))  # Å, 1 Å shells, covers 15a dots

# TAO solvers that call the Hessian callback.
HESSIAN_TAO_TYPES = frozenset({"nls", "ntr", "ntl", "bnls", "bntr", "bntl", "tron", "gpcg"})


@dataclass(frozen=True)
class RelaxSettings:
    """Solver settings for :func:`relax_structure` (the same on every rank).

    tao_type: TAO solver, "bncg" (nonlinear CG, default), "cg", "lmvm", or "nls" (Newton
        line search with the assembled Hessian). ``-tao_type`` on the command line wins.
    force_tol: convergence when the largest atomic force is below this, eV/Å.
    max_it: iteration limit (``-tao_max_it`` on the command line wins).
    tao_options: extra PETSc options, e.g. {"tao_bncg_type": "prp"}; inserted into the
        options database only where the command line has not set them.
    options_prefix: PETSc options prefix of the TAO object (e.g. "relax_").
    bond_length_edges, radial_edges: Å, the fixed grids of the strain diagnostics.
    """

    tao_type: str = DEFAULT_RELAX.tao_type
    force_tol: float = DEFAULT_RELAX.force_tol
    max_it: int = DEFAULT_RELAX.max_it
    tao_options: dict = field(default_factory=dict)
    options_prefix: str = ""
    bond_length_edges: tuple = DEFAULT_BOND_LENGTH_EDGES
    radial_edges: tuple = DEFAULT_RADIAL_EDGES

    def __post_init__(self):
        if not (np.isfinite(self.force_tol) and self.force_tol > 0):
            raise HpcNcError(f"force_tol must be a positive number of eV/Å, got {self.force_tol!r}")
        if not (isinstance(self.max_it, (int, np.integer)) and self.max_it >= 1):
            raise HpcNcError(f"max_it must be a positive integer, got {self.max_it!r}")


@dataclass(frozen=True, eq=False)
class RelaxedStructure:
    """Result of a relaxation (identical on every rank of the communicator).

    positions: (N, 3) Å. energy_ev: Keating energy at positions; initial_energy_ev at the
    ideal lattice. max_force_ev_per_angstrom: largest atomic force |F_i| at the end. iterations,
    function_evaluations: TAO iterations and energy+gradient evaluations. converged,
    reason: TAO's converged reason (name) — converged=False is reported, never raised.
    Strain diagnostics (fixed shapes):
      bond_length_edges (B+1,) Å and bond_length_histogram (3, B) counts per bond type in
        COMPOUNDS order (Zn–S, In–S, Cu–S);
      mean_bond_strain (3,): mean (d − d0)/d0 per bond type (NaN if absent);
      hydrostatic_strain (N,): ε = (V/V0)^(1/3) − 1 of the tetrahedron of each atom's four
        neighbours vs the ideal ZnS one (V0 = a_ZnS³/24); NaN on surface atoms;
      radial_edges (R+1,) Å and radial_strain (R,): mean hydrostatic strain per shell of
        ideal-lattice radius (NaN where a shell has no bulk-coordinated atom).
    """

    positions: np.ndarray
    energy_ev: float
    initial_energy_ev: float
    max_force_ev_per_angstrom: float
    iterations: int
    function_evaluations: int
    converged: bool
    reason: str
    tao_type: str
    n_ranks: int
    vff_hash: str
    bond_length_edges: np.ndarray
    bond_length_histogram: np.ndarray
    mean_bond_strain: np.ndarray
    hydrostatic_strain: np.ndarray
    radial_edges: np.ndarray
    radial_strain: np.ndarray


def atom_ownership(comm: MPI.Comm, n_atoms: int) -> tuple[int, int]:
    """(atom_start, atom_stop) of this rank: :func:`hpc_nc.physics.geometry.atom_block` (the same
    split as the Hamiltonian's). Not collective."""
    return atom_block(n_atoms, comm.Get_size(), comm.Get_rank())


def _insert_options(PETSc, prefix: str, options: dict) -> list:
    """Put settings' options into the database where absent; returns the names inserted."""
    opts = PETSc.Options()
    inserted = []
    for key, value in options.items():
        name = prefix + str(key).lstrip("-")
        if not opts.hasName(name):  # the command line wins
            opts.setValue(name, "" if value is None else str(value))
            inserted.append(name)
    return inserted


def _strain_diagnostics(nc, terms, positions, settings, params):
    edges_b = np.asarray(settings.bond_length_edges, dtype=np.float64)
    edges_r = np.asarray(settings.radial_edges, dtype=np.float64)
    hyd = hydrostatic_strain(positions, nc.neighbors, params.lattice_constant[0])
    return dict(
        bond_length_edges=edges_b,
        bond_length_histogram=bond_length_histogram(positions, terms, edges_b),
        mean_bond_strain=mean_bond_strain(positions, terms),
        hydrostatic_strain=hyd,
        radial_edges=edges_r,
        radial_strain=radial_profile(hyd, nc.radii, edges_r),
    )


def relax_structure(
    comm: MPI.Comm,
    nc: Nanocrystal,
    alloy: AlloyRealisation,
    settings: RelaxSettings | None = None,
    params: VffParameters | None = None,
) -> RelaxedStructure:
    """Relax the dot's atoms to the Keating energy minimum with TAO. Collective on comm.

    nc: Nanocrystal; alloy: AlloyRealisation of it (compound weights per atom). Returns a
    RelaxedStructure on every rank; non-convergence is reported in it (converged=False,
    reason), not raised. Raises HpcNcError (on all ranks) for unusable input.
    """
    from hpc_nc.parallel.petsc_build import select_build

    PETSc, _ = select_build("real")
    settings = settings or RelaxSettings()
    params = params or load_vff()
    if alloy.compound_weights.shape != (nc.n_atoms, len(COMPOUNDS)):
        raise HpcNcError("alloy realisation does not belong to this nanocrystal (atom counts differ)")
    n = nc.n_atoms
    terms = nanocrystal_terms(nc, alloy, params)
    start, stop = atom_ownership(comm, n)
    local, needed = block_terms(terms, start, stop)
    own_rows = np.searchsorted(needed, np.arange(start, stop))

    x = PETSc.Vec().createMPI((3 * (stop - start), 3 * n), comm=comm)
    x.setBlockSize(3)
    x.array[:] = nc.positions[start:stop].ravel()
    centroid = nc.positions.sum(axis=0)
    ghost = PETSc.Vec().createSeq(3 * needed.size, comm=PETSc.COMM_SELF)
    idx = (3 * needed[:, None] + np.arange(3)).ravel().astype(PETSc.IntType)
    is_from = PETSc.IS().createGeneral(idx, comm=PETSc.COMM_SELF)
    scatter = PETSc.Scatter().create(x, is_from, ghost, None)
    state = {"max_force": np.inf, "n_eval": 0, "x": None}

    def gather(X):
        scatter.scatter(X, ghost, addv=PETSc.InsertMode.INSERT, mode=PETSc.ScatterMode.FORWARD)
        return ghost.getArray(readonly=True).reshape(-1, 3)

    def objgrad(tao, X, G):
        e, g = keating_energy_gradient(gather(X), local)
        g = g[own_rows]
        # The net force of a translation-invariant energy is zero; remove its round-off.
        g -= comm.allreduce(g.sum(axis=0)) / n
        G.array[:] = g.ravel()
        fmax = float(np.sqrt((g * g).sum(axis=1)).max()) if g.size else 0.0
        state["max_force"] = comm.allreduce(fmax, op=_mpi_max())
        state["x"] = X.getArray(readonly=True).copy()
        state["n_eval"] += 1
        heartbeat.status(
            f"VFF relaxation: {state['n_eval']} force evaluations, largest force "
            f"{state['max_force']:.1e} eV/Å (target {settings.force_tol:.0e})"
        )
        return comm.allreduce(e)

    tao = PETSc.TAO().create(comm=comm)
    hess = None
    scratch = x.duplicate()
    try:
        if settings.options_prefix:
            tao.setOptionsPrefix(settings.options_prefix)
        inserted = _insert_options(PETSc, settings.options_prefix, settings.tao_options)
        try:
            tao.setType(settings.tao_type)
        except PETSc.Error:
            raise HpcNcError(f"unknown TAO type {settings.tao_type!r} (this PETSc build)") from None
        tao.setMaximumIterations(int(settings.max_it))
        tao.setObjectiveGradient(objgrad, x.duplicate())

        def max_force_at_solution(tao_) -> float:
            # Line searches evaluate trial points, so the last evaluation need not be the
            # iterate: use it only when it is (all ranks agree), else evaluate afresh.
            X = tao_.getSolution()
            same = state["x"] is not None and np.array_equal(state["x"], X.getArray(readonly=True))
            if not comm.allreduce(same, op=_mpi_land()):
                objgrad(tao_, X, scratch)
            return state["max_force"]

        def converged(tao_):
            if int(tao_.getConvergedReason()) < 0:  # the solver already gave up: keep its reason
                return
            if max_force_at_solution(tao_) <= settings.force_tol:
                tao_.setConvergedReason(PETSc.TAO.Reason.CONVERGED_USER)
            elif tao_.getIterationNumber() >= tao_.getMaximumIterations():
                tao_.setConvergedReason(PETSc.TAO.Reason.DIVERGED_MAXITS)
            else:
                tao_.setConvergedReason(PETSc.TAO.Reason.CONTINUE_ITERATING)

        tao.setConvergenceTest(converged)
        try:
            tao.setFromOptions()  # -tao_type, -tao_max_it, -tao_monitor ... from the command line
        except PETSc.Error as exc:
            raise HpcNcError(
                f"invalid TAO options for the relaxation (PETSc error {exc.ierr}); settings: {settings.tao_options}"
            ) from None
        finally:
            # This call's options must not leak into the next relaxation with other settings.
            opts = PETSc.Options()
            for name in inserted:
                opts.delValue(name)
        if str(tao.getType()) in HESSIAN_TAO_TYPES:
            # Assembled only for second-order solvers: it costs ~40x a gradient evaluation.
            hess = _hessian_matrix(PETSc, comm, local, needed, own_rows, start, stop, n, nc.positions)

            def hessian(tao_, X, H, P):
                _fill_hessian(PETSc, H, keating_hessian(gather(X), local), needed, own_rows)

            tao.setHessian(hessian, hess)
        e0 = objgrad(tao, x, scratch)
        tao.setSolution(x)
        tao.solve()
        reason_code = int(tao.getConvergedReason())
        # Fix the centroid: preconditioned/scaled search directions need not keep the sum
        # of displacements zero, and the energy cannot tell (translation invariance).
        xa = x.getArray().reshape(-1, 3)
        xa -= (comm.allreduce(xa.sum(axis=0)) - centroid) / n
        x.setArray(xa.ravel())
        # Energy and force at the returned point, evaluated afresh.
        energy = objgrad(tao, x, scratch)
        iterations = int(tao.getIterationNumber())
        tao_type = str(tao.getType())
        positions = np.concatenate(comm.allgather(x.getArray(readonly=True).reshape(-1, 3)))
    finally:
        tao.destroy()
        for obj in (hess, scatter, is_from, ghost, scratch, x):
            if obj is not None:
                obj.destroy()
    names = {int(getattr(PETSc.TAO.Reason, r)): r for r in dir(PETSc.TAO.Reason) if r.isupper()}
    converged_ok = reason_code > 0 and state["max_force"] <= settings.force_tol
    reason = names.get(reason_code, str(reason_code))
    if converged_ok:
        reason = f"max atomic force {state['max_force']:.3g} <= {settings.force_tol:g} eV/Å"
    elif reason_code > 0:
        # TAO stopped on a criterion of its own (e.g. -tao_gatol, step or f tolerances)
        # before the force criterion was met: that is not convergence here.
        reason = f"{reason} with max atomic force {state['max_force']:.3g} > {settings.force_tol:g} eV/Å"
    return RelaxedStructure(
        positions=positions,
        energy_ev=float(energy),
        initial_energy_ev=float(e0),
        max_force_ev_per_angstrom=float(state["max_force"]),
        iterations=iterations,
        function_evaluations=int(state["n_eval"]),
        converged=bool(converged_ok),
        reason=reason,
        tao_type=tao_type,
        n_ranks=comm.Get_size(),
        vff_hash=params.content_hash,
        **_strain_diagnostics(nc, terms, positions, settings, params),
    )


def _mpi_max():
    from mpi4py import MPI

    return MPI.MAX


def _mpi_land():
    from mpi4py import MPI

    return MPI.LAND


def _local_hessian_rows(h_csr, needed, own_rows):
    """Rows of the owned atoms with global column numbers (CSR triplet)."""
    rows = (3 * own_rows[:, None] + np.arange(3)).ravel()
    sub = h_csr[rows]
    sub.sort_indices()
    gcols = 3 * needed[sub.indices // 3] + sub.indices % 3
    return sub.indptr, gcols, sub.data


def _hessian_matrix(PETSc, comm, local, needed, own_rows, start, stop, n, positions):
    """MPIAIJ (3N x 3N) with exact preallocation from the bond graph."""
    h = keating_hessian(positions[needed], local)
    indptr, gcols, _ = _local_hessian_rows(h, needed, own_rows)
    lo, hi = 3 * start, 3 * stop
    inside = (gcols >= lo) & (gcols < hi)
    row_of = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    d_nnz = np.bincount(row_of[inside], minlength=indptr.size - 1).astype(PETSc.IntType)
    o_nnz = (np.diff(indptr) - d_nnz).astype(PETSc.IntType)
    mat = PETSc.Mat().createAIJ(((hi - lo, 3 * n), (hi - lo, 3 * n)), nnz=(d_nnz, o_nnz), comm=comm)
    mat.setOption(PETSc.Mat.Option.NEW_NONZERO_ALLOCATION_ERR, True)
    mat.setUp()
    return mat


def _fill_hessian(PETSc, mat, h_csr, needed, own_rows):
    indptr, gcols, data = _local_hessian_rows(h_csr, needed, own_rows)
    mat.zeroEntries()
    mat.setValuesCSR(indptr.astype(PETSc.IntType), gcols.astype(PETSc.IntType), data)
    mat.assemble()
