"""Alloy ensembles: mean and standard error over random alloy realisations (pure numpy).

A sweep point is the tuple ``GROUP_KEYS`` = (x_cu, x_in, core_radius_a, shell_thickness_a,
vbo_ins, vbo_cus, model); its tasks differ only by the realisation (alloy seed). For every
point :func:`aggregate` returns, over the realisations that are *done* (status 1):

- ``n_tasks`` (all tasks of the point) and ``n_realizations`` (done ones);
- ``<field>_mean`` and ``<field>_sem`` for every numeric per-task field (scalars and arrays
  such as ``electron_energies`` (n_tasks, n_e), which keep their trailing shape). The
  standard error of the mean is ``s / sqrt(n)`` with ``s`` the sample standard deviation
  (``ddof=1``), over the n realisations whose value is finite; it is NaN when n < 2 (one
  realisation says nothing about the spread) and the mean is NaN when n = 0;
- ``confinement`` (the majority class among done realisations; ties go to the class listed
  first in ``CONFINEMENT_CLASSES``, then alphabetically) and ``confinement_fraction``
  (its share of the done realisations; NaN when none is done).

Failed and pending tasks never enter a mean. :func:`as_table` turns either a results dict
in the flat form of the contract (``x_cu``, ``E1``, ...) or the dataset-path form returned
by :func:`hpc_nc.io.store.read_results` (``tasks/x_cu``, ``results/E1``, ...) or a results
file path into the flat form used by export and plots; per-state core weights and envelopes
of the electronic stage become the E1/H1 level's (see ``_level_columns``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from hpc_nc.errors import HpcNcError
from hpc_nc.io.schema import CONFINEMENT_CLASSES, DONE, FAILED, PENDING, STATUS_NAMES  # noqa: F401

GROUP_KEYS = ("x_cu", "x_in", "core_radius_a", "shell_thickness_a", "vbo_ins", "vbo_cus", "model")

# Per-task columns that describe the task rather than measure it: never averaged.
BOOKKEEPING = frozenset(
    {
        "index",
        "realization",
        "seed",
        "status",
        "n_atoms",
        "atom_offsets",
        "wall_seconds",
        "finished_unix",
        "checksum",
        "species",
    }
    | set(GROUP_KEYS)
)
_PREFIXES = ("tasks/", "results/", "timings/")

# Units of the contract's fields, used when the results carry none (eV, Å as in docs/physics.md).
DEFAULT_UNITS = {
    "x_cu": "1",
    "x_in": "1",
    "core_radius_a": "lattice constant",
    "shell_thickness_a": "lattice constant",
    "vbo_ins": "eV",
    "vbo_cus": "eV",
    "E1": "eV",
    "H1": "eV",
    "gap": "eV",
    "exciton_energy": "eV",
    "dipole_sq": "Å²",
    "J_ee": "eV",
    "J_hh": "eV",
    "J_eh": "eV",
    "dXX": "eV",
    "core_weight_e": "1",
    "core_weight_h": "1",
    "r_max_e": "Å",
    "r_max_h": "Å",
    "separation": "Å",
    "overlap_atomic": "1",
    "overlap_envelope": "1",
    "electron_energies": "eV",
    "hole_energies": "eV",
    "radial_grid": "Å",
    "envelope_e": "1/Å",
    "envelope_h": "1/Å",
    "exciton_energies": "eV",
    "oscillator_strengths": "Å²",
}


class ResultsError(HpcNcError):
    """A results dict or file that lacks what export/plot need."""


def _strings(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind == "S":
        return np.char.decode(a, "utf-8")
    if a.dtype.kind == "O":
        return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in a.ravel()]).reshape(a.shape)
    return a


def as_table(results: Any) -> dict:
    """Flat results dict: task columns and result fields by bare name, strings as ``str``.

    ``results``: a path to a results file (read with :func:`hpc_nc.io.store.read_results` and
    :func:`hpc_nc.io.store.read_units`) or a dict in either naming. ``units`` (dict) is kept,
    filled in from ``DEFAULT_UNITS`` for known fields. Raises :class:`ResultsError` when the
    task parameter columns are missing.
    """
    units: dict[str, str] = {}
    if isinstance(results, (str, os.PathLike)):
        from hpc_nc.io import store

        path = os.fspath(results)
        if not os.path.exists(path):
            raise ResultsError(f"results file {path} does not exist")
        raw = store.read_results(path, formats=(store.RESULTS_FORMAT,))
        units = dict(store.read_units(path))
    elif isinstance(results, Mapping):
        raw = dict(results)
    else:
        raise ResultsError(f"expected a results dict or file path, got {type(results).__name__}")
    units.update(raw.pop("units", None) or {})
    table: dict[str, Any] = {}
    for name, value in raw.items():
        bare = name
        for p in _PREFIXES:
            if name.startswith(p):
                bare = name[len(p) :]
        if isinstance(value, (list, tuple)):
            value = np.asarray(value)
        if bare not in table or name == bare:
            table[bare] = _strings(value) if isinstance(value, np.ndarray) else value
    table["units"] = {**DEFAULT_UNITS, **{k.split("/")[-1]: str(v) for k, v in units.items()}}
    missing = [k for k in GROUP_KEYS if k not in table]
    if missing:
        raise ResultsError(f"results lack the task column(s) {', '.join(missing)}")
    n = len(np.asarray(table["x_cu"]))
    for k in GROUP_KEYS:
        table[k] = np.asarray(table[k])
        if table[k].shape != (n,):
            raise ResultsError(f"task column {k!r} has shape {table[k].shape}, expected ({n},)")
    table["model"] = _strings(table["model"]).astype(str)
    table.setdefault("index", np.arange(n))
    table.setdefault("realization", np.zeros(n, dtype=np.int64))
    table.setdefault("status", np.full(n, DONE, dtype=np.int8))
    table.setdefault("message", np.full(n, "", dtype=object).astype(str))
    table["n_tasks"] = n
    _level_columns(table)
    return table


def _level_columns(table: dict) -> None:
    """Contract shapes for per-state fields the electronic stage stores per spin-orbital.

    ``core_weight_e/h`` (n_tasks, n_states) and ``envelope_e/h`` (n_tasks, n_states, n_bins)
    become the E1/H1 level's value, (n_tasks,) and (n_tasks, n_bins); the per-state arrays
    stay available as ``<name>_states``. The level is the first Kramers pair (states 0 and 1,
    whose densities are equal by time reversal): the stage's ``core_weight_E1/H1`` where
    present, else the pair's mean.
    """
    n = table["n_tasks"]
    for name, level, ndim in (
        ("core_weight_e", "core_weight_E1", 1),
        ("core_weight_h", "core_weight_H1", 1),
        ("envelope_e", None, 2),
        ("envelope_h", None, 2),
    ):
        v = table.get(name)
        if not isinstance(v, np.ndarray) or v.ndim != ndim + 1 or v.shape[0] != n:
            continue
        table[f"{name}_states"] = v
        given = table.get(level) if level else None
        if isinstance(given, np.ndarray) and given.shape == (n,):
            table[name] = given
        else:
            table[name] = np.asarray(v[:, :2], dtype=np.float64).mean(axis=1)


def per_task_numeric_fields(table: Mapping) -> list[str]:
    """Names of numeric fields with one row per task that are measurements (not parameters)."""
    n = table["n_tasks"]
    out = []
    for name, value in table.items():
        if name in BOOKKEEPING or not isinstance(value, np.ndarray):
            continue
        if value.ndim >= 1 and value.shape[0] == n and value.dtype.kind in "fiu" and value.dtype != bool:
            out.append(name)
    return out


def group_index(table: Mapping) -> tuple[np.ndarray, list[tuple]]:
    """(group of each task (n_tasks,), the group keys in first-appearance order)."""
    keys: dict[tuple, int] = {}
    groups = np.empty(table["n_tasks"], dtype=np.int64)
    cols = [table[k] for k in GROUP_KEYS]
    for i in range(table["n_tasks"]):
        key = tuple(c[i].item() if hasattr(c[i], "item") else c[i] for c in cols)
        groups[i] = keys.setdefault(key, len(keys))
    return groups, list(keys)


def grouped_mean_sem(values: np.ndarray, groups: np.ndarray, n_groups: int):
    """Per group: mean, standard error s/sqrt(n) (ddof=1) and n over the rows of ``values``
    (axis 0) whose value is finite; ``groups[i]`` is row i's group. Trailing axes are kept.

    NaN mean where n = 0, NaN standard error where n < 2. Cost O(values.size).
    """
    v = np.asarray(values, dtype=np.float64)
    groups = np.asarray(groups, dtype=np.int64)
    shape = (n_groups,) + v.shape[1:]
    n, total, squares = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    if v.shape[0]:
        # sort rows by group and sum contiguous runs (reduceat; np.add.at is much slower)
        order = np.argsort(groups, kind="stable")
        v, groups = v[order], groups[order]
        present, starts = np.unique(groups, return_index=True)
        ok = np.isfinite(v)
        n[present] = np.add.reduceat(ok.astype(np.float64), starts, axis=0)
        total[present] = np.add.reduceat(np.where(ok, v, 0.0), starts, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n
        if v.shape[0]:
            dev = np.where(ok, v - mean[groups], 0.0)  # two passes: no cancellation in s^2
            squares[present] = np.add.reduceat(dev * dev, starts, axis=0)
        sem = np.sqrt(squares / (n - 1) / n)
    mean[n == 0] = np.nan
    sem[n < 2] = np.nan
    return mean, sem, n.astype(np.int64)


def majority_class(labels) -> tuple[str, float]:
    """Most frequent label and its fraction; ('', NaN) for no labels (tie rule: module doc)."""
    labels = [str(x) for x in labels if str(x)]
    if not labels:
        return "", float("nan")
    counts: dict[str, int] = {}
    for x in labels:
        counts[x] = counts.get(x, 0) + 1
    rank = {c: i for i, c in enumerate(CONFINEMENT_CLASSES)}
    best = min(counts, key=lambda c: (-counts[c], rank.get(c, len(rank)), c))
    return best, counts[best] / len(labels)


def aggregate(results: Any) -> dict:
    """Mean and standard error over realisations of every sweep point (module docstring).

    Returns a dict of arrays with one row per point (first-appearance order of the tasks):
    the ``GROUP_KEYS`` columns, ``n_atoms`` (if present), ``n_tasks``, ``n_realizations``,
    ``<field>_mean``/``<field>_sem`` (same trailing shape as the field), ``confinement``,
    ``confinement_fraction``, ``group_of_task`` (n_tasks,), ``fields`` (list of the
    averaged field names), ``units`` and non-per-task arrays such as ``radial_grid``.
    """
    table = as_table(results)
    groups, keys = group_index(table)
    n_groups = len(keys)
    done = np.asarray(table["status"]) == DONE
    out: dict[str, Any] = {}
    for j, k in enumerate(GROUP_KEYS):
        col = [key[j] for key in keys]
        out[k] = np.array(col, dtype=str if k == "model" else np.float64)
    if "n_atoms" in table:
        first = np.unique(groups, return_index=True)[1]  # groups are numbered by first appearance
        out["n_atoms"] = np.asarray(table["n_atoms"])[first]
    out["n_tasks"] = np.bincount(groups, minlength=n_groups)
    out["n_realizations"] = np.bincount(groups[done], minlength=n_groups)
    fields = per_task_numeric_fields(table)
    for name in fields:
        v = np.asarray(table[name], dtype=np.float64)[done]
        out[f"{name}_mean"], out[f"{name}_sem"], _ = grouped_mean_sem(v, groups[done], n_groups)
    out["confinement"] = np.full(n_groups, "", dtype=object)
    out["confinement_fraction"] = np.full(n_groups, np.nan)
    if "confinement" in table:
        conf = _strings(np.asarray(table["confinement"])).astype(str)
        rows = np.flatnonzero(done)
        rows = rows[np.argsort(groups[rows], kind="stable")]
        members = np.split(rows, np.cumsum(out["n_realizations"])[:-1])
        for g, m in enumerate(members):
            if m.size:
                out["confinement"][g], out["confinement_fraction"][g] = majority_class(conf[m])
    out["confinement"] = out["confinement"].astype(str)
    out["group_of_task"] = groups
    out["fields"] = fields
    out["units"] = table["units"]
    if "radial_grid" in table and np.ndim(table["radial_grid"]) == 1:  # one grid for all tasks (Å)
        out["radial_grid"] = np.asarray(table["radial_grid"], dtype=np.float64)
    return out
