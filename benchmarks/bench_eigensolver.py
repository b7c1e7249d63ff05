"""Benchmark: band-edge eigenstates of pure ZnS dots, the strategies vs SciPy ARPACK.

For each radius (lattice constants) the complex Hamiltonian is assembled once
(hpc_nc.solvers.hamiltonian.assemble_hamiltonian, NSTR model, pure ZnS) and every solver variant
computes the same n_e electron + n_h hole states in one process: the block Davidson
strategy (spin-orbit-free LDLᵀ preconditioner; "[N rhs]" = right-hand sides of its
triangular solves), the factorisation-free chebyshev strategy ("[N Hx]" = products of H
with a vector), SLEPc shift-invert (MUMPS LU; ordering and block-low-rank variants),
SLEPc harmonic Krylov-Schur (factorisation-free),
and the paper's method, SciPy ARPACK shift-invert (``eigsh(H, k, sigma=...)``, SuperLU) on a
gathered CSR copy, one call per band edge. Reported per variant: wall time of the solve,
peak resident memory of the process during the solve (VmHWM reset before each variant via
/proc/self/clear_refs, so variants do not see each other's peaks; rank 0), and the largest
energy difference to the first SLEPc variant.

Usage (from the repository root):
    python benchmarks/bench_eigensolver.py --max-radius 7            # full (slow: minutes)
    python benchmarks/bench_eigensolver.py --max-radius 3            # quick
    mpirun -n 2 python benchmarks/bench_eigensolver.py --max-radius 4
Options: --radii 2 4 7, --variants NAME ..., --scipy-max-radius R (SuperLU fill grows fast),
--states N_E N_H, --json FILE.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from hpc_nc.parallel.petsc_build import select_build  # noqa: E402

VARIANTS = {
    # name: (strategy, EigenSettings keyword arguments)
    "davidson": ("davidson", {}),
    # the davidson variants measured while choosing its defaults (benchmarks/RESULTS.md)
    "davidson-fullrank": ("davidson", {"petsc_options": {"davidson_mat_mumps_icntl_35": 0}}),
    "davidson-extra4": ("davidson", {"extra_states": 4}),
    "davidson-margin02": ("davidson", {"edge_margin": 0.02}),
    "davidson-noverify": ("davidson", {"verify": False}),
    # the unstructured search space of the first version (before the T-invariant space, 2026-12-07)
    "davidson-unstructured": ("davidson", {"kramers_space": False}),
    # factorisation-free Chebyshev-filtered subspace iteration (memory linear in the atoms)
    "chebyshev": ("chebyshev", {}),
    "chebyshev-deg24": ("chebyshev", {"degree": 24}),
    "chebyshev-deg96": ("chebyshev", {"degree": 96}),
    "auto": ("auto", {}),
    "si-default": ("shift-invert", {}),
    # the defaults before the 2026-11-25 tuning: targets 10 % of the bulk gap inside, 4 check states
    "si-previous": ("shift-invert", {"edge_margin": 0.1, "check_states": 4}),
    "si-ncv40": ("shift-invert", {"ncv": 40}),
    "si-metis": ("shift-invert", {"petsc_options": {"st_mat_mumps_icntl_7": 5}}),
    "si-pord": ("shift-invert", {"petsc_options": {"st_mat_mumps_icntl_7": 4}}),
    "si-metis-blr": (
        "shift-invert",
        {"petsc_options": {"st_mat_mumps_icntl_7": 5, "st_mat_mumps_icntl_35": 2, "st_mat_mumps_cntl_7": 1e-10}},
    ),
    "si-metis-blr8": (
        "shift-invert",
        {"petsc_options": {"st_mat_mumps_icntl_7": 5, "st_mat_mumps_icntl_35": 2, "st_mat_mumps_cntl_7": 1e-8}},
    ),
    # BLR factor at 1e-6 as a preconditioner of GMRES (the bare 1e-6 factor misses the residual limit)
    "si-blr6-gmres": (
        "shift-invert",
        {
            "petsc_options": {
                "st_mat_mumps_icntl_35": 2,
                "st_mat_mumps_cntl_7": 1e-6,
                "st_ksp_type": "gmres",
                "st_ksp_rtol": 1e-12,
            }
        },
    ),
    "si-midgap": ("shift-invert", {"single_shift": True}),
    "harmonic-previous": ("harmonic", {"edge_margin": 0.1, "check_states": 4}),
    "harmonic": ("harmonic", {}),
    "harmonic-ncv128": ("harmonic", {"ncv": 128}),
}
DEFAULT_VARIANTS = ["davidson", "chebyshev", "si-default", "harmonic"]  # the strategies; the rest via --variants


def peak_reset() -> None:
    """Reset the process's resident-memory high-water mark (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def peak_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def scipy_baseline(csr, n_e, n_h, vbm, cbm, margin=0.1):
    """ARPACK shift-invert (the paper's method): one call per band edge, k = n + 4 nearest."""
    from scipy.sparse.linalg import eigsh

    gap = cbm - vbm
    mid = 0.5 * (vbm + cbm)
    w_e = eigsh(csr, k=n_e + 4, sigma=cbm - margin * gap, which="LM", tol=1e-10, return_eigenvectors=False)
    w_h = eigsh(csr, k=n_h + 4, sigma=vbm + margin * gap, which="LM", tol=1e-10, return_eigenvectors=False)
    e = np.sort(w_e[w_e > mid])[:n_e]
    h = np.sort(w_h[w_h < mid])[::-1][:n_h]
    return e, h


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-radius", type=float, default=7.0, help="largest dot radius (lattice constants)")
    ap.add_argument("--radii", type=float, nargs="*", help="explicit radii (default 2..max-radius step 1)")
    ap.add_argument("--variants", nargs="*", default=DEFAULT_VARIANTS, choices=sorted(VARIANTS))
    ap.add_argument(
        "--scipy-max-radius",
        type=float,
        default=5.0,
        help="run SciPy ARPACK+SuperLU up to this radius (its LU fill explodes beyond)",
    )
    ap.add_argument("--states", type=int, nargs=2, default=(8, 8), metavar=("N_E", "N_H"))
    ap.add_argument("--json", help="append the result records to this JSON-lines file")
    args = ap.parse_args(argv)

    PETSc, SLEPc = select_build("complex")
    from mpi4py import MPI

    from hpc_nc.physics import materials
    from hpc_nc.physics.alloy import realise_alloy
    from hpc_nc.physics.geometry import build_nanocrystal
    from hpc_nc.solvers.eigensolver import EigenSettings, solve_gap_states
    from hpc_nc.solvers.hamiltonian import assemble_hamiltonian

    comm = MPI.COMM_WORLD
    rank = comm.rank
    PETSc.Log.begin()  # event counts: triangular solves (MatSolve) and factorisations per variant
    mat_solve, lu_num = PETSc.Log.Event("MatSolve"), PETSc.Log.Event("MatLUFactorNum")
    mats = materials.load_materials()
    vbm, cbm = mats["ZnS"].vbm, mats["ZnS"].cbm
    n_e, n_h = args.states
    radii = args.radii or [float(r) for r in np.arange(2.0, args.max_radius + 1e-9, 1.0)]
    if rank == 0:
        print(
            f"# {comm.size} MPI rank(s), PETSc {'.'.join(map(str, PETSc.Sys.getVersion()))}, "
            f"SLEPc {'.'.join(map(str, SLEPc.Sys.getVersion()))}; {n_e} electrons + {n_h} holes; "
            f"pure ZnS (NSTR), VBM/CBM estimates {vbm:.3f}/{cbm:.3f} eV"
        )
        print(
            f"{'R/a':>4} {'atoms':>6} {'rows':>7} {'variant':>16} {'time/s':>8} {'cpu/s':>8} {'peak/MiB':>9} "
            f"{'iters [MatSolve/LU]':>22} {'max|dE|/eV':>11} {'e1/eV':>9} {'h1/eV':>9}"
        )
    records = []
    for radius in radii:
        nc = build_nanocrystal(radius)
        alloy = realise_alloy(nc, 0.0, 0.0, 1)
        H = assemble_hamiltonian(comm, nc, alloy, mats, "NSTR")
        reference = None
        for name in args.variants:
            strategy, kw = VARIANTS[name]
            settings = EigenSettings(strategy=strategy, **kw)
            comm.Barrier()
            peak_reset()
            n_solve0, n_lu0 = mat_solve.getPerfInfo()["count"], lu_num.getPerfInfo()["count"]
            t0, c0 = time.perf_counter(), time.process_time()
            error = None
            try:
                gs = solve_gap_states(comm, H, n_e, n_h, vbm, cbm, settings)
            except Exception as exc:  # record and go on with the next variant
                error = str(exc).splitlines()[0]
            seconds = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
            cpu = comm.allreduce(time.process_time() - c0, op=MPI.MAX)
            peak = comm.allreduce(peak_mib(), op=MPI.MAX)
            peak_all = comm.allreduce(peak_mib(), op=MPI.SUM)  # every rank's VmHWM together
            rec = dict(
                radius_a=radius,
                atoms=nc.n_atoms,
                rows=10 * nc.n_atoms,
                variant=name,
                ranks=comm.size,
                seconds=seconds,
                cpu_seconds=cpu,
                peak_mib=peak,
                peak_mib_all_ranks=peak_all,
                error=error,
                mat_solves=mat_solve.getPerfInfo()["count"] - n_solve0,
                factorisations=lu_num.getPerfInfo()["count"] - n_lu0,
            )
            if error is None:
                energies = np.concatenate([gs.electron_energies, gs.hole_energies])
                reference = energies if reference is None else reference
                rec.update(
                    iterations=gs.diagnostics["iterations"],
                    max_diff_ev=float(abs(energies - reference).max()),
                    e1=float(gs.electron_energies[0]),
                    h1=float(gs.hole_energies[0]),
                    max_residual=float(gs.residuals.max()),
                    preconditioner_rhs=gs.diagnostics.get("preconditioner_rhs"),
                    preconditioner_factor_seconds=gs.diagnostics.get("preconditioner_factor_seconds"),
                    strategy=gs.diagnostics["strategy"],
                    h_products=gs.diagnostics.get("h_block_products"),
                )
                del gs
            records.append(rec)
            if rank == 0:
                _print(rec)
        if radius <= args.scipy_max_radius:
            csr = _gather_csr(comm, H)
            comm.Barrier()
            peak_reset()
            rec = dict(
                radius_a=radius, atoms=nc.n_atoms, rows=10 * nc.n_atoms, variant="scipy-arpack", ranks=1, error=None
            )
            if rank == 0:
                t0, c0 = time.perf_counter(), time.process_time()
                try:
                    e, h = scipy_baseline(csr, n_e, n_h, vbm, cbm)
                    energies = np.concatenate([e, h])
                    rec.update(
                        max_diff_ev=float(abs(energies - reference).max()) if reference is not None else None,
                        e1=float(e[0]),
                        h1=float(h[0]),
                    )
                except Exception as exc:
                    rec["error"] = str(exc).splitlines()[0]
                rec.update(seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0, peak_mib=peak_mib())
                _print(rec)
            records.append(rec)
            del csr
        H.destroy()
    if rank == 0:
        _summary(records)
        if args.json:
            with open(args.json, "a") as fh:
                for rec in records:
                    fh.write(json.dumps(rec) + "\n")
    return records


def _gather_csr(comm, H):
    """SciPy CSR copy of the distributed H on rank 0 (None elsewhere)."""
    import scipy.sparse as sp

    indptr, indices, values = H.getValuesCSR()
    r0, r1 = H.getOwnershipRange()
    local = sp.csr_matrix((values, indices, indptr), shape=(r1 - r0, H.getSize()[1]))
    parts = comm.gather(local, root=0)
    return sp.vstack(parts).tocsc() if comm.rank == 0 else None


def _print(rec):
    if rec.get("error"):
        print(
            f"{rec['radius_a']:4.1f} {rec['atoms']:6d} {rec['rows']:7d} {rec['variant']:>16} "
            f"{rec['seconds']:8.2f} {rec['cpu_seconds']:8.2f} {rec['peak_mib']:9.0f}  FAILED: {rec['error']}",
            flush=True,
        )
        return
    iters = ",".join(str(i) for i in rec.get("iterations", [])) or "-"
    if rec.get("mat_solves"):
        iters += f" [{rec['mat_solves']}s/{rec['factorisations']}f]"
    if rec.get("preconditioner_rhs"):
        iters += f" [{rec['preconditioner_rhs']}rhs]"
    elif rec.get("h_products"):
        iters += f" [{rec['h_products']}Hx]"
    diff = rec.get("max_diff_ev")
    print(
        f"{rec['radius_a']:4.1f} {rec['atoms']:6d} {rec['rows']:7d} {rec['variant']:>16} {rec['seconds']:8.2f} "
        f"{rec['cpu_seconds']:8.2f} {rec['peak_mib']:9.0f} {iters:>22} {diff if diff is not None else float('nan'):11.1e} "
        f"{rec['e1']:9.5f} {rec['h1']:9.5f}"
        + (f"  (all ranks {rec['peak_mib_all_ranks']:.0f} MiB)" if rec.get("ranks", 1) > 1 else ""),
        flush=True,
    )


def _summary(records):
    print(
        "\n# wall-time ratio to si-previous (else si-default) per radius (CPU-time ratio in brackets: the machine is shared)"
    )
    by_r = {}
    for rec in records:
        by_r.setdefault(rec["radius_a"], {})[rec["variant"]] = rec
    for r, recs in by_r.items():
        base = recs.get("si-previous") or recs.get("si-default") or next(iter(recs.values()))
        if not base or base.get("error"):
            continue
        parts = [
            f"{v} {rec['seconds'] / base['seconds']:.2f}x ({rec['cpu_seconds'] / base['cpu_seconds']:.2f}x)"
            for v, rec in recs.items()
            if not rec.get("error")
        ]
        print(f"R={r:.1f}a: " + ", ".join(parts))


if __name__ == "__main__":
    main()
