"""Figures: the expected files from a synthetic sweep, valid PNGs, skips without errors."""

import os
import struct

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from hpc_nc.io import plots  # noqa: E402
from test_export import synthetic_results  # noqa: E402  (tests/ is on sys.path under pytest)


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
    assert names == sorted([
        # R in {1, 2} x H in {0, 1} at x_In = 1 (the only slice with two of each)
        "map_RH_cu0_in1_vboIn1.1_vboCu0.34_STR.png",
        # 3 x 3 composition grid at R = H = 1 for each alloy model
        "map_composition_R1_H1_vboIn1.1_vboCu0.34_NSTR.png",
        "map_composition_R1_H1_vboIn1.1_vboCu0.34_STR.png",
        # binary alloys: Zn(1-x)In(x)S and Zn(1-x)Cu(x)S, all models in one figure
        "curves_x_in_cu0_R1_H1_vboIn1.1_vboCu0.34.png",
        "curves_x_cu_in0_R1_H1_vboIn1.1_vboCu0.34.png",
        # VBO InS/ZnS in {0.6, 1.1, 1.6} for InS/ZnS R = H = 1
        "curves_vbo_ins_cu0_in1_R1_H1_vboCu0.34_STR.png",
        # 25 sweep points with a done task, 24 drawn, 12 per page
        "radial_densities_1.png", "radial_densities_2.png",
    ])
    for f in files:
        assert os.path.dirname(f) == str(tmp_path)
        w, h = _png_size(f)
        assert w >= 300 and h >= 200 and os.path.getsize(f) > 10_000
    import matplotlib.image

    img = matplotlib.image.imread(files[0])
    assert img[..., :3].std() > 0.05  # not a blank canvas
    assert any("no curves versus vbo_cus" in n for n in notes)


def test_single_point_draws_no_map_and_raises_nothing(tmp_path):
    res = synthetic_results("""
name: one
sweep: {compositions: [[0, 1]], geometries: [[1, 1]], model: [STR]}
""")
    res["status"][:] = 1
    notes = []
    files = plots.make_plots(res, str(tmp_path), log=notes.append)
    assert [os.path.basename(f) for f in files] == ["radial_densities.png"]
    assert any("no (R, H) maps" in n for n in notes) and any("no composition maps" in n for n in notes)
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
    files = plots.make_plots(synthetic_results(), str(tmp_path), radial_tasks=[0, 3], max_per_kind=1,
                             log=notes.append)
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
    assert capsys.readouterr().out.split() == [str(tmp_path / "radial_densities.png")]
    args.tasks = "5"
    with pytest.raises(ResultsError, match="no task 5"):
        plots.run(args)
