"""Measure electronic-stage tasks one per fresh process and compare with the cost model.

Each task runs in its own process (or its own ``mpirun -n R`` group), so its peak resident
set size (ru_maxrss) belongs to that task alone. The worker reports, summed over its ranks:
CPU seconds of the task (build + gap states + analysis; process_time differences), wall
seconds, and the peak RSS of every rank together with the RSS after the imports (the
baseline). The parent prints a table against ``hpc_nc.pipeline.cost.predict_task`` and can
write JSON lines for the fit (benchmarks/fit_cost.py reads them).

    python benchmarks/bench_cost.py --job jobs/demo.yaml                        # every task
    python benchmarks/bench_cost.py --size 3 3 --size 4 0 --size 7 0 --ranks 1 2 --out cost.jsonl

STR tasks read relaxed positions from the job's structures file (run ``hpc-nc relax`` first);
``--size C S`` makes one NSTR ZnS task of core C and shell S (units of a).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SIZE_JOB = """
name: cost-size
output: {{results: /tmp/cost_size.h5, structures: /tmp/cost_size_structures.h5}}
sweep:
  compositions: [[0.0, {x_in}]]
  geometries: [[{core}, {shell}]]
  model: [{model}]
states: {{electrons: {ne}, holes: {nh}}}
solver: {{strategy: {strategy}}}
"""


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def worker(args) -> None:
    base0 = _rss_bytes()
    from mpi4py import MPI

    from hpc_nc.io.jobs import load_job, parse_job, parse_set_options
    from hpc_nc.parallel.petsc_build import select_build

    select_build("real" if args.stage == "relax" else "complex")
    from petsc4py import PETSc  # noqa: F401  (imports counted in the baseline)

    from hpc_nc.io.store import read_structure
    from hpc_nc.pipeline.electronic_stage import solve_task
    from hpc_nc.pipeline.structure_stage import relax_task
    from hpc_nc.settings import ElectronicSettings

    comm = MPI.COMM_WORLD
    overrides = parse_set_options(args.set or [])
    if args.job:
        job = parse_job(load_job(args.job).job_text, source=args.job, overrides=overrides)
    else:
        core, shell = args.size[0]
        relax = args.stage == "relax"  # relax: an In-rich core, so that there is strain
        job = parse_job(
            SIZE_JOB.format(
                core=core,
                shell=shell,
                model="STR" if relax else "NSTR",
                x_in=0.5 if relax else 0.0,
                ne=args.electrons,
                nh=args.holes,
                strategy=args.strategy,
            ),
            overrides=overrides,
        )
    task = job.tasks[args.task]
    positions = None
    if task.model == "STR" and args.stage == "solve":
        positions = read_structure(job.structures_path, task.structure_key)["positions"]
    baseline = _rss_bytes()
    comm.Barrier()
    t0, c0 = time.perf_counter(), time.process_time()
    if args.stage == "relax":
        relax_task(comm, task, job.relax)
        row = {"build_seconds": 0.0, "solve_seconds": time.perf_counter() - t0, "analysis_seconds": 0.0}
    else:
        row = solve_task(comm, task, ElectronicSettings.from_job(job), positions)
    cpu = time.process_time() - c0
    comm.Barrier()
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    cpus = comm.gather(cpu, root=0)
    peaks = comm.gather(peak, root=0)
    bases = comm.gather(baseline, root=0)
    if comm.rank == 0:
        print(
            "RESULT "
            + json.dumps(
                {
                    "task": args.task,
                    "n_atoms": int(task.n_atoms),
                    "n_states": job.n_electrons + job.n_holes,
                    "strategy": "relax" if args.stage == "relax" else job.solver.strategy,
                    "ranks": comm.size,
                    "model": task.model,
                    "x_cu": task.x_cu,
                    "x_in": task.x_in,
                    "core_a": task.core_radius_a,
                    "shell_a": task.shell_thickness_a,
                    "cpu_s": sum(cpus),
                    "wall_s": wall,
                    "peak_bytes": peaks,
                    "baseline_bytes": bases,
                    "import_bytes": base0,
                    "build_s": float(row["build_seconds"]),
                    "solve_s": float(row["solve_seconds"]),
                    "analysis_s": float(row["analysis_seconds"]),
                }
            ),
            flush=True,
        )


def run_one(argv_tail, ranks) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", *argv_tail]
    if ranks > 1:
        cmd = ["mpirun", "-n", str(ranks), *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"worker failed ({' '.join(cmd)}):\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--task", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--job")
    ap.add_argument("--tasks", help="comma-separated task indices of --job (default: all)")
    ap.add_argument("--size", type=float, nargs=2, action="append", metavar=("CORE_A", "SHELL_A"))
    ap.add_argument("--electrons", type=int, default=8)
    ap.add_argument("--holes", type=int, default=8)
    ap.add_argument("--strategy", default="davidson")
    ap.add_argument(
        "--stage",
        choices=["solve", "relax"],
        default="solve",
        help="relax: time the VFF relaxation of an STR task (real build) instead",
    )
    ap.add_argument("--set", action="append", metavar="KEY=VALUE")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--out", help="append one JSON line per run to this file")
    args = ap.parse_args()
    if args.worker:
        if args.size:
            args.size = [args.size[0]]
        worker(args)
        return
    from hpc_nc.pipeline.cost import predict_relax, predict_task

    runs = []
    extra = sum((["--set", s] for s in (args.set or [])), [])
    if args.job:
        from hpc_nc.io.jobs import load_job

        n = len(load_job(args.job).tasks)
        idx = [int(i) for i in args.tasks.split(",")] if args.tasks else list(range(n))
        runs = [["--job", args.job, "--task", str(i), "--stage", args.stage, *extra] for i in idx]
    for core, shell in args.size or []:
        runs.append(
            [
                "--size",
                str(core),
                str(shell),
                "--electrons",
                str(args.electrons),
                "--holes",
                str(args.holes),
                "--strategy",
                args.strategy,
                "--stage",
                args.stage,
                *extra,
            ]
        )
    print(
        f"{'atoms':>7} {'states':>6} {'strategy':>10} {'ranks':>5} | {'cpu s':>8} {'pred':>8} {'ratio':>6} | "
        f"{'peak MiB':>9} {'pred':>8} {'ratio':>6} | wall s  build/solve/analysis s"
    )
    for tail in runs:
        for r in args.ranks:
            for _ in range(args.repeats):
                m = run_one(tail, r)
                pred = (
                    predict_relax(m["n_atoms"], r)
                    if args.stage == "relax"
                    else predict_task(m["n_atoms"], m["n_states"], m["strategy"], r)
                )
                peak = max(m["peak_bytes"])
                print(
                    f"{m['n_atoms']:7d} {m['n_states']:6d} {m['strategy']:>10} {r:5d} | {m['cpu_s']:8.2f} "
                    f"{pred.cpu_s:8.2f} {pred.cpu_s / m['cpu_s']:6.2f} | {peak / 2**20:9.0f} "
                    f"{pred.peak_bytes / 2**20:8.0f} {pred.peak_bytes / peak:6.2f} | {m['wall_s']:6.1f}  "
                    f"{m['build_s']:.1f}/{m['solve_s']:.1f}/{m['analysis_s']:.1f}",
                    flush=True,
                )
                if args.out:
                    with open(args.out, "a") as f:
                        f.write(json.dumps(m | {"load1": os.getloadavg()[0]}) + "\n")


if __name__ == "__main__":
    main()
