"""Export a results file to CSV tables and its structures to extended XYZ (serial).

Per-task CSV (:func:`export_csv`), one row per task in task order. Columns, in this order
(a result field missing from the results is left out with a note; NaN = not computed):

==========================  =================  ==============================================
column                      units              meaning
==========================  =================  ==============================================
task                        1                  task index (row of the results file)
key                         text               task key (geometry, composition, seed, model, VBOs)
x_cu, x_in                  1                  nominal Cu and In fractions of the core cations
core_radius_a               lattice constant   core radius R (a = 5.409 Å)
shell_thickness_a           lattice constant   ZnS shell thickness H
vbo_ins, vbo_cus            eV                 valence-band offsets InS/ZnS and CuS/ZnS
model                       text               VCA, NSTR or STR
realization, seed           1                  alloy realisation number and its seed
n_atoms                     1                  atoms in the dot
status                      text               pending, done or failed
message                     text               error of a failed task
E1, H1, gap                 eV                 lowest electron, highest hole level, E1 - H1
e_1 .. e_n                  eV                 electron levels, ascending (spin-orbitals)
h_1 .. h_n                  eV                 hole levels, descending (spin-orbitals)
exciton_energy              eV                 CI exciton ground state
dipole_sq                   Å²                 optical activity: |d|² over the E1 x H1 levels, per Kramers pair
J_ee, J_hh, J_eh            eV                 Coulomb integrals E1E1, H1H1, E1H1
dXX                         eV                 biexciton binding J_ee + J_hh - 2 J_eh
core_weight_e, _h           1                  share of |E1|², |H1|² on core atoms
r_max_e, r_max_h            Å                  radius of the envelope maximum of E1, H1
separation                  Å                  r_max_e - r_max_h, signed (> 0: electron maximum further out)
overlap_atomic, _envelope   1                  E1-H1 overlap of atomic / envelope densities
confinement                 text               type-I, quasi-type-II, type-II or mixed
==========================  =================  ==============================================

Ensemble CSV (``ensemble=True``): one row per sweep point (tasks equal except for the
realisation, see :mod:`hpc_nc.io.ensemble`): x_cu, x_in, core_radius_a, shell_thickness_a,
vbo_ins, vbo_cus, model, n_atoms, n_tasks, n_realizations (done realisations), then
``<c>_mean`` and ``<c>_sem`` for every numeric column c above from E1 to overlap_envelope
(standard error s/sqrt(n) with the sample standard deviation, NaN when n < 2), then
confinement (majority class among done realisations) and confinement_fraction.

Extended XYZ (:func:`export_xyz`): one file per structure, ``<structure_key>_relaxed.xyz``
(STR: VFF-relaxed positions from the structures file) or ``<structure_key>_ideal.xyz``
(VCA, NSTR: ideal zinc-blende positions). Comment line:
``Properties=species:S:1:pos:R:3:core:I:1 pbc="F F F"`` and the task parameters as
key=value pairs; no ``Lattice`` (an isolated cluster). Species S, Zn, In, Cu as stored by
the run (the per-atom ``species`` field: structures file for STR, results file for NSTR; an
alloy is never re-drawn here); the virtual cations of a VCA core are written as ``X`` (ASE's
dummy element). ``core`` is 1 for core
atoms. Positions in Å, origin at the central anion. Readable by ASE (``ase.io.read``) and
OVITO.
"""

from __future__ import annotations

import csv
import os
import sys
from typing import Any, Callable

import numpy as np

from hpc_nc.io.ensemble import DONE, GROUP_KEYS, STATUS_NAMES, ResultsError, aggregate, as_table
from hpc_nc.io.paths import atomic_write, check_output_path
from hpc_nc.io.schema import CORRUPT, species_names

TASK_COLUMNS = (
    "task",
    "key",
    "x_cu",
    "x_in",
    "core_radius_a",
    "shell_thickness_a",
    "vbo_ins",
    "vbo_cus",
    "model",
    "realization",
    "seed",
    "n_atoms",
    "status",
    "message",
)
# Scalar result columns before / after the level lists e_i, h_i.
LEADING_FIELDS = ("E1", "H1", "gap")
TRAILING_FIELDS = (
    "exciton_energy",
    "dipole_sq",
    "J_ee",
    "J_hh",
    "J_eh",
    "dXX",
    "core_weight_e",
    "core_weight_h",
    "r_max_e",
    "r_max_h",
    "separation",
    "overlap_atomic",
    "overlap_envelope",
)
LEVELS = (("e", "electron_energies"), ("h", "hole_energies"))


def _stderr(message: str) -> None:
    print(f"hpc-nc: {message}", file=sys.stderr)


def _fmt(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return "nan" if not np.isfinite(value) else format(float(value), ".10g")
    if isinstance(value, (np.integer,)):
        return str(int(value))
    return str(value)


def _numeric_columns(source: dict, suffix: str, n_rows: int, log: Callable) -> list[tuple[str, np.ndarray]]:
    """(column name, values) of E1 .. overlap_envelope present in ``source`` (fields + suffix)."""
    cols: list[tuple[str, np.ndarray]] = []
    missing = []

    def scalar(name):
        v = source.get(name + suffix)
        if v is None or np.shape(v) != (n_rows,):
            missing.append(name)
        else:
            cols.append((name, np.asarray(v, dtype=np.float64)))

    for name in LEADING_FIELDS:
        scalar(name)
    for prefix, field in LEVELS:
        v = source.get(field + suffix)
        if v is None or np.ndim(v) != 2 or np.shape(v)[0] != n_rows:
            missing.append(field)
            continue
        cols += [(f"{prefix}_{k + 1}", np.asarray(v[:, k], dtype=np.float64)) for k in range(np.shape(v)[1])]
    for name in TRAILING_FIELDS:
        scalar(name)
    if missing:
        log(f"export: results have no {', '.join(missing)}; column(s) left out")
    return cols


def _write(path: str, header: list[str], rows: list[list]) -> None:
    """CSV through a temporary file renamed over ``path`` (regular files only, io.paths)."""
    with atomic_write(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows([[_fmt(v) for v in row] for row in rows])


def export_csv(
    results: Any, path: str, *, ensemble: bool = False, log: Callable[[str], None] | None = None
) -> list[str]:
    """Write the per-task table (or, with ``ensemble``, the per-point table) as CSV.

    ``results``: a results file path or dict (see :func:`hpc_nc.io.ensemble.as_table`).
    Returns the column names written (module docstring lists them). Serial.
    """
    log = log or _stderr
    table = as_table(results)
    n = table["n_tasks"]
    if not ensemble:
        status = np.asarray(table["status"]).astype(int)
        base = {
            "task": np.asarray(table["index"]),
            "key": table.get("key"),
            **{k: table[k] for k in GROUP_KEYS},
            "realization": np.asarray(table["realization"]),
            "seed": table.get("seed"),
            "n_atoms": table.get("n_atoms"),
            # anything but done/failed is pending (a fresh store row may hold its fill value -1)
            "status": np.array([STATUS_NAMES.get(int(s), "pending") for s in status]),
            "message": table["message"],
        }
        columns = [(c, base[c]) for c in TASK_COLUMNS if base[c] is not None]
        columns += _numeric_columns(table, "", n, log)
        if "confinement" in table:
            conf = np.asarray(table["confinement"]).astype(str)
            columns.append(("confinement", np.where(status == DONE, conf, "")))
        else:
            log("export: results have no confinement; column left out")
    else:
        agg = aggregate(table)
        m = len(agg["model"])
        columns = [(k, agg[k]) for k in GROUP_KEYS]
        if "n_atoms" in agg:
            columns.append(("n_atoms", agg["n_atoms"]))
        columns += [("n_tasks", agg["n_tasks"]), ("n_realizations", agg["n_realizations"])]
        means = _numeric_columns(agg, "_mean", m, log)
        sems = dict(_numeric_columns(agg, "_sem", m, lambda _msg: None))
        for name, mean in means:  # name_mean, name_sem side by side
            columns += [(f"{name}_mean", mean), (f"{name}_sem", sems[name])]
        columns += [("confinement", agg["confinement"]), ("confinement_fraction", agg["confinement_fraction"])]
        n = m
    header = [c for c, _ in columns]
    rows = [[np.asarray(values)[i] for _, values in columns] for i in range(n)]
    _write(os.fspath(path), header, rows)
    return header


# -- extended XYZ ------------------------------------------------------------------------
def _read_structure(structures_path: str, key: str) -> dict:
    from hpc_nc.io import store

    return store.read_structure(structures_path, key)


def _is_job(results_or_job: Any) -> bool:
    from hpc_nc.io.jobs import JobSpec

    return isinstance(results_or_job, JobSpec) or (
        isinstance(results_or_job, (str, os.PathLike)) and os.fspath(results_or_job).endswith((".yaml", ".yml"))
    )


def _tasks_from(results_or_job: Any) -> list:
    """Task objects from a JobSpec, a job file, a results file or a results dict."""
    from hpc_nc.io.jobs import JobSpec, Task, load_job

    if isinstance(results_or_job, JobSpec):
        return list(results_or_job.tasks)
    if isinstance(results_or_job, (str, os.PathLike)) and os.fspath(results_or_job).endswith((".yaml", ".yml")):
        return list(load_job(os.fspath(results_or_job)).tasks)
    table = as_table(results_or_job)
    n = table["n_tasks"]
    for k in ("seed", "n_atoms"):
        if k not in table:
            raise ResultsError(f"results lack the task column {k!r} needed to rebuild the structures")
    return [
        Task(
            index=int(table["index"][i]),
            x_cu=float(table["x_cu"][i]),
            x_in=float(table["x_in"][i]),
            core_radius_a=float(table["core_radius_a"][i]),
            shell_thickness_a=float(table["shell_thickness_a"][i]),
            vbo_ins=float(table["vbo_ins"][i]),
            vbo_cus=float(table["vbo_cus"][i]),
            model=str(table["model"][i]),
            realization=int(table["realization"][i]),
            seed=int(table["seed"][i]),
            n_atoms=int(table["n_atoms"][i]),
        )
        for i in range(n)
    ]


def _comment(params: dict) -> str:
    parts = ["Properties=species:S:1:pos:R:3:core:I:1", 'pbc="F F F"']
    for k, v in params.items():
        if isinstance(v, bool):
            text = "T" if v else "F"
        elif isinstance(v, float):
            text = format(v, ".10g")
        else:
            text = str(v)
        parts.append(f'{k}="{text}"' if (" " in text or not text) else f"{k}={text}")
    return " ".join(parts)


def write_xyz(path: str, species, positions: np.ndarray, core: np.ndarray, params: dict) -> None:
    """One extended-XYZ frame (positions in Å)."""
    lines = [str(len(positions)), _comment(params)]
    lines += [f"{s:<2s} {x:15.8f} {y:15.8f} {z:15.8f} {int(c)}" for s, (x, y, z), c in zip(species, positions, core)]
    with atomic_write(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def _stored_species(table: dict | None, rows: list[int]) -> np.ndarray | None:
    """Species codes of the first done row among ``rows`` (results' per-atom ``species``)."""
    if table is None or "species" not in table or "atom_offsets" not in table:
        return None
    offsets = np.asarray(table["atom_offsets"])
    species = np.asarray(table["species"])
    status = np.asarray(table["status"]).astype(int)
    for row in rows:
        if status[row] == DONE:
            return species[int(offsets[row]) : int(offsets[row + 1])]
    return None


def export_xyz(
    structures_path: str | None, results_or_job: Any, out_dir: str, *, log: Callable[[str], None] | None = None
) -> list[str]:
    """Write one extended-XYZ file per structure of the job (module docstring); serial.

    ``results_or_job``: results file or results dict (or a JobSpec / job file, which know no
    random alloy): the tasks whose structures are written. Species are never re-drawn: STR
    structures take positions and species from ``structures_path``; NSTR structures take the
    species the electronic stage stored in the results (a done row of the structure); VCA
    structures are fixed by the composition. A structure without stored data (not relaxed,
    failed, not done) is skipped with one note. A ``structures_path`` that does not exist
    while STR structures are asked for is an error (:class:`ResultsError`). Returns the files.
    """
    from hpc_nc.errors import HpcNcError
    from hpc_nc.io.schema import species_codes
    from hpc_nc.physics.alloy import virtual_crystal
    from hpc_nc.physics.geometry import build_nanocrystal

    log = log or _stderr
    tasks = _tasks_from(results_or_job)
    table = None if _is_job(results_or_job) else as_table(results_or_job)
    seen: dict[tuple[str, bool], list[int]] = {}
    first: dict[tuple[str, bool], Any] = {}
    for t in tasks:
        ident = (t.structure_key, t.model == "STR")
        seen.setdefault(ident, []).append(t.index)
        first.setdefault(ident, t)
    if structures_path and any(relaxed for _k, relaxed in first) and not os.path.exists(structures_path):
        raise ResultsError(
            f"export --xyz: structures file {structures_path} does not exist (give it with "
            "--structures FILE, or run `hpc-nc relax JOB` first)"
        )
    out_dir = os.fspath(out_dir)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise ResultsError(f"cannot create the folder {out_dir}: {exc.strerror}") from None
    if not os.path.isdir(out_dir):
        raise ResultsError(f"{out_dir} is not a folder")
    geometries: dict[tuple[float, float], Any] = {}
    written, skipped = [], []
    for ident, t in first.items():
        key, relaxed = ident
        geo = (t.core_radius_a, t.shell_thickness_a)
        if geo not in geometries:
            geometries[geo] = build_nanocrystal(*geo)
        nc = geometries[geo]
        positions = nc.positions
        codes = None
        if relaxed:
            if not structures_path:
                skipped.append(f"{key} (no structures file given)")
                continue
            try:
                stored = _read_structure(structures_path, key)
            except (HpcNcError, KeyError, OSError) as exc:
                skipped.append(f"{key} ({exc})")
                continue
            positions = np.asarray(stored["positions"], dtype=np.float64)
            codes = np.asarray(stored.get("species"))
        elif t.model == "VCA":  # no random draw: every core cation is the same (virtual) one
            codes = species_codes(virtual_crystal(nc, t.x_cu, t.x_in).compound_weights)
        else:
            codes = _stored_species(table, seen[ident])
            if codes is None:
                skipped.append(f"{key} (its species are stored with a done task in the results file; none found)")
                continue
        if positions.shape != (nc.n_atoms, 3) or np.shape(codes) != (nc.n_atoms,):
            skipped.append(
                f"{key} (stored positions {positions.shape} / species {np.shape(codes)}, dot has {nc.n_atoms} atoms)"
            )
            continue
        species = species_names(codes)
        params = {
            "structure_key": key,
            "model": t.model,
            "relaxed": relaxed,
            "x_cu": t.x_cu,
            "x_in": t.x_in,
            "core_radius_a": t.core_radius_a,
            "shell_thickness_a": t.shell_thickness_a,
            "lattice_constant": nc.lattice_constant,
            "seed": t.seed if t.model != "VCA" else -1,
            "realization": t.realization,
            "n_atoms": nc.n_atoms,
            "tasks": " ".join(str(i) for i in seen[ident]),
            "units": "angstrom",
        }
        path = os.path.join(out_dir, f"{key}_{'relaxed' if relaxed else 'ideal'}.xyz")
        write_xyz(path, species, positions, nc.in_core.astype(int), params)
        written.append(path)
    if skipped:
        log(
            f"export: {len(skipped)} structure(s) not written: "
            + "; ".join(skipped[:5])
            + (" ..." if len(skipped) > 5 else "")
        )
    return written


# -- command line ---------------------------------------------------------------------------
def default_structures_path(results_path: str) -> str:
    """The job files' default naming: results/<name>.h5 -> results/<name>_structures.h5."""
    stem = results_path[:-3] if results_path.endswith(".h5") else results_path
    return f"{stem}_structures.h5"


def add_arguments(parser) -> None:
    """Options of ``hpc-nc export``."""
    parser.add_argument("results", help="results file (HDF5)")
    parser.add_argument("--csv", metavar="FILE", help="one row per task")
    parser.add_argument(
        "--ensemble", metavar="FILE", help="one row per sweep point: mean and standard error over alloy realisations"
    )
    parser.add_argument("--xyz", metavar="DIR", help="extended-XYZ file per structure (ASE, OVITO)")
    parser.add_argument(
        "--structures", metavar="FILE", help="structures file for --xyz (default: <results without .h5>_structures.h5)"
    )


def run(args) -> int:
    """``hpc-nc export``: serial (run it on one process). Prints what was written.

    Every output path is checked before the results are read (io.paths: regular files only,
    existing writable folder), so a bad path costs nothing.
    """
    if not (args.csv or args.ensemble or args.xyz):
        raise ResultsError("export: nothing to do; give --csv FILE, --ensemble FILE and/or --xyz DIR")
    for path in (args.csv, args.ensemble):
        if path:
            check_output_path(path)
    if args.xyz and os.path.exists(args.xyz) and not os.path.isdir(args.xyz):
        raise ResultsError(f"--xyz {args.xyz}: exists and is not a folder")
    structures = args.structures
    if args.xyz and structures is None and isinstance(args.results, (str, os.PathLike)):
        structures = default_structures_path(os.fspath(args.results))
    table = as_table(args.results)  # read once (verified: corrupt rows come back blank)
    corrupt = int(np.sum(np.asarray(table["status"]).astype(int) == CORRUPT))
    if corrupt:
        _stderr(
            f"warning: {corrupt} row(s) of {args.results} fail their checksum; exported as 'corrupt' "
            "without values (`hpc-nc verify` lists them, a resumed run recomputes them)"
        )
    if args.csv:
        cols = export_csv(table, args.csv)
        print(f"{args.csv}: {table['n_tasks']} tasks, {len(cols)} columns")
    if args.ensemble:
        export_csv(table, args.ensemble, ensemble=True)
        print(f"{args.ensemble}: {len(aggregate(table)['model'])} sweep points")
    if args.xyz:
        files = export_xyz(structures, table, args.xyz)
        print(f"{args.xyz}: {len(files)} extended-XYZ file(s)")
    return 0
