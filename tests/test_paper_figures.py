"""The paper study's tooling on synthetic results (no study runs here): job files against
the paper's sizes, every paper figure's plotting, the claims, the report and the cost model."""

import json
import os
import re
import struct
import subprocess
import sys
import types

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from _paper_synthetic import synthetic_paper_results  # noqa: E402  (tests/ is on sys.path)

from hpc_nc.io.jobs import load_job  # noqa: E402
from hpc_nc.paper import EXTENDED, FIGURES, PaperFigure, claims, cost, driver, report  # noqa: E402  # noqa: E402
from hpc_nc.paper.data import FigureData, export_figure_data, load_figure_data  # noqa: E402
from hpc_nc.paper.figures import FIGURE_FUNCTIONS, extended_maps  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _job(n):
    return os.path.join(REPO, FIGURES[n].job)


def _png_size(path):
    with open(path, "rb") as fh:
        head = fh.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


# -- job files ------------------------------------------------------------------------------------
def _points(job):
    out = {}
    for t in job.tasks:
        out.setdefault(
            (t.x_cu, t.x_in, t.core_radius_a, t.shell_thickness_a, t.vbo_ins, t.vbo_cus, t.model), []
        ).append(t)
    return out


@pytest.mark.parametrize("n", sorted(FIGURES) + ["ext"])
def test_job_file_task_count_comment_and_realisations(n):
    path = os.path.join(REPO, EXTENDED.job) if n == "ext" else _job(n)
    job = load_job(path)
    text = open(path, encoding="utf-8").read()
    m = re.search(r"Tasks: (\d+)", text)
    assert m, f"{path} has no 'Tasks: N' comment"
    assert int(m.group(1)) == len(job.tasks)
    for (x_cu, x_in, r, h, _, _, model), tasks in _points(job).items():
        alloyed = model != "VCA" and not (x_cu in (0.0, 1.0) and x_in in (0.0, 1.0))
        assert len(tasks) == (1 if not alloyed else max(3, len(tasks))), (path, x_cu, x_in, r, h, model)


def test_job_files_have_the_paper_sizes():
    geo = {n: {(t.core_radius_a, t.shell_thickness_a) for t in load_job(_job(n)).tasks} for n in FIGURES}
    assert geo[2] == geo[7] == {(4.0, 0.0)}  # 4.3 nm diameter core-only
    assert geo[3] == geo[8] == {(3.0, 3.0)}  # R = H = 1.6 nm
    assert geo[4] == {(2.0, 4.0), (3.0, 3.0), (4.0, 2.0), (5.0, 1.0)}  # R + H = 3.3 nm
    assert geo[5] == geo[9] == {(1.0, 3.0), (3.0, 3.0), (5.0, 3.0)}
    grid = {(float(r), float(h)) for r in range(1, 6) for h in range(1, 5)}
    assert geo[6] == geo[10] == grid and len(grid) == 20  # 20 configurations per system
    assert geo[4] | geo[5] <= geo[6] and geo[9] <= geo[10]  # the white diamonds lie on the maps
    assert geo[11] == {(4.0, 2.0)}
    assert geo[12] == {(1.0, 3.0), (3.0, 4.0), (4.0, 3.0)}
    assert {r + h for r, h in geo[12] if r > 1} == {7.0}  # R + H = 3.8 nm
    comps = {n: {(t.x_cu, t.x_in) for t in load_job(_job(n)).tasks} for n in FIGURES}
    assert comps[6] == {(0.0, 1.0), (0.0, 0.5)} and comps[10] == {(1.0, 0.0), (0.5, 0.0)}
    assert comps[5] == {(0.0, 0.5)} and comps[9] == {(0.5, 0.0)}
    assert max(c for c, _ in comps[11]) == max(i for _, i in comps[11]) == 0.5
    small = [t for t in load_job(_job(12)).tasks if t.core_radius_a == 1.0 and 0 < t.x_in < 1]
    assert len(small) == 10 * len({(t.x_cu, t.x_in) for t in small})  # 10 realisations on the 1 a core
    # Figs. 4, 5 and 9 are the maps' diamonds: the very same tasks (geometry, alloy seed, VBOs)
    keys = {n: {t.key for t in load_job(_job(n)).tasks} for n in FIGURES}
    assert keys[4] <= keys[6] and keys[5] <= keys[6] and keys[9] <= keys[10]


# -- figures ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def synthetic_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("repro")
    for n, fig in FIGURES.items():
        export_figure_data(synthetic_paper_results(_job(n), seed=n), str(root / f"fig{n}"), radial=fig.radial)
    export_figure_data(synthetic_paper_results(os.path.join(REPO, EXTENDED.job)), str(root / "fig6_10_extended"))
    return root


def _axes(fig):
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]


EXPECTED_PANELS = {2: 2, 3: 8, 4: 4, 5: 3, 6: 4, 7: 2, 8: 6, 9: 3, 10: 4, 11: 3, 12: 6}


@pytest.mark.parametrize("n", sorted(FIGURES))
def test_paper_figure_from_synthetic_results(synthetic_dirs, n):
    data = load_figure_data(str(synthetic_dirs / f"fig{n}"))
    assert data.n_tasks == len(load_job(_job(n)).tasks) == data.n_done
    png = str(synthetic_dirs / f"fig{n}" / f"fig{n}.png")
    fig = FIGURE_FUNCTIONS[n](data, png)
    w, h = _png_size(png)
    assert w >= 600 and h >= 300
    import matplotlib.image

    assert matplotlib.image.imread(png)[..., :3].std() > 0.05  # not a blank canvas
    axes = [ax for ax in _axes(fig) if ax.get_xlabel()]
    assert len(axes) == EXPECTED_PANELS[n]
    for ax in axes:
        assert ax.texts == [] or "not computed" not in " ".join(t.get_text() for t in ax.texts)
        assert "(" in ax.get_ylabel() or n in (6, 10, 11, 12)  # units on every value axis
    xl = {ax.get_xlabel() for ax in axes}
    if n in (2, 7):
        assert xl == {("In" if n == 2 else "Cu") + " content (%)"}
        assert {ax.get_ylabel() for ax in axes} == {"E1 (eV)", "H1 (eV)"}
        assert all(ax.get_xlim()[0] <= 0 and ax.get_xlim()[1] >= 100 for ax in axes)
        assert all(len(ax.lines) >= 3 for ax in axes)  # VCA, NSTR, STR
    elif n in (3, 4, 5, 8, 9):
        assert xl == {"r (nm)"}
        for ax in axes:
            assert len(ax.patches) >= 2  # core and shell shading
            core, shell = ax.patches[0], ax.patches[1]
            assert core.get_facecolor() != shell.get_facecolor()
            assert {line.get_color() for line in ax.lines} >= {"tab:red", "tab:blue"}
    elif n in (6, 10):
        assert xl == {"core radius R (nm)"} and {ax.get_ylabel() for ax in axes} == {"shell thickness H (nm)"}
        for ax in axes:  # R = 0.54-2.7 nm, H = 0.54-2.16 nm inside the axes
            assert ax.get_xlim()[0] < 0.55 and ax.get_xlim()[1] > 2.7
            assert ax.get_ylim()[0] < 0.55 and ax.get_ylim()[1] > 2.16
        colorbars = [a for a in fig.axes if a.get_label() == "<colorbar>"]
        assert len(colorbars) == 2  # one shared scale per row
    else:
        assert xl == {"Cu content (%)"} and {ax.get_ylabel() for ax in axes} == {"In content (%)"}
        assert all(ax.get_xlim() == (-2.5, 52.5) for ax in axes)
        assert len([a for a in fig.axes if a.get_label() == "<colorbar>"]) == EXPECTED_PANELS[n]


def test_figures_draw_an_unfinished_study(tmp_path):
    """Pending tasks: the figures still draw (blank cells / 'not computed'), claims say 'not run'."""
    for n in (6, 12, 3):
        d = tmp_path / f"fig{n}"
        export_figure_data(synthetic_paper_results(_job(n), pending_every=2), str(d), radial=FIGURES[n].radial)
        data = load_figure_data(str(d))
        assert 0 < data.n_done < data.n_tasks
        fig = FIGURE_FUNCTIONS[n](data, str(d / "f.png"))
        assert _png_size(str(d / "f.png"))[0] > 300
        if n == 12:  # a point with some realisations done says 'k/n', not '±', and the legend says why
            texts = [t.get_text() for ax in fig.axes for t in ax.texts]
            assert any(re.fullmatch(r"\d+/\d+", t) for t in texts)
            assert "'k/n'" in fig._supxlabel.get_text()
    out = dict(claims.evaluate_all({6: load_figure_data(str(tmp_path / "fig6"))}))
    by_id = {c.id: o for c, o in out.items()}
    assert by_id["11e"].verdict == claims.NOT_RUN  # Fig. 11 absent
    assert by_id["6c"].verdict == claims.NOT_RUN  # the map has holes


def test_extended_maps(synthetic_dirs, tmp_path):
    parts = [load_figure_data(str(synthetic_dirs / d)) for d in ("fig6", "fig10", "fig6_10_extended")]
    fig = extended_maps(parts, str(tmp_path / "ext.png"))
    axes = [ax for ax in _axes(fig) if ax.get_xlabel()]
    assert len(axes) == 8
    assert all(ax.get_xlim()[1] > 6 * 0.5409 for ax in axes)  # R = 6 a included


# -- data export through a real results file ------------------------------------------------------
def test_export_from_a_results_file_written_by_the_store(tmp_path):
    pytest.importorskip("h5py")
    from mpi4py import MPI

    from hpc_nc.io import store

    res = synthetic_paper_results(_job(4))
    tasks = [types.SimpleNamespace(**t.as_dict()) for t in load_job(_job(4)).tasks]
    scalar = (
        "E1",
        "H1",
        "gap",
        "dipole_sq",
        "core_weight_E1",
        "core_weight_H1",
        "r_max_e",
        "r_max_h",
        "separation",
        "wall_seconds",
    )
    fields = [store.FieldSpec(k, (), "f8", "1", k) for k in scalar]
    fields += [
        store.FieldSpec("confinement", (), "S16", "1", "class"),
        store.FieldSpec("radial_grid", (40,), "f8", "Angstrom", "grid"),
    ]
    fields += [
        store.FieldSpec(k, (n, 40), "f8", "1/Angstrom", k)
        for k, n in (("envelope_e", 4), ("envelope_h", 8), ("radial_density_e", 4), ("radial_density_h", 8))
    ]
    path = tmp_path / "r.h5"
    names = scalar + ("confinement", "radial_grid", "envelope_e", "envelope_h", "radial_density_e", "radial_density_h")
    with store.ResultsStore.create_or_open(MPI.COMM_SELF, path, tasks, fields) as st:
        for i in range(3):  # task 3 stays pending
            st.write_task(i, {k: res[k][i] for k in names})
    written = export_figure_data(str(path), str(tmp_path / "fig4"), radial=True)
    assert sorted(os.path.basename(p) for p in written) == ["costs.csv", "ensemble.csv", "radial.csv", "tasks.csv"]
    data = load_figure_data(str(tmp_path / "fig4"))
    assert data.n_tasks == 4 and data.n_done == 3
    r = data.radial_of(1)
    assert r["r_A"] == pytest.approx(res["radial_grid"][1], rel=1e-7)
    assert r["env_e"] == pytest.approx(res["envelope_e"][1, 0], rel=1e-7)  # first Kramers pair
    assert data.radial_of(3)["r_A"].size == 0  # pending: not exported
    assert data.costs["wall_seconds"][0] == pytest.approx(res["wall_seconds"][0], rel=1e-7)
    assert np.isnan(data.costs["wall_seconds"][3])


# -- claims ------------------------------------------------------------------------------------------
def test_every_claim_evaluates_on_complete_synthetic_data(synthetic_dirs):
    ds = report.load_all(str(synthetic_dirs))
    out = claims.evaluate_all(ds)
    assert len(out) == len(claims.CLAIMS) >= 50
    assert len({c.id for c, _ in out}) == len(out)
    assert {c.fig for c, _ in out} == set(FIGURES)  # every figure has statements
    bad = [(c.id, o.detail) for c, o in out if o.verdict == claims.NOT_RUN]
    assert bad == []
    assert {o.verdict for _, o in out} <= {claims.REPRODUCED, claims.PARTLY, claims.NOT}


def _fig11(x00, x55):
    """Hand-made Fig. 11 ensemble: the four corners of the composition square."""
    ens = {
        k: np.array(v, dtype=float)
        for k, v in dict(
            x_cu=[0, 0.5, 0, 0.5],
            x_in=[0, 0, 0.5, 0.5],
            core_radius_a=[4] * 4,
            shell_thickness_a=[2] * 4,
            vbo_ins=[1.1] * 4,
            vbo_cus=[0.34] * 4,
            E1_mean=[3.8, 3.3, 3.6, 3.2],
            E1_sem=[np.nan, 0.01, 0.01, 0.01],
            H1_mean=[0.0, 0.1, 0.9, 0.95],
            H1_sem=[np.nan] * 4,
            exciton_energy_mean=[x00, 2.9, 2.5, x55],
            exciton_energy_sem=[np.nan, 0.02, 0.02, 0.03],
        ).items()
    }
    ens["model"] = np.array(["STR"] * 4)
    tasks = {"task": np.arange(4.0), "status": np.array(["done"] * 4)}
    return {11: FigureData(tasks=tasks, ensemble=ens)}


def test_claims_wait_for_every_realisation_of_a_point():
    """A point with some realisations still running is not judged (its mean would rest on
    part of the ensemble): the claim is 'not run' until all are done."""
    by = {c.id: c for c in claims.CLAIMS}
    ds = _fig11(3.72, 2.1)
    ens = ds[11].ensemble
    ens["n_tasks"] = np.array([1.0, 3, 3, 3])
    ens["n_realizations"] = np.array([1.0, 3, 3, 3])
    assert by["11f"].evaluate(ds).verdict == claims.REPRODUCED
    ens["n_realizations"] = np.array([1.0, 3, 3, 2])  # the 50/50 corner: one realisation pending
    with pytest.raises(claims.NotRun, match="realisations still running"):
        by["11f"].evaluate(ds)
    out = {c.id: o for c, o in claims.evaluate_all(ds)}
    assert out["11f"].verdict == claims.NOT_RUN and out["11e"].verdict == claims.REPRODUCED


def test_claim_verdicts_follow_the_numbers():
    by = {c.id: c for c in claims.CLAIMS}
    assert by["11e"].evaluate(_fig11(3.72, 2.1)).verdict == claims.REPRODUCED
    assert by["11e"].evaluate(_fig11(3.9, 2.1)).verdict == claims.PARTLY
    assert by["11e"].evaluate(_fig11(4.2, 2.1)).verdict == claims.NOT
    o = by["11f"].evaluate(_fig11(3.7, 2.3))
    assert o.verdict == claims.PARTLY and o.number == pytest.approx(2.3) and o.error == pytest.approx(0.03)
    # Cu lowers E1 by 0.5, In by 0.2: ratio 2.5, ordering right but not "broadly similar"
    o = by["11b"].evaluate(_fig11(3.7, 2.1))
    assert o.number == pytest.approx(2.5) and o.verdict == claims.PARTLY
    o = by["11c"].evaluate(_fig11(3.7, 2.1))  # H1: In +0.9, Cu +0.1
    assert o.number == pytest.approx(9.0) and o.verdict == claims.REPRODUCED
    # the exciton change along In (-1.2 eV) is mostly H1's, not E1's (-0.2): "follows E1" fails there
    assert by["11d"].evaluate(_fig11(3.7, 2.1)).verdict == claims.PARTLY
    # a results file without the field: "not run", saying what is missing
    ds = _fig11(3.7, 2.1)
    del ds[11].ensemble["exciton_energy_mean"]
    out = {c.id: o for c, o in claims.evaluate_all(ds)}
    assert out["11e"].verdict == claims.NOT_RUN and "exciton_energy" in out["11e"].detail
    assert out["11c"].verdict == claims.REPRODUCED


def test_spearman_and_label_spread():
    assert claims.spearman([1, 2, 3, 4], [10, 20, 25, 40]) == pytest.approx(1.0)
    assert claims.spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert np.isnan(claims.spearman([1, 2, 3], [1, 1, 1]))
    keys = dict(x_in=0.5, core_radius_a=1.0, shell_thickness_a=3.0, vbo_ins=1.1, vbo_cus=0.34)
    tasks = {
        "task": np.arange(6.0),
        "status": np.array(["done"] * 5 + ["failed"]),
        "x_cu": np.array([0, 0, 0, 0.1, 0.1, 0.1]),
        "model": np.array(["STR"] * 6),
        "confinement": np.array(["type-I", "type-I", "type-II", "mixed", "mixed", ""]),
        **{k: np.full(6, v) for k, v in keys.items()},
    }
    ens = {
        "x_cu": np.array([0.0, 0.1]),
        "model": np.array(["STR"] * 2),
        "confinement": np.array(["type-I", "mixed"]),
        **{k: np.full(2, v) for k, v in keys.items()},
    }
    s = report.label_spread(FigureData(tasks=tasks, ensemble=ens))
    # point 1: 3 realisations, one disagrees; point 2: 2 done (the failed one does not count), unanimous
    assert s == {"n_points": 2, "n_realisations": 5, "single_differs": pytest.approx(1 / 5), "points_split": 0.5}


# -- report --------------------------------------------------------------------------------------------
def test_report_on_synthetic_data(synthetic_dirs, tmp_path):
    results_md = tmp_path / "RESULTS.md"
    results_md.write_text("# Benchmark results\n\nearlier text\n")
    cost.record_session(
        str(synthetic_dirs / "fig4"),
        {"wall_seconds": 100.0, "cpu_seconds": 190.0, "peak_rss_mib": 812.0, "np": 2, "returncode": 0},
    )
    for _ in range(2):  # idempotent: the RESULTS.md block is replaced, not appended
        path = report.write_report(str(synthetic_dirs), REPO, results_md=str(results_md), now="TEST")
    text = open(path, encoding="utf-8").read()
    for c in claims.CLAIMS:
        assert re.search(rf"^\| {re.escape(c.id)} \| “", text, re.M), f"no row for claim {c.id}"
    assert "not run yet (of" in text and " 0 not run yet" in text
    for n in FIGURES:
        assert f"### Fig. {n}:" in text
    cost_part = text.split("## Cost record", 1)[1].split("## Beyond the paper", 1)[0]
    rows = {line.split("|")[1].strip(): line for line in cost_part.splitlines() if line.startswith("| ")}
    assert "| 0.0528 |" in rows["4"] and "| 812 |" in rows["4"]  # 190 CPU s = 0.0528 h, peak per rank
    assert "**total 2-12**" in rows and "1025" in rows["**total 2-12**"]
    assert "One realisation versus the ensemble" in text and re.search(r"^\| 12 \| 105 \| 560 \|", text, re.M)
    # Fig. 4's pure InS dots are Fig. 6 map points: the synthetic values agree exactly
    assert re.search(r"^\| 4 / 6 \| 4 \| 0\.00e\+00 \| 0\.00e\+00 \|", text, re.M)
    assert re.search(r"^\| 9 / 10 \| 9 \|", text, re.M)
    md = results_md.read_text()
    assert md.count(report.COST_BEGIN) == 1 and "earlier text" in md and "64-core node wall min" in md


def test_report_marks_cpu_of_an_interrupted_session_as_a_lower_bound(synthetic_dirs, tmp_path):
    """A session stopped by a signal has no CPU time: the row and the total say '≥' and why."""
    import shutil

    root = tmp_path / "repro"
    shutil.copytree(synthetic_dirs, root)
    for f in root.glob("*/cost.json"):
        f.unlink()  # sessions of other tests (the fixture is shared)
    for cpu in (190.0, float("nan")):
        cost.record_session(
            str(root / "fig4"),
            {"wall_seconds": 100.0, "cpu_seconds": cpu, "peak_rss_mib": 812.0, "np": 2, "returncode": 0},
        )
    summ = cost.summarize_record(cost.read_record(str(root / "fig4")))
    assert summ["cpu_seconds"] == 190.0 and summ["cpu_unmeasured"] == 1 and summ["wall_seconds"] == 200.0
    path = report.write_report(str(root), REPO, results_md=str(tmp_path / "R.md"), now="TEST")
    cost_part = open(path, encoding="utf-8").read().split("## Cost record", 1)[1].split("## Beyond the paper", 1)[0]
    rows = {line.split("|")[1].strip(): line for line in cost_part.splitlines() if line.startswith("| ")}
    assert "| ≥ 0.0528 |" in rows["4"] and "| ≥ 0.0528 |" in rows["**total 2-12**"]
    assert "'≥': a lower bound" in cost_part and "(Fig. 4)" in cost_part


# -- cost ----------------------------------------------------------------------------------------------
def test_cost_model_fit_and_farm_makespan():
    n = np.array([281, 915, 2149, 11543, 24447.0])
    m = cost.fit_cost_model(n, 12.0 * (n / cost.N7) ** 1.3)
    assert m.solve_s == pytest.approx(12.0) and m.solve_exp == pytest.approx(1.3)
    assert float(m.task_seconds(cost.N7)) == pytest.approx(12.0)
    # 4 tasks of 7193 atoms in 4 geometries: 4 tasks + 4 reference solves, no separate relax term
    measured = cost.predict_job(load_job(_job(4)), model=m)
    assert measured["cpu_seconds"] == pytest.approx(8 * 12.0 * (7193 / cost.N7) ** 1.3)
    m1 = cost.fit_cost_model([2149, 2149], [3.0, 5.0])  # one size: default exponent, mean in log
    assert m1.solve_exp == cost.DEFAULT_EXPONENT
    assert float(m1.task_seconds(2149)) == pytest.approx(np.sqrt(15.0))
    with pytest.raises(ValueError):
        cost.fit_cost_model([100], [np.nan])
    assert cost.makespan([10.0] * 130, 64) == pytest.approx(30.0)  # three rounds
    assert cost.makespan([100.0] + [1.0] * 63, 64) == pytest.approx(100.0)
    # a per-process extra (the reference solve of a geometry) is paid once per rank and key
    assert cost.makespan([1.0] * 4, 2, ["A"] * 4, [10.0] * 4) == pytest.approx(12.0)
    assert cost.makespan([1.0] * 4, 2, ["A", "B", "A", "B"], [10.0] * 4) == pytest.approx(12.0)
    assert cost.makespan([1.0] * 4, 1, ["A", "B", None, "B"], [10.0] * 4) == pytest.approx(24.0)
    keys = cost.reference_keys(load_job(_job(12)))
    assert sum(k is None for k in keys) == 3  # the pure-ZnS core of each dot is its own reference
    assert all(k is None for k in cost.reference_keys(load_job(_job(2))))  # core-only: homogeneous
    t = np.random.default_rng(1).uniform(1, 50, 500)
    w = cost.makespan(t, 64)
    assert max(t.sum() / 64, t.max()) <= w <= t.sum() / 64 + t.max()
    p = cost.predict_job(load_job(_job(6)))
    assert p["n_tasks"] == 80 and p["cpu_seconds"] > p["relax_seconds"] > 0
    assert p["reference_seconds_min"] > 0  # 20 geometries, one reference solve each at least
    from hpc_nc.pipeline.cost import predict_task

    assert p["max_task_seconds"] == pytest.approx(predict_task(24447, 12, "davidson", 1).cpu_s)


def test_run_measured_counts_the_ranks_of_mpirun():
    import shutil

    from _mpi_env import fresh_mpi_env

    if shutil.which("mpirun") is None:
        pytest.skip("no mpirun")
    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass"
    s = cost.run_measured(["mpirun", "-n", "2", sys.executable, "-c", busy], env=fresh_mpi_env())
    assert s["returncode"] == 0 and s["cpu_seconds"] >= 2 * 0.5 * 0.95  # both ranks' CPU time


def test_run_measured_records_child_cpu_time(tmp_path):
    s = cost.run_measured(
        [sys.executable, "-c", "import time\nt=time.process_time()\nwhile time.process_time()-t < 0.3: pass"]
    )
    assert s["returncode"] == 0 and s["cpu_seconds"] >= 0.25 and s["wall_seconds"] >= s["cpu_seconds"] * 0.5
    # peaks are per call: a small command after a large one reports its own peak
    big = cost.run_measured([sys.executable, "-c", "b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096])"])
    small = cost.run_measured([sys.executable, "-c", "pass"])
    assert big["peak_rss_mib"] > 300 and small["peak_rss_mib"] < 100
    assert cost.run_measured([sys.executable, "-c", "raise SystemExit(3)"])["returncode"] == 3
    rec = cost.record_session(str(tmp_path), dict(s, np=1))
    rec = cost.record_session(str(tmp_path), dict(s, np=2))
    summ = cost.summarize_record(json.load(open(tmp_path / "cost.json")))
    assert summ["sessions"] == 2 and summ["cpu_seconds"] == pytest.approx(2 * s["cpu_seconds"])
    assert summ["ranks"] == [1, 2] and len(rec["sessions"]) == 2


# -- driver --------------------------------------------------------------------------------------------
def test_finished_checkout_only_replots(tmp_path, monkeypatch):
    """Complete CSVs with the job's hash and no results file: nothing is computed."""
    monkeypatch.chdir(tmp_path)  # the job's results/paper/fig4.h5 does not exist here
    fig = PaperFigure(4, _job(4), "test", radial=True)
    export_figure_data(synthetic_paper_results(fig.job), str(tmp_path / "out" / "fig4"), radial=True)

    def no_run(cmd, env=None):
        raise AssertionError(f"a finished figure must not run {cmd}")

    json.dump({"job_sha256": load_job(fig.job).job_hash}, open(tmp_path / "out" / "fig4" / "meta.json", "w"))
    monkeypatch.setattr(cost, "run_measured", no_run)
    info = driver.process_figure(fig, np_ranks=1, out_root=str(tmp_path / "out"), plot_only=False, log=lambda m: None)
    assert info["ran"] is False and os.path.exists(info["png"])
    # another job text (hash) or a pending task means "not finished": the driver would compute
    json.dump({"job_sha256": "other"}, open(tmp_path / "out" / "fig4" / "meta.json", "w"))
    with pytest.raises(AssertionError, match="must not run"):
        driver.process_figure(fig, np_ranks=1, out_root=str(tmp_path / "out"), plot_only=False, log=lambda m: None)
    info = driver.process_figure(fig, np_ranks=1, out_root=str(tmp_path / "out"), plot_only=True, log=lambda m: None)
    assert info["ran"] is False


def test_report_says_how_far_the_extended_maps_are(synthetic_dirs, tmp_path):
    """Extended maps with pending tasks: the report gives the count and the resume command."""
    import shutil

    root = tmp_path / "repro"
    shutil.copytree(synthetic_dirs, root)
    ext = root / "fig6_10_extended"
    shutil.rmtree(ext)
    export_figure_data(synthetic_paper_results(os.path.join(REPO, EXTENDED.job), pending_every=2), str(ext))
    parts = [load_figure_data(str(root / d)) for d in ("fig6", "fig10", "fig6_10_extended")]
    extended_maps(parts, str(ext / "extended_maps.png"))
    text = open(report.write_report(str(root), REPO, results_md=None, now="TEST"), encoding="utf-8").read()
    n_done, n_tasks = parts[2].n_done, parts[2].n_tasks
    assert 0 < n_done < n_tasks
    assert f"In progress: {n_done} of {n_tasks} tasks computed" in text and "make paper EXTENDED=1" in text


def test_a_comment_edit_does_not_make_a_finished_figure_run_again(tmp_path, monkeypatch):
    """meta.json records the job's content hash: a job file whose comments changed since the
    run (as Figs. 3 and 8's did) is still finished; a changed value is not."""
    from hpc_nc.io.jobs import content_hash

    monkeypatch.chdir(tmp_path)
    text = open(_job(4), encoding="utf-8").read()
    edited = tmp_path / "fig4.yaml"
    edited.write_text("# a new comment line\n" + text.replace("\n", "  # trailing comment\n", 1), encoding="utf-8")
    fig = PaperFigure(4, str(edited), "test", radial=True)
    out = tmp_path / "out" / "fig4"
    export_figure_data(synthetic_paper_results(_job(4)), str(out), radial=True)
    assert load_job(str(edited)).job_hash != load_job(_job(4)).job_hash
    json.dump(
        {"job_sha256": load_job(_job(4)).job_hash, "job_content_sha256": content_hash(text)},
        open(out / "meta.json", "w"),
    )

    def no_run(cmd, env=None):
        raise AssertionError(f"a finished figure must not run {cmd}")

    monkeypatch.setattr(cost, "run_measured", no_run)
    info = driver.process_figure(fig, np_ranks=1, out_root=str(tmp_path / "out"), plot_only=False, log=lambda m: None)
    assert info["ran"] is False
    assert content_hash(text.replace("holes: 8", "holes: 6")) != content_hash(text)  # values count


def test_command_line_errors_are_one_line():
    for args in (["run", "--fig", "13"], ["run", "--fig", "x"], ["predict", "--np", "0"]):
        p = subprocess.run([sys.executable, "-m", "hpc_nc.paper", *args], capture_output=True, text=True, cwd=REPO)
        assert p.returncode == 2, args
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("hpc-nc: error: "), p.stderr


def test_predict_command(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    assert driver.main(["predict", "--fig", "4"]) == 0
    out = capsys.readouterr().out
    assert "jobs/paper/fig4.yaml" in out and "fig6_10_extended" in out


def test_driver_runs_a_tiny_real_job_then_only_replots(tmp_path, monkeypatch):
    """End to end on a 281-atom InS/ZnS dot (two VBOs, STR): hpc-nc run, the measured session,
    CSVs, the Fig. 3 layout; a second pass finds every task done and computes nothing."""
    monkeypatch.chdir(tmp_path)
    job = tmp_path / "tiny.yaml"
    job.write_text(
        "name: tiny\nsweep: {x_cu: [0.0], x_in: [1.0], core_radius_a: [1.0], shell_thickness_a: [1.0],\n"
        "        vbo_ins: [0.6, 1.1], model: [STR]}\nanalysis: {n_radial_bins: 60}\n"
    )
    fig = PaperFigure(3, str(job), "tiny", radial=True)
    logs = []
    info = driver.process_figure(fig, np_ranks=1, out_root="out", plot_only=False, log=logs.append)
    assert info["ran"] and info["returncode"] == 0, logs
    rec = cost.read_record("out/fig3")
    (s,) = rec["sessions"]
    assert s["tasks_done_before"] == 0 and s["tasks_done_after"] == 2 and s["np"] == 1
    assert s["cpu_seconds"] > 0.5 and s["peak_rss_mib"] > 50
    data = load_figure_data("out/fig3")
    assert data.n_done == 2 and set(data.radial["task"]) == {0.0, 1.0}
    assert np.all(data.costs["wall_seconds"] > 0)
    env = data.radial_of(0)
    dr = env["r_A"][1] - env["r_A"][0]
    assert float(np.sum(env["env_e"]) * dr) == pytest.approx(1.0, abs=1e-6)  # normalised envelopes
    assert float(np.nansum(env["rho_h"]) * dr) == pytest.approx(1.0, abs=1e-6)
    plt_fig = FIGURE_FUNCTIONS[3](data, "out/f.png")
    assert len([ax for ax in _axes(plt_fig) if ax.get_xlabel()]) == 2
    assert "R = 0.5 nm (1a)" in plt_fig._suptitle.get_text()

    def no_run(cmd, env=None):
        raise AssertionError("finished: nothing to run")

    monkeypatch.setattr(cost, "run_measured", no_run)
    info = driver.process_figure(fig, np_ranks=1, out_root="out", plot_only=False, log=logs.append)
    assert info["ran"] is False


def test_commit_each_figure_and_cheapest_first(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q"], check=True)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "t")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "t@t")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "t")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "t@t")
    (tmp_path / "other.txt").write_text("not to be committed")
    os.makedirs("out/fig4")
    (tmp_path / "out" / "fig4" / "tasks.csv").write_text("task\n0\n")
    logs = []
    driver._commit("out/fig4", "fig4", log=logs.append)
    driver._commit("out/fig4", "fig4", log=logs.append)  # nothing new: no second commit
    log = subprocess.run(git + ["log", "--name-only", "--format=%s"], capture_output=True, text=True).stdout
    assert logs == ["paper: fig4: committed"]
    assert log.split() == ["docs/reproduction/fig4:", "results", "of", "make", "paper", "out/fig4/tasks.csv"]
    monkeypatch.chdir(REPO)
    order = [f.number for f in driver._cheapest_first([FIGURES[12], FIGURES[6], FIGURES[4]])]
    assert order == [4, 6, 12]
