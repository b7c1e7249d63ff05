"""Parallel HDF5 stores: one row per task (results) or per relaxed structure (structures).

Both files are laid out completely before any task runs, so that a running sweep only
overwrites raw data in space that already exists: no dataset, group or attribute is created
or resized afterwards, every dataset is contiguous with its space allocated and filled at
creation (``H5D_ALLOC_TIME_EARLY``, ``H5D_FILL_TIME_ALLOC``) and ``track_times=False`` (no
modification times in object headers). A process killed at any moment (SIGKILL included)
therefore cannot damage HDF5 metadata; at worst it leaves a row partly written. Each row is
written data first, then its ``status`` flag, then its ``checksum`` (64-bit BLAKE2b of the
row's key, status, message, timings and fields): a row counts as done or failed only if its
checksum matches, so a partly written or later damaged row reads as corrupt and is recomputed
on resume (:func:`verified_status`; ``hpc-nc verify``). The file is built in memory and
written under ``<path>.creating``, then renamed, so a kill or a full disk during creation
leaves no half-made results file either. While a run has a file open for writing it holds an
exclusive ``flock`` on ``<path>.lock``; a second run stops with a message naming the holder.

Writes are independent I/O from a single rank (the root of the task's group); in parallel
(``driver="mpio"``) every rank holds the file open and no collective call happens between
opening and closing. In serial mode the file is flushed after each row. (A flush is
collective with MPI-IO; there, MPI-IO writes go straight to the operating system, which keeps
them across a killed process but not across a crashed node.)

Results file layout (``ResultsStore``; n = number of tasks, rows are ``Task.index``); the
fields, their units and doc text are defined once in :mod:`hpc_nc.io.schema`:

========================  ===================  ========  =====  ==========================================
dataset                   shape                dtype     units  meaning
========================  ===================  ========  =====  ==========================================
``tasks/<parameter>``     (n,)                 i8/f8/S   (attr) task parameters as columns: index, key,
                                                                x_cu, x_in, core_radius_a, shell_thickness_a,
                                                                vbo_ins, vbo_cus, model, realization, seed,
                                                                n_atoms, structure_key (whatever the Task has)
``status``                (n,)                 int8      1      0 pending, 1 done, 2 failed
``message``               (n,)                 S200      1      one-line error of a failed task (UTF-8)
``timings/wall_seconds``  (n,)                 f8        s      wall time of the task on its group
``timings/finished_unix`` (n,)                 f8        s      when the row was written (Unix time)
``results/<field>``       (n, \\*shape)         field's   field  one ``FieldSpec`` each (caller's schema)
``results/<field>``       (sum n_atoms, ...)   field's   field  per-atom field (shape starts "n_atoms"):
                                                                rows concatenated, see ``atom_offsets``
``atom_offsets``          (n + 1,)             i8        1      row i's atoms are [off[i], off[i+1])
``checksum``              (n,)                 u8        1      BLAKE2b-64 of the row, written last
``runs/log``              (64,)                S4096     1      JSON record of each run that wrote
========================  ===================  ========  =====  ==========================================

Structures file schema (``StructureStore``; m = number of structure keys): the same with
``structures/key`` and ``structures/n_atoms`` instead of ``tasks/...``, and the built-in
per-atom fields ``results/positions`` (sum n_atoms, 3) f8 Å (relaxed positions, Nanocrystal
atom order) and ``results/species`` (sum n_atoms,) i1 (codes of ``schema.SPECIES``) next to
the caller's fields (energy, max force, convergence, strain ...).

Every dataset carries ``units`` and ``doc`` attributes. Fill values (what a pending row
holds): NaN for floating and complex fields, -1 for signed integers, 0 for unsigned, False
for booleans, empty for strings, 0 (no checksum) for ``checksum``. File attributes:
``format`` ("hpc_nc.results" or "hpc_nc.structures"), ``schema_version`` (checked on every
open), ``hpc_nc_version``, ``n_rows``, ``row_keys_sha256``, ``species_names`` and the
caller's provenance dict (one attribute per key; dicts and lists as JSON text;
strings longer than 16 kB as scalar datasets ``provenance/<key>``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hpc_nc import __version__
from hpc_nc.errors import HpcNcError, StructureMissingError
from hpc_nc.io.schema import (  # noqa: F401
    COLUMN_UNITS,
    CORRUPT,
    DONE,
    FAILED,
    MESSAGE_BYTES,
    PENDING,
    PER_ATOM,
    POSITIONS,
    RESULTS_FORMAT,
    ROW_DATASETS,
    SCHEMA_VERSION,
    SPECIES,
    SPECIES_FIELD,
    STATUS_NAMES,
    STRUCTURES_FORMAT,
    FieldSpec,
    SchemaError,
    check_version,
    column_doc,
)

# Debian's h5py loads its MPI build only if this is set before the first import of h5py.
os.environ.setdefault("H5PY_ALWAYS_USE_MPI", "1")
# HDF5 >= 1.10 file locks make a reader (`hpc-nc status` during a sweep) fail on a file a
# writer holds open; writers exclude each other with our own lock file instead (_acquire_lock).
os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")

_LONG_TEXT = 16000  # bytes; longer provenance strings become datasets (64 kB attribute limit)
_RUN_SLOTS, _RUN_BYTES = 64, 4096  # runs/log: one JSON record per opening for writing
_IMAGE_MAX_BYTES = 1 << 30  # files up to this size are built in memory, then written (see _create_file)
# Attributes the store itself writes (not provenance).
_OWN_ATTRS = ("format", "schema_version", "hpc_nc_version", "n_rows", "row_keys_sha256", "species_names")
# Provenance entries that may change between runs of one file, with a warning (issue: results
# are rank-independent to rounding, not bit for bit, so a change is worth a note).
WARN_ON_CHANGE = ("ranks_per_task", "petsc_options")
RUN_RECORD_KEYS = ("hpc_nc_version", "stage", "mpi_size", "ranks_per_task", "petsc_options", "command_line")


class StoreError(HpcNcError):
    """A results or structures file that does not fit the job, or a malformed row."""


def _h5py():
    import h5py

    return h5py


def _fill_value(dtype: np.dtype):
    if dtype.kind in "fc":
        return np.array(np.nan, dtype=dtype)
    if dtype.kind == "i":
        return np.array(-1, dtype=dtype)
    if dtype.kind == "S":
        return np.array(b"", dtype=dtype)
    return np.zeros((), dtype=dtype)


def _create_dataset(parent, name, shape, dtype, units, doc, data=None, fill=None):
    """Contiguous dataset with space allocated and filled now (see module docstring)."""
    h5py = _h5py()
    dtype = np.dtype(dtype)
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_ALLOC)
    fill = _fill_value(dtype) if fill is None else np.array(fill, dtype=dtype)
    ds = parent.create_dataset(name, shape=tuple(shape), dtype=dtype, fillvalue=fill, track_times=False, dcpl=dcpl)
    if data is not None and ds.size:
        ds[...] = data
    ds.attrs["units"] = units
    ds.attrs["doc"] = doc
    return ds


def _column(values: list) -> np.ndarray:
    """A task parameter column as a fixed-size HDF5-friendly numpy array."""
    if all(isinstance(v, (bool, np.bool_)) for v in values):
        return np.asarray(values, dtype=np.int8)
    if all(isinstance(v, (int, np.integer)) for v in values):
        return np.asarray(values, dtype=np.int64)
    if all(isinstance(v, (int, float, np.integer, np.floating)) for v in values):
        return np.asarray(values, dtype=np.float64)
    text = [(v if isinstance(v, str) else json.dumps(v, default=str)).encode() for v in values]
    return np.asarray(text, dtype=f"S{max([1] + [len(t) for t in text])}")


def _task_columns(tasks: Sequence) -> dict[str, np.ndarray]:
    if not tasks:
        return {"index": np.zeros(0, np.int64), "key": np.zeros(0, "S1")}
    first = tasks[0]
    names = [f.name for f in dataclasses.fields(first)] if dataclasses.is_dataclass(first) else list(vars(first))
    return {name: _column([getattr(t, name) for t in tasks]) for name in names}


def _keys_hash(keys: np.ndarray) -> str:
    h = hashlib.sha256()
    for k in keys:
        h.update(bytes(k) + b"\0")
    return h.hexdigest()


def _attr_value(value):
    """A provenance value as stored: dicts and lists as JSON text, other objects as text."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    if value is None:
        return "null"
    if not isinstance(value, (str, bytes, int, float, bool, np.integer, np.floating)):
        return str(value)
    return value


def _stored_provenance(f, name):
    if name in f.attrs:
        value = f.attrs[name]
        return value.item() if isinstance(value, np.generic) else value
    if "provenance" in f and name in f["provenance"]:
        return f["provenance"][name][()].decode()
    return None


def _set_provenance(f, provenance: Mapping[str, Any]) -> None:
    for name, value in provenance.items():
        value = _attr_value(value)
        if isinstance(value, str) and len(value.encode()) > _LONG_TEXT:
            data = value.encode()
            f.require_group("provenance").create_dataset(name, data=np.array(data, dtype=f"S{len(data)}"))
        else:
            f.attrs[name] = value


def _decode(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind == "S":
        return np.char.decode(arr, "utf-8")
    return arr


def _spec_of(ds) -> dict:
    return {
        "dtype": np.dtype(ds.dtype).str,
        "units": str(ds.attrs.get("units", "")),
        "per_atom": bool(ds.attrs.get("per_atom", False)),
        "shape_per_task": tuple(int(n) for n in ds.attrs.get("shape_per_task", ())),
    }


def _spec_dict(spec: FieldSpec) -> dict:
    return {
        "dtype": np.dtype(spec.dtype).str,
        "units": spec.units,
        "per_atom": spec.per_atom,
        "shape_per_task": tuple(int(n) for n in spec.shape_per_task[1 if spec.per_atom else 0 :]),
    }


def _layout_bytes(
    n_rows: int, n_atoms_total: int, columns: Mapping[str, np.ndarray], fields: Sequence[FieldSpec]
) -> int:
    """Size of a new file's raw data plus a generous allowance for HDF5 metadata (bytes)."""
    raw = sum(int(col.nbytes) for col in columns.values())
    raw += n_rows * (1 + MESSAGE_BYTES + 8 + 8 + 8) + 8 * (n_rows + 1) + _RUN_SLOTS * _RUN_BYTES
    for spec in fields:
        per = int(np.prod(spec.shape_per_task[1 if spec.per_atom else 0 :], dtype=np.int64))
        raw += np.dtype(spec.dtype).itemsize * per * (n_atoms_total if spec.per_atom else n_rows)
    return int(raw) + 64 * 1024 + 4096 * (len(columns) + len(fields) + 16)


def _populate(
    f,
    fmt: str,
    row_group: str,
    columns: Mapping[str, np.ndarray],
    offsets: np.ndarray,
    fields: Sequence[FieldSpec],
    provenance: Mapping[str, Any],
) -> None:
    """Write the complete, empty layout into the open (new) file ``f`` (module docstring)."""
    n = len(columns["key"])
    f.attrs["format"] = fmt
    f.attrs["schema_version"] = SCHEMA_VERSION
    f.attrs["hpc_nc_version"] = __version__
    f.attrs["n_rows"] = n
    f.attrs["row_keys_sha256"] = _keys_hash(columns["key"])
    f.attrs["species_names"] = json.dumps(list(SPECIES))
    _set_provenance(f, provenance)
    rows = f.create_group(row_group)
    for name, col in columns.items():
        _create_dataset(rows, name, col.shape, col.dtype, COLUMN_UNITS.get(name, "1"), column_doc(name), data=col)
    _create_dataset(f, "status", (n,), np.int8, *ROW_DATASETS["status"], fill=PENDING)
    _create_dataset(f, "message", (n,), f"S{MESSAGE_BYTES}", *ROW_DATASETS["message"])
    timings = f.create_group("timings")
    _create_dataset(timings, "wall_seconds", (n,), np.float64, *ROW_DATASETS["timings/wall_seconds"])
    _create_dataset(timings, "finished_unix", (n,), np.float64, *ROW_DATASETS["timings/finished_unix"])
    _create_dataset(f, "atom_offsets", (n + 1,), np.int64, *ROW_DATASETS["atom_offsets"], data=offsets)
    _create_dataset(f, "checksum", (n,), np.uint64, *ROW_DATASETS["checksum"])
    runs = f.create_group("runs")
    _create_dataset(
        runs,
        "log",
        (_RUN_SLOTS,),
        f"S{_RUN_BYTES}",
        "1",
        "one JSON record per run that opened the file for writing (time, host, pid, MPI size, "
        "ranks_per_task, PETSc options, command line); the last slot is reused when all are taken",
    )
    results = f.create_group("results")
    for spec in fields:
        shape = (int(offsets[-1]),) + spec.shape_per_task[1:] if spec.per_atom else (n,) + spec.shape_per_task
        ds = _create_dataset(results, spec.name, shape, spec.dtype, spec.units, spec.doc)
        ds.attrs["per_atom"] = spec.per_atom
        ds.attrs["shape_per_task"] = np.asarray(_spec_dict(spec)["shape_per_task"], dtype=np.int64)


def _write_all(fd: int, data) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _create_file(
    path: str,
    fmt: str,
    row_group: str,
    columns: Mapping[str, np.ndarray],
    n_atoms: np.ndarray,
    fields: Sequence[FieldSpec],
    provenance: Mapping[str, Any],
) -> None:
    """Serial: write the complete, empty layout to ``path``.

    A file up to ``_IMAGE_MAX_BYTES`` is built in memory (HDF5 core driver) and written with
    plain ``os.write``: a full disk then raises a clean OSError (ENOSPC). HDF5 itself, when a
    write fails while it creates or closes a file, leaves objects behind whose release crashes
    the process (SEGV, seen with h5py 3.7 / HDF5 1.10), so larger files are created directly
    only after the caller checked the free space (``_check_space``).
    """
    h5py = _h5py()
    offsets = np.concatenate([[0], np.cumsum(n_atoms, dtype=np.int64)]).astype(np.int64)
    size = _layout_bytes(len(columns["key"]), int(offsets[-1]), columns, fields)
    if size > _IMAGE_MAX_BYTES:
        with h5py.File(path, "w", libver="earliest") as f:
            _populate(f, fmt, row_group, columns, offsets, fields, provenance)
        return
    with h5py.File(f"{path}.image", "w", driver="core", backing_store=False, libver="earliest") as f:
        _populate(f, fmt, row_group, columns, offsets, fields, provenance)
        f.flush()
        image = f.id.get_file_image()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        _write_all(fd, image)
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_space(path: str, n_rows: int, n_atoms_total: int, columns, fields) -> None:
    need = _layout_bytes(n_rows, n_atoms_total, columns, fields)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    except OSError:
        return
    if free < need:
        raise StoreError(
            f"cannot create {path}: it needs about {need / 2**20:.1f} MiB and {folder} has "
            f"{free / 2**20:.1f} MiB free; free some space or choose another output path"
        )


# -- row checksums --------------------------------------------------------------------------
def _digest(parts) -> np.uint64:
    """64-bit BLAKE2b of the byte strings ``parts``; never 0 (0 = no checksum written)."""
    h = hashlib.blake2b(digest_size=8)
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    value = int.from_bytes(h.digest(), "little")
    return np.uint64(value or 1)


def _row_parts(
    key_raw: bytes,
    status: int,
    message_raw: bytes,
    wall: float,
    finished: float,
    field_bytes: Sequence[tuple[str, bytes]],
):
    """What a row's checksum covers: fields only for done rows (a failed row's are fill values)."""
    yield key_raw
    yield np.int8(status).tobytes()
    yield message_raw
    yield np.float64(wall).tobytes()
    yield np.float64(finished).tobytes()
    if status == DONE:
        for name, data in field_bytes:
            yield name.encode()
            yield data


def _exact(arr, dtype) -> bytes:
    return np.ascontiguousarray(np.asarray(arr, dtype=dtype)).tobytes()


def verified_status(f, *, rows=None, block_rows: int = 512) -> np.ndarray:
    """Serial: ``status`` of an open file with CORRUPT for rows whose checksum does not match.

    Pending rows are not checked (they hold nothing); a done or failed row counts only with a
    matching checksum, and a status value other than pending/done/failed is corrupt too. Reads
    the file in blocks of ``block_rows`` rows (memory: one block of every field); ``rows``
    limits the check to those rows (the others keep their stored status).
    """
    status = f["status"][...].astype(np.int8)
    out = status.copy()
    out[~np.isin(status, (PENDING, DONE, FAILED))] = CORRUPT
    n = len(status)
    if "checksum" not in f:
        raise SchemaError(f"{f.filename} has no row checksums")
    row_group = "tasks" if "tasks" in f else "structures"
    offsets = f["atom_offsets"][...]
    names = sorted(f["results"])
    per_atom = {name: bool(f["results"][name].attrs.get("per_atom", False)) for name in names}
    wanted = np.ones(n, dtype=bool)
    if rows is not None:
        wanted[:] = False
        wanted[np.asarray(list(rows), dtype=np.int64)] = True
    starts = range(0, n, block_rows) if rows is None else sorted({int(r) // block_rows * block_rows for r in rows})
    for a in starts:
        b = min(n, a + block_rows)
        check = np.flatnonzero(np.isin(status[a:b], (DONE, FAILED)) & wanted[a:b]) + a
        if check.size == 0:
            continue
        keys = f[f"{row_group}/key"][a:b]
        messages = f["message"][a:b]
        wall = f["timings/wall_seconds"][a:b]
        finished = f["timings/finished_unix"][a:b]
        stored = f["checksum"][a:b]
        lo, hi = int(offsets[a]), int(offsets[b])
        data = {name: (f["results"][name][lo:hi] if per_atom[name] else f["results"][name][a:b]) for name in names}
        for row in check:
            i = row - a
            fields = []
            if status[row] == DONE:
                s, e = int(offsets[row]) - lo, int(offsets[row + 1]) - lo
                fields = [
                    (name, _exact(data[name][s:e] if per_atom[name] else data[name][i], data[name].dtype))
                    for name in names
                ]
            digest = _digest(
                _row_parts(
                    keys[i : i + 1].tobytes(),
                    int(status[row]),
                    messages[i : i + 1].tobytes(),
                    wall[i],
                    finished[i],
                    fields,
                )
            )
            if digest != stored[i]:
                out[row] = CORRUPT
    return out


# -- exclusive lock of a file being written ---------------------------------------------------
def lock_path(path: str) -> str:
    return f"{path}.lock"


def _acquire_lock(path: str) -> int:
    """Exclusive flock on ``<path>.lock``; StoreError naming the holder if another run has it.

    The lock file holds the holder's host, pid and start time. It is removed on release; a
    lock taken on a lock file that was removed meanwhile is retried (inode check).
    """
    import fcntl
    import socket

    lock = lock_path(path)
    for _attempt in range(10):
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot create the lock file {lock}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = os.read(fd, 512).decode(errors="replace").strip() or "unknown"
            finally:
                os.close(fd)
            raise StoreError(
                f"{path} is being written by another run ({holder}); wait for it to finish, or use "
                f"another output path (if no such run exists, remove {lock})"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # the previous holder removed the file between our open and flock
            os.close(fd)
            continue
        text = f"host {socket.gethostname()}, pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}"
        try:  # who holds it, for the message of a second run; the flock alone is the lock
            os.ftruncate(fd, 0)
            os.write(fd, text.encode())
        except OSError:
            pass
        return fd
    raise StoreError(f"cannot lock {lock}: it keeps being replaced")


def _release_lock(path: str, fd: int | None) -> None:
    if fd is None:
        return
    try:
        os.remove(lock_path(path))
    except OSError:
        pass
    os.close(fd)


class _RowStore:
    """Common machinery of the results and structures files (one row per key)."""

    FORMAT = ""
    ROW_GROUP = ""
    WHAT = ""  # "task list" / "structure list", for messages

    def __init__(self, comm, path, f, fields, keys, parallel, status, lock_fd=None):
        self.comm, self.path, self._file, self.parallel = comm, path, f, parallel
        self._lock_fd = lock_fd
        self.fields = {spec.name: spec for spec in fields}
        self.keys = list(keys)
        self.row_of_key = {k: i for i, k in enumerate(self.keys)}
        # Open every dataset now, on every rank, so that later writes from one rank need no
        # (possibly collective) object opening.
        self._ds = {name: f[f"results/{name}"] for name in self.fields}
        self._status, self._message = f["status"], f["message"]
        self._wall, self._finished = f["timings/wall_seconds"], f["timings/finished_unix"]
        self._checksum = f["checksum"]
        self._key_raw = f[f"{self.ROW_GROUP}/key"][...]
        self._offsets = f["atom_offsets"][...]
        self.done = frozenset(int(i) for i in np.flatnonzero(status == DONE))
        self.failed = frozenset(int(i) for i in np.flatnonzero(status == FAILED))
        self.corrupt = frozenset(int(i) for i in np.flatnonzero(status == CORRUPT))

    # -- creation / opening -------------------------------------------------------------
    @classmethod
    def _create_or_open(cls, comm, path, columns, n_atoms, fields, provenance, must_match=()):
        """Collective: lock ``path`` (rank 0), create it if missing (rank 0, serially), then
        open it everywhere and verify every row's checksum (rank 0)."""
        h5py = _h5py()
        path = os.fspath(path)
        fields = list(fields)
        parallel = comm.size > 1
        error = None
        lock_fd = None
        paths = comm.allgather(path)
        if len(set(paths)) > 1:  # MPI_File_open with different names would hang, not fail
            error = f"the ranks passed different file names ({paths[0]}, {paths[-1]}, ...); pass the same path"
        elif parallel and not h5py.get_config().mpi:
            error = (
                f"h5py has no MPI support, so {comm.size} ranks cannot share {path}; install "
                "parallel h5py (Debian: python3-h5py-mpi, with H5PY_ALWAYS_USE_MPI=1 set)"
            )
        elif comm.rank == 0:
            try:
                lock_fd = _acquire_lock(path)
                if os.path.exists(path) and os.path.isfile(path) and os.path.getsize(path) == 0:
                    raise StoreError(
                        f"{path} is empty (0 bytes), not an hpc_nc {cls.ROW_GROUP} file; it is left "
                        "as it is: remove it to start afresh, or use another output path"
                    )
                if os.path.exists(path) and not os.path.isfile(path):
                    raise StoreError(f"{path} exists and is not a regular file; use another output path")
                if not os.path.exists(path):
                    _check_space(path, len(columns["key"]), int(np.sum(n_atoms)), columns, fields)
                    tmp = path + ".creating"
                    try:
                        _create_file(tmp, cls.FORMAT, cls.ROW_GROUP, columns, n_atoms, fields, provenance)
                        os.replace(tmp, path)
                    except Exception as exc:  # noqa: BLE001 - reported on every rank below
                        try:
                            os.remove(tmp)
                        except OSError:
                            pass
                        why = (
                            exc.strerror
                            if isinstance(exc, OSError) and exc.strerror
                            else f"{type(exc).__name__}: {exc}"
                        )
                        raise StoreError(f"cannot create {path}: {why}") from None
            except StoreError as exc:
                error = str(exc)
                _release_lock(path, lock_fd)
                lock_fd = None
        error = comm.bcast(error, root=0)
        if error:
            raise StoreError(error)

        try:
            f = h5py.File(path, "r+", driver="mpio", comm=comm) if parallel else h5py.File(path, "r+")
        except Exception as exc:  # noqa: BLE001 - the same failure on every rank
            if comm.rank == 0:
                _release_lock(path, lock_fd)
            raise StoreError(
                f"cannot open {path}: {_short(exc)}; if it is damaged, `hpc-nc salvage {path} NEW.h5` "
                "recovers the readable rows"
            ) from None
        status = None
        if comm.rank == 0:
            try:
                error = cls._mismatch(f, path, columns["key"], fields)
                for name in must_match:
                    if error is None and _stored_provenance(f, name) != _attr_value(provenance.get(name)):
                        error = (
                            f"{path} was made with a different {name} than this job's; results "
                            "would mix settings: use another output path or remove the file"
                        )
                if error is None:
                    status = verified_status(f)
                    _note_run(f, path, provenance, status, flush=not parallel)
            except SchemaError as exc:
                error = str(exc)
            except Exception as exc:  # noqa: BLE001 - e.g. a foreign HDF5 file; reported everywhere
                error = f"{path} is not a valid hpc_nc {cls.ROW_GROUP} file ({type(exc).__name__}: {exc})"
        error = comm.bcast(error, root=0)
        if error:
            f.close()
            if comm.rank == 0:
                _release_lock(path, lock_fd)
            raise StoreError(error)
        status = comm.bcast(status, root=0)
        keys = [k.decode() for k in columns["key"]]
        return cls(comm, path, f, fields, keys, parallel, status, lock_fd)

    @classmethod
    def _mismatch(cls, f, path, keys, fields) -> str | None:
        """Why the open file ``f`` does not belong to this job, or None."""
        fmt = f.attrs.get("format", "")
        if fmt != cls.FORMAT:
            return f"{path} is not an hpc_nc {cls.ROW_GROUP} file (format {fmt!r}, expected {cls.FORMAT!r})"
        check_version(f.attrs, path)  # SchemaError: one line naming both versions
        stored = f[f"{cls.ROW_GROUP}/key"][...]
        if len(stored) != len(keys) or not np.array_equal(stored, keys):
            diff = next((i for i, (a, b) in enumerate(zip(stored, keys)) if a != b), min(len(stored), len(keys)))
            a = stored[diff].decode() if diff < len(stored) else "(none)"
            b = keys[diff].decode() if diff < len(keys) else "(none)"
            return (
                f"{path} belongs to a different {cls.WHAT} ({len(stored)} rows in the file, "
                f"{len(keys)} in this job; first difference at row {diff}: {a!r} in the file vs "
                f"{b!r}); use another output path or remove the file"
            )
        stored_fields = {name: _spec_of(ds) for name, ds in f["results"].items()}
        wanted = {spec.name: _spec_dict(spec) for spec in fields}
        if stored_fields != wanted:
            names = sorted(set(stored_fields) ^ set(wanted)) or sorted(
                n for n in wanted if stored_fields[n] != wanted[n]
            )
            return (
                f"{path} was written with different result fields (differing: {', '.join(names)}); "
                "use another output path or remove the file"
            )
        return None

    # -- writing (independent, from the one rank that owns the row) ---------------------
    def _write_row(self, row: int, values: Mapping[str, Any], seconds: float) -> None:
        if not 0 <= row < len(self.keys):
            raise StoreError(f"row {row} is outside {self.path} ({len(self.keys)} rows)")
        unknown = sorted(set(values) - set(self.fields))
        if unknown:
            raise StoreError(f"{self.path} has no field(s) {', '.join(unknown)} (known: {', '.join(self.fields)})")
        start, stop = int(self._offsets[row]), int(self._offsets[row + 1])
        prepared = {}
        for name, spec in self.fields.items():  # check everything before writing anything
            want = spec.row_shape(stop - start)
            dtype = np.dtype(spec.dtype)
            if name not in values:  # a missing field holds its fill value (as a pending row)
                prepared[name] = np.broadcast_to(_fill_value(dtype), want).copy()
                continue
            arr = np.asarray(values[name])
            if arr.shape != want:
                raise StoreError(f"field {name!r} of row {row}: shape {arr.shape}, expected {want}")
            if arr.dtype.kind == "U":
                arr = np.char.encode(arr, "utf-8")
            prepared[name] = np.ascontiguousarray(arr.astype(dtype, copy=False))
        for name, arr in prepared.items():
            if self.fields[name].per_atom:
                self._ds[name][start:stop] = arr
            else:
                self._ds[name][row] = arr
        finished = time.time()
        message = np.zeros(1, dtype=f"S{MESSAGE_BYTES}")
        self._wall[row] = seconds
        self._finished[row] = finished
        self._message[row] = message[0]
        self._flush()
        self._status[row] = DONE  # then the checksum: only a complete, checked row counts as done
        self._flush()
        fields = [(name, prepared[name].tobytes()) for name in sorted(prepared)]
        self._checksum[row] = _digest(
            _row_parts(self._key_raw[row : row + 1].tobytes(), DONE, message.tobytes(), seconds, finished, fields)
        )
        self._flush()

    def _fail_row(self, row: int, message: str, seconds: float) -> None:
        text = " ".join(str(message).split()).encode("utf-8")[:MESSAGE_BYTES]
        text = text.decode("utf-8", errors="ignore").encode("utf-8")  # no cut multi-byte character
        raw = np.array([text], dtype=f"S{MESSAGE_BYTES}")
        finished = time.time()
        self._wall[row] = seconds
        self._message[row] = raw[0]
        self._finished[row] = finished
        self._flush()
        self._status[row] = FAILED
        self._flush()
        self._checksum[row] = _digest(
            _row_parts(self._key_raw[row : row + 1].tobytes(), FAILED, raw.tobytes(), seconds, finished, ())
        )
        self._flush()

    def _flush(self) -> None:
        # H5Fflush is collective with MPI-IO, and MPI-IO writes bypass HDF5's buffers anyway.
        if not self.parallel:
            self._file.flush()

    def close(self) -> None:
        """Collective: close the file on every rank of the store's communicator; release the lock."""
        if self._file is not None:
            self._ds.clear()
            self._file.close()
            self._file = None
        if self._lock_fd is not None:
            _release_lock(self.path, self._lock_fd)
            self._lock_fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _short(exc: BaseException) -> str:
    """First line of an exception's text (HDF5 messages run over several lines)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _note_run(f, path: str, provenance: Mapping[str, Any], status: np.ndarray, *, flush: bool) -> None:
    """Rank 0, at opening for writing: warn about corrupt rows and changed run settings, and
    record this run in ``runs/log`` (raw data written into space that exists already)."""
    import socket
    import sys

    corrupt = np.flatnonzero(status == CORRUPT)
    if corrupt.size:
        listed = ", ".join(str(int(i)) for i in corrupt[:10]) + (" ..." if corrupt.size > 10 else "")
        print(
            f"hpc-nc: warning: {path}: {corrupt.size} row(s) fail their checksum and will be recomputed "
            f"(rows {listed})",
            file=sys.stderr,
            flush=True,
        )
    record = {k: _attr_value(provenance[k]) for k in RUN_RECORD_KEYS if k in provenance}
    log = f["runs/log"]
    texts = [bytes(t).decode(errors="replace") for t in log[...]]
    previous = {k: _stored_provenance(f, k) for k in WARN_ON_CHANGE}  # the creating run's
    for text in texts:
        if text:
            try:
                previous = json.loads(text)
            except ValueError:
                pass
    if np.any(status == DONE):
        for key in WARN_ON_CHANGE:
            if key in record and key in previous and previous[key] != record[key]:
                print(
                    f"hpc-nc: warning: {path}: resuming with {key} = {record[key]} (the previous run used "
                    f"{previous[key]}); results agree to rounding, not bit for bit",
                    file=sys.stderr,
                    flush=True,
                )
    record.update(unix=time.time(), host=socket.gethostname(), pid=os.getpid())
    slot = next((i for i, t in enumerate(texts) if not t), len(texts) - 1)
    data = json.dumps(record, sort_keys=True, default=str).encode()
    if len(data) > _RUN_BYTES:
        record.pop("command_line", None)
        data = json.dumps(record, sort_keys=True, default=str).encode()[:_RUN_BYTES]
    log[slot] = data
    if flush:  # serial only: H5Fflush is collective with MPI-IO (and `f.driver` asks all ranks too)
        f.flush()


class ResultsStore(_RowStore):
    """The results file of one job: one row per task (row = ``Task.index``)."""

    FORMAT = RESULTS_FORMAT
    ROW_GROUP = "tasks"
    WHAT = "task list"

    @classmethod
    def create_or_open(
        cls,
        comm,
        path,
        tasks: Sequence,
        fields: Sequence[FieldSpec],
        provenance: Mapping[str, Any] | None = None,
        *,
        must_match: Sequence[str] = (),
    ) -> ResultsStore:
        """Collective: create the results file for ``tasks`` or reopen it to resume.

        ``tasks`` must have indices 0..n-1 (any order) and unique keys. A new file gets the
        complete layout and ``provenance`` (taken from rank 0) as attributes; an existing one
        must hold the same task keys in the same rows and the same fields, otherwise
        :class:`StoreError` names the file and the first difference. ``must_match`` names
        provenance entries (e.g. solver settings) that an existing file must hold with the same
        value, so that a resumed sweep never mixes results of different settings.
        ``store.done`` (task indices already done, to pass as ``skip``) and ``store.failed``
        are set on every rank.
        """
        tasks = sorted(tasks, key=lambda t: int(t.index))
        if [int(t.index) for t in tasks] != list(range(len(tasks))):
            raise StoreError("task indices must be 0..n-1, one task per results row")
        if len({t.key for t in tasks}) != len(tasks):
            raise StoreError("task keys are not unique")
        columns = _task_columns(tasks)
        n_atoms = np.asarray([int(getattr(t, "n_atoms", 0)) for t in tasks], dtype=np.int64)
        provenance = comm.bcast(dict(provenance or {}), root=0)
        return cls._create_or_open(comm, path, columns, n_atoms, fields, provenance, must_match)

    def write_task(self, index: int, result: Mapping[str, Any], *, seconds: float = float("nan")) -> None:
        """Independent (one rank): store a done task's fields (missing fields stay NaN/empty).

        Data go first, the status flag last, each followed by a flush in serial mode.
        Raises :class:`StoreError` for unknown fields or wrong shapes, before writing anything.
        """
        self._write_row(int(index), result, seconds)

    def mark_failed(self, index: int, message: str, *, seconds: float = float("nan")) -> None:
        """Independent (one rank): record task ``index`` as failed with a one-line message."""
        self._fail_row(int(index), message, seconds)

    def record(self, task, result, error, seconds: float = float("nan")) -> None:
        """``on_done`` for :func:`hpc_nc.parallel.farm.run_farm`: write the result or the failure."""
        if error is None:
            self.write_task(task.index, result, seconds=seconds)
        else:
            self.mark_failed(task.index, error, seconds=seconds)


class StructureStore(_RowStore):
    """The structures file of one job: one row per relaxed structure (``Task.structure_key``)."""

    FORMAT = STRUCTURES_FORMAT
    ROW_GROUP = "structures"
    WHAT = "structure list"

    @classmethod
    def create_or_open(
        cls,
        comm,
        path,
        structures: Mapping[str, int],
        fields: Sequence[FieldSpec],
        provenance: Mapping[str, Any] | None = None,
        *,
        must_match: Sequence[str] = (),
    ) -> StructureStore:
        """Collective: create or reopen the structures file.

        ``structures`` maps structure key -> atom count (all STR structures of the job; rows
        follow the sorted keys, so the order in which the caller lists them does not matter).
        ``fields`` are the caller's diagnostics (energy, max force, converged, strain ...);
        the per-atom ``positions`` (Å) and ``species`` fields are always present. ``must_match``: as for
        :meth:`ResultsStore.create_or_open` (e.g. the VFF parameter hash, relaxation settings).
        """
        keys = sorted(structures)
        columns = {"key": _column([str(k) for k in keys]) if keys else np.zeros(0, "S1")}
        n_atoms = np.asarray([int(structures[k]) for k in keys], dtype=np.int64)
        columns["n_atoms"] = n_atoms
        fields = [POSITIONS, SPECIES_FIELD] + [spec for spec in fields if spec.name not in ("positions", "species")]
        provenance = comm.bcast(dict(provenance or {}), root=0)
        return cls._create_or_open(comm, path, columns, n_atoms, fields, provenance, must_match)

    @property
    def done_keys(self) -> frozenset:
        return frozenset(self.keys[i] for i in self.done)

    def _row(self, key: str) -> int:
        try:
            return self.row_of_key[key]
        except KeyError:
            raise StoreError(
                f"structure {key!r} is not one of the {len(self.keys)} structures in {self.path}"
            ) from None

    def write_structure(self, key: str, result: Mapping[str, Any], *, seconds: float = float("nan")) -> None:
        """Independent (one rank): store a relaxed structure (``positions`` (n_atoms, 3) Å and
        ``species`` (n_atoms,) codes of :data:`hpc_nc.io.schema.SPECIES` required)."""
        for name in ("positions", "species"):
            if name not in result:
                raise StoreError(f"structure {key!r}: result has no {name!r}")
        self._write_row(self._row(key), result, seconds)

    def mark_failed(self, key: str, message: str, *, seconds: float = float("nan")) -> None:
        """Independent (one rank): record the relaxation of ``key`` as failed."""
        self._fail_row(self._row(key), message, seconds)


# -- serial readers ----------------------------------------------------------------------
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def open_store_file(path, formats=(RESULTS_FORMAT, STRUCTURES_FORMAT), what: str = "results"):
    """Serial, read-only: an hpc_nc results/structures file checked for what it is.

    One-line StoreError for a missing path, a directory or other non-regular file, an empty
    file, a file that is not HDF5 (YAML, PNG ...), an HDF5 file that is not one of ``formats``,
    a damaged file HDF5 cannot open, and a file of another schema version (:func:`check_version`).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise StoreError(f"{path}: no such {what} file")
    if not os.path.isfile(path):
        raise StoreError(
            f"{path} is {'a directory' if os.path.isdir(path) else 'not a regular file'}, not an hpc_nc {what} file"
        )
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from None
    if not head:
        raise StoreError(f"{path} is empty (0 bytes), not an hpc_nc {what} file")
    if head != _HDF5_SIGNATURE:
        raise StoreError(f"{path} is not an HDF5 file (an hpc_nc {what} file is HDF5)")
    try:
        f = _h5py().File(path, "r")
    except Exception as exc:  # noqa: BLE001 - truncated file, damaged superblock ...
        raise StoreError(
            f"cannot open {path} ({_short(exc)}); it looks damaged: `hpc-nc salvage {path} NEW.h5` "
            "recovers the readable rows"
        ) from None
    try:
        fmt = f.attrs.get("format", "")
        if fmt not in formats:
            names = " or ".join(STORE_KINDS.get(x, x) for x in formats)
            found = f" (it is a {STORE_KINDS[fmt]} file)" if fmt in STORE_KINDS else ""
            raise StoreError(f"{path} is not an hpc_nc {names} file{found}")
        check_version(f.attrs, path)
    except BaseException:
        f.close()
        raise
    return f


_NOT_READ = ("provenance/", "runs/")  # bookkeeping datasets read_results leaves out
STORE_KINDS = {RESULTS_FORMAT: "results", STRUCTURES_FORMAT: "structures"}


def _blank_rows(f, out: dict, rows: np.ndarray) -> None:
    """Replace the result fields of ``rows`` in ``out`` by fill values (corrupt rows)."""
    offsets = f["atom_offsets"][...]
    for name, ds in f["results"].items():
        key = f"results/{name}"
        fill = _decode(np.asarray(_fill_value(np.dtype(ds.dtype))))
        for row in rows:
            if ds.attrs.get("per_atom", False):
                out[key][int(offsets[row]) : int(offsets[row + 1])] = fill
            else:
                out[key][row] = fill


def read_results(path, *, formats=(RESULTS_FORMAT, STRUCTURES_FORMAT)) -> dict[str, np.ndarray]:
    """Serial: every dataset of a results (or structures) file as numpy arrays, verified.

    Keys are the dataset paths of the schema ("status", "tasks/x_cu", "results/<field>",
    "timings/wall_seconds", "atom_offsets" ...); strings come back as numpy str arrays. A row
    whose checksum does not match has status CORRUPT (3) and fill values (NaN ...) in its
    fields, so a damaged row is never read as a result. Units: :func:`read_units`; file
    attributes: :func:`read_provenance`.
    """
    out: dict[str, np.ndarray] = {}
    with open_store_file(path, formats) as f:

        def visit(name, obj):
            if hasattr(obj, "dtype") and not name.startswith(_NOT_READ):
                out[name] = _decode(obj[...])

        f.visititems(visit)
        status = verified_status(f)
        bad = np.flatnonzero(status == CORRUPT)
        if bad.size:
            _blank_rows(f, out, bad)
        out["status"] = status
    return out


def _read_dataset_attribute(path, attribute: str) -> dict[str, str]:
    """Serial: one text attribute of every dataset that has it, keyed like :func:`read_results`."""
    out: dict[str, str] = {}

    def visit(name, obj):
        if attribute in obj.attrs and not name.startswith(_NOT_READ):
            out[name] = str(obj.attrs[attribute])

    with open_store_file(path) as f:
        f.visititems(visit)
    return out


def read_units(path) -> dict[str, str]:
    """Serial: the ``units`` attribute of every dataset, keyed like :func:`read_results`."""
    return _read_dataset_attribute(path, "units")


def read_docs(path) -> dict[str, str]:
    """Serial: the ``doc`` attribute of every dataset, keyed like :func:`read_results`."""
    return _read_dataset_attribute(path, "doc")


def read_provenance(path) -> dict[str, Any]:
    """Serial: the file attributes (and long provenance texts) as a dict; text as ``str``."""
    with open_store_file(path) as f:
        names = list(f.attrs) + list(f.get("provenance", {}))
        out = {name: _stored_provenance(f, name) for name in names}
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in out.items()}


def read_structure(path, key: str) -> dict[str, np.ndarray]:
    """Serial: one relaxed structure: ``positions`` (n_atoms, 3) Å and the other fields.

    Raises :class:`StructureMissingError` naming the key when the file, the key or a done
    relaxation of it is missing, or when the row fails its checksum. Text comes back as str.
    """
    path = os.fspath(path)
    hint = "run `hpc-nc relax JOB` first"
    if not os.path.exists(path):
        raise StructureMissingError(f"structure {key!r}: structures file {path} does not exist; {hint}")
    with open_store_file(path, (STRUCTURES_FORMAT,), "structures") as f:
        keys = _decode(f["structures/key"][...])
        rows = np.flatnonzero(keys == key)
        if rows.size == 0:
            raise StructureMissingError(f"structure {key!r} is not in {path}; {hint}")
        row = int(rows[0])
        status = int(verified_status(f, rows=[row])[row])
        if status != DONE:
            why = {
                FAILED: "its relaxation failed: " + f["message"][row].decode(errors="replace"),
                CORRUPT: "damaged (its checksum does not match); the relax stage recomputes it",
            }.get(status, "not relaxed yet")
            raise StructureMissingError(f"structure {key!r} in {path} is {why}; {hint}")
        start, stop = (int(v) for v in f["atom_offsets"][row : row + 2])
        out = {"key": key, "n_atoms": stop - start}
        for name, ds in f["results"].items():
            value = _decode(ds[start:stop] if ds.attrs.get("per_atom", False) else ds[row : row + 1][0])
            out[name] = (
                str(value) if isinstance(value, np.ndarray) and value.dtype.kind == "U" and value.ndim == 0 else value
            )
    return out


# -- merging shards ----------------------------------------------------------------------
def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")


def _fields_of(f) -> list[FieldSpec]:
    fields = []
    for name, ds in f["results"].items():
        shape = tuple(int(x) for x in ds.attrs["shape_per_task"])
        per_atom = bool(ds.attrs.get("per_atom", False))
        fields.append(
            FieldSpec(
                name,
                ((PER_ATOM,) if per_atom else ()) + shape,
                np.dtype(ds.dtype).str,
                str(ds.attrs["units"]),
                str(ds.attrs["doc"]),
            )
        )
    return fields


def _provenance_of(f) -> dict:
    provenance = {k: v for k, v in f.attrs.items() if k not in _OWN_ATTRS}
    for name, ds in f.get("provenance", {}).items():
        provenance[name] = ds[()].decode()
    return provenance


def _copy_rows(src, out, rows: np.ndarray) -> None:
    """Copy whole rows (status, message, timings, checksum, every field) from src to out."""
    if rows.size == 0:
        return
    offsets = src["atom_offsets"][...]
    for name in ["status", "message", "timings/wall_seconds", "timings/finished_unix", "checksum"]:
        data = src[name][...]
        out[name][rows] = data[rows]  # rows ascending, as h5py requires
    for name, ds in src["results"].items():
        if ds.attrs.get("per_atom", False):
            for row in rows:
                a, b = int(offsets[row]), int(offsets[row + 1])
                out[f"results/{name}"][a:b] = ds[a:b]
        else:
            out[f"results/{name}"][rows] = ds[...][rows]


def _write_new(out_path: str, fmt: str, row_group: str, columns, offsets, fields, provenance, fill) -> None:
    """Create ``out_path`` (checked output path, temporary name, rename) and fill rows via
    ``fill(h5py_file)``; nothing is left behind on failure."""
    from hpc_nc.io.paths import check_output_path

    real = check_output_path(out_path)
    tmp = real + ".creating"
    try:
        _check_space(real, len(columns["key"]), int(offsets[-1]), columns, fields)
        _create_file(tmp, fmt, row_group, columns, np.diff(offsets), fields, provenance)
        with _h5py().File(tmp, "r+") as out:
            fill(out)
        os.replace(tmp, real)
    except OSError as exc:
        raise StoreError(f"cannot write {out_path}: {exc.strerror or exc}") from None
    finally:
        try:
            os.remove(tmp)
        except OSError:
            pass


def merge_shards(out_path, shard_paths: Sequence, *, overwrite: bool = False) -> dict[str, int]:
    """Serial: combine shard files of one job (same rows and fields) into ``out_path``.

    Each row is taken from the shard where it is done (else failed, else pending); rows that
    fail their checksum count as pending. A row done in two shards with different values is
    an error; so are shards of different jobs. Returns counts {"done", "failed", "pending"}.
    """
    out_path = os.fspath(out_path)
    shard_paths = [os.fspath(p) for p in shard_paths]
    if not shard_paths:
        raise StoreError("merge needs at least one shard file")
    from hpc_nc.io.paths import check_output_path

    check_output_path(out_path)  # a directory, device, FIFO or unwritable folder: one line, before any work
    if os.path.exists(out_path) and not overwrite:
        raise StoreError(f"{out_path} exists; remove it, pass --force, or choose another output path")
    real_out = os.path.realpath(out_path)
    for p in shard_paths:
        if os.path.exists(p) and os.path.realpath(p) == real_out:
            raise StoreError(f"the output {out_path} is also one of the shards; choose another output path")
    shards = []
    try:
        for p in shard_paths:
            shards.append(open_store_file(p))
        first = shards[0]
        fmt = first.attrs.get("format", "")
        row_group = "tasks" if fmt == RESULTS_FORMAT else "structures"
        keys = first[f"{row_group}/key"][...]
        specs = {name: _spec_of(ds) for name, ds in first["results"].items()}
        for path, f in zip(shard_paths[1:], shards[1:]):
            if f.attrs.get("format", "") != fmt or not np.array_equal(f[f"{row_group}/key"][...], keys):
                raise StoreError(f"{path} is a shard of a different job than {shard_paths[0]} (task keys differ)")
            if {name: _spec_of(ds) for name, ds in f["results"].items()} != specs:
                raise StoreError(f"{path} has different result fields than {shard_paths[0]}")

        n = len(keys)
        offsets = first["atom_offsets"][...]
        statuses = np.stack([verified_status(f) for f in shards])
        statuses[statuses == CORRUPT] = PENDING
        source = np.full(n, -1)
        for row in range(n):
            done = np.flatnonzero(statuses[:, row] == DONE)
            failed = np.flatnonzero(statuses[:, row] == FAILED)
            if done.size:
                source[row] = done[0]
                for other in done[1:]:
                    for name, ds in first["results"].items():
                        sl = slice(offsets[row], offsets[row + 1]) if ds.attrs.get("per_atom", False) else row
                        if not _same(shards[done[0]][f"results/{name}"][sl], shards[other][f"results/{name}"][sl]):
                            raise StoreError(
                                f"row {row} ({keys[row].decode()!r}) is done in both {shard_paths[done[0]]} "
                                f"and {shard_paths[other]} with different {name!r}"
                            )
            elif failed.size:
                source[row] = failed[0]

        columns = {name: ds[...] for name, ds in first[row_group].items()}
        provenance = _provenance_of(first)
        provenance["merged_from"] = json.dumps(shard_paths)

        def fill(out):
            for s, f in enumerate(shards):
                _copy_rows(f, out, np.flatnonzero(source == s))

        _write_new(out_path, fmt, row_group, columns, offsets, _fields_of(first), provenance, fill)
    finally:
        for f in shards:
            f.close()
    status = np.where(source >= 0, statuses[np.maximum(source, 0), np.arange(n)], PENDING) if n else np.zeros(0)
    return {
        "done": int(np.sum(status == DONE)),
        "failed": int(np.sum(status == FAILED)),
        "pending": int(np.sum(status == PENDING)),
    }
