"""One function per figure of the paper, drawn from a figure's CSV files (matplotlib, Agg).

Each ``figN(data, path)`` takes the :class:`hpc_nc.paper.data.FigureData` of that figure,
saves a PNG at ``path`` and returns the matplotlib Figure (tests inspect its axes). The
panels follow the paper's layout and quantities (docs/reproduction/README.md lists the
readings where the paper is unclear):

- Figs. 2, 7: E1 and H1 (eV, separate panels and scales, as the paper's "different energy
  scales") versus In or Cu content (%), VCA / NSTR / STR; alloy points are the mean over
  realisations with the standard error as error bar (the paper shows one realisation);
  the dotted line joins the pure end points (linear interpolation, for the bowing).
- Figs. 3, 8: radial probability density of E1 (red) and H1 (blue) versus r (nm), one
  panel per VBO, core shaded dark grey and shell light grey; solid: density per atomic
  layer (the paper's oscillating curves), dashed: smoothed envelope (the paper's dashed
  guides). Figs. 4, 5, 9 likewise, one panel per (R, H); alloyed cores show every
  realisation (thin) and the mean envelope with its standard-error band.
- Figs. 6, 10: 2 x 2 maps over core radius R (nm, x) and shell thickness H (nm, y): top
  the single-particle gap E1 - H1 (eV), bottom the optical activity |d|^2 (Å^2); left pure,
  right alloyed core; one colour scale per row; marker shape = majority confinement label
  of the point; white diamonds and dashed lines mark the radial-density points of Figs.
  4-5 (9); alloyed cells carry their standard error as a number.
- Figs. 11, 12: maps over Cu content (%, x) and In content (%, y), 0-50 % ("upper left" =
  high In, low Cu, as in the paper's text), another colour scheme than the size maps;
  Fig. 11: E1, H1, exciton energy (eV); Fig. 12: |d|^2 (top) and ΔXX (bottom) for the three
  dots, each panel with its own scale (the paper's "each plot uses different units and
  scales").
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Callable

import numpy as np

from hpc_nc.paper.data import FigureData, select
from hpc_nc.physics.geometry import ZNS_LATTICE_CONSTANT

A_NM = ZNS_LATTICE_CONSTANT / 10.0  # nm per lattice constant
CORE_GREY, SHELL_GREY = "0.70", "0.90"
E_COLOR, H_COLOR = "tab:red", "tab:blue"
MODEL_COLORS = {"VCA": "tab:green", "NSTR": "tab:orange", "STR": "tab:purple"}
LABEL_MARKERS = {"type-I": "o", "quasi-type-II": "s", "type-II": "^", "mixed": "v", "": "x"}
SIZE_CMAPS = {"gap": "viridis", "dipole_sq": "magma"}
COMPOSITION_CMAP = "RdYlBu_r"  # the paper's "different color scheme" for the composition maps
DPI = 130


def _figure(nrows: int, ncols: int, size=(3.6, 3.0)):
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _save(fig, path: str):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=DPI)
    return fig


def _no_data(ax, text="not computed yet"):
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")


def _col(data: FigureData, name: str, rows) -> np.ndarray:
    v = data.ensemble.get(name)
    if v is None:
        return np.full(len(rows), np.nan)
    return np.asarray(v, dtype=float)[rows]


def _unfinished(data: FigureData, rows) -> np.ndarray:
    """'k/n' for points with only k (> 0) of their n realisations done (a study in progress), else ''."""
    have, want = _col(data, "n_realizations", rows), _col(data, "n_tasks", rows)
    return np.array([f"{h:.0f}/{w:.0f}" if 0 < h < w else "" for h, w in zip(have, want)], dtype=object)


# -- Figs. 2 and 7 ------------------------------------------------------------------------------
def _core_only(data: FigureData, path: str, xkey: str, element: str, number: int):
    fig, axes = _figure(1, 2, size=(4.2, 3.4))
    ens = data.ensemble
    for ax, field, name in zip(axes[0], ("E1", "H1"), ("electron ground state E1", "hole ground state H1")):
        drawn = False
        for model in ("VCA", "NSTR", "STR"):
            rows = select(ens, model=model)
            if rows.size == 0:
                continue
            x = np.asarray(ens[xkey], dtype=float)[rows]
            order = np.argsort(x)
            rows, x = rows[order], x[order]
            y, err = _col(data, f"{field}_mean", rows), _col(data, f"{field}_sem", rows)
            if not np.isfinite(y).any():
                continue
            ax.errorbar(
                100 * x,
                y,
                yerr=np.nan_to_num(err),
                marker="o",
                ms=3.5,
                capsize=2.5,
                color=MODEL_COLORS[model],
                label=model,
            )
            drawn = True
            if model == "STR" and np.isfinite(y[[0, -1]]).all() and x[0] == 0 and x[-1] == 1:
                ax.plot([0, 100], [y[0], y[-1]], ":", color="0.3", lw=1, label="linear interpolation")
        ax.set_xlabel(f"{element} content (%)")
        ax.set_ylabel(f"{field} (eV)")
        ax.set_title(name, fontsize=9)
        ax.set_xlim(-2, 102)
        if drawn:
            ax.legend(fontsize=7)
        else:
            _no_data(ax)
    fig.suptitle(
        f"Fig. {number}: Zn$_{{1-x}}${element}$_x$S core-only nanocrystal, R = 4a "
        f"(diameter {8 * A_NM:.1f} nm); mean ± s.e. over alloy realisations",
        fontsize=9,
    )
    return _save(fig, path)


def fig2(data: FigureData, path: str):
    return _core_only(data, path, "x_in", "In", 2)


def fig7(data: FigureData, path: str):
    return _core_only(data, path, "x_cu", "Cu", 7)


# -- radial densities (Figs. 3, 4, 5, 8, 9) -----------------------------------------------------
def _shade(ax, r_core_nm: float, r_total_nm: float):
    ax.axvspan(0.0, r_core_nm, color=CORE_GREY, zorder=0, lw=0)
    ax.axvspan(r_core_nm, r_total_nm, color=SHELL_GREY, zorder=0, lw=0)
    ax.set_xlim(0.0, r_total_nm * 1.04)


def _done_tasks(data: FigureData, **where) -> np.ndarray:
    rows = select(data.tasks, **where)
    rows = rows[data.tasks["status"][rows] == "done"]
    return np.asarray(data.tasks["task"], dtype=float)[rows].astype(int)


DISPLAY_BIN_A = 0.5  # Å: width of the bins the per-layer density is drawn on


def _rebinned(c: dict) -> dict:
    """The per-layer density summed into DISPLAY_BIN_A bins (probability per bin / width).

    The stored layer density lives on a fine grid (~0.1-0.2 Å) where every atomic shell is a
    one-bin spike; on 0.5 Å bins (about the radial spacing of atomic shells) the layer
    oscillations stay visible at the envelope's scale, as in the paper. Both integrate to 1.
    """
    r = c["r_A"]
    if r.size < 2:
        return c
    dr = float(r[1] - r[0])
    k = max(1, int(round(DISPLAY_BIN_A / dr)))
    n = (r.size // k) * k
    out = dict(c)
    for name in ("rho_e", "rho_h"):
        v = np.asarray(c[name], dtype=float)
        coarse = v[:n].reshape(-1, k).sum(axis=1) * dr / (k * dr)
        out[name] = (
            np.repeat(coarse, k)[: r.size]
            if n == r.size
            else np.concatenate([np.repeat(coarse, k), np.full(r.size - n, np.nan)])
        )
    return out


def _radial_panel(ax, data: FigureData, tasks: Sequence[int], r_core_a: float, shell_a: float) -> str:
    """Draw the E1/H1 radial densities of ``tasks`` (realisations of one point) on ``ax``."""
    _shade(ax, r_core_a * A_NM, (r_core_a + shell_a) * A_NM)
    ax.set_xlabel("r (nm)")
    ax.set_ylabel("radial density (1/nm)")
    curves = [_rebinned(data.radial_of(t)) for t in tasks]
    curves = [c for c in curves if c["r_A"].size]
    if not curves:
        _no_data(ax)
        return ""
    r = curves[0]["r_A"] / 10.0
    single = len(curves) == 1
    for carrier, color in (("e", E_COLOR), ("h", H_COLOR)):
        rho = np.array([c[f"rho_{carrier}"] for c in curves]) * 10.0  # 1/Å -> 1/nm
        env = np.array([c[f"env_{carrier}"] for c in curves]) * 10.0
        name = "E1" if carrier == "e" else "H1"
        if single:
            if np.isfinite(rho).any():
                ax.plot(r, rho[0], color=color, lw=0.9, label=f"{name} (per layer, {DISPLAY_BIN_A:g} Å bins)")
            ax.plot(r, env[0], "--", color=color, lw=1.3, label=f"{name} envelope")
        else:
            for k in range(len(curves)):
                if np.isfinite(rho[k]).any():
                    ax.plot(
                        r,
                        rho[k],
                        color=color,
                        lw=0.5,
                        alpha=0.35,
                        label=f"{name} per layer, each realisation" if k == 0 else None,
                    )
            mean = env.mean(axis=0)
            sem = env.std(axis=0, ddof=1) / np.sqrt(len(curves))
            ax.plot(r, mean, "--", color=color, lw=1.4, label=f"{name} envelope, mean of {len(curves)}")
            ax.fill_between(r, mean - sem, mean + sem, color=color, alpha=0.25, lw=0)
    ax.set_ylim(bottom=0)
    return ""


def _legend(ax):
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6, loc="upper right")


def _label_text(data: FigureData, **where) -> str:
    rows = data.rows(**where)
    if rows.size == 0 or "confinement" not in data.ensemble:
        return ""
    label = str(data.ensemble["confinement"][rows[0]])
    frac = float(data.ensemble.get("confinement_fraction", np.array([np.nan] * (rows[0] + 1)))[rows[0]])
    n = int(np.nan_to_num(data.ensemble.get("n_realizations", np.zeros(rows[0] + 1))[rows[0]]))
    if not label:
        return ""
    return label if n <= 1 or not np.isfinite(frac) else f"{label} ({round(frac * n)}/{n})"


def _vbo_panels(data: FigureData, path: str, vbo_key: str, core: dict, number: int, compound: str):
    vbos = sorted(
        {
            float(v)
            for v in data.ensemble.get(vbo_key, [])
            if select(data.ensemble, model="STR", **{vbo_key: v, **core}).size
        }
    )
    n = max(1, len(vbos))
    ncols = min(4, n)
    nrows = -(-n // ncols)
    fig, axes = _figure(nrows, ncols, size=(3.3, 2.7))
    flat = axes.ravel()
    for ax in flat[n:]:
        ax.set_visible(False)
    if not vbos:
        _no_data(flat[0])
    rows = select(data.ensemble, model="STR", **core)
    r_a = float(data.ensemble["core_radius_a"][rows[0]]) if rows.size else 3.0
    h_a = float(data.ensemble["shell_thickness_a"][rows[0]]) if rows.size else 3.0
    for ax, v in zip(flat, vbos):
        tasks = _done_tasks(data, model="STR", **{vbo_key: v, **core})
        _radial_panel(ax, data, tasks, r_a, h_a)
        label = _label_text(data, model="STR", **{vbo_key: v, **core})
        ax.set_title(f"VBO = {v:g} eV" + (f"\nours: {label}" if label else ""), fontsize=8)
    _legend(flat[0])
    fig.suptitle(
        f"Fig. {number}: {compound}/ZnS, R = {r_a * A_NM:.1f} nm ({r_a:g}a), H = {h_a * A_NM:.1f} nm "
        f"({h_a:g}a), STR; core dark, shell light grey",
        fontsize=9,
    )
    return _save(fig, path)


def fig3(data: FigureData, path: str):
    return _vbo_panels(data, path, "vbo_ins", {"x_cu": 0.0, "x_in": 1.0}, 3, "InS")


def fig8(data: FigureData, path: str):
    return _vbo_panels(data, path, "vbo_cus", {"x_cu": 1.0, "x_in": 0.0}, 8, "CuS")


def _geometry_panels(
    data: FigureData, path: str, geometries, comp: dict, number: int, title: str, frame_colors: dict | None = None
):
    fig, axes = _figure(1, len(geometries), size=(3.3, 2.8))
    for k, (ax, (r, h)) in enumerate(zip(axes[0], geometries)):
        where = dict(core_radius_a=r, shell_thickness_a=h, **comp)
        _radial_panel(ax, data, _done_tasks(data, **where), r, h)
        label = _label_text(data, **where)
        ax.set_title(
            f"({chr(97 + k)}) R = {r * A_NM:.1f} nm, H = {h * A_NM:.1f} nm" + (f"\nours: {label}" if label else ""),
            fontsize=8,
        )
        color = (frame_colors or {}).get((r, h))
        if color:
            for s in ax.spines.values():
                s.set_edgecolor(color)
                s.set_linewidth(2)
    _legend(axes[0][0])
    fig.suptitle(f"Fig. {number}: {title}", fontsize=9)
    return _save(fig, path)


FIG4_GEOMETRIES = ((2.0, 4.0), (3.0, 3.0), (4.0, 2.0), (5.0, 1.0))
FIG5_GEOMETRIES = ((1.0, 3.0), (3.0, 3.0), (5.0, 3.0))


def fig4(data: FigureData, path: str):
    return _geometry_panels(
        data,
        path,
        FIG4_GEOMETRIES,
        {"x_cu": 0.0, "x_in": 1.0},
        4,
        "InS/ZnS, R + H = 3.3 nm (6a), VBO 1.1 eV, STR",
        {(2.0, 4.0): "red", (5.0, 1.0): "green"},
    )


def fig5(data: FigureData, path: str):
    return _geometry_panels(
        data,
        path,
        FIG5_GEOMETRIES,
        {"x_cu": 0.0, "x_in": 0.5},
        5,
        "Zn$_{0.5}$In$_{0.5}$S/ZnS, H = 1.6 nm (3a), STR; thin: realisations, dashed: mean envelope ± s.e.",
    )


def fig9(data: FigureData, path: str):
    return _geometry_panels(
        data,
        path,
        FIG5_GEOMETRIES,
        {"x_cu": 0.5, "x_in": 0.0},
        9,
        "Zn$_{0.5}$Cu$_{0.5}$S/ZnS, H = 1.6 nm (3a), STR; thin: realisations, dashed: mean envelope ± s.e.",
    )


# -- maps ------------------------------------------------------------------------------------------
def _grid(x: np.ndarray, y: np.ndarray, v: np.ndarray):
    xs, ys = np.unique(x), np.unique(y)
    g = np.full((len(ys), len(xs)), np.nan)
    g[np.searchsorted(ys, y), np.searchsorted(xs, x)] = v
    return xs, ys, g


def _map_panel(fig, ax, x, y, values, sem, labels, cmap, vmin=None, vmax=None, colorbar=None, unfinished=None):
    """Filled map of ``values`` on the grid of (x, y); markers by label; sem as text.

    unfinished: per point '' or 'k/n' (k of n realisations done): such a cell shows 'k/n'
    instead of '±', so a partial ensemble does not look finished."""
    xs, ys, g = _grid(x, y, values)
    finite = np.isfinite(g)
    if not finite.any():
        _no_data(ax)
        return None
    if finite.all() and len(xs) > 1 and len(ys) > 1:
        levels = np.linspace(vmin if vmin is not None else np.nanmin(g), vmax if vmax is not None else np.nanmax(g), 15)
        if levels[0] == levels[-1]:
            levels = levels[0] + np.linspace(-0.5, 0.5, 15) * max(abs(levels[0]) * 1e-3, 1e-9)
        mesh = ax.contourf(xs, ys, g, levels=levels, cmap=cmap, extend="both")
    else:  # incomplete grid (a study in progress): cells, NaN left blank
        mesh = ax.pcolormesh(xs, ys, np.ma.masked_invalid(g), shading="nearest", cmap=cmap, vmin=vmin, vmax=vmax)
    if colorbar:
        fig.colorbar(mesh, ax=ax, label=colorbar, format="%.3g")
    dx = np.diff(xs).min() if len(xs) > 1 else 1.0
    dy = np.diff(ys).min() if len(ys) > 1 else 1.0
    ax.set_xlim(xs[0] - 0.6 * dx, xs[-1] + 0.6 * dx)
    ax.set_ylim(ys[0] - 0.6 * dy, ys[-1] + 0.6 * dy)
    for xi, yi, lab in zip(x, y, labels):
        marker = LABEL_MARKERS.get(str(lab), "x")
        ax.plot(xi, yi, marker, ms=4, mfc="none", mec="k", mew=0.8)
        if marker == "x":  # a point without a result yet: the legend says what the cross means
            fig.hpc_nc_incomplete = True
    from matplotlib.patheffects import withStroke

    halo = [withStroke(linewidth=1.6, foreground="white")]  # readable on dark and light cells
    unfinished = np.full(len(x), "", dtype=object) if unfinished is None else unfinished
    for xi, yi, s, part in zip(x, y, sem, unfinished):
        if part:
            fig.hpc_nc_partial = True
        if part or np.isfinite(s):
            ax.annotate(
                part or f"±{s:.2g}",
                (xi, yi),
                textcoords="offset points",
                xytext=(0, -9),
                ha="center",
                fontsize=5,
                color="k",
                path_effects=halo,
            )
    return mesh


def _label_legend(fig):
    # a text line (constrained layout keeps it clear of the panels; figure legends outside
    # the axes need matplotlib >= 3.7, Debian 12 ships 3.6)
    names = {"o": "circle", "s": "square", "^": "triangle up", "v": "triangle down"}
    missing = ", cross: not computed yet (study in progress)" if getattr(fig, "hpc_nc_incomplete", False) else ""
    if getattr(fig, "hpc_nc_partial", False):
        missing += "; 'k/n': only k of n alloy realisations done so far (mean of those)"
    fig.supxlabel(
        "markers = our majority confinement label: "
        + ", ".join(f"{names[m]} {lab}" for lab, m in LABEL_MARKERS.items() if lab)
        + missing,
        fontsize=7,
    )


def _lattice_axes(ax):
    """Secondary axes in lattice constants (the job files' units) on top and right."""
    to_a, to_nm = (lambda v: v / A_NM), (lambda v: v * A_NM)
    top = ax.secondary_xaxis("top", functions=(to_a, to_nm))
    right = ax.secondary_yaxis("right", functions=(to_a, to_nm))
    for sec in (top, right):
        sec.tick_params(labelsize=6)
    top.set_xlabel("R / a", fontsize=6, labelpad=1)
    right.set_ylabel("H / a", fontsize=6, labelpad=1)


def _rh_maps(data: FigureData, path: str, systems, number: int, diamonds: dict, lines: dict):
    fig, axes = _figure(2, 2, size=(3.9, 3.2))
    ens = data.ensemble
    for i, (field, unit, name) in enumerate(
        (("gap", "eV", "single-particle gap E1 - H1"), ("dipole_sq", "Å²", "optical activity |d|²"))
    ):
        vals = [_col(data, f"{field}_mean", data.rows(x_cu=c, x_in=n)) for c, n, _ in systems]
        allv = np.concatenate([v[np.isfinite(v)] for v in vals]) if vals else np.empty(0)
        vmin, vmax = (float(allv.min()), float(allv.max())) if allv.size else (None, None)
        for j, (c, n, sysname) in enumerate(systems):
            ax = axes[i][j]
            rows = data.rows(x_cu=c, x_in=n)
            x = np.asarray(ens.get("core_radius_a", np.empty(0)), dtype=float)[rows] * A_NM
            y = np.asarray(ens.get("shell_thickness_a", np.empty(0)), dtype=float)[rows] * A_NM
            labels = ens["confinement"][rows] if "confinement" in ens else [""] * len(rows)
            _map_panel(
                fig,
                ax,
                x,
                y,
                _col(data, f"{field}_mean", rows),
                _col(data, f"{field}_sem", rows),
                labels,
                SIZE_CMAPS[field],
                vmin,
                vmax,
                colorbar=f"{field if field == 'gap' else '|d|²'} ({unit})" if j == 1 else None,
                unfinished=_unfinished(data, rows),
            )
            for rr, hh in diamonds.get(j, ()):
                ax.plot(rr * A_NM, hh * A_NM, "D", ms=7, mfc="white", mec="k", mew=0.6, alpha=0.85)
            for kind, value in lines.get(j, ()):
                if kind == "total":
                    r = np.linspace(1.0 * A_NM, (value - 1.0) * A_NM, 10)
                    ax.plot(r, value * A_NM - r, "k--", lw=0.9)
                else:
                    ax.axhline(value * A_NM, color="k", ls="--", lw=0.9)
            ax.set_xlabel("core radius R (nm)")
            ax.set_ylabel("shell thickness H (nm)")
            _lattice_axes(ax)
            ax.set_title(f"({chr(97 + 2 * i + j)}) {name}, {sysname}", fontsize=8)
    _label_legend(fig)
    fig.suptitle(
        f"Fig. {number}: maps over core radius and shell thickness (STR); "
        "alloyed cells: mean over realisations, ± = standard error",
        fontsize=9,
    )
    return _save(fig, path)


def fig6(data: FigureData, path: str):
    return _rh_maps(
        data,
        path,
        ((0.0, 1.0, "InS/ZnS"), (0.0, 0.5, "Zn$_{0.5}$In$_{0.5}$S/ZnS")),
        6,
        diamonds={0: FIG4_GEOMETRIES, 1: FIG5_GEOMETRIES},
        lines={0: (("total", 6.0),), 1: (("shell", 3.0),)},
    )


def fig10(data: FigureData, path: str):
    return _rh_maps(
        data,
        path,
        ((1.0, 0.0, "CuS/ZnS"), (0.5, 0.0, "Zn$_{0.5}$Cu$_{0.5}$S/ZnS")),
        10,
        diamonds={1: FIG5_GEOMETRIES},
        lines={1: (("shell", 3.0),)},
    )


def _composition_maps(data: FigureData, path: str, geometries, fields, number: int, title: str):
    one = len(geometries) == 1  # a single dot (Fig. 11): its panels side by side
    fig, axes = _figure(1, len(fields)) if one else _figure(len(fields), len(geometries), size=(3.7, 3.2))
    ens = data.ensemble
    k = 0
    for i, (field, unit, name) in enumerate(fields):
        for j, (r, h) in enumerate(geometries):
            ax = axes[0][i] if one else axes[i][j]
            rows = data.rows(core_radius_a=r, shell_thickness_a=h)
            x = 100 * np.asarray(ens.get("x_cu", np.empty(0)), dtype=float)[rows]
            y = 100 * np.asarray(ens.get("x_in", np.empty(0)), dtype=float)[rows]
            labels = ens["confinement"][rows] if "confinement" in ens else [""] * len(rows)
            _map_panel(
                fig,
                ax,
                x,
                y,
                _col(data, f"{field}_mean", rows),
                _col(data, f"{field}_sem", rows),
                labels,
                COMPOSITION_CMAP,
                colorbar=f"{name} ({unit})",
                unfinished=_unfinished(data, rows),
            )
            ax.set_xlim(-2.5, 52.5)
            ax.set_ylim(-2.5, 52.5)
            ax.set_xlabel("Cu content (%)")
            ax.set_ylabel("In content (%)")
            ax.set_title(f"({chr(97 + k)}) {name}\nR = {r * A_NM:.1f} nm, H = {h * A_NM:.1f} nm", fontsize=8)
            k += 1
    _label_legend(fig)
    fig.suptitle(f"Fig. {number}: {title}", fontsize=9)
    return _save(fig, path)


FIG12_GEOMETRIES = ((1.0, 3.0), (3.0, 4.0), (4.0, 3.0))


def fig11(data: FigureData, path: str):
    return _composition_maps(
        data,
        path,
        ((4.0, 2.0),),
        (("E1", "eV", "E1"), ("H1", "eV", "H1"), ("exciton_energy", "eV", "exciton energy X")),
        11,
        "ZnCuInS/ZnS, R = 2.2 nm, H = 1.1 nm, STR; mean ± s.e. over realisations",
    )


def fig12(data: FigureData, path: str):
    return _composition_maps(
        data,
        path,
        FIG12_GEOMETRIES,
        (("dipole_sq", "Å²", "optical activity |d|²"), ("dXX", "eV", "ΔXX")),
        12,
        "ZnCuInS/ZnS, three dots (b: our reading of R, H); mean ± s.e. over realisations",
    )


FIGURE_FUNCTIONS: dict[int, Callable[[FigureData, str], object]] = {
    2: fig2,
    3: fig3,
    4: fig4,
    5: fig5,
    6: fig6,
    7: fig7,
    8: fig8,
    9: fig9,
    10: fig10,
    11: fig11,
    12: fig12,
}


# -- beyond the paper ------------------------------------------------------------------------------
def extended_maps(datasets: Sequence[FigureData], path: str):
    """Figs. 6 and 10 (top: gap, bottom: |d|^2) on the union of the paper's and the extended
    (R, H) grid, all four systems side by side; the dotted box is the paper's range."""
    ens: dict[str, list] = {}
    for d in datasets:
        if d is None:
            continue
        for k in (
            "x_cu",
            "x_in",
            "core_radius_a",
            "shell_thickness_a",
            "gap_mean",
            "gap_sem",
            "dipole_sq_mean",
            "dipole_sq_sem",
            "confinement",
        ):
            ens.setdefault(k, []).extend(list(d.ensemble.get(k, np.full(len(d.ensemble.get("x_cu", [])), np.nan))))
    merged = FigureData(tasks={}, ensemble={k: np.asarray(v) for k, v in ens.items()})
    systems = (
        (0.0, 1.0, "InS"),
        (0.0, 0.5, "Zn$_{0.5}$In$_{0.5}$S"),
        (1.0, 0.0, "CuS"),
        (0.5, 0.0, "Zn$_{0.5}$Cu$_{0.5}$S"),
    )
    fig, axes = _figure(2, 4, size=(3.6, 3.1))
    for i, (field, unit) in enumerate((("gap", "eV"), ("dipole_sq", "Å²"))):
        for j, (c, n, name) in enumerate(systems):
            ax = axes[i][j]
            rows = merged.rows(x_cu=c, x_in=n) if merged.ensemble else np.empty(0, int)
            x = np.asarray(merged.ensemble.get("core_radius_a", []), dtype=float)[rows] * A_NM
            y = np.asarray(merged.ensemble.get("shell_thickness_a", []), dtype=float)[rows] * A_NM
            labels = merged.ensemble.get("confinement", np.array([""] * len(x)))[rows]
            _map_panel(
                fig,
                ax,
                x,
                y,
                _col(merged, f"{field}_mean", rows),
                _col(merged, f"{field}_sem", rows),
                labels,
                SIZE_CMAPS[field],
                colorbar=f"{'gap' if field == 'gap' else '|d|²'} ({unit})",
                unfinished=_unfinished(merged, rows),
            )
            ax.add_patch(
                __import__("matplotlib.patches", fromlist=["Rectangle"]).Rectangle(
                    (0.5 * A_NM, 0.5 * A_NM), 5 * A_NM, 4 * A_NM, fill=False, ls=":", lw=1.2, ec="k"
                )
            )
            ax.set_xlabel("core radius R (nm)")
            ax.set_ylabel("shell thickness H (nm)")
            ax.set_title(f"{name}/ZnS", fontsize=8)
    _label_legend(fig)
    fig.suptitle(
        "Beyond the paper: Figs. 6 and 10 extended to R = 6a, H = 5a (dotted box: the paper's range)", fontsize=9
    )
    return _save(fig, path)
