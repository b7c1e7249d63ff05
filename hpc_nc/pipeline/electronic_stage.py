"""Electronic stage (complex PETSc build): structure -> Hamiltonian -> gap states -> observables.

One task = one (x_Cu, x_In, core radius, shell thickness, VBO, model, realisation) point. VCA and NSTR build their
ideal-lattice dot here; STR reads its relaxed positions from the structures file written by
the structure stage (``hpc-nc relax``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from hpc_nc.io.jobs import Task
from hpc_nc.io.schema import species_codes
from hpc_nc.physics.alloy import COMPOUNDS, realise_alloy, virtual_crystal
from hpc_nc.physics.geometry import build_nanocrystal
from hpc_nc.settings import AnalysisSection, ElectronicSettings, SolverSection

if TYPE_CHECKING:
    from mpi4py import MPI

    from hpc_nc.physics.alloy import AlloyRealisation
    from hpc_nc.physics.exciton import AnalysisSettings
    from hpc_nc.physics.geometry import Nanocrystal
    from hpc_nc.physics.materials import Material
    from hpc_nc.solvers.eigensolver import EigenSettings, GapStates


def build_alloy(nc: Nanocrystal, task: Task) -> AlloyRealisation:
    if task.model == "VCA":
        return virtual_crystal(nc, task.x_cu, task.x_in)
    return realise_alloy(nc, task.x_cu, task.x_in, task.seed)


def band_edge_estimates(mats: Mapping[str, Material], alloy: AlloyRealisation) -> tuple[float, float]:
    """Highest bulk VBM and lowest bulk CBM (eV) among the compounds present in the dot.

    Confinement pushes the dot's states into the gap, so [vbm, cbm] lies inside (or at the
    edges of) the dot's gap; the eigensolver targets the band edges from inside it.
    """
    present = [name for j, name in enumerate(COMPOUNDS) if alloy.compound_weights[:, j].any()]
    return max(mats[c].vbm for c in present), min(mats[c].cbm for c in present)


def eigen_settings(solver: SolverSection) -> EigenSettings:
    """The eigensolver's settings from the job's solver section."""
    from hpc_nc.solvers.eigensolver import EigenSettings

    return EigenSettings(
        strategy=solver.strategy,
        tol=solver.tol,
        max_it=solver.max_it,
        ncv=solver.ncv,
        petsc_options=dict(solver.petsc_options),
    )


def resolved_eigen_settings(comm: MPI.Comm, settings: ElectronicSettings, n_rows: int) -> EigenSettings:
    """Collective: the eigensolver settings with ``strategy: auto`` resolved for this task
    (hpc_nc.solvers.eigensolver.resolve_strategy), from rank 0's memory figure so that every
    rank of the group runs the same strategy."""
    from hpc_nc.solvers import cost
    from hpc_nc.solvers.eigensolver import resolve_strategy

    eigen = eigen_settings(settings.solver)
    if eigen.strategy != "auto":
        return eigen
    budget = comm.bcast(cost.memory_per_rank(comm.size), root=0)
    n_states = settings.states.electrons + settings.states.holes
    return resolve_strategy(eigen, n_rows, n_states, comm.size, budget)


def analysis_settings(analysis: AnalysisSection) -> AnalysisSettings:
    """The exciton/observable stage's settings from the job's analysis section."""
    from hpc_nc.physics.exciton import AnalysisSettings

    return AnalysisSettings(
        epsilon=analysis.epsilon,
        onsite_ev=analysis.onsite_ev,
        screening=analysis.screening,
        coulomb_method=analysis.method,
        temperature_k=analysis.temperature_k,
        broadening_ev=analysis.broadening_ev,
        n_radial_bins=analysis.n_radial_bins,
    )


# Reference core weights of homogeneous ZnS dots, per process: {(R, H, settings): (w_E1, w_H1)}.
# Every rank of a task group holds the same entries (they solve the same tasks in order).
_REFERENCE_CACHE: dict = {}


def gap_states_of_dot(
    comm: MPI.Comm,
    nc: Nanocrystal,
    alloy: AlloyRealisation,
    mats: Mapping[str, Material],
    model: str,
    positions: np.ndarray | None,
    settings: ElectronicSettings,
) -> tuple[GapStates, float, float]:
    """Collective: assemble the dot's Hamiltonian, solve its gap states, free the matrix.

    Returns (states, assembly seconds, solve seconds); the task and its homogeneous
    reference dot go through here alike."""
    from hpc_nc.solvers.eigensolver import solve_gap_states
    from hpc_nc.solvers.hamiltonian import assemble_hamiltonian

    t0 = time.perf_counter()
    vbm, cbm = band_edge_estimates(mats, alloy)
    hamiltonian = assemble_hamiltonian(
        comm,
        nc,
        alloy,
        mats,
        model,
        positions=positions,
        passivation_ev=settings.hamiltonian.passivation_ev,
        harrison_eta=settings.hamiltonian.harrison_eta,
    )
    t_assembly = time.perf_counter() - t0
    try:
        states = solve_gap_states(
            comm,
            hamiltonian,
            settings.states.electrons,
            settings.states.holes,
            vbm,
            cbm,
            resolved_eigen_settings(comm, settings, hamiltonian.getSize()[0]),
        )
    finally:
        hamiltonian.destroy()
    return states, t_assembly, time.perf_counter() - t0 - t_assembly


def is_homogeneous(task: Task) -> bool:
    """No core/shell band offset: pure ZnS (x_Cu = x_In = 0) or no shell (H = 0)."""
    return (task.x_cu == 0 and task.x_in == 0) or task.shell_thickness_a == 0


def homogeneous_reference(comm: MPI.Comm, task: Task, settings: ElectronicSettings) -> tuple[float, float]:
    """Collective: (w_E1, w_H1), the core weights of the E1 and H1 levels of the pure ZnS dot
    with the task's R and H (ideal lattice: ZnS in ZnS is unstrained), with the job's solver
    and physics settings. The classifier judges carrier locations against them
    (hpc_nc.physics.classify). Cached per process and geometry, so a sweep pays one extra
    solve per geometry and task group."""
    from hpc_nc.physics import observables as obs
    from hpc_nc.physics.exciton import AnalysisSettings
    from hpc_nc.physics.materials import load_materials

    key = (
        task.core_radius_a,
        task.shell_thickness_a,
        repr(settings.solver),
        repr(settings.hamiltonian),
        repr(settings.states),
    )
    if key in _REFERENCE_CACHE:
        return _REFERENCE_CACHE[key]
    nc = build_nanocrystal(task.core_radius_a, task.shell_thickness_a)
    alloy = virtual_crystal(nc, 0.0, 0.0)
    mats = load_materials()
    states, _, _ = gap_states_of_dot(comm, nc, alloy, mats, "VCA", None, settings)
    tol = AnalysisSettings().level_tol_ev
    weights = []
    for energies, vectors in (
        (states.electron_energies, states.electron_vectors),
        (states.hole_energies, states.hole_vectors),
    ):
        lo, hi = obs.degenerate_levels(energies, tol)[0]
        weights.append(float(obs.core_weight(obs.level_density(vectors, lo, hi - lo), nc.in_core)))
    _REFERENCE_CACHE[key] = (weights[0], weights[1])
    return _REFERENCE_CACHE[key]


def solve_task(comm: MPI.Comm, task: Task, settings: ElectronicSettings, positions: np.ndarray | None = None) -> dict:
    """Electronic structure and excitons of one task. Collective over comm (the group).

    positions: relaxed (N, 3) Å for STR (from the structures file), None otherwise.
    Returns the task's row of the results file (numpy values, units in store schema).
    """
    from hpc_nc.parallel import heartbeat
    from hpc_nc.physics.exciton import analyse_states
    from hpc_nc.physics.materials import load_materials, with_band_offsets

    t0 = time.perf_counter()
    heartbeat.status("building the dot and its Hamiltonian")
    nc = build_nanocrystal(task.core_radius_a, task.shell_thickness_a)
    alloy = build_alloy(nc, task)
    if task.model == "STR" and positions is None:
        raise ValueError("STR task without relaxed positions")
    mats = with_band_offsets(load_materials(), task.vbo_ins, task.vbo_cus)
    t_geometry = time.perf_counter() - t0
    states, t_assembly, t_solve = gap_states_of_dot(comm, nc, alloy, mats, task.model, positions, settings)
    t_build = t_geometry + t_assembly
    atom_positions = nc.positions if positions is None else positions
    t_ref = time.perf_counter()
    homogeneous = is_homogeneous(task)
    reference = None if homogeneous else homogeneous_reference(comm, task, settings)
    t_ref = time.perf_counter() - t_ref
    heartbeat.status("observables, Coulomb integrals and excitons")
    result = analyse_states(
        comm,
        atom_positions,
        nc.in_core,
        nc.core_radius,
        nc.total_radius,
        states.electron_energies,
        states.hole_energies,
        states.electron_vectors,
        states.hole_vectors,
        analysis_settings(settings.analysis),
        split_levels=states.diagnostics.get("split_degenerate_level"),
        reference_weights=reference,
        homogeneous=homogeneous,
    )
    result = dict(result)
    if reference is None:  # a homogeneous dot is its own reference
        reference = (result["core_weight_E1"], result["core_weight_H1"])
    result.update(
        electron_energies=states.electron_energies,
        hole_energies=states.hole_energies,
        residuals=states.residuals,
        max_residual=float(np.max(states.residuals)),
        realised_x_cu=alloy.realised_x_cu,
        realised_x_in=alloy.realised_x_in,
        build_seconds=t_build,
        solve_seconds=t_solve,
        analysis_seconds=time.perf_counter() - t0 - t_build - t_solve - t_ref,
        reference_seconds=t_ref,
        reference_core_weight_E1=float(reference[0]),
        reference_core_weight_H1=float(reference[1]),
        solver_iterations=int(np.sum(states.diagnostics.get("iterations", [-1]))),
        solver_converged=int(states.diagnostics.get("n_converged", -1)),
        species=species_codes(alloy.compound_weights),
        solver_strategy=str(states.diagnostics["strategy"]),
    )
    return result


def result_fields(settings: ElectronicSettings) -> list:
    """FieldSpecs of the results file for these settings (the schema's quantities, shapes
    from the settings alone)."""
    from hpc_nc.io.schema import result_specs
    from hpc_nc.physics.exciton import N_CONFIGURATIONS

    n_e, n_h = settings.states.electrons, settings.states.holes
    analysis = analysis_settings(settings.analysis)
    dims = {
        "n_electrons": n_e,
        "n_holes": n_h,
        "n_states": n_e + n_h,
        "n_configurations": N_CONFIGURATIONS,
        "n_radial_bins": int(analysis.n_radial_bins),
        "n_spectrum": int(analysis.n_spectrum),
    }
    return result_specs(dims)
