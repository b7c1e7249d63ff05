"""Recover the readable rows of a damaged results or structures file (``hpc-nc salvage``).

What can be repaired, and why (docs/design.md, "Results files"): the stores are written with
HDF5's earliest file format (superblock version 0), so the first 96 bytes of every file are
the same except the end-of-file address (EOA, bytes 40-47): signature, version numbers, sizes,
and the root group's symbol-table entry, which HDF5 places right after the superblock. Hence

* a **damaged superblock** (overwritten or zeroed first bytes) is rebuilt from the superblock
  of a fresh file made by this HDF5 library, with the EOA taken from the damaged superblock
  when it is plausible, else the file size;
* a **truncated file** (a copy cut short, a full disk during a copy) is extended with zeros
  to its EOA, so HDF5 opens it again; rows whose data lay in the lost part then fail their
  checksum and are not recovered.

The input is never modified: the repair happens on a temporary copy. Every row is checked
against its checksum (:func:`hpc_nc.io.store.verified_status`); done and failed rows that
pass are copied into a new file with the same layout, everything else becomes pending, so
resuming the job with the new file recomputes exactly the lost rows. Damage beyond the
superblock in HDF5's own metadata (object headers, B-trees) cannot be repaired here; then the
message says so and the job must be rerun (or recovered from shard files with ``hpc-nc merge``).
"""

from __future__ import annotations

import os
import shutil

import numpy as np

from hpc_nc.io import store
from hpc_nc.io.schema import DONE, FAILED, PENDING

SUPERBLOCK_BYTES = 96  # superblock version 0 with 8-byte offsets, root symbol-table entry included
_EOA = slice(40, 48)


def _template_image() -> bytes:
    """The start of a new, empty file written by this HDF5 with the stores' settings."""
    h5py = store._h5py()
    with h5py.File("salvage-template.h5", "w", driver="core", backing_store=False, libver="earliest") as f:
        f.flush()
        image = f.id.get_file_image()
    return bytes(image[: SUPERBLOCK_BYTES + 2])


def _repair_copy(path: str, work: str) -> list[str]:
    """Copy ``path`` to ``work`` and repair superblock / length there. Returns what was done."""
    shutil.copyfile(path, work)
    done = []
    size = os.path.getsize(work)
    with open(work, "rb") as fh:
        head = fh.read(SUPERBLOCK_BYTES)
    image = _template_image()
    template = image[:SUPERBLOCK_BYTES]
    with open(work, "rb") as fh:
        fh.seek(SUPERBLOCK_BYTES)
        root_header = fh.read(2)
    if root_header != image[SUPERBLOCK_BYTES:]:  # version 1 object header of the root group
        raise store.StoreError(f"{path} is not a repairable hpc_nc file (no HDF5 root group after the superblock)")
    eoa = int.from_bytes(head[_EOA], "little") if len(head) == SUPERBLOCK_BYTES else 0
    damaged = len(head) < SUPERBLOCK_BYTES or any(
        a != b for i, (a, b) in enumerate(zip(head, template)) if not 40 <= i < 48
    )
    if not size <= eoa < 1 << 50:  # an EOA below the file size or absurd: take the file size
        eoa = size if damaged or eoa < size else eoa
    if damaged:
        with open(work, "r+b") as fh:
            fh.write(template[:40] + eoa.to_bytes(8, "little") + template[48:])
        done.append("rebuilt the superblock")
    if size < eoa:
        os.truncate(work, eoa)
        done.append(f"extended the truncated file from {size} to {eoa} bytes")
    return done


def salvage(in_path, out_path) -> dict:
    """Serial: write the rows of ``in_path`` that pass their checksum into ``out_path``.

    Returns {"done", "failed", "pending", "lost", "repairs"}: lost = rows that were done or
    failed in the input but cannot be trusted (now pending). Raises StoreError (one line)
    when nothing can be read.
    """
    from hpc_nc.io.paths import check_output_path

    in_path, out_path = os.fspath(in_path), os.fspath(out_path)
    if not os.path.isfile(in_path):
        raise store.StoreError(f"{in_path}: no such file")
    real_out = check_output_path(out_path)
    if os.path.realpath(in_path) == real_out:
        raise store.StoreError("salvage writes a new file: give an output path other than the input")
    if os.path.exists(real_out):
        raise store.StoreError(f"{out_path} exists; remove it or choose another output path")
    work = real_out + ".salvage"
    repairs: list[str] = []
    try:
        try:
            src = store.open_store_file(in_path)
        except store.SchemaError:
            raise
        except store.StoreError as exc:
            if "not an hpc_nc" in str(exc) or "is empty" in str(exc):
                raise
            try:
                repairs = _repair_copy(in_path, work)
            except OSError as exc:
                raise store.StoreError(f"cannot copy {in_path} for repair: {exc.strerror}") from None
            try:
                src = store.open_store_file(work)
            except store.StoreError:
                raise store.StoreError(
                    f"cannot salvage {in_path}: HDF5 cannot read it even after "
                    f"{' and '.join(repairs) or 'checking the superblock'}; its metadata beyond the superblock is "
                    "damaged: rerun the job (finished shard files can be combined with `hpc-nc merge`)"
                ) from None
        with src:
            try:
                stored = src["status"][...].astype(np.int8)
                status = store.verified_status(src)
            except Exception as exc:  # noqa: BLE001 - a dataset HDF5 cannot read: nothing verifiable
                raise store.StoreError(
                    f"cannot salvage {in_path}: its row data cannot be read ({store._short(exc)})"
                ) from None
            good = np.isin(status, (DONE, FAILED))
            fmt = src.attrs["format"]
            row_group = "tasks" if fmt == store.RESULTS_FORMAT else "structures"
            columns = {name: ds[...] for name, ds in src[row_group].items()}
            offsets = src["atom_offsets"][...]
            provenance = store._provenance_of(src)
            provenance["salvaged_from"] = os.path.abspath(in_path)
            store._write_new(
                out_path,
                fmt,
                row_group,
                columns,
                offsets,
                store._fields_of(src),
                provenance,
                lambda out: store._copy_rows(src, out, np.flatnonzero(good)),
            )
    finally:
        try:
            os.remove(work)
        except OSError:
            pass
    lost = int(np.sum((stored != PENDING) & ~good))  # was done/failed (or garbage), not trusted now
    return {
        "done": int(np.sum(status == DONE)),
        "failed": int(np.sum(status == FAILED)),
        "pending": int(np.sum(~good)),
        "lost": lost,
        "repairs": repairs,
    }
