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


def test_auto_predicts_the_strategy_the_run_picks():
    """validate's predictions use the strategy the electronic stage will run: the solvers'
    own choice (hpc_nc.solvers.cost.choose_strategy) for the same memory per rank."""
    from hpc_nc.solvers import cost as solver_cost

    for n in (281, 2149, 11543, 113023):
        for budget in (1e12, 2e9, 2e8):
            pick = cost.resolve_strategy("auto", n, 16, 1, budget)
            assert pick == solver_cost.choose_strategy(n, 16, 1, budget) and pick in cost.AUTO_CANDIDATES
    # a budget below davidson's factor at 15a leaves the factorisation-free strategy
    assert cost.resolve_strategy("auto", 113023, 16, 1, 1e9) == "chebyshev"
    assert cost.resolve_strategy("davidson", 113023, 16, 1, 1) == "davidson"  # explicit choices stand


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


def test_auto_and_validate_read_one_model():
    """The solvers' auto choice and the job-level predictions use the same coefficients
    (hpc_nc/data/cost_model.yaml): the job-level CPU time is the solve's plus the Coulomb
    integrals', the memory is the solve's."""
    from hpc_nc.solvers import cost as solver_cost

    assert cost.load_model is solver_cost.load_model
    for strategy in solver_cost.AUTO_CANDIDATES:
        for n, ranks in ((2149, 1), (11543, 2), (113023, 2)):
            solve = solver_cost.solve_cost(strategy, n, ranks)
            task = cost.predict_task_detail(n, 16, strategy, ranks)
            assert task.cpu_s == pytest.approx(solve.cpu_s + cost.coulomb_cpu_s(n))
            assert task.peak_bytes == int(solve.peak_bytes_per_rank)
            assert task.extrapolated == solve.extrapolated
    # the chebyshev entry is fitted to the measured 5a and 7a runs (benchmarks/RESULTS.md): within
    # 1.3x of 114.4 and 282.3 CPU s, and the 5a peak of 214 MiB
    for atoms, cpu in ((4235, 114.4), (11543, 282.3)):
        assert 1 / 1.3 < solver_cost.solve_cost("chebyshev", atoms, 1).cpu_s / cpu < 1.3
    c = solver_cost.solve_cost("chebyshev", 4235, 1)
    assert c.peak_bytes_per_rank / 2**20 == pytest.approx(214, rel=0.02)
