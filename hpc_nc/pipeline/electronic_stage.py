"""Electronic stage (complex PETSc build): structure -> H -> gap states -> observables.

One task = one (x_Cu, x_In, R, H, VBO, model, realisation) point. VCA and NSTR build their
ideal-lattice dot here; STR reads its relaxed positions from the structures file written by
the structure stage (``hpc-nc relax``).
"""

from __future__ import annotations

import time

import numpy as np

from hpc_nc.physics.alloy import COMPOUNDS, realise_alloy, virtual_crystal
from hpc_nc.physics.geometry import build_nanocrystal


def build_alloy(nc, task):
    if task.model == "VCA":
        return virtual_crystal(nc, task.x_cu, task.x_in)
    return realise_alloy(nc, task.x_cu, task.x_in, task.seed)


def band_edge_estimates(mats, alloy) -> tuple[float, float]:
    """Highest bulk VBM and lowest bulk CBM (eV) among the compounds present in the dot.

    Confinement pushes the dot's states into the gap, so [vbm, cbm] lies inside (or at the
    edges of) the dot's gap; the eigensolver targets the band edges from inside it.
    """
    present = [name for j, name in enumerate(COMPOUNDS) if alloy.compound_weights[:, j].any()]
    return max(mats[c].vbm for c in present), min(mats[c].cbm for c in present)


def eigen_settings(job):
    from hpc_nc.solvers.eigensolver import EigenSettings

    s = job.solver
    return EigenSettings(strategy=s["strategy"], tol=float(s["tol"]), max_it=int(s["max_it"]), ncv=int(s["ncv"]),
                         petsc_options=dict(s["eps_options"]))


def analysis_settings(job):
    from hpc_nc.physics.exciton import AnalysisSettings

    c = job.coulomb
    kwargs = dict(epsilon=float(c["epsilon"]), temperature_k=float(c["temperature_k"]),
                  broadening_ev=float(c["broadening_ev"]), n_radial_bins=int(c["n_radial_bins"]))
    if c["onsite_ev"] is not None:
        kwargs["onsite_ev"] = float(c["onsite_ev"])
    return AnalysisSettings(**kwargs)


def solve_task(comm, task, job, positions=None) -> dict:
    """Electronic structure and excitons of one task. Collective over comm (the group).

    positions: relaxed (N, 3) Å for STR (from the structures file), None otherwise.
    Returns the task's row of the results file (numpy values, units in store schema).
    """
    from hpc_nc.solvers.eigensolver import solve_gap_states
    from hpc_nc.solvers.hamiltonian import assemble_hamiltonian
    from hpc_nc.physics.materials import load_materials, with_band_offsets
    from hpc_nc.physics.exciton import analyse_states

    t0 = time.perf_counter()
    nc = build_nanocrystal(task.core_radius_a, task.shell_thickness_a)
    alloy = build_alloy(nc, task)
    if task.model == "STR" and positions is None:
        raise ValueError("STR task without relaxed positions")
    mats = with_band_offsets(load_materials(), task.vbo_ins, task.vbo_cus)
    vbm, cbm = band_edge_estimates(mats, alloy)
    H = assemble_hamiltonian(comm, nc, alloy, mats, task.model, positions=positions,
                             passivation_ev=float(job.physics["passivation_ev"]),
                             harrison_eta=float(job.physics["harrison_eta"]))
    t_build = time.perf_counter() - t0
    try:
        # auto: chosen here per task from rank 0's memory figure (every rank the same).
        from hpc_nc.solvers import cost
        from hpc_nc.solvers.eigensolver import resolve_strategy

        settings = eigen_settings(job)
        if settings.strategy == "auto":
            budget = comm.bcast(cost.memory_per_rank(comm.size), root=0)
            settings = resolve_strategy(settings, H.getSize()[0], job.n_electrons + job.n_holes, comm.size, budget)
        states = solve_gap_states(comm, H, job.n_electrons, job.n_holes, vbm, cbm, settings)
    finally:
        H.destroy()
    t_solve = time.perf_counter() - t0 - t_build
    atom_positions = nc.positions if positions is None else positions
    result = analyse_states(comm, atom_positions, nc.in_core, nc.core_radius, nc.total_radius,
                            states.electron_energies, states.hole_energies, states.electron_vectors,
                            states.hole_vectors, analysis_settings(job),
                            split_levels=states.diagnostics.get("split_degenerate_level"))
    result = dict(result)
    result.update(
        electron_energies=states.electron_energies,
        hole_energies=states.hole_energies,
        residuals=states.residuals,
        max_residual=float(np.max(states.residuals)),
        realised_x_cu=alloy.realised_x_cu,
        realised_x_in=alloy.realised_x_in,
        build_seconds=t_build,
        solve_seconds=t_solve,
        analysis_seconds=time.perf_counter() - t0 - t_build - t_solve,
        solver_iterations=int(np.sum(states.diagnostics.get("iterations", [-1]))),
        solver_converged=int(states.diagnostics.get("n_converged", -1)),
        solver_strategy=str(states.diagnostics["strategy"]),
    )
    return result


# Fields this stage adds to those of exciton.analyse_states (name: (shape, dtype, units, doc)).
_SOLVER_FIELDS = {
    "residuals": (("n_states",), "f8", "eV", "||H x - E x|| of every electron then hole state"),
    "max_residual": ((), "f8", "eV", "largest residual of the task"),
    "realised_x_cu": ((), "f8", "1", "fraction of core cations that are Cu in this realisation"),
    "realised_x_in": ((), "f8", "1", "fraction of core cations that are In in this realisation"),
    "build_seconds": ((), "f8", "s", "geometry, alloy and Hamiltonian assembly"),
    "solve_seconds": ((), "f8", "s", "SLEPc eigen solve"),
    "analysis_seconds": ((), "f8", "s", "observables, Coulomb integrals, CI"),
    "solver_iterations": ((), "i8", "1", "SLEPc iterations (restarts) summed over the solves"),
    "solver_converged": ((), "i8", "1", "eigenpairs SLEPc reported converged"),
    "solver_strategy": ((), "S16", "", "gap-state strategy that ran (auto resolved: davidson or chebyshev)"),
}
_STRING_BYTES = {"confinement": 16, "confinement_reason": 200}
_COMPLEX = {"ci_direct", "ci_exchange"}


def result_fields(job) -> list:
    """FieldSpecs of the results file for this job (shapes follow from the job alone)."""
    from hpc_nc.physics.exciton import RESULT_UNITS, result_shapes
    from hpc_nc.io.store import FieldSpec

    settings = analysis_settings(job)
    shapes = result_shapes(job.n_electrons, job.n_holes, settings)
    fields = []
    for name, units in RESULT_UNITS.items():
        dtype = f"S{_STRING_BYTES[name]}" if name in _STRING_BYTES else ("c16" if name in _COMPLEX else "f8")
        fields.append(FieldSpec(name, shapes[name], dtype, units or "1", f"see hpc_nc.physics.exciton ({name})"))
    n_states = job.n_electrons + job.n_holes
    for name, (shape, dtype, units, doc) in _SOLVER_FIELDS.items():
        shape = tuple(n_states if s == "n_states" else s for s in shape)
        fields.append(FieldSpec(name, shape, dtype, units, doc))
    return fields
