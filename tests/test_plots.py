"""Figures: the expected files from a synthetic sweep, valid PNGs, skips without errors."""

import os
import struct

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from test_export import synthetic_results  # noqa: E402  (tests/ is on sys.path under pytest)

from hpc_nc.io import plots  # noqa: E402


def _png_size(path):
    """(width, height) from the IHDR chunk; asserts the PNG signature."""
    with open(path, "rb") as fh:
        head = fh.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


@pytest.mark.parametrize("per_state", [False, True])
def test_synthetic_sweep_gives_the_expected_figures(tmp_path, per_state):
    notes = []
    files = plots.make_plots(synthetic_results(per_state=per_state), str(tmp_path), log=notes.append)
    names = sorted(os.path.basename(f) for f in files)
    assert names == sorted(
        [
            # R in {1, 2} x H in {0, 1} at x_In = 1 (the only slice with two of each); no CuS
            # offset in the name of a Cu-free dot
            "map_RH_cu0_in1_vboIn1.1_STR.png",
            # 3 x 3 composition grid at R = H = 1 for each alloy model
            "map_composition_R1_H1_vboIn1.1_vboCu0.34_NSTR.png",
            "map_composition_R1_H1_vboIn1.1_vboCu0.34_STR.png",
            # the cuts of that (R, H) sweep: versus R at each H, versus H at each R
            "curves_R_cu0_in1_H0_vboIn1.1.png",
            "curves_R_cu0_in1_H1_vboIn1.1.png",
            "curves_H_cu0_in1_R1_vboIn1.1.png",
            "curves_H_cu0_in1_R2_vboIn1.1.png",
            # binary alloys: Zn(1-x)In(x)S and Zn(1-x)Cu(x)S, all models in one figure
            "curves_x_in_cu0_R1_H1_vboIn1.1.png",
            "curves_x_cu_in0_R1_H1_vboCu0.34.png",
            # VBO InS/ZnS in {0.6, 1.1, 1.6} for InS/ZnS R = H = 1
            "curves_vbo_ins_cu0_in1_R1_H1_STR.png",
            # 25 sweep points with a done task, 24 drawn, 12 per page
            "radial_densities_1.png",
            "radial_densities_2.png",
        ]
    )
    for f in files:
        assert os.path.dirname(f) == str(tmp_path)
        w, h = _png_size(f)
        assert w >= 300 and h >= 200 and os.path.getsize(f) > 10_000
    import matplotlib.image

    img = matplotlib.image.imread(files[0])
    assert img[..., :3].std() > 0.05  # not a blank canvas
    # what the sweep does not support is one informational line, not one line per kind
    skipped = [n for n in notes if "informational" in n]
    assert len(skipped) == 1 and "no curves versus VBO CuS/ZnS" in skipped[0]
    assert not any(n.startswith("plot: no ") for n in notes)


def test_single_point_draws_no_map_and_raises_nothing(tmp_path):
    res = synthetic_results("""
name: one
sweep: {compositions: [[0, 1]], geometries: [[1, 1]], model: [STR]}
""")
    res["status"][:] = 1
    notes = []
    files = plots.make_plots(res, str(tmp_path), log=notes.append)
    assert [os.path.basename(f) for f in files] == ["radial_densities.png"]
    assert len(notes) == 1 and "no (R, H) maps" in notes[0] and "no composition maps" in notes[0]
    assert notes[0].startswith("plot: note (informational, not an error)")
    # without envelopes nothing at all is drawn, and that is said too
    del res["envelope_e"]
    notes.clear()
    assert plots.make_plots(res, str(tmp_path / "b"), log=notes.append) == []
    assert any("no radial densities" in n and "envelope_e" in n for n in notes)


def test_nothing_done_draws_nothing(tmp_path):
    res = synthetic_results()
    res["status"][:] = 0
    notes = []
    assert plots.make_plots(res, str(tmp_path), log=notes.append) == []
    assert notes == ["plot: no task is done yet; nothing to draw"]


def test_map_grid_places_points_by_value():
    x = np.array([0.5, 0.0, 0.25, 0.0])
    y = np.array([1.0, 0.0, 1.0, 1.0])
    xs, ys, grid = plots.map_grid(x, y, np.array([1.0, 2.0, 3.0, 4.0]))
    assert list(xs) == [0.0, 0.25, 0.5] and list(ys) == [0.0, 1.0]
    expected = np.array([[2.0, np.nan, np.nan], [4.0, 3.0, 1.0]])
    np.testing.assert_array_equal(grid, expected)


def test_explicit_radial_tasks_and_figure_cap(tmp_path):
    notes = []
    files = plots.make_plots(synthetic_results(), str(tmp_path), radial_tasks=[0, 3], max_per_kind=1, log=notes.append)
    names = [os.path.basename(f) for f in files]
    assert "radial_densities.png" in names  # two panels, one page
    assert sum(n.startswith("map_composition_") for n in names) == 1  # two slices qualify, cap 1
    assert any("composition maps" in n and "max_per_kind" in n for n in notes)


def test_command_line_entry_point(tmp_path, capsys):
    import argparse

    from hpc_nc.io.ensemble import ResultsError

    parser = argparse.ArgumentParser()
    plots.add_arguments(parser)
    res = synthetic_results("""
name: two
sweep: {compositions: [[0, 1]], geometries: [[1, 1], [2, 1]], model: [STR]}
""")
    res["status"][:] = 1
    args = parser.parse_args(["unused.h5", "--out", str(tmp_path), "--tasks", "1"])
    args.results = res
    assert plots.run(args) == 0
    assert capsys.readouterr().out.split() == [
        str(tmp_path / "curves_R_cu0_in1_H1_vboIn1.1.png"),
        str(tmp_path / "radial_densities.png"),
    ]
    args.tasks = "5"
    with pytest.raises(ResultsError, match="no task 5"):
        plots.run(args)


def test_units_and_labels_are_those_of_a_paper():
    """Å, Å², 1/Å and the lattice constant a as the figures print them (the results file
    spells them in ASCII), nothing for fractions; no CuS offset on a Cu-free dot."""
    assert plots.display_unit("Angstrom") == "Å" and plots.display_unit("Angstrom^2") == "Å²"
    assert plots.display_unit("1/Angstrom") == "1/Å" and plots.display_unit("lattice constant") == "a"
    assert plots.display_unit("1 (fraction)") == "" and plots.display_unit("eV") == "eV"
    units = {"x_in": "1 (fraction)", "dipole_sq": "Angstrom^2", "core_radius_a": "lattice constant"}
    assert plots._label("x_in", units) == "x_In"
    assert plots._label("dipole_sq", units) == "optical activity |d|² (Å²)"
    assert plots._label("core_radius_a", units) == "core radius R (a)"
    fixed = {"x_cu": 0.0, "x_in": 1.0, "core_radius_a": 1.5, "vbo_ins": 1.1, "vbo_cus": 0.34, "model": "STR"}
    assert plots._tag(fixed) == "cu0_in1_R1.5_vboIn1.1_STR"
    assert plots._title(fixed, units) == ("x_Cu = 0, x_In = 1, R = 1.5 a, VBO InS/ZnS = 1.1, STR  (a = 5.409 Å)")


def test_composition_maps_stay_on_the_triangle_and_few_points_are_points(tmp_path):
    """Axes over [0, 1] only; three compositions are drawn as points (no surface), a grid
    of at least six is interpolated (filled contours); at most three panels per row."""
    res = synthetic_results("""
name: three
sweep: {compositions: [[0, 1], [0, 0.5], [1, 0]], geometries: [[1, 1]], model: [STR]}
""")
    res["status"][:] = 1
    captured = []
    orig = plots._save

    def keep(fig, out_dir, name, written):
        captured.append((name, fig))
        orig(fig, out_dir, name, written)

    plots._save = keep
    try:
        plots.make_plots(res, str(tmp_path), log=lambda s: None)
        plots.make_plots(synthetic_results(), str(tmp_path / "grid"), log=lambda s: None)
    finally:
        plots._save = orig
    maps = [(n, f) for n, f in captured if n.startswith("map_composition_")]
    assert len(maps) == 3
    few, grid = maps[0][1], maps[1][1]
    for fig in (few, grid):
        axes = [ax for ax in fig.axes if ax.get_xlabel() == "x_Cu"]
        assert len(axes) == 5
        for ax in axes:
            lo, hi = ax.get_xlim()
            assert -0.1 < lo < 0 and 1 < hi < 1.1
        w, h = fig.get_size_inches()
        assert w / h < 2.5  # two rows of at most three, not a 5-panel strip
    few_axes = [ax for ax in few.axes if ax.get_xlabel() == "x_Cu"]
    assert all(len(ax.collections) == 1 for ax in few_axes)  # one scatter of markers, no surface
    assert "points only" in few._suptitle.get_text()
    grid_axes = [ax for ax in grid.axes if ax.get_xlabel() == "x_Cu"]
    assert any(len(ax.collections) > 3 for ax in grid_axes)  # filled contour levels under the markers


def test_radial_legend_explains_the_radii(tmp_path):
    captured = []
    orig = plots._save
    plots._save = lambda fig, out_dir, name, written: (captured.append(fig), orig(fig, out_dir, name, written))
    try:
        plots.make_plots(synthetic_results(), str(tmp_path), radial_tasks=[0, 3], log=lambda s: None)
    finally:
        plots._save = orig
    fig = captured[-1]
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["E1", "H1", "core radius R", "dot radius R + H"]
    assert "dashed line: core radius R, dotted line: dot radius R + H" in fig._suptitle.get_text()


def test_output_folder_that_is_a_file_is_a_clear_error(tmp_path):
    from hpc_nc.errors import HpcNcError

    (tmp_path / "f").write_text("x")
    with pytest.raises(HpcNcError, match="not a folder"):
        plots.make_plots(synthetic_results(), str(tmp_path / "f"))
