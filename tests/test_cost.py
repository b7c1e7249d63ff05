"""Cost model (hpc_nc/pipeline/cost.py): the formula, the data file, and its use by jobs."""

import math

import pytest

from hpc_nc.errors import HpcNcError
from hpc_nc.pipeline import cost


def test_data_file_names_machine_and_every_strategy():
    from hpc_nc.solvers.eigensolver import STRATEGIES

    m = cost.load_model()
    assert m["machine"] and m["source"]
    assert set(STRATEGIES) - {"auto"} <= set(m["solve"])


def test_auto_picks_the_fastest_that_fits():
    n = 113023  # 15a
    fast = cost.resolve_strategy("auto", n, 16)
    assert fast in cost.AUTO_CANDIDATES
    others = [s for s in cost.AUTO_CANDIDATES if s in cost.strategies() and s != fast]
    assert all(cost.predict_task(n, 16, fast).cpu_s <= cost.predict_task(n, 16, s).cpu_s for s in others)
    if others:  # too little memory for the fastest: the next that fits, else the smallest
        limit = cost.predict_task(n, 16, fast).peak_bytes - 1
        pick = cost.resolve_strategy("auto", n, 16, 1, limit)
        assert pick != fast or all(cost.predict_task(n, 16, s).peak_bytes > limit for s in others)
    assert cost.resolve_strategy("davidson", n, 16, 1, 1) == "davidson"  # explicit choices stand


def test_formula_against_hand_evaluation():
    model = {
        "m0_bytes": 100.0,
        "coulomb": {"k_direct_s": 1e-9, "c0_fft_s": 0.0, "k_fft_s": 1e-7},
        "solve": {
            "s": {
                "c0_s": 2.0,
                "a_s": 10.0,
                "p": 2.0,
                "beta": 0.5,
                "b_bytes": 1000.0,
                "q": 1.0,
                "gamma": 1.0,
                "fitted_atoms": [1000, 30000],
            }
        },
    }
    d = cost.predict_task_detail(20000, 16, "s", ranks=4, model=model)
    cpu1 = 2.0 + 10.0 * 2.0**2
    assert d.cpu_s == pytest.approx(cpu1 * 4**0.5 + 1e-9 * 20000.0**2)
    assert d.wall_s == pytest.approx(d.cpu_s / 4)
    assert d.peak_bytes == int(100 + 2000 / 4) and d.peak_bytes_total == 4 * d.peak_bytes
    assert not d.extrapolated
    assert cost.predict_task_detail(50000, 16, "s", model=model).extrapolated
    fft = cost.predict_task_detail(20000, 16, "s", coulomb_method="fft", model=model)
    assert fft.cpu_s == pytest.approx(cpu1 + 1e-7 * 20000 * math.log2(20000))


def test_predict_task_grows_and_splits():
    small, big = cost.predict_task(2149, 16, "davidson"), cost.predict_task(11543, 16, "davidson")
    assert big.cpu_s > small.cpu_s > 0 and big.peak_bytes > small.peak_bytes > 0
    cpu_s, peak = cost.predict_task(11543, 16, "davidson", ranks=2)  # unpacks as a pair
    assert peak < big.peak_bytes


def test_unknown_strategy_is_an_error():
    with pytest.raises(HpcNcError, match="no cost fit"):
        cost.predict_task(1000, 16, "magic")


def _cli(*args, ranks=0):
    import subprocess
    import sys

    from _mpi_env import fresh_mpi_env

    cmd = [sys.executable, "-m", "hpc_nc", *args]
    if ranks:
        cmd = ["mpirun", "-n", str(ranks), *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, env=fresh_mpi_env(), timeout=120)


def test_validate_predicts_each_task_and_the_total():
    import json

    out = _cli("validate", "jobs/demo.yaml", "--json", "--ranks", "4")
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert s["cost"]["ranks"] == 4 and s["cost"]["groups"] == 4
    for t in s["tasks"]:
        cpu, peak = cost.predict_task(t["n_atoms"], 12, "davidson", 1)
        assert t["cpu_s_estimate"] == pytest.approx(cpu) and t["memory_estimate_bytes"] == peak
    # the farm cannot finish before its longest task nor beat perfect sharing
    walls = [t["wall_s_estimate"] for t in s["tasks"]]
    assert max(walls) <= s["cost"]["solve_wall_s"] <= sum(walls)
    one = json.loads(_cli("validate", "jobs/demo.yaml", "--json", "--ranks", "1").stdout)
    assert one["cost"]["solve_wall_s"] == pytest.approx(sum(walls))


@pytest.mark.parametrize("ranks", [0, 2])
def test_validate_refuses_a_task_that_cannot_fit(ranks):
    out = _cli("validate", "jobs/demo.yaml", "--mem-per-rank", "0.05", ranks=ranks)
    assert out.returncode == 2
    ours = [line for line in out.stderr.splitlines() if line.startswith("hpc-nc: error:")]
    assert len(ours) == 1 and "GiB per rank" in ours[0] and ("task " in ours[0] or "structure " in ours[0])
    assert "Traceback" not in out.stderr


def test_farm_makespan():
    # largest first to the first free group: 5 | 4, then 3 -> 4+3, 3 -> 5+3, 3 -> 7+3 = 10
    assert cost.farm_makespan_s([5, 4, 3, 3, 3], 2) == pytest.approx(10.0)
    assert cost.farm_makespan_s([2.0] * 6, 3) == pytest.approx(4.0)
