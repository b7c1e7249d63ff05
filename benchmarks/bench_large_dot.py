"""Benchmark: the gap states of one large pure ZnS dot with one strategy (issue 13, item 3).

Builds the dot (build_nanocrystal(R), NSTR, pure ZnS, passivation 20 eV), assembles H on
the ranks of the run, solves n_e + n_h gap states (tol 1e-9, deflated check included) and
prints one JSON record: atoms, rows, build and solve wall seconds, CPU seconds summed over
the ranks, peak resident memory (VmHWM) summed over the ranks, iterations, energies.
Progress of the chebyshev strategy (one line per filter iteration) goes to stderr with
--progress. Run a second time with --seed 2 to check the energies from another start block.

Usage (repository root):
    mpirun -n 2 python benchmarks/bench_large_dot.py --radius 15 --progress --json out.jsonl
    python benchmarks/bench_large_dot.py --radius 5 --strategy davidson
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from hpc_nc.parallel.petsc_build import select_build  # noqa: E402


def peak_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--radius", type=float, default=15.0, help="dot radius (lattice constants)")
    ap.add_argument("--states", type=int, nargs=2, default=(8, 8), metavar=("N_E", "N_H"))
    ap.add_argument("--strategy", default="chebyshev")
    ap.add_argument("--degree", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--progress", action="store_true", help="one line per chebyshev iteration on stderr")
    ap.add_argument("--json", help="append the record to this JSON-lines file")
    args = ap.parse_args(argv)

    PETSc, _ = select_build("complex")
    from mpi4py import MPI

    from hpc_nc.physics import materials
    from hpc_nc.physics.alloy import realise_alloy
    from hpc_nc.physics.geometry import build_nanocrystal
    from hpc_nc.solvers.eigensolver import EigenSettings, solve_gap_states
    from hpc_nc.solvers.hamiltonian import assemble_hamiltonian

    comm = MPI.COMM_WORLD
    if args.progress and comm.rank == 0:
        logging.basicConfig(stream=sys.stderr, format="%(asctime)s %(message)s", level=logging.WARNING)
        logging.getLogger("hpc_nc.solvers.chebyshev").setLevel(logging.DEBUG)
    mats = materials.load_materials()
    vbm, cbm = mats["ZnS"].vbm, mats["ZnS"].cbm
    t0, c0 = time.perf_counter(), time.process_time()
    nc = build_nanocrystal(args.radius)
    alloy = realise_alloy(nc, 0.0, 0.0, 1)
    H = assemble_hamiltonian(comm, nc, alloy, mats, "NSTR")
    t_build = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    if comm.rank == 0:
        print(
            f"# {comm.size} rank(s): R = {args.radius}a, {nc.n_atoms} atoms, {10 * nc.n_atoms} rows, "
            f"H built in {t_build:.1f} s; {args.strategy} solve ...",
            file=sys.stderr,
            flush=True,
        )
    settings = EigenSettings(strategy=args.strategy, degree=args.degree, seed=args.seed)
    t1 = time.perf_counter()
    gs = solve_gap_states(comm, H, args.states[0], args.states[1], vbm, cbm, settings)
    t_solve = comm.allreduce(time.perf_counter() - t1, op=MPI.MAX)
    H.destroy()
    cpu = comm.allreduce(time.process_time() - c0, op=MPI.SUM)
    peak_all = comm.allreduce(peak_mib(), op=MPI.SUM)
    children = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # MiB, this rank
    rec = dict(
        radius_a=args.radius,
        atoms=int(nc.n_atoms),
        rows=int(10 * nc.n_atoms),
        ranks=comm.size,
        strategy=gs.diagnostics["strategy"],
        degree=gs.diagnostics.get("filter_degree"),
        seed=args.seed,
        build_seconds=t_build,
        solve_seconds=t_solve,
        cpu_seconds_all_ranks=cpu,
        peak_mib_all_ranks=peak_all,
        peak_mib_rank0=children,
        iterations=gs.diagnostics["iterations"],
        h_products=gs.diagnostics.get("h_block_products"),
        verified=gs.diagnostics["verified"],
        max_residual=float(np.max(gs.residuals)),
        residual_limit=gs.diagnostics["residual_limit"],
        electron_energies=[float(e) for e in gs.electron_energies],
        hole_energies=[float(h) for h in gs.hole_energies],
    )
    if comm.rank == 0:
        print(json.dumps(rec), flush=True)
        if args.json:
            with open(args.json, "a") as fh:
                fh.write(json.dumps(rec) + "\n")
    return rec


if __name__ == "__main__":
    main()
