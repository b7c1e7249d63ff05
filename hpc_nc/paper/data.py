"""Figure data: the CSV files of one paper figure, written from a results file and read back.

Files in a figure's directory (docs/reproduction/figN/):

- ``tasks.csv``: one row per task (:func:`hpc_nc.io.export.export_csv`, columns listed there).
- ``ensemble.csv``: one row per sweep point, mean and standard error over the alloy
  realisations and the majority confinement label (``export_csv(ensemble=True)``).
- ``radial.csv`` (figures with radial densities only): long format, one row per (task, bin):
  ``task, r_A, rho_e, rho_h, env_e, env_h``: the E1 and H1 level's radial probability
  density per atomic layer (``rho``, binned, 1/Å) and its Gaussian-smoothed envelope
  (``env``, 1/Å), both normalised to 1 over r (Å). The level value is the mean over the
  first Kramers pair (states 0 and 1; equal densities by time reversal).
- ``costs.csv``: one row per task: ``task, model, n_atoms, status, wall_seconds`` (time of
  the task on its rank group) and, where the results carry them, ``build_seconds,
  solve_seconds, analysis_seconds``.

Figures and claims use :class:`FigureData` from :func:`load_figure_data`, i.e. only these
files: the results HDF5 need not be present to re-plot.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from hpc_nc.io.ensemble import DONE, as_table
from hpc_nc.io.export import export_csv

STRING_COLUMNS = frozenset({"key", "model", "status", "message", "confinement"})
COST_FIELDS = ("wall_seconds", "build_seconds", "solve_seconds", "analysis_seconds")


@dataclass
class FigureData:
    """Columns of a figure's CSV files as numpy arrays (floats, or str for text columns)."""

    tasks: dict[str, np.ndarray]
    ensemble: dict[str, np.ndarray]
    radial: dict[str, np.ndarray] | None = None
    costs: dict[str, np.ndarray] | None = None
    source: str = ""

    @property
    def n_tasks(self) -> int:
        return len(self.tasks.get("task", ()))

    @property
    def n_done(self) -> int:
        return int(np.sum(self.tasks["status"] == "done")) if self.n_tasks else 0

    def rows(self, **where) -> np.ndarray:
        """Indices of ensemble rows whose columns equal the given values (floats to 1e-9)."""
        return select(self.ensemble, **where)

    def radial_of(self, task: int) -> dict[str, np.ndarray]:
        """r_A, rho_e, rho_h, env_e, env_h of one task (empty arrays if not exported)."""
        if not self.radial:
            return {k: np.empty(0) for k in ("r_A", "rho_e", "rho_h", "env_e", "env_h")}
        m = self.radial["task"] == task
        return {k: v[m] for k, v in self.radial.items() if k != "task"}


def select(table: dict[str, np.ndarray], **where) -> np.ndarray:
    """Row indices of ``table`` matching every ``column=value`` (numbers compared to 1e-9)."""
    n = len(next(iter(table.values()))) if table else 0
    keep = np.ones(n, dtype=bool)
    for k, v in where.items():
        col = table[k]
        if isinstance(v, str):
            keep &= col == v
        else:
            keep &= np.isclose(np.asarray(col, dtype=float), float(v), rtol=0, atol=1e-9)
    return np.flatnonzero(keep)


def _write_csv(path: str, header: list[str], columns: list[np.ndarray]) -> None:
    tmp = path + ".partial"
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for row in zip(*columns):
            w.writerow(
                [
                    "nan"
                    if isinstance(v, float) and not np.isfinite(v)
                    else (format(v, ".8g") if isinstance(v, float) else v)
                    for v in row
                ]
            )
    os.replace(tmp, path)


def _level(values: np.ndarray, n: int) -> np.ndarray | None:
    """(n, bins) level density from (n, bins) or per-state (n, states, bins) arrays."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 2 and v.shape[0] == n:
        return v
    if v.ndim == 3 and v.shape[0] == n:
        return v[:, :2, :].mean(axis=1)
    return None


def export_figure_data(
    results: Any, out_dir: str, *, radial: bool = False, log: Callable[[str], None] | None = None
) -> list[str]:
    """Write tasks.csv, ensemble.csv, costs.csv (and radial.csv) of one figure; serial.

    ``results``: results file path or dict (:func:`hpc_nc.io.ensemble.as_table`). Returns
    the files written.
    """
    log = log or (lambda m: None)
    table = as_table(results)
    os.makedirs(out_dir, exist_ok=True)
    written = []
    path = os.path.join(out_dir, "tasks.csv")
    export_csv(table, path, log=log)
    written.append(path)
    path = os.path.join(out_dir, "ensemble.csv")
    export_csv(table, path, ensemble=True, log=log)
    written.append(path)
    n = table["n_tasks"]
    status = np.asarray(table["status"]).astype(int)
    cols = {
        "task": np.asarray(table["index"]).astype(int),
        "model": np.asarray(table["model"]).astype(str),
        "n_atoms": np.asarray(table.get("n_atoms", np.full(n, -1))).astype(int),
        "status": np.where(status == DONE, "done", np.where(status == 2, "failed", "pending")),
    }
    for name in COST_FIELDS:
        v = table.get(name)
        if isinstance(v, np.ndarray) and v.shape == (n,):
            cols[name] = v.astype(float)
    path = os.path.join(out_dir, "costs.csv")
    _write_csv(path, list(cols), [list(c.tolist()) for c in cols.values()])
    written.append(path)
    if radial:
        need = [k for k in ("radial_grid", "envelope_e", "envelope_h") if k not in table]
        if need:
            log(f"paper: results have no {', '.join(need)}; radial.csv not written")
            return written
        env_e, env_h = _level(table["envelope_e"], n), _level(table["envelope_h"], n)
        rho_e = _level(table["radial_density_e"], n) if "radial_density_e" in table else None
        rho_h = _level(table["radial_density_h"], n) if "radial_density_h" in table else None
        grid = np.asarray(table["radial_grid"], dtype=np.float64)
        grid = np.broadcast_to(grid, env_e.shape) if grid.ndim == 1 else grid
        rows = [i for i in range(n) if status[i] == DONE]
        nb = env_e.shape[1]
        out = {
            "task": np.repeat(np.asarray(table["index"])[rows].astype(int), nb),
            "r_A": grid[rows].ravel(),
            "rho_e": (rho_e if rho_e is not None else np.full_like(env_e, np.nan))[rows].ravel(),
            "rho_h": (rho_h if rho_h is not None else np.full_like(env_h, np.nan))[rows].ravel(),
            "env_e": env_e[rows].ravel(),
            "env_h": env_h[rows].ravel(),
        }
        path = os.path.join(out_dir, "radial.csv")
        _write_csv(path, list(out), [c.tolist() for c in out.values()])
        written.append(path)
    return written


def read_csv_columns(path: str) -> dict[str, np.ndarray]:
    """Columns of a CSV file: float arrays where every value parses, str arrays otherwise."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return {}
    header, body = rows[0], rows[1:]
    out: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        raw = [r[j] if j < len(r) else "" for r in body]
        if name in STRING_COLUMNS:
            out[name] = np.array(raw, dtype=str)
            continue
        try:
            out[name] = np.array([float(x) if x != "" else np.nan for x in raw], dtype=np.float64)
        except ValueError:
            out[name] = np.array(raw, dtype=str)
    return out


def load_figure_data(fig_dir: str) -> FigureData | None:
    """The CSV files of ``fig_dir`` as :class:`FigureData`; None if tasks.csv is missing."""
    tasks_path = os.path.join(fig_dir, "tasks.csv")
    if not os.path.exists(tasks_path):
        return None
    opt = {}
    for name in ("radial", "costs"):
        p = os.path.join(fig_dir, f"{name}.csv")
        opt[name] = read_csv_columns(p) if os.path.exists(p) else None
    return FigureData(
        tasks=read_csv_columns(tasks_path),
        ensemble=read_csv_columns(os.path.join(fig_dir, "ensemble.csv")),
        source=fig_dir,
        **opt,
    )
