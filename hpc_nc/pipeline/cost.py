"""Cost model: predicted CPU time and peak memory of a task from fits to measured benchmarks.

The coefficients live in one data file, hpc_nc/data/cost_model.yaml, together with the
machine they were measured on and the benchmark that produced them (benchmarks/bench_cost.py
measures, benchmarks/fit_cost.py fits and writes the file). Nothing here runs a solver.

Model of one electronic-stage task (build H + gap states + analysis; docs/design.md,
"Resources and cost model") with N atoms, S states, strategy s, on r ranks of one group:

    cpu_1(N)      = c0_s + a_s (N / 1e4)^p_s                     CPU seconds on one rank
    cpu_r(N)      = cpu_1(N) r^beta_s                            summed over the r ranks
    wall_r(N)     = cpu_r(N) / r
    peak_1(N)     = m0 + b_s (N / 1e4)^q_s                       bytes, one rank
    peak_r(N)     = m0 + b_s (N / 1e4)^q_s / r^gamma_s           bytes on each rank

plus the Coulomb integrals of the analysis (26 complex density columns whatever S is,
hpc_nc/physics/exciton.py): k_direct N^2 CPU seconds for the direct sum, k_fft N log2 N
for the FFT convolution (hpc_nc/physics/coulomb_fft.py), split over the ranks without loss.
m0 is the resident set size of a process once numpy, mpi4py and petsc4py
are imported. beta_s >= 0 measures the parallel loss (0: perfect strong scaling), gamma_s how
well the memory splits (1: perfectly). A fit is only as good as its range: predictions
outside the measured sizes say so (``extrapolated``).

The relax (structure) stage is modelled the same way with its own coefficients
(``relax`` entry), used by ``hpc-nc validate`` for the job total.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, NamedTuple

from hpc_nc.errors import HpcNcError

# One model: the solve coefficients and their loader live with the solvers (auto uses them).
from hpc_nc.solvers.cost import AUTO_CANDIDATES, DATA_FILE, N_REF, load_model, solve_cost  # noqa: F401

if TYPE_CHECKING:
    from hpc_nc.io.jobs import JobSpec


class TaskCost(NamedTuple):
    """Predicted cost of one task: CPU seconds summed over its ranks, peak bytes per rank."""

    cpu_s: float
    peak_bytes: int


class TaskCostDetail(NamedTuple):
    cpu_s: float  # summed over the ranks of the task
    wall_s: float
    peak_bytes: int  # per rank (the largest rank)
    peak_bytes_total: int  # all ranks of the task together
    extrapolated: bool  # N outside the fitted range


def strategies() -> tuple[str, ...]:
    return tuple(load_model()["solve"])


def predict_task_detail(
    n_atoms: int,
    n_states: int,
    strategy: str,
    ranks: int = 1,
    coulomb_method: str = "direct",
    model: dict | None = None,
) -> TaskCostDetail:
    """Predicted cost of one electronic task (module docstring for the model)."""
    m = load_model() if model is None else model
    if strategy == "auto":  # the strategy the electronic stage would pick on this machine
        strategy = resolve_strategy(strategy, n_atoms, n_states, ranks)
    solve = solve_cost(strategy, n_atoms, ranks, m)
    cpu = solve.cpu_s + coulomb_cpu_s(n_atoms, coulomb_method, m)
    return TaskCostDetail(
        cpu_s=float(cpu),
        wall_s=float(cpu / ranks),
        peak_bytes=int(solve.peak_bytes_per_rank),
        peak_bytes_total=int(solve.peak_bytes_per_rank * ranks),
        extrapolated=solve.extrapolated,
    )


def coulomb_cpu_s(n_atoms: int, method: str = "direct", model: dict | None = None) -> float:
    """Predicted CPU seconds (summed over ranks) of the CI's Coulomb integrals."""
    m = (load_model() if model is None else model)["coulomb"]
    if method == "direct":
        return m["k_direct_s"] * float(n_atoms) ** 2
    if method == "fft":
        return m["c0_fft_s"] + m["k_fft_s"] * n_atoms * math.log2(max(n_atoms, 2))
    raise HpcNcError(f"unknown Coulomb method {method!r} (direct or fft)")


def predict_task(n_atoms: int, n_states: int, strategy: str, ranks: int = 1) -> TaskCost:
    """Predicted (CPU seconds summed over ranks, peak bytes per rank) of one electronic task.

    For ``solver.strategy: auto`` and ``hpc-nc validate``; see the module docstring.
    n_states is part of the interface but not of the fits, which were measured at 16 states
    (validated at 12, benchmarks/RESULTS.md): the cost of a few more or fewer states is
    within the fits' scatter. Raises HpcNcError for a strategy without a fit.
    """
    d = predict_task_detail(n_atoms, n_states, strategy, ranks)
    return TaskCost(d.cpu_s, d.peak_bytes)


def predict_relax(n_atoms: int, ranks: int = 1) -> TaskCost:
    """Predicted (CPU seconds summed over ranks, peak bytes per rank) of one VFF relaxation."""
    m = load_model()
    f = m["relax"]
    x = n_atoms / N_REF
    cpu = (f["c0_s"] + f["a_s"] * x ** f["p"]) * ranks ** f["beta"]
    peak = f.get("m0_bytes", m["m0_bytes"]) + f["b_bytes"] * x ** f["q"] / ranks ** f["gamma"]
    return TaskCost(float(cpu), int(peak))


def memory_per_rank_bytes(ranks_on_node: int = 1) -> int:
    """Memory one rank may use: SLURM's --mem-per-cpu / --mem if set, else MemTotal / ranks."""
    for key, per in (("SLURM_MEM_PER_CPU", 1), ("SLURM_MEM_PER_NODE", ranks_on_node)):
        v = os.environ.get(key)
        if v and v.isdigit():
            return int(v) * 2**20 // per  # SLURM gives MiB
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024 // max(ranks_on_node, 1)
    raise HpcNcError("cannot tell the memory per rank: pass --mem-per-rank")


def resolve_strategy(
    strategy: str, n_atoms: int, n_states: int, ranks: int = 1, mem_per_rank_bytes: float | None = None
) -> str:
    """The strategy a task runs with: itself, or for ``auto`` the one the electronic stage
    will pick (hpc_nc.solvers.eigensolver.resolve_strategy, from hpc_nc.solvers.cost), so
    that predictions are made for the strategy that actually runs. mem_per_rank_bytes None:
    this machine's available memory per rank, as in the run."""
    if strategy != "auto":
        return strategy
    from hpc_nc.solvers import cost as solver_cost

    budget = solver_cost.memory_per_rank(ranks) if mem_per_rank_bytes is None else mem_per_rank_bytes
    chosen = solver_cost.choose_strategy(n_atoms, n_states, ranks, budget)
    if chosen not in load_model()["solve"]:
        raise HpcNcError(f"no cost fit for strategy {chosen!r}, which auto picks for {n_atoms} atoms")
    return chosen


def farm_makespan_s(task_walls: list[float], n_groups: int) -> float:
    """Wall time of a farm that deals tasks largest first to the first free group (LPT),
    as hpc_nc.parallel.farm does; a lower bound when groups also wait for each other."""
    import heapq

    free = [0.0] * max(int(n_groups), 1)
    for w in sorted(task_walls, reverse=True):
        t = heapq.heappop(free)
        heapq.heappush(free, t + w)
    return max(free)


def job_cost(job: JobSpec, ranks: int, mem_per_rank_bytes: int | None = None) -> dict:
    """Predicted cost of a whole job on ``ranks`` ranks (groups of job.ranks_per_task).

    Per task: CPU seconds (summed over its ranks), wall seconds and peak bytes per rank of
    the electronic stage; per STR structure the same for its relaxation. Totals: CPU hours of
    both stages and their farm wall times on ranks // ranks_per_task groups. With
    mem_per_rank_bytes, the first task (or structure) predicted above it raises HpcNcError
    naming the task and the estimate, before anything runs.
    """
    rpt = int(job.ranks_per_task)
    if ranks < rpt or ranks % rpt:
        raise HpcNcError(f"--ranks {ranks} is not a multiple of parallel.ranks_per_task = {rpt}")
    n_states = job.n_electrons + job.n_holes
    strategy = job.solver.strategy
    method = job.analysis.method
    tasks, structures, unfitted = [], {}, set()
    fitted = load_model()["solve"]
    for t in job.tasks:
        # auto: the FFT only for ideal-lattice dots above the crossover (hpc_nc.physics.coulomb_fft)
        from hpc_nc.physics.coulomb_fft import AUTO_FFT_MIN_ATOMS

        on_grid_and_large = t.model != "STR" and t.n_atoms >= AUTO_FFT_MIN_ATOMS
        m = method if method != "auto" else ("fft" if on_grid_and_large else "direct")
        s = resolve_strategy(strategy, t.n_atoms, n_states, rpt, mem_per_rank_bytes)
        row = {"index": t.index, "key": t.key, "n_atoms": t.n_atoms, "strategy": s}
        if s in fitted:
            d = predict_task_detail(t.n_atoms, n_states, s, rpt, coulomb_method=m)
            row.update(cpu_s=d.cpu_s, wall_s=d.wall_s, peak_bytes_per_rank=d.peak_bytes, extrapolated=d.extrapolated)
        else:  # stated in the output, not guessed
            unfitted.add(s)
            row.update(cpu_s=None, wall_s=None, peak_bytes_per_rank=None, extrapolated=True)
        tasks.append(row)
        if t.model == "STR" and t.structure_key not in structures:
            r = predict_relax(t.n_atoms, rpt)
            structures[t.structure_key] = {
                "key": t.structure_key,
                "n_atoms": t.n_atoms,
                "cpu_s": r.cpu_s,
                "wall_s": r.cpu_s / rpt,
                "peak_bytes_per_rank": r.peak_bytes,
            }
    if mem_per_rank_bytes is not None:
        rows = [(f"structure {r['key']}", "relax", r) for r in structures.values()]
        rows += [(f"task {r['index']} {r['key']}", r["strategy"], r) for r in tasks if r["cpu_s"] is not None]
        too_big = [x for x in rows if x[2]["peak_bytes_per_rank"] > mem_per_rank_bytes]
        if too_big:
            name, what, row = max(too_big, key=lambda x: x[2]["peak_bytes_per_rank"])
            raise HpcNcError(
                f"{name} ({row['n_atoms']} atoms, {what} on {rpt} rank(s)) needs about "
                f"{row['peak_bytes_per_rank'] / 2**30:.2f} GiB per rank, more than the "
                f"{mem_per_rank_bytes / 2**30:.2f} GiB per rank available ({len(too_big)} of {len(rows)} would not fit): raise "
                f"parallel.ranks_per_task or the memory per rank"
            )
    groups = ranks // rpt
    relax = list(structures.values())
    known = [t for t in tasks if t["cpu_s"] is not None]
    return {
        "ranks": ranks,
        "groups": groups,
        "ranks_per_task": rpt,
        "strategy": strategy,
        "machine": load_model()["machine"],
        "tasks": tasks,
        "structures": relax,
        "strategies_without_fit": sorted(unfitted),
        "solve_cpu_hours": sum(t["cpu_s"] for t in known) / 3600.0,
        "relax_cpu_hours": sum(s["cpu_s"] for s in relax) / 3600.0,
        "solve_wall_s": farm_makespan_s([t["wall_s"] for t in known], groups),
        "relax_wall_s": farm_makespan_s([s["wall_s"] for s in relax], groups) if relax else 0.0,
        "peak_bytes_per_rank_max": max(
            [t["peak_bytes_per_rank"] for t in known] + [s["peak_bytes_per_rank"] for s in relax] + [0]
        ),
        "any_extrapolated": any(t["extrapolated"] for t in tasks),
    }
