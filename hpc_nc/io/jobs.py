"""Job files: YAML description of a sweep, validated into a frozen JobSpec and its tasks.

A job file can express every calculation of the paper (see jobs/*.yaml). Schema (all keys
optional unless marked; unknown keys are errors so that typos never pass silently)::

    name: demo                      # required; letters, digits, _ and -
    description: free text
    output:
      results: results/demo.h5      # default results/<name>.h5 (relative to the job file's cwd)
      structures: results/demo_structures.h5
    sweep:                          # required
      x_cu: [0.0]                   # grid over x_cu x x_in (Cartesian product) ...
      x_in: [0.5, 1.0]
      compositions: [[0.1, 0.4]]    # ... or explicit (x_cu, x_in) pairs (not both)
      core_radius_a: [1.0, 1.5]     # lattice constants (a = 5.409 A); halves allowed
      shell_thickness_a: [0, 1.0]   # 0 = core-only dot
      geometries: [[1.0, 2.0]]      # ... or explicit (R, H) pairs instead of the two lists
      vbo_ins: [1.1]                # eV, valence-band offset InS/ZnS (default [1.1])
      vbo_cus: [0.34]               # eV, CuS/ZnS (default [0.34])
      model: [STR]                  # any of VCA, NSTR, STR (default [STR])
      realizations: 2               # random alloy realisations per point (NSTR, STR)
      seed: 2024                    # alloy seed; realisation r uses seed*65536 + r
      points:                       # extra explicit points, each a full mapping
        - {x_cu: 0, x_in: 1, core_radius_a: 1, shell_thickness_a: 1, model: NSTR}
    states: {electrons: 4, holes: 8}   # spin-orbital states (even: Kramers pairs)
    solver:   {strategy: auto, tol: 1.0e-9, max_it: 500, ncv: 0, eps_options: {}}
              # strategy: auto (default: davidson or chebyshev per task from predicted time and
              # memory per rank, recorded as solver_strategy), davidson, chebyshev, shift-invert or
              # harmonic (hpc_nc/solvers/eigensolver.py);
              # eps_options: PETSc options, e.g. {davidson_mat_mumps_cntl_7: 1.0e-4}
    relax:    {tao_type: bncg, force_tol: 1.0e-4, max_it: 5000, tao_options: {}}
    physics:  {passivation_ev: 20.0, harrison_eta: 2.0}
    coulomb:  {epsilon: 5.2, onsite_ev: null, temperature_k: 300, broadening_ev: 0.01,
               n_radial_bins: 200}
    parallel: {ranks_per_task: 1}

Tasks are the Cartesian product compositions x geometries x VBOs x models x realisations,
followed by the explicit points. VCA has one realisation. A composition that leaves no
randomness (x_cu, x_in in {0, 1}) has one realisation too: repeating it would only repeat
the same dot. Task order is stable (it is the row order of the results file).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import yaml

from hpc_nc.errors import JobFileError
from hpc_nc.physics.geometry import count_atoms_in_sphere

MODELS = ("VCA", "NSTR", "STR")
from hpc_nc.solvers.eigensolver import STRATEGIES  # noqa: E402 (its one home)

_DEFAULTS: dict[str, dict[str, Any]] = {
    "states": {"electrons": 4, "holes": 8},
    "solver": {"strategy": "auto", "tol": 1e-9, "max_it": 500, "ncv": 0, "eps_options": {}},
    "relax": {"tao_type": "bncg", "force_tol": 1e-4, "max_it": 5000, "tao_options": {}},
    "physics": {"passivation_ev": 20.0, "harrison_eta": 2.0},
    "coulomb": {"epsilon": 5.2, "onsite_ev": None, "temperature_k": 300.0, "broadening_ev": 0.01,
                "n_radial_bins": 200},
    "parallel": {"ranks_per_task": 1},
}
_TOP_KEYS = {"name", "description", "output", "sweep", *_DEFAULTS}
_SWEEP_KEYS = {"x_cu", "x_in", "compositions", "core_radius_a", "shell_thickness_a", "geometries",
               "vbo_ins", "vbo_cus", "model", "realizations", "seed", "points"}
_POINT_KEYS = {"x_cu", "x_in", "core_radius_a", "shell_thickness_a", "vbo_ins", "vbo_cus", "model",
               "realizations"}


@dataclass(frozen=True)
class Task:
    """One (x_Cu, x_In, R, H, VBO, model, realisation) point: one row of the results file."""

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
        skey = (f"R{self.core_radius_a:g}_H{self.shell_thickness_a:g}_cu{self.x_cu:g}_in{self.x_in:g}"
                f"_{'vca' if self.model == 'VCA' else 'seed' + str(self.seed)}")
        object.__setattr__(self, "structure_key", skey)
        object.__setattr__(self, "key", f"{skey}_{self.model}_vboIn{self.vbo_ins:g}_vboCu{self.vbo_cus:g}")

    def as_dict(self) -> dict:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


@dataclass(frozen=True)
class JobSpec:
    name: str
    tasks: tuple[Task, ...]
    n_electrons: int
    n_holes: int
    ranks_per_task: int
    results_path: str
    structures_path: str
    solver: dict = field(default_factory=dict)
    relax: dict = field(default_factory=dict)
    physics: dict = field(default_factory=dict)
    coulomb: dict = field(default_factory=dict)
    job_text: str = ""
    source: str = ""

    @property
    def job_hash(self) -> str:
        return hashlib.sha256(self.job_text.encode()).hexdigest()


def _fail(where: str, key: str, problem: str) -> None:
    raise JobFileError(f"{where}: {key}: {problem}")


def _number(where, key, value, *, minimum=None, exclusive=False, maximum=None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(where, key, f"must be a number, got {value!r}")
    if minimum is not None and (value < minimum or (exclusive and value == minimum)):
        _fail(where, key, f"must be {'>' if exclusive else '>='} {minimum:g}, got {value!r}")
    if maximum is not None and value > maximum:
        _fail(where, key, f"must be <= {maximum:g}, got {value!r}")
    return float(value)


def _integer(where, key, value, minimum=0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        _fail(where, key, f"must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _number_list(where, key, value, **limits) -> list[float]:
    if not isinstance(value, list):
        value = [value]
    if not value:
        _fail(where, key, "must not be an empty list")
    return [_number(where, f"{key}[{i}]", v, **limits) for i, v in enumerate(value)]


def _pairs(where, key, value, names, limits) -> list[tuple[float, float]]:
    if not isinstance(value, list) or not value:
        _fail(where, key, "must be a non-empty list of pairs")
    out = []
    for i, pair in enumerate(value):
        if not isinstance(pair, list) or len(pair) != 2:
            _fail(where, f"{key}[{i}]", f"must be a pair [{names[0]}, {names[1]}], got {pair!r}")
        out.append(tuple(_number(where, f"{key}[{i}].{n}", v, **lim) for n, v, lim in zip(names, pair, limits)))
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
            _fail(where, f"{key}[{i}]", f"unknown model {m!r} (use one of {', '.join(MODELS)})")
    return list(value)


def _section(where, raw, name) -> dict:
    given = raw.get(name) or {}
    if not isinstance(given, dict):
        _fail(where, name, "must be a mapping")
    merged = dict(_DEFAULTS[name])
    for k, v in given.items():
        if k not in merged:
            _fail(where, f"{name}.{k}", f"unknown key (known: {', '.join(sorted(merged))})")
        merged[k] = v
    return merged


def _options(where, key, value) -> dict:
    if not isinstance(value, dict):
        _fail(where, key, "must be a mapping of PETSc option names to values")
    for k, v in value.items():
        if not isinstance(k, str) or not re.fullmatch(r"-?[A-Za-z0-9_]+", k):
            _fail(where, f"{key}.{k}", "is not a PETSc option name")
        if not isinstance(v, (str, int, float, bool)) and v is not None:
            _fail(where, f"{key}.{k}", f"value must be a scalar, got {v!r}")
    return {k.lstrip("-"): v for k, v in value.items()}


def atom_count(core_radius_a: float, shell_thickness_a: float) -> int:
    return count_atoms_in_sphere(core_radius_a + shell_thickness_a)


def load_job(path: str) -> JobSpec:
    """Read and validate a job file; raise JobFileError with a one-line message on any problem."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise JobFileError(f"{path}: job file not found") from None
    except OSError as exc:
        raise JobFileError(f"{path}: cannot read job file ({exc.strerror})") from None
    return parse_job(text, source=path)


def parse_job(text: str, source: str = "<job>", overrides: dict | None = None) -> JobSpec:
    where = source
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        loc = f" at line {mark.line + 1}" if mark is not None else ""
        raise JobFileError(f"{where}: not valid YAML{loc}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise JobFileError(f"{where}: the job file must be a YAML mapping")
    if overrides:
        raw = apply_overrides(raw, overrides, where)
    for k in raw:
        if k not in _TOP_KEYS:
            _fail(where, str(k), f"unknown key (known: {', '.join(sorted(_TOP_KEYS))})")
    name = raw.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        _fail(where, "name", f"required: letters, digits, '_', '-' or '.', got {name!r}")
    sweep = raw.get("sweep")
    if not isinstance(sweep, dict):
        _fail(where, "sweep", "required mapping is missing")
    for k in sweep:
        if k not in _SWEEP_KEYS:
            _fail(where, f"sweep.{k}", f"unknown key (known: {', '.join(sorted(_SWEEP_KEYS))})")

    states = _section(where, raw, "states")
    n_e = _integer(where, "states.electrons", states["electrons"], 2)
    n_h = _integer(where, "states.holes", states["holes"], 4)
    if n_e % 2 or n_h % 2:
        _fail(where, "states", "electrons and holes count spin-orbital states and must be even (Kramers pairs)")
    solver = _section(where, raw, "solver")
    if solver["strategy"] not in STRATEGIES:
        _fail(where, "solver.strategy", f"unknown strategy {solver['strategy']!r} (use one of {', '.join(STRATEGIES)})")
    _number(where, "solver.tol", solver["tol"], minimum=0, exclusive=True)
    _integer(where, "solver.max_it", solver["max_it"], 1)
    _integer(where, "solver.ncv", solver["ncv"], 0)
    solver["eps_options"] = _options(where, "solver.eps_options", solver["eps_options"])
    relax = _section(where, raw, "relax")
    if relax["tao_type"] not in ("cg", "bncg", "nls", "lmvm", "blmvm"):
        _fail(where, "relax.tao_type", f"unsupported TAO type {relax['tao_type']!r} (cg, bncg, nls, lmvm, blmvm)")
    _number(where, "relax.force_tol", relax["force_tol"], minimum=0, exclusive=True)
    _integer(where, "relax.max_it", relax["max_it"], 1)
    relax["tao_options"] = _options(where, "relax.tao_options", relax["tao_options"])
    physics = _section(where, raw, "physics")
    _number(where, "physics.passivation_ev", physics["passivation_ev"], minimum=0)
    _number(where, "physics.harrison_eta", physics["harrison_eta"], minimum=0)
    coulomb = _section(where, raw, "coulomb")
    _number(where, "coulomb.epsilon", coulomb["epsilon"], minimum=0, exclusive=True)
    if coulomb["onsite_ev"] is not None:
        _number(where, "coulomb.onsite_ev", coulomb["onsite_ev"], minimum=0)
    _number(where, "coulomb.temperature_k", coulomb["temperature_k"], minimum=0)
    _number(where, "coulomb.broadening_ev", coulomb["broadening_ev"], minimum=0, exclusive=True)
    _integer(where, "coulomb.n_radial_bins", coulomb["n_radial_bins"], 10)
    parallel = _section(where, raw, "parallel")
    ranks_per_task = _integer(where, "parallel.ranks_per_task", parallel["ranks_per_task"], 1)

    output = raw.get("output") or {}
    if not isinstance(output, dict):
        _fail(where, "output", "must be a mapping")
    for k in output:
        if k not in ("results", "structures"):
            _fail(where, f"output.{k}", "unknown key (known: results, structures)")
    results_path = output.get("results", f"results/{name}.h5")
    structures_path = output.get("structures", f"results/{name}_structures.h5")
    for k, v in (("output.results", results_path), ("output.structures", structures_path)):
        if not isinstance(v, str) or not v:
            _fail(where, k, "must be a file path")

    tasks = _expand(where, sweep)
    return JobSpec(
        name=name, tasks=tuple(tasks), n_electrons=n_e, n_holes=n_h, ranks_per_task=ranks_per_task,
        results_path=results_path, structures_path=structures_path, solver=solver, relax=relax,
        physics=physics, coulomb=coulomb, job_text=text, source=source,
    )


def _expand(where: str, sweep: dict) -> list[Task]:
    has_grid = "x_cu" in sweep or "x_in" in sweep
    if has_grid and "compositions" in sweep:
        _fail(where, "sweep.compositions", "give either x_cu/x_in lists or compositions pairs, not both")
    has_geo_lists = "core_radius_a" in sweep or "shell_thickness_a" in sweep
    if has_geo_lists and "geometries" in sweep:
        _fail(where, "sweep.geometries", "give either core_radius_a/shell_thickness_a lists or geometries pairs, not both")
    frac = dict(minimum=0.0, maximum=1.0)
    if "compositions" in sweep:
        comps = _pairs(where, "sweep.compositions", sweep["compositions"], ("x_cu", "x_in"), (frac, frac))
    elif has_grid:
        xs_cu = _number_list(where, "sweep.x_cu", sweep.get("x_cu", [0.0]), **frac)
        xs_in = _number_list(where, "sweep.x_in", sweep.get("x_in", [0.0]), **frac)
        comps = list(itertools.product(xs_cu, xs_in))
    else:
        comps = []
    for i, (c, n) in enumerate(comps):
        _check_composition(where, f"sweep composition {i} (x_cu={c:g}, x_in={n:g})", c, n)
    radius = dict(minimum=0.0, exclusive=True)
    shell = dict(minimum=0.0)
    if "geometries" in sweep:
        geos = _pairs(where, "sweep.geometries", sweep["geometries"], ("core_radius_a", "shell_thickness_a"),
                      (radius, shell))
    elif has_geo_lists:
        if "core_radius_a" not in sweep:
            _fail(where, "sweep.core_radius_a", "required with shell_thickness_a")
        rs = _number_list(where, "sweep.core_radius_a", sweep["core_radius_a"], **radius)
        hs = _number_list(where, "sweep.shell_thickness_a", sweep.get("shell_thickness_a", [0.0]), **shell)
        geos = list(itertools.product(rs, hs))
    else:
        geos = []
    vbo_ins = _number_list(where, "sweep.vbo_ins", sweep.get("vbo_ins", [1.1]))
    vbo_cus = _number_list(where, "sweep.vbo_cus", sweep.get("vbo_cus", [0.34]))
    models = _models(where, "sweep.model", sweep.get("model", ["STR"]))
    n_real = _integer(where, "sweep.realizations", sweep.get("realizations", 1), 1)
    seed = _integer(where, "sweep.seed", sweep.get("seed", 0), 0)
    if seed >= 2**40:
        _fail(where, "sweep.seed", "must be below 2^40")

    points: list[dict] = []
    if comps or geos:
        if not comps:
            _fail(where, "sweep", "geometries given but no compositions (x_cu/x_in or compositions)")
        if not geos:
            _fail(where, "sweep", "compositions given but no geometries (core_radius_a or geometries)")
        for (x_cu, x_in), (r, h), vi, vc, m in itertools.product(comps, geos, vbo_ins, vbo_cus, models):
            points.append(dict(x_cu=x_cu, x_in=x_in, core_radius_a=r, shell_thickness_a=h, vbo_ins=vi,
                               vbo_cus=vc, model=m, realizations=n_real))
    extra = sweep.get("points", [])
    if not isinstance(extra, list):
        _fail(where, "sweep.points", "must be a list of mappings")
    for i, p in enumerate(extra):
        w = f"sweep.points[{i}]"
        if not isinstance(p, dict):
            _fail(where, w, "must be a mapping")
        for k in p:
            if k not in _POINT_KEYS:
                _fail(where, f"{w}.{k}", f"unknown key (known: {', '.join(sorted(_POINT_KEYS))})")
        for k in ("x_cu", "x_in", "core_radius_a"):
            if k not in p:
                _fail(where, f"{w}.{k}", "required")
        x_cu = _number(where, f"{w}.x_cu", p["x_cu"], **frac)
        x_in = _number(where, f"{w}.x_in", p["x_in"], **frac)
        _check_composition(where, w, x_cu, x_in)
        points.append(dict(
            x_cu=x_cu, x_in=x_in,
            core_radius_a=_number(where, f"{w}.core_radius_a", p["core_radius_a"], **radius),
            shell_thickness_a=_number(where, f"{w}.shell_thickness_a", p.get("shell_thickness_a", 0.0), **shell),
            vbo_ins=_number(where, f"{w}.vbo_ins", p.get("vbo_ins", vbo_ins[0])),
            vbo_cus=_number(where, f"{w}.vbo_cus", p.get("vbo_cus", vbo_cus[0])),
            model=_models(where, f"{w}.model", p.get("model", models[0]))[0],
            realizations=_integer(where, f"{w}.realizations", p.get("realizations", n_real), 1),
        ))
    if not points:
        _fail(where, "sweep", "defines no task (give compositions and geometries, or points)")

    tasks: list[Task] = []
    seen: set[str] = set()
    counts: dict[float, int] = {}
    for p in points:
        deterministic = p["model"] == "VCA" or (p["x_cu"] in (0.0, 1.0) and p["x_in"] in (0.0, 1.0))
        total = p["core_radius_a"] + p["shell_thickness_a"]
        if total not in counts:
            counts[total] = count_atoms_in_sphere(total)
        for r in range(1 if deterministic else p["realizations"]):
            t = Task(index=len(tasks), x_cu=p["x_cu"], x_in=p["x_in"], core_radius_a=p["core_radius_a"],
                     shell_thickness_a=p["shell_thickness_a"], vbo_ins=p["vbo_ins"], vbo_cus=p["vbo_cus"],
                     model=p["model"], realization=r, seed=realisation_seed(seed, r), n_atoms=counts[total])
            if t.key in seen:  # an explicit point repeating a grid point
                continue
            seen.add(t.key)
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
                _fail(where, dotted, f"cannot set inside non-mapping {p!r}")
            node[p] = child = dict(child)
            node = child
        node[parts[-1]] = value
    return raw


def parse_set_options(items: list[str]) -> dict:
    """Turn ['sweep.model=NSTR', 'states.electrons=2'] into a dict with YAML-parsed values."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise JobFileError(f"--set {item}: expected key=value")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = yaml.safe_load(v)
        except yaml.YAMLError:
            raise JobFileError(f"--set {item}: value is not valid YAML") from None
    return out


# -- resource estimate -------------------------------------------------------------------------

def estimate_task_memory_bytes(n_atoms: int, n_states: int, strategy: str) -> int:
    """Rough peak memory of the electronic stage for one task (bytes).

    H: about 193 stored complex entries per atom (measured: on-site incl. spin-orbit and
    passivation + 4 bonds, see benchmarks/results_hamiltonian.md) at 16 B value + 4 B index;
    SLEPc: Krylov basis of max(2 n_states, n_states + 32) vectors of 10 N complex entries;
    shift-invert adds the sparse LU factor, which measured 4.9 GB for a 7a dot (11,543
    atoms) with MUMPS on one rank (DESIGN.md) and grows about as n^(4/3) in 3-D.
    davidson: search space V and H V of 100 columns each, plus the LDLᵀ factor of the 5N
    spin-orbit-free block (29 M entries = 0.46 GB at 7a before block-low-rank compression;
    the whole 7a solve peaked at 1.6 GB on one rank, benchmarks/RESULTS.md).
    """
    rows = 10 * n_atoms
    matrix = 200 * n_atoms * 20
    growth = (n_atoms / 11543) ** (4.0 / 3.0)
    if strategy == "auto":  # the strategy auto would pick with this machine's memory per rank
        from hpc_nc.solvers import cost

        strategy = cost.choose_strategy(n_atoms, n_states, 1, cost.memory_per_rank(1))
    if strategy == "chebyshev":  # H plus about six blocks of (n_states + guard 6) vectors
        return int(matrix + rows * 16 * (n_states + 6) * 6)
    if strategy == "davidson":
        return int(matrix + rows * 16 * 100 * 2 + 0.46e9 * growth)
    basis = rows * 16 * max(2 * n_states, n_states + 32) * 2
    lu = int(4.9e9 * growth) if strategy == "shift-invert" else 0
    return int(matrix + basis + lu)


def summarize(job: JobSpec) -> dict:
    n_atoms = np.array([t.n_atoms for t in job.tasks])
    mem = [estimate_task_memory_bytes(t.n_atoms, job.n_electrons + job.n_holes, job.solver["strategy"])
           for t in job.tasks]
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
