"""Results files: schema, checksums, corruption, locks, full disk, salvage, bad CLI inputs.

Regression tests for issue 12 section 2 ("Output paths and files") and issue 14 items 12,
14, 15 (provenance). All serial (MPI.COMM_SELF); the parallel store paths are covered by
tests/test_store.py under mpirun.
"""

import errno
import json
import os
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest

from hpc_nc.io import salvage, schema, store
from hpc_nc.io.schema import CORRUPT, DONE, PENDING, FieldSpec
from hpc_nc.io.store import ResultsStore, StoreError, StructureStore
from hpc_nc.settings import ElectronicSettings


@dataclass(frozen=True)
class Job:
    index: int
    key: str
    n_atoms: int
    x_cu: float = 0.0
    x_in: float = 1.0
    core_radius_a: float = 1.0
    shell_thickness_a: float = 1.0
    vbo_ins: float = 1.1
    vbo_cus: float = 0.34
    model: str = "NSTR"
    realization: int = 0
    seed: int = 1


FIELDS = [
    FieldSpec("E1", (), "f8", "eV", "lowest electron level"),
    FieldSpec("levels", (3,), "f8", "eV", "three levels"),
    FieldSpec("confinement", (), "S16", "1", "class"),
    FieldSpec("weights", ("n_atoms",), "f8", "1", "per-atom weight"),
]


def comm():
    from mpi4py import MPI

    return MPI.COMM_SELF


def jobs(n=6):
    return [Job(i, f"task-{i:02d}", 5 + i, realization=i) for i in range(n)]


def row(job):
    return {
        "E1": 1.0 + job.index,
        "levels": np.arange(3.0) * job.index,
        "confinement": "type-I",
        "weights": np.full(job.n_atoms, 0.1 * job.index),
    }


def make_file(path, n=6, done=None, failed=(), provenance=None):
    js = jobs(n)
    with ResultsStore.create_or_open(comm(), path, js, FIELDS, provenance or {"ranks_per_task": 1}) as st:
        for j in js:
            if done is None or j.index in done:
                if j.index in failed:
                    st.mark_failed(j.index, "ConvergenceError: no eigenpairs")
                else:
                    st.write_task(j.index, row(j), seconds=0.5)
    return js


def cli(*args, cwd=None):
    """``hpc-nc ARGS`` in a fresh interpreter: (exit status, stdout, stderr)."""
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    p = subprocess.run(
        [sys.executable, "-m", "hpc_nc", *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )
    return p.returncode, p.stdout, p.stderr


def one_error_line(stderr):
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("hpc-nc: error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def raw_offset(path, name, row, itemsize=8):
    import h5py

    with h5py.File(path, "r") as f:
        return f[name].id.get_offset() + row * itemsize


def poke(path, offset, data):
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)


# -- schema ---------------------------------------------------------------------------------
def test_every_result_field_has_real_doc_units_and_matches_the_stage_shapes():
    from hpc_nc.io.jobs import parse_job
    from hpc_nc.physics import exciton
    from hpc_nc.pipeline.electronic_stage import analysis_settings, result_fields

    job = parse_job("name: s\nsweep: {compositions: [[0, 1]], geometries: [[1, 1]]}\n")
    fields = {f.name: f for f in result_fields(ElectronicSettings.from_job(job))}
    shapes = exciton.result_shapes(job.n_electrons, job.n_holes, analysis_settings(job.analysis))
    for name, shape in shapes.items():  # the schema's symbolic shapes agree with the physics
        assert fields[name].shape_per_task == shape, name
    for q in schema.RESULT_QUANTITIES + schema.STRUCTURE_QUANTITIES:
        assert q.units and len(q.doc) > 15 and not q.doc.startswith("see "), q.name
        assert "SLEPc" not in q.doc, q.name  # the davidson strategy fills them too
    assert "signed" in schema.RESULT_DESCRIPTIONS["separation"]
    assert "pair pair" not in schema.RESULT_DESCRIPTIONS["dipole_sq"]
    assert schema.CONFINEMENT_CLASSES == exciton.classify_confinement.__globals__["CLASSES"]


def test_doc_text_is_written_into_the_file_and_text_reads_back_as_str(tmp_path):
    from hpc_nc.io.jobs import parse_job
    from hpc_nc.pipeline.electronic_stage import result_fields

    job = parse_job("name: s\nsweep: {compositions: [[0, 1]], geometries: [[1, 1]]}\n")
    path = tmp_path / "r.h5"
    specs = result_fields(ElectronicSettings.from_job(job))
    with ResultsStore.create_or_open(comm(), path, jobs(2), specs, {"job_text": "name: s\n"}) as st:
        st.mark_failed(1, "ValueError: bad")
    docs = store.read_docs(path)
    for spec in specs:
        assert docs[f"results/{spec.name}"] == spec.doc
    assert "BLAKE2b" in docs["checksum"] and docs["status"].startswith("row status")
    data = store.read_results(path)
    assert data["message"].dtype.kind == "U" and data["message"][1] == "ValueError: bad"
    assert data["tasks/key"].dtype.kind == "U"
    prov = store.read_provenance(path)
    assert isinstance(prov["job_text"], str) and json.loads(prov["species_names"]) == list(schema.SPECIES)


def test_other_schema_versions_are_refused_in_one_line_naming_both(tmp_path):
    import h5py

    path = tmp_path / "old.h5"
    make_file(path)
    for version, words in ((1, "rerun the job"), (3, "upgrade hpc_nc")):
        with h5py.File(path, "r+") as f:
            f.attrs["schema_version"] = version
        with pytest.raises(StoreError, match=rf"schema version {version} .*version {schema.SCHEMA_VERSION}.*{words}"):
            ResultsStore.create_or_open(comm(), path, jobs(), FIELDS)
        rc, _out, err = cli("status", path)
        assert rc == 2 and f"schema version {version}" in one_error_line(err)


# -- checksums --------------------------------------------------------------------------------
def test_overwritten_bytes_are_detected_blanked_and_recomputed(tmp_path):
    path = tmp_path / "r.h5"
    js = make_file(path)
    # the fuzzing case of the issue: 16 bytes overwritten inside results/E1 (rows 2 and 3)
    poke(path, raw_offset(path, "results/E1", 2), b"\x7f" * 16)
    data = store.read_results(path)
    assert list(np.flatnonzero(data["status"] == CORRUPT)) == [2, 3]
    assert np.isnan(data["results/E1"][2:4]).all() and data["results/E1"][4] == 5.0
    rc, out, _err = cli("verify", path)
    assert rc == 1 and "2 task(s) CORRUPT" in out and "task-02" in out
    rc, out, _err = cli("status", path)
    assert rc == 0 and "4 done, 0 failed, 0 pending, 2 corrupt" in out
    rc, _out, err = cli("export", path, "--csv", tmp_path / "r.csv")
    assert rc == 0 and "2 row(s)" in err and "fail their checksum" in err
    lines = (tmp_path / "r.csv").read_text().splitlines()
    header = lines[0].split(",")
    rec = dict(zip(header, lines[3].split(",")))
    assert rec["status"] == "corrupt" and rec["E1"] == "nan"
    # resume: the corrupt rows are not done, so the sweep recomputes them
    st = ResultsStore.create_or_open(comm(), path, js, FIELDS, {"ranks_per_task": 1})
    assert st.done == {0, 1, 4, 5} and st.corrupt == {2, 3}
    for i in sorted(st.corrupt):
        st.write_task(i, row(js[i]), seconds=0.5)
    st.close()
    rc, out, _err = cli("verify", path)
    assert rc == 0 and "6 finished tasks match" in out


def test_row_with_status_but_no_checksum_counts_as_unfinished(tmp_path):
    """A kill between the status flag and the checksum: the row is recomputed, not trusted."""
    path = tmp_path / "r.h5"
    js = make_file(path, failed={1})
    poke(path, raw_offset(path, "checksum", 4), b"\0" * 8)
    poke(path, raw_offset(path, "checksum", 1), b"\0" * 8)
    st = ResultsStore.create_or_open(comm(), path, js, FIELDS, {"ranks_per_task": 1})
    assert 4 not in st.done and 1 not in st.failed and st.corrupt == {1, 4}
    st.close()
    # a flipped status byte of a pending row is caught too
    path2 = tmp_path / "r2.h5"
    make_file(path2, done={0})
    poke(path2, raw_offset(path2, "status", 3, itemsize=1), b"\x01")
    assert store.read_results(path2)["status"][3] == CORRUPT


def test_merge_takes_only_verified_rows(tmp_path):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    make_file(a, done={0, 1, 2})
    make_file(b, done={3, 4})
    poke(a, raw_offset(a, "results/E1", 1), b"\x01" * 8)
    counts = store.merge_shards(tmp_path / "m.h5", [a, b])
    assert counts == {"done": 4, "failed": 0, "pending": 2}
    rc, out, _err = cli("verify", tmp_path / "m.h5")
    assert rc == 0


# -- salvage ------------------------------------------------------------------------------------
def test_salvage_rebuilds_a_damaged_superblock(tmp_path):
    path = tmp_path / "r.h5"
    make_file(path, failed={2})
    want = store.read_results(path)
    poke(path, 0, b"\0" * 64)  # signature, versions, EOA: gone
    rc, _out, err = cli("status", path)
    assert rc == 2 and "salvage" in one_error_line(err)
    rc, out, err = cli("salvage", path, tmp_path / "s.h5")
    assert rc == 0, err
    assert "5 done and 1 failed rows recovered" in out and "rebuilt the superblock" in out
    got = store.read_results(tmp_path / "s.h5")
    for name in want:
        if want[name].dtype.kind == "f":
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
        else:
            assert np.array_equal(got[name], want[name]), name


def test_salvage_recovers_the_intact_rows_of_a_truncated_file(tmp_path):
    path = tmp_path / "r.h5"
    js = make_file(path, n=40)
    size = os.path.getsize(path)
    end_of_weights = raw_offset(path, "results/weights", 0) + 8 * sum(j.n_atoms for j in js)
    assert end_of_weights <= size
    # cut into the last dataset's rows: the per-atom weights of the last tasks are lost
    cut = raw_offset(path, "results/weights", 0) + 8 * sum(j.n_atoms for j in js[:30]) + 4
    with open(path, "r+b") as fh:
        fh.truncate(cut)
    rc, _out, err = cli("export", path, "--csv", tmp_path / "x.csv")
    assert rc == 2 and "salvage" in one_error_line(err)
    r = salvage.salvage(path, tmp_path / "s.h5")
    assert r["done"] + r["lost"] == 40 and 25 <= r["done"] <= 30 and r["pending"] == r["lost"]
    assert any("extended" in x for x in r["repairs"])
    got = store.read_results(tmp_path / "s.h5")
    offsets = got["atom_offsets"]
    for j in js:
        if got["status"][j.index] == DONE:
            np.testing.assert_array_equal(
                got["results/weights"][offsets[j.index] : offsets[j.index + 1]], row(j)["weights"]
            )
        else:
            assert got["status"][j.index] == PENDING
    with pytest.raises(StoreError, match="not a repairable hpc_nc file|not an HDF5"):
        (tmp_path / "job.yaml").write_text("name: x\n" * 30)
        salvage.salvage(tmp_path / "job.yaml", tmp_path / "t.h5")


# -- concurrent runs, empty files, full disk ------------------------------------------------------
def test_a_second_run_on_the_same_file_is_refused_while_the_first_holds_it(tmp_path):
    path = tmp_path / "r.h5"
    first = ResultsStore.create_or_open(comm(), path, jobs(), FIELDS)
    try:
        with pytest.raises(StoreError, match=rf"being written by another run \(host .*pid {os.getpid()}"):
            ResultsStore.create_or_open(comm(), path, jobs(), FIELDS)
        # and from another process (flock is per open file, so this is what a second `hpc-nc run` sees)
        code = (
            "import sys; from mpi4py import MPI; from hpc_nc.io.store import ResultsStore, StoreError\n"
            "sys.path.insert(0, %r); from test_store_reliability import jobs, FIELDS\n"
            "try:\n ResultsStore.create_or_open(MPI.COMM_SELF, %r, jobs(), FIELDS)\n"
            "except StoreError as e:\n print(e); sys.exit(3)\n" % (os.path.dirname(__file__), str(path))
        )
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert p.returncode == 3 and "being written by another run" in p.stdout, p.stdout + p.stderr
    finally:
        first.close()
    assert not os.path.exists(store.lock_path(str(path)))
    ResultsStore.create_or_open(comm(), path, jobs(), FIELDS).close()  # free again


def test_an_empty_results_file_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "r.h5"
    path.write_bytes(b"")
    with pytest.raises(StoreError, match=r"is empty \(0 bytes\).*left as it is"):
        ResultsStore.create_or_open(comm(), path, jobs(), FIELDS)
    assert path.read_bytes() == b""


def test_a_full_disk_at_creation_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    path = tmp_path / "r.h5"

    def no_space(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(store.os, "write", no_space)
    with pytest.raises(StoreError, match=r"cannot create .*r\.h5: No space left on device"):
        ResultsStore.create_or_open(comm(), path, jobs(), FIELDS)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == []
    # the free-space check before creation
    monkeypatch.setattr(store, "_layout_bytes", lambda *a: 1 << 60)
    with pytest.raises(StoreError, match=r"needs about .* MiB .* free"):
        ResultsStore.create_or_open(comm(), path, jobs(), FIELDS)
    assert sorted(os.listdir(tmp_path)) == []


def test_a_real_full_disk_with_the_pipeline_loaded(tmp_path):
    """As in the issue: PETSc loaded (its SEGV handler), a tiny tmpfs; needs root and mount."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True).returncode
        != 0
    ):
        pytest.skip("cannot mount a small tmpfs here (needs root); the monkeypatched test covers the code path")
    try:
        # 1. the free-space check refuses; 2. without it, the write itself hits ENOSPC
        code = (
            "from hpc_nc.parallel.petsc_build import select_build; select_build('complex')\n"
            "import sys; from mpi4py import MPI; from hpc_nc.io import store\n"
            "sys.path.insert(0, %r); from test_store_reliability import jobs, FIELDS\n"
            "for check in (True, False):\n"
            "    if not check: store._check_space = lambda *a: None\n"
            "    try:\n        store.ResultsStore.create_or_open(MPI.COMM_SELF, %r, jobs(400), FIELDS)\n"
            "    except store.StoreError as e:\n        print(e)\n" % (os.path.dirname(__file__), str(mnt / "r.h5"))
        )
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        out = p.stdout.splitlines()
        assert p.returncode == 0 and len(out) == 2, p.stdout + p.stderr
        assert "MiB free" in out[0] and out[1].endswith("r.h5: No space left on device"), out
        assert "SEGV" not in p.stderr and os.listdir(mnt) == []
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


# -- resumes with other settings -------------------------------------------------------------------
def test_resume_with_other_ranks_per_task_or_petsc_options_is_recorded_and_warned(tmp_path, capsys):
    path = tmp_path / "r.h5"
    js = make_file(path, done={0}, provenance={"ranks_per_task": 1, "petsc_options": "{}"})
    capsys.readouterr()
    ResultsStore.create_or_open(comm(), path, js, FIELDS, {"ranks_per_task": 1, "petsc_options": "{}"}).close()
    assert "warning" not in capsys.readouterr().err
    ResultsStore.create_or_open(
        comm(), path, js, FIELDS, {"ranks_per_task": 2, "petsc_options": {"eps_view": ""}}
    ).close()
    err = capsys.readouterr().err
    assert "resuming with ranks_per_task = 2 (the previous run used 1)" in err
    assert "resuming with petsc_options" in err
    import h5py

    with h5py.File(path, "r") as f:
        runs = [json.loads(t) for t in f["runs/log"][...] if t]
    assert [r["ranks_per_task"] for r in runs] == [1, 1, 2]  # one record per opening


def test_petsc_options_exclude_the_command_line_options():
    from hpc_nc.pipeline.sweep import petsc_options_in_use

    db = {"results": "r.h5", "set": "a=1", "structures": "s.h5", "eps_view": "", "st_type": "sinvert"}
    argv = [
        "solve",
        "job.yaml",
        "--results",
        "r.h5",
        "--set",
        "a=1",
        "--structures=s.h5",
        "-eps_view",
        "-st_type",
        "sinvert",
    ]
    assert petsc_options_in_use(db, argv) == {"eps_view": "", "st_type": "sinvert"}


# -- the CLI on things that are not results files ----------------------------------------------------
@pytest.fixture
def junk(tmp_path):
    (tmp_path / "job.yaml").write_text("name: demo\n")
    (tmp_path / "fig.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    (tmp_path / "empty.h5").write_bytes(b"")
    (tmp_path / "dir.h5").mkdir()
    good = tmp_path / "good.h5"
    make_file(good)
    data = good.read_bytes()
    (tmp_path / "truncated.h5").write_bytes(data[:1000])
    return tmp_path


@pytest.mark.parametrize("name", ["job.yaml", "fig.png", "empty.h5", "dir.h5", "truncated.h5", "missing.h5"])
def test_status_export_plot_merge_verify_give_one_line_on_non_results(junk, name):
    bad = junk / name
    for args in (
        ["status", bad],
        ["verify", bad],
        ["export", bad, "--csv", junk / "o.csv"],
        ["plot", bad, "--out", junk / "plots"],
        ["merge", junk / "m.h5", bad],
    ):
        rc, _out, err = cli(*args)
        assert rc == 2, (args, err)
        one_error_line(err)
    assert not (junk / "o.csv").exists() and not (junk / "m.h5").exists()


def test_output_paths_that_are_not_regular_files_are_refused(junk):
    good = junk / "good.h5"
    for target in ["/dev/full", junk / "dir.h5", junk / "nowhere" / "x.csv"]:
        rc, _out, err = cli("export", good, "--csv", target)
        assert rc == 2 and "cannot write" in one_error_line(err)
        rc, _out, err = cli("merge", target, good)
        assert rc == 2, err
        one_error_line(err)
    assert os.path.exists("/dev/full") and not os.path.isfile("/dev/full")
    # a symlink is written through to its target, and stays a symlink
    link = junk / "link.csv"
    link.symlink_to(junk / "real.csv")
    rc, _out, err = cli("export", good, "--csv", link)
    assert rc == 0, err
    assert link.is_symlink() and (junk / "real.csv").read_text().startswith("task,")


def test_status_tells_results_and_structures_files_apart_and_lists_failed_structures(tmp_path):
    path = tmp_path / "s.h5"
    with StructureStore.create_or_open(comm(), path, {"R1_seed1": 4, "R1_seed2": 4}, []) as st:
        st.write_structure("R1_seed1", {"positions": np.zeros((4, 3)), "species": np.zeros(4, np.int8)})
        st.mark_failed("R1_seed2", "ConvergenceError: TAO diverged")
    rc, out, err = cli("status", path)
    assert rc == 0, err
    assert "structures file, 2 structures: 1 done, 1 failed" in out
    assert "failed structure 1 (R1_seed2): ConvergenceError: TAO diverged" in out
    rc, out, _err = cli("status", path, "--json")
    assert json.loads(out)["kind"] == "structures"
    rc, _out, err = cli("export", path, "--csv", tmp_path / "x.csv")
    assert rc == 2 and "not an hpc_nc results file (it is a structures file)" in one_error_line(err)


def test_export_xyz_with_a_missing_structures_file_is_one_error(tmp_path):
    from hpc_nc.io.jobs import parse_job
    from hpc_nc.pipeline.electronic_stage import result_fields

    job = parse_job("name: s\nsweep: {compositions: [[0, 1]], geometries: [[1, 1]], model: [STR]}\n")
    path = tmp_path / "r.h5"
    ResultsStore.create_or_open(comm(), path, job.tasks, result_fields(ElectronicSettings.from_job(job))).close()
    rc, _out, err = cli("export", path, "--xyz", tmp_path / "xyz", "--structures", tmp_path / "none.h5")
    assert rc == 2 and "none.h5 does not exist" in one_error_line(err)


def test_export_xyz_uses_the_stored_species(tmp_path):
    """Species come from the file: alter them there and the XYZ follows (no re-draw)."""
    from hpc_nc.io import export
    from hpc_nc.io.jobs import parse_job
    from hpc_nc.physics.geometry import build_nanocrystal

    job = parse_job("name: s\nsweep: {compositions: [[0.5, 0.5]], geometries: [[1, 0.5]], model: [STR]}\n")
    t = job.tasks[0]
    nc = build_nanocrystal(t.core_radius_a, t.shell_thickness_a)
    codes = np.where(nc.is_cation, schema.SPECIES.index("Cu"), schema.SPECIES.index("S")).astype(np.int8)
    spath = tmp_path / "s.h5"
    with StructureStore.create_or_open(comm(), spath, {t.structure_key: nc.n_atoms}, []) as st:
        st.write_structure(t.structure_key, {"positions": nc.positions, "species": codes})
    files = export.export_xyz(str(spath), job, tmp_path / "xyz", log=lambda m: None)
    lines = open(files[0]).read().splitlines()[2:]
    names = np.array([ln.split()[0] for ln in lines])
    assert set(names[nc.is_cation]) == {"Cu"} and set(names[~nc.is_cation]) == {"S"}


def test_info_json_has_no_nul():
    rc, out, err = cli("info", "--json")
    assert rc == 0, err
    info = json.loads(out)
    assert "\x00" not in info["mpi_library"] and "\x00" not in out


def test_the_size_estimate_bounds_the_real_files(tmp_path):
    """sweep.output_size_estimates (checked against free disk before a run) covers what the
    store writes, per-atom species included."""
    from hpc_nc.io.jobs import parse_job
    from hpc_nc.pipeline import sweep
    from hpc_nc.pipeline.electronic_stage import result_fields
    from hpc_nc.pipeline.structure_stage import structure_fields, structure_tasks

    job = parse_job(
        "name: s\nsweep: {compositions: [[0.5, 0.5]], geometries: [[2, 1]], model: [STR],\n        realizations: 3}\n"
    )
    results_bytes, structures_bytes = sweep.output_size_estimates(job)
    path, spath = tmp_path / "r.h5", tmp_path / "s.h5"
    ResultsStore.create_or_open(comm(), path, job.tasks, result_fields(ElectronicSettings.from_job(job))).close()
    keys = {t.structure_key: t.n_atoms for t in structure_tasks(job.tasks)}
    StructureStore.create_or_open(comm(), spath, keys, structure_fields()).close()
    assert os.path.getsize(path) <= results_bytes <= 2 * os.path.getsize(path) + (1 << 20)
    assert os.path.getsize(spath) <= structures_bytes <= 2 * os.path.getsize(spath) + (1 << 20)
