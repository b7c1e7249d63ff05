"""Command-line interface: ``hpc-nc <command>``.

Every error the user can cause (bad job file, missing structure, wrong PETSc build, solver
failure outside a sweep) ends as one line ``hpc-nc: error: ...`` and exit status 2 on every
rank, never a traceback. PETSc/SLEPc/TAO options (``-eps_view``, ``-log_view``, ``-tao_*``)
may be given after the command; they are passed to PETSc untouched.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from hpc_nc import __version__
from hpc_nc.errors import HpcNcError


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
            print(f"PETSc {b['scalar']:7s}: PETSc {b['petsc_version']}, SLEPc {b['slepc_version']}, scalar "
                  f"{b['scalar_type']}, MUMPS {'yes' if b['mumps'] else 'no'}, TAO cg "
                  f"{'yes' if b['tao_cg'] else 'no'}  ({b['petsc_dir']})")
    print(f"h5py {info.get('h5py')}  parallel (MPI) HDF5: {'yes' if info['h5py_mpi'] else 'no'}")
    return 0


def _load(args):
    from hpc_nc.io.jobs import load_job, parse_job, parse_set_options

    overrides = parse_set_options(getattr(args, "set", None))
    if not overrides:
        return load_job(args.job)
    job = load_job(args.job)  # file errors first, then the overridden version
    return parse_job(job.job_text, source=args.job, overrides=overrides)


def cmd_validate(args) -> int:
    from hpc_nc.io.jobs import summarize

    job = _load(args)
    s = summarize(job)
    if _world_rank() != 0:
        return 0
    if args.json:
        print(json.dumps(s, indent=2))
        return 0
    gib = s["memory_per_task_bytes_max"] / 2**30
    print(f"{s['source']}: job '{s['job']}' is valid")
    print(f"  tasks: {s['n_tasks']}  (models {', '.join(s['models'])}; "
          f"{s['n_structures_to_relax']} structures to relax)")
    print(f"  atoms per dot: {s['n_atoms_min']} .. {s['n_atoms_max']}")
    print(f"  memory per task (estimate, electronic stage): up to {gib:.2f} GiB")
    print(f"  ranks per task: {s['ranks_per_task']}")
    print(f"  results: {s['results']}   structures: {s['structures']}")
    return 0


def _world():
    from mpi4py import MPI

    return MPI.COMM_WORLD


def _stage_args(args) -> dict:
    from hpc_nc.pipeline.sweep import parse_shard

    return dict(shard=parse_shard(getattr(args, "shard", None)), progress=getattr(args, "progress", None))


def _report(summary, what: str, path: str) -> int:
    """Failed tasks are recorded in the store, not fatal: the stage itself succeeded (exit 0),
    so mpirun/srun do not abort the job step; `hpc-nc status` lists the failures."""
    if summary is not None and _world_rank() == 0 and summary.n_failed:
        print(f"{what}: {summary.n_failed} task(s) failed and were recorded (see `hpc-nc status {path}`)",
              file=sys.stderr)
    return 0


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


def _inside_mpi_job() -> bool:
    return any(v in os.environ for v in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"))


def cmd_run(args) -> int:
    """Both stages on the local machine: launches `mpirun -n N` for each stage itself."""
    import shutil
    import subprocess

    job = _load(args)
    results = args.results or job.results_path
    structures = args.structures or job.structures_path
    has_str = any(t.model == "STR" for t in job.tasks)
    passthrough = [args.job] + sum((["--set", s] for s in (args.set or [])), [])
    if args.shard:
        passthrough += ["--shard", args.shard]
    passthrough += ["--results", results, "--structures", structures]
    if _inside_mpi_job():
        if has_str:
            raise HpcNcError("`hpc-nc run` under mpirun/srun cannot run both stages (they need the real and "
                             "the complex PETSc build in separate programs): run `hpc-nc relax JOB` then "
                             "`hpc-nc solve JOB` (see slurm/sweep.sbatch), or start `hpc-nc run` without mpirun")
        return cmd_solve(args)
    n = args.np or os.cpu_count() or 1
    mpirun = shutil.which("mpirun")
    if mpirun is None and n > 1:
        raise HpcNcError("mpirun not found: install openmpi-bin or run with -n 1")
    env = dict(os.environ)
    env.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")
    if os.geteuid() == 0:
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    launcher = [mpirun, "-n", str(n)] if n > 1 else []
    petsc_opts = _split_petsc_options(sys.argv[1:])[1]
    stages = (["relax"] if has_str else []) + ["solve"]
    for stage in stages:
        cmd = launcher + [sys.executable, "-m", "hpc_nc", stage] + passthrough + petsc_opts
        print(f"run: {' '.join(cmd)}", flush=True)
        rc = subprocess.run(cmd, env=env).returncode
        if rc != 0:
            raise HpcNcError(f"stage `{stage}` exited with status {rc}; finished results are kept, "
                             f"re-run the same command to resume")
    return _finish_run(args, job, results)


def _finish_run(args, job, results) -> int:
    from hpc_nc.io.store import read_results

    data = read_results(results)
    counts = _status_counts(data)
    out_dir = os.path.dirname(os.path.abspath(results))
    stem = os.path.splitext(os.path.basename(results))[0]
    written = [results, job.structures_path] if any(t.model == "STR" for t in job.tasks) else [results]
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
        print(f"run: CSV/figures incomplete ({type(exc).__name__}: {exc}); the results file is complete, "
              f"retry with `hpc-nc export` / `hpc-nc plot`", file=sys.stderr)
    print(f"run: {counts['done']} done, {counts['failed']} failed, {counts['pending']} pending")
    print("run: results written:")
    for w in written:
        print(f"  {w}")
    return 1 if counts["failed"] else 0


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
        print(f"{args.file}: {kind} file OK: {checked} finished {noun}s match their checksums "
              f"({counts['done']} done, {counts['failed']} failed), {counts['pending']} pending")
        return 0
    listed = ", ".join(f"{i} ({keys[i]})" for i in bad[:10]) + (" ..." if bad.size > 10 else "")
    print(f"{args.file}: {bad.size} {noun}(s) CORRUPT (checksum mismatch): {listed}; resuming the job "
          f"recomputes them, or `hpc-nc salvage {args.file} NEW.h5` copies the good rows")
    return 1


def cmd_salvage(args) -> int:
    from hpc_nc.io.salvage import salvage

    r = salvage(args.damaged, args.out)
    how = f" ({'; '.join(r['repairs'])})" if r["repairs"] else ""
    print(f"salvage: {args.out}: {r['done']} done and {r['failed']} failed rows recovered, {r['pending']} pending "
          f"({r['lost']} finished rows could not be trusted and will be recomputed on resume){how}")
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
    p = argparse.ArgumentParser(prog="hpc-nc", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"hpc_nc {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("info", help="versions, MPI, PETSc/SLEPc builds, MUMPS, parallel h5py")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("validate", help="check a job file and print its tasks, atom counts and memory")
    s.add_argument("job")
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
    stage_parser("solve", "electronic stage: H, gap states, excitons for every task (complex PETSc)", cmd_solve)
    s = stage_parser("run", "both stages on this machine (launches mpirun -n N), then CSV and figures", cmd_run)
    s.add_argument("-n", "--np", type=int, default=None, help="MPI ranks (default: number of cores)")
    s.add_argument("--no-plots", action="store_true")

    s = sub.add_parser("status", help="done/failed/pending counts and failure messages of a results or "
                       "structures file")
    s.add_argument("results", help="results or structures file (HDF5)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)

    s = sub.add_parser("verify", help="check the checksum of every row of a results or structures file "
                       "(exit 1 if any row is corrupt)")
    s.add_argument("file")
    s.set_defaults(func=cmd_verify)

    s = sub.add_parser("salvage", help="copy the rows of a damaged (truncated, bad superblock, corrupt rows) file "
                       "that pass their checksum into a new file")
    s.add_argument("damaged")
    s.add_argument("out")
    s.set_defaults(func=cmd_salvage)

    s = sub.add_parser("merge", help="combine shard results files of one job into one file")
    s.add_argument("out")
    s.add_argument("shards", nargs="+")
    s.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    s.set_defaults(func=cmd_merge)

    from hpc_nc.io import export

    from hpc_nc.io import plots

    from hpc_nc.pipeline import slurm

    s = sub.add_parser("export", help="CSV (per task, ensemble mean/stderr) and extended-XYZ structures")
    export.add_arguments(s)
    s.set_defaults(func=_delegate("hpc_nc.io.export"))
    s = sub.add_parser("plot", help="the paper's figures (maps, curves, radial densities) from a results file")
    plots.add_arguments(s)
    s.set_defaults(func=_delegate("hpc_nc.io.plots"))
    s = sub.add_parser("slurm", help="submit a sweep with the slurm/ templates (--dry-run prints the commands)")
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
    args = parser.parse_args(ours)
    try:
        return int(args.func(args) or 0)
    except HpcNcError as exc:
        if _world_rank() == 0:
            print(f"hpc-nc: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `hpc-nc ... | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
