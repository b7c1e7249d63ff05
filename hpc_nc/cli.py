"""Command-line interface: ``hpc-nc <command>``.

Every error the user can cause (bad job file, missing structure, wrong PETSc build, solver
failure outside a sweep) ends as one line ``hpc-nc: error: ...`` and exit status 2 on every
rank, never a traceback. PETSc/SLEPc/TAO options (``-eps_view``, ``-log_view``, ``-tao_*``)
may be given after the command; they are passed to PETSc untouched.

Exit status (every command; ``relax``, ``solve`` and ``run`` use all of them, so Slurm's
COMPLETED and ``afterok`` mean "every task done"):

- 0: done (for the stages: every selected task finished);
- 1: internal error (a bug: one line on rank 0 names the file with the full traceback);
- 2: usage or input error (bad job file, missing file, wrong option), one line;
- 3: some tasks failed (recorded in the results file; ``hpc-nc status FILE`` lists them);
- 4: some tasks are still pending (e.g. a stage was stopped); re-running resumes;
- 130: interrupted by SIGINT (Ctrl-C), 143: terminated by SIGTERM (as ``timeout`` and
  Slurm's time limit send); finished rows are kept and re-running resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from hpc_nc import __version__
from hpc_nc.errors import HpcNcError

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_FAILED, EXIT_PENDING = 0, 1, 2, 3, 4
EXIT_SIGINT, EXIT_SIGTERM = 130, 143


def _world_rank() -> int:
    for var in ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"):
        if var in os.environ:
            try:
                return int(os.environ[var])
            except ValueError:
                pass
    return 0


def _split_petsc_options(argv: list[str]) -> tuple[list[str], list[str]]:
    """Separate PETSc-style single-dash options (``-eps_view``, ``-st_type sinvert``)."""
    ours, petsc = [], []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("-") and not a.startswith("--") and len(a) > 2 and a[1].isalpha() and "_" in a:
            petsc.append(a)
            if i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                petsc.append(argv[i + 1])
                i += 1
        else:
            ours.append(a)
        i += 1
    return ours, petsc


def cmd_info(args) -> int:
    import platform

    info = {"hpc_nc": __version__, "python": platform.python_version(), "executable": sys.executable}
    try:
        from mpi4py import MPI

        # Open MPI ends the string with a NUL byte: never let it into JSON or a terminal
        info["mpi_library"] = MPI.Get_library_version().replace("\x00", "").strip().splitlines()[0]
        info["mpi4py"] = __import__("mpi4py").__version__
        info["world_size"] = MPI.COMM_WORLD.Get_size()
    except ImportError as exc:
        info["mpi_library"] = f"mpi4py missing ({exc})"
    from hpc_nc.parallel.petsc_build import describe_builds

    info["builds"] = describe_builds() if _world_rank() == 0 else []
    try:
        os.environ.setdefault("H5PY_ALWAYS_USE_MPI", "1")
        import h5py

        info["h5py"] = h5py.__version__
        info["h5py_mpi"] = bool(h5py.get_config().mpi)
    except ImportError as exc:
        info["h5py"] = f"missing ({exc})"
        info["h5py_mpi"] = False
    if _world_rank() != 0:
        return 0
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"hpc_nc {info['hpc_nc']}  (Python {info['python']}, {info['executable']})")
    print(f"MPI: {info.get('mpi_library')}  world size {info.get('world_size', '?')}  mpi4py {info.get('mpi4py', '?')}")
    for b in info["builds"]:
        if "error" in b:
            print(f"PETSc {b['scalar']:7s}: not available: {b['error']}")
        else:
            print(
                f"PETSc {b['scalar']:7s}: PETSc {b['petsc_version']}, SLEPc {b['slepc_version']}, scalar "
                f"{b['scalar_type']}, MUMPS {'yes' if b['mumps'] else 'no'}, TAO cg "
                f"{'yes' if b['tao_cg'] else 'no'}  ({b['petsc_dir']})"
            )
    print(f"h5py {info.get('h5py')}  parallel (MPI) HDF5: {'yes' if info['h5py_mpi'] else 'no'}")
    return 0


def _load(args):
    from hpc_nc.io.jobs import load_job, parse_job, parse_set_options

    overrides = parse_set_options(getattr(args, "set", None))
    job = load_job(args.job)  # file errors first, then the overridden version
    if overrides:
        job = parse_job(job.job_text, source=job.source, overrides=overrides)
    if _world_rank() == 0:
        for w in job.warnings:  # deprecated keys: one line each, once
            print(f"hpc-nc: warning: {w}", file=sys.stderr)
    return job


def _check_resources(args, job, results: str | None = None, structures: str | None = None) -> None:
    """Refuse, before anything runs, a job that cannot fit in memory or on the disk."""
    from hpc_nc.pipeline.sweep import check_resources

    results = results or getattr(args, "results", None) or job.results_path
    structures = structures or getattr(args, "structures", None) or job.structures_path
    check_resources(job, results, structures)


def cmd_validate(args) -> int:
    from hpc_nc.io.jobs import summarize
    from hpc_nc.pipeline.cost import job_cost, memory_per_rank_bytes

    job = _load(args)
    _check_resources(args, job)
    s = summarize(job)
    ranks = args.ranks or job.ranks_per_task
    if args.mem_per_rank is not None and not args.mem_per_rank > 0:
        raise HpcNcError(f"--mem-per-rank must be positive (GiB), got {args.mem_per_rank}")
    mem = (
        int(args.mem_per_rank * 2**30) if args.mem_per_rank else memory_per_rank_bytes(min(ranks, os.cpu_count() or 1))
    )
    try:
        c = job_cost(job, ranks, mem)  # refuses a task that cannot fit, naming it
    except HpcNcError as exc:
        if not _inside_mpi_job():
            raise
        # every rank fails alike; rank 0's line must be out before any rank exits non-zero,
        # or mpirun may stop rank 0 first (this path runs without MPI otherwise synchronising)
        if _world_rank() == 0:
            print(f"hpc-nc: error: {exc}", file=sys.stderr, flush=True)
        _world().Barrier()
        return EXIT_USAGE
    s["cost"] = {k: v for k, v in c.items() if k not in ("tasks", "structures")} | {"mem_per_rank_bytes": mem}
    for row, pred in zip(s["tasks"], c["tasks"]):  # with the strategy auto picks within the memory
        row.update(
            strategy=pred["strategy"],
            cpu_s_estimate=pred["cpu_s"],
            wall_s_estimate=pred["wall_s"],
            memory_estimate_bytes=pred["peak_bytes_per_rank"],
        )
    s["memory_per_task_bytes_max"] = max([r["memory_estimate_bytes"] or 0 for r in s["tasks"]])
    if _world_rank() != 0:
        return 0
    if args.json:
        print(json.dumps(s, indent=2))
        return 0
    gib = s["memory_per_task_bytes_max"] / 2**30
    print(f"{s['source']}: job '{s['job']}' is valid")
    print(
        f"  tasks: {s['n_tasks']}  (models {', '.join(s['models'])}; {s['n_structures_to_relax']} structures to relax)"
    )
    print(f"  atoms per dot: {s['n_atoms_min']} .. {s['n_atoms_max']}")
    print(
        f"  memory per task (estimate, electronic stage): up to {gib:.2f} GiB per rank "
        f"(available: {mem / 2**30:.1f} GiB per rank)"
    )
    print(
        f"  predicted on {ranks} rank(s) ({c['groups']} group(s) of {c['ranks_per_task']}): "
        f"relax {c['relax_cpu_hours']:.3g} CPU h, wall {_hms(c['relax_wall_s'])}; "
        f"solve ({c['strategy']}) {c['solve_cpu_hours']:.3g} CPU h, wall {_hms(c['solve_wall_s'])}"
        + ("  [beyond the fitted sizes]" if c["any_extrapolated"] else "")
    )
    if c["strategies_without_fit"]:
        print(f"  not predicted (no cost fit): tasks solved with {', '.join(c['strategies_without_fit'])}")
    print(f"  cost model fitted on: {c['machine']}")
    print(f"  ranks per task: {s['ranks_per_task']}")
    print(f"  results: {s['results']}   structures: {s['structures']}")
    return 0


def _hms(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _world():
    from mpi4py import MPI

    return MPI.COMM_WORLD


def _stage_args(args) -> dict:
    from hpc_nc.pipeline.sweep import parse_shard

    return dict(shard=parse_shard(getattr(args, "shard", None)), progress=getattr(args, "progress", None))


def _report(summary, what: str, path: str) -> int:
    """Exit status of a stage: 3 when any selected task failed (recorded in the store, the
    farm went on with the others), else 0; the failures are listed by `hpc-nc status`."""
    if summary is None:
        return EXIT_OK
    if summary.n_failed:
        if _world_rank() == 0:
            print(
                f"{what}: {summary.n_failed} task(s) failed and were recorded (see `hpc-nc status {path}`)",
                file=sys.stderr,
            )
        return EXIT_FAILED
    return EXIT_OK


def cmd_relax(args) -> int:
    from hpc_nc.pipeline.sweep import run_relax

    job = _load(args)
    path = args.structures or job.structures_path
    summary = run_relax(_world(), job, structures_path=path, **_stage_args(args))
    return _report(summary, "relax", path)


def cmd_solve(args) -> int:
    from hpc_nc.pipeline.sweep import run_solve

    job = _load(args)
    path = args.results or job.results_path
    summary = run_solve(_world(), job, results_path=path, structures_path=args.structures, **_stage_args(args))
    return _report(summary, "solve", path)


def _inherited_singleton() -> bool:
    """True when the environment was inherited from a process that initialised MPI as an
    OpenMPI singleton (e.g. a Python script that imported mpi4py, then ran hpc-nc): OpenMPI
    puts PMIX_RANK etc. into the C environment, which children inherit, although no launcher
    started this process."""
    return os.environ.get("OMPI_MCA_ess") == "singleton" and "OMPI_COMM_WORLD_SIZE" not in os.environ


def _inside_mpi_job() -> bool:
    if _inherited_singleton():
        return False
    return any(v in os.environ for v in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"))


def _launcher_env() -> dict:
    """os.environ for a child mpirun, without a singleton parent's PMIx/OpenMPI wiring (which
    would make the child's ranks try to join the parent's PMIx server)."""
    env = dict(os.environ)
    if _inherited_singleton():
        for key in list(env):
            if key.startswith(("PMIX_", "OMPI_MCA_orte_", "OMPI_MCA_ess", "OMPI_MCA_pmix", "OMPI_APP_CTX")):
                del env[key]
    return env


def _set_parent_death_signal(sig: int | None = None) -> None:
    """Linux: have the kernel send ``sig`` (default SIGTERM) to this process when its parent
    dies, so that killing `hpc-nc run` (even with SIGKILL) takes mpirun and the ranks with it
    instead of leaving them computing under init. A no-op elsewhere."""
    import signal

    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, int(sig or signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _run_child(cmd: list[str], env: dict) -> int:
    """Run one stage and wait for it; SIGTERM/SIGINT to `hpc-nc run` are passed on to it.

    The child runs in its own session (a terminal's Ctrl-C reaches only this process, which
    then stops the child once, cleanly) and dies with this process (parent-death signal).
    Returns the child's status, or -signal when this process was signalled (after the child
    has exited)."""
    import signal
    import subprocess

    received: list[int] = []
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, preexec_fn=_set_parent_death_signal)

    def forward(signum, _frame):
        received.append(signum)
        try:
            proc.send_signal(signal.SIGTERM)  # mpirun stops its ranks on SIGTERM
        except ProcessLookupError:
            pass

    old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            try:
                rc = proc.wait()
                break
            except KeyboardInterrupt:  # pragma: no cover - the handler above replaces it
                forward(signal.SIGINT, None)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return -received[0] if received else rc


def _resume_command(args) -> str:
    import shlex

    argv = ["hpc-nc"] + [a for a in sys.argv[1:]]
    return " ".join(shlex.quote(a) for a in argv)


def _saved_summary(results: str) -> str:
    try:
        from hpc_nc.io.store import read_results

        c = _status_counts(read_results(results))
        return f"{c['done']} of {sum(c.values())} tasks are saved in {results}"
    except Exception:  # noqa: BLE001 - only a message; the file may not exist yet
        return f"finished tasks are saved in {results}" if os.path.exists(results) else "no task finished yet"


def cmd_run(args) -> int:
    """Both stages on the local machine: launches `mpirun -n N` for each stage itself."""
    import shutil
    import signal

    if args.np is not None and args.np < 1:
        raise HpcNcError(f"-n {args.np}: the number of MPI ranks must be at least 1")
    job = _load(args)
    results = args.results or job.results_path
    structures = args.structures or job.structures_path
    _check_resources(args, job, results, structures)
    has_str = any(t.model == "STR" for t in job.tasks)
    passthrough = [args.job] + sum((["--set", s] for s in (args.set or [])), [])
    if args.shard:
        passthrough += ["--shard", args.shard]
    passthrough += ["--results", results, "--structures", structures]
    if getattr(args, "progress", None):
        passthrough += ["--progress", args.progress]
    if _inside_mpi_job():
        if has_str:
            raise HpcNcError(
                "`hpc-nc run` under mpirun/srun cannot run both stages (they need the real and "
                "the complex PETSc build in separate programs): run `hpc-nc relax JOB` then "
                "`hpc-nc solve JOB` (see `hpc-nc slurm --dry-run`), or start `hpc-nc run` "
                "without mpirun"
            )
        return cmd_solve(args)
    n = args.np or os.cpu_count() or 1
    mpirun = shutil.which("mpirun")
    if mpirun is None and n > 1:
        raise HpcNcError("mpirun not found: install openmpi-bin or run with -n 1")
    env = _launcher_env()
    env.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")
    if os.geteuid() == 0:
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    # --quiet: no "N processes returned a non-zero exit code" banners around our one-line errors
    launcher = [mpirun, "--quiet", "-n", str(n)] if n > 1 else []
    petsc_opts = _split_petsc_options(sys.argv[1:])[1]
    stages = (["relax"] if has_str else []) + ["solve"]
    for stage in stages:
        cmd = launcher + [sys.executable, "-m", "hpc_nc", stage] + passthrough + petsc_opts
        print(f"run: {' '.join(cmd)}", flush=True)
        rc = _run_child(cmd, env)
        if rc < 0 or rc in (EXIT_SIGINT, EXIT_SIGTERM):  # this process, or the stage, was stopped
            sig = -rc if rc < 0 else rc - 128
            name = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}.get(sig, f"signal {sig}")
            print(
                f"run: stopped by {name} during {stage}: {_saved_summary(results)}; resume with: "
                f"{_resume_command(args)}",
                file=sys.stderr,
                flush=True,
            )
            return EXIT_SIGINT if sig == signal.SIGINT else EXIT_SIGTERM
        if rc == EXIT_USAGE:
            # the stage printed the one-line reason; re-running unchanged would fail the same way
            return EXIT_USAGE
        if rc == EXIT_FAILED:
            continue  # failures are recorded; solve records tasks whose structure failed
        if rc == 128 + signal.SIGKILL:
            print(
                f"run: a process of stage `{stage}` was killed (SIGKILL, often the out-of-memory killer: see "
                f"`hpc-nc validate` for the memory per task); {_saved_summary(results)}; resume with: "
                f"{_resume_command(args)}",
                file=sys.stderr,
                flush=True,
            )
            return EXIT_INTERNAL
        if rc != 0:
            print(
                f"run: stage `{stage}` exited with status {rc} (see the message above); {_saved_summary(results)};"
                f" after fixing the cause, resume with: {_resume_command(args)}",
                file=sys.stderr,
                flush=True,
            )
            return EXIT_PENDING if rc == EXIT_PENDING else EXIT_INTERNAL
    return _finish_run(args, job, results, structures)


def _finish_run(args, job, results, structures=None) -> int:
    from hpc_nc.io.store import read_results

    data = read_results(results)
    counts = _status_counts(data)
    out_dir = os.path.dirname(os.path.abspath(results))
    stem = os.path.splitext(os.path.basename(results))[0]
    written = [results, structures or job.structures_path] if any(t.model == "STR" for t in job.tasks) else [results]
    try:
        from hpc_nc.io.export import export_csv

        csv = os.path.join(out_dir, f"{stem}.csv")
        export_csv(data, csv)
        written.append(csv)
        ens = os.path.join(out_dir, f"{stem}_ensemble.csv")
        export_csv(data, ens, ensemble=True)
        written.append(ens)
        if not args.no_plots:
            from hpc_nc.io.plots import make_plots

            written += make_plots(data, os.path.join(out_dir, f"{stem}_plots"))
    except Exception as exc:  # noqa: BLE001 - figures must never cost the results
        print(
            f"run: CSV/figures incomplete ({type(exc).__name__}: {exc}); the results file is complete, "
            f"retry with `hpc-nc export` / `hpc-nc plot`",
            file=sys.stderr,
        )
    print(f"run: {counts['done']} done, {counts['failed']} failed, {counts['pending']} pending")
    print("run: results written:")
    for w in written:
        print(f"  {w}")
    if counts["failed"]:
        print(
            f"run: exit status 3: {counts['failed']} task(s) failed (`hpc-nc status {results}` lists them)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if counts["pending"]:
        print(f"run: exit status 4: {counts['pending']} task(s) pending; re-run to compute them", file=sys.stderr)
        return EXIT_PENDING
    return EXIT_OK


def _status_counts(data) -> dict:
    import numpy as np

    status = np.asarray(data["status"])
    done, failed = int((status == 1).sum()), int((status == 2).sum())
    return {"done": done, "failed": failed, "pending": int(status.size) - done - failed}


def _open_checked(path: str):
    """(kind, row noun, keys, verified status, messages) of a results or structures file."""
    import numpy as np

    from hpc_nc.io.store import STORE_KINDS, open_store_file, verified_status

    with open_store_file(path) as f:
        kind = STORE_KINDS[f.attrs["format"]]
        group = "tasks" if kind == "results" else "structures"
        keys = np.char.decode(f[f"{group}/key"][...], "utf-8")
        status = verified_status(f)
        messages = np.char.decode(f["message"][...], "utf-8", errors="replace")
    return kind, ("task" if kind == "results" else "structure"), keys, status, messages


def _counts(status) -> dict:
    import numpy as np

    from hpc_nc.io.schema import STATUS_NAMES

    return {name: int(np.sum(np.asarray(status) == code)) for code, name in STATUS_NAMES.items()}


def cmd_status(args) -> int:
    """Counts of a results or structures file (rows verified against their checksums)."""
    import numpy as np

    from hpc_nc.io.schema import CORRUPT, FAILED

    kind, noun, keys, status, messages = _open_checked(args.results)
    counts = _counts(status)
    failed = np.flatnonzero(status == FAILED)
    if args.json:
        failures = [{noun: int(i), "key": str(keys[i]), "message": str(messages[i])} for i in failed]
        print(json.dumps({"file": args.results, "kind": kind} | counts | {"failures": failures}, indent=2))
        return 0
    text = f"{counts['done']} done, {counts['failed']} failed, {counts['pending']} pending"
    if counts["corrupt"]:
        text += f", {counts['corrupt']} corrupt (recomputed on resume; see `hpc-nc verify`)"
    print(f"{args.results}: {kind} file, {len(status)} {noun}s: {text}")
    for i in failed:
        print(f"  failed {noun} {i} ({keys[i]}): {messages[i]}")
    for i in np.flatnonzero(status == CORRUPT)[:20]:
        print(f"  corrupt {noun} {i} ({keys[i]}): checksum does not match")
    return 0


def cmd_verify(args) -> int:
    """Check every row's checksum: exit 0 if all match, 1 if any row is corrupt."""
    import numpy as np

    from hpc_nc.io.schema import CORRUPT

    kind, noun, keys, status, _messages = _open_checked(args.file)
    counts = _counts(status)
    bad = np.flatnonzero(status == CORRUPT)
    checked = counts["done"] + counts["failed"]
    if bad.size == 0:
        print(
            f"{args.file}: {kind} file OK: {checked} finished {noun}s match their checksums "
            f"({counts['done']} done, {counts['failed']} failed), {counts['pending']} pending"
        )
        return 0
    listed = ", ".join(f"{i} ({keys[i]})" for i in bad[:10]) + (" ..." if bad.size > 10 else "")
    print(
        f"{args.file}: {bad.size} {noun}(s) CORRUPT (checksum mismatch): {listed}; resuming the job "
        f"recomputes them, or `hpc-nc salvage {args.file} NEW.h5` copies the good rows"
    )
    return 1


def cmd_salvage(args) -> int:
    from hpc_nc.io.salvage import salvage

    r = salvage(args.damaged, args.out)
    how = f" ({'; '.join(r['repairs'])})" if r["repairs"] else ""
    print(
        f"salvage: {args.out}: {r['done']} done and {r['failed']} failed rows recovered, {r['pending']} pending "
        f"({r['lost']} finished rows could not be trusted and will be recomputed on resume){how}"
    )
    return 0


def cmd_merge(args) -> int:
    from hpc_nc.io.store import merge_shards

    counts = merge_shards(args.out, args.shards, overwrite=args.force)
    print(f"merge: {args.out}: {counts['done']} done, {counts['failed']} failed, {counts['pending']} pending")
    return 0


def _delegate(module: str):
    """Subcommands implemented in their own module (imported only when used)."""

    def run(args) -> int:
        import importlib

        return int(importlib.import_module(module).run(args) or 0)

    return run


def cmd_bulk(args) -> int:
    """``hpc-nc bulk COMPOUND [--json] [--plot FILE]``: the bulk band summary."""
    import json

    from hpc_nc.io.paths import check_output_path
    from hpc_nc.physics.bulk import bulk_summary, format_summary, plot_bands
    from hpc_nc.physics.materials import load_materials, with_band_offsets

    mats = load_materials()
    names = {name.lower(): name for name in mats}
    compound = names.get(args.compound.lower())
    if compound is None:
        raise HpcNcError(f"unknown compound {args.compound!r}; choose one of {', '.join(sorted(mats))}")
    if args.vbo_ins is not None or args.vbo_cus is not None:
        mats = with_band_offsets(
            mats,
            mats["InS"].valence_band_offset if args.vbo_ins is None else args.vbo_ins,
            mats["CuS"].valence_band_offset if args.vbo_cus is None else args.vbo_cus,
        )
    s = bulk_summary(compound, mats)
    print(json.dumps(s, indent=1) if args.json else format_summary(s))
    if args.plot:
        plot_bands(compound, check_output_path(args.plot), mats)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hpc-nc",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit status: 0 done, 1 internal error, 2 usage or input error, 3 some tasks "
        "failed,\n4 some tasks pending, 130 SIGINT, 143 SIGTERM (finished rows are kept; "
        "re-running resumes)",
    )
    p.add_argument("--version", action="version", version=f"hpc_nc {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("info", help="versions, MPI, PETSc/SLEPc builds, MUMPS, parallel h5py")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("validate", help="check a job file; predict each task's CPU time and memory, and the total")
    s.add_argument("job")
    s.add_argument(
        "--ranks",
        type=int,
        metavar="N",
        help="predict the job's wall time on N ranks (default: parallel.ranks_per_task)",
    )
    s.add_argument(
        "--mem-per-rank",
        type=float,
        metavar="GIB",
        help="memory per rank in GiB (default: "
        "SLURM_MEM_PER_CPU / SLURM_MEM_PER_NODE, else this node's memory / ranks on it)",
    )
    s.add_argument("--json", action="store_true")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a job-file entry")
    s.set_defaults(func=cmd_validate)

    def stage_parser(name, help_text, func):
        s = sub.add_parser(name, help=help_text)
        s.add_argument("job")
        s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a job-file entry")
        s.add_argument("--shard", metavar="K/N", help="only tasks with index %% N == K (job arrays)")
        s.add_argument("--results", help="results file (default: the job's output.results)")
        s.add_argument("--structures", help="structures file (default: the job's output.structures)")
        s.add_argument("--progress", choices=["auto", "bar", "log", "none"], default=None)
        s.set_defaults(func=func)
        return s

    stage_parser("relax", "structure stage: VFF-relax every STR structure (real PETSc, TAO)", cmd_relax)
    stage_parser(
        "solve", "electronic stage: Hamiltonian, gap states, excitons for every task (complex PETSc)", cmd_solve
    )
    s = stage_parser("run", "both stages on this machine (launches mpirun -n N), then CSV and figures", cmd_run)
    s.add_argument("-n", "--np", type=int, default=None, help="MPI ranks (default: number of cores)")
    s.add_argument("--no-plots", action="store_true")

    s = sub.add_parser("status", help="done/failed/pending counts and failure messages of a results or structures file")
    s.add_argument("results", help="results or structures file (HDF5)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)

    s = sub.add_parser(
        "verify", help="check the checksum of every row of a results or structures file (exit 1 if any row is corrupt)"
    )
    s.add_argument("file")
    s.set_defaults(func=cmd_verify)

    s = sub.add_parser(
        "salvage",
        help="copy the rows of a damaged (truncated, bad superblock, corrupt rows) file "
        "that pass their checksum into a new file",
    )
    s.add_argument("damaged")
    s.add_argument("out")
    s.set_defaults(func=cmd_salvage)

    s = sub.add_parser("merge", help="combine shard results files of one job into one file")
    s.add_argument("out")
    s.add_argument("shards", nargs="+")
    s.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    s.set_defaults(func=cmd_merge)

    from hpc_nc.io import export, plots
    from hpc_nc.pipeline import slurm

    s = sub.add_parser("export", help="CSV (per task, ensemble mean/stderr) and extended-XYZ structures")
    export.add_arguments(s)
    s.set_defaults(func=_delegate("hpc_nc.io.export"))
    s = sub.add_parser("plot", help="the paper's figures (maps, curves, radial densities) from a results file")
    plots.add_arguments(s)
    s.set_defaults(func=_delegate("hpc_nc.io.plots"))
    s = sub.add_parser(
        "slurm", help="submit a sweep to Slurm, resources sized from the job (--dry-run prints the commands)"
    )
    slurm.add_arguments(s)
    s.set_defaults(func=_delegate("hpc_nc.pipeline.slurm"))

    s = sub.add_parser("bulk", help="bulk band summary of ZnS, CdS, InS or CuS (--json, --plot FILE)")
    s.add_argument("compound", help="ZnS, CdS, InS or CuS (any case)")
    s.add_argument("--json", action="store_true", help="print JSON (keys gap, vbm, cbm, delta_so, ...)")
    s.add_argument("--plot", metavar="FILE", help="write the L-Γ-X band structure to FILE (PNG)")
    s.add_argument("--vbo-ins", type=float, default=None, help="InS/ZnS valence band offset, eV")
    s.add_argument("--vbo-cus", type=float, default=None, help="CuS/ZnS valence band offset, eV")
    s.set_defaults(func=cmd_bulk)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ours, _petsc = _split_petsc_options(argv)
    parser = build_parser()

    def _usage_error(message):
        if _world_rank() == 0:
            print(f"hpc-nc: error: {message}", file=sys.stderr)
        raise SystemExit(2)

    parser.error = _usage_error  # one line, no usage wall
    for sp in parser._subparsers._group_actions[0].choices.values():
        sp.error = _usage_error
    for i, a in enumerate(argv):
        # bytes that are not UTF-8 (read as lone surrogates): PETSc's option database and the
        # files' provenance are UTF-8 text, so refuse them here, in one line
        try:
            a.encode("utf-8")
        except UnicodeEncodeError:
            _usage_error(f"argument {i + 1} is not UTF-8 text: {a.encode('utf-8', 'backslashreplace').decode()[:80]}")
    args = parser.parse_args(ours)
    if _inside_mpi_job():
        _set_parent_death_signal()  # a rank must not outlive its launcher
    try:
        return int(args.func(args) or 0)
    except HpcNcError as exc:
        if _world_rank() == 0:
            print(f"hpc-nc: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_SIGINT
    except BrokenPipeError:  # `hpc-nc ... | head`
        sys.stderr.close()
        return 0
    except Exception as exc:  # noqa: BLE001 - a bug: one line per run, the traceback in a file
        return _internal_error(exc)


def _internal_error(exc: BaseException) -> int:
    """Write the traceback to a file (one per rank) and print one line on rank 0 only, so
    that `mpirun -n N` shows one message, not N tracebacks."""
    import tempfile
    import time
    import traceback

    rank = _world_rank()
    tag = os.environ.get("SLURM_JOB_ID") or os.environ.get("OMPI_MCA_orte_ess_jobid") or str(os.getppid())
    folder = os.environ.get("HPC_NC_LOG_DIR") or tempfile.gettempdir()
    path = os.path.join(folder, f"hpc-nc-error-{time.strftime('%Y%m%dT%H%M%S')}-{tag}-rank{rank}.txt")
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(f"hpc-nc {__version__}: {' '.join(sys.argv)}\n")
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=fh)
    except OSError:
        path = None
    if rank == 0:
        text = " ".join(str(exc).split())[:300]
        where = (
            f"full traceback in {path}" + (" (and -rankN files for the other ranks)" if _inside_mpi_job() else "")
            if path
            else "traceback could not be written"
        )
        print(f"hpc-nc: internal error: {type(exc).__name__}: {text} ({where}); please report it", file=sys.stderr)
    return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
