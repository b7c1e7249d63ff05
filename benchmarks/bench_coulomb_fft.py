"""Coulomb potentials of the CI's densities: direct sum against FFT convolution, by dot size.

For each radius (units of a) it times, in one process, hpc_nc.physics.coulomb.coulomb_potential
(exact O(N^2) sum) and hpc_nc.physics.coulomb_fft.coulomb_potential_fft (O(G log G)
convolution on the zinc-blende grid) on 26 complex density columns (what
exciton.coulomb_terms passes), both with the same screening, and reports the medians of
wall and CPU time, their ratio and the largest relative difference max|dPhi| / max|Phi|.
CPU time is summed over ranks. Peak memory: ru_maxrss of rank 0 after the whole run.

    python benchmarks/bench_coulomb_fft.py [--radii 3 5 7 10 15] [--repeats 3] [--direct-max-radius 15]
    mpirun -n 2 python benchmarks/bench_coulomb_fft.py --radii 7 15
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import numpy as np
from mpi4py import MPI

from hpc_nc.physics.coulomb import DEFAULT_SCREENING, ZNS_EPSILON_INF, coulomb_potential, screening_model
from hpc_nc.physics.coulomb_fft import coulomb_potential_fft, lattice_grid, screened_pair_potential
from hpc_nc.physics.geometry import build_nanocrystal


def timed(comm, fn, repeats):
    walls, cpus, out = [], [], None
    for _ in range(repeats):
        comm.Barrier()
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        c = time.process_time() - c0
        comm.Barrier()
        walls.append(comm.allreduce(time.perf_counter() - t0, op=MPI.MAX))
        cpus.append(comm.allreduce(c))
    return statistics.median(walls), statistics.median(cpus), out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--radii", type=float, nargs="+", default=[3, 5, 7, 10, 15])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--screening", default=DEFAULT_SCREENING, help="screening model of both paths")
    ap.add_argument("--out", help="append one JSON line per radius (for benchmarks/fit_cost.py)")
    ap.add_argument("--direct-max-radius", type=float, default=15.0, help="skip the direct sum above this radius")
    args = ap.parse_args()
    comm = MPI.COMM_WORLD
    ap_screening = args.screening
    eps = ZNS_EPSILON_INF
    model = screening_model(ap_screening, eps)
    v = screened_pair_potential(model)
    say = print if comm.rank == 0 else (lambda *a, **k: None)
    say(f"ranks {comm.size}; 26 complex columns; screening {ap_screening}, eps_inf={eps}")
    say(
        f"{'R/a':>5} {'atoms':>7} {'FFT grid':>13} | {'direct s':>9} {'cpu':>8} | {'fft s':>7} {'cpu':>7} | "
        f"{'direct/fft (cpu)':>16} | max rel diff"
    )
    for radius in args.radii:
        nc = build_nanocrystal(radius)
        n = nc.n_atoms
        rng = np.random.default_rng(0)
        dens = rng.random((n, 26)) + 1j * rng.normal(size=(n, 26))
        grid = lattice_grid(nc.positions, nc.lattice_constant)
        reps = 1 if radius >= 10 else args.repeats
        wf, cf, phi_f = timed(
            comm, lambda: coulomb_potential_fft(comm, nc.positions, dens, v, model.onsite_ev, nc.lattice_constant), reps
        )
        if radius <= args.direct_max_radius:
            wd, cd, phi_d = timed(
                comm, lambda: coulomb_potential(comm, nc.positions, dens, eps, screening=ap_screening), reps
            )
            err = float(np.max(np.abs(phi_f - phi_d)) / np.max(np.abs(phi_d)))
            say(
                f"{radius:5.1f} {n:7d} {'x'.join(map(str, grid.padded)):>13} | {wd:9.2f} {cd:8.2f} | {wf:7.2f} {cf:7.2f} | "
                f"{cd / cf:16.2f} | {err:.1e}",
                flush=True,
            )
        else:
            wd = cd = err = None
            say(
                f"{radius:5.1f} {n:7d} {'x'.join(map(str, grid.padded)):>13} | {'-':>9} {'-':>8} | {wf:7.2f} {cf:7.2f} |",
                flush=True,
            )
        if args.out and comm.rank == 0:
            with open(args.out, "a") as f:
                f.write(
                    json.dumps(
                        {
                            "radius_a": radius,
                            "n_atoms": n,
                            "ranks": comm.size,
                            "grid": grid.padded,
                            "direct_wall_s": wd,
                            "direct_cpu_s": cd,
                            "fft_wall_s": wf,
                            "fft_cpu_s": cf,
                            "max_rel_diff": err,
                        }
                    )
                    + "\n"
                )
    peak = comm.gather(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, root=0)
    say("peak RSS per rank (MiB): " + ", ".join(f"{p:.0f}" for p in (peak or [])))


if __name__ == "__main__":
    main()
