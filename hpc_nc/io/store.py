"""Parallel HDF5 stores: one row per task (results) or per relaxed structure (structures).

Both files are laid out completely before any task runs, so that a running sweep only
overwrites raw data in space that already exists: no dataset, group or attribute is created
or resized afterwards, every dataset is contiguous with its space allocated and filled at
creation (``H5D_ALLOC_TIME_EARLY``, ``H5D_FILL_TIME_ALLOC``) and ``track_times=False`` (no
modification times in object headers). A process killed at any moment (SIGKILL included)
therefore cannot damage HDF5 metadata; at worst it leaves a row partly written. Each row is
written data first and its ``status`` flag last, so a partly written row still reads as
pending and is recomputed on resume. The file is created under ``<path>.creating`` and
renamed when complete, so a kill during creation leaves no half-made results file either.

Writes are independent I/O from a single rank (the root of the task's group); in parallel
(``driver="mpio"``) every rank holds the file open and no collective call happens between
opening and closing. In serial mode the file is flushed after each row. (A flush is
collective with MPI-IO; there, MPI-IO writes go straight to the operating system, which keeps
them across a killed process but not across a crashed node.)

Results file schema (``ResultsStore``; n = number of tasks, rows are ``Task.index``):

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
========================  ===================  ========  =====  ==========================================

Structures file schema (``StructureStore``; m = number of structure keys): the same with
``structures/key`` and ``structures/n_atoms`` instead of ``tasks/...``, and the built-in
per-atom field ``results/positions`` (sum n_atoms, 3) f8 Å (relaxed positions, Nanocrystal
atom order) next to the caller's fields (energy, max force, convergence, strain ...).

Every dataset carries ``units`` and ``doc`` attributes. Fill values (what a pending row
holds): NaN for floating and complex fields, -1 for signed integers, 0 for unsigned, False
for booleans, empty for strings. File attributes: ``format`` ("hpc_nc.results" or
"hpc_nc.structures"), ``schema_version``, ``hpc_nc_version``, ``n_rows``, ``row_keys_sha256``
and the caller's provenance dict (one attribute per key; dicts and lists as JSON text;
strings longer than 16 kB as scalar datasets ``provenance/<key>``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from hpc_nc import __version__
from hpc_nc.errors import HpcNcError, StructureMissingError

# Debian's h5py loads its MPI build only if this is set before the first import of h5py.
os.environ.setdefault("H5PY_ALWAYS_USE_MPI", "1")
# HDF5 >= 1.10 file locks make a reader (`hpc-nc status` during a sweep) fail on a file a
# writer holds open; the stores never have two writers of one row, so locking buys nothing.
os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")

SCHEMA_VERSION = 1
PENDING, DONE, FAILED = 0, 1, 2
MESSAGE_BYTES = 200
PER_ATOM = "n_atoms"  # first entry of FieldSpec.shape_per_task for per-atom fields
_LONG_TEXT = 16000  # bytes; longer provenance strings become datasets (64 kB attribute limit)
RESULTS_FORMAT = "hpc_nc.results"
# Units of the task parameter columns the job's Task carries (others get "1").
COLUMN_UNITS = {"core_radius_a": "lattice constant", "shell_thickness_a": "lattice constant",
                "vbo_ins": "eV", "vbo_cus": "eV", "x_cu": "1 (fraction)", "x_in": "1 (fraction)"}
STRUCTURES_FORMAT = "hpc_nc.structures"


class StoreError(HpcNcError):
    """A results or structures file that does not fit the job, or a malformed row."""


@dataclass(frozen=True)
class FieldSpec:
    """One per-row quantity: ``shape_per_task`` may start with "n_atoms" (per-atom field)."""

    name: str
    shape_per_task: tuple
    dtype: str
    units: str
    doc: str

    def __post_init__(self):
        shape = tuple(self.shape_per_task)
        object.__setattr__(self, "shape_per_task", shape)
        if not self.name or "/" in self.name:
            raise StoreError(f"field name {self.name!r} must be non-empty and contain no '/'")
        for k, n in enumerate(shape):
            if n == PER_ATOM and k == 0:
                continue
            if not isinstance(n, (int, np.integer)) or n < 0:
                raise StoreError(f"field {self.name!r}: shape {shape} must be non-negative ints "
                                 f"(only the first entry may be {PER_ATOM!r})")
        np.dtype(self.dtype)  # raises TypeError for a bad dtype string

    @property
    def per_atom(self) -> bool:
        return bool(self.shape_per_task) and self.shape_per_task[0] == PER_ATOM

    def row_shape(self, n_atoms: int) -> tuple:
        """Shape of one row's value (Å, eV ... per ``units``)."""
        return (int(n_atoms),) + self.shape_per_task[1:] if self.per_atom else self.shape_per_task


POSITIONS = FieldSpec("positions", (PER_ATOM, 3), "f8", "angstrom",
                      "relaxed atom positions in the Nanocrystal's atom order")


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
    ds = parent.create_dataset(name, shape=tuple(shape), dtype=dtype, fillvalue=fill,
                               track_times=False, dcpl=dcpl)
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
    names = ([f.name for f in dataclasses.fields(first)] if dataclasses.is_dataclass(first)
             else list(vars(first)))
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
    return {"dtype": np.dtype(ds.dtype).str, "units": str(ds.attrs.get("units", "")),
            "per_atom": bool(ds.attrs.get("per_atom", False)),
            "shape_per_task": tuple(int(n) for n in ds.attrs.get("shape_per_task", ()))}


def _spec_dict(spec: FieldSpec) -> dict:
    return {"dtype": np.dtype(spec.dtype).str, "units": spec.units, "per_atom": spec.per_atom,
            "shape_per_task": tuple(int(n) for n in spec.shape_per_task[1 if spec.per_atom else 0:])}


def _create_file(path: str, fmt: str, row_group: str, columns: Mapping[str, np.ndarray],
                 n_atoms: np.ndarray, fields: Sequence[FieldSpec], provenance: Mapping[str, Any]) -> None:
    """Serial: write the complete, empty layout to ``path`` (see module docstring)."""
    h5py = _h5py()
    n = len(columns["key"])
    offsets = np.concatenate([[0], np.cumsum(n_atoms, dtype=np.int64)]).astype(np.int64)
    with h5py.File(path, "w", libver="earliest") as f:
        f.attrs["format"] = fmt
        f.attrs["schema_version"] = SCHEMA_VERSION
        f.attrs["hpc_nc_version"] = __version__
        f.attrs["n_rows"] = n
        f.attrs["row_keys_sha256"] = _keys_hash(columns["key"])
        _set_provenance(f, provenance)
        rows = f.create_group(row_group)
        for name, col in columns.items():
            _create_dataset(rows, name, col.shape, col.dtype, COLUMN_UNITS.get(name, "1"),
                            f"row parameter {name}", data=col)
        _create_dataset(f, "status", (n,), np.int8, "1", "0 pending, 1 done, 2 failed", fill=PENDING)
        _create_dataset(f, "message", (n,), f"S{MESSAGE_BYTES}", "1", "one-line error of a failed row (UTF-8)")
        timings = f.create_group("timings")
        _create_dataset(timings, "wall_seconds", (n,), np.float64, "s", "wall time of the row's task")
        _create_dataset(timings, "finished_unix", (n,), np.float64, "s", "Unix time the row was written")
        _create_dataset(f, "atom_offsets", (n + 1,), np.int64, "1",
                        "row i's atoms in per-atom fields are [atom_offsets[i], atom_offsets[i+1])",
                        data=offsets)
        results = f.create_group("results")
        for spec in fields:
            shape = ((int(offsets[-1]),) + spec.shape_per_task[1:] if spec.per_atom
                     else (n,) + spec.shape_per_task)
            ds = _create_dataset(results, spec.name, shape, spec.dtype, spec.units, spec.doc)
            ds.attrs["per_atom"] = spec.per_atom
            ds.attrs["shape_per_task"] = np.asarray(_spec_dict(spec)["shape_per_task"], dtype=np.int64)


class _RowStore:
    """Common machinery of the results and structures files (one row per key)."""

    FORMAT = ""
    ROW_GROUP = ""
    WHAT = ""  # "task list" / "structure list", for messages

    def __init__(self, comm, path, f, fields, keys, parallel):
        self.comm, self.path, self._file, self.parallel = comm, path, f, parallel
        self.fields = {spec.name: spec for spec in fields}
        self.keys = list(keys)
        self.row_of_key = {k: i for i, k in enumerate(self.keys)}
        # Open every dataset now, on every rank, so that later writes from one rank need no
        # (possibly collective) object opening.
        self._ds = {name: f[f"results/{name}"] for name in self.fields}
        self._status, self._message = f["status"], f["message"]
        self._wall, self._finished = f["timings/wall_seconds"], f["timings/finished_unix"]
        self._offsets = f["atom_offsets"][...]
        status = self._status[...]
        self.done = frozenset(int(i) for i in np.flatnonzero(status == DONE))
        self.failed = frozenset(int(i) for i in np.flatnonzero(status == FAILED))

    # -- creation / opening -------------------------------------------------------------
    @classmethod
    def _create_or_open(cls, comm, path, columns, n_atoms, fields, provenance, must_match=()):
        """Collective: create ``path`` if missing (rank 0, serially), then open it everywhere."""
        h5py = _h5py()
        path = os.fspath(path)
        fields = list(fields)
        parallel = comm.size > 1
        error = None
        paths = comm.allgather(path)
        if len(set(paths)) > 1:  # MPI_File_open with different names would hang, not fail
            error = f"the ranks passed different file names ({paths[0]}, {paths[-1]}, ...); pass the same path"
        elif parallel and not h5py.get_config().mpi:
            error = (f"h5py has no MPI support, so {comm.size} ranks cannot share {path}; install "
                     "parallel h5py (Debian: python3-h5py-mpi, with H5PY_ALWAYS_USE_MPI=1 set)")
        elif comm.rank == 0 and not os.path.exists(path):
            tmp = path + ".creating"
            try:
                _create_file(tmp, cls.FORMAT, cls.ROW_GROUP, columns, n_atoms, fields, provenance)
                os.replace(tmp, path)
            except Exception as exc:  # noqa: BLE001 - reported on every rank below
                error = f"cannot create {path}: {type(exc).__name__}: {exc}"
        error = comm.bcast(error, root=0)
        if error:
            raise StoreError(error)

        try:
            f = (h5py.File(path, "r+", driver="mpio", comm=comm) if parallel
                 else h5py.File(path, "r+"))
        except Exception as exc:  # noqa: BLE001 - the same failure on every rank
            raise StoreError(f"cannot open {path}: {type(exc).__name__}: {exc}") from None
        if comm.rank == 0:
            try:
                error = cls._mismatch(f, path, columns["key"], fields)
                for name in must_match:
                    if _stored_provenance(f, name) != _attr_value(provenance.get(name)):
                        error = (f"{path} was made with a different {name} than this job's; results "
                                 "would mix settings: use another output path or remove the file")
                        break
            except Exception as exc:  # noqa: BLE001 - e.g. a foreign HDF5 file; reported everywhere
                error = f"{path} is not a valid hpc_nc {cls.ROW_GROUP} file ({type(exc).__name__}: {exc})"
        error = comm.bcast(error, root=0)
        if error:
            f.close()
            raise StoreError(error)
        keys = [k.decode() for k in columns["key"]]
        return cls(comm, path, f, fields, keys, parallel)

    @classmethod
    def _mismatch(cls, f, path, keys, fields) -> str | None:
        """Why the open file ``f`` does not belong to this job, or None."""
        fmt = f.attrs.get("format", "")
        if fmt != cls.FORMAT:
            return f"{path} is not an hpc_nc {cls.ROW_GROUP} file (format {fmt!r}, expected {cls.FORMAT!r})"
        stored = f[f"{cls.ROW_GROUP}/key"][...]
        if len(stored) != len(keys) or not np.array_equal(stored, keys):
            diff = next((i for i, (a, b) in enumerate(zip(stored, keys)) if a != b), min(len(stored), len(keys)))
            a = stored[diff].decode() if diff < len(stored) else "(none)"
            b = keys[diff].decode() if diff < len(keys) else "(none)"
            return (f"{path} belongs to a different {cls.WHAT} ({len(stored)} rows in the file, "
                    f"{len(keys)} in this job; first difference at row {diff}: {a!r} in the file vs "
                    f"{b!r}); use another output path or remove the file")
        stored_fields = {name: _spec_of(ds) for name, ds in f["results"].items()}
        wanted = {spec.name: _spec_dict(spec) for spec in fields}
        if stored_fields != wanted:
            names = sorted(set(stored_fields) ^ set(wanted)) or sorted(
                n for n in wanted if stored_fields[n] != wanted[n])
            return (f"{path} was written with different result fields (differing: {', '.join(names)}); "
                    "use another output path or remove the file")
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
        for name, value in values.items():  # check everything before writing anything
            spec = self.fields[name]
            want = spec.row_shape(stop - start)
            arr = np.asarray(value)
            if arr.shape != want:
                raise StoreError(f"field {name!r} of row {row}: shape {arr.shape}, expected {want}")
            if arr.dtype.kind == "U":
                arr = np.char.encode(arr, "utf-8")
            prepared[name] = arr.astype(np.dtype(spec.dtype), copy=False)
        for name, arr in prepared.items():
            if self.fields[name].per_atom:
                self._ds[name][start:stop] = arr
            else:
                self._ds[name][row] = arr
        self._wall[row] = seconds
        self._finished[row] = time.time()
        self._message[row] = b""
        self._flush()
        self._status[row] = DONE  # last: only a complete row is ever marked done
        self._flush()

    def _fail_row(self, row: int, message: str) -> None:
        text = " ".join(str(message).split()).encode("utf-8")[:MESSAGE_BYTES]
        text = text.decode("utf-8", errors="ignore").encode("utf-8")  # no cut multi-byte character
        self._message[row] = text
        self._finished[row] = time.time()
        self._flush()
        self._status[row] = FAILED
        self._flush()

    def _flush(self) -> None:
        # H5Fflush is collective with MPI-IO, and MPI-IO writes bypass HDF5's buffers anyway.
        if not self.parallel:
            self._file.flush()

    def close(self) -> None:
        """Collective: close the file on every rank of the store's communicator."""
        if self._file is not None:
            self._ds.clear()
            self._file.close()
            self._file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ResultsStore(_RowStore):
    """The results file of one job: one row per task (row = ``Task.index``)."""

    FORMAT = RESULTS_FORMAT
    ROW_GROUP = "tasks"
    WHAT = "task list"

    @classmethod
    def create_or_open(cls, comm, path, tasks: Sequence, fields: Sequence[FieldSpec],
                       provenance: Mapping[str, Any] | None = None, *,
                       must_match: Sequence[str] = ()) -> "ResultsStore":
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
        self._wall[int(index)] = seconds
        self._fail_row(int(index), message)

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
    def create_or_open(cls, comm, path, structures: Mapping[str, int], fields: Sequence[FieldSpec],
                       provenance: Mapping[str, Any] | None = None, *,
                       must_match: Sequence[str] = ()) -> "StructureStore":
        """Collective: create or reopen the structures file.

        ``structures`` maps structure key -> atom count (all STR structures of the job; rows
        follow the sorted keys, so the order in which the caller lists them does not matter).
        ``fields`` are the caller's diagnostics (energy, max force, converged, strain ...);
        the per-atom ``positions`` field (Å) is always present. ``must_match``: as for
        :meth:`ResultsStore.create_or_open` (e.g. the VFF parameter hash, relaxation settings).
        """
        keys = sorted(structures)
        columns = {"key": _column([str(k) for k in keys]) if keys else np.zeros(0, "S1")}
        n_atoms = np.asarray([int(structures[k]) for k in keys], dtype=np.int64)
        columns["n_atoms"] = n_atoms
        fields = [POSITIONS] + [spec for spec in fields if spec.name != POSITIONS.name]
        provenance = comm.bcast(dict(provenance or {}), root=0)
        return cls._create_or_open(comm, path, columns, n_atoms, fields, provenance, must_match)

    @property
    def done_keys(self) -> frozenset:
        return frozenset(self.keys[i] for i in self.done)

    def _row(self, key: str) -> int:
        try:
            return self.row_of_key[key]
        except KeyError:
            raise StoreError(f"structure {key!r} is not one of the {len(self.keys)} structures in {self.path}") from None

    def write_structure(self, key: str, result: Mapping[str, Any], *, seconds: float = float("nan")) -> None:
        """Independent (one rank): store a relaxed structure (``positions`` (n_atoms, 3) Å required)."""
        if "positions" not in result:
            raise StoreError(f"structure {key!r}: result has no 'positions'")
        self._write_row(self._row(key), result, seconds)

    def mark_failed(self, key: str, message: str, *, seconds: float = float("nan")) -> None:
        """Independent (one rank): record the relaxation of ``key`` as failed."""
        row = self._row(key)
        self._wall[row] = seconds
        self._fail_row(row, message)


# -- serial readers ----------------------------------------------------------------------
def read_results(path) -> dict[str, np.ndarray]:
    """Serial: every dataset of a results (or structures) file as numpy arrays.

    Keys are the dataset paths of the schema ("status", "tasks/x_cu", "results/<field>",
    "timings/wall_seconds", "atom_offsets" ...); strings come back as numpy str arrays.
    Units: :func:`read_units`; file attributes: :func:`read_provenance`.
    """
    out: dict[str, np.ndarray] = {}
    with _h5py().File(os.fspath(path), "r") as f:
        def visit(name, obj):
            if hasattr(obj, "dtype") and not name.startswith("provenance/"):
                out[name] = _decode(obj[...])
        f.visititems(visit)
    return out


def read_units(path) -> dict[str, str]:
    """Serial: the ``units`` attribute of every dataset, keyed like :func:`read_results`."""
    out: dict[str, str] = {}
    with _h5py().File(os.fspath(path), "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, str(obj.attrs["units"]))
                     if "units" in obj.attrs else None)
    return out


def read_provenance(path) -> dict[str, Any]:
    """Serial: the file attributes (and long provenance texts) as a dict."""
    with _h5py().File(os.fspath(path), "r") as f:
        names = list(f.attrs) + list(f.get("provenance", {}))
        out = {name: _stored_provenance(f, name) for name in names}
    return out


def read_structure(path, key: str) -> dict[str, np.ndarray]:
    """Serial: one relaxed structure: ``positions`` (n_atoms, 3) Å and the other fields.

    Raises :class:`StructureMissingError` naming the key when the file, the key or a done
    relaxation of it is missing.
    """
    path = os.fspath(path)
    hint = "run `hpc-nc relax JOB` first"
    if not os.path.exists(path):
        raise StructureMissingError(f"structure {key!r}: structures file {path} does not exist; {hint}")
    with _h5py().File(path, "r") as f:
        keys = _decode(f["structures/key"][...])
        rows = np.flatnonzero(keys == key)
        if rows.size == 0:
            raise StructureMissingError(f"structure {key!r} is not in {path}; {hint}")
        row = int(rows[0])
        status = int(f["status"][row])
        if status != DONE:
            why = "its relaxation failed: " + f["message"][row].decode() if status == FAILED else "not relaxed yet"
            raise StructureMissingError(f"structure {key!r} in {path} is {why}; {hint}")
        start, stop = (int(v) for v in f["atom_offsets"][row:row + 2])
        out = {"key": key, "n_atoms": stop - start}
        for name, ds in f["results"].items():
            out[name] = _decode(ds[start:stop] if ds.attrs.get("per_atom", False) else ds[row])
    return out


# -- merging shards ----------------------------------------------------------------------
def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")


def merge_shards(out_path, shard_paths: Sequence, *, overwrite: bool = False) -> dict[str, int]:
    """Serial: combine shard files of one job (same rows and fields) into ``out_path``.

    Each row is taken from the shard where it is done (else failed, else pending). A row done
    in two shards with different values is an error; so are shards of different jobs.
    Returns counts {"done", "failed", "pending"}.
    """
    h5py = _h5py()
    out_path = os.fspath(out_path)
    shard_paths = [os.fspath(p) for p in shard_paths]
    if not shard_paths:
        raise StoreError("merge_shards needs at least one shard file")
    if os.path.exists(out_path) and not overwrite:
        raise StoreError(f"{out_path} exists; remove it or choose another output path")
    shards = [h5py.File(p, "r") for p in shard_paths]
    try:
        first = shards[0]
        fmt = first.attrs.get("format", "")
        if fmt not in (RESULTS_FORMAT, STRUCTURES_FORMAT):
            raise StoreError(f"{shard_paths[0]} is not an hpc_nc results or structures file")
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
        statuses = np.stack([f["status"][...] for f in shards])
        source = np.full(n, -1)
        for row in range(n):
            done = np.flatnonzero(statuses[:, row] == DONE)
            failed = np.flatnonzero(statuses[:, row] == FAILED)
            if done.size:
                source[row] = done[0]
                for other in done[1:]:
                    for name, ds in first["results"].items():
                        sl = (slice(offsets[row], offsets[row + 1]) if ds.attrs.get("per_atom", False) else row)
                        if not _same(shards[done[0]][f"results/{name}"][sl], shards[other][f"results/{name}"][sl]):
                            raise StoreError(
                                f"row {row} ({keys[row].decode()!r}) is done in both {shard_paths[done[0]]} "
                                f"and {shard_paths[other]} with different {name!r}")
            elif failed.size:
                source[row] = failed[0]

        fields = []
        for name, ds in first["results"].items():
            shape = tuple(int(x) for x in ds.attrs["shape_per_task"])
            per_atom = bool(ds.attrs.get("per_atom", False))
            fields.append(FieldSpec(name, ((PER_ATOM,) if per_atom else ()) + shape, np.dtype(ds.dtype).str,
                                    str(ds.attrs["units"]), str(ds.attrs["doc"])))
        columns = {name: ds[...] for name, ds in first[row_group].items()}
        provenance = {k: v for k, v in first.attrs.items()
                      if k not in ("format", "schema_version", "hpc_nc_version", "n_rows", "row_keys_sha256")}
        for name, ds in first.get("provenance", {}).items():
            provenance[name] = ds[()].decode()
        provenance["merged_from"] = json.dumps(shard_paths)
        tmp = out_path + ".creating"
        _create_file(tmp, fmt, row_group, columns, np.diff(offsets), fields, provenance)
        with h5py.File(tmp, "r+") as out:
            for s, f in enumerate(shards):
                rows = np.flatnonzero(source == s)
                if rows.size == 0:
                    continue
                for name in ["status", "message", "timings/wall_seconds", "timings/finished_unix"]:
                    data = f[name][...]
                    out[name][rows] = data[rows]  # rows ascending, as h5py requires
                for name, ds in f["results"].items():
                    if ds.attrs.get("per_atom", False):
                        for row in rows:
                            a, b = int(offsets[row]), int(offsets[row + 1])
                            out[f"results/{name}"][a:b] = ds[a:b]
                    else:
                        out[f"results/{name}"][rows] = ds[...][rows]
        os.replace(tmp, out_path)
    finally:
        for f in shards:
            f.close()
    status = np.where(source >= 0, statuses[np.maximum(source, 0), np.arange(n)], PENDING) if n else np.zeros(0)
    return {"done": int(np.sum(status == DONE)), "failed": int(np.sum(status == FAILED)),
            "pending": int(np.sum(status == PENDING))}
