"""The paper's figures from a results file (matplotlib, Agg; serial).

:func:`make_plots` draws whichever of these the data supports, on realisation means
(:mod:`hpc_nc.io.ensemble`; error bars are standard errors over realisations):

- ``map_RH_<slice>.png``: single-particle gap and optical activity over core radius R and
  shell thickness H at fixed composition, VBOs and model (paper Figs. 5-6, 9-10). Needs at
  least two R and two H values in the slice.
- ``map_composition_<slice>.png``: E1, H1, exciton energy, optical activity and ΔXX over
  (x_Cu, x_In) at fixed geometry, VBOs and model (Figs. 11-12). Needs two values of each.
- ``curves_x_in_<slice>.png`` / ``curves_x_cu_<slice>.png``: E1 and H1 versus x_In of
  Zn(1-x)In(x)S (x_Cu = 0), or versus x_Cu of Zn(1-x)Cu(x)S (x_In = 0), one curve per model
  (Figs. 2, 7). Needs two composition values.
- ``curves_vbo_ins_<slice>.png`` / ``curves_vbo_cus_<slice>.png``: E1, H1 and the core
  weights of E1 and H1 versus the band offset (Figs. 3, 8). Needs two VBO values.
- ``radial_densities[_<page>].png``: envelopes of the E1 (red) and H1 (blue) radial
  densities of selected tasks, core radius dashed, dot radius dotted (Figs. 3-5, 8-9).

A slice is the set of sweep points equal in every parameter except the plotted ones; its
name in the file lists the fixed ones. Figures that do not apply are skipped with one line
on ``log`` per kind, never an error; at most ``max_per_kind`` figures of a kind are drawn.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, Sequence

import numpy as np

from hpc_nc.io.ensemble import DONE, GROUP_KEYS, aggregate, as_table
from hpc_nc.physics.geometry import ZNS_LATTICE_CONSTANT

LABELS = {
    "x_cu": "x_Cu", "x_in": "x_In", "core_radius_a": "core radius R (a)",
    "shell_thickness_a": "shell thickness H (a)", "vbo_ins": "VBO InS/ZnS (eV)", "vbo_cus": "VBO CuS/ZnS (eV)",
    "E1": "E1", "H1": "H1", "gap": "gap E1 - H1", "exciton_energy": "exciton energy",
    "dipole_sq": "optical activity |d|²", "dXX": "ΔXX", "core_weight_e": "core weight E1",
    "core_weight_h": "core weight H1",
}
_TAGS = {"x_cu": "cu", "x_in": "in", "core_radius_a": "R", "shell_thickness_a": "H", "vbo_ins": "vboIn",
         "vbo_cus": "vboCu", "model": ""}
_COLORS = {"VCA": "tab:green", "NSTR": "tab:orange", "STR": "tab:purple", "E1": "tab:red", "H1": "tab:blue",
           "core_weight_e": "tab:red", "core_weight_h": "tab:blue"}
DPI = 110


def _stderr(message: str) -> None:
    print(f"hpc-nc: {message}", file=sys.stderr)


def _label(name: str, units: dict) -> str:
    base = LABELS.get(name, name)
    u = units.get(name, "")
    return base if (not u or u == "1" or "(" in base) else f"{base} ({u})"


def _tag(fixed: dict) -> str:
    parts = [f"{_TAGS[k]}{v:g}" if not isinstance(v, str) else v for k, v in fixed.items()]
    return "_".join(parts).replace("/", "-")


def _title(fixed: dict) -> str:
    return ", ".join(f"{LABELS.get(k, k).split(' (')[0]}={v:g}" if not isinstance(v, str) else v
                     for k, v in fixed.items())


def _slices(agg: dict, vary: Sequence[str], where: dict | None = None) -> list[tuple[dict, np.ndarray]]:
    """Rows of ``agg`` grouped by all GROUP_KEYS not in ``vary`` (optionally filtered)."""
    rows = np.arange(len(agg["model"]))
    if where:
        keep = np.ones(len(rows), bool)
        for k, v in where.items():
            keep &= agg[k] == v
        rows = rows[keep]
    fixed_keys = [k for k in GROUP_KEYS if k not in vary]
    out: dict[tuple, list[int]] = {}
    for r in rows:
        out.setdefault(tuple(agg[k][r].item() if hasattr(agg[k][r], "item") else agg[k][r]
                             for k in fixed_keys), []).append(int(r))
    return [(dict(zip(fixed_keys, key)), np.array(idx)) for key, idx in out.items()]


def _new_figure(n_panels: int, ncols: int | None = None, size=(3.8, 3.1)):
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    ncols = ncols or n_panels
    nrows = -(-n_panels // ncols)
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def _save(fig, out_dir: str, name: str, written: list[str]) -> None:
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=DPI)
    written.append(path)


def map_grid(x: np.ndarray, y: np.ndarray, values: np.ndarray):
    """Scattered points on the grid of their distinct coordinates.

    Returns (xs, ys, grid) with xs, ys sorted distinct values and grid[j, i] the value at
    (xs[i], ys[j]), NaN where no point lies.
    """
    xs, ys = np.unique(x), np.unique(y)
    grid = np.full((len(ys), len(xs)), np.nan)
    grid[np.searchsorted(ys, y), np.searchsorted(xs, x)] = values
    return xs, ys, grid


def _map_figure(agg, rows, xkey, ykey, fields, fixed, out_dir, name, written) -> bool:
    """One panel per field: pcolormesh on the grid of distinct (x, y), NaN where no point."""
    xs_all, ys_all = agg[xkey][rows], agg[ykey][rows]
    xs, ys = np.unique(xs_all), np.unique(ys_all)
    present = [f for f in fields if f"{f}_mean" in agg and np.isfinite(agg[f"{f}_mean"][rows]).any()]
    if len(xs) < 2 or len(ys) < 2 or not present:
        return False
    fig, axes = _new_figure(len(present))
    units = agg["units"]
    for ax, f in zip(axes, present):
        _, _, grid = map_grid(xs_all, ys_all, agg[f"{f}_mean"][rows])
        mesh = ax.pcolormesh(xs, ys, np.ma.masked_invalid(grid), shading="nearest", cmap="viridis")
        ax.plot(xs_all, ys_all, "w.", ms=3)
        fig.colorbar(mesh, ax=ax, label=_label(f, units))
        ax.set_xlabel(_label(xkey, units))
        ax.set_ylabel(_label(ykey, units))
    fig.suptitle(_title(fixed), fontsize=9)
    _save(fig, out_dir, name, written)
    return True


def _curve_figure(agg, rows, xkey, panels, series_key, fixed, out_dir, name, written) -> bool:
    """One panel per list of fields: mean ± standard error versus ``xkey``, per series."""
    xs = agg[xkey][rows]
    panels = [[f for f in p if f"{f}_mean" in agg and np.isfinite(agg[f"{f}_mean"][rows]).any()] for p in panels]
    panels = [p for p in panels if p]
    if len(np.unique(xs)) < 2 or not panels:
        return False
    fig, axes = _new_figure(len(panels))
    units = agg["units"]
    series = [None] if series_key is None else list(dict.fromkeys(agg[series_key][rows]))
    for ax, fields in zip(axes, panels):
        for s in series:
            sel = rows if s is None else rows[agg[series_key][rows] == s]
            order = sel[np.argsort(agg[xkey][sel], kind="stable")]
            for k, f in enumerate(fields):
                text = LABELS.get(f, f)
                label = text if s is None else (s if len(fields) == 1 else f"{text} {s}")
                err = np.nan_to_num(agg[f"{f}_sem"][order], nan=0.0)  # one realisation: no bar
                ax.errorbar(agg[xkey][order], agg[f"{f}_mean"][order], yerr=err, marker="o", ms=3, capsize=2,
                            color=_COLORS.get(f if s is None else s), ls="-" if k == 0 else "--", label=label)
        ax.set_xlabel(_label(xkey, units))
        u = units.get(fields[0], "")
        ax.set_ylabel(" / ".join(LABELS.get(f, f) for f in fields) + (f" ({u})" if u and u != "1" else ""))
        ax.legend(fontsize=7)
    fig.suptitle(_title(fixed), fontsize=9)
    _save(fig, out_dir, name, written)
    return True


def _radial_figures(table, tasks, out_dir, written, per_page=12) -> int:
    """Envelopes of E1 and H1 versus r (Å) for ``tasks``, ``per_page`` panels per file."""
    units = table["units"]
    grid = np.asarray(table["radial_grid"], dtype=np.float64)
    pages = [tasks[i:i + per_page] for i in range(0, len(tasks), per_page)]
    for p, page in enumerate(pages):
        fig, axes = _new_figure(len(page), ncols=min(len(page), 4), size=(3.6, 2.8))
        for ax, i in zip(axes, page):
            r = grid[i] if grid.ndim == 2 else grid
            for field, label, color in (("envelope_e", "E1", "tab:red"), ("envelope_h", "H1", "tab:blue")):
                ax.plot(r, table[field][i], color=color, label=label)
            core = table["core_radius_a"][i] * ZNS_LATTICE_CONSTANT
            ax.axvline(core, color="k", ls="--", lw=0.8)
            ax.axvline(core + table["shell_thickness_a"][i] * ZNS_LATTICE_CONSTANT, color="k", ls=":", lw=0.8)
            conf = str(table["confinement"][i]) if "confinement" in table else ""
            ax.set_title(f"task {int(table['index'][i])}: R={table['core_radius_a'][i]:g}a "
                         f"H={table['shell_thickness_a'][i]:g}a x_Cu={table['x_cu'][i]:g} "
                         f"x_In={table['x_in'][i]:g}\nVBO {table['vbo_ins'][i]:g}/{table['vbo_cus'][i]:g} eV "
                         f"{table['model'][i]} {conf}", fontsize=7)
            ax.set_xlabel(f"r ({units.get('radial_grid', 'Å')})")
            ax.set_ylabel(f"radial density ({units.get('envelope_e', '1/Å')})")
            ax.legend(fontsize=7)
        _save(fig, out_dir, "radial_densities.png" if len(pages) == 1 else f"radial_densities_{p + 1}.png",
              written)
    return len(pages)


def default_radial_tasks(table: dict, agg: dict) -> list[int]:
    """The first done realisation of every sweep point (task indices, task order)."""
    done = np.asarray(table["status"]) == DONE
    groups = agg["group_of_task"]
    picked: dict[int, int] = {}
    for i in np.flatnonzero(done):
        picked.setdefault(int(groups[i]), int(i))
    return sorted(picked.values())


def make_plots(results: Any, out_dir: str, *, radial_tasks: Sequence[int] | None = None, max_radial: int = 24,
               max_per_kind: int = 40, log: Callable[[str], None] | None = None) -> list[str]:
    """Draw the figures the data supports into ``out_dir`` (module docstring); serial.

    ``results``: results file path or dict. ``radial_tasks``: task rows whose radial densities
    to draw (default: the first done realisation of each sweep point, at most ``max_radial``).
    ``max_per_kind``: at most this many figures of each kind (a composition x geometry sweep
    has one (R, H) map per composition). Returns the paths of the PNG files written.
    """
    log = log or _stderr
    table = as_table(results)
    agg = aggregate(table)
    os.makedirs(out_dir, exist_ok=True)
    written: list[str] = []
    if not (np.asarray(table["status"]) == DONE).any():
        log("plot: no task is done yet; nothing to draw")
        return written

    def each(title: str, need: str, slices: list, draw: Callable[[dict, np.ndarray], bool]) -> None:
        """Draw one figure per slice (at most ``max_per_kind``) and say what was left out."""
        made = capped = 0
        for fixed, rows in slices:
            if made >= max_per_kind:
                capped += 1
            elif draw(fixed, rows):
                made += 1
        if made == 0:
            log(f"plot: no {title}: {need}")
        elif capped:
            log(f"plot: {title}: first {made} figures drawn, {capped} more slice(s) not tried (max_per_kind)")

    def rh_map(fixed, rows):  # Figs. 5-6, 9-10
        return _map_figure(agg, rows, "core_radius_a", "shell_thickness_a", ("gap", "dipole_sq"), fixed, out_dir,
                           f"map_RH_{_tag(fixed)}.png", written)

    def composition_map(fixed, rows):  # Figs. 11-12
        return _map_figure(agg, rows, "x_cu", "x_in", ("E1", "H1", "exciton_energy", "dipole_sq", "dXX"), fixed,
                           out_dir, f"map_composition_{_tag(fixed)}.png", written)

    each("(R, H) maps", "needs two R and two H values with data",
         _slices(agg, ("core_radius_a", "shell_thickness_a")), rh_map)
    each("composition maps", "needs two x_Cu and two x_In values with data", _slices(agg, ("x_cu", "x_in")),
         composition_map)
    # Binary alloys Zn(1-x)In(x)S and Zn(1-x)Cu(x)S, one line per model: Figs. 2, 7.
    for xkey, other in (("x_in", "x_cu"), ("x_cu", "x_in")):
        each(f"curves versus {xkey}", f"needs two {xkey} values at {other} = 0",
             _slices(agg, (xkey, "model"), where={other: 0.0}),
             lambda fixed, rows, xkey=xkey: _curve_figure(agg, rows, xkey, [["E1"], ["H1"]], "model", fixed,
                                                          out_dir, f"curves_{xkey}_{_tag(fixed)}.png", written))
    # Band offsets: Figs. 3, 8; an offset only matters for a core that contains its compound.
    for vkey, x in (("vbo_ins", "x_in"), ("vbo_cus", "x_cu")):
        each(f"curves versus {vkey}", f"needs two {vkey} values",
             [(fixed, rows) for fixed, rows in _slices(agg, (vkey,)) if fixed[x] > 0],
             lambda fixed, rows, vkey=vkey: _curve_figure(
                 agg, rows, vkey, [["E1", "H1"], ["core_weight_e", "core_weight_h"]], None, fixed, out_dir,
                 f"curves_{vkey}_{_tag(fixed)}.png", written))
    # Radial densities: Figs. 3-5, 8-9.
    need = [k for k in ("radial_grid", "envelope_e", "envelope_h") if k not in table]
    if need:
        log(f"plot: no radial densities: results have no {', '.join(need)}")
    else:
        tasks = list(radial_tasks) if radial_tasks is not None else default_radial_tasks(table, agg)
        if radial_tasks is None and len(tasks) > max_radial:
            log(f"plot: radial densities of the first {max_radial} of {len(tasks)} sweep points "
                "(choose others with radial_tasks)")
            tasks = tasks[:max_radial]
        tasks = [i for i in tasks if np.isfinite(table["envelope_e"][i]).any()]
        if tasks:
            _radial_figures(table, tasks, out_dir, written)
        else:
            log("plot: no radial densities: no selected task has envelopes")
    return written


# -- command line ---------------------------------------------------------------------------
def add_arguments(parser) -> None:
    """Options of ``hpc-nc plot``."""
    parser.add_argument("results", help="results file (HDF5)")
    parser.add_argument("--out", required=True, metavar="DIR", help="directory for the PNG files")
    parser.add_argument("--tasks", metavar="I,J,...", help="tasks whose radial densities to draw "
                        "(default: first done realisation of each sweep point)")


def run(args) -> int:
    """``hpc-nc plot``: serial (run it on one process). Prints the files written."""
    from hpc_nc.io.ensemble import ResultsError

    tasks = None
    if args.tasks:
        try:
            tasks = [int(x) for x in args.tasks.split(",") if x.strip()]
        except ValueError:
            raise ResultsError(f"--tasks {args.tasks}: expected comma-separated task indices") from None
    table = as_table(args.results)
    bad = [i for i in tasks or [] if not 0 <= i < table["n_tasks"]]
    if bad:
        raise ResultsError(f"--tasks: no task {bad[0]} in {args.results} ({table['n_tasks']} tasks)")
    for path in make_plots(table, args.out, radial_tasks=tasks):
        print(path)
    return 0
