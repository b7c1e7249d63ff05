"""Job files: expansion into tasks and validation of malformed input."""

import textwrap

import pytest

from hpc_nc.errors import JobFileError
from hpc_nc.io.jobs import estimate_task_memory_bytes, load_job, parse_job, parse_set_options, summarize
from hpc_nc.physics.geometry import count_atoms_in_sphere

GOOD = textwrap.dedent("""
    name: t
    sweep:
      x_cu: [0.0, 0.25]
      x_in: [0.25, 0.5]
      core_radius_a: [1.0, 1.5]
      shell_thickness_a: [0, 1]
      vbo_ins: [1.1, 1.6]
      model: [STR, VCA]
      realizations: 3
      seed: 5
""")


def test_cartesian_expansion_and_realisations():
    job = parse_job(GOOD)
    # 4 compositions x 4 geometries x 2 VBOs x (3 STR realisations + 1 VCA)
    assert len(job.tasks) == 4 * 4 * 2 * (3 + 1)
    assert [t.index for t in job.tasks] == list(range(len(job.tasks)))
    assert len({t.key for t in job.tasks}) == len(job.tasks)
    for t in job.tasks:
        assert t.n_atoms == count_atoms_in_sphere(t.core_radius_a + t.shell_thickness_a)
    # VBO variants share the relaxed structure; realisations do not
    str_tasks = [t for t in job.tasks if t.model == "STR"]
    assert len({t.structure_key for t in str_tasks}) == 4 * 4 * 3
    assert len({t.seed for t in str_tasks}) == 3


def test_explicit_pairs_and_points():
    job = parse_job(
        textwrap.dedent("""
        name: p
        sweep:
          compositions: [[0.0, 1.0], [1.0, 0.0]]
          geometries: [[1.0, 2.0], [2.0, 1.0]]
          model: NSTR
          realizations: 4
          points:
            - {x_cu: 0.1, x_in: 0.4, core_radius_a: 1.5, shell_thickness_a: 0.5, model: VCA}
            - {x_cu: 0.0, x_in: 1.0, core_radius_a: 1.0, shell_thickness_a: 2.0, model: NSTR}
    """)
    )
    # pure compounds have one realisation; the second point repeats a grid point
    assert len(job.tasks) == 2 * 2 + 1
    assert job.tasks[-1].model == "VCA" and job.tasks[-1].x_in == 0.4


def test_defaults_and_overrides():
    job = parse_job(
        GOOD, overrides=parse_set_options(["sweep.model=[NSTR]", "states.electrons=2", "solver.strategy=harmonic"])
    )
    assert {t.model for t in job.tasks} == {"NSTR"}
    assert job.n_electrons == 2 and job.n_holes == 8
    assert job.solver.strategy == "harmonic"
    assert job.results_path == "results/t.h5"


def test_summary_and_memory_estimate():
    s = summarize(parse_job(GOOD))
    assert s["n_tasks"] == len(s["tasks"]) and all("n_atoms" in t for t in s["tasks"])
    assert s["n_atoms_max"] == count_atoms_in_sphere(2.5)
    # the cost model's fits (hpc_nc/pipeline/cost.py) against whole-process peaks measured at
    # 7a (benchmarks/RESULTS.md: shift-invert 5,223 MiB, davidson 1,475 MiB on 1 rank), 1.5x
    mib = 2**20
    assert 5223 * mib / 1.5 < estimate_task_memory_bytes(11543, 16, "shift-invert") < 5223 * mib * 1.5
    assert 1475 * mib / 1.5 < estimate_task_memory_bytes(11543, 16, "davidson") < 1475 * mib * 1.5
    # and grows with the dot
    assert estimate_task_memory_bytes(4235, 16, "davidson") < estimate_task_memory_bytes(11543, 16, "davidson")
    # chebyshev: H plus a few blocks, below davidson at the same size (provisional fit)
    assert estimate_task_memory_bytes(11543, 16, "chebyshev") < estimate_task_memory_bytes(11543, 16, "davidson")
    assert parse_job(GOOD).solver.strategy == "auto"  # the default: resolved per task


def test_choices_have_one_home():
    """Strategies and models are the solvers' own tuples, looked up, never copied."""
    from dataclasses import fields

    from hpc_nc import settings
    from hpc_nc.io import jobs
    from hpc_nc.solvers import eigensolver, hamiltonian

    strategy = {f.name: f for f in fields(settings.SolverSection)}["strategy"]
    assert settings.resolve_choices(strategy.metadata["bound"].choices) is eigensolver.STRATEGIES
    assert jobs.MODELS is hamiltonian.MODELS


def test_job_coulomb_methods_are_the_kernels():
    from dataclasses import fields

    from hpc_nc import settings
    from hpc_nc.physics import coulomb_fft

    method = {f.name: f for f in fields(settings.AnalysisSection)}["method"]
    assert settings.resolve_choices(method.metadata["bound"].choices) is coulomb_fft.COULOMB_METHODS
    assert parse_job(GOOD).analysis.method == "auto"  # the default


BAD = {
    "unknown coulomb method": (
        "name: x\nsweep: {x_in: [1], core_radius_a: [1]}\nanalysis: {method: fast}\n",
        "analysis.method",
    ),
    "unknown top key": ("name: x\nsweeps: {}\n", "sweeps"),
    "unknown sweep key": ("name: x\nsweep: {x_cu: [0], x_in: [1], core_radius: [1]}\n", "sweep.core_radius"),
    "impossible composition": ("name: x\nsweep: {x_cu: [0.6], x_in: [0.5], core_radius_a: [1]}\n", "exceeds 1"),
    "negative radius": ("name: x\nsweep: {x_in: [1], core_radius_a: [1, -2]}\n", "sweep.core_radius_a[1]"),
    "non-numeric radius": ("name: x\nsweep: {x_in: [1], core_radius_a: [big]}\n", "sweep.core_radius_a[0]"),
    "empty list": ("name: x\nsweep: {x_in: [], core_radius_a: [1]}\n", "sweep.x_in"),
    "unknown model": ("name: x\nsweep: {x_in: [1], core_radius_a: [1], model: [FOO]}\n", "unknown model"),
    "odd states": ("name: x\nsweep: {x_in: [1], core_radius_a: [1]}\nstates: {electrons: 3}\n", "even"),
    "missing name": ("sweep: {x_in: [1], core_radius_a: [1]}\n", "name"),
    "not yaml": ("name: [x\n", "not valid YAML"),
    "not a mapping": ("- a\n- b\n", "mapping"),
    "no tasks": ("name: x\nsweep: {realizations: 2}\n", "no task"),
    "bad solver": ("name: x\nsweep: {x_in: [1], core_radius_a: [1]}\nsolver: {strategy: magic}\n", "solver.strategy"),
    "negative shell": (
        "name: x\nsweep: {x_in: [1], core_radius_a: [1], shell_thickness_a: [-1]}\n",
        "shell_thickness_a[0]",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_files_give_one_line_errors(case):
    text, needle = BAD[case]
    with pytest.raises(JobFileError) as err:
        parse_job(text, source="bad.yaml")
    msg = str(err.value)
    assert needle in msg and "\n" not in msg and msg.startswith("bad.yaml")


def test_missing_file():
    with pytest.raises(JobFileError, match="not found"):
        load_job("/nonexistent/job.yaml")


def test_shipped_job_files_are_valid():
    import glob

    files = sorted(glob.glob("jobs/*.yaml"))
    assert "jobs/demo.yaml" in files
    for f in files:
        assert load_job(f).tasks
