"""Benchmark: Keating relaxation with PETSc TAO vs SciPy on Zn(1-x)In(x)S alloy dots.

Same energy and gradient kernel (hpc_nc.physics.vff) for every optimiser; same convergence target,
the largest atomic force <= --force-tol eV/Å (SciPy's gtol is on the largest gradient
component, so it is given force_tol/√3, which guarantees the same atomic criterion; the
force actually reached is printed). Runs in one process, serially:

    /usr/bin/python3 benchmarks/bench_relax.py                 # 3a, 5a, 7a, 15a
    /usr/bin/python3 benchmarks/bench_relax.py --max-radius 7  # skip the 110k-atom dot

Memory: tracemalloc peak of Python/numpy allocations during one extra, untimed run of
each relaxation (PETSc's own
Vec storage is not seen by tracemalloc; for nonlinear CG it is ~10 vectors of 3N doubles,
listed separately as an estimate), and the process's maximum RSS after each size.
Times: median wall and CPU (process) seconds; on a shared machine the CPU time is the
steadier number, and the ratio column compares CPU times with TAO bncg. SciPy may use
a multithreaded BLAS for its vector operations (reported as CPU > wall).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from hpc_nc.parallel.petsc_build import select_build  # noqa: E402

PETSc, _ = select_build("real")

from mpi4py import MPI  # noqa: E402

from hpc_nc.physics import vff  # noqa: E402
from hpc_nc.physics.alloy import realise_alloy  # noqa: E402
from hpc_nc.physics.geometry import build_nanocrystal  # noqa: E402
from hpc_nc.solvers.relax import RelaxSettings, relax_structure  # noqa: E402


def max_atomic_force(x, terms):
    g = vff.keating_energy_gradient(x, terms)[1]
    g -= g.mean(axis=0)
    return float(np.linalg.norm(g, axis=1).max())


def run_tao(nc, alloy, tao_type, force_tol):
    r = relax_structure(MPI.COMM_SELF, nc, alloy, RelaxSettings(tao_type=tao_type, force_tol=force_tol, max_it=50000))
    return dict(
        energy=r.energy_ev,
        fmax=r.max_force_ev_per_angstrom,
        its=r.iterations,
        nfev=r.function_evaluations,
        ok=r.converged,
    )


def run_scipy(nc, alloy, method, force_tol):
    from scipy.optimize import minimize

    terms = vff.nanocrystal_terms(nc, alloy)
    count = [0]

    def fun(flat):
        count[0] += 1
        e, g = vff.keating_energy_gradient(flat.reshape(-1, 3), terms)
        return e, g.ravel()

    opts = {"gtol": force_tol / np.sqrt(3.0), "maxiter": 50000}
    if method == "L-BFGS-B":
        opts.update(ftol=1e-16, maxcor=10, maxfun=100000)
    res = minimize(fun, nc.positions.ravel(), jac=True, method=method, options=opts)
    x = res.x.reshape(-1, 3)
    fmax = max_atomic_force(x, terms)
    return dict(energy=float(res.fun), fmax=fmax, its=int(res.nit), nfev=count[0], ok=bool(fmax <= force_tol))


METHODS = {
    "TAO bncg (default)": lambda nc, al, tol: run_tao(nc, al, "bncg", tol),
    "TAO lmvm": lambda nc, al, tol: run_tao(nc, al, "lmvm", tol),
    "TAO nls (Newton)": lambda nc, al, tol: run_tao(nc, al, "nls", tol),
    "SciPy L-BFGS-B": lambda nc, al, tol: run_scipy(nc, al, "L-BFGS-B", tol),
    "SciPy CG": lambda nc, al, tol: run_scipy(nc, al, "CG", tol),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--radii", type=float, nargs="+", default=[3.0, 5.0, 7.0, 15.0], help="dot radii, lattice constants"
    )
    ap.add_argument("--max-radius", type=float, default=None, help="skip dots larger than this (lattice constants)")
    ap.add_argument("--x-in", type=float, default=0.5, help="In fraction of the cations")
    ap.add_argument("--force-tol", type=float, default=1e-4, help="eV/Å on the largest atomic force")
    ap.add_argument("--repeats", type=int, default=3, help="repeats for dots below 10a (1 above)")
    ap.add_argument("--no-memory", action="store_true", help="skip the extra tracemalloc run per method")
    ap.add_argument("--skip", nargs="*", default=[], help="method names to skip (substring match)")
    ap.add_argument("--newton-max-radius", type=float, default=7.0, help="largest dot for nls (Hessian assembly)")
    args = ap.parse_args(argv)
    radii = [r for r in args.radii if args.max_radius is None or r <= args.max_radius]
    print(f"# Keating relaxation, Zn(1-x)In(x)S core-only dots, x_In={args.x_in}, force_tol={args.force_tol} eV/A")
    print(f"# PETSc {'.'.join(map(str, PETSc.Sys.getVersion()))}, numpy {np.__version__}, 1 process")
    header = (
        f"{'R/a':>5} {'atoms':>7} {'method':<20} {'wall s':>9} {'cpu s':>8} {'cpu/bncg':>8} {'iters':>6} {'evals':>6} "
        f"{'E (eV)':>14} {'max F':>9} {'conv':>5} {'py peak MB':>10}"
    )
    print(header)
    rows = []
    for radius in radii:
        nc = build_nanocrystal(radius, 0.0)
        alloy = realise_alloy(nc, x_cu=0.0, x_in=args.x_in, seed=1)
        reps = args.repeats if radius < 10 else 1
        base = None
        for name, fn in METHODS.items():
            if any(s.lower() in name.lower() for s in args.skip):
                continue
            if "nls" in name and radius > args.newton_max_radius:
                continue
            times, cpus, peak, out = [], [], 0, None
            for _ in range(reps):
                t0, c0 = time.perf_counter(), time.process_time()
                out = fn(nc, alloy, args.force_tol)
                times.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
            if not args.no_memory:
                # Separate run: tracemalloc slows every allocation (~1.5x here), so it is
                # kept out of the timed runs.
                tracemalloc.start()
                fn(nc, alloy, args.force_tol)
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
            med, cpu = statistics.median(times), statistics.median(cpus)
            base = cpu if base is None else base
            row = dict(
                radius=radius,
                atoms=nc.n_atoms,
                method=name,
                seconds=med,
                cpu_seconds=cpu,
                ratio=cpu / base,
                peak_mb=peak / 2**20,
                **out,
            )
            rows.append(row)
            print(
                f"{radius:5.1f} {nc.n_atoms:7d} {name:<20} {med:9.2f} {cpu:8.2f} {cpu / base:8.2f} {out['its']:6d} {out['nfev']:6d} "
                f"{out['energy']:14.6f} {out['fmax']:9.2e} {str(out['ok']):>5} {peak / 2**20:10.1f}",
                flush=True,
            )
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        petsc_mb = 10 * 3 * nc.n_atoms * 8 / 2**20
        print(
            f"# R={radius}a: process max RSS so far {rss:.0f} MB; PETSc Vec storage for CG ~{petsc_mb:.1f} MB (estimate)"
        )
    return rows


if __name__ == "__main__":
    main()
