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
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from hpc_nc.io.ensemble import DONE, GROUP_KEYS, aggregate, as_table
from hpc_nc.physics.geometry import ZNS_LATTICE_CONSTANT

LABELS = {
    "x_cu": "x_Cu",
    "x_in": "x_In",
    "core_radius_a": "core radius R",
    "shell_thickness_a": "shell thickness H",
    "vbo_ins": "VBO InS/ZnS",
    "vbo_cus": "VBO CuS/ZnS",
    "E1": "E1",
    "H1": "H1",
    "gap": "gap E1 − H1",
    "exciton_energy": "exciton energy",
    "dipole_sq": "optical activity |d|²",
    "dXX": "ΔXX",
    "core_weight_e": "core weight E1",
    "core_weight_h": "core weight H1",
}
# Short names for titles and file names (units follow from display_unit).
_SHORT = {
    "x_cu": "x_Cu",
    "x_in": "x_In",
    "core_radius_a": "R",
    "shell_thickness_a": "H",
    "vbo_ins": "VBO InS/ZnS",
    "vbo_cus": "VBO CuS/ZnS",
}
_TAGS = {
    "x_cu": "cu",
    "x_in": "in",
    "core_radius_a": "R",
    "shell_thickness_a": "H",
    "vbo_ins": "vboIn",
    "vbo_cus": "vboCu",
    "model": "",
}
_COLORS = {
    "VCA": "tab:green",
    "NSTR": "tab:orange",
    "STR": "tab:purple",
    "E1": "tab:red",
    "H1": "tab:blue",
    "core_weight_e": "tab:red",
    "core_weight_h": "tab:blue",
    "gap": "k",
    "dipole_sq": "tab:brown",
}
DPI = 110
MAX_COLUMNS = 3  # panels per row: a row of five maps is a strip no page can print
# Below this many points a composition "map" is drawn as coloured points only: a surface
# interpolated through three points would show structure the data does not have.
MIN_POINTS_TO_INTERPOLATE = 6

# Units as the results file spells them (ASCII) -> as a reader of the paper expects them.
_UNIT_TEXT = {
    "angstrom": "Å",
    "angstrom^2": "Å²",
    "1/angstrom": "1/Å",
    "angstrom^2/ev": "Å²/eV",
    "lattice constant": "a",
    "1 (fraction)": "",
    "1": "",
    "fraction": "",
}


def display_unit(unit: str | None) -> str:
    """The unit as the figures print it: Å, Å², 1/Å, a (the ZnS lattice constant), eV;
    '' for dimensionless quantities (fractions, weights). Shared by `run` and `hpc-nc plot`,
    which both draw through :func:`make_plots`."""
    if not unit:
        return ""
    text = str(unit).strip()
    return _UNIT_TEXT.get(text.lower(), text.replace("Angstrom", "Å").replace("^2", "²"))


def _stderr(message: str) -> None:
    print(f"hpc-nc: {message}", file=sys.stderr)


def _label(name: str, units: dict) -> str:
    """Axis label: name and display unit; lengths in lattice constants say what a is."""
    base = LABELS.get(name, name)
    u = display_unit(units.get(name, ""))
    if u == "a":
        return f"{base} (a)"  # the title says what a is
    return f"{base} ({u})" if u else base


def _value_text(key: str, value, units: dict) -> str:
    if isinstance(value, str):
        return value
    u = display_unit(units.get(key, ""))
    return f"{_SHORT.get(key, key)} = {value:g}" + (f" {u}" if u else "")


def _irrelevant(fixed: dict) -> set:
    """Fixed parameters that do not act on the slice: the CuS offset of a Cu-free core, the
    InS offset of an In-free core (so no 'vboCu0.34' on a Cu-free dot)."""
    out = set()
    if fixed.get("x_cu") == 0:
        out.add("vbo_cus")
    if fixed.get("x_in") == 0:
        out.add("vbo_ins")
    return out


def _tag(fixed: dict) -> str:
    skip = _irrelevant(fixed)
    parts = [f"{_TAGS[k]}{v:g}" if not isinstance(v, str) else v for k, v in fixed.items() if k not in skip]
    return "_".join(parts).replace("/", "-")


def _title(fixed: dict, units: dict | None = None, axes: Sequence[str] = ()) -> str:
    """Fixed parameters with units; says what the length unit a is when the title or the
    ``axes`` use it."""
    units = units or {}
    skip = _irrelevant(fixed)
    text = ", ".join(_value_text(k, v, units) for k, v in fixed.items() if k not in skip)
    if any(display_unit(units.get(k, "")) == "a" for k in [*fixed, *axes] if k not in skip):
        text += f"  (a = {ZNS_LATTICE_CONSTANT:.3f} Å)"
    return text


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
        out.setdefault(
            tuple(agg[k][r].item() if hasattr(agg[k][r], "item") else agg[k][r] for k in fixed_keys), []
        ).append(int(r))
    slices = [(dict(zip(fixed_keys, key)), np.array(idx)) for key, idx in out.items()]
    # A Cu-free slice is the same for every CuS offset (and In-free for every InS offset):
    # keep the first such slice only, named without the offset.
    seen, kept = set(), []
    for fixed, idx in slices:
        skip = _irrelevant(fixed)
        ident = tuple((k, v) for k, v in fixed.items() if k not in skip)
        if skip and ident in seen:
            continue
        seen.add(ident)
        kept.append((fixed, idx))
    return kept


def _new_figure(n_panels: int, ncols: int | None = None, size=(3.8, 3.1)):
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    ncols = min(ncols or n_panels, MAX_COLUMNS, n_panels)
    nrows = -(-n_panels // ncols)
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def _save(fig, out_dir: str, name: str, written: list[str]) -> None:
    from hpc_nc.io.paths import check_output_path

    path = os.path.join(out_dir, name)
    fig.savefig(check_output_path(path), dpi=DPI)
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
    """One panel per field over (x, y): pcolormesh on the grid of distinct values, NaN where
    no point (the (R, H) maps)."""
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
        ax.set_title(_label(f, units), fontsize=9)
    fig.suptitle(_title(fixed, units, (xkey, ykey)), fontsize=9)
    _save(fig, out_dir, name, written)
    return True


def _composition_axes(ax, units) -> None:
    ax.plot([0, 1], [1, 0], color="0.6", lw=0.8, ls="-")  # x_Cu + x_In = 1: no Zn left
    ax.set_xlim(-0.08, 1.08)
    ax.set_ylim(-0.08, 1.12)
    ax.set_aspect("equal")
    ax.set_xlabel(_label("x_cu", units))
    ax.set_ylabel(_label("x_in", units))


def _composition_figure(agg, rows, fields, fixed, out_dir, name, written) -> bool:
    """One panel per field over the composition triangle x_Cu + x_In <= 1, axes [0, 1].

    With at least MIN_POINTS_TO_INTERPOLATE points not on one line the field is drawn as
    filled contours of the linear interpolation on the Delaunay triangles of the points
    (which stays inside their convex hull: nothing is extrapolated), with the points on top;
    with fewer, only the points, coloured by value and labelled with it."""
    from matplotlib.tri import Triangulation

    x, y = agg["x_cu"][rows].astype(float), agg["x_in"][rows].astype(float)
    present = [f for f in fields if f"{f}_mean" in agg and np.isfinite(agg[f"{f}_mean"][rows]).any()]
    if len(np.unique(x)) < 2 or len(np.unique(y)) < 2 or not present:
        return False
    units = agg["units"]
    fig, axes = _new_figure(len(present), size=(3.6, 3.2))
    for ax, f in zip(axes, present):
        v = agg[f"{f}_mean"][rows].astype(float)
        ok = np.isfinite(v)
        xo, yo, vo = x[ok], y[ok], v[ok]
        tri = None
        if len(vo) and np.ptp(vo) <= 1e-9 * max(1.0, float(np.abs(vo).max())):
            # one value everywhere: a colour scale would only show round-off
            ax.scatter(xo, yo, c="tab:gray", s=60, edgecolors="k", linewidths=0.6, zorder=3)
            ax.set_title(f"{_label(f, units)}: {vo[0]:.4g} at every point", fontsize=9)
            _composition_axes(ax, units)
            continue
        if len(vo) >= MIN_POINTS_TO_INTERPOLATE:
            try:
                tri = Triangulation(xo, yo)
                if not len(tri.triangles):
                    tri = None
            except (ValueError, RuntimeError):  # collinear points: no triangles
                tri = None
        if tri is not None:
            filled = ax.tricontourf(tri, vo, levels=12, cmap="viridis")
            ax.scatter(xo, yo, c="w", s=10, edgecolors="k", linewidths=0.5, zorder=3)
            fig.colorbar(filled, ax=ax, label=_label(f, units))
        else:
            pts = ax.scatter(xo, yo, c=vo, s=140, cmap="viridis", edgecolors="k", linewidths=0.6, zorder=3)
            for xi, yi, vi in zip(xo, yo, vo):
                ax.annotate(f"{vi:.3g}", (xi, yi), textcoords="offset points", xytext=(0, 9), ha="center", fontsize=7)
            fig.colorbar(pts, ax=ax, label=_label(f, units))
        _composition_axes(ax, units)
        ax.set_title(_label(f, units), fontsize=9)
    note = (
        ""
        if all(
            len(agg[f"{f}_mean"][rows][np.isfinite(agg[f"{f}_mean"][rows])]) >= MIN_POINTS_TO_INTERPOLATE
            for f in present
        )
        else "  (points only: too few compositions to interpolate)"
    )
    fig.suptitle(_title(fixed, units) + note, fontsize=9)
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
                ax.errorbar(
                    agg[xkey][order],
                    agg[f"{f}_mean"][order],
                    yerr=err,
                    marker="o",
                    ms=3,
                    capsize=2,
                    color=_COLORS.get(f if s is None else s),
                    ls="-" if k == 0 else "--",
                    label=label,
                )
        ax.set_xlabel(_label(xkey, units))
        u = display_unit(units.get(fields[0], ""))
        ax.set_ylabel(" / ".join(LABELS.get(f, f) for f in fields) + (f" ({u})" if u else ""))
        ax.legend(fontsize=7)
    fig.suptitle(_title(fixed, units, (xkey,)), fontsize=9)
    _save(fig, out_dir, name, written)
    return True


def _radial_figures(table, tasks, out_dir, written, per_page=12) -> int:
    """Envelopes of E1 and H1 versus r (Å) for ``tasks``, ``per_page`` panels per file."""
    units = table["units"]
    grid = np.asarray(table["radial_grid"], dtype=np.float64)
    pages = [tasks[i : i + per_page] for i in range(0, len(tasks), per_page)]
    for p, page in enumerate(pages):
        fig, axes = _new_figure(len(page), ncols=MAX_COLUMNS, size=(3.8, 3.0))
        for ax, i in zip(axes, page):
            r = grid[i] if grid.ndim == 2 else grid
            for field, label, color in (("envelope_e", "E1", "tab:red"), ("envelope_h", "H1", "tab:blue")):
                ax.plot(r, table[field][i], color=color, label=label)
            core = table["core_radius_a"][i] * ZNS_LATTICE_CONSTANT
            ax.axvline(core, color="k", ls="--", lw=0.8, label="core radius R")
            dot = core + table["shell_thickness_a"][i] * ZNS_LATTICE_CONSTANT
            ax.axvline(dot, color="k", ls=":", lw=0.8, label="dot radius R + H")
            conf = str(table["confinement"][i]) if "confinement" in table else ""
            fixed = {
                k: table[k][i].item() if hasattr(table[k][i], "item") else table[k][i]
                for k in ("x_cu", "x_in", "vbo_ins", "vbo_cus")
            }
            vbos = ", ".join(
                _value_text(k, fixed[k], units) for k in ("vbo_ins", "vbo_cus") if k not in _irrelevant(fixed)
            )
            ax.set_title(
                f"task {int(table['index'][i])}: R = {table['core_radius_a'][i]:g} a, "
                f"H = {table['shell_thickness_a'][i]:g} a, x_Cu = {fixed['x_cu']:g}, x_In = {fixed['x_in']:g}"
                f"\n{vbos + ', ' if vbos else ''}{table['model'][i]}{', ' + conf if conf else ''}",
                fontsize=7,
            )
            ax.set_xlabel(f"r ({display_unit(units.get('radial_grid', 'Å'))})")
            ax.set_ylabel(f"radial density ({display_unit(units.get('envelope_e', '1/Å'))})")
            if i == page[0]:
                ax.legend(fontsize=6)
        fig.suptitle(
            "radial densities of the lowest electron (E1, red) and hole (H1, blue) states; "
            "dashed line: core radius R, dotted line: dot radius R + H",
            fontsize=9,
        )
        _save(fig, out_dir, "radial_densities.png" if len(pages) == 1 else f"radial_densities_{p + 1}.png", written)
    return len(pages)


def default_radial_tasks(table: dict, agg: dict) -> list[int]:
    """The first done realisation of every sweep point (task indices, task order)."""
    done = np.asarray(table["status"]) == DONE
    groups = agg["group_of_task"]
    picked: dict[int, int] = {}
    seen = set()
    for i in np.flatnonzero(done):
        g = int(groups[i])
        if g in picked:
            continue
        # sweep points that differ only in an offset that does not act (the InS offset of an
        # In-free core, the CuS offset of a Cu-free one) have the same densities: draw one
        point = {k: (table[k][i].item() if hasattr(table[k][i], "item") else table[k][i]) for k in GROUP_KEYS}
        ident = tuple((k, v) for k, v in point.items() if k not in _irrelevant(point))
        if ident in seen:
            continue
        seen.add(ident)
        picked[g] = int(i)
    return sorted(picked.values())


def make_plots(
    results: Any,
    out_dir: str,
    *,
    radial_tasks: Sequence[int] | None = None,
    max_radial: int = 24,
    max_per_kind: int = 40,
    log: Callable[[str], None] | None = None,
) -> list[str]:
    """Draw the figures the data supports into ``out_dir`` (module docstring); serial.

    ``results``: results file path or dict. ``radial_tasks``: task rows whose radial densities
    to draw (default: the first done realisation of each sweep point, at most ``max_radial``).
    ``max_per_kind``: at most this many figures of each kind (a composition x geometry sweep
    has one (R, H) map per composition). Returns the paths of the PNG files written.
    """
    log = log or _stderr
    table = as_table(results)
    agg = aggregate(table)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        from hpc_nc.errors import HpcNcError

        raise HpcNcError(f"cannot write figures to {out_dir}: it exists and is not a folder")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        from hpc_nc.errors import HpcNcError

        raise HpcNcError(f"cannot create the figure folder {out_dir}: {exc.strerror or exc}") from None
    written: list[str] = []
    if not (np.asarray(table["status"]) == DONE).any():
        log("plot: no task is done yet; nothing to draw")
        return written

    skipped: list[str] = []  # kinds the sweep does not support: said once, as a note

    def each(title: str, need: str, slices: list, draw: Callable[[dict, np.ndarray], bool]) -> None:
        """Draw one figure per slice (at most ``max_per_kind``) and note what was left out."""
        made = capped = 0
        for fixed, rows in slices:
            if made >= max_per_kind:
                capped += 1
            elif draw(fixed, rows):
                made += 1
        if made == 0:
            skipped.append(f"no {title} ({need})")
        elif capped:
            log(f"plot: note: {title}: first {made} figures drawn, {capped} more slice(s) not tried (max_per_kind)")

    def rh_map(fixed, rows):  # Figs. 5-6, 9-10
        return _map_figure(
            agg,
            rows,
            "core_radius_a",
            "shell_thickness_a",
            ("gap", "dipole_sq"),
            fixed,
            out_dir,
            f"map_RH_{_tag(fixed)}.png",
            written,
        )

    def composition_map(fixed, rows):  # Figs. 11-12
        return _composition_figure(
            agg,
            rows,
            ("E1", "H1", "exciton_energy", "dipole_sq", "dXX"),
            fixed,
            out_dir,
            f"map_composition_{_tag(fixed)}.png",
            written,
        )

    each(
        "(R, H) maps",
        "needs two R and two H values with data",
        _slices(agg, ("core_radius_a", "shell_thickness_a")),
        rh_map,
    )
    each(
        "composition maps",
        "needs two x_Cu and two x_In values with data",
        _slices(agg, ("x_cu", "x_in")),
        composition_map,
    )
    # Size: E1, H1, gap and optical activity versus R at fixed H, or versus H at fixed R,
    # one line per model (the cuts of the (R, H) maps a reader compares with the paper).
    size_panels = [["E1", "H1"], ["gap"], ["dipole_sq"]]
    for gkey, gname in (("core_radius_a", "R"), ("shell_thickness_a", "H")):
        each(
            f"curves versus {gname}",
            f"needs two {gname} values",
            _slices(agg, (gkey, "model")),
            lambda fixed, rows, gkey=gkey, gname=gname: _curve_figure(
                agg, rows, gkey, size_panels, "model", fixed, out_dir, f"curves_{gname}_{_tag(fixed)}.png", written
            ),
        )
    # Binary alloys Zn(1-x)In(x)S and Zn(1-x)Cu(x)S, one line per model: Figs. 2, 7.
    for xkey, other in (("x_in", "x_cu"), ("x_cu", "x_in")):
        each(
            f"curves versus {LABELS[xkey]}",
            f"needs two {LABELS[xkey]} values at {LABELS[other]} = 0",
            _slices(agg, (xkey, "model"), where={other: 0.0}),
            lambda fixed, rows, xkey=xkey: _curve_figure(
                agg, rows, xkey, [["E1"], ["H1"]], "model", fixed, out_dir, f"curves_{xkey}_{_tag(fixed)}.png", written
            ),
        )
    # Band offsets: Figs. 3, 8; an offset only matters for a core that contains its compound.
    for vkey, x in (("vbo_ins", "x_in"), ("vbo_cus", "x_cu")):
        each(
            f"curves versus {LABELS[vkey]}",
            f"needs two {LABELS[vkey]} values",
            [(fixed, rows) for fixed, rows in _slices(agg, (vkey,)) if fixed[x] > 0],
            lambda fixed, rows, vkey=vkey: _curve_figure(
                agg,
                rows,
                vkey,
                [["E1", "H1"], ["core_weight_e", "core_weight_h"]],
                None,
                fixed,
                out_dir,
                f"curves_{vkey}_{_tag(fixed)}.png",
                written,
            ),
        )
    if skipped:
        log(
            "plot: note (informational, not an error): this sweep does not vary what these figures need: "
            + "; ".join(skipped)
        )
    # Radial densities: Figs. 3-5, 8-9.
    need = [k for k in ("radial_grid", "envelope_e", "envelope_h") if k not in table]
    if need:
        log(f"plot: no radial densities: results have no {', '.join(need)}")
    else:
        tasks = list(radial_tasks) if radial_tasks is not None else default_radial_tasks(table, agg)
        if radial_tasks is None and len(tasks) > max_radial:
            log(
                f"plot: radial densities of the first {max_radial} of {len(tasks)} sweep points "
                "(choose others with radial_tasks)"
            )
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
    parser.add_argument(
        "--tasks",
        metavar="I,J,...",
        help="tasks whose radial densities to draw (default: first done realisation of each sweep point)",
    )


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
