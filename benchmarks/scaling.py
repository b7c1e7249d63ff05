"""Strong and weak scaling of each stage, at whatever rank count it is launched with.

Stages (each timed collectively on MPI.COMM_WORLD; wall = max over ranks, median of repeats):
  relax        VFF relaxation with TAO (real PETSc build: run it in its own invocation)
  hamiltonian  H assembly (MPIAIJ) plus --spmv products H x
  gap          16 gap states, davidson (8 electrons, 8 holes)
  coulomb      Phi = V rho for the CI's 26 complex densities: direct sum, and FFT convolution
  farm         a task farm of small real tasks (H + gap states of 1a-1.5a dots), 1 rank per task
Strong scaling keeps the dot fixed (--strong-radius-a; the farm keeps 4 x 2 = 8 tasks); weak
scaling grows it with the ranks, radius R0 P^(1/3) (--weak-radius-a R0; the farm runs 4 tasks
per rank), so atoms per rank stay about fixed. Writes one JSON file per launch
(OUT/scaling_<build>_<P>ranks.json); ``--plot`` reads every JSON file in OUT and draws speed-up
and parallel efficiency against ranks (OUT/scaling.png).

    mpirun -n P python benchmarks/scaling.py --stages hamiltonian gap coulomb farm --out DIR
    mpirun -n P python benchmarks/scaling.py --stages relax --out DIR
    srun -n P python benchmarks/scaling.py ...          (same options; slurm/README.md)
    python benchmarks/scaling.py --plot --out DIR

Definitions: strong speed-up S(P) = T(1) / T(P), efficiency S(P) / P; weak efficiency
T(1) / T(P) (1 = perfect). Each P is compared with the smallest P in OUT for the same stage
and build, so a series must start at 1 rank (or efficiencies are relative to its first P).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import resource
import statistics
import time

import numpy as np

BUILD = {"relax": "real", "hamiltonian": "complex", "gap": "complex", "coulomb": "complex", "farm": "complex"}
DEFAULT_STRONG = {"relax": 10.0, "hamiltonian": 7.0, "gap": 5.0, "coulomb": 7.0, "farm": 0.0}
DEFAULT_WEAK = {"relax": 6.0, "hamiltonian": 5.0, "gap": 3.0, "coulomb": 4.0, "farm": 0.0}


def _timed(comm, fn, repeats):
    walls, cpus = [], []
    for _ in range(repeats):
        comm.Barrier()
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        c = time.process_time() - c0
        comm.Barrier()
        walls.append(comm.allreduce(time.perf_counter() - t0, op=_max()))
        cpus.append(comm.allreduce(c))
    return {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus), "wall_all_s": walls}


def _max():
    from mpi4py import MPI

    return MPI.MAX


def _dot(radius_a):
    from hpc_nc.physics.alloy import realise_alloy
    from hpc_nc.physics.geometry import build_nanocrystal

    nc = build_nanocrystal(radius_a)
    return nc, realise_alloy(nc, 0.0, 0.0, 1)


def stage_relax(comm, radius_a, repeats, args):
    """Core/shell dot of total radius radius_a, half core (Zn0.5In0.5S) and half ZnS shell."""
    from hpc_nc.physics.alloy import realise_alloy
    from hpc_nc.physics.geometry import build_nanocrystal
    from hpc_nc.solvers.relax import relax_structure

    nc = build_nanocrystal(radius_a / 2, radius_a / 2)
    alloy = realise_alloy(nc, 0.0, 0.5, 1)
    out = _timed(comm, lambda: relax_structure(comm, nc, alloy), repeats)
    return out | {"n_atoms": nc.n_atoms}


def stage_hamiltonian(comm, radius_a, repeats, args):
    from hpc_nc.physics.materials import load_materials
    from hpc_nc.solvers.hamiltonian import assemble_hamiltonian

    nc, alloy = _dot(radius_a)
    mats = load_materials()
    holder = {}

    def build():
        if "H" in holder:
            holder.pop("H").destroy()
        holder["H"] = assemble_hamiltonian(comm, nc, alloy, mats, "NSTR")

    t_build = _timed(comm, build, repeats)
    H = holder["H"]
    x, y = H.createVecs()
    x.setRandom()

    def spmv():
        for _ in range(args.spmv):
            H.mult(x, y)

    t_spmv = _timed(comm, spmv, repeats)
    H.destroy()
    return t_build | {
        "n_atoms": nc.n_atoms,
        "spmv_wall_s": t_spmv["wall_s"],
        "spmv_cpu_s": t_spmv["cpu_s"],
        "spmv_count": args.spmv,
        "assembly_wall_s": t_build["wall_s"],
        "wall_s": t_build["wall_s"] + t_spmv["wall_s"],
        "cpu_s": t_build["cpu_s"] + t_spmv["cpu_s"],
    }


def _gap(comm, nc, alloy):
    from hpc_nc.physics.materials import load_materials
    from hpc_nc.solvers.eigensolver import EigenSettings, solve_gap_states
    from hpc_nc.solvers.hamiltonian import assemble_hamiltonian

    mats = load_materials()
    H = assemble_hamiltonian(comm, nc, alloy, mats, "NSTR")
    try:
        return solve_gap_states(comm, H, 8, 8, mats["ZnS"].vbm, mats["ZnS"].cbm, EigenSettings(strategy="davidson"))
    finally:
        H.destroy()


def stage_gap(comm, radius_a, repeats, args):
    nc, alloy = _dot(radius_a)
    out = _timed(comm, lambda: _gap(comm, nc, alloy), repeats)
    return out | {"n_atoms": nc.n_atoms}


def stage_coulomb(comm, radius_a, repeats, args):
    from hpc_nc.physics.coulomb import ZNS_EPSILON_INF, coulomb_potential, screening_model
    from hpc_nc.physics.coulomb_fft import coulomb_potential_fft, screened_pair_potential

    nc, _ = _dot(radius_a)
    rng = np.random.default_rng(0)
    dens = rng.random((nc.n_atoms, 26)) + 1j * rng.normal(size=(nc.n_atoms, 26))
    eps = ZNS_EPSILON_INF
    model = screening_model(epsilon=eps)  # the default screening, for both paths
    v = screened_pair_potential(model)
    direct = _timed(comm, lambda: coulomb_potential(comm, nc.positions, dens, eps, screening=model.model), repeats)
    fft = _timed(
        comm, lambda: coulomb_potential_fft(comm, nc.positions, dens, v, model.onsite_ev, nc.lattice_constant), repeats
    )
    return {
        "n_atoms": nc.n_atoms,
        "wall_s": direct["wall_s"],
        "cpu_s": direct["cpu_s"],
        "fft_wall_s": fft["wall_s"],
        "fft_cpu_s": fft["cpu_s"],
    }


class _FarmTask:
    def __init__(self, index, radius_a):
        self.index, self.key, self.radius_a = index, f"t{index}", radius_a
        from hpc_nc.physics.geometry import count_atoms_in_sphere

        self.n_atoms = count_atoms_in_sphere(radius_a)


def stage_farm(comm, n_tasks, repeats, args):
    from hpc_nc.parallel.farm import run_farm

    # period 4, so 4 P tasks are P copies of the same mix (weak scaling: same work per rank)
    tasks = [_FarmTask(i, (1.0, 1.25, 1.5, 1.25)[i % 4]) for i in range(n_tasks)]

    def run_task(group, task):
        nc, alloy = _dot(task.radius_a)
        return {"e1": float(_gap(group, nc, alloy).electron_energies[0])}

    summary = {}

    def farm():
        summary["s"] = run_farm(comm, tasks, 1, run_task, lambda t, r, e: None, progress="none")

    out = _timed(comm, farm, repeats)
    s = summary["s"]
    busy = getattr(s, "busy_fraction", None)
    return out | {
        "n_tasks": n_tasks,
        "n_atoms": int(sum(t.n_atoms for t in tasks)),
        "busy_fraction": None if busy is None else float(busy),
    }


STAGES = {
    "relax": stage_relax,
    "hamiltonian": stage_hamiltonian,
    "gap": stage_gap,
    "coulomb": stage_coulomb,
    "farm": stage_farm,
}


def measure(args):
    from mpi4py import MPI

    builds = {BUILD[s] for s in args.stages}
    if len(builds) != 1:
        raise SystemExit(
            "scaling.py: relax needs the real PETSc build and the other stages the complex one: "
            "run them in separate invocations"
        )
    build = builds.pop()
    from hpc_nc.parallel.petsc_build import select_build

    select_build(build)
    comm = MPI.COMM_WORLD
    p = comm.size
    record = {
        "ranks": p,
        "build": build,
        "machine": platform.node(),
        "processor": platform.processor(),
        "cpus_on_node": os.cpu_count(),
        "launcher": "srun" if "SLURM_PROCID" in os.environ else "mpirun",
        "nodes": int(os.environ.get("SLURM_NNODES", 1)),
        "load1_start": os.getloadavg()[0],
        "stages": {},
    }
    for stage in args.stages:
        res = {}
        for mode in ("strong", "weak"):
            if stage == "farm":
                size = 8 if mode == "strong" else 4 * p
            else:
                r0 = (args.strong_radius_a if mode == "strong" else args.weak_radius_a) or (
                    DEFAULT_STRONG if mode == "strong" else DEFAULT_WEAK
                )[stage]
                size = r0 if mode == "strong" else r0 * p ** (1.0 / 3.0)
            reps = 1 if stage in ("gap", "farm", "relax") else args.repeats
            res[mode] = STAGES[stage](comm, size, reps, args) | {"size_parameter": size}
            if comm.rank == 0:
                print(
                    f"{stage:12s} {mode:6s} P={p}: {json.dumps({k: v for k, v in res[mode].items() if k != 'wall_all_s'})}",
                    flush=True,
                )
        record["stages"][stage] = res
    peaks = comm.gather(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, root=0)
    record["peak_bytes_per_rank"] = peaks
    if comm.rank == 0:
        os.makedirs(args.out, exist_ok=True)
        path = os.path.join(args.out, f"scaling_{build}_{p}ranks.json")
        with open(path, "w") as f:
            json.dump(record, f, indent=1)
        print(f"wrote {path}")


def plot(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[str, dict[int, dict]] = {}
    notes = set()
    for path in sorted(glob.glob(os.path.join(args.out, "scaling_*ranks.json"))):
        with open(path) as f:
            rec = json.load(f)
        notes.add(f"{rec['machine']} ({rec['cpus_on_node']} cores/node)")
        notes.add(f"P={rec['ranks']} {rec['build']}: load {rec['load1_start']:.1f}")
        for stage, res in rec["stages"].items():
            series.setdefault(stage, {})[rec["ranks"]] = res
            if stage == "coulomb":
                series.setdefault("coulomb-fft", {})[rec["ranks"]] = {
                    m: {"wall_s": res[m]["fft_wall_s"]} for m in ("strong", "weak")
                }
    if not series:
        raise SystemExit(f"scaling.py: no scaling_*ranks.json in {args.out}")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    table = []
    for stage, by_p in sorted(series.items()):
        ps = sorted(by_p)
        p0 = ps[0]
        t0s, t0w = by_p[p0]["strong"]["wall_s"], by_p[p0]["weak"]["wall_s"]
        speed = [t0s / by_p[p]["strong"]["wall_s"] * p0 for p in ps]
        eff = [s / p for s, p in zip(speed, ps)]
        weak = [t0w / by_p[p]["weak"]["wall_s"] for p in ps]
        axes[0].plot(ps, speed, "o-", label=stage)
        axes[1].plot(ps, eff, "o-", label=stage)
        axes[2].plot(ps, weak, "o-", label=stage)
        for p, s, e, w in zip(ps, speed, eff, weak):
            table.append((stage, p, by_p[p]["strong"]["wall_s"], s, e, by_p[p]["weak"]["wall_s"], w))
    all_p = sorted({p for v in series.values() for p in v})
    axes[0].plot(all_p, all_p, "k--", lw=0.8, label="ideal")  # at the measured P (log x axis)
    for ax, title, ylabel in (
        (axes[0], "strong scaling: speed-up", "T(1) / T(P)"),
        (axes[1], "strong scaling: parallel efficiency", "T(1) / (P T(P))"),
        (axes[2], "weak scaling: efficiency (atoms per rank fixed)", "T(1) / T(P)"),
    ):
        ax.set_title(title, fontsize=11)
        ax.set_xlabel("MPI ranks P")
        ax.set_ylabel(ylabel)
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted({p for v in series.values() for p in v}))
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.grid(alpha=0.3)
    for ax in axes[1:]:
        ax.axhline(1.0, color="k", ls="--", lw=0.8)
        ax.set_ylim(0, 1.25)
    axes[0].legend(fontsize=8)
    fig.suptitle("wall time, median of repeats; " + "; ".join(sorted(notes)), fontsize=8)
    fig.tight_layout()
    png = os.path.join(args.out, "scaling.png")
    fig.savefig(png, dpi=110)
    print(f"{'stage':12s} {'P':>3s} {'strong s':>9s} {'speed-up':>8s} {'eff':>5s} {'weak s':>8s} {'weak eff':>8s}")
    for row in table:
        print(f"{row[0]:12s} {row[1]:3d} {row[2]:9.2f} {row[3]:8.2f} {row[4]:5.2f} {row[5]:8.2f} {row[6]:8.2f}")
    print(f"wrote {png}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stages", nargs="+", choices=list(STAGES), default=["hamiltonian", "gap", "coulomb", "farm"])
    ap.add_argument("--out", default="benchmarks/scaling_out")
    ap.add_argument("--strong-radius-a", type=float, help="fixed dot radius (a) for strong scaling (default per stage)")
    ap.add_argument("--weak-radius-a", type=float, help="dot radius (a) at 1 rank for weak scaling (default per stage)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--spmv", type=int, default=50, help="products H x timed after assembly")
    ap.add_argument("--plot", action="store_true", help="only read OUT/*.json and draw OUT/scaling.png")
    args = ap.parse_args()
    plot(args) if args.plot else measure(args)


if __name__ == "__main__":
    main()
