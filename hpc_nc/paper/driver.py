"""``python -m hpc_nc.paper`` (``make paper``): run the study resumably, export, plot, report.

Commands::

    python -m hpc_nc.paper [run] [--fig 6,7] [--np N] [--extended] [--plot-only]
    python -m hpc_nc.paper predict [--fig ...]          # predicted cost per job, no calculation
    python -m hpc_nc.paper report                       # README.md from the CSVs only

``run`` takes the figures cheapest first (predicted CPU time) and for each: (1) decide whether tasks remain: the results file
(job's ``output.results``, results/paper/figN.h5) if it exists, otherwise the committed
``tasks.csv`` + ``meta.json`` of the figure (same job text hash, every task done) means
"finished"; (2) if tasks remain, ``hpc-nc run JOB -n NP --no-plots`` (resumes: finished
rows are skipped) measured with :func:`hpc_nc.paper.cost.run_measured` and appended to
cost.json; (3) if the results file exists, export the CSVs; (4) draw the figure from the
CSVs; (5) with ``--commit``, git-commit the figure's directory. Finally it writes
docs/reproduction/README.md and the benchmarks/RESULTS.md cost block.
A finished checkout therefore only re-plots (seconds per figure).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from hpc_nc.errors import HpcNcError
from hpc_nc.paper import EXTENDED, FIGURES, PaperFigure, figure_dir_name


def _parse_figs(text: str | None) -> list[int]:
    if not text:
        return list(FIGURES)
    out = []
    for part in text.replace(" ", ",").split(","):
        if not part:
            continue
        try:
            n = int(part.lower().removeprefix("fig"))
        except ValueError:
            raise HpcNcError(f"--fig {text}: expected figure numbers 2-12, e.g. 6 or 2,7") from None
        if n not in FIGURES:
            raise HpcNcError(f"--fig {text}: the paper's figures with results are 2-12, not {n}")
        out.append(n)
    return out


def _meta_path(fig_dir: str) -> str:
    return os.path.join(fig_dir, "meta.json")


def _csv_finished(fig_dir: str, job) -> bool:
    """The committed CSVs hold every task of this very job (same text or same content), all done."""
    from hpc_nc.paper.data import load_figure_data

    try:
        with open(_meta_path(fig_dir), encoding="utf-8") as fh:
            meta = json.load(fh)
    except (OSError, ValueError):
        return False
    # the same job: the same text, or the same content (a comment edited since the run, e.g.
    # the predicted-cost line, must not make a finished figure run again)
    if meta.get("job_sha256") != job.job_hash and meta.get("job_content_sha256") != job.job_content_hash:
        return False
    d = load_figure_data(fig_dir)
    return d is not None and d.n_tasks == len(job.tasks) and d.n_done == len(job.tasks)


def _status(results_path: str) -> tuple[int, int, int]:
    """(done, failed, total) of a results file."""
    import numpy as np

    from hpc_nc.io.ensemble import as_table

    s = np.asarray(as_table(results_path)["status"]).astype(int)
    return int((s == 1).sum()), int((s == 2).sum()), int(s.size)


def _fresh_env() -> dict:
    """This environment without the variables of an MPI job this process may belong to (a
    singleton MPI init, e.g. by h5py/mpi4py, sets OMPI_COMM_WORLD_*; ``hpc-nc run`` would
    then refuse to launch its own mpirun); user settings (OMPI_MCA_*, OMPI_ALLOW_*) stay."""
    keep = ("OMPI_MCA_", "OMPI_ALLOW_")
    return {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith(("OMPI_", "PMIX_", "PMI_", "OPAL_", "ORTE_")) and not k.startswith(keep))
    }


def process_figure(fig: PaperFigure, *, np_ranks: int, out_root: str, plot_only: bool, log=print) -> dict:
    """Steps (1)-(4) of the module docstring for one figure; returns what happened."""
    from hpc_nc.io.jobs import load_job
    from hpc_nc.paper import cost
    from hpc_nc.paper.data import export_figure_data, load_figure_data

    job = load_job(fig.job)
    fig_dir = os.path.join(out_root, figure_dir_name(fig.number))
    name = figure_dir_name(fig.number)
    results = job.results_path
    info = {"figure": name, "ran": False}
    have_h5 = os.path.exists(results)
    done, failed, total = _status(results) if have_h5 else (0, 0, len(job.tasks))
    finished = (have_h5 and done == total) or (not have_h5 and _csv_finished(fig_dir, job))
    if not plot_only and not finished:
        cmd = [sys.executable, "-m", "hpc_nc", "run", fig.job, "-n", str(np_ranks), "--no-plots"]
        log(f"paper: {name}: {total - done} of {total} tasks to compute: {' '.join(cmd)}")
        session = cost.run_measured(cmd, env=_fresh_env())
        done_after, failed_after, _ = _status(results) if os.path.exists(results) else (0, 0, total)
        if session["returncode"] in (130, 137, 143) or session["returncode"] < 0:
            # stopped by a signal: the killed ranks were never waited for, so their CPU time is
            # missing from the children's usage; recording the wrapper's few seconds would lie
            session["cpu_seconds"] = float("nan")
            session["note"] = "stopped by a signal: CPU time of the ranks not collected"
        session.update(
            np=np_ranks,
            tasks_done_before=done,
            tasks_done_after=done_after,
            failed=failed_after,
            job_sha256=job.job_hash,
        )
        cost.record_session(fig_dir, session)
        info["ran"] = True
        info["returncode"] = session["returncode"]
        if session["returncode"] not in (0, 1):  # 1: some tasks failed (recorded, shown in the report)
            log(f"paper: {name}: hpc-nc run exited with status {session['returncode']}; see its message above")
        log(
            f"paper: {name}: {done_after}/{total} done, {failed_after} failed, {session['wall_seconds']:.0f} s wall, "
            f"{session['cpu_seconds']:.0f} s CPU, peak {session['peak_rss_mib']:.0f} MiB per process"
        )
    if os.path.exists(results):
        export_figure_data(results, fig_dir, radial=fig.radial, log=log)
        d_, f_, t_ = _status(results)
        with open(_meta_path(fig_dir), "w", encoding="utf-8") as fh:
            json.dump(
                {
                    "job": fig.job,
                    "job_sha256": job.job_hash,
                    "job_content_sha256": job.job_content_hash,
                    "n_tasks": t_,
                    "n_done": d_,
                    "n_failed": f_,
                    "exported_unix": time.time(),
                },
                fh,
                indent=1,
            )
    data = load_figure_data(fig_dir)
    if data is None:
        log(f"paper: {name}: no results and no CSVs yet; figure not drawn")
        return info
    if fig.number == 0:
        return info
    from hpc_nc.paper.figures import FIGURE_FUNCTIONS

    png = os.path.join(fig_dir, f"{name}.png")
    FIGURE_FUNCTIONS[fig.number](data, png)
    info["png"] = png
    log(f"paper: {name}: {data.n_done}/{data.n_tasks} tasks in the CSVs, figure {png}")
    return info


def _cheapest_first(figs: list[PaperFigure]) -> list[PaperFigure]:
    """Figures in order of predicted CPU time, so that an interrupted study has the most
    figures finished."""
    from hpc_nc.io.jobs import load_job
    from hpc_nc.paper.cost import predict_job

    return sorted(figs, key=lambda f: predict_job(load_job(f.job))["cpu_seconds"])


def _commit(fig_dir: str, name: str, log=print) -> None:
    """``git add`` the figure's directory and commit it (``--commit``); a failure is reported."""
    import subprocess

    add = subprocess.run(["git", "add", fig_dir], capture_output=True, text=True)
    diff = subprocess.run(["git", "diff", "--cached", "--quiet", "--", fig_dir])
    if add.returncode != 0:
        log(f"paper: {name}: git add failed: {add.stderr.strip()}")
        return
    if diff.returncode == 0:
        return  # nothing new
    c = subprocess.run(
        ["git", "commit", "-q", "-m", f"docs/reproduction/{name}: results of make paper", "--", fig_dir],
        capture_output=True,
        text=True,
    )
    log(f"paper: {name}: " + ("committed" if c.returncode == 0 else f"git commit failed: {c.stderr.strip()}"))


def cmd_run(args) -> int:
    figs = [FIGURES[n] for n in _parse_figs(args.fig)]
    figs = (figs if args.fig else _cheapest_first(figs)) + ([EXTENDED] if args.extended else [])
    worst = 0
    for fig in figs:
        info = process_figure(fig, np_ranks=args.np, out_root=args.out, plot_only=args.plot_only)
        worst = max(worst, int(info.get("returncode", 0)))
        if args.commit and info.get("ran"):
            _commit(os.path.join(args.out, figure_dir_name(fig.number)), figure_dir_name(fig.number))
    _extended_figure(args.out)
    cmd_report(args)
    # 0: all done; 1: some tasks failed (recorded; rerun to retry); 2: a run stopped on an error
    return min(worst, 2)


def _extended_figure(out_root: str) -> None:
    from hpc_nc.paper.data import load_figure_data
    from hpc_nc.paper.figures import extended_maps

    ext = load_figure_data(os.path.join(out_root, figure_dir_name(0)))
    if ext is None:
        return
    parts = [load_figure_data(os.path.join(out_root, figure_dir_name(n))) for n in (6, 10)] + [ext]
    extended_maps(parts, os.path.join(out_root, figure_dir_name(0), "extended_maps.png"))


def cmd_report(args) -> int:
    from hpc_nc.paper.report import write_report

    path = write_report(args.out, ".", results_md=None if args.no_results_md else "benchmarks/RESULTS.md")
    print(f"paper: report {path}")
    return 0


def cmd_predict(args) -> int:
    from hpc_nc.io.jobs import load_job
    from hpc_nc.paper.cost import BENCHMARK_SOURCE, predict_job

    figs = [FIGURES[n] for n in _parse_figs(args.fig)] + [EXTENDED]
    total_cpu, total_tasks = 0.0, 0
    print(f"model: {BENCHMARK_SOURCE}")
    print(f"{'job':28s} {'tasks':>6s} {'CPU h':>8s} {'max task s':>10s} {'64-core wall min':>16s} {'GiB/rank':>9s}")
    for fig in figs:
        p = predict_job(load_job(fig.job), n_ranks=args.ranks)
        if fig is not EXTENDED:
            total_cpu += p["cpu_seconds"]
            total_tasks += p["n_tasks"]
        print(
            f"{fig.job:28s} {p['n_tasks']:6d} {p['cpu_seconds'] / 3600:8.2f} {p['max_task_seconds']:10.1f} "
            f"{p['node_wall_seconds'] / 60:16.1f} {p['memory_per_rank_bytes'] / 2**30:9.2f}"
        )
    print(f"{'total Figs. 2-12':28s} {total_tasks:6d} {total_cpu / 3600:8.2f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hpc_nc.paper", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command")
    for name in ("run", "report", "predict"):
        s = sub.add_parser(name)
        s.add_argument("--fig", help="figure number(s), e.g. 6 or 2,7 (default: all of 2-12)")
        s.add_argument("--np", type=int, default=os.cpu_count() or 1, help="MPI ranks for hpc-nc run")
        s.add_argument("--ranks", type=int, default=64, help="predict: ranks of the node")
        s.add_argument("--out", default="docs/reproduction", help="output root (default docs/reproduction)")
        s.add_argument("--extended", action="store_true", help="also run the extended Fig. 6/10 maps (item 5)")
        s.add_argument("--plot-only", action="store_true", help="never compute; export and plot what exists")
        s.add_argument("--commit", action="store_true", help="git-commit each figure's directory once it has run")
        s.add_argument("--no-results-md", action="store_true", help="do not touch benchmarks/RESULTS.md")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-"):
        argv = ["run"] + argv
    parser = build_parser()

    def _usage_error(message):
        print(f"hpc-nc: error: {message}", file=sys.stderr)
        raise SystemExit(2)

    parser.error = _usage_error
    for sp in parser._subparsers._group_actions[0].choices.values():
        sp.error = _usage_error
    args = parser.parse_args(argv)
    if args.np < 1:
        _usage_error(f"--np must be >= 1, got {args.np}")
    try:
        return {"run": cmd_run, "report": cmd_report, "predict": cmd_predict}[args.command](args)
    except HpcNcError as exc:
        print(f"hpc-nc: error: {exc}", file=sys.stderr)
        return 2
