"""Typed settings (hpc_nc/settings.py) and bounded job input (issue 12, section 1).

Every case of bad input must end in one JobFileError line that names the file and the key,
quickly and without large allocations; the memory-bounded cases run under tracemalloc.
"""

import re
import textwrap
import time
import tracemalloc
from dataclasses import MISSING, fields

import numpy as np
import pytest

from hpc_nc import settings as st
from hpc_nc.errors import JobFileError
from hpc_nc.io import jobs
from hpc_nc.io.jobs import load_job, parse_job, parse_set_options
from hpc_nc.physics.geometry import count_atoms_by_columns, count_atoms_in_sphere

BASE = "name: b\nsweep: {x_in: [1], core_radius_a: [1], model: [VCA]}\n"


def _default(f):
    return f.default if f.default is not MISSING else f.default_factory()


def _error(text: str, source: str = "bad.yaml") -> str:
    with pytest.raises(JobFileError) as err:
        parse_job(text, source=source)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(source), msg
    assert len(msg) < 400, msg
    return msg


# -- one home for every default --------------------------------------------------------------

def test_kernel_defaults_are_the_job_defaults():
    from hpc_nc.physics.coulomb import ZNS_EPSILON_INF
    from hpc_nc.physics.exciton import AnalysisSettings
    from hpc_nc.solvers.eigensolver import EigenSettings
    from hpc_nc.solvers.relax import RelaxSettings

    a, e, r = AnalysisSettings(), EigenSettings(), RelaxSettings()
    for name in ("epsilon", "onsite_ev", "temperature_k", "broadening_ev", "n_radial_bins"):
        assert getattr(a, name) == getattr(st.DEFAULT_ANALYSIS, name), name
    for name in ("strategy", "tol", "max_it", "ncv"):
        assert getattr(e, name) == getattr(st.DEFAULT_SOLVER, name), name
    for name in ("tao_type", "force_tol", "max_it"):
        assert getattr(r, name) == getattr(st.DEFAULT_RELAX, name), name
    assert st.DEFAULT_ANALYSIS.epsilon == ZNS_EPSILON_INF  # the material constant


def test_hamiltonian_signatures_take_their_defaults_from_settings():
    import inspect

    from hpc_nc.solvers import hamiltonian

    seen = 0
    for fn in (hamiltonian.assemble_hamiltonian, hamiltonian.hamiltonian_csr, hamiltonian.reference_hamiltonian,
               hamiltonian.hamiltonian_rows):
        params = inspect.signature(fn).parameters
        for name in ("passivation_ev", "harrison_eta"):
            if name in params and params[name].default is not inspect.Parameter.empty:
                assert params[name].default == getattr(st.DEFAULT_HAMILTONIAN, name)
                seen += 1
    assert seen >= 6
    # no number literal default left for these two parameters anywhere in the package
    import pathlib

    for path in pathlib.Path("hpc_nc").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"(passivation_ev|harrison_eta)\s*:\s*float\s*=\s*[0-9]", text), path


def test_job_docstring_matches_the_dataclasses():
    """The schema text in hpc_nc/io/jobs.py lists every field with its default."""
    lines = jobs.__doc__.splitlines()
    for section, cls in st.SECTIONS.items():
        i = next(i for i, ln in enumerate(lines) if ln.startswith(f"    {section}:"))
        block = lines[i]
        for ln in lines[i + 1:]:  # continuation lines are indented deeper
            if not ln.startswith("     "):
                break
            block += ln
        for f in fields(cls):
            want = f"{f.name}: {_default(f)!r}" if not isinstance(_default(f), dict) else f"{f.name}: {{}}"
            assert want in block, (section, want)
    for cls in st.SECTIONS.values():
        assert st.describe(cls)  # docs can also be generated


def test_sections_are_frozen_and_typed():
    job = parse_job(BASE)
    for name, cls in st.SECTIONS.items():
        section = getattr(job, name)
        assert isinstance(section, cls)
        with pytest.raises(Exception):
            setattr(section, fields(cls)[0].name, None)
    assert job.n_electrons == 4 and job.n_holes == 8 and job.ranks_per_task == 1


def test_deprecated_aliases_warn_once_and_work():
    job = parse_job(BASE + "coulomb: {n_radial_bins: 50}\nphysics: {harrison_eta: 3}\n"
                           "solver: {eps_options: {eps_view: null}}\n", source="old.yaml")
    assert job.analysis.n_radial_bins == 50 and job.hamiltonian.harrison_eta == 3
    assert job.solver.petsc_options == {"eps_view": None}
    assert len(job.warnings) == 3 and all("\n" not in w and "deprecated" in w for w in job.warnings)
    assert not parse_job(BASE + "analysis: {n_radial_bins: 50}\n").warnings
    assert "give only one" in _error(BASE + "coulomb: {}\nanalysis: {}\n")
    assert "give only one" in _error(BASE + "solver: {eps_options: {}, petsc_options: {}}\n")


def test_screening_is_validated():
    assert parse_job(BASE).analysis.screening == "thomas-fermi-resta"
    assert parse_job(BASE + "analysis: {screening: none}\n").analysis.screening == "none"
    assert "analysis.screening" in _error(BASE + "analysis: {screening: magic}\n")


def test_cli_prints_a_one_line_deprecation_warning(tmp_path):
    import subprocess
    import sys

    job = tmp_path / "old.yaml"
    job.write_text(BASE + "coulomb: {n_radial_bins: 50}\n")
    out = subprocess.run([sys.executable, "-m", "hpc_nc", "validate", str(job)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("hpc-nc: warning:") and "coulomb" in lines[0]


# -- closed-form atom counts -------------------------------------------------------------------

def test_column_count_equals_brute_force():
    radii = list(np.arange(0.0, 4.01, 0.05)) + [0.4330127, 0.4330128, 1 / 3, 5.5, 7.0, 8.25]
    for r in radii:
        assert count_atoms_by_columns(r) == count_atoms_in_sphere(r), r


def test_atom_count_of_largest_dot_is_cheap():
    tracemalloc.start()
    t0 = time.perf_counter()
    n = count_atoms_by_columns(st.MAX_DOT_RADIUS_A)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # about 8 atoms per a^3: 4/3 pi 30^3 * 8 = 904,779
    assert n == pytest.approx(4 / 3 * np.pi * 30**3 * 8, rel=1e-3)
    assert time.perf_counter() - t0 < 2.0 and peak < 50e6


# -- bounds on size-like keys -----------------------------------------------------------------

BOUNDS = {
    "states.electrons": ("states: {electrons: 1000000000}", "<= 256"),
    "states.holes": ("states: {holes: 1000}", "<= 256"),
    "n_radial_bins": ("analysis: {n_radial_bins: 1000000000000}", "<= 10000"),
    "n_radial_bins float": ("analysis: {n_radial_bins: 1e12}", "must be an integer"),
    "ranks_per_task": ("parallel: {ranks_per_task: 100000}", "<= 1024"),
    "solver.max_it": ("solver: {max_it: 1000000000}", "<= 100000"),
    "relax.max_it": ("relax: {max_it: 1000000000}", "<= 1e+06"),
    "ncv": ("solver: {ncv: 100000}", "<= 4096"),
    "tol zero": ("solver: {tol: 0}", ">= 1e-14"),
    "tol loose": ("solver: {tol: 0.1}", "<= 0.001"),
    "epsilon": ("analysis: {epsilon: 1e9}", "<= 100"),
    "epsilon below vacuum": ("analysis: {epsilon: 0.5}", ">= 1"),
    "broadening": ("analysis: {broadening_ev: 0}", "> 0"),
    "temperature": ("analysis: {temperature_k: 1e300}", "<= 5000"),
    "passivation": ("hamiltonian: {passivation_ev: .inf}", "finite"),
}


@pytest.mark.parametrize("case", sorted(BOUNDS))
def test_size_like_keys_are_bounded(case):
    extra, needle = BOUNDS[case]
    msg = _error(BASE + extra + "\n")
    assert needle in msg, msg


@pytest.mark.parametrize("sweep,needle", [
    ("{x_in: [1], core_radius_a: [10000], model: [VCA]}", "<= 30"),
    ("{x_in: [1], core_radius_a: [1e30], model: [VCA]}", "<= 30"),
    ("{x_in: [1], core_radius_a: [1e400], model: [VCA]}", "finite"),
    ("{x_in: [1], geometries: [[20, 20]], model: [VCA]}", "exceeds"),
    ("{x_in: [1], core_radius_a: [1], shell_thickness_a: [1e6], model: [VCA]}", "<= 30"),
    ("{x_in: [1], core_radius_a: [1], vbo_ins: [1e30], model: [VCA]}", "<= 10"),
    ("{x_in: [0.5], core_radius_a: [1], realizations: 1000000000}", "<= 65536"),
    ("{x_in: [0.5], core_radius_a: [1], seed: 1099511627776}", "2^40"),
])
def test_radii_realisations_and_offsets_are_bounded_quickly(sweep, needle):
    tracemalloc.start()
    t0 = time.perf_counter()
    msg = _error(f"name: b\nsweep: {sweep}\n")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert needle in msg and time.perf_counter() - t0 < 2.0 and peak < 20e6, (msg, peak)


def test_task_count_is_closed_form():
    """65,536 realisations x 16 x 16 compositions is counted, not expanded."""
    text = ("name: b\nsweep: {x_cu: [0.1, 0.2, 0.3, 0.4], x_in: [0.1, 0.2, 0.3, 0.4, 0.5], "
            "core_radius_a: [1, 2], realizations: 65536}\n")
    tracemalloc.start()
    t0 = time.perf_counter()
    msg = _error(text)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert f"{4 * 5 * 2 * 65536:,} tasks" in msg and "200,000" in msg
    assert time.perf_counter() - t0 < 2.0 and peak < 20e6


def test_task_that_cannot_fit_in_memory_is_refused(monkeypatch):
    from hpc_nc.pipeline import sweep

    job = parse_job("name: big\nsweep: {x_in: [1], core_radius_a: [25], model: [VCA]}\n"
                    "solver: {strategy: shift-invert}\n", source="big.yaml")
    monkeypatch.setattr(sweep, "physical_memory_bytes", lambda: 64 * 2**30)
    with pytest.raises(JobFileError) as err:
        sweep.check_resources(job, "/tmp/r.h5", "/tmp/s.h5")
    msg = str(err.value)
    assert "task 0" in msg and "R25_H0" in msg and "GiB" in msg and "\n" not in msg


def test_results_file_size_is_checked_against_free_disk(monkeypatch, tmp_path):
    from hpc_nc.pipeline import sweep

    job = parse_job("name: d\nsweep: {x_in: [1], core_radius_a: [3, 3.5], model: [VCA]}\n"
                    "states: {electrons: 256, holes: 256}\nanalysis: {n_radial_bins: 10000}\n", source="d.yaml")
    results_bytes, _ = sweep.output_size_estimates(job)
    # two rows of 512 radial densities of 10,000 bins: at least 2 * 512 * 10,000 * 8 bytes
    assert results_bytes > 2 * 512 * 10_000 * 8
    sweep.check_resources(job, str(tmp_path / "r.h5"), str(tmp_path / "s.h5"))  # fits here
    monkeypatch.setattr(sweep, "_free_bytes", lambda path: results_bytes // 2)
    with pytest.raises(JobFileError, match="GiB are free"):
        sweep.check_resources(job, str(tmp_path / "r.h5"), str(tmp_path / "s.h5"))


# -- YAML hardening ---------------------------------------------------------------------------

def test_alias_bomb_is_refused_fast():
    bomb = "name: b\na: &a [x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 10):
        bomb += f"{chr(97 + i)}: &{chr(97 + i)} [*{chr(96 + i)}, *{chr(96 + i)}, *{chr(96 + i)}, *{chr(96 + i)}]\n"
    bomb += "sweep: {x_in: [1], core_radius_a: [1], model: *j}\n"
    tracemalloc.start()
    msg = _error(bomb)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "alias" in msg and peak < 20e6
    assert "alias" in _error("name: &n x\nsweep: {x_in: [1], core_radius_a: [1]}\ndescription: *n\n")


def test_deep_nesting_huge_integers_and_size_are_one_line_errors():
    assert "nesting" in _error("name: b\nsweep: " + "[" * 1000 + "]" * 1000 + "\n")
    assert "nesting" in _error("name: b\nsweep: " + "{a: " * 200 + "1" + "}" * 200 + "\n")
    assert "too large" in _error(BASE + "states: {electrons: " + "9" * 400 + "}\n")
    assert "too large" in _error(BASE + "states: {electrons: " + "9" * 5000 + "}\n")
    assert "larger than" in _error(BASE + "description: " + "x" * (2 << 20) + "\n")


def test_unacceptable_characters_give_one_line():
    msg = _error(BASE + "description: a\x07b\n")
    assert "unacceptable character" in msg


@pytest.mark.parametrize("content,needle", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8"),
    ("name: b\n".encode("utf-16"), "not UTF-8"),
    ("name: caf\u00e9\n".encode("latin-1"), "not UTF-8"),
    (b"", "mapping"),
])
def test_non_utf8_files_give_one_line(tmp_path, content, needle):
    path = tmp_path / "job.yaml"
    path.write_bytes(content)
    with pytest.raises(JobFileError) as err:
        load_job(str(path))
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_directory_and_unencodable_paths(tmp_path):
    with pytest.raises(JobFileError, match="directory"):
        load_job(str(tmp_path))
    with pytest.raises(JobFileError, match="cannot be encoded"):
        load_job(str(tmp_path / "a\ud800b.yaml"))
    msg = _error(BASE + 'output: {results: "r\\ud800.h5"}\n')
    assert "output.results" in msg and "encoded" in msg


def test_echoed_values_are_cut():
    msg = _error("name: " + "x" * 5000 + "\nsweep: {x_in: [1], core_radius_a: [1]}\n")
    assert len(msg) < 250 and "..." in msg
    msg = _error(BASE.replace("model: [VCA]", "model: [" + "Q" * 10000 + "]"))
    assert len(msg) < 250
    msg = _error(BASE + "y" * 3000 + ": 1\n")
    assert len(msg) < 400


# -- meaning never changes silently -----------------------------------------------------------

def test_duplicate_keys_are_refused():
    msg = _error("name: b\nsweep:\n  x_in: [0.5]\n  core_radius_a: [1]\n  realizations: 2\n  realizations: 50\n")
    assert "duplicate key 'realizations'" in msg and "line 6" in msg and "line 5" in msg
    assert "duplicate key" in _error(BASE + "name: c\n")


def test_near_equal_and_repeated_values_are_refused():
    msg = _error("name: b\nsweep: {x_in: [1], core_radius_a: [1.0, 1.0000001, 1.0000002, 1.0000003]}\n")
    assert "sweep.core_radius_a[1]" in msg and "6 significant digits" in msg
    assert "repeats" in _error("name: b\nsweep: {x_in: [1], core_radius_a: [1, 1]}\n")
    assert "repeats" in _error("name: b\nsweep: {compositions: [[0, 1], [0, 1]], core_radius_a: [1]}\n")
    assert "repeats model" in _error("name: b\nsweep: {x_in: [1], core_radius_a: [1], model: [STR, STR]}\n")
    # a point that differs from a grid task only below %g precision
    msg = _error("name: b\nsweep:\n  x_in: [1]\n  core_radius_a: [1]\n  model: [VCA]\n"
                 "  points: [{x_cu: 0, x_in: 1, core_radius_a: 1.0000001, model: VCA}]\n")
    assert "sweep.points[0]" in msg and "6 significant digits" in msg
    # ... while an exact repeat of a grid point is still one task
    job = parse_job("name: b\nsweep:\n  x_in: [1]\n  core_radius_a: [1]\n  model: [VCA]\n"
                    "  points: [{x_cu: 0, x_in: 1, core_radius_a: 1, model: VCA}]\n")
    assert len(job.tasks) == 1


def test_structure_keys_cannot_alias_different_dots():
    msg = _error("name: b\nsweep:\n  x_in: [1]\n  core_radius_a: [1]\n  vbo_ins: [1.1]\n"
                 "  points: [{x_cu: 0, x_in: 1, core_radius_a: 1.0000001, vbo_ins: 1.6}]\n")
    assert "structure" in msg and "6 significant digits" in msg


def test_yaml_1_1_exponent_floats_are_numbers():
    job = parse_job(BASE + "solver: {tol: 1e-6}\nrelax: {force_tol: 5E-5}\n")
    assert job.solver.tol == 1e-6 and job.relax.force_tol == 5e-5
    assert parse_set_options(["solver.tol=1e-7"]) == {"solver.tol": 1e-7}
    assert parse_job(BASE, overrides=parse_set_options(["solver.tol=1e-7"])).solver.tol == 1e-7


def test_results_and_structures_must_differ():
    msg = _error(BASE + "output: {results: r.h5, structures: ./r.h5}\n")
    assert "output.structures" in msg and "same file" in msg


@pytest.mark.parametrize("radius", [0.1, 0.3, 0.43])
def test_too_small_dots_are_refused(radius):
    msg = _error(f"name: b\nsweep: {{x_in: [1], core_radius_a: [{radius}], model: [VCA]}}\n")
    assert "too small" in msg and "atom" in msg


def test_too_few_states_for_the_dot_is_refused():
    msg = _error("name: b\nsweep: {x_in: [1], core_radius_a: [0.45], model: [VCA]}\n"
                 "states: {electrons: 32, holes: 32}\n")
    assert "too few for 64 gap states" in msg
    assert parse_job("name: b\nsweep: {x_in: [1], core_radius_a: [0.45], model: [VCA]}\n").tasks[0].n_atoms == 5


@pytest.mark.parametrize("value", ["[]", "0", "false", '""', "[1]", "x"])
def test_sections_that_are_not_mappings_are_refused(value):
    for section in ("states", "solver", "analysis", "output", "parallel"):
        msg = _error(BASE + f"{section}: {value}\n")
        assert section in msg and "mapping" in msg


def test_empty_section_means_defaults():
    assert parse_job(BASE + "states:\nsolver: {}\n").n_electrons == 4


def test_point_with_a_model_list_expands():
    job = parse_job("name: b\nsweep:\n  points: [{x_cu: 0, x_in: 0.5, core_radius_a: 1, model: [VCA, STR],"
                    " realizations: 2}]\n")
    assert [t.model for t in job.tasks] == ["VCA", "STR", "STR"]


def test_run_refuses_non_positive_rank_counts():
    from hpc_nc.cli import main

    for n in ("0", "-1"):
        with pytest.raises(SystemExit) as exc:  # argparse or our check: exit 2 either way
            rc = main(["run", "jobs/demo.yaml", "-n", n])
            raise SystemExit(rc)
        assert exc.value.code == 2
