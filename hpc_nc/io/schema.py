"""The results schema: every dataset the results and structures files hold, in one place.

Each stored quantity is a :class:`Quantity` with its dtype, its shape per row (symbolic
dimensions such as ``n_electrons`` are resolved from the job when the file is created), its
units and its doc text. The doc text and units are written into the file as the ``doc`` and
``units`` attributes of each dataset, so a file explains itself without this code. The
layout of the files and the order of writes are described in :mod:`hpc_nc.io.store` and
docs/design.md; the meaning of the physical quantities in docs/physics.md.

Also here: the status codes of a row, the confinement class names (their home is
:mod:`hpc_nc.physics.classify`, which defines the rules), the chemical species codes of the
per-atom ``species`` field, and :func:`check_version`, which refuses a file written with
another schema version in one line naming both versions.

Schema versions:

* 1 (hpc_nc <= 0.4): no checksums, no species, doc attributes were pointers into the code.
* 2: per-row ``checksum`` (written last), per-atom ``species`` in both files, doc text in
  the file, ``vff_sha256`` and the PETSc options (not the CLI options) in the results file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from hpc_nc.errors import HpcNcError
from hpc_nc.physics.classify import CLASSES as CONFINEMENT_CLASSES
from hpc_nc.physics.classify import MAX_REASON_CHARS

SCHEMA_VERSION = 2
RESULTS_FORMAT = "hpc_nc.results"
STRUCTURES_FORMAT = "hpc_nc.structures"

# Row status codes as stored in ``status``. CORRUPT is never stored: readers report a row
# whose checksum does not match its contents as CORRUPT (and resume recomputes it).
PENDING, DONE, FAILED, CORRUPT = 0, 1, 2, 3
STATUS_NAMES = {PENDING: "pending", DONE: "done", FAILED: "failed", CORRUPT: "corrupt"}

MESSAGE_BYTES = 200
PER_ATOM = "n_atoms"  # first entry of a shape for per-atom fields
CONFINEMENT_BYTES = max(len(c) for c in CONFINEMENT_CLASSES) + 3  # 16 bytes, as in schema 1

# Chemical species of the per-atom ``species`` field (int8 code = index). "X" is the virtual
# cation of a VCA core (ASE's dummy element); anions are always S.
SPECIES = ("S", "Zn", "In", "Cu", "X")
_CATION_SPECIES = ("Zn", "In", "Cu")  # hpc_nc.physics.alloy.COMPOUNDS order (ZnS, InS, CuS)


_SPECIES_DOC = (
    "chemical species of every atom (Nanocrystal atom order) as an index into the file attribute "
    "species_names: " + ", ".join(f"{i} {s}" for i, s in enumerate(SPECIES)) + " (X: virtual cation of a VCA core)"
)


class SchemaError(HpcNcError):
    """A file written with another schema version, or a field the schema does not know."""


@dataclass(frozen=True)
class FieldSpec:
    """One per-row field of a store: ``shape_per_task`` may start with "n_atoms" (per atom)."""

    name: str
    shape_per_task: tuple
    dtype: str
    units: str
    doc: str

    def __post_init__(self):
        shape = tuple(self.shape_per_task)
        object.__setattr__(self, "shape_per_task", shape)
        if not self.name or "/" in self.name:
            raise SchemaError(f"field name {self.name!r} must be non-empty and contain no '/'")
        for k, n in enumerate(shape):
            if n == PER_ATOM and k == 0:
                continue
            if not isinstance(n, (int, np.integer)) or n < 0:
                raise SchemaError(
                    f"field {self.name!r}: shape {shape} must be non-negative ints "
                    f"(only the first entry may be {PER_ATOM!r})"
                )
        np.dtype(self.dtype)  # raises TypeError for a bad dtype string

    @property
    def per_atom(self) -> bool:
        return bool(self.shape_per_task) and self.shape_per_task[0] == PER_ATOM

    def row_shape(self, n_atoms: int) -> tuple:
        """Shape of one row's value (units per ``units``)."""
        return (int(n_atoms),) + self.shape_per_task[1:] if self.per_atom else self.shape_per_task


@dataclass(frozen=True)
class Quantity:
    """A stored quantity: shape entries are ints or dimension names resolved per job."""

    name: str
    dtype: str
    shape: tuple
    units: str
    doc: str

    def spec(self, dims: Mapping[str, int]) -> FieldSpec:
        """The FieldSpec for one job: dimension names replaced by ``dims`` (n_atoms stays)."""
        shape = []
        for k, n in enumerate(self.shape):
            if isinstance(n, str) and not (n == PER_ATOM and k == 0):
                if n not in dims:
                    raise SchemaError(f"field {self.name!r}: dimension {n!r} not given")
                n = int(dims[n])
            shape.append(n)
        return FieldSpec(self.name, tuple(shape), self.dtype, self.units, self.doc)


def _q(name, dtype, shape, units, doc) -> Quantity:
    return Quantity(name, dtype, tuple(shape), units, doc)


# -- results file: observables of the electronic stage (hpc_nc.physics.exciton.analyse_states)
# Dimensions: n_electrons, n_holes (job's states), n_configurations (CI basis, 8),
# n_radial_bins, n_spectrum (analysis settings).
ANALYSIS_QUANTITIES: tuple[Quantity, ...] = (
    _q(
        "electron_energies",
        "f8",
        ("n_electrons",),
        "eV",
        "electron (conduction) levels, ascending; the E1 level is every state degenerate with the first",
    ),
    _q(
        "hole_energies",
        "f8",
        ("n_holes",),
        "eV",
        "hole (valence) levels, descending; the H1 level is every state degenerate with the first",
    ),
    _q("E1", "f8", (), "eV", "lowest electron level (mean energy of its degenerate states)"),
    _q("H1", "f8", (), "eV", "highest hole level (mean energy of its degenerate states)"),
    _q("gap", "f8", (), "eV", "single-particle gap E1 - H1"),
    _q(
        "exciton_energy",
        "f8",
        (),
        "eV",
        "lowest configuration-interaction (CI) exciton energy, the excitonic gap; depends on the "
        "basis if ci_basis_complete = 0",
    ),
    _q("exciton_binding", "f8", (), "eV", "gap - exciton_energy"),
    _q(
        "exciton_energies",
        "f8",
        ("n_configurations",),
        "eV",
        "the CI exciton energies, ascending; depend on the basis if ci_basis_complete = 0",
    ),
    _q(
        "oscillator_strengths",
        "f8",
        ("n_configurations",),
        "Å²",
        "|<0|r|X>|² summed over x, y, z, averaged over each degenerate exciton level",
    ),
    _q(
        "exciton_weights",
        "f8",
        ("n_configurations", "n_configurations"),
        "1",
        "|c|² per [exciton, configuration 4 e + h]; depends on the eigensolver's basis inside degenerate levels",
    ),
    _q("ground_oscillator_strength", "f8", (), "Å²", "oscillator strength summed over the lowest exciton level"),
    _q(
        "thermal_oscillator_strength",
        "f8",
        (),
        "Å²",
        "Boltzmann average of the oscillator strengths at the analysis temperature",
    ),
    _q(
        "ci_direct",
        "c16",
        ("n_configurations", "n_configurations"),
        "eV",
        "direct Coulomb matrix J[(e h), (e' h')] of the CI; depends on the eigensolver's basis",
    ),
    _q(
        "ci_exchange",
        "c16",
        ("n_configurations", "n_configurations"),
        "eV",
        "exchange matrix K[(e h), (e' h')] of the CI; depends on the eigensolver's basis",
    ),
    _q(
        "ci_basis_complete",
        "f8",
        (),
        "1",
        "1.0 if the CI states (electrons 0, 1; holes 0..3) are whole degenerate levels, else 0.0",
    ),
    _q(
        "transition_dipole_sq",
        "f8",
        ("n_electrons", "n_holes"),
        "Å²",
        "|<e|r|h>|² averaged over each (electron level, hole level) block",
    ),
    _q(
        "dipole_sq",
        "f8",
        (),
        "Å²",
        "optical activity: |<e|r|h>|² summed over the states of the E1 and H1 levels, times "
        "(2/g_E1)(2/g_H1) with g the level degeneracies, i.e. per Kramers pair",
    ),
    _q("J_ee", "f8", (), "eV", "Coulomb integral J_E1E1 of the E1 level density (mean over its states)"),
    _q("J_hh", "f8", (), "eV", "Coulomb integral J_H1H1 of the H1 level density"),
    _q("J_eh", "f8", (), "eV", "Coulomb integral J_E1H1 between the E1 and H1 level densities"),
    _q("dXX", "f8", (), "eV", "biexciton shift J_ee + J_hh - 2 J_eh = E_XX - 2 E_X (first order); > 0 anti-binding"),
    _q(
        "core_weight_e",
        "f8",
        ("n_electrons",),
        "1",
        "probability on core atoms of each electron state (mean over its level)",
    ),
    _q("core_weight_h", "f8", ("n_holes",), "1", "probability on core atoms of each hole state (mean over its level)"),
    _q("core_weight_E1", "f8", (), "1", "probability on core atoms of the E1 level"),
    _q("core_weight_H1", "f8", (), "1", "probability on core atoms of the H1 level"),
    _q("radial_grid", "f8", ("n_radial_bins",), "Å", "bin centres of the radial grid (distance from the centre)"),
    _q(
        "radial_density_e",
        "f8",
        ("n_electrons", "n_radial_bins"),
        "1/Å",
        "binned radial probability density of each electron state (mean over its level)",
    ),
    _q(
        "radial_density_h",
        "f8",
        ("n_holes", "n_radial_bins"),
        "1/Å",
        "binned radial probability density of each hole state (mean over its level)",
    ),
    _q(
        "envelope_e",
        "f8",
        ("n_electrons", "n_radial_bins"),
        "1/Å",
        "Gaussian-smoothed radial envelope of each electron state's level density",
    ),
    _q(
        "envelope_h",
        "f8",
        ("n_holes", "n_radial_bins"),
        "1/Å",
        "Gaussian-smoothed radial envelope of each hole state's level density",
    ),
    _q("r_max_e", "f8", (), "Å", "radius of the maximum of the E1 envelope"),
    _q("r_max_h", "f8", (), "Å", "radius of the maximum of the H1 envelope"),
    _q(
        "separation",
        "f8",
        (),
        "Å",
        "r_max_e - r_max_h, signed: > 0 when the electron's envelope maximum lies further out "
        "than the hole's, < 0 when it lies further in (not a distance between centres)",
    ),
    _q("overlap_atomic", "f8", (), "1", "atom-resolved overlap sum_i sqrt(rho_E1(i) rho_H1(i))"),
    _q("overlap_envelope", "f8", (), "1", "envelope overlap: integral of sqrt(P_E1(r) P_H1(r)) dr"),
    _q("spectrum_energy", "f8", ("n_spectrum",), "eV", "photon energy grid of the emission spectrum"),
    _q(
        "spectrum",
        "f8",
        ("n_spectrum",),
        "Å²/eV",
        "golden-rule emission spectrum at the analysis temperature with Gaussian broadening",
    ),
    _q("epsilon", "f8", (), "1", "dielectric constant used for the Coulomb integrals"),
    _q("onsite_ev", "f8", (), "eV", "on-site Coulomb integral used"),
    _q(
        "confinement",
        f"S{CONFINEMENT_BYTES}",
        (),
        "1",
        "confinement class of the E1-H1 pair: "
        + ", ".join(CONFINEMENT_CLASSES)
        + " (rules: docs/physics.md, hpc_nc.physics.classify)",
    ),
    _q(
        "confinement_reason",
        f"S{MAX_REASON_CHARS}",
        (),
        "1",
        "one-line reason for the confinement class, with the metrics it used",
    ),
)

# -- results file: what the electronic stage adds (hpc_nc.pipeline.electronic_stage)
SOLVER_QUANTITIES: tuple[Quantity, ...] = (
    _q("residuals", "f8", ("n_states",), "eV", "residual norm ||H x - E x|| of every electron then hole state"),
    _q("max_residual", "f8", (), "eV", "largest residual of the task"),
    _q("realised_x_cu", "f8", (), "1", "fraction of core cations that are Cu in this realisation"),
    _q("realised_x_in", "f8", (), "1", "fraction of core cations that are In in this realisation"),
    _q("build_seconds", "f8", (), "s", "wall time of geometry, alloy and Hamiltonian assembly"),
    _q("solve_seconds", "f8", (), "s", "wall time of the eigensolver (whichever strategy the job chose)"),
    _q("analysis_seconds", "f8", (), "s", "wall time of observables, Coulomb integrals and CI"),
    _q(
        "reference_seconds",
        "f8",
        (),
        "s",
        "wall time of the solve of the homogeneous ZnS reference dot (0 when cached or not needed)",
    ),
    _q(
        "reference_core_weight_E1",
        "f8",
        (),
        "1",
        "E1 core weight of the pure ZnS dot of the same R and H (the classifier's reference)",
    ),
    _q(
        "reference_core_weight_H1",
        "f8",
        (),
        "1",
        "H1 core weight of the pure ZnS dot of the same R and H (the classifier's reference)",
    ),
    _q(
        "solver_iterations",
        "i8",
        (),
        "1",
        "eigensolver iterations (outer iterations or restarts, as the strategy counts them) summed over the solves",
    ),
    _q("solver_converged", "i8", (), "1", "eigenpairs the eigensolver reported converged"),
    _q(
        "solver_strategy",
        "S16",
        (),
        "1",
        "gap-state strategy that ran (solver.strategy auto resolved per task: davidson or chebyshev)",
    ),
    _q("species", "i1", (PER_ATOM,), "1", _SPECIES_DOC),
)

RESULT_QUANTITIES = ANALYSIS_QUANTITIES + SOLVER_QUANTITIES

# Units and doc text of the observables keyed by name (the values analyse_states returns).
RESULT_UNITS: dict[str, str] = {q.name: q.units for q in ANALYSIS_QUANTITIES}
RESULT_DESCRIPTIONS: dict[str, str] = {q.name: q.doc for q in ANALYSIS_QUANTITIES}

# -- structures file (hpc_nc.pipeline.structure_stage); n_bond_bins, n_radial_shells follow
# from the fixed grids of hpc_nc.solvers.relax.
POSITIONS = FieldSpec(
    "positions",
    (PER_ATOM, 3),
    "f8",
    "Å",
    "relaxed atom positions in the Nanocrystal's atom order, origin at the central anion",
)
STRUCTURE_QUANTITIES: tuple[Quantity, ...] = (
    _q("energy_ev", "f8", (), "eV", "Keating (VFF) energy of the relaxed dot"),
    _q("initial_energy_ev", "f8", (), "eV", "Keating (VFF) energy of the ideal-lattice dot"),
    _q("max_force_ev_per_angstrom", "f8", (), "eV/Å", "largest atomic force at the end of the relaxation"),
    _q("iterations", "i8", (), "1", "TAO iterations of the relaxation"),
    _q("realised_x_cu", "f8", (), "1", "realised Cu fraction of the core cations"),
    _q("realised_x_in", "f8", (), "1", "realised In fraction of the core cations"),
    _q(
        "bond_length_histogram",
        "f8",
        (3, "n_bond_bins"),
        "1",
        "bond counts per bond type (Zn-S, In-S, Cu-S) on the grid given by the attribute bond_length_edges",
    ),
    _q("mean_bond_strain", "f8", (3,), "1", "mean (d - d0)/d0 per bond type (Zn-S, In-S, Cu-S)"),
    _q(
        "hydrostatic_strain",
        "f8",
        (PER_ATOM,),
        "1",
        "(V/V0)^(1/3) - 1 of each atom's neighbour tetrahedron; NaN on surface atoms",
    ),
    _q(
        "radial_strain",
        "f8",
        ("n_radial_shells",),
        "1",
        "mean hydrostatic strain per 1-Å shell of ideal radius (shell edges: attribute radial_edges)",
    ),
)
# Built into every structures file next to the positions (required by write_structure).
SPECIES_FIELD = FieldSpec("species", (PER_ATOM,), "i1", "1", _SPECIES_DOC)

# -- datasets every row store has (hpc_nc.io.store); name: (units, doc)
ROW_DATASETS: dict[str, tuple[str, str]] = {
    "status": (
        "1",
        "row status: "
        + ", ".join(f"{c} {n}" for c, n in STATUS_NAMES.items() if c != CORRUPT)
        + "; a row counts only if its checksum matches",
    ),
    "message": ("1", "one-line error of a failed row (UTF-8, at most 200 bytes)"),
    "timings/wall_seconds": ("s", "wall time of the row's task on its group of ranks"),
    "timings/finished_unix": ("s", "Unix time at which the row was written"),
    "atom_offsets": ("1", "row i's atoms in per-atom fields are [atom_offsets[i], atom_offsets[i+1])"),
    "checksum": (
        "1",
        "64-bit BLAKE2b digest of the row (status, message, timings, every field), "
        "written after the row; a mismatch marks the row corrupt (see hpc-nc verify)",
    ),
}

# Task parameter columns (``tasks/<name>``, ``structures/<name>``): units and doc text.
COLUMN_UNITS: dict[str, str] = {
    "core_radius_a": "lattice constant",
    "shell_thickness_a": "lattice constant",
    "vbo_ins": "eV",
    "vbo_cus": "eV",
    "x_cu": "1",
    "x_in": "1",
}
COLUMN_DOCS: dict[str, str] = {
    "index": "task index (the row)",
    "key": "unique task key (geometry, composition, seed, model, band offsets)",
    "x_cu": "nominal Cu fraction of the core cations",
    "x_in": "nominal In fraction of the core cations",
    "core_radius_a": "core radius R in units of the ZnS lattice constant (5.409 Å)",
    "shell_thickness_a": "ZnS shell thickness in units of the ZnS lattice constant",
    "vbo_ins": "valence-band offset InS/ZnS",
    "vbo_cus": "valence-band offset CuS/ZnS",
    "model": "VCA (virtual crystal), NSTR (random alloy, ideal lattice) or STR (random alloy, VFF-relaxed)",
    "realization": "alloy realisation number",
    "seed": "seed of the alloy draw",
    "n_atoms": "atoms in the dot",
    "structure_key": "key of the (relaxed) structure this task uses",
}


def column_doc(name: str) -> str:
    return COLUMN_DOCS.get(name, f"task parameter {name}")


def species_codes(compound_weights: np.ndarray) -> np.ndarray:
    """(N,) int8 ``SPECIES`` index of every atom from its compound weights (N, 3).

    Anions (zero rows) are S; a cation whose weight is all on one compound is that metal;
    a cation with mixed weights (the virtual cation of a VCA core) is X.
    """
    w = np.asarray(compound_weights, dtype=float)
    codes = np.full(len(w), SPECIES.index("S"), dtype=np.int8)
    cation = w.sum(axis=1) > 0
    pure = cation & np.isclose(w.max(axis=1), 1.0, rtol=0.0, atol=1e-12)
    for j, name in enumerate(_CATION_SPECIES):
        codes[pure & (w.argmax(axis=1) == j)] = SPECIES.index(name)
    codes[cation & ~pure] = SPECIES.index("X")
    return codes


def species_names(codes: np.ndarray) -> np.ndarray:
    """Element symbols of ``species`` codes (raises SchemaError on an unknown code)."""
    codes = np.asarray(codes)
    if codes.size and (codes.min() < 0 or codes.max() >= len(SPECIES)):
        raise SchemaError(f"species codes outside 0..{len(SPECIES) - 1}")
    return np.asarray(SPECIES, dtype="<U2")[codes.astype(int)]


def result_specs(dims: Mapping[str, int]) -> list[FieldSpec]:
    """FieldSpecs of the results file for one job (``dims``: n_electrons, n_holes, ...)."""
    return [q.spec(dims) for q in RESULT_QUANTITIES]


def structure_specs(dims: Mapping[str, int]) -> list[FieldSpec]:
    """FieldSpecs of the structures file beyond ``positions`` (dims: n_bond_bins, n_radial_shells)."""
    return [q.spec(dims) for q in STRUCTURE_QUANTITIES]


def check_version(attrs: Mapping, path: str) -> None:
    """Refuse a file written with another schema version, in one line naming both versions."""
    raw = attrs.get("schema_version", None)
    writer = attrs.get("hpc_nc_version", "an unknown version")
    if isinstance(writer, bytes):
        writer = writer.decode(errors="replace")
    try:
        version = int(raw)
    except (TypeError, ValueError):
        raise SchemaError(
            f"{path} has no valid schema_version attribute ({raw!r}); it was not written by hpc_nc"
        ) from None
    if version == SCHEMA_VERSION:
        return
    if version < SCHEMA_VERSION:
        from hpc_nc import __version__

        other = (
            f", or read it with hpc_nc {writer}"
            if writer != __version__
            else f" (hpc_nc {writer} before its schema changed wrote it)"
        )
        raise SchemaError(
            f"{path} has schema version {version} (written by hpc_nc {writer}); this hpc_nc reads "
            f"version {SCHEMA_VERSION}: rerun the job into a new file{other}"
        )
    raise SchemaError(
        f"{path} has schema version {version} (written by hpc_nc {writer}), newer than "
        f"version {SCHEMA_VERSION} that this hpc_nc reads: upgrade hpc_nc to read it"
    )
