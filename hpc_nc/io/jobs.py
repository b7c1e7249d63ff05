"""Job files: YAML description of a sweep, validated into a frozen JobSpec and its tasks.

A job file can express every calculation of the paper (see jobs/*.yaml). Schema (all keys
optional unless marked; unknown keys are errors so that typos never pass silently). The
settings sections and their defaults, units and bounds are the dataclasses of
``hpc_nc/settings.py`` (the one home of every default; this text is tested against them)::

    name: demo                      # required; letters, digits, _, - and . (at most 100)
    description: free text
    output:
      results: results/demo.h5      # default results/<name>.h5 (relative to the job file's cwd)
      structures: results/demo_structures.h5   # must differ from results
    sweep:                          # required
      x_cu: [0.0]                   # grid over x_cu x x_in (Cartesian product) ...
      x_in: [0.5, 1.0]
      compositions: [[0.1, 0.4]]    # ... or explicit (x_cu, x_in) pairs (not both)
      core_radius_a: [1.0, 1.5]     # lattice constants (a = 5.409 A); halves allowed
      shell_thickness_a: [0, 1.0]   # 0 = core-only dot; core + shell <= 30 a
      geometries: [[1.0, 2.0]]      # ... or explicit (core_radius_a, shell_thickness_a) pairs
      vbo_ins: [1.1]                # eV, valence-band offset InS/ZnS (default [1.1])
      vbo_cus: [0.34]               # eV, CuS/ZnS (default [0.34])
      model: [STR]                  # any of VCA, NSTR, STR (default [STR])
      realizations: 2               # random alloy realisations per point (NSTR, STR), <= 65536
      seed: 2024                    # alloy seed; realisation r uses seed*65536 + r
      points:                       # extra explicit points, each a full mapping (a model
        - {x_cu: 0, x_in: 1, core_radius_a: 1, shell_thickness_a: 1, model: NSTR}  # list expands)
    states:      {electrons: 4, holes: 8}   # spin-orbital states (even: Kramers pairs), <= 256
    solver:      {strategy: 'auto', tol: 1e-09, max_it: 500, ncv: 0, petsc_options: {}}
                 # strategy: hpc_nc.solvers.eigensolver.STRATEGIES (auto: davidson or chebyshev per
                 # task from predicted time and memory per rank, recorded as solver_strategy);
                 # 1e-14 <= tol <= 1e-3;
                 # petsc_options (old name eps_options): PETSc options, e.g.
                 # {davidson_mat_mumps_cntl_7: 1.0e-4}
    relax:       {tao_type: 'bncg', force_tol: 0.0001, max_it: 5000, tao_options: {}}
    hamiltonian: {passivation_ev: 20.0, harrison_eta: 2.0}        # old name: physics
    analysis:    {epsilon: 5.2, onsite_ev: None, temperature_k: 300.0, broadening_ev: 0.01,
                  n_radial_bins: 200, screening: 'thomas-fermi-resta', method: 'auto'}
                 # old name: coulomb. screening: hpc_nc.physics.coulomb.SCREENING_MODELS;
                 # method: direct (exact sum), fft (convolution, ideal-lattice dots only) or auto
                 # (fft from hpc_nc.physics.coulomb_fft.AUTO_FFT_MIN_ATOMS atoms on the lattice)
    parallel:    {ranks_per_task: 1}

Tasks are the Cartesian product compositions x geometries x VBOs x models x realisations,
followed by the explicit points. VCA has one realisation. A composition that leaves no
randomness (x_cu, x_in in {0, 1}) has one realisation too: repeating it would only repeat
the same dot. Task order is stable (it is the row order of the results file). Task keys
print values with 6 significant digits; values that differ only below that are refused, and
so is a list that repeats a value.

Input is bounded before anything is expanded (docs/design.md, "Bounded input"): the file
size, the YAML nesting depth, aliases (refused), duplicate keys (refused), every size-like
key (hpc_nc/settings.py), and the number of tasks and atoms, which are counted in closed form.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
from dataclasses import dataclass, field

import numpy as np
import yaml

from hpc_nc import settings as st
from hpc_nc.errors import JobFileError
from hpc_nc.physics.geometry import count_atoms_by_columns
from hpc_nc.settings import (
    AnalysisSection,
    HamiltonianSection,
    ParallelSection,
    RelaxSection,
    SolverSection,
    StatesSection,
)
from hpc_nc.solvers.hamiltonian import MODELS

_fail = st.fail
_show = st.show

#: Largest job file read (bytes): the paper's biggest job (jobs/paper/fig12.yaml) is 5 kB.
MAX_JOB_BYTES = 1 << 20
#: Deepest YAML nesting accepted (a job file needs 4: sweep.points[i].model[j]).
MAX_NESTING = 16
#: Longest integer literal accepted (digits): every count and seed fits in 20.
MAX_INT_DIGITS = 30
#: Smallest dot: a central atom and its 4 neighbours (core + shell >= sqrt(3)/4 a); a dot
#: without a bond has no Hamiltonian hopping and no analysis.
MIN_ATOMS = 5

_TOP_KEYS = ("name", "description", "output", "sweep", *st.SECTIONS)
_SWEEP_KEYS = {
    "x_cu",
    "x_in",
    "compositions",
    "core_radius_a",
    "shell_thickness_a",
    "geometries",
    "vbo_ins",
    "vbo_cus",
    "model",
    "realizations",
    "seed",
    "points",
}
_POINT_KEYS = {"x_cu", "x_in", "core_radius_a", "shell_thickness_a", "vbo_ins", "vbo_cus", "model", "realizations"}


@dataclass(frozen=True)
class Task:
    """One (x_Cu, x_In, R, shell, VBO, model, realisation) point: one row of the results file."""

    index: int
    x_cu: float
    x_in: float
    core_radius_a: float
    shell_thickness_a: float
    vbo_ins: float
    vbo_cus: float
    model: str
    realization: int
    seed: int
    n_atoms: int

    # Derived identifiers, stored as fields so that they become columns of the results file.
    structure_key: str = field(init=False)  # geometry + composition + alloy seed (shared by VBOs)
    key: str = field(init=False)  # unique, stable id of the task

    def __post_init__(self):
        skey = (
            f"R{self.core_radius_a:g}_H{self.shell_thickness_a:g}_cu{self.x_cu:g}_in{self.x_in:g}"
            f"_{'vca' if self.model == 'VCA' else 'seed' + str(self.seed)}"
        )
        object.__setattr__(self, "structure_key", skey)
        object.__setattr__(self, "key", f"{skey}_{self.model}_vboIn{self.vbo_ins:g}_vboCu{self.vbo_cus:g}")

    def as_dict(self) -> dict:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


@dataclass(frozen=True)
class JobSpec:
    """A validated job: its tasks and one typed, frozen dataclass per settings section."""

    name: str
    tasks: tuple[Task, ...]
    results_path: str
    structures_path: str
    states: StatesSection = field(default_factory=StatesSection)
    solver: SolverSection = field(default_factory=SolverSection)
    relax: RelaxSection = field(default_factory=RelaxSection)
    hamiltonian: HamiltonianSection = field(default_factory=HamiltonianSection)
    analysis: AnalysisSection = field(default_factory=AnalysisSection)
    parallel: ParallelSection = field(default_factory=ParallelSection)
    job_text: str = ""
    source: str = ""
    warnings: tuple[str, ...] = ()  # deprecated keys used (one line each)

    @property
    def n_electrons(self) -> int:
        return self.states.electrons

    @property
    def n_holes(self) -> int:
        return self.states.holes

    @property
    def ranks_per_task(self) -> int:
        return self.parallel.ranks_per_task

    @property
    def job_hash(self) -> str:
        """SHA-256 of the job file's text, comments included (provenance)."""
        return hashlib.sha256(self.job_text.encode("utf-8", "surrogatepass")).hexdigest()

    @property
    def job_content_hash(self) -> str:
        """SHA-256 of what the job file says, not how: its parsed YAML as canonical JSON, so
        comments, key order and formatting do not change it (hpc_nc.paper's resume check)."""
        return content_hash(self.job_text)


def content_hash(job_text: str) -> str:
    """:attr:`JobSpec.job_content_hash` of a job file's text."""
    import json

    canonical = json.dumps(yaml.safe_load(job_text), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _number(where, key, value, *, minimum=None, exclusive=False, maximum=None, why_max="") -> float:
    return st.check_number(where, key, value, minimum=minimum, exclusive=exclusive, maximum=maximum, why_max=why_max)


def _integer(where, key, value, minimum=0, maximum=None, why_max="") -> int:
    return st.check_number(where, key, value, minimum=minimum, maximum=maximum, why_max=why_max, integer=True)


def _number_list(where, key, value, **limits) -> list[float]:
    if not isinstance(value, list):
        value = [value]
    if not value:
        _fail(where, key, "must not be an empty list")
    out = [_number(where, f"{key}[{i}]", v, **limits) for i, v in enumerate(value)]
    _distinct(where, key, out)
    return out


def _distinct(where, key, values) -> None:
    """Refuse repeated values, and values that task keys (6 significant digits) cannot tell apart."""
    seen: dict[str, tuple[int, object]] = {}
    for i, v in enumerate(values):
        text = "/".join(f"{x:g}" for x in v) if isinstance(v, tuple) else f"{v:g}"
        if text in seen:
            j, w = seen[text]
            what = "repeats" if w == v else "equals at the 6 significant digits of task keys"
            _fail(where, f"{key}[{i}]", f"{_show(v)} {what} {key}[{j}] = {_show(w)}; give distinct values")
        seen[text] = (i, v)


def _pairs(where, key, value, names, limits) -> list[tuple[float, float]]:
    if not isinstance(value, list) or not value:
        _fail(where, key, f"must be a non-empty list of pairs, got {_show(value)}")
    out = []
    for i, pair in enumerate(value):
        if not isinstance(pair, list) or len(pair) != 2:
            _fail(where, f"{key}[{i}]", f"must be a pair [{names[0]}, {names[1]}], got {_show(pair)}")
        out.append(tuple(_number(where, f"{key}[{i}].{n}", v, **lim) for n, v, lim in zip(names, pair, limits)))
    _distinct(where, key, out)
    return out


def _check_composition(where, key, x_cu, x_in):
    if x_cu + x_in > 1.0 + 1e-12:
        _fail(where, key, f"x_cu + x_in = {x_cu + x_in:g} exceeds 1 (impossible composition)")


def _models(where, key, value) -> list[str]:
    if not isinstance(value, list):
        value = [value]
    if not value:
        _fail(where, key, "must not be an empty list")
    for i, m in enumerate(value):
        if m not in MODELS:
            _fail(where, f"{key}[{i}]", f"unknown model {_show(m)} (use one of {', '.join(MODELS)})")
        if m in value[:i]:
            _fail(where, f"{key}[{i}]", f"repeats model {m}")
    return list(value)


def atom_count(core_radius_a: float, shell_thickness_a: float) -> int:
    """Atoms of a dot, counted in closed form (hpc_nc.physics.geometry.count_atoms_by_columns)."""
    return count_atoms_by_columns(core_radius_a + shell_thickness_a)


# -- YAML: bounded, strict, YAML-1.2 numbers ------------------------------------------------------


class _JobLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases, duplicate keys, deep nesting and huge integers, and reads
    ``1e-6`` as a number (YAML 1.2; YAML 1.1 would read it as a string)."""

    yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise JobFileError(
                f"YAML alias *{_show(event.anchor)[1:-1]} at line {event.start_mark.line + 1}: "
                "aliases are not allowed in job files (write the value out)"
            )
        self._depth += 1
        if self._depth > MAX_NESTING:
            raise JobFileError(
                f"nesting deeper than {MAX_NESTING} levels at line {self.peek_event().start_mark.line + 1}"
            )
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    raise JobFileError(f"line {key_node.start_mark.line + 1}: a mapping key must be a scalar") from None
                if key in seen:
                    raise JobFileError(
                        f"line {key_node.start_mark.line + 1}: duplicate key {_show(key)} "
                        f"(first given at line {seen[key] + 1})"
                    )
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node):
        digits = sum(ch.isdigit() for ch in node.value)
        if digits > MAX_INT_DIGITS:
            raise JobFileError(f"line {node.start_mark.line + 1}: integer of {digits} digits is too large")
        return super().construct_yaml_int(node)


_JobLoader.add_constructor("tag:yaml.org,2002:int", _JobLoader.construct_yaml_int)
_JobLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _yaml_load(text: str, where: str):
    """The YAML document in text, or a one-line JobFileError naming ``where``."""
    try:
        return yaml.load(text, Loader=_JobLoader)  # noqa: S506 - a SafeLoader subclass
    except JobFileError as exc:
        raise JobFileError(f"{where}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        loc = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc)
        if isinstance(exc, yaml.reader.ReaderError):
            problem = f"unacceptable character #x{exc.character:04x}" if isinstance(exc.character, int) else exc.reason
            loc = f" at position {exc.position}"
        problem = " ".join(str(problem).split())[:200]
        raise JobFileError(f"{where}: not valid YAML{loc}: {problem}") from None
    except RecursionError:
        raise JobFileError(f"{where}: nesting too deep") from None


def load_job(path: str) -> JobSpec:
    """Read and validate a job file; raise JobFileError with a one-line message on any problem."""
    if not _encodable(path, utf8=False):
        raise JobFileError(f"{_show(path)}: the job file name cannot be encoded as a file name")
    shown = path if len(path) <= 300 else _show(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_JOB_BYTES + 1)
    except FileNotFoundError:
        raise JobFileError(f"{shown}: job file not found") from None
    except IsADirectoryError:
        raise JobFileError(f"{shown}: is a directory, not a job file") from None
    except (OSError, ValueError) as exc:
        raise JobFileError(f"{shown}: cannot read job file ({getattr(exc, 'strerror', None) or exc})") from None
    if len(data) > MAX_JOB_BYTES:
        raise JobFileError(f"{shown}: job file larger than {MAX_JOB_BYTES // 1024} KiB (a job file is a few kB)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JobFileError(
            f"{shown}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); a job file is YAML text"
        ) from None
    return parse_job(text, source=shown)


def _encodable(path, utf8: bool = True) -> bool:
    """Whether the file system can take path (and, with utf8, whether it is UTF-8 text, as the
    job file and the HDF5 provenance must be; a command-line path may be any bytes)."""
    try:
        os.fsencode(path)
        if utf8:
            path.encode("utf-8")
        return True
    except (UnicodeError, TypeError):
        return False


def _section(where, raw, name, warnings) -> object:
    """Settings section ``name`` of the job, read from its deprecated alias with a warning."""
    key = name
    for old, new in st.SECTION_ALIASES.items():
        if new == name and old in raw:
            if name in raw:
                _fail(where, old, f"is the old name of {name}; give only one of them")
            warnings.append(f"{where}: section '{old}' is deprecated, use '{name}'")
            key = old
    return st.parse_section(st.SECTIONS[name], raw.get(key), where, key, warnings)


def parse_job(text: str, source: str = "<job>", overrides: dict | None = None) -> JobSpec:
    where = source
    if len(text) > MAX_JOB_BYTES:
        raise JobFileError(f"{where}: job text larger than {MAX_JOB_BYTES // 1024} KiB")
    raw = _yaml_load(text, where)
    if not isinstance(raw, dict):
        raise JobFileError(f"{where}: the job file must be a YAML mapping")
    if overrides:
        raw = apply_overrides(raw, overrides, where)
    known = (*_TOP_KEYS, *st.SECTION_ALIASES)
    for k in raw:
        if k not in known:
            _fail(
                where,
                _show(k) if not isinstance(k, str) else k[: st.MAX_ECHO],
                f"unknown key (known: {', '.join(_TOP_KEYS)})",
            )
    name = raw.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", name):
        _fail(where, "name", f"required: 1-100 letters, digits, '_', '-' or '.', got {_show(name)}")
    desc = raw.get("description")
    if desc is not None and not isinstance(desc, str):
        _fail(where, "description", f"must be text, got {_show(desc)}")
    sweep = raw.get("sweep")
    if not isinstance(sweep, dict):
        _fail(where, "sweep", "required mapping is missing")
    for k in sweep:
        if k not in _SWEEP_KEYS:
            _fail(
                where,
                f"sweep.{_show(k) if not isinstance(k, str) else k[: st.MAX_ECHO]}",
                f"unknown key (known: {', '.join(sorted(_SWEEP_KEYS))})",
            )

    warnings: list[str] = []
    sections = {name_: _section(where, raw, name_, warnings) for name_ in st.SECTIONS}
    states = sections["states"]

    output = raw.get("output")
    if output is None:
        output = {}
    if not isinstance(output, dict):
        _fail(where, "output", f"must be a mapping, got {_show(output)}")
    for k in output:
        if k not in ("results", "structures"):
            _fail(where, f"output.{_show(k)}", "unknown key (known: results, structures)")
    results_path = output.get("results", f"results/{name}.h5")
    structures_path = output.get("structures", f"results/{name}_structures.h5")
    for k, v in (("output.results", results_path), ("output.structures", structures_path)):
        check_output_path(where, k, v)
    if os.path.normpath(results_path) == os.path.normpath(structures_path):
        _fail(where, "output.structures", f"is the same file as output.results ({_show(results_path)})")

    tasks = _expand(where, sweep, states.electrons + states.holes)
    return JobSpec(
        name=name,
        tasks=tuple(tasks),
        results_path=results_path,
        structures_path=structures_path,
        job_text=text,
        source=source,
        warnings=tuple(warnings),
        **sections,
    )


def check_output_path(where: str, key: str, path) -> str:
    """A usable output file path (text that the file system can encode, not a directory name)."""
    if not isinstance(path, str) or not path.strip():
        _fail(where, key, f"must be a file path, got {_show(path)}")
    if len(path) > 4096 or "\0" in path:
        _fail(where, key, f"is not a usable file path: {_show(path)}")
    if not _encodable(path):
        _fail(where, key, f"cannot be encoded as a UTF-8 file name: {_show(path)}")
    if path.endswith(("/", os.sep)) or os.path.isdir(path):
        _fail(where, key, f"is a directory, not a file: {_show(path)}")
    return path


def _expand(where: str, sweep: dict, n_states: int) -> list[Task]:
    has_grid = "x_cu" in sweep or "x_in" in sweep
    if has_grid and "compositions" in sweep:
        _fail(where, "sweep.compositions", "give either x_cu/x_in lists or compositions pairs, not both")
    has_geo_lists = "core_radius_a" in sweep or "shell_thickness_a" in sweep
    if has_geo_lists and "geometries" in sweep:
        _fail(
            where, "sweep.geometries", "give either core_radius_a/shell_thickness_a lists or geometries pairs, not both"
        )
    frac = dict(minimum=0.0, maximum=1.0)
    why = f"core + shell <= {st.MAX_DOT_RADIUS_A:g} a (16 nm), the bulk limit of confinement"
    radius = dict(minimum=0.0, exclusive=True, maximum=st.MAX_DOT_RADIUS_A, why_max=why)
    shell = dict(minimum=0.0, maximum=st.MAX_DOT_RADIUS_A, why_max=why)
    vbo = dict(minimum=-10.0, maximum=10.0, why_max="band offsets are a few eV")

    # lists first (their lengths are bounded by the file size); products are counted, not built
    xs_cu = xs_in = comp_pairs = None
    if "compositions" in sweep:
        comp_pairs = _pairs(where, "sweep.compositions", sweep["compositions"], ("x_cu", "x_in"), (frac, frac))
        for i, (c, n) in enumerate(comp_pairs):
            _check_composition(where, f"sweep.compositions[{i}] (x_cu={c:g}, x_in={n:g})", c, n)
        n_comps = len(comp_pairs)
        n_pure = sum(c in (0.0, 1.0) and n in (0.0, 1.0) for c, n in comp_pairs)
    elif has_grid:
        xs_cu = _number_list(where, "sweep.x_cu", sweep.get("x_cu", [0.0]), **frac)
        xs_in = _number_list(where, "sweep.x_in", sweep.get("x_in", [0.0]), **frac)
        # the largest pair decides whether any composition of the grid is impossible
        _check_composition(
            where, f"sweep composition (x_cu={max(xs_cu):g}, x_in={max(xs_in):g})", max(xs_cu), max(xs_in)
        )
        n_comps = len(xs_cu) * len(xs_in)
        n_pure = sum(c in (0.0, 1.0) for c in xs_cu) * sum(n in (0.0, 1.0) for n in xs_in)
    else:
        n_comps = n_pure = 0
    radii = shells = geo_pairs = None
    if "geometries" in sweep:
        geo_pairs = _pairs(
            where, "sweep.geometries", sweep["geometries"], ("core_radius_a", "shell_thickness_a"), (radius, shell)
        )
        n_geos = len(geo_pairs)
    elif has_geo_lists:
        if "core_radius_a" not in sweep:
            _fail(where, "sweep.core_radius_a", "required with shell_thickness_a")
        radii = _number_list(where, "sweep.core_radius_a", sweep["core_radius_a"], **radius)
        shells = _number_list(where, "sweep.shell_thickness_a", sweep.get("shell_thickness_a", [0.0]), **shell)
        n_geos = len(radii) * len(shells)
    else:
        n_geos = 0
    vbo_ins = _number_list(where, "sweep.vbo_ins", sweep.get("vbo_ins", [1.1]), **vbo)
    vbo_cus = _number_list(where, "sweep.vbo_cus", sweep.get("vbo_cus", [0.34]), **vbo)
    models = _models(where, "sweep.model", sweep.get("model", ["STR"]))
    n_real = _integer(
        where,
        "sweep.realizations",
        sweep.get("realizations", 1),
        1,
        st.MAX_REALIZATIONS,
        "realisation seeds are distinct below 2^16",
    )
    seed = _integer(where, "sweep.seed", sweep.get("seed", 0), 0, 2**40 - 1, "below 2^40")

    if n_comps or n_geos:
        if not n_comps:
            _fail(where, "sweep", "geometries given but no compositions (x_cu/x_in or compositions)")
        if not n_geos:
            _fail(where, "sweep", "compositions given but no geometries (core_radius_a or geometries)")
    per_model = sum(n_comps if m == "VCA" else n_pure + (n_comps - n_pure) * n_real for m in models)
    n_tasks = n_geos * len(vbo_ins) * len(vbo_cus) * per_model

    extra = sweep.get("points", [])
    if extra is None:
        extra = []
    if not isinstance(extra, list):
        _fail(where, "sweep.points", f"must be a list of mappings, got {_show(extra)}")
    points: list[tuple[str, dict]] = []
    for i, p in enumerate(extra):
        w = f"sweep.points[{i}]"
        if not isinstance(p, dict):
            _fail(where, w, f"must be a mapping, got {_show(p)}")
        for k in p:
            if k not in _POINT_KEYS:
                _fail(
                    where,
                    f"{w}.{_show(k) if not isinstance(k, str) else k[: st.MAX_ECHO]}",
                    f"unknown key (known: {', '.join(sorted(_POINT_KEYS))})",
                )
        for k in ("x_cu", "x_in", "core_radius_a"):
            if k not in p:
                _fail(where, f"{w}.{k}", "required")
        x_cu = _number(where, f"{w}.x_cu", p["x_cu"], **frac)
        x_in = _number(where, f"{w}.x_in", p["x_in"], **frac)
        _check_composition(where, w, x_cu, x_in)
        common = dict(
            x_cu=x_cu,
            x_in=x_in,
            core_radius_a=_number(where, f"{w}.core_radius_a", p["core_radius_a"], **radius),
            shell_thickness_a=_number(where, f"{w}.shell_thickness_a", p.get("shell_thickness_a", 0.0), **shell),
            vbo_ins=_number(where, f"{w}.vbo_ins", p.get("vbo_ins", vbo_ins[0]), **vbo),
            vbo_cus=_number(where, f"{w}.vbo_cus", p.get("vbo_cus", vbo_cus[0]), **vbo),
            realizations=_integer(
                where,
                f"{w}.realizations",
                p.get("realizations", n_real),
                1,
                st.MAX_REALIZATIONS,
                "realisation seeds are distinct below 2^16",
            ),
        )
        # a model list expands into one point per model, like the sweep's model list
        for m in _models(where, f"{w}.model", p.get("model", models[0])):
            points.append((w, dict(common, model=m)))
            pure = x_cu in (0.0, 1.0) and x_in in (0.0, 1.0)
            n_tasks += 1 if m == "VCA" or pure else common["realizations"]
    if n_tasks == 0:
        _fail(where, "sweep", "defines no task (give compositions and geometries, or points)")
    if n_tasks > st.MAX_TASKS:
        _fail(
            where,
            "sweep",
            f"defines {n_tasks:,} tasks, more than {st.MAX_TASKS:,} per job (split the sweep into several jobs)",
        )
    geos = geo_pairs if geo_pairs is not None else (list(itertools.product(radii, shells)) if radii is not None else [])
    comps = comp_pairs if comp_pairs is not None else (list(itertools.product(xs_cu, xs_in)) if xs_cu else [])
    grid = [
        (
            "sweep",
            dict(
                x_cu=c,
                x_in=n,
                core_radius_a=core,
                shell_thickness_a=shell_a,
                vbo_ins=vi,
                vbo_cus=vc,
                model=m,
                realizations=n_real,
            ),
        )
        for (c, n), (core, shell_a), vi, vc, m in itertools.product(comps, geos, vbo_ins, vbo_cus, models)
    ]

    counts: dict[float, int] = {}
    for origin, p in grid + points:
        total = p["core_radius_a"] + p["shell_thickness_a"]
        if total > st.MAX_DOT_RADIUS_A:
            _fail(where, origin, f"core_radius_a + shell_thickness_a = {total:g} a exceeds {why}")
        if total not in counts:
            counts[total] = n_atoms = atom_count(p["core_radius_a"], p["shell_thickness_a"])
            if n_atoms < MIN_ATOMS:
                _fail(
                    where,
                    origin,
                    f"a dot of radius {total:g} a has {n_atoms} atom(s): too small (at least "
                    f"{MIN_ATOMS}, a central atom and its 4 neighbours: core + shell >= 0.433 a)",
                )
            if 10 * n_atoms < 2 * n_states + 16:
                _fail(
                    where,
                    origin,
                    f"a dot of radius {total:g} a has {n_atoms} atoms ({10 * n_atoms} states "
                    f"in all), too few for {n_states} gap states (states.electrons + states.holes)",
                )

    tasks: list[Task] = []
    by_key: dict[str, tuple] = {}
    by_structure: dict[str, tuple] = {}
    for origin, p in grid + points:
        deterministic = p["model"] == "VCA" or (p["x_cu"] in (0.0, 1.0) and p["x_in"] in (0.0, 1.0))
        total = p["core_radius_a"] + p["shell_thickness_a"]
        for r in range(1 if deterministic else p["realizations"]):
            t = Task(
                index=len(tasks),
                x_cu=p["x_cu"],
                x_in=p["x_in"],
                core_radius_a=p["core_radius_a"],
                shell_thickness_a=p["shell_thickness_a"],
                vbo_ins=p["vbo_ins"],
                vbo_cus=p["vbo_cus"],
                model=p["model"],
                realization=r,
                seed=realisation_seed(seed, r),
                n_atoms=counts[total],
            )
            exact = (t.x_cu, t.x_in, t.core_radius_a, t.shell_thickness_a, t.vbo_ins, t.vbo_cus, t.model, t.seed)
            if t.key in by_key:
                if by_key[t.key][0] == exact:  # an explicit point repeating a grid point
                    continue
                _fail(
                    where,
                    origin,
                    f"task {t.key} differs from the task of {by_key[t.key][1]} only below "
                    "the 6 significant digits of task keys; give distinct values",
                )
            structure = exact[:4] + (t.model == "VCA", t.seed)
            if by_structure.setdefault(t.structure_key, (structure, origin))[0] != structure:
                _fail(
                    where,
                    origin,
                    f"structure {t.structure_key} differs from that of "
                    f"{by_structure[t.structure_key][1]} only below the 6 significant digits of task keys",
                )
            by_key[t.key] = (exact, origin)
            tasks.append(t)
    return tasks


def realisation_seed(job_seed: int, realization: int) -> int:
    """Alloy seed of realisation r: distinct for every (job seed, r) pair below 2^16 realisations."""
    return job_seed * 65536 + realization


def apply_overrides(raw: dict, overrides: dict, where: str) -> dict:
    """``--set section.key=value`` overrides (values parsed as YAML) applied to the raw mapping."""
    raw = dict(raw)
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        node = raw
        for p in parts[:-1]:
            child = node.get(p)
            if child is None:
                child = {}
            elif not isinstance(child, dict):
                _fail(where, _show(dotted), f"cannot set inside non-mapping {_show(p)}")
            node[p] = child = dict(child)
            node = child
        node[parts[-1]] = value
    return raw


def parse_set_options(items: list[str]) -> dict:
    """Turn ['sweep.model=NSTR', 'states.electrons=2'] into a dict with YAML-parsed values."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise JobFileError(f"--set {_show(item)}: expected key=value")
        k, v = item.split("=", 1)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,3}", k.strip()):
            raise JobFileError(f"--set {_show(item)}: expected section.key=value")
        out[k.strip()] = _yaml_load(v, f"--set {_show(item)}")
    return out


# -- resource estimate -------------------------------------------------------------------------


def estimate_task_memory_bytes(n_atoms: int, n_states: int, strategy: str, ranks: int = 1) -> int:
    """Predicted peak resident memory (bytes, per rank) of one electronic-stage task.

    The whole process, imports included, from the cost model's fits to measured runs
    (hpc_nc/pipeline/cost.py, coefficients in hpc_nc/data/cost_model.yaml).
    """
    from hpc_nc.pipeline.cost import predict_task, resolve_strategy

    strategy = resolve_strategy(strategy, n_atoms, n_states, ranks)  # auto: the predicted fastest
    return int(predict_task(n_atoms, n_states, strategy, ranks).peak_bytes)


def summarize(job: JobSpec) -> dict:
    n_atoms = np.array([t.n_atoms for t in job.tasks])
    by_size = {
        n: estimate_task_memory_bytes(n, job.n_electrons + job.n_holes, job.solver.strategy, job.ranks_per_task)
        for n in {t.n_atoms for t in job.tasks}
    }
    mem = [by_size[t.n_atoms] for t in job.tasks]
    models = sorted({t.model for t in job.tasks})
    return {
        "job": job.name,
        "source": job.source,
        "n_tasks": len(job.tasks),
        "n_structures_to_relax": len({t.structure_key for t in job.tasks if t.model == "STR"}),
        "models": models,
        "n_atoms_min": int(n_atoms.min()),
        "n_atoms_max": int(n_atoms.max()),
        "memory_per_task_bytes_max": int(max(mem)),
        "ranks_per_task": job.ranks_per_task,
        "results": job.results_path,
        "structures": job.structures_path,
        "tasks": [t.as_dict() | {"memory_estimate_bytes": m} for t, m in zip(job.tasks, mem)],
    }
