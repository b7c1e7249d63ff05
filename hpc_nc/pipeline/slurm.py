"""Submit a sweep to Slurm with the package's sbatch templates (or print the commands).

Three ways to run a job file (see slurm/README.md for the variables of each script):

- single job (default): ``sbatch sweep.sbatch JOB`` (relax, then solve, two srun steps);
- ``two_step``: the relaxation and the electronic stage as two jobs, the second waiting for
  the first (``--dependency=afterany``), so each gets its own resources;
- ``array=N``: a job array of N elements, element K running the tasks with
  ``index % N == K`` into its own shard files, then a dependent one-process job that merges
  the shards into the job's results file.

Every job runs ``<the submitting python> -m hpc_nc`` (no venv activation needed), launches
ranks with ``srun --mpi=pmix`` (the templates' LAUNCH default), writes its log to
``<results folder>/logs/``, and asks for ranks and time estimated from the job
(:func:`estimate_resources`), checked against the partition's limits before submitting.

:func:`submit_commands` returns the command lines (a later line refers to an earlier job
id as ``$ARRAY_ID``/``$RELAX_ID``, so the dry-run output can be pasted into a shell);
:func:`submit` runs them through ``sbatch`` and returns the job ids. :func:`shard_tasks`
is the shard rule of ``hpc-nc relax/solve --shard K/N`` (:func:`hpc_nc.pipeline.sweep.select_shard`).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpc_nc.errors import HpcNcError

if TYPE_CHECKING:
    from hpc_nc.io.jobs import JobSpec, Task

SCRIPTS = ("sweep.sbatch", "relax_solve.sbatch", "array.sbatch")


class SlurmError(HpcNcError):
    """Slurm submission impossible (no sbatch, bad shard count, missing templates)."""


@dataclass(frozen=True)
class Step:
    """One sbatch call; ``capture`` names the shell variable that receives its job id."""

    argv: tuple
    capture: str | None = None


# -- shards ---------------------------------------------------------------------------------
def shard_tasks(tasks: Sequence, k: int, n: int) -> list:
    """The tasks of shard k of n: ``index % n == k``, the rule of ``hpc-nc relax/solve --shard``
    (round robin, so every shard gets a mix of small and large dots when the job lists sizes
    in order)."""
    from hpc_nc.pipeline.sweep import select_shard

    if not (n >= 1 and 0 <= k < n):
        raise SlurmError(f"shard {k}/{n}: expected 0 <= K < N")
    return select_shard(tasks, (k, n))


def shard_results_path(results_path: str, k: int, n: int) -> str:
    """Results file of shard k of n, as array.sbatch names it."""
    stem = results_path[:-3] if results_path.endswith(".h5") else results_path
    return f"{stem}.shard-{k}-of-{n}.h5"


# -- resources ------------------------------------------------------------------------------
# Per-task wall times come from the project's cost model (hpc_nc/pipeline/cost.py, fitted to
# benchmarks on the machine named in hpc_nc/data/cost_model.yaml); the farm's makespan on G
# groups is cost.farm_makespan_s (largest first). The request multiplies by SAFETY (a loaded
# node, slower cores than the benchmark machine) and adds STARTUP_S for Python/PETSc imports
# and file set-up; a job that runs out of time still keeps every finished row, and
# resubmitting resumes.
SAFETY = 3.0
STARTUP_S = 300.0
MAX_NTASKS_DEFAULT = 64
MIN_TIME_S = 600
MEM_SAFETY = 1.5  # the cost model's peaks are within 1.5x of measured (benchmarks/RESULTS.md)
MIN_MEM_MIB = 512


@dataclass(frozen=True)
class Resources:
    """What one sbatch call asks for: MPI ranks, wall time (s), memory per rank (MiB; 0: no
    request), and why."""

    ntasks: int
    time_s: int
    note: str = ""
    mem_per_cpu_mib: int = 0

    @property
    def time_text(self) -> str:
        m = -(-int(self.time_s) // 60)
        return f"{m // 1440}-{m % 1440 // 60:02d}:{m % 60:02d}:00" if m >= 1440 else f"{m // 60:02d}:{m % 60:02d}:00"


def _stage_rows(job: JobSpec, stage: str, tasks: Iterable[Task] | None) -> tuple[list[dict], list[dict]]:
    """The cost model's rows (hpc_nc.pipeline.cost.job_cost) of the relaxations and the
    electronic tasks of ``tasks`` (default: all) that ``stage`` runs, on one group."""
    from hpc_nc.pipeline.cost import job_cost

    tasks = list(job.tasks if tasks is None else tasks)
    cost = job_cost(job, ranks=int(job.ranks_per_task))
    keys = {t.structure_key for t in tasks if t.model == "STR"}
    indices = {int(t.index) for t in tasks}
    relax = [s for s in cost["structures"] if s["key"] in keys] if stage in ("relax", "both") else []
    solve = [t for t in cost["tasks"] if int(t["index"]) in indices] if stage in ("solve", "both") else []
    return relax, solve


def stage_walls(job: JobSpec, stage: str, tasks: Iterable[Task] | None = None) -> tuple[list[float], list[float]]:
    """Predicted wall seconds of each relaxation and each electronic task of ``tasks``
    (default: all) on one group of ``ranks_per_task`` ranks, from the cost model."""
    relax, solve = _stage_rows(job, stage, tasks)
    return [s["wall_s"] for s in relax], [t["wall_s"] for t in solve if t["wall_s"] is not None]


def stage_memory_mib(job: JobSpec, stage: str, tasks: Iterable[Task] | None = None) -> int:
    """Memory per rank (MiB) to request for ``stage``: the largest predicted peak per rank of
    its relaxations and tasks (cost model) times MEM_SAFETY, rounded up to 256 MiB; never
    below MIN_MEM_MIB (a Python/PETSc process alone holds ~150 MiB)."""
    relax, solve = _stage_rows(job, stage, tasks)
    peaks = [r["peak_bytes_per_rank"] for r in relax + solve if r.get("peak_bytes_per_rank") is not None]
    need = MEM_SAFETY * max(peaks, default=0) / 2**20
    return max(MIN_MEM_MIB, int(-(-need // 256) * 256))


def estimate_resources(
    job: JobSpec, stage: str, tasks: Iterable[Task] | None = None, max_ntasks: int = MAX_NTASKS_DEFAULT
) -> Resources:
    """Ranks and time for ``stage`` ("relax", "solve" or "both") over ``tasks`` (default: all).

    Ranks: one group of ``ranks_per_task`` per unit of work (structure or task), at most
    ``max_ntasks`` ranks. Time: the farm's predicted makespan of each stage on those groups
    (cost model), times SAFETY, plus STARTUP_S; never under MIN_TIME_S.
    """
    from hpc_nc.pipeline.cost import farm_makespan_s

    rpt = int(job.ranks_per_task)
    relax, solve = stage_walls(job, stage, tasks)
    n_units = max(len(relax), len(solve), 1)
    groups = max(1, min(n_units, max(max_ntasks // rpt, 1)))
    seconds = sum(farm_makespan_s(w, groups) for w in (relax, solve) if w)
    time_s = max(MIN_TIME_S, int(SAFETY * seconds + STARTUP_S))
    return Resources(
        ntasks=groups * rpt,
        time_s=time_s,
        note=f"{stage}: {n_units} unit(s) of work, ~{seconds / 60:.1f} min on {groups * rpt} rank(s) "
        f"by the cost model, before the x{SAFETY:g} margin",
        mem_per_cpu_mib=stage_memory_mib(job, stage, tasks),
    )


def _parse_slurm_time(text: str) -> int | None:
    """Slurm's time limit text ([D-]HH:MM:SS, MM:SS, MM, UNLIMITED) in seconds; None = no limit."""
    text = text.strip()
    if not text or text.upper() in ("UNLIMITED", "INFINITE", "NONE"):
        return None
    days = 0
    if "-" in text:
        d, text = text.split("-", 1)
        days = int(d)
    parts = [int(p) for p in text.split(":")]
    if len(parts) == 1:
        h, m, s = 0, parts[0], 0
    elif len(parts) == 2:
        h, m, s = 0, parts[0], parts[1]
    else:
        h, m, s = parts[-3:]
    return ((days * 24 + h) * 60 + m) * 60 + s


def partition_limits(partition: str | None = None) -> dict | None:
    """Limits of ``partition`` (default: the default one) from ``scontrol show partition``:
    ``{"name", "max_time_s" (None = unlimited), "total_cpus", "max_cpus_per_job", "state"}``;
    None when scontrol is missing or says nothing useful."""
    if shutil.which("scontrol") is None:
        return None
    argv = ["scontrol", "-o", "show", "partition"] + ([partition] if partition else [])
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        msg = " ".join((proc.stderr or proc.stdout).split())
        if partition and ("invalid partition" in msg.lower() or "not found" in msg.lower()):
            raise SlurmError(f"partition {partition!r} does not exist (see `sinfo -s`)")
        return None  # no controller reachable (e.g. a dry run away from the cluster): no check
    for line in proc.stdout.splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        if not fields or (partition is None and fields.get("Default") != "YES"):
            continue
        try:
            cpus = int(fields.get("TotalCPUs", "0"))
        except ValueError:
            cpus = 0
        max_cpus = fields.get("MaxCPUsPerNode", "UNLIMITED")
        nodes = fields.get("MaxNodes", "UNLIMITED")
        limit = cpus
        try:
            if max_cpus != "UNLIMITED" and nodes != "UNLIMITED":
                limit = min(cpus, int(max_cpus) * int(nodes))
        except ValueError:
            pass
        return {
            "name": fields.get("PartitionName", partition or "?"),
            "max_time_s": _parse_slurm_time(fields.get("MaxTime", "UNLIMITED")),
            "total_cpus": cpus,
            "max_cpus_per_job": limit or cpus,
            "state": fields.get("State", "UP"),
        }
    return None


def _explicit(args: Sequence[str], name: str) -> str | None:
    """The value of ``--name=V`` (or ``--name V``, or -n/-t short forms) in sbatch args, last wins."""
    short = {"ntasks": "-n", "time": "-t", "partition": "-p", "account": "-A", "output": "-o"}.get(name)
    value = None
    args = list(args)
    for i, a in enumerate(args):
        if a.startswith(f"--{name}="):
            value = a.split("=", 1)[1]
        elif a == f"--{name}" or (short and a == short):
            value = args[i + 1] if i + 1 < len(args) else None
        elif short and a.startswith(short) and len(a) > 2 and not a.startswith("--"):
            value = a[2:]
    return value


def _warn(text: str) -> None:
    print(f"hpc-nc slurm: warning: {text}", file=sys.stderr)


def fit_to_partition(
    res: Resources,
    extra: Sequence[str],
    limits: dict | None,
    what: str,
    warn: Callable[[str], None] | None = None,
    multiple: int = 1,
) -> Resources:
    """Check a request against the partition; shrink an estimate that does not fit, refuse an
    explicit request that can never start (it would pend forever as PartitionConfig or
    PartitionTimeLimit), warn through ``warn(text)`` about what was changed."""
    warn = warn or _warn
    if limits is None:
        return res
    name = limits["name"]
    if limits.get("state", "UP") != "UP":
        warn(f"partition {name} is {limits['state']}: {what} will wait until it is UP")
    ntasks, time_s = res.ntasks, res.time_s
    cpus = limits.get("max_cpus_per_job") or 0
    explicit_n = _explicit(extra, "ntasks")
    if explicit_n is not None:
        try:
            n = int(explicit_n)
        except ValueError:
            raise SlurmError(f"{what}: --ntasks={explicit_n} is not a number") from None
        if cpus and n > cpus:
            raise SlurmError(
                f"{what}: --ntasks={n} exceeds the {cpus} CPUs of partition {name}; the job would "
                f"pend forever (PartitionConfig); ask for at most {cpus}"
            )
    elif cpus and ntasks > cpus:
        if cpus < multiple:
            raise SlurmError(
                f"{what}: parallel.ranks_per_task={multiple} needs {multiple} ranks, partition {name} has {cpus} CPUs"
            )
        ntasks = cpus - cpus % multiple  # whole groups of ranks_per_task
        warn(f"{what}: {res.ntasks} ranks estimated, partition {name} has {cpus} CPUs: asking for {ntasks}")
    max_t = limits.get("max_time_s")
    explicit_t = _explicit(extra, "time")
    if explicit_t is not None:
        try:
            t = _parse_slurm_time(explicit_t)
        except ValueError:
            raise SlurmError(f"{what}: --time={explicit_t} is not a Slurm time ([D-]HH:MM:SS)") from None
        if max_t is not None and t is not None and t > max_t:
            raise SlurmError(
                f"{what}: --time={explicit_t} exceeds the time limit of partition {name} "
                f"({Resources(1, max_t).time_text}); the job would pend forever (PartitionTimeLimit)"
            )
    elif max_t is not None and time_s > max_t:
        warn(
            f"{what}: estimated {res.time_text} exceeds partition {name}'s limit "
            f"{Resources(1, max_t).time_text}: asking for the limit; if the job runs out of time, resubmit "
            f"the same command and it resumes"
        )
        time_s = max_t
    return Resources(ntasks=ntasks, time_s=time_s, note=res.note, mem_per_cpu_mib=res.mem_per_cpu_mib)


# -- commands -------------------------------------------------------------------------------
TEMPLATE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")


def find_slurm_dir(slurm_dir: str | None = None) -> str:
    """Directory of the sbatch templates: the given one, or the package's own (hpc_nc/pipeline/templates)."""
    d = slurm_dir or TEMPLATE_DIR
    if all(os.path.isfile(os.path.join(d, s)) for s in SCRIPTS):
        return d
    raise SlurmError(f"sbatch templates ({', '.join(SCRIPTS)}) not found in {d}; give --slurm-dir")


def hpc_nc_command() -> str:
    """How the job runs hpc_nc: the interpreter that submits, so a venv need not be activated."""
    return f"{sys.executable} -m hpc_nc"


def log_dir_for(results_path: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(results_path)), "logs")


def _prepare_log_dir(path: str) -> str:
    from hpc_nc.io.paths import check_output_path

    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise SlurmError(f"cannot create the log folder {path}: {exc.strerror or exc}") from None
    check_output_path(os.path.join(path, "hpc-nc-slurm.out"))  # a writable folder, not a file
    return path


def plan(
    job_path: str,
    *,
    array: int | None = None,
    two_step: bool = False,
    sbatch_args: Sequence[str] = (),
    slurm_dir: str | None = None,
    sets: Sequence[str] = (),
    results: str | None = None,
    partition: str | None = None,
    account: str | None = None,
    relax_args: Sequence[str] = (),
    solve_args: Sequence[str] = (),
    merge_args: Sequence[str] = (),
    limits: dict | None = None,
    max_ntasks: int = MAX_NTASKS_DEFAULT,
    warn: Callable[[str], None] | None = None,
    make_log_dir: bool = False,
) -> list[Step]:
    """The sbatch calls for ``job_path`` (validated first, with ``sets`` applied; module docstring).

    ``sbatch_args`` go to every compute job (not the merge job, which stays one process);
    ``relax_args``/``solve_args``/``merge_args`` to that stage's job only (``relax_args`` and
    ``solve_args`` both apply to the single job and to the array elements). Resources are
    estimated per stage (:func:`estimate_resources`) unless given, and checked against
    ``limits`` (:func:`partition_limits`).
    """
    from hpc_nc.io.jobs import load_job, parse_job, parse_set_options

    job = load_job(job_path)
    overrides = parse_set_options(list(sets))
    if overrides:
        job = parse_job(job.job_text, source=job_path, overrides=overrides)
    d = find_slurm_dir(slurm_dir)
    results = results or job.results_path
    logs = log_dir_for(results)
    if make_log_dir:
        _prepare_log_dir(logs)
    if array is not None and two_step:
        raise SlurmError("--array and --two-step cannot be combined (each array element relaxes its own shard)")
    common = [f"--export=ALL,HPC_NC={hpc_nc_command()}"]
    if partition:
        common.append(f"--partition={partition}")
    if account:
        common.append(f"--account={account}")
    # hpc-nc options for the stages; the array passes its results file as RESULTS instead
    hpc_args = [a for s in sets for a in ("--set", s)]
    has_str = any(t.model == "STR" for t in job.tasks)

    def sized(stage, tasks, extra, what):
        est = estimate_resources(job, stage, tasks, max_ntasks)
        cpus = (limits or {}).get("max_cpus_per_job") or 0
        if cpus and cpus >= job.ranks_per_task and est.ntasks > cpus and _explicit(extra, "ntasks") is None:
            # fewer ranks than estimated: the same work takes longer
            (warn or _warn)(
                f"{what}: {est.ntasks} ranks estimated, partition {limits['name']} has {cpus} CPUs: "
                f"asking for {cpus - cpus % job.ranks_per_task}"
            )
            est = estimate_resources(job, stage, tasks, cpus)
        res = fit_to_partition(est, extra, limits, what, warn, multiple=job.ranks_per_task)
        out = []
        if _explicit(extra, "ntasks") is None:
            out.append(f"--ntasks={res.ntasks}")
        if _explicit(extra, "time") is None:
            out.append(f"--time={res.time_text}")
        if res.mem_per_cpu_mib and all(_explicit(extra, k) is None for k in ("mem", "mem-per-cpu", "mem-per-gpu")):
            out.append(f"--mem-per-cpu={res.mem_per_cpu_mib}M")
        return out

    if array is not None:
        if not (isinstance(array, int) and array >= 1):
            raise SlurmError(f"--array {array}: the number of shards must be a positive integer")
        if array > len(job.tasks):
            raise SlurmError(f"--array {array}: more shards than the {len(job.tasks)} tasks of {job_path}")
        structures = (
            f"{results[:-3] if results.endswith('.h5') else results}_structures.h5"
            if results != job.results_path
            else job.structures_path
        )
        export = f"--export=ALL,HPC_NC={hpc_nc_command()},RESULTS={results},STRUCTURES={structures}"
        script = os.path.join(d, "array.sbatch")
        extra = [*sbatch_args, *relax_args, *solve_args]
        largest = max(
            (shard_tasks(job.tasks, k, array) for k in range(array)),
            key=lambda ts: sum(sum(w) for w in stage_walls(job, "both", ts)),
        )
        res = sized("both" if has_str else "solve", largest, extra, "array element")
        cm = common[1:]
        return [
            Step(
                (
                    "sbatch",
                    "--parsable",
                    f"--array=0-{array - 1}",
                    f"--job-name=hpc-nc-{job.name}",
                    export,
                    *cm,
                    f"--output={logs}/%x-%A_%a.out",
                    *res,
                    *extra,
                    script,
                    job_path,
                    str(array),
                    "shard",
                    *hpc_args,
                ),
                capture="ARRAY_ID",
            ),
            Step(
                (
                    "sbatch",
                    "--parsable",
                    "--dependency=afterany:$ARRAY_ID",
                    f"--job-name=hpc-nc-{job.name}-merge",
                    export,
                    *cm,
                    f"--output={logs}/%x-%j.out",
                    *merge_args,
                    *([] if _explicit(merge_args, "time") else ["--time=00:30:00"]),
                    "--ntasks=1",
                    script,
                    job_path,
                    str(array),
                    "merge",
                ),
                capture="MERGE_ID",
            ),
        ]
    res_args = ["--results", results] if results != job.results_path else []
    if two_step:
        script = os.path.join(d, "relax_solve.sbatch")
        relax_extra = [*sbatch_args, *relax_args]
        solve_extra = [*sbatch_args, *solve_args]
        return [
            Step(
                (
                    "sbatch",
                    "--parsable",
                    f"--job-name=hpc-nc-{job.name}-relax",
                    *common,
                    f"--output={logs}/%x-%j.out",
                    *sized("relax", None, relax_extra, "relax job"),
                    *relax_extra,
                    script,
                    "relax",
                    job_path,
                    *hpc_args,
                ),
                capture="RELAX_ID",
            ),
            Step(
                (
                    "sbatch",
                    "--parsable",
                    "--dependency=afterany:$RELAX_ID",
                    f"--job-name=hpc-nc-{job.name}-solve",
                    *common,
                    f"--output={logs}/%x-%j.out",
                    *sized("solve", None, solve_extra, "solve job"),
                    *solve_extra,
                    script,
                    "solve",
                    job_path,
                    *hpc_args,
                    *res_args,
                ),
                capture="SOLVE_ID",
            ),
        ]
    extra = [*sbatch_args, *relax_args, *solve_args]
    return [
        Step(
            (
                "sbatch",
                "--parsable",
                f"--job-name=hpc-nc-{job.name}",
                *common,
                f"--output={logs}/%x-%j.out",
                *sized("both", None, extra, "job"),
                *extra,
                os.path.join(d, "sweep.sbatch"),
                job_path,
                *hpc_args,
                *res_args,
            ),
            capture="JOB_ID",
        )
    ]


def _quote(arg: str) -> str:
    # keep $VAR references to an earlier job id expandable by the shell
    return arg if re.fullmatch(r"[\w./:=,+-]*\$[A-Z_]+", arg) else shlex.quote(arg)


def format_step(step: Step) -> str:
    line = " ".join(_quote(a) for a in step.argv)
    return f"{step.capture}=$({line})" if step.capture else line


def submit_commands(job_path: str, **kwargs: Any) -> list[str]:
    """The sbatch command lines that :func:`submit` would run, as shell text (``plan``'s arguments)."""
    return [format_step(s) for s in plan(job_path, **kwargs)]


def describe_shards(job_path: str, n: int, results: str | None = None) -> list[str]:
    """One line per shard: its task count and results file (for the dry run)."""
    from hpc_nc.io.jobs import load_job

    job = load_job(job_path)
    results = results or job.results_path
    return [
        f"shard {k}/{n}: {len(shard_tasks(job.tasks, k, n))} tasks -> {shard_results_path(results, k, n)}"
        for k in range(n)
    ]


# -- submission -----------------------------------------------------------------------------
def _comment(results_path: str) -> str:
    """The ``--comment`` that marks a job as working on ``results_path`` (duplicate guard)."""
    return f"hpc-nc:{os.path.abspath(results_path)}"


def queued_jobs_on(results_path: str) -> list[str]:
    """Ids of this user's pending or running jobs that work on ``results_path`` (by their
    ``--comment``); [] when squeue is missing or fails."""
    if shutil.which("squeue") is None:
        return []
    try:
        import getpass

        user = getpass.getuser()
        proc = subprocess.run(
            ["squeue", "-h", "-u", user, "-o", "%i|%T|%k"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired, KeyError):
        return []
    if proc.returncode != 0:
        return []
    mark = _comment(results_path)
    out = []
    for line in proc.stdout.splitlines():
        parts = line.split("|", 2)
        if len(parts) == 3 and parts[2].strip() == mark:
            out.append(parts[0].strip())
    return out


def lock_held(results_path: str) -> bool:
    """True when a running `hpc-nc` holds ``<results>.lock`` (the store's flock on the results
    file, taken while a stage writes it); False when there is no lock file or it is free."""
    path = f"{results_path}.lock"
    if not os.path.isfile(path):
        return False
    try:
        import fcntl

        with open(path, "rb") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
    except (ImportError, OSError):
        return False
    return False


def submit(steps: Sequence[Step]) -> list[str]:
    """Run the sbatch calls in order, passing job ids on; returns the job ids.

    When a later sbatch fails, the jobs already queued by this call are cancelled (a merge
    or solve job that never comes would leave them computing for nothing) and the error says
    so."""
    if shutil.which("sbatch") is None:
        raise SlurmError(
            "sbatch not found on PATH: run this on a Slurm login node, or use --dry-run to print the commands"
        )
    ids: dict[str, str] = {}
    out: list[str] = []
    for step in steps:
        argv = [re.sub(r"\$([A-Z_]+)", lambda m: ids[m.group(1)], a) for a in step.argv]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True)
        except OSError as exc:
            proc = subprocess.CompletedProcess(argv, 127, "", str(exc))
        text = proc.stdout.strip()
        # --parsable prints "jobid[;cluster]"; plain sbatch prints "Submitted batch job <id>"
        job_id = (text.split(";")[0] if "--parsable" in argv else text.split()[-1]) if text else ""
        if proc.returncode != 0 or not job_id:
            msg = " ".join((proc.stderr or proc.stdout).split()) or "no job id printed"
            cancelled = ""
            if out:
                scancel = (
                    subprocess.run(["scancel", *out], capture_output=True, text=True)
                    if shutil.which("scancel")
                    else None
                )
                if scancel is not None and scancel.returncode == 0:
                    cancelled = f"; cancelled the job(s) already queued: {', '.join(out)}"
                else:
                    cancelled = f"; the job(s) already queued could NOT be cancelled, run `scancel {' '.join(out)}`"
            raise SlurmError(f"sbatch failed (exit {proc.returncode}): {msg}{cancelled}")
        if step.capture:
            ids[step.capture] = job_id
        out.append(job_id)
    return out


# -- command line ---------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``hpc-nc slurm`` (also used by ``python -m hpc_nc.pipeline.slurm``)."""
    parser.add_argument("job", help="job file")
    parser.add_argument("--array", type=int, metavar="N", help="job array of N shards and a merge job")
    parser.add_argument("--two-step", action="store_true", help="relax and solve as two dependent jobs")
    parser.add_argument("--dry-run", action="store_true", help="print the sbatch commands, submit nothing")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a job-file entry")
    parser.add_argument(
        "--results", help="results file (default: the job's output.results); logs go to <its folder>/logs/"
    )
    parser.add_argument("-p", "--partition", help="Slurm partition (default: the cluster's default)")
    parser.add_argument("-A", "--account", help="Slurm account to charge")
    parser.add_argument(
        "--max-ntasks",
        type=int,
        default=MAX_NTASKS_DEFAULT,
        metavar="N",
        help=f"most MPI ranks the estimate asks for (default {MAX_NTASKS_DEFAULT})",
    )
    parser.add_argument(
        "--sbatch-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra sbatch option for the compute jobs (not the merge job), e.g. "
        "--sbatch-arg=--qos=short (repeatable; --ntasks/--time replace the estimate)",
    )
    for stage in ("relax", "solve", "merge"):
        parser.add_argument(
            f"--{stage}-sbatch-arg",
            action="append",
            default=[],
            metavar="ARG",
            help=f"extra sbatch option for the {stage} job only (two-step; relax/solve also "
            f"apply to the single job and the array elements)"
            if stage != "merge"
            else "extra sbatch option for the merge job of --array only",
        )
    parser.add_argument(
        "--force", action="store_true", help="submit even when a queued job already works on the same results file"
    )
    parser.add_argument("--slurm-dir", help="directory of the sbatch templates (default: the package's own)")


def run(args: argparse.Namespace) -> int:
    """``hpc-nc slurm``: print (``--dry-run``) or submit the commands. Raises SlurmError."""
    from hpc_nc.io.jobs import load_job

    if args.max_ntasks is not None and args.max_ntasks < 1:
        raise SlurmError(f"--max-ntasks {args.max_ntasks}: must be at least 1")
    real = not args.dry_run
    if real and shutil.which("sbatch") is None:
        raise SlurmError(
            "sbatch not found on PATH: run this on a Slurm login node, or use --dry-run to print the commands"
        )
    limits = partition_limits(args.partition)
    results = args.results or load_job(args.job).results_path
    kwargs = dict(
        array=args.array,
        two_step=args.two_step,
        sbatch_args=args.sbatch_arg,
        slurm_dir=args.slurm_dir,
        sets=args.set,
        results=args.results,
        partition=args.partition,
        account=args.account,
        relax_args=args.relax_sbatch_arg,
        solve_args=args.solve_sbatch_arg,
        merge_args=args.merge_sbatch_arg,
        limits=limits,
        max_ntasks=args.max_ntasks,
        make_log_dir=real,
    )
    steps = plan(args.job, **kwargs)
    # mark every job with the results file it works on (the duplicate guard below reads it)
    steps = [Step(s.argv[:1] + (f"--comment={_comment(results)}",) + s.argv[1:], s.capture) for s in steps]
    if args.dry_run:
        if args.array:
            for line in describe_shards(args.job, args.array, args.results):
                print(f"# {line}")
        for step in steps:
            print(format_step(step))
        return 0
    queued = queued_jobs_on(results)
    if queued and not args.force:
        raise SlurmError(
            f"job(s) {', '.join(queued)} already queued or running on {results}; two submissions "
            f"would compute the same tasks twice. Wait for them, `scancel` them, or give --force"
        )
    if lock_held(results) and not args.force:
        raise SlurmError(
            f"a running hpc-nc holds {results}.lock (it is writing {results}); submit when it has "
            f"finished, or give --force"
        )
    for step, job_id in zip(steps, submit(steps)):
        print(f"submitted {job_id}: {format_step(step)}")
    print(f"logs: {log_dir_for(results)}/   progress: squeue -u $USER; hpc-nc status {results}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hpc-nc slurm", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except HpcNcError as exc:
        print(f"hpc-nc: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
