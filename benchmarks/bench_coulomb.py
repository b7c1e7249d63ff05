"""Benchmark of the distributed Coulomb sum (hpc_nc.physics.coulomb) and of the exciton entry point.

Runs, in one process (per rank):
1. baseline vs new at a size where the dense reference fits: dense V (N x N) then V @ rho
   against the blocked kernel; median times, ratio, max relative difference;
2. the blocked kernel at the production size (default 7a dot, 11,543 atoms, 1.3e8 pairs)
   with the 25 complex density columns the CI needs (50 real columns);
3. the whole ``analyse_states`` on synthetic Kramers-paired states of the same dot.
Peak memory is the process's maximum resident set size (per rank).

    /usr/bin/python3 benchmarks/bench_coulomb.py [--radius-a 7] [--small-radius-a 4] [--repeats 3]
    mpirun -n 2 /usr/bin/python3 benchmarks/bench_coulomb.py      # step 1 runs serial only
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numpy as np
from mpi4py import MPI

from hpc_nc.physics import exciton as ex
from hpc_nc.physics import observables as obs
from hpc_nc.physics.coulomb import coulomb_matrix_dense, coulomb_potential
from hpc_nc.physics.geometry import build_nanocrystal


def _median_time(fn, repeats, comm):
    """Median wall time over repeats (the machine is shared: CPU time is printed too)."""
    times, cpu = [], []
    for _ in range(repeats):
        comm.Barrier()
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        comm.Barrier()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    _median_time.cpu = statistics.median(cpu)
    return statistics.median(times), out


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _columns(n_atoms, n_complex, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n_atoms, n_complex)) + 1j * rng.normal(size=(n_atoms, n_complex))


def _synthetic_states(nc):
    r = nc.radii
    rng = np.random.default_rng(1)

    def pair(env):
        x = env[:, None] * (rng.normal(size=(nc.n_atoms, 10)) + 1j * rng.normal(size=(nc.n_atoms, 10)))
        up = x.reshape(-1) / np.linalg.norm(x)
        return np.stack([up, obs.time_reversal(up)[:, 0]], axis=1)

    e = np.concatenate([pair(np.exp(-0.5 * (r / 8.0) ** 2)), pair(np.exp(-0.5 * (r / 9.0) ** 2))], axis=1)
    h = np.concatenate([pair(np.exp(-0.5 * (r / 6.0) ** 2)), pair(np.exp(-0.5 * (r / 6.5) ** 2))], axis=1)
    return e, h


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--radius-a", type=float, default=7.0)
    ap.add_argument("--small-radius-a", type=float, default=4.0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    say = print if rank == 0 else (lambda *a, **k: None)
    say(f"ranks: {size}")

    if size == 1:
        nc = build_nanocrystal(args.small_radius_a)
        dens = _columns(nc.n_atoms, 25)
        t_dense, ref = _median_time(lambda: coulomb_matrix_dense(nc.positions) @ dens, args.repeats, comm)
        t_block, new = _median_time(lambda: coulomb_potential(comm, nc.positions, dens), args.repeats, comm)
        err = np.max(np.abs(new - ref)) / np.max(np.abs(ref))
        say(
            f"[1] {args.small_radius_a}a dot, N={nc.n_atoms}, 25 complex columns: dense reference {t_dense:.3f} s, "
            f"blocked {t_block:.3f} s (cpu {_median_time.cpu:.3f} s), ratio dense/blocked {t_dense / t_block:.2f}, max rel diff {err:.2e}, "
            f"peak RSS so far {_peak_mib():.0f} MiB"
        )

    nc = build_nanocrystal(args.radius_a)
    n = nc.n_atoms
    dens = _columns(n, 25)
    t_block, phi = _median_time(lambda: coulomb_potential(comm, nc.positions, dens), args.repeats, comm)
    checksum = float(np.abs(phi).sum())
    say(
        f"[2] {args.radius_a}a dot, N={n} ({n * n:.3g} pairs), 25 complex columns: blocked {t_block:.2f} s "
        f"(cpu {_median_time.cpu:.2f} s, {n * n / t_block / 1e6:.0f} Mpairs/s), checksum {checksum:.12e}"
    )

    e, h = _synthetic_states(nc)
    t_an, res = _median_time(
        lambda: ex.analyse_states(
            comm,
            nc.positions,
            nc.in_core,
            nc.core_radius,
            nc.total_radius,
            np.array([3.0, 3.0, 3.1, 3.1]),
            np.array([0.0, 0.0, -0.02, -0.02]),
            e,
            h,
        ),
        1,
        comm,
    )
    say(
        f"[3] analyse_states on the same dot: {t_an:.2f} s (cpu {_median_time.cpu:.2f} s); exciton {res['exciton_energy']:.6f} eV, "
        f"J_eh {res['J_eh']:.6f} eV, dXX {res['dXX']:.3e} eV, class {res['confinement']}"
    )
    peaks = comm.gather(_peak_mib(), root=0)
    if rank == 0:
        say("peak RSS per rank (MiB): " + ", ".join(f"{p:.0f}" for p in peaks))


if __name__ == "__main__":
    main()
