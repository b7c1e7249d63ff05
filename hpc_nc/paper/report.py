"""docs/reproduction/README.md: claims and verdicts, status, cost record, beyond the paper.

:func:`write_report` reads every figure directory (CSV files, cost.json, meta.json) under
the output root, evaluates :data:`hpc_nc.paper.claims.CLAIMS` and writes the report. It
also writes the cost table between the markers ``<!-- paper-cost:begin -->`` and
``<!-- paper-cost:end -->`` of benchmarks/RESULTS.md when asked (``results_md``). Serial,
seconds; nothing here runs a calculation.
"""

from __future__ import annotations

import datetime
import os
from typing import Any

import numpy as np

from hpc_nc.paper import EXTENDED, FIGURES, figure_dir_name
from hpc_nc.paper.claims import CLAIMS, NOT, NOT_RUN, NOTES, PARTLY, REPRODUCED, evaluate_all
from hpc_nc.paper.cost import (
    BENCHMARK_SOURCE,
    NODE_RANKS,
    PowerLawCost,
    fit_cost_model,
    makespan,
    predict_job,
    read_record,
    summarize_record,
)
from hpc_nc.paper.data import FigureData, load_figure_data

GROUP_COLUMNS = ("x_cu", "x_in", "core_radius_a", "shell_thickness_a", "vbo_ins", "vbo_cus", "model")
COST_BEGIN, COST_END = "<!-- paper-cost:begin -->", "<!-- paper-cost:end -->"

READINGS = """\
- **Fig. 2 / 7**: "diameter of approximately 4.3 nm (eight lattice constants)": core-only dot of radius 4a
  (2149 atoms). In / Cu contents 0-100 % with the 5 % point the text names.
- **Fig. 3 / 8**: R = H = 1.6 nm = 3a (7193 atoms). The paper does not list its panel VBOs; we sweep
  0.3-1.6 eV (InS/ZnS; the text names 0.6, 0.75, 1.1 eV and "higher") and 0.2-0.9 eV (CuS/ZnS around the
  0.34 and 0.75 eV of the Methods). Fig. 3 adds NSTR points because the text states the unstrained result.
- **Fig. 4**: R = 1.1, 1.6, 2.2, 2.7 nm = 2-5a with H = 4-1a (R + H = 6a = 3.3 nm; the caption's "0.6 nm"
  is 1a = 0.54 nm rounded).
- **Fig. 5 / 9**: R = 1, 3, 5a under H = 3a, as the captions say. The Fig. 6 text calls "R = 2.7 nm and
  H = 1.1 nm" "also discussed in Fig. 5c"; we follow the captions (H = 1.6 nm) and test R = 5a, H = 2a
  in the Fig. 6 map (claim 6f). Fig. 9 is introduced as "Zn1-xInxS" in the text; the caption and the
  section say Zn0.5Cu0.5S, which we take.
- **Fig. 6 / 10**: the 20 configurations per system are the full grid R = 1-5a x H = 1-4a (every radius
  the text quotes; contains all Fig. 4, 5, 9 points; largest dot R + H = 9a, 24447 atoms). A reading
  "R + H <= 6a" gives 14 points and misses Fig. 5's R = 5a, H = 3a.
- **Fig. 11**: "core diameter of R = 2.2 nm": R is a radius everywhere else, so R = 2.2 nm = 4a, H = 2a.
- **Fig. 12**: a/d = R 0.5 nm (1a), H 1.6 nm (3a). The first paragraph attributes this small-core dot to
  "Fig. 12c", but the same paragraph says "the remaining panels of Fig. 12b-c, e-f show nanocrystals with a
  constant total radius (R + H = 3.8 nm)" and the last one gives c/f as R = 2.2 nm, H = 1.6 nm (4a + 3a =
  7a = 3.8 nm); so "12c" is read as a typo for 12a. b/e: R + H = 7a with a ratio the paper does not give;
  we take R = 3a, H = 4a (the mirror of c/f). Compositions 0-50 % in 10 % steps; x axis Cu, y axis In
  ("upper left" = high In, low Cu, as the text uses it).
- **Core/shell shading** in the radial panels is drawn at the nominal radii R and R + H; in strained
  InS-rich cores the relaxed core extends ~0.1-0.2 nm further (docs/VALIDATION.md, finding 2).
- **Realisations**: the paper shows one alloy realisation per point; we run 3 (10 for the 16-cation core of
  Fig. 12a/d) and show mean ± standard error; labels are the majority over realisations.
- **Colour scales**: the paper's colour maps are not specified; size maps use viridis (gap) / magma (|d|²)
  with one scale per row, composition maps a diverging scheme (the paper's "different color scheme") with
  one scale per panel ("each plot uses different units and scales").
"""


def _fmt_hours(seconds: float) -> str:
    if not np.isfinite(seconds):
        return "—"
    return f"{seconds / 3600:.3g}"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        out.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in r) + " |")
    return out


# -- beyond the paper: single realisation vs ensemble ---------------------------------------------
def label_spread(data: FigureData) -> dict | None:
    """How often one realisation's label differs from its point's majority label.

    Over the sweep points with at least two done realisations: ``n_points``,
    ``n_realisations`` (tasks), ``single_differs`` (share of those tasks whose label is not
    the majority label: the chance that the paper's one realisation would have shown
    another label than our ensemble), ``points_split`` (share of points whose realisations
    do not all agree). None when no point has two realisations.
    """
    t, e = data.tasks, data.ensemble
    if not data.n_tasks or "confinement" not in t or "confinement" not in e:
        return None
    done = t["status"] == "done"
    keys = [tuple(e[k][i] for k in GROUP_COLUMNS) for i in range(len(e["x_cu"]))]
    majority = {k: str(e["confinement"][i]) for i, k in enumerate(keys)}
    groups: dict[tuple, list[str]] = {}
    for i in np.flatnonzero(done):
        groups.setdefault(tuple(t[k][i] for k in GROUP_COLUMNS), []).append(str(t["confinement"][i]))
    multi = {k: v for k, v in groups.items() if len(v) >= 2 and k in majority}
    if not multi:
        return None
    differ = sum(sum(lab != majority[k] for lab in v) for k, v in multi.items())
    n_real = sum(len(v) for v in multi.values())
    split = sum(len(set(v)) > 1 for v in multi.values())
    return {
        "n_points": len(multi),
        "n_realisations": n_real,
        "single_differs": differ / n_real,
        "points_split": split / len(multi),
    }


# -- consistency: the same task in two jobs --------------------------------------------------------
SAME_TASKS = ((4, 6), (5, 6), (9, 10))  # Figs. 4, 5, 9 are points of the maps (same task keys)


def consistency_rows(datasets: dict) -> list[list]:
    """For each pair of figures sharing tasks: common done tasks and the largest |difference|
    of E1, H1 (eV) and |d|² (Å²); the same task computed twice must agree (same structure and
    seed), up to the solver tolerance."""
    rows = []
    for a, b in SAME_TASKS:
        da, db = datasets.get(a), datasets.get(b)
        if da is None or db is None or "key" not in da.tasks or "key" not in db.tasks:
            continue
        ia = {k: i for i, k in enumerate(da.tasks["key"]) if da.tasks["status"][i] == "done"}
        ib = {k: i for i, k in enumerate(db.tasks["key"]) if db.tasks["status"][i] == "done"}
        common = sorted(set(ia) & set(ib))
        if not common:
            continue
        diffs = []
        for f in ("E1", "H1", "dipole_sq"):
            if f in da.tasks and f in db.tasks:
                va = np.asarray(da.tasks[f], dtype=float)[[ia[k] for k in common]]
                vb = np.asarray(db.tasks[f], dtype=float)[[ib[k] for k in common]]
                diffs.append(f"{np.nanmax(np.abs(va - vb)):.2e}")
            else:
                diffs.append("—")
        rows.append([f"{a} / {b}", len(common), *diffs])
    return rows


# -- cost record ------------------------------------------------------------------------------------
def _measured_model(datasets: dict) -> PowerLawCost | None:
    n, s = [], []
    for d in datasets.values():
        if d is None or not d.costs or "wall_seconds" not in d.costs:
            continue
        ok = d.costs["status"] == "done"
        n += list(np.asarray(d.costs["n_atoms"], dtype=float)[ok])
        s += list(np.asarray(d.costs["wall_seconds"], dtype=float)[ok])
    try:
        return fit_cost_model(n, s, source="fitted to the measured per-task times of this study")
    except ValueError:
        return None


def cost_rows(datasets: dict, out_root: str, repo_root: str = ".") -> tuple[list[list], dict]:
    """Rows of the cost table and the totals (measured and predicted)."""
    from hpc_nc.io.jobs import load_job

    measured_model = _measured_model(datasets)
    rows, tot = (
        [],
        {
            "tasks": 0,
            "done": 0,
            "cpu": 0.0,
            "wall": 0.0,
            "peak": 0.0,
            "pred_cpu": 0.0,
            "node_tasks": [],
            "node_keys": [],
            "node_ref": [],
            "node_relax": 0.0,
        },
    )
    for n, fig in list(FIGURES.items()) + [("ext", EXTENDED)]:
        number = 0 if n == "ext" else n
        fig_dir = os.path.join(out_root, figure_dir_name(number))
        job = load_job(os.path.join(repo_root, fig.job))
        pred = predict_job(job)
        raw = read_record(fig_dir)
        tot.setdefault("hosts", set()).update(
            (x.get("host", "?"), x.get("cpu_count", "?")) for x in raw.get("sessions", [])
        )
        rec = summarize_record(raw)
        d = datasets.get(n)
        done = d.n_done if d is not None else 0
        model = measured_model
        from hpc_nc.paper.cost import job_task_seconds, reference_keys, reference_seconds

        ts, relax = job_task_seconds(job, model)
        keys, ref = reference_keys(job), reference_seconds(job, model)
        node = makespan(ts, NODE_RANKS, keys, ref) + relax / NODE_RANKS
        per_task = float("nan")
        if d is not None and d.costs and "wall_seconds" in d.costs:
            ok = d.costs["status"] == "done"
            if ok.any():
                per_task = float(np.median(np.asarray(d.costs["wall_seconds"], dtype=float)[ok]))
        label = "ext." if n == "ext" else str(n)
        rows.append(
            [
                label,
                len(job.tasks),
                done,
                _cpu_cell(rec["cpu_seconds"], rec["cpu_unmeasured"], rec["sessions"]),
                _fmt_hours(rec["wall_seconds"]) if rec["sessions"] else "—",
                f"{rec['peak_rss_mib']:.0f}" if rec["sessions"] else "—",
                ",".join(map(str, rec["ranks"])) or "—",
                f"{per_task:.1f}" if np.isfinite(per_task) else "—",
                _fmt_hours(pred["cpu_seconds"]),
                f"{node / 60:.3g}",
                f"{pred['memory_per_rank_bytes'] / 2**30:.2f}",
            ]
        )
        if n != "ext":
            tot["tasks"] += len(job.tasks)
            tot["done"] += done
            tot["cpu"] += rec["cpu_seconds"]  # measured sessions only
            if rec["cpu_unmeasured"]:
                tot.setdefault("cpu_unmeasured", []).append(label)
            tot["wall"] += rec["wall_seconds"]
            tot["peak"] = max(tot["peak"], rec["peak_rss_mib"] if rec["sessions"] else 0.0)
            tot["pred_cpu"] += pred["cpu_seconds"]
            tot["node_tasks"] += list(ts)
            tot["node_keys"] += [(n, k) if k is not None else None for k in keys]  # per job: own processes
            tot["node_ref"] += list(ref)
            tot["node_relax"] += relax
            tot["max_mem"] = max(tot.get("max_mem", 0), pred["memory_per_rank_bytes"])
    tot["node_wall"] = (
        makespan(tot["node_tasks"], NODE_RANKS, tot["node_keys"], tot["node_ref"]) + tot["node_relax"] / NODE_RANKS
    )
    tot["model"] = measured_model.source if measured_model else BENCHMARK_SOURCE
    rows.append(
        [
            "**total 2-12**",
            tot["tasks"],
            tot["done"],
            _cpu_cell(tot["cpu"], len(tot.get("cpu_unmeasured", [])), 1 if tot["cpu"] else 0),
            _fmt_hours(tot["wall"]) if tot["wall"] else "—",
            f"{tot['peak']:.0f}" if tot["peak"] else "—",
            "",
            "",
            _fmt_hours(tot["pred_cpu"]),
            f"{tot['node_wall'] / 60:.3g}",
            "",
        ]
    )
    return rows, tot


def _cpu_cell(cpu_seconds: float, unmeasured: int, sessions: int) -> str:
    """Measured CPU hours; '≥' when a session of the sum was stopped before its CPU time was read."""
    if not sessions:
        return "—"
    if unmeasured and cpu_seconds == 0.0:
        return "not measured"
    return ("≥ " if unmeasured else "") + _fmt_hours(cpu_seconds)


COST_HEADER = [
    "Fig.",
    "tasks",
    "done",
    "measured CPU h",
    "measured wall h",
    "peak RSS per rank MiB",
    "ranks",
    "median s per task",
    "predicted CPU h (benchmark model)",
    "64-core node wall min",
    "memory per rank GiB",
]


def cost_section(datasets: dict, out_root: str, repo_root: str = ".") -> list[str]:
    rows, tot = cost_rows(datasets, out_root, repo_root)
    lines = [
        "Measured: CPU time (user + system of every rank) and wall time summed over the `make paper` sessions "
        "that computed tasks (docs/reproduction/figN/cost.json), peak resident memory of the largest single "
        "process (one rank), the median wall time of one task on its rank (costs.csv). Predicted: "
        f"hpc_nc/paper/cost.py; the CPU column uses {BENCHMARK_SOURCE}; the 64-core column simulates the "
        "task farm (greedy, tasks in order) "
        f"with per-task times from: {tot['model']}. Memory per rank: the job's estimate "
        "(hpc_nc.io.jobs.estimate_task_memory_bytes). Both predictions include the pure-ZnS reference solve "
        "the classifier needs once per process and (R, H) (charged per rank in the farm simulation). "
        "Per-task wall times measured on a shared, loaded machine "
        "include waiting for a core, so the measured 64-core prediction is an upper bound.",
        "",
        "Measured on: "
        + (", ".join(f"{h} ({c} cores)" for h, c in sorted(tot.get("hosts", ()), key=str)) or "nothing measured yet")
        + ".",
        "",
        f"64-core node, Figs. 2-12: {tot['node_wall'] / 3600:.3g} h wall if every rank runs one task; the "
        f"largest tasks need {tot['max_mem'] / 2**30:.2f} GiB per rank, i.e. up to "
        f"{NODE_RANKS * tot['max_mem'] / 2**30:.0f} GiB if 64 of them run at once (otherwise fewer ranks "
        "per node for those jobs).",
        "",
    ]
    lines += _table(COST_HEADER, rows)
    if tot.get("cpu_unmeasured"):
        lines += [
            "",
            "'≥': a lower bound. A session stopped by a signal (Fig. "
            + ", ".join(tot["cpu_unmeasured"])
            + ") has its wall time recorded but not its ranks' CPU time, so the CPU column sums the "
            "other sessions only.",
        ]
    return lines


def update_results_md(path: str, lines: list[str]) -> None:
    """Replace (or append) the paper-cost block of benchmarks/RESULTS.md."""
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else "# Benchmark results\n"
    block = "\n".join(
        [COST_BEGIN, "## The paper's study: cost record (generated by `make paper`)", "", *lines, COST_END]
    )
    if COST_BEGIN in text and COST_END in text:
        head, rest = text.split(COST_BEGIN, 1)
        text = head + block + rest.split(COST_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path + ".partial", "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(path + ".partial", path)


# -- the report -------------------------------------------------------------------------------------
def load_all(out_root: str) -> dict:
    ds: dict[Any, FigureData | None] = {
        n: load_figure_data(os.path.join(out_root, figure_dir_name(n))) for n in FIGURES
    }
    ds["ext"] = load_figure_data(os.path.join(out_root, figure_dir_name(0)))
    return ds


def write_report(
    out_root: str = "docs/reproduction",
    repo_root: str = ".",
    *,
    results_md: str | None = None,
    datasets: dict | None = None,
    now: str | None = None,
) -> str:
    """Write ``out_root``/README.md (and the RESULTS.md block); returns the README path."""
    from hpc_nc.io.jobs import load_job

    ds = datasets if datasets is not None else load_all(out_root)
    evaluated = evaluate_all(ds)
    counts = {v: sum(o.verdict == v for _, o in evaluated) for v in (REPRODUCED, PARTLY, NOT, NOT_RUN)}
    now = now or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    L = [
        "# Reproduction of the paper's Figures 2-12",
        "",
        f"Generated by `make paper` (hpc_nc/paper/report.py) on {now}. Do not edit by hand: the claims and "
        "their rules live in hpc_nc/paper/claims.py (reasons for partly / not reproduced in `NOTES` there), "
        "the figures in hpc_nc/paper/figures.py, the job files in jobs/paper/.",
        "",
        "Reproduce: `make paper NP=<ranks>` runs every figure's job resumably (`hpc-nc run`; finished tasks "
        "are kept), exports the CSVs into docs/reproduction/figN/ and redraws the figures and this report; "
        "`make paper FIG=6` does one figure. On a checkout whose CSVs are complete it only re-plots. "
        "Per figure: `tasks.csv` (one row per task), `ensemble.csv` (mean and standard error over alloy "
        "realisations per sweep point, majority label), `radial.csv` (radial densities), `costs.csv`, "
        "`cost.json` (measured sessions), `figN.png`.",
        "",
        f"**Verdicts**: {counts[REPRODUCED]} reproduced, {counts[PARTLY]} partly, {counts[NOT]} not reproduced, "
        f"{counts[NOT_RUN]} not run yet (of {len(evaluated)} statements).",
        "",
        "## Status",
        "",
    ]
    rows = []
    for n, fig in FIGURES.items():
        d = ds.get(n)
        job = load_job(os.path.join(repo_root, fig.job))
        png = os.path.join(out_root, figure_dir_name(n), f"fig{n}.png")
        failed = int(np.sum(d.tasks["status"] == "failed")) if d is not None and d.n_tasks else 0
        rows.append(
            [
                n,
                fig.subject,
                f"`{fig.job}`",
                f"{d.n_done if d else 0} / {len(job.tasks)}",
                failed,
                f"[fig{n}.png](fig{n}/fig{n}.png)" if os.path.exists(png) else "—",
            ]
        )
    L += _table(["Fig.", "subject", "job", "done / tasks", "failed", "figure"], rows)
    L += ["", "## How we read the paper", "", READINGS]
    L += [
        "## Claims, our numbers and verdicts",
        "",
        "Numbers: mean ± standard error over alloy realisations (no ± for pure dots); rules state the "
        "thresholds we chose where the paper gives none. 'not run' = the figure's results are missing.",
        "",
    ]
    for n, fig in FIGURES.items():
        L += [f"### Fig. {n}: {fig.subject}", ""]
        if os.path.exists(os.path.join(out_root, figure_dir_name(n), f"fig{n}.png")):
            L += [f"![Fig. {n}](fig{n}/fig{n}.png)", ""]
        rows = []
        for c, o in evaluated:
            if c.fig != n:
                continue
            reason = NOTES.get(c.id, "")
            if not reason and o.verdict in (PARTLY, NOT, NOT_RUN):
                reason = o.detail
            rows.append([c.id, f"“{c.quote}”", c.quantity, c.rule, o.value, f"**{o.verdict}**", reason])
        L += _table(["#", "paper", "quantity", "rule", "ours", "verdict", "reason / evidence"], rows) + [""]
    L += [
        "## Consistency: the same task in two figures",
        "",
        "Figs. 4, 5 and 9 are points of the Fig. 6 / 10 maps (same geometry, composition, alloy seeds): "
        "each common task is computed twice, in two jobs, and must agree to the solver tolerance.",
        "",
    ]
    rows = consistency_rows(ds)
    L += (
        _table(["Figs.", "common tasks", "max |ΔE1| eV", "max |ΔH1| eV", "max |Δ|d|²| Å²"], rows)
        if rows
        else ["(no pair of figures computed yet)"]
    ) + [""]
    L += ["## Cost record", ""] + cost_section(ds, out_root, repo_root) + [""]
    L += [
        "## Beyond the paper",
        "",
        "### One realisation versus the ensemble",
        "",
        "The paper shows one alloy realisation per point. For every alloyed figure: the share of single "
        "realisations whose confinement label differs from the majority label of their point (the chance "
        "that a one-realisation study shows another label), and the share of points whose realisations "
        "disagree at all.",
        "",
    ]
    rows = []
    for n in FIGURES:
        d = ds.get(n)
        s = label_spread(d) if d is not None else None
        if s:
            rows.append(
                [n, s["n_points"], s["n_realisations"], f"{s['single_differs']:.2f}", f"{s['points_split']:.2f}"]
            )
    L += (
        _table(["Fig.", "alloyed points", "realisations", "single differs from majority", "points split"], rows)
        if rows
        else ["(no alloyed figure computed yet)"]
    ) + [""]
    L += [
        "### Figs. 6 and 10 one size step further",
        "",
        f"Job `{EXTENDED.job}` (R = 6a, H = 5a added to each map; optional, see the cost table).",
    ]
    ext_png = os.path.join(out_root, figure_dir_name(0), "extended_maps.png")
    if os.path.exists(ext_png):
        d_ext = ds.get("ext")
        if d_ext is not None and d_ext.n_done < d_ext.n_tasks:
            L += [
                "",
                f"**In progress: {d_ext.n_done} of {d_ext.n_tasks} tasks computed** (the farm takes the largest "
                "dots first; crosses in the figure mark the points not computed yet). Resume: "
                "`make paper EXTENDED=1 NP=<ranks>` (finished figures only re-plot).",
            ]
        L += ["", f"![extended maps]({figure_dir_name(0)}/extended_maps.png)"]
        s = label_spread(d_ext) if d_ext is not None else None
        if s:
            L += [
                "",
                f"Single realisation differs from the majority label in {s['single_differs']:.2f} of "
                f"{s['n_realisations']} realisations of the new points.",
            ]
    else:
        L += ["", "Not run yet."]
    os.makedirs(out_root, exist_ok=True)
    path = os.path.join(out_root, "README.md")
    with open(path + ".partial", "w", encoding="utf-8") as fh:
        fh.write("\n".join(L).rstrip("\n") + "\n")
    os.replace(path + ".partial", path)
    if results_md:
        update_results_md(results_md, cost_section(ds, out_root, repo_root))
    return path


__all__ = ["write_report", "label_spread", "cost_rows", "update_results_md", "CLAIMS"]
