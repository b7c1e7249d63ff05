"""Cost of the results file's integrity machinery: creation in memory, row writes with a
checksum, and verification of every row on open (serial, one process).

    .venv/bin/python benchmarks/bench_store.py [--rows 2000] [--repeat 3]

Fields: those of the electronic stage for jobs/demo.yaml (states 4 + 8, its analysis grids);
atoms per row: 300 (species per atom). Prints medians and the file size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Row:
    index: int
    key: str
    n_atoms: int


def main() -> None:
    from mpi4py import MPI

    from hpc_nc.io import store
    from hpc_nc.io.jobs import load_job
    from hpc_nc.pipeline.electronic_stage import result_fields

    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    job = load_job(os.path.join(os.path.dirname(__file__), "..", "jobs", "demo.yaml"))
    from hpc_nc.settings import ElectronicSettings

    fields = result_fields(ElectronicSettings.from_job(job))
    rows = [Row(i, f"task-{i:06d}", 300) for i in range(args.rows)]
    rng = np.random.default_rng(1)
    values = {}
    for spec in fields:
        shape = spec.row_shape(300)
        kind = np.dtype(spec.dtype).kind
        values[spec.name] = (
            "type-I"
            if kind == "S"
            else rng.normal(size=shape).astype(spec.dtype)
            if kind in "fc"
            else np.ones(shape, dtype=spec.dtype)
        )
    t_create, t_write, t_verify, size = [], [], [], 0
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "r.h5")
            t0 = time.perf_counter()
            st = store.ResultsStore.create_or_open(MPI.COMM_SELF, path, rows, fields)
            t_create.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for r in rows:
                st.write_task(r.index, values, seconds=1.0)
            t_write.append((time.perf_counter() - t0) / len(rows))
            st.close()
            size = os.path.getsize(path)
            import h5py

            if not hasattr(store, "verified_status"):  # an older hpc_nc (PYTHONPATH=...): no checksums
                continue
            with h5py.File(path, "r") as f:
                t0 = time.perf_counter()
                status = store.verified_status(f)
                t_verify.append(time.perf_counter() - t0)
            assert np.all(status == store.DONE)
    print(f"rows {args.rows}, {len(fields)} fields, file {size / 2**20:.1f} MiB")
    print(
        f"create (in memory, then written): median {statistics.median(t_create):.3f} s "
        f"(range {min(t_create):.3f}..{max(t_create):.3f})"
    )
    print(f"write_task incl. checksum and flushes: median {1e3 * statistics.median(t_write):.2f} ms per row")
    if not t_verify:
        return
    print(
        f"verify all rows: median {statistics.median(t_verify):.2f} s "
        f"({1e6 * statistics.median(t_verify) / args.rows:.0f} µs per row, "
        f"{size / 2**20 / statistics.median(t_verify):.0f} MiB/s)"
    )


if __name__ == "__main__":
    main()
