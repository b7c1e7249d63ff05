"""Submit a sweep to Slurm with the templates in ``slurm/`` (or print the commands).

Three ways to run a job file (see slurm/README.md for the variables of each script):

- single job (default): ``sbatch slurm/sweep.sbatch JOB`` (relax, then solve, two srun steps);
- ``two_step``: the relaxation and the electronic stage as two jobs, the second waiting for
  the first (``--dependency=afterany``), so each gets its own resources;
- ``array=N``: a job array of N elements, element K running the tasks with
  ``index % N == K`` into its own shard files, then a dependent one-process job that merges
  the shards into the job's results file.

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
from dataclasses import dataclass
from typing import Sequence

from hpc_nc.errors import HpcNcError

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


# -- commands -------------------------------------------------------------------------------
def find_slurm_dir(slurm_dir: str | None = None) -> str:
    """Directory of the sbatch templates: the given one, ./slurm, or the source checkout's."""
    candidates = [slurm_dir] if slurm_dir else [
        "slurm", os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "slurm")]
    for d in candidates:
        if all(os.path.isfile(os.path.join(d, s)) for s in SCRIPTS):
            return d
    raise SlurmError(f"sbatch templates ({', '.join(SCRIPTS)}) not found in {' or '.join(candidates)}; "
                     "give --slurm-dir")


def plan(job_path: str, *, array: int | None = None, two_step: bool = False, sbatch_args: Sequence[str] = (),
         slurm_dir: str | None = None) -> list[Step]:
    """The sbatch calls for ``job_path`` (validated first; module docstring)."""
    from hpc_nc.io.jobs import load_job

    job = load_job(job_path)
    d = find_slurm_dir(slurm_dir)
    extra = tuple(sbatch_args)
    if array is not None and two_step:
        raise SlurmError("--array and --two-step cannot be combined (each array element relaxes its own shard)")
    if array is not None:
        if not (isinstance(array, int) and array >= 1):
            raise SlurmError(f"--array {array}: the number of shards must be a positive integer")
        if array > len(job.tasks):
            raise SlurmError(f"--array {array}: more shards than the {len(job.tasks)} tasks of {job_path}")
        export = f"--export=ALL,RESULTS={job.results_path},STRUCTURES={job.structures_path}"
        script = os.path.join(d, "array.sbatch")
        return [
            Step(("sbatch", "--parsable", f"--array=0-{array - 1}", f"--job-name=hpc-nc-{job.name}", export,
                  *extra, script, job_path, str(array)), capture="ARRAY_ID"),
            Step(("sbatch", "--dependency=afterany:$ARRAY_ID", "--ntasks=1", f"--job-name=hpc-nc-{job.name}-merge",
                  export, *extra, script, job_path, str(array), "merge")),
        ]
    if two_step:
        script = os.path.join(d, "relax_solve.sbatch")
        return [
            Step(("sbatch", "--parsable", f"--job-name=hpc-nc-{job.name}-relax", *extra, script, "relax", job_path),
                 capture="RELAX_ID"),
            Step(("sbatch", "--dependency=afterany:$RELAX_ID", f"--job-name=hpc-nc-{job.name}-solve", *extra,
                  script, "solve", job_path)),
        ]
    return [Step(("sbatch", f"--job-name=hpc-nc-{job.name}", *extra, os.path.join(d, "sweep.sbatch"), job_path))]


def _quote(arg: str) -> str:
    # keep $VAR references to an earlier job id expandable by the shell
    return arg if re.fullmatch(r"[\w./:=,+-]*\$[A-Z_]+", arg) else shlex.quote(arg)


def format_step(step: Step) -> str:
    line = " ".join(_quote(a) for a in step.argv)
    return f"{step.capture}=$({line})" if step.capture else line


def submit_commands(job_path: str, *, array: int | None = None, two_step: bool = False,
                    sbatch_args: Sequence[str] = (), slurm_dir: str | None = None) -> list[str]:
    """The sbatch command lines that :func:`submit` would run, as shell text."""
    return [format_step(s) for s in plan(job_path, array=array, two_step=two_step, sbatch_args=sbatch_args,
                                         slurm_dir=slurm_dir)]


def describe_shards(job_path: str, n: int) -> list[str]:
    """One line per shard: its task count and results file (for the dry run)."""
    from hpc_nc.io.jobs import load_job

    job = load_job(job_path)
    return [f"shard {k}/{n}: {len(shard_tasks(job.tasks, k, n))} tasks -> {shard_results_path(job.results_path, k, n)}"
            for k in range(n)]


def submit(steps: Sequence[Step]) -> list[str]:
    """Run the sbatch calls in order, passing job ids on; returns the job ids."""
    if shutil.which("sbatch") is None:
        raise SlurmError("sbatch not found on PATH: run this on a Slurm login node, or use --dry-run "
                         "to print the commands")
    ids: dict[str, str] = {}
    out = []
    for step in steps:
        argv = [re.sub(r"\$([A-Z_]+)", lambda m: ids[m.group(1)], a) for a in step.argv]
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode != 0:
            msg = " ".join((proc.stderr or proc.stdout).split())
            raise SlurmError(f"sbatch failed (exit {proc.returncode}): {msg}")
        text = proc.stdout.strip()
        # --parsable prints "jobid[;cluster]"; plain sbatch prints "Submitted batch job <id>"
        job_id = text.split(";")[0] if step.capture else text.split()[-1] if text else ""
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
    parser.add_argument("--sbatch-arg", action="append", default=[], metavar="ARG",
                        help="extra sbatch option, e.g. --sbatch-arg=--partition=short (repeatable)")
    parser.add_argument("--slurm-dir", help="directory of the sbatch templates (default ./slurm)")


def run(args: argparse.Namespace) -> int:
    """``hpc-nc slurm``: print (``--dry-run``) or submit the commands. Raises SlurmError."""
    steps = plan(args.job, array=args.array, two_step=args.two_step, sbatch_args=args.sbatch_arg,
                 slurm_dir=args.slurm_dir)
    if args.dry_run:
        if args.array:
            for line in describe_shards(args.job, args.array):
                print(f"# {line}")
        for step in steps:
            print(format_step(step))
        return 0
    for step, job_id in zip(steps, submit(steps)):
        print(f"submitted {job_id}: {format_step(step)}")
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
