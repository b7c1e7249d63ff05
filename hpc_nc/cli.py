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

from . import __version__
from .errors import HpcNcError


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

        info["mpi_library"] = MPI.Get_library_version().strip().splitlines()[0]
        info["mpi4py"] = __import__("mpi4py").__version__
        info["world_size"] = MPI.COMM_WORLD.Get_size()
    except ImportError as exc:
        info["mpi_library"] = f"mpi4py missing ({exc})"
    from .petsc_build import describe_builds

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
    from .jobs import load_job, parse_job, parse_set_options

    overrides = parse_set_options(getattr(args, "set", None))
    if not overrides:
        return load_job(args.job)
    job = load_job(args.job)  # file errors first, then the overridden version
    return parse_job(job.job_text, source=args.job, overrides=overrides)


def cmd_validate(args) -> int:
    from .jobs import summarize

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
