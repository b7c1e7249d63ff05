"""Typed job settings: the one home of every job-file default and of its bounds.

Each section of a job file (``states``, ``solver``, ``relax``, ``hamiltonian``, ``analysis``,
``parallel``) is a frozen dataclass below. A field's default is the default of the job key;
its metadata carries the units, the allowed range (with the reason for each bound, so that an
error can say why) and the doc text. :func:`parse_section` validates a job-file mapping
against those fields, and :func:`describe` writes the schema text of the job-file docs
(``hpc_nc/io/jobs.py`` docstring, tested against it). Kernels (hamiltonian, eigensolver,
relax, exciton) take plain keyword parameters and import their defaults from here instead of
repeating the numbers (docs/design.md, "Settings").

This module imports nothing heavy (no numpy, no PETSc), so that kernels can import it.
Choice lists that belong to a kernel (eigensolver strategies, screening models) are named by
"module:attribute" and looked up when a job is validated: one home, no import circle.
"""

from __future__ import annotations

import importlib
import math
import re
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from hpc_nc.errors import JobFileError

# -- upper bounds that follow from physics or from the machine ------------------------------
#: Spin-orbital states per side. The study needs the lowest 4 electron and 8 hole states; 256
#: (128 Kramers pairs) is far beyond any band-edge analysis, and every state costs a radial
#: density row (n_radial_bins values) and a full eigenvector in memory.
MAX_STATES = 256
#: Radial bins of the densities: 0.01 Å bins over the largest dot (MAX_DOT_RADIUS_A = 16 nm)
#: would be 16,000; 10,000 bins resolve far below the 0.5-Å envelope smoothing.
MAX_RADIAL_BINS = 10_000
#: Alloy realisations per point: realisation seeds are distinct only below 2^16
#: (hpc_nc.io.jobs.realisation_seed).
MAX_REALIZATIONS = 65_536
#: Ranks of one task's group: more ranks than ~1000 rows each only add communication.
MAX_RANKS_PER_TASK = 1024
#: Dot radius (core + shell) in lattice constants: 30 a = 16 nm, about 6 exciton Bohr radii of
#: ZnS, deep in the bulk-like weak-confinement regime the model is not meant for, and already
#: about 900,000 atoms (9 M rows of H).
MAX_DOT_RADIUS_A = 30.0
#: Tasks per job: the task list lives in memory on every rank and each task is a row of the
#: results file; split larger sweeps into several jobs (or use --shard).
MAX_TASKS = 200_000


@dataclass(frozen=True)
class Bound:
    """Allowed values of a field: numeric range, choices, or a mapping of PETSc options."""

    kind: str  # "int", "float", "str", "options"
    minimum: float | None = None
    exclusive_min: bool = False
    maximum: float | None = None
    why_max: str = ""
    choices: tuple[str, ...] | str | None = None  # tuple, or "module:attribute" resolved lazily
    nullable: bool = False
    even: bool = False


def _field(default, doc: str, bound: Bound, units: str = "", alias: str | None = None):
    meta = {"doc": doc, "bound": bound, "units": units, "alias": alias}
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class StatesSection:
    """How many spin-orbital states to compute on each side of the gap (even: Kramers pairs)."""

    electrons: int = _field(
        4, "lowest conduction-side states", Bound("int", 2, maximum=MAX_STATES, even=True, why_max="states per side")
    )
    holes: int = _field(
        8, "highest valence-side states", Bound("int", 4, maximum=MAX_STATES, even=True, why_max="states per side")
    )


@dataclass(frozen=True)
class SolverSection:
    """Eigensolver of the electronic stage (hpc_nc/solvers/eigensolver.py)."""

    strategy: str = _field(
        "auto",
        "eigensolver strategy (auto: chosen per task from the cost model, recorded in solver_strategy)",
        Bound("str", choices="hpc_nc.solvers.eigensolver:STRATEGIES"),
    )
    tol: float = _field(
        1e-9,
        "relative residual tolerance",
        Bound("float", 1e-14, maximum=1e-3, why_max="looser residuals do not resolve the meV level spacings"),
    )
    max_it: int = _field(
        500, "iterations (restarts) per solve", Bound("int", 1, maximum=100_000, why_max="iterations per solve")
    )
    ncv: int = _field(
        0,
        "largest subspace (0: chosen from the number of states)",
        Bound("int", 0, maximum=4096, why_max="subspace vectors held in memory"),
    )
    petsc_options: dict = _field(
        {},
        "PETSc options without the leading '-', e.g. {davidson_mat_mumps_cntl_7: 1.0e-4}",
        Bound("options"),
        alias="eps_options",
    )


@dataclass(frozen=True)
class RelaxSection:
    """Keating VFF relaxation of the structure stage (hpc_nc/solvers/relax.py)."""

    tao_type: str = _field("bncg", "TAO minimiser", Bound("str", choices=("cg", "bncg", "nls", "lmvm", "blmvm")))
    force_tol: float = _field(
        1e-4,
        "largest atomic force at convergence",
        Bound("float", 0.0, exclusive_min=True, maximum=1.0, why_max="forces of 1 eV/Angstrom are far from relaxed"),
        units="eV/Angstrom",
    )
    max_it: int = _field(5000, "TAO iterations", Bound("int", 1, maximum=1_000_000, why_max="TAO iterations"))
    tao_options: dict = _field({}, "PETSc options of TAO without the leading '-'", Bound("options"))


@dataclass(frozen=True)
class HamiltonianSection:
    """Tight-binding Hamiltonian (hpc_nc/solvers/hamiltonian.py)."""

    passivation_ev: float = _field(
        20.0,
        "energy shift of dangling-bond hybrids",
        Bound("float", 0.0, maximum=1000.0, why_max="far above every band"),
        units="eV",
    )
    harrison_eta: float = _field(
        2.0,
        "exponent of the d^-eta scaling of hopping with bond length (STR)",
        Bound("float", 0.0, maximum=10.0, why_max="Harrison exponents are about 2-4"),
    )


@dataclass(frozen=True)
class AnalysisSection:
    """Coulomb integrals, exciton CI and observables (hpc_nc/physics/exciton.py)."""

    epsilon: float = _field(
        5.2,
        "dielectric constant (ZnS eps_inf)",
        Bound("float", 1.0, maximum=100.0, why_max="semiconductors have eps < 30"),
    )
    onsite_ev: float | None = _field(
        None,
        "on-site Coulomb integral (null: the screening model's value)",
        Bound("float", 0.0, maximum=100.0, nullable=True, why_max="atomic Coulomb integrals are < 20 eV"),
        units="eV",
    )
    temperature_k: float = _field(
        300.0,
        "emission temperature",
        Bound("float", 0.0, maximum=5000.0, why_max="nanocrystals melt far below"),
        units="K",
    )
    broadening_ev: float = _field(
        0.01,
        "Gaussian standard deviation of spectrum lines",
        Bound("float", 0.0, exclusive_min=True, maximum=1.0, why_max="wider than the whole emission window"),
        units="eV",
    )
    n_radial_bins: int = _field(
        200, "bins of the radial densities", Bound("int", 10, maximum=MAX_RADIAL_BINS, why_max="bins")
    )
    screening: str = _field(
        "thomas-fermi-resta",
        "screening model of the Coulomb integrals",
        Bound("str", choices="hpc_nc.physics.coulomb:SCREENING_MODELS"),
    )
    method: str = _field(
        "auto",
        "Coulomb sum: direct (exact), fft (ideal-lattice dots only) or auto (fft from "
        "hpc_nc.physics.coulomb_fft.AUTO_FFT_MIN_ATOMS atoms on the lattice)",
        Bound("str", choices="hpc_nc.physics.coulomb_fft:COULOMB_METHODS"),
    )


@dataclass(frozen=True)
class ParallelSection:
    """How the task farm splits the ranks (hpc_nc/parallel/farm.py)."""

    ranks_per_task: int = _field(
        1, "MPI ranks that share one task", Bound("int", 1, maximum=MAX_RANKS_PER_TASK, why_max="ranks per task")
    )


#: Job-file section name -> dataclass, in the order of the docs.
SECTIONS: dict[str, type] = {
    "states": StatesSection,
    "solver": SolverSection,
    "relax": RelaxSection,
    "hamiltonian": HamiltonianSection,
    "analysis": AnalysisSection,
    "parallel": ParallelSection,
}
#: Deprecated section names (still read, with a warning).
SECTION_ALIASES = {"coulomb": "analysis", "physics": "hamiltonian"}

DEFAULT_SOLVER = SolverSection()
DEFAULT_RELAX = RelaxSection()
DEFAULT_HAMILTONIAN = HamiltonianSection()
DEFAULT_ANALYSIS = AnalysisSection()
DEFAULT_STATES = StatesSection()


def as_dict(section) -> dict:
    """JSON-ready dict of a section (provenance of the output files)."""
    return {f.name: (dict(v) if isinstance(v := getattr(section, f.name), dict) else v) for f in fields(section)}


# -- validation ------------------------------------------------------------------------------
MAX_ECHO = 60


def show(value: Any) -> str:
    """repr of a value for an error message, cut to MAX_ECHO characters."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"<integer of {len(str(abs(value))) if value.bit_length() < 14000 else 'over 4000'} digits>"
    text = repr(value)
    return text if len(text) <= MAX_ECHO else text[: MAX_ECHO - 3] + "..."


def fail(where: str, key: str, problem: str):
    raise JobFileError(f"{where}: {key}: {problem}")


def resolve_choices(choices) -> tuple[str, ...]:
    if choices is None or isinstance(choices, tuple):
        return choices
    module, attr = choices.split(":")
    return getattr(importlib.import_module(module), attr)


def check_number(
    where: str, key: str, value, *, minimum=None, exclusive=False, maximum=None, why_max="", integer=False
):
    """value as float (or int with integer=True), or a one-line JobFileError."""
    if integer:
        if isinstance(value, bool) or not isinstance(value, int):
            fail(where, key, f"must be an integer, got {show(value)}")
    else:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail(where, key, f"must be a number, got {show(value)}")
        try:
            value = float(value)
        except OverflowError:
            fail(where, key, f"number too large: {show(value)}")
        if not math.isfinite(value):
            fail(where, key, f"must be a finite number, got {show(value)}")
    if minimum is not None and (value < minimum or (exclusive and value == minimum)):
        fail(where, key, f"must be {'>' if exclusive else '>='} {minimum:g}, got {show(value)}")
    if maximum is not None and value > maximum:
        fail(where, key, f"must be <= {maximum:g}{f' ({why_max})' if why_max else ''}, got {show(value)}")
    return value


def check_options(where: str, key: str, value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        fail(where, key, f"must be a mapping of PETSc option names to values, got {show(value)}")
    out = {}
    for k, v in value.items():
        if not isinstance(k, str) or not re.fullmatch(r"-?[A-Za-z0-9_]{1,100}", k):
            fail(where, f"{key}.{show(k)}", "is not a PETSc option name")
        if isinstance(v, (dict, list)):
            fail(where, f"{key}.{k}", f"value must be a scalar, got {show(v)}")
        out[k.lstrip("-")] = v
    return out


def check_field(where: str, key: str, f, value):
    b: Bound = f.metadata["bound"]
    if value is None and b.nullable:
        return None
    if b.kind == "options":
        return check_options(where, key, value)
    if b.kind == "str":
        choices = resolve_choices(b.choices)
        if not isinstance(value, str) or (choices is not None and value not in choices):
            fail(where, key, f"unknown value {show(value)} (use one of {', '.join(choices)})")
        return value
    out = check_number(
        where,
        key,
        value,
        minimum=b.minimum,
        exclusive=b.exclusive_min,
        maximum=b.maximum,
        why_max=b.why_max,
        integer=b.kind == "int",
    )
    if b.even and out % 2:
        fail(where, key, f"counts spin-orbital states and must be even (Kramers pairs), got {out}")
    return out


def parse_section(cls, given, where: str, name: str, warnings: list[str] | None = None):
    """An instance of section class ``cls`` from the job-file mapping ``given`` (None: defaults).

    Unknown keys are errors; deprecated key aliases (field metadata "alias") are read with a
    warning appended to ``warnings``.
    """
    if given is None:
        given = {}
    if not isinstance(given, dict):
        fail(where, name, f"must be a mapping, got {show(given)}")
    by_name = {f.name: f for f in fields(cls)}
    aliases = {f.metadata["alias"]: f.name for f in fields(cls) if f.metadata.get("alias")}
    values = {}
    for k, v in given.items():
        key = k
        if k in aliases:
            key = aliases[k]
            if key in given:
                fail(where, f"{name}.{k}", f"is the old name of {name}.{key}; give only one of them")
            if warnings is not None:
                warnings.append(f"{where}: {name}.{k} is deprecated, use {name}.{key}")
        if key not in by_name:
            fail(
                where,
                f"{name}.{show(k) if not isinstance(k, str) else k[:MAX_ECHO]}",
                f"unknown key (known: {', '.join(by_name)})",
            )
        values[key] = check_field(where, f"{name}.{key}", by_name[key], v)
    return cls(**values)


def describe(cls) -> list[str]:
    """One doc line per field: ``key: default  # doc [units] (range)``."""
    lines = []
    for f in fields(cls):
        default = f.default if f.default is not MISSING else f.default_factory()
        b: Bound = f.metadata["bound"]
        rng = ""
        if b.kind in ("int", "float"):
            lo = "" if b.minimum is None else f"{'>' if b.exclusive_min else '>='} {b.minimum:g}"
            hi = "" if b.maximum is None else f"<= {b.maximum:g}"
            rng = ", ".join(x for x in (lo, hi) if x)
        elif b.kind == "str":
            rng = "one of " + ", ".join(resolve_choices(b.choices))
        units = f" [{f.metadata['units']}]" if f.metadata["units"] else ""
        alias = f" (old name: {f.metadata['alias']})" if f.metadata.get("alias") else ""
        lines.append(f"{f.name}: {default!r}{units}  # {f.metadata['doc']}; {rng}{alias}".rstrip("; "))
    return lines


@dataclass(frozen=True)
class ElectronicSettings:
    """Everything the electronic stage needs besides the task: what one task's solve depends on."""

    states: StatesSection = field(default_factory=StatesSection)
    hamiltonian: HamiltonianSection = field(default_factory=HamiltonianSection)
    solver: SolverSection = field(default_factory=SolverSection)
    analysis: AnalysisSection = field(default_factory=AnalysisSection)

    @classmethod
    def from_job(cls, job) -> ElectronicSettings:
        return cls(states=job.states, hamiltonian=job.hamiltonian, solver=job.solver, analysis=job.analysis)
