"""Ensemble statistics (hand-computed), CSV export and extended-XYZ export (parsed back)."""

import csv
import math
import shlex
import types

import numpy as np
import pytest

from hpc_nc.io import ensemble, export
from hpc_nc.io.jobs import parse_job
from hpc_nc.io.schema import species_codes

# -- synthetic results (shared with test_plots.py) -----------------------------------------
SYNTH_JOB = """
name: synth
sweep:
  x_cu: [0.0, 0.25, 0.5]
  x_in: [0.0, 0.25, 0.5]
  geometries: [[1.0, 1.0]]
  vbo_ins: [1.1]
  model: [NSTR, STR]
  realizations: 2
  seed: 7
  points:
    - {x_cu: 0, x_in: 1, core_radius_a: 1, shell_thickness_a: 0, model: STR}
    - {x_cu: 0, x_in: 1, core_radius_a: 1, shell_thickness_a: 1, model: STR}
    - {x_cu: 0, x_in: 1, core_radius_a: 2, shell_thickness_a: 0, model: STR}
    - {x_cu: 0, x_in: 1, core_radius_a: 2, shell_thickness_a: 1, model: STR}
    - {x_cu: 0, x_in: 1, core_radius_a: 1, shell_thickness_a: 1, model: STR, vbo_ins: 0.6}
    - {x_cu: 0, x_in: 1, core_radius_a: 1, shell_thickness_a: 1, model: STR, vbo_ins: 1.6}
    - {x_cu: 0, x_in: 0.5, core_radius_a: 1, shell_thickness_a: 1, model: VCA}
    - {x_cu: 0, x_in: 0.25, core_radius_a: 1, shell_thickness_a: 1, model: VCA}
"""
N_E, N_H, N_BINS = 4, 8, 40


def synthetic_results(job_text=SYNTH_JOB, per_state=False):
    """Results dict in the contract's flat form with smooth made-up values (not physics).

    ``per_state``: the electronic stage's layout instead: core weights and envelopes per
    spin-orbital state, the E1/H1 core weights as core_weight_E1/H1, a radial grid per task,
    and a complex CI matrix that must be ignored.
    """
    tasks = parse_job(job_text).tasks
    n = len(tasks)
    col = {
        k: np.array([getattr(t, k) for t in tasks])
        for k in (
            "index",
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
        )
    }
    col["key"] = np.array([t.key for t in tasks])
    x_cu, x_in, r, h, v = col["x_cu"], col["x_in"], col["core_radius_a"], col["shell_thickness_a"], col["vbo_ins"]
    noise = 0.01 * (col["realization"] - 0.5)
    e1 = 3.6 - 1.0 * x_in - 1.2 * x_cu + 0.5 / r**2 - 0.05 * h + noise
    h1 = 0.1 + x_in * v * 0.8 + 0.3 * x_cu - 0.1 / r**2 - noise
    grid = np.linspace(0.0, 20.0, N_BINS)
    env_e = np.exp(-((grid[None, :] - (4 + 4 * h)[:, None]) ** 2) / 8.0)
    env_h = np.exp(-((grid[None, :] - 3.0) ** 2) / 4.0) * np.ones((n, 1))
    status = np.ones(n, dtype=np.int8)
    if n > 2:
        status[1] = 2  # one failed and one pending task
        status[2] = 0
    res = dict(col)
    res.update(
        status=status,
        message=np.array(["" if s != 2 else "ConvergenceError: no eigenpairs" for s in status]),
        E1=e1,
        H1=h1,
        gap=e1 - h1,
        electron_energies=e1[:, None] + 0.05 * np.arange(N_E)[None, :] // 2,
        hole_energies=h1[:, None] - 0.02 * np.arange(N_H)[None, :] // 2,
        exciton_energy=e1 - h1 - 0.2,
        dipole_sq=10.0 / (1 + h * x_in),
        J_ee=0.3 / r,
        J_hh=0.35 / r,
        J_eh=0.28 / r,
        core_weight_e=0.9 - 0.3 * h * x_in,
        core_weight_h=np.full(n, 0.95),
        r_max_e=4 + 4 * h,
        r_max_h=np.full(n, 3.0),
        separation=np.abs(1 + 4 * h - 0.5),
        overlap_atomic=0.5 + 0 * h,
        overlap_envelope=0.8 + 0 * h,
        confinement=np.where(h * x_in > 0.5, "type-II", "type-I"),
        radial_grid=grid,
        envelope_e=env_e,
        envelope_h=env_h,
        exciton_energies=(e1 - h1)[:, None] + 0.01 * np.arange(8),
        oscillator_strengths=np.ones((n, 8)),
    )
    res["dXX"] = res["J_ee"] + res["J_hh"] - 2 * res["J_eh"]
    for k in ("E1", "H1", "gap", "exciton_energy", "dXX", "electron_energies", "envelope_e"):
        res[k] = np.where((status == 1).reshape((-1,) + (1,) * (res[k].ndim - 1)), res[k], np.nan)
    res["units"] = {"E1": "eV", "H1": "eV", "dipole_sq": "Å²"}
    if per_state:
        res["core_weight_E1"], res["core_weight_H1"] = res["core_weight_e"], res["core_weight_h"]
        res["core_weight_e"] = res["core_weight_e"][:, None] * np.ones(N_E) - 0.1 * (np.arange(N_E) >= 2)
        res["core_weight_h"] = res["core_weight_h"][:, None] * np.ones(N_H)
        res["envelope_e"] = res["envelope_e"][:, None, :] * np.ones((N_E, 1))
        res["envelope_h"] = res["envelope_h"][:, None, :] * np.ones((N_H, 1))
        res["radial_grid"] = np.ones((n, 1)) * grid
        res["ci_direct"] = np.ones((n, 8, 8), dtype=complex)
    return res


# -- ensemble statistics --------------------------------------------------------------------
def _hand_results():
    """Four sweep points: A (3 done + 1 failed), B (1 done), C (all failed), D (2 done, tie)."""
    rows = [  # (point, status, E1, e-levels, confinement)
        ("A", 1, 1.0, (1.0, 1.5), "type-II"),
        ("A", 1, 2.0, (2.0, 2.5), "type-I"),
        ("A", 2, 100.0, (100.0, 100.0), "type-I"),  # failed: must not count
        ("A", 1, 4.0, (4.0, 5.5), "type-II"),
        ("B", 1, 3.0, (3.0, 3.1), "mixed"),
        ("C", 2, np.nan, (np.nan, np.nan), ""),
        ("D", 1, 0.5, (0.5, 0.6), "mixed"),
        ("D", 1, 0.7, (0.7, 0.9), "type-I"),
    ]
    x_in = {"A": 0.5, "B": 0.25, "C": 0.75, "D": 0.5}
    model = {"A": "STR", "B": "STR", "C": "STR", "D": "NSTR"}
    n = len(rows)
    real = {}
    realization = []
    for p, *_ in rows:
        realization.append(real.get(p, 0))
        real[p] = real.get(p, 0) + 1
    return {
        "index": np.arange(n),
        "x_cu": np.zeros(n),
        "x_in": np.array([x_in[r[0]] for r in rows]),
        "core_radius_a": np.ones(n),
        "shell_thickness_a": np.ones(n),
        "vbo_ins": np.full(n, 1.1),
        "vbo_cus": np.full(n, 0.34),
        "model": np.array([model[r[0]] for r in rows]),
        "realization": np.array(realization),
        "seed": 7 * 65536 + np.array(realization),
        "n_atoms": np.full(n, 147),
        "status": np.array([r[1] for r in rows]),
        "message": np.array(["" if r[1] == 1 else "failed" for r in rows]),
        "E1": np.array([r[2] for r in rows]),
        "electron_energies": np.array([r[3] for r in rows]),
        "confinement": np.array([r[4] for r in rows]),
    }


def test_aggregate_matches_hand_computed_mean_and_standard_error():
    agg = ensemble.aggregate(_hand_results())
    assert list(agg["x_in"]) == [0.5, 0.25, 0.75, 0.5] and list(agg["model"]) == ["STR", "STR", "STR", "NSTR"]
    assert list(agg["n_tasks"]) == [4, 1, 1, 2]
    assert list(agg["n_realizations"]) == [3, 1, 0, 2]
    # A: E1 = 1, 2, 4 -> mean 7/3; deviations -4/3, -1/3, 5/3 -> s^2 = (42/9)/2 = 7/3; sem = sqrt(7/3)/sqrt(3)
    assert agg["E1_mean"][0] == pytest.approx(7.0 / 3.0, rel=1e-14)
    assert agg["E1_sem"][0] == pytest.approx(math.sqrt(7.0) / 3.0, rel=1e-14)
    # second level of A: 1.5, 2.5, 5.5 -> mean 19/6; s^2 = ((-5/3)^2 + (-2/3)^2 + (7/3)^2)/2 = 13/3
    assert agg["electron_energies_mean"][0] == pytest.approx([7 / 3, 19 / 6], rel=1e-14)
    assert agg["electron_energies_sem"][0][1] == pytest.approx(math.sqrt(13 / 3 / 3), rel=1e-14)
    # B: one realisation: mean is the value, no standard error; C: nothing done
    assert agg["E1_mean"][1] == 3.0 and np.isnan(agg["E1_sem"][1])
    assert np.isnan(agg["E1_mean"][2]) and np.isnan(agg["E1_sem"][2])
    # D: 0.5, 0.7 -> mean 0.6, s = 0.1*sqrt(2), sem = 0.1
    assert agg["E1_mean"][3] == pytest.approx(0.6, rel=1e-14)
    assert agg["E1_sem"][3] == pytest.approx(0.1, rel=1e-12)
    # majority class among done realisations; a tie goes to the first of CONFINEMENT_CLASSES
    assert list(agg["confinement"]) == ["type-II", "mixed", "", "type-I"]
    assert agg["confinement_fraction"][0] == pytest.approx(2 / 3)
    assert agg["confinement_fraction"][1] == 1.0 and np.isnan(agg["confinement_fraction"][2])
    assert agg["confinement_fraction"][3] == 0.5
    assert list(agg["group_of_task"]) == [0, 0, 0, 0, 1, 2, 3, 3]
    assert "realization" not in agg["fields"] and "seed" not in agg["fields"]


def test_aggregate_accepts_store_dataset_names():
    flat = _hand_results()
    nested = {
        (
            "tasks/"
            if k
            in (
                "index",
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
            )
            else ""
            if k in ("status", "message")
            else "results/"
        )
        + k: v
        for k, v in flat.items()
    }
    nested["tasks/model"] = np.char.encode(flat["model"])  # bytes as h5py may return them
    a, b = ensemble.aggregate(flat), ensemble.aggregate(nested)
    np.testing.assert_array_equal(a["E1_mean"], b["E1_mean"])
    np.testing.assert_array_equal(a["model"], b["model"])


def test_missing_task_columns_are_an_error():
    with pytest.raises(ensemble.ResultsError, match="vbo_cus"):
        ensemble.aggregate({k: v for k, v in _hand_results().items() if k != "vbo_cus"})


# -- CSV ------------------------------------------------------------------------------------
def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


@pytest.mark.parametrize("per_state", [False, True])
def test_per_task_csv_columns_and_values(tmp_path, per_state):
    res = synthetic_results(per_state=per_state)
    level_weight = res["core_weight_E1"] if per_state else res["core_weight_e"]
    notes = []
    cols = export.export_csv(res, tmp_path / "t.csv", log=notes.append)
    header, rows = _read_csv(tmp_path / "t.csv")
    assert header == cols
    expected_start = [
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
        "E1",
        "H1",
        "gap",
    ]
    assert header[: len(expected_start)] == expected_start
    levels = header[len(expected_start) : len(expected_start) + N_E + N_H]
    assert levels == [f"e_{k}" for k in range(1, N_E + 1)] + [f"h_{k}" for k in range(1, N_H + 1)]
    assert header[-1] == "confinement" and "dXX" in header and "dipole_sq" in header
    assert len(rows) == len(res["x_cu"]) and not notes
    rec = [dict(zip(header, r)) for r in rows]
    assert [r["status"] for r in rec[:3]] == ["done", "failed", "pending"]
    assert rec[1]["message"].startswith("ConvergenceError") and rec[1]["E1"] == "nan"
    assert rec[1]["confinement"] == ""  # a failed task has no class
    for i in (0, 5):
        assert float(rec[i]["E1"]) == pytest.approx(res["E1"][i], rel=1e-9)
        assert float(rec[i]["h_3"]) == pytest.approx(res["hole_energies"][i, 2], rel=1e-9)
        assert int(rec[i]["task"]) == i and rec[i]["model"] == res["model"][i]
        assert float(rec[i]["core_weight_e"]) == pytest.approx(level_weight[i], rel=1e-9)


def test_csv_skips_missing_optional_fields_with_a_note(tmp_path):
    res = {k: v for k, v in synthetic_results().items() if k not in ("dXX", "hole_energies", "confinement")}
    notes = []
    cols = export.export_csv(res, tmp_path / "t.csv", log=notes.append)
    assert "dXX" not in cols and "h_1" not in cols and "confinement" not in cols and "e_1" in cols
    assert any("dXX" in n and "hole_energies" in n for n in notes)


def test_ensemble_csv(tmp_path):
    cols = export.export_csv(_hand_results(), tmp_path / "e.csv", ensemble=True, log=lambda m: None)
    header, rows = _read_csv(tmp_path / "e.csv")
    assert header == cols
    assert header[:10] == [
        "x_cu",
        "x_in",
        "core_radius_a",
        "shell_thickness_a",
        "vbo_ins",
        "vbo_cus",
        "model",
        "n_atoms",
        "n_tasks",
        "n_realizations",
    ]
    assert header[10:16] == ["E1_mean", "E1_sem", "e_1_mean", "e_1_sem", "e_2_mean", "e_2_sem"]
    assert header[-2:] == ["confinement", "confinement_fraction"]
    rec = [dict(zip(header, r)) for r in rows]
    assert len(rec) == 4
    assert float(rec[0]["E1_mean"]) == pytest.approx(7 / 3, rel=1e-9)
    assert float(rec[0]["E1_sem"]) == pytest.approx(math.sqrt(7) / 3, rel=1e-9)
    assert rec[0]["n_realizations"] == "3" and rec[0]["confinement"] == "type-II"
    assert float(rec[0]["confinement_fraction"]) == pytest.approx(2 / 3, rel=1e-9)
    assert rec[1]["E1_sem"] == "nan" and rec[2]["E1_mean"] == "nan"


def test_csv_from_a_results_file_written_by_the_store(tmp_path):
    """Round trip through hpc_nc.io.store: the reader's dataset names are understood."""
    pytest.importorskip("h5py")
    from mpi4py import MPI

    from hpc_nc.io import store

    res = synthetic_results()
    tasks = [types.SimpleNamespace(**t.as_dict()) for t in parse_job(SYNTH_JOB).tasks]
    scalar = ("E1", "H1", "gap", "exciton_energy", "dipole_sq", "J_ee", "J_hh", "J_eh", "dXX")
    fields = [store.FieldSpec(k, (), "f8", "eV", k) for k in scalar]
    fields += [
        store.FieldSpec("electron_energies", (N_E,), "f8", "eV", "levels"),
        store.FieldSpec("confinement", (), "S16", "1", "class"),
    ]
    path = tmp_path / "r.h5"
    with store.ResultsStore.create_or_open(MPI.COMM_SELF, path, tasks, fields) as st:
        for i in np.flatnonzero(res["status"] == 1)[:6]:
            st.write_task(int(i), {k: res[k][i] for k in scalar + ("electron_energies", "confinement")})
        st.mark_failed(1, "ConvergenceError: no eigenpairs")
    export.export_csv(str(path), tmp_path / "r.csv", log=lambda m: None)
    header, rows = _read_csv(tmp_path / "r.csv")
    rec = [dict(zip(header, r)) for r in rows]
    assert len(rec) == len(tasks)
    assert rec[0]["status"] == "done" and float(rec[0]["E1"]) == pytest.approx(res["E1"][0], rel=1e-12)
    assert rec[1]["status"] == "failed" and rec[2]["status"] == "pending"
    assert rec[0]["confinement"] == res["confinement"][0] and rec[0]["model"] == res["model"][0]


# -- extended XYZ ---------------------------------------------------------------------------
def parse_extxyz(path):
    """Minimal extended-XYZ reader: (comment key=values, species, positions, per-atom core)."""
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    n = int(lines[0])
    info = dict(item.split("=", 1) for item in shlex.split(lines[1]))
    body = [line.split() for line in lines[2 : 2 + n]]
    assert len(lines) == n + 2 and all(len(b) == 5 for b in body)
    species = [b[0] for b in body]
    pos = np.array([[float(x) for x in b[1:4]] for b in body])
    core = np.array([int(b[4]) for b in body])
    return info, species, pos, core


XYZ_JOB = """
name: xyz
sweep:
  compositions: [[0.2, 0.5]]
  geometries: [[1.0, 0.5]]
  vbo_ins: [1.1, 1.6]
  model: [VCA, NSTR, STR]
  realizations: 2
  seed: 3
"""


def test_export_xyz_writes_readable_structures(tmp_path):
    from mpi4py import MPI

    from hpc_nc.io import store
    from hpc_nc.physics.alloy import realise_alloy
    from hpc_nc.physics.geometry import build_nanocrystal

    job = parse_job(XYZ_JOB)
    str_tasks = [t for t in job.tasks if t.model == "STR"]
    nc = build_nanocrystal(1.0, 0.5)
    # relaxed positions: a made-up but distinct displacement, stored for realisation 0 only
    moved = nc.positions * 1.01 + 0.001
    spath = tmp_path / "s.h5"
    keys = {t.structure_key: t.n_atoms for t in str_tasks}
    with store.StructureStore.create_or_open(MPI.COMM_SELF, spath, keys, []) as st:
        alloy = realise_alloy(nc, 0.2, 0.5, str_tasks[0].seed)
        st.write_structure(
            str_tasks[0].structure_key, {"positions": moved, "species": species_codes(alloy.compound_weights)}
        )
    notes = []
    res = with_species(synthetic_results(XYZ_JOB))  # NSTR species come from the results
    res["status"][:] = 1
    files = export.export_xyz(str(spath), res, tmp_path / "xyz", log=notes.append)
    # VCA: 1 structure (VBOs share it); NSTR: 2 realisations; STR: 2, of which 1 is relaxed
    names = sorted(p.rsplit("/", 1)[-1] for p in files)
    assert len(files) == 4, names
    assert sum(n.endswith("_relaxed.xyz") for n in names) == 1
    assert len(notes) == 1 and str_tasks[1].structure_key in notes[0] and "not relaxed" in notes[0]

    for path in files:
        info, species, pos, core = parse_extxyz(path)
        assert info["Properties"] == "species:S:1:pos:R:3:core:I:1" and info["pbc"] == "F F F"
        assert "Lattice" not in info
        assert float(info["x_cu"]) == 0.2 and float(info["x_in"]) == 0.5 and int(info["n_atoms"]) == nc.n_atoms
        np.testing.assert_array_equal(core, nc.in_core.astype(int))
        species = np.array(species)
        assert set(species[~nc.is_cation]) == {"S"}
        assert set(species[nc.is_cation & ~nc.in_core]) == {"Zn"}  # the shell is pure ZnS
        if info["model"] == "VCA":
            assert set(species[nc.is_cation & nc.in_core]) == {"X"}
            np.testing.assert_allclose(pos, nc.positions, atol=1e-8)
            continue
        alloy = realise_alloy(nc, 0.2, 0.5, int(info["seed"]))
        assert (species == "In").sum() == (alloy.cation_compound == 1).sum()
        assert (species == "Cu").sum() == (alloy.cation_compound == 2).sum()
        np.testing.assert_array_equal(species[alloy.cation_compound == 1], "In")
        relaxed = info["relaxed"] == "T"
        np.testing.assert_allclose(pos, moved if relaxed else nc.positions, atol=1e-8)
        assert relaxed == (info["model"] == "STR")

    try:  # the real reader, where installed
        import ase.io
    except ImportError:
        return
    atoms = ase.io.read(files[0])
    assert len(atoms) == nc.n_atoms and not atoms.pbc.any()


def with_species(res):
    """The per-atom ``species`` the electronic stage stores (test reference: the alloy draw)."""
    from hpc_nc.io.schema import species_codes
    from hpc_nc.physics.alloy import realise_alloy, virtual_crystal
    from hpc_nc.physics.geometry import build_nanocrystal

    codes = []
    for i in range(len(res["model"])):
        nc = build_nanocrystal(float(res["core_radius_a"][i]), float(res["shell_thickness_a"][i]))
        x_cu, x_in = float(res["x_cu"][i]), float(res["x_in"][i])
        alloy = (
            virtual_crystal(nc, x_cu, x_in)
            if res["model"][i] == "VCA"
            else realise_alloy(nc, x_cu, x_in, int(res["seed"][i]))
        )
        codes.append(species_codes(alloy.compound_weights))
    res["species"] = np.concatenate(codes)
    res["atom_offsets"] = np.concatenate([[0], np.cumsum([len(c) for c in codes])])
    return res


def test_export_xyz_from_results_without_structures_file(tmp_path):
    res = with_species(synthetic_results(XYZ_JOB))
    res["status"][:] = 1
    notes = []
    files = export.export_xyz(None, res, tmp_path, log=notes.append)
    assert len(files) == 3  # VCA and the two NSTR; both STR need the structures file
    assert "no structures file" in notes[0]


def test_command_line_entry_point(tmp_path, capsys):
    """``hpc-nc export`` options: CSV, ensemble CSV and XYZ from one call; nothing asked is an error."""
    import argparse

    parser = argparse.ArgumentParser()
    export.add_arguments(parser)
    res = with_species(synthetic_results(XYZ_JOB))
    args = parser.parse_args(
        [
            "unused.h5",
            "--csv",
            str(tmp_path / "a.csv"),
            "--ensemble",
            str(tmp_path / "b.csv"),
            "--xyz",
            str(tmp_path / "x"),
        ]
    )
    args.results = res  # a dict stands in for the file (export.run reads through as_table)
    assert export.run(args) == 0
    out = capsys.readouterr().out
    # VCA (one structure for both VBOs) and both NSTR realisations; STR needs the structures file
    assert "a.csv: 10 tasks" in out and "b.csv: 6 sweep points" in out and "3 extended-XYZ" in out
    # a structures file that does not exist while STR structures are asked for: one error
    args = parser.parse_args(["unused.h5", "--xyz", str(tmp_path / "y"), "--structures", str(tmp_path / "none.h5")])
    args.results = res
    with pytest.raises(ensemble.ResultsError, match=r"structures file .*none\.h5 does not exist"):
        export.run(args)
    with pytest.raises(ensemble.ResultsError, match="nothing to do"):
        export.run(parser.parse_args(["r.h5"]))
    with pytest.raises(ensemble.ResultsError, match="does not exist"):
        export.run(parser.parse_args([str(tmp_path / "missing.h5"), "--csv", str(tmp_path / "c.csv")]))
