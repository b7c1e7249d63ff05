"""Fit the cost model (hpc_nc/pipeline/cost.py) to measured runs and write hpc_nc/data/cost_model.yaml.

Inputs (JSON lines): benchmarks/bench_cost.py runs of single tasks (ZnS dots of several sizes
per strategy, 1 and 2 ranks; ``--stage relax`` runs for the structure stage) and
benchmarks/bench_coulomb_fft.py runs (direct and FFT Coulomb by size).

Fits, per strategy, with relative (log) residuals, so every size counts alike:
  CPU on 1 rank minus the direct Coulomb sum it contains:  c0 + a (N/1e4)^p
  peak RSS on 1 rank:                                      m0 + b (N/1e4)^q   (m0: RSS after imports)
  2 ranks: beta = median log2(cpu_2 / cpu_1), gamma = median log2(dyn_1 / dyn_2), dyn = peak - m0,
  over the sizes measured on both (a strategy without 2-rank runs borrows davidson's).
  Coulomb: k_direct from cpu = k N^2, k_fft from cpu = k N log2 N (largest sizes).

    python benchmarks/fit_cost.py --runs A.jsonl B.jsonl --coulomb C.jsonl --machine "..." [--write]
    python benchmarks/fit_cost.py --compare demo.jsonl paper.jsonl     # measured vs predicted table
"""

from __future__ import annotations

import argparse
import json
import math
import statistics

import numpy as np
import yaml
from scipy.optimize import least_squares

from hpc_nc.pipeline import cost


def _read(paths):
    rows = []
    for p in paths:
        with open(p) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return rows


def _fit_offset_power(n, y, floor):
    """y ~ c0 + a (n/1e4)^p with c0 >= floor >= 0, in log residuals."""
    x = np.asarray(n, float) / cost.N_REF
    y = np.asarray(y, float)

    def res(t):
        c0, la, p = t
        return np.log(c0 + np.exp(la) * x**p) - np.log(y)

    best = least_squares(
        res,
        [max(floor, 0.5 * y.min()), math.log(max(y.max(), 1e-9)), 1.5],
        bounds=([floor, -60, 0.3], [max(y.min(), floor + 1e-9), 60, 3.0]),
    )
    c0, la, p = best.x
    return float(c0), float(math.exp(la)), float(p), float(np.max(np.abs(best.fun)))


def fit(args) -> dict:
    runs = _read(args.runs)
    coul = _read(args.coulomb) if args.coulomb else []
    base = [r["baseline_bytes"][0] for r in runs if r["strategy"] != "relax" and r.get("baseline_bytes")]
    m0 = float(statistics.median(base))
    out = {"machine": args.machine, "source": args.source, "m0_bytes": m0, "solve": {}}
    cd = [(c["n_atoms"], c["direct_cpu_s"] / c["ranks"] * 1.0) for c in coul if c["direct_cpu_s"] and c["ranks"] == 1]
    cf = [(c["n_atoms"], c["fft_cpu_s"]) for c in coul if c["ranks"] == 1]
    k_direct = float(np.median([t / n**2 for n, t in cd if n >= 4000])) if cd else 5.6e-9
    big = [(n, t) for n, t in cf if n >= 10000] or cf
    k_fft = float(np.median([t / (n * math.log2(n)) for n, t in big])) if big else 1e-6
    out["coulomb"] = {"k_direct_s": k_direct, "c0_fft_s": 0.0, "k_fft_s": k_fft}
    report = []
    for strat in sorted({r["strategy"] for r in runs}):
        one = sorted((r for r in runs if r["strategy"] == strat and r["ranks"] == 1), key=lambda r: r["n_atoms"])
        two = [r for r in runs if r["strategy"] == strat and r["ranks"] == 2]
        n = [r["n_atoms"] for r in one]
        m0s = m0 if strat != "relax" else float(statistics.median(r["baseline_bytes"][0] for r in one))
        coul_cpu = [0.0 if strat == "relax" else k_direct * r["n_atoms"] ** 2 for r in one]
        c0, a, p, e_cpu = _fit_offset_power(n, [max(r["cpu_s"] - c, 1e-3) for r, c in zip(one, coul_cpu)], 0.0)
        _, b, q, e_mem = _fit_offset_power(n, [max(r["peak_bytes"][0] - m0s, 1e6) for r in one], 0.0)
        entry = {"c0_s": c0, "a_s": a, "p": p, "b_bytes": b, "q": q, "fitted_atoms": [min(n), max(n)]}
        if strat == "relax":
            entry["m0_bytes"] = m0s
        by_n = {r["n_atoms"]: r for r in one}
        pairs = [(by_n[r["n_atoms"]], r) for r in two if r["n_atoms"] in by_n]
        # CPU summed over ranks is only meaningful on an unloaded machine: MPI ranks that wait
        # poll, so on an oversubscribed node their CPU time grows with the load, not the work
        quiet = [(r1, r2) for r1, r2 in pairs if r2.get("load1", 99.0) < args.quiet_load]
        if quiet:
            entry["beta"] = float(np.median([math.log2(r2["cpu_s"] / r1["cpu_s"]) for r1, r2 in quiet]))
        if pairs:
            entry["gamma"] = float(
                np.median([math.log2((r1["peak_bytes"][0] - m0s) / (max(r2["peak_bytes"]) - m0s)) for r1, r2 in pairs])
            )
        entry["parallel_from"] = (
            f"beta: {len(quiet)} size(s) on 1 and 2 ranks at load < {args.quiet_load:g}; "
            f"gamma: {len(pairs)} size(s) on 1 and 2 ranks"
        )
        (out if strat == "relax" else out["solve"])[strat] = entry
        report.append(
            f"{strat}: cpu c0={c0:.3g} s a={a:.3g} s p={p:.3f} (max log err {e_cpu:.2f}); "
            f"mem b={b / 2**20:.0f} MiB q={q:.3f} (max log err {e_mem:.2f}); "
            f"beta={entry.get('beta')}, gamma={entry.get('gamma')}, N {min(n)}..{max(n)}"
        )
    ref = out["solve"].get("davidson", {})
    for _name, entry in list(out["solve"].items()) + ([("relax", out["relax"])] if "relax" in out else []):
        if "beta" not in entry:
            entry["beta"] = ref.get("beta", 0.0)
            entry["parallel_from"] += "; beta borrowed from davidson"
        if "gamma" not in entry:
            entry["gamma"] = ref.get("gamma", 1.0)
            entry["parallel_from"] += "; gamma borrowed from davidson"
    # strategies without runs here keep their entry of the current file (it names its source)
    for name, entry in cost.load_model()["solve"].items():
        if name not in out["solve"] and "source" in entry:
            out["solve"][name] = entry
            report.append(f"{name}: kept from the current file ({entry['source']})")
    print("\n".join(report))
    print(f"m0 = {m0 / 2**20:.0f} MiB; Coulomb k_direct = {k_direct:.3g} s/N^2, k_fft = {k_fft:.3g} s/(N log2 N)")
    return out


def compare(paths, model=None):
    """Markdown table: measured vs predicted CPU and peak per task, with ratios."""
    rows = _read(paths)
    print(
        "| task | atoms | states | strategy | ranks | CPU s measured | predicted | pred/meas | "
        "peak MiB measured | predicted | pred/meas |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    worst = 1.0
    for r in rows:
        if r["strategy"] == "relax":
            pred = cost.predict_relax(r["n_atoms"], r["ranks"])
            cpu_p, peak_p = pred.cpu_s, pred.peak_bytes
        else:
            d = cost.predict_task_detail(r["n_atoms"], r["n_states"], r["strategy"], r["ranks"], model=model)
            cpu_p, peak_p = d.cpu_s, d.peak_bytes
        peak = max(r["peak_bytes"])
        rc, rm = cpu_p / r["cpu_s"], peak_p / peak
        worst = max(worst, rc, 1 / rc, rm, 1 / rm)
        label = f"{r.get('core_a')}+{r.get('shell_a')}a x_Cu={r.get('x_cu')} x_In={r.get('x_in')} {r.get('model')}"
        print(
            f"| {label} | {r['n_atoms']} | {r['n_states']} | {r['strategy']} | {r['ranks']} | {r['cpu_s']:.2f} | "
            f"{cpu_p:.2f} | {rc:.2f} | {peak / 2**20:.0f} | {peak_p / 2**20:.0f} | {rm:.2f} |"
        )
    print(f"\nworst factor (max of ratio and 1/ratio): {worst:.2f}")
    return worst


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", nargs="*", default=[])
    ap.add_argument("--coulomb", nargs="*", default=[])
    ap.add_argument("--machine", default="")
    ap.add_argument(
        "--source", default="benchmarks/bench_cost.py and bench_coulomb_fft.py runs, fitted by benchmarks/fit_cost.py"
    )
    ap.add_argument("--quiet-load", type=float, default=2.0, help="2-rank runs below this load average fit beta")
    ap.add_argument("--write", action="store_true", help="write hpc_nc/data/cost_model.yaml")
    ap.add_argument("--compare", nargs="*", help="JSON-line runs to compare with the (written) model")
    args = ap.parse_args()
    if args.runs:
        model = fit(args)
        if args.write:
            header = (
                "# Cost-model coefficients (hpc_nc/pipeline/cost.py). Written by benchmarks/fit_cost.py from\n"
                '# measured runs (benchmarks/RESULTS.md, "Cost model"); re-run the fit rather than editing.\n'
            )
            with open(cost.DATA_FILE, "w") as f:
                f.write(header + yaml.safe_dump(model, sort_keys=False, default_flow_style=None, width=200))
            cost.load_model.cache_clear()
            print(f"wrote {cost.DATA_FILE}")
    if args.compare:
        compare(args.compare)


if __name__ == "__main__":
    main()
