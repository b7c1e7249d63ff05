"""Benchmark: nanocrystal Hamiltonian assembly vs radius (numpy kernel + PETSc vs reference).

Runs, in one process and for pure-ZnS-shell / random-alloy-core dots of radius 2a..7a
(STR model on randomly displaced positions, the most expensive path):
  * hamiltonian_rows  (vectorised numpy kernel, all rows)
  * assemble_hamiltonian  (kernel + exact preallocation + PETSc MPIAIJ setValuesCSR)
  * reference_hamiltonian  (loop over atoms and bonds, scipy COO; the test reference)
Prints medians of repeats, ratios and peak memory (tracemalloc peak of Python/numpy
allocations in one extra run; PETSc matrix: its AIJ storage from MatGetInfo's allocated nonzeros), and checks that the two builds agree.

    /usr/bin/python3 benchmarks/bench_hamiltonian.py [--radii 2 3 4 5 6 7] [--repeats 3]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from hpc_nc.parallel.petsc_build import select_build  # noqa: E402

PETSc, _ = select_build("complex")

import scipy.sparse as sp  # noqa: E402
from mpi4py import MPI  # noqa: E402

from hpc_nc.physics.alloy import realise_alloy  # noqa: E402
from hpc_nc.physics.geometry import build_nanocrystal  # noqa: E402
from hpc_nc.physics.materials import load_materials, with_band_offsets  # noqa: E402
from hpc_nc.solvers import hamiltonian as ham  # noqa: E402


def timed(fn, repeats):
    """(median seconds over repeats, tracemalloc peak MiB of one extra run, result)."""
    times = []
    for _ in range(repeats):
        gc.collect()
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
        del result
    gc.collect()
    tracemalloc.start()
    result = fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return float(np.median(times)), peak / 2**20, result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--radii", type=float, nargs="+", default=[2, 3, 4, 5, 6, 7])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--reference-max-radius", type=float, default=7.0)
    args = ap.parse_args()
    comm = MPI.COMM_WORLD
    mats = with_band_offsets(load_materials(), 1.1, 0.34)
    header = (
        f"{'R/a':>4} {'atoms':>6} {'rows':>7} {'nnz':>9} | {'kernel s':>8} {'MiB':>6} | "
        f"{'assemble s':>10} {'MiB':>6} {'PETSc MiB':>9} | {'reference s':>11} {'MiB':>6} | {'ref/asm':>7}"
    )
    out = print if comm.Get_rank() == 0 else (lambda *a, **k: None)
    out(
        f"# {comm.Get_size()} rank(s); STR model, core = half the radius, x_In = x_Cu = 0.25;"
        " kernel = own rows only; times and MiB of rank 0"
    )
    out(header)
    for r in args.radii:
        nc = build_nanocrystal(r / 2, r / 2)
        alloy = realise_alloy(nc, 0.25, 0.25, 1)
        pos = nc.positions + np.random.default_rng(0).normal(scale=0.05, size=nc.positions.shape)
        a0, a1 = ham.atom_ownership(comm, nc.n_atoms)
        t_k, m_k, rows = timed(lambda: ham.hamiltonian_rows(nc, alloy, mats, "STR", pos, a0, a1), args.repeats)

        def assemble():
            return ham.assemble_hamiltonian(comm, nc, alloy, mats, "STR", pos)

        t_a, m_a, mat = timed(assemble, args.repeats)
        # PETSc's own allocations are not seen by tracemalloc: AIJ storage = values + column
        # indices per allocated nonzero + row offsets (MatGetInfo's memory field is 0 here).
        isz = np.dtype(PETSc.IntType).itemsize
        nnz = int(mat.getInfo()["nz_allocated"])  # global
        petsc_mib = (
            mat.getInfo(PETSc.Mat.InfoType.LOCAL)["nz_allocated"] * (16 + isz) + (10 * nc.n_atoms + 1) * isz
        ) / 2**20
        if r <= args.reference_max_radius:
            t_r, m_r, ref = timed(lambda: ham.reference_hamiltonian(nc, alloy, mats, "STR", pos), 1)
            ip, ix, v = mat.getValuesCSR()
            r0, r1 = mat.getOwnershipRange()
            got = sp.csr_matrix((v, ix, ip), shape=(r1 - r0, ref.shape[1]))
            err = abs(got - ref[r0:r1]).max()
            assert err < 1e-12, err
            ratio = f"{t_r / t_a:7.1f}"
            ref_cols = f"{t_r:11.2f} {m_r:6.0f}"
        else:
            ratio, ref_cols = f"{'-':>7}", f"{'-':>11} {'-':>6}"
        mat.destroy()
        out(
            f"{r:4.1f} {nc.n_atoms:6d} {10 * nc.n_atoms:7d} {nnz:9d} | {t_k:8.3f} {m_k:6.0f} | "
            f"{t_a:10.3f} {m_a:6.0f} {petsc_mib:9.0f} | {ref_cols} | {ratio}",
            flush=True,
        )


if __name__ == "__main__":
    main()
