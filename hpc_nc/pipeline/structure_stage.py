"""Structure stage (real PETSc build): lattice cut -> alloy -> Keating VFF relaxation.

One task of this stage is one relaxed structure: every STR task of a job that shares a
``structure_key`` (same geometry, composition and alloy seed; different band offsets or
solver settings) reuses it. Results go to the structures file (hpc_nc/io/store.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from hpc_nc.errors import ConvergenceError
from hpc_nc.io.jobs import Task
from hpc_nc.io.schema import species_codes
from hpc_nc.physics.alloy import realise_alloy
from hpc_nc.physics.geometry import build_nanocrystal
from hpc_nc.settings import RelaxSection

if TYPE_CHECKING:
    from mpi4py import MPI

    from hpc_nc.solvers.relax import RelaxSettings


def structure_tasks(tasks: Iterable[Task]) -> list:
    """One representative task per distinct STR structure, in first-appearance order."""
    seen: dict[str, object] = {}
    for t in tasks:
        if t.model == "STR" and t.structure_key not in seen:
            seen[t.structure_key] = t
    return list(seen.values())


def relax_settings(relax: RelaxSection) -> RelaxSettings:
    """The VFF relaxation's settings from the job's relax section."""
    from hpc_nc.solvers.relax import RelaxSettings

    return RelaxSettings(
        tao_type=relax.tao_type, force_tol=relax.force_tol, max_it=relax.max_it, tao_options=dict(relax.tao_options)
    )


def relax_task(comm: MPI.Comm, task: Task, settings: RelaxSection) -> dict:
    """Relax the dot of one STR task. Collective over comm (the task's group).

    Returns the row of the structures file. Non-convergence raises ConvergenceError, so the
    farm records the structure as failed with TAO's reason instead of storing an
    unrelaxed dot that the electronic stage would silently use.
    """
    from hpc_nc.solvers.relax import relax_structure

    nc = build_nanocrystal(task.core_radius_a, task.shell_thickness_a)
    alloy = realise_alloy(nc, task.x_cu, task.x_in, task.seed)
    relaxed = relax_structure(comm, nc, alloy, relax_settings(settings))
    if not relaxed.converged:
        raise ConvergenceError(
            f"VFF relaxation of {task.structure_key} did not converge ({relaxed.reason}, "
            f"{relaxed.iterations} iterations, max force {relaxed.max_force_ev_per_angstrom:.2e} eV/A "
            f"> {settings.force_tol:g})"
        )
    return {
        "positions": relaxed.positions,
        "energy_ev": relaxed.energy_ev,
        "initial_energy_ev": relaxed.initial_energy_ev,
        "max_force_ev_per_angstrom": relaxed.max_force_ev_per_angstrom,
        "iterations": relaxed.iterations,
        "realised_x_cu": alloy.realised_x_cu,
        "realised_x_in": alloy.realised_x_in,
        "bond_length_histogram": relaxed.bond_length_histogram,
        "mean_bond_strain": relaxed.mean_bond_strain,
        "hydrostatic_strain": relaxed.hydrostatic_strain,
        "radial_strain": relaxed.radial_strain,
        "species": species_codes(alloy.compound_weights),
    }


def structure_fields() -> list:
    """FieldSpecs of the structures file beyond the positions (the schema's; grids from relax.py)."""
    from hpc_nc.io.schema import structure_specs
    from hpc_nc.solvers.relax import DEFAULT_BOND_LENGTH_EDGES, DEFAULT_RADIAL_EDGES

    return structure_specs(
        {"n_bond_bins": len(DEFAULT_BOND_LENGTH_EDGES) - 1, "n_radial_shells": len(DEFAULT_RADIAL_EDGES) - 1}
    )
