"""HDF5 stores: round trip with units, kill-safe layout, resume bookkeeping, shards, structures.

Every test runs on 1 and 2 ranks (``-m mpi``); with 2 ranks the files are opened with the
MPI-IO driver and rows are written independently by the group roots of the task farm.
"""

import os
from dataclasses import dataclass

import numpy as np
import pytest

from hpc_nc.errors import StructureMissingError
from hpc_nc.io.store import (
    DONE,
    FAILED,
    PENDING,
    FieldSpec,
    ResultsStore,
    StoreError,
    StructureStore,
    merge_shards,
    read_provenance,
    read_results,
    read_structure,
    read_units,
)
from hpc_nc.parallel.farm import run_farm

pytestmark = pytest.mark.mpi


@dataclass(frozen=True)
class Job:
    index: int
    key: str
    n_atoms: int
    x_cu: float
    vbo_ins: float
    model: str
    seed: int


FIELDS = [
    FieldSpec("energies", (4,), "f8", "eV", "state energies"),
    FieldSpec("gap", (), "f8", "eV", "gap"),
    FieldSpec("coulomb", (2, 2), "c16", "eV", "complex matrix"),
    FieldSpec("iterations", (), "i8", "1", "solver iterations"),
    FieldSpec("confinement", (), "S16", "1", "class"),
    FieldSpec("weights", ("n_atoms",), "f8", "1", "per-atom weight"),
]


def make_jobs(n=7):
    return [
        Job(i, f"job-{i:03d}", 8 + (5 * i) % 7, 0.1 * i, -0.5 + 0.01 * i, ("VCA", "STR")[i % 2], 1000 + i)
        for i in range(n)
    ]


def expected_row(job):
    """Deterministic values of every field for ``job`` (the "physics" of this test)."""
    return {
        "energies": np.linspace(-1.0, 2.0, 4) + job.index,
        "gap": 1.5 + 0.25 * job.index,
        "coulomb": np.array([[1 + 1j, 2], [3, 4 - 1j]]) * (job.index + 1),
        "iterations": 10 * job.index,
        "confinement": "type-I" if job.index % 2 else "quasi-II",
        "weights": np.arange(job.n_atoms) / (job.index + 1.0),
    }


def compute(group, job):
    return expected_row(job)


@pytest.fixture
def shared_dir(tmp_path, comm):
    """One directory for all ranks (pytest's tmp_path differs per process)."""
    return comm.bcast(str(tmp_path), root=0)


def sweep(comm, path, jobs, ranks_per_task=1, skip=(), fields=FIELDS, provenance=None):
    store = ResultsStore.create_or_open(comm, path, jobs, fields, provenance or {"job_text": "name: test\n"})
    try:
        summary = run_farm(comm, jobs, ranks_per_task, compute, store.record, skip=skip, progress="none")
    finally:
        store.close()
    return summary


def on_rank0(comm, fn, *args):
    """Run a serial reader on rank 0 and give every rank its result (or its exception)."""
    out = None
    if comm.rank == 0:
        try:
            out = (fn(*args), None)
        except Exception as exc:  # noqa: BLE001 - re-raised on every rank below
            out = (None, exc)
    value, error = comm.bcast(out, root=0)
    if error is not None:
        raise error
    return value


def test_round_trip_with_units_and_provenance(comm, shared_dir):
    path = os.path.join(shared_dir, "results.h5")
    jobs = make_jobs()
    provenance = {
        "job_text": "name: test\nx: [1, 2]\n",
        "mpi_size": comm.size,
        "seeds": [1000, 1001],
        "petsc_options": {"-eps_tol": "1e-10"},
        "long_text": "x" * 20000,
    }
    summary = sweep(comm, path, jobs, provenance=provenance)
    assert summary.n_done == len(jobs)
    data = on_rank0(comm, read_results, path)
    units = on_rank0(comm, read_units, path)
    prov = on_rank0(comm, read_provenance, path)

    assert np.all(data["status"] == DONE) and np.all(data["message"] == "")
    for job in jobs:
        want = expected_row(job)
        a, b = data["atom_offsets"][job.index], data["atom_offsets"][job.index + 1]
        assert b - a == job.n_atoms
        np.testing.assert_array_equal(data["results/weights"][a:b], want["weights"])
        for name in ("energies", "gap", "coulomb", "iterations", "confinement"):
            np.testing.assert_array_equal(data[f"results/{name}"][job.index], want[name])
    # task parameters as columns, in row order
    assert list(data["tasks/key"]) == [j.key for j in jobs]
    np.testing.assert_array_equal(data["tasks/x_cu"], [j.x_cu for j in jobs])
    assert list(data["tasks/model"]) == [j.model for j in jobs]
    np.testing.assert_array_equal(data["tasks/seed"], [j.seed for j in jobs])
    assert np.all(data["timings/wall_seconds"] >= 0)
    # units on every dataset
    assert set(units) == set(data)
    assert units["results/energies"] == "eV" and units["timings/wall_seconds"] == "s"
    assert units["tasks/vbo_ins"] == "eV"
    # provenance as file attributes
    assert prov["format"] == "hpc_nc.results" and prov["n_rows"] == len(jobs)
    assert prov["job_text"] == provenance["job_text"] and prov["mpi_size"] == comm.size
    assert prov["seeds"] == "[1000, 1001]" and '"-eps_tol": "1e-10"' in prov["petsc_options"]
    assert prov["long_text"] == "x" * 20000


def _raw_extents(path):
    import h5py

    extents = []
    with h5py.File(path, "r") as f:

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                plist = obj.id.get_create_plist()
                assert plist.get_layout() == h5py.h5d.CONTIGUOUS, name
                assert plist.get_alloc_time() == h5py.h5d.ALLOC_TIME_EARLY, name
                if obj.size:
                    extents.append((obj.id.get_offset(), obj.id.get_storage_size()))

        f.visititems(visit)
    return extents


def _bytes_outside(path, extents):
    data = bytearray(open(path, "rb").read())
    for offset, size in extents:
        data[offset : offset + size] = b"\0" * size
    return bytes(data)


def test_writes_touch_only_raw_data(comm, shared_dir):
    """After creation, a sweep changes no byte of the file outside the datasets' raw data.

    This is what makes the file safe against SIGKILL at any moment: HDF5 metadata is complete
    and final before the first task runs.
    """
    path = os.path.join(shared_dir, "layout.h5")
    jobs = make_jobs()
    ResultsStore.create_or_open(comm, path, jobs, FIELDS, {"job_text": "t"}).close()
    size = os.path.getsize(path)
    extents = on_rank0(comm, _raw_extents, path)
    before = on_rank0(comm, _bytes_outside, path, extents)
    sweep(comm, path, jobs, skip=range(4, len(jobs)))  # part of the rows ...
    sweep(comm, path, jobs, skip=range(4))  # ... then the rest, reopening the file to resume
    after = on_rank0(comm, _bytes_outside, path, extents)
    assert os.path.getsize(path) == size
    assert before == after
    assert np.all(on_rank0(comm, read_results, path)["status"] == DONE)


def test_reopen_reports_done_and_rejects_other_jobs(comm, shared_dir):
    path = os.path.join(shared_dir, "resume.h5")
    jobs = make_jobs()
    first = {0, 2, 5}
    sweep(comm, path, jobs, skip=set(range(len(jobs))) - first)
    store = ResultsStore.create_or_open(comm, path, jobs, FIELDS)
    assert store.done == first and store.failed == frozenset()
    store.close()

    others = make_jobs()[:-1] + [Job(6, "job-other", 9, 0.6, -0.44, "VCA", 1006)]
    with pytest.raises(StoreError, match=r"resume\.h5 belongs to a different task list .*row 6: 'job-006'"):
        ResultsStore.create_or_open(comm, path, others, FIELDS)
    with pytest.raises(StoreError, match=r"different task list \(7 rows in the file, 6 in this job"):
        ResultsStore.create_or_open(comm, path, jobs[:6], FIELDS)
    with pytest.raises(StoreError, match="different result fields .*energies"):
        ResultsStore.create_or_open(comm, path, jobs, [FieldSpec("energies", (5,), "f8", "eV", "")] + FIELDS[1:])
    settings = {"solver_settings": {"tol": 1e-10, "ncv": 64}, "job_text": "edited\n"}
    ResultsStore.create_or_open(comm, path, jobs, FIELDS, settings).close()  # no check asked for
    with pytest.raises(StoreError, match="made with a different solver_settings"):
        ResultsStore.create_or_open(comm, path, jobs, FIELDS, settings, must_match=["solver_settings"])
    fresh = os.path.join(shared_dir, "fresh.h5")
    for _ in range(2):  # created with the settings, then reopened with the same settings
        ResultsStore.create_or_open(comm, fresh, jobs, FIELDS, settings, must_match=["solver_settings"]).close()
    foreign = os.path.join(shared_dir, "foreign.h5")
    if comm.rank == 0:
        import h5py

        with h5py.File(foreign, "w") as f:
            f["x"] = 1.0
    comm.Barrier()
    with pytest.raises(StoreError, match=r"foreign\.h5 is not an hpc_nc tasks file"):
        ResultsStore.create_or_open(comm, foreign, jobs, FIELDS)
    # the file is unharmed by the rejected attempts
    assert set(np.flatnonzero(on_rank0(comm, read_results, path)["status"] == DONE)) == first


def test_failed_rows_and_bad_results(comm, shared_dir):
    path = os.path.join(shared_dir, "failed.h5")
    jobs = make_jobs(4)
    store = ResultsStore.create_or_open(comm, path, jobs, FIELDS)
    error = None
    if comm.rank == comm.size - 1:  # independent writes from one rank
        store.mark_failed(1, "ConvergenceError: x" + "é" * 300)  # a 2-byte character at the cut
        try:
            store.write_task(2, {"gap": 1.0, "energies": np.zeros(3)})
        except StoreError as exc:
            error = str(exc)
        store.write_task(3, {"gap": 2.5})  # a partial row: other fields stay at their fill value
    store.close()
    error = comm.bcast(error, root=comm.size - 1)
    assert "field 'energies' of row 2: shape (3,), expected (4,)" in error
    data = on_rank0(comm, read_results, path)
    assert list(data["status"]) == [PENDING, FAILED, PENDING, DONE]  # row 2 untouched
    assert data["message"][1].startswith("ConvergenceError: xéé") and len(data["message"][1].encode()) <= 200
    assert np.isnan(data["results/gap"][2]) and data["results/gap"][3] == 2.5
    assert np.all(np.isnan(data["results/energies"][3])) and data["results/iterations"][3] == -1


def test_merge_of_shards_equals_single_run(comm, shared_dir):
    jobs = make_jobs()
    single = os.path.join(shared_dir, "single.h5")
    sweep(comm, single, jobs, ranks_per_task=comm.size)
    shards = []
    for k in range(3):  # shard k of 3: the rows with index % 3 == k (as `--shard k/3`)
        shards.append(os.path.join(shared_dir, f"shard{k}.h5"))
        sweep(comm, shards[-1], jobs, skip=[j.index for j in jobs if j.index % 3 != k])
    merged = os.path.join(shared_dir, "merged.h5")
    counts = on_rank0(comm, merge_shards, merged, shards)
    assert counts == {"done": len(jobs), "failed": 0, "pending": 0}
    a, b = on_rank0(comm, read_results, single), on_rank0(comm, read_results, merged)
    assert set(a) == set(b)
    for name in a:
        if not name.startswith("timings/") and name != "checksum":  # the checksum covers the timings
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    prov = on_rank0(comm, read_provenance, merged)
    assert prov["job_text"] == "name: test\n" and "shard2.h5" in prov["merged_from"]

    with pytest.raises(StoreError, match="exists"):
        on_rank0(comm, merge_shards, merged, shards)
    # the same row done in two shards: fine when equal, an error when different
    counts = on_rank0(comm, lambda: merge_shards(merged, [single] + shards, overwrite=True))
    assert counts["done"] == len(jobs)
    if comm.rank == 0:  # rewrite row 1 of shard 1 with another gap, from one process
        store = ResultsStore.create_or_open(_self(), shards[1], jobs, FIELDS)
        store.write_task(1, {**expected_row(jobs[1]), "gap": -7.0})
        store.close()
    comm.Barrier()
    with pytest.raises(
        StoreError,
        match=r"row 1 \('job-001'\) is done in both .*single\.h5 and .*shard1\.h5 "
        r"with different 'gap'",
    ):
        on_rank0(comm, lambda: merge_shards(merged, [single, shards[1]], overwrite=True))


def _self():
    from mpi4py import MPI

    return MPI.COMM_SELF


STRUCTURE_FIELDS = [
    FieldSpec("energy_ev", (), "f8", "eV", "relaxed energy"),
    FieldSpec("converged", (), "i1", "1", "1 if converged"),
    FieldSpec("strain", ("n_atoms",), "f8", "1", "per-atom strain"),
]


def test_structure_store_round_trip(comm, shared_dir):
    path = os.path.join(shared_dir, "structures.h5")
    structures = {"R1_H1_seed7": 17, "R2_H1_seed7": 41, "R1_H1_seed8": 17}
    keys = sorted(structures)

    def relaxed(key):
        n = structures[key]
        seed = int(key.split("seed")[1])
        return {
            "positions": np.arange(3 * n, dtype=float).reshape(n, 3) * 0.5 + seed,
            "energy_ev": -0.1 * n,
            "converged": 1,
            "strain": np.full(n, 1e-3 * seed),
            "species": np.arange(n, dtype=np.int8) % 5,
        }

    jobs = [Job(i, k, structures[k], 0.0, 0.0, "STR", 0) for i, k in enumerate(keys)]
    store = StructureStore.create_or_open(comm, path, structures, STRUCTURE_FIELDS, {"stage": "relax"})
    assert store.done_keys == frozenset()

    def on_done(job, result, error, seconds):
        if error is None:
            store.write_structure(job.key, result, seconds=seconds)
        else:
            store.mark_failed(job.key, error, seconds=seconds)

    def relax(group, job):
        if job.key == "R1_H1_seed8":
            raise RuntimeError("TAO diverged")
        return relaxed(job.key)

    summary = run_farm(comm, jobs, 1, relax, on_done, progress="none")
    store.close()
    assert summary.n_done == 2 and summary.n_failed == 1

    store = StructureStore.create_or_open(comm, path, dict(reversed(list(structures.items()))), STRUCTURE_FIELDS)
    assert store.done_keys == {"R1_H1_seed7", "R2_H1_seed7"}
    store.close()
    for key in ("R1_H1_seed7", "R2_H1_seed7"):
        got = on_rank0(comm, read_structure, path, key)
        for name, value in relaxed(key).items():
            np.testing.assert_array_equal(got[name], value, err_msg=name)
        assert got["n_atoms"] == structures[key]
    with pytest.raises(
        StructureMissingError,
        match=r"'R1_H1_seed8' .*relaxation failed: RuntimeError: TAO diverged; run `hpc-nc relax JOB`",
    ):
        on_rank0(comm, read_structure, path, "R1_H1_seed8")
    with pytest.raises(
        StructureMissingError, match=r"'R9_H1_seed1' is not in .*structures\.h5; run `hpc-nc relax JOB`"
    ):
        on_rank0(comm, read_structure, path, "R9_H1_seed1")
    with pytest.raises(StructureMissingError, match="does not exist"):
        on_rank0(comm, read_structure, path + ".missing", "R1_H1_seed7")
    with pytest.raises(StoreError, match="different structure list"):
        StructureStore.create_or_open(comm, path, {"R1_H1_seed7": 17}, STRUCTURE_FIELDS)


def test_ranks_with_different_paths_fail_instead_of_hanging(comm, shared_dir):
    if comm.size == 1:
        pytest.skip("needs 2 ranks: one rank cannot disagree with itself")
    path = os.path.join(shared_dir, f"rank{comm.rank}.h5")  # a classic bug: a per-rank file name
    with pytest.raises(StoreError, match="the ranks passed different file names"):
        ResultsStore.create_or_open(comm, path, make_jobs(2), FIELDS)


def test_corrupt_rows_and_the_lock_are_seen_by_every_rank(comm, shared_dir):
    """Checksums are verified on rank 0 and shared: every rank skips the same rows; a second
    opening while the file is held fails on every rank (no hang)."""
    from hpc_nc.io.store import CORRUPT, lock_path

    jobs = make_jobs()
    path = os.path.join(shared_dir, "corrupt.h5")
    sweep(comm, path, jobs)
    if comm.rank == 0:  # 8 bytes of row 3's gap overwritten behind the store's back
        import h5py

        with h5py.File(path, "r") as f:
            offset = f["results/gap"].id.get_offset() + 3 * 8
        with open(path, "r+b") as fh:
            fh.seek(offset)
            fh.write(b"\xff" * 8)
    comm.Barrier()
    store = ResultsStore.create_or_open(comm, path, jobs, FIELDS)
    try:
        assert store.corrupt == {3} and store.done == set(range(len(jobs))) - {3}
        with pytest.raises(StoreError, match="being written by another run"):
            ResultsStore.create_or_open(comm, path, jobs, FIELDS)
        # the farm recomputes exactly the corrupt row
        summary = run_farm(comm, jobs, 1, compute, store.record, skip=sorted(store.done), progress="none")
        assert summary.n_done == 1
    finally:
        store.close()
    comm.Barrier()  # rank 0 removes the lock file after its close
    assert not os.path.exists(lock_path(path))
    data = on_rank0(comm, read_results, path)
    assert CORRUPT not in data["status"] and data["results/gap"][3] == expected_row(jobs[3])["gap"]
