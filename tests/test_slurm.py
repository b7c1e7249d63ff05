"""Slurm templates and submission helper: syntax, dry run, shards, and the scripts' commands."""

import os
import shutil
import stat
import subprocess
import sys

import pytest

from hpc_nc.io.jobs import load_job
from hpc_nc.pipeline import slurm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "jobs", "demo.yaml")
SLURM_DIR = slurm.TEMPLATE_DIR
BASH = shutil.which("bash")


@pytest.mark.skipif(BASH is None, reason="bash not installed")
@pytest.mark.parametrize("script", slurm.SCRIPTS)
def test_sbatch_scripts_pass_bash_syntax_check(script):
    path = os.path.join(SLURM_DIR, script)
    proc = subprocess.run([BASH, "-n", path], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    assert text.startswith("#!/bin/bash\n") and "#SBATCH --time=" in text and "set -euo pipefail" in text


def test_shards_partition_the_task_list():
    tasks = load_job(DEMO).tasks
    assert len(tasks) == 16
    for n in range(1, len(tasks) + 2):
        shards = [slurm.shard_tasks(tasks, k, n) for k in range(n)]
        indices = sorted(t.index for s in shards for t in s)
        assert indices == [t.index for t in tasks]  # every task once: a partition
        sizes = [len(s) for s in shards]
        assert max(sizes) - min(sizes) <= 1
        for k, s in enumerate(shards):
            assert all(t.index % n == k for t in s)


def test_dry_run_names_the_job_file_and_the_shards(capsys, monkeypatch):
    monkeypatch.setattr(slurm, "partition_limits", lambda partition=None: None)
    assert slurm.main([DEMO, "--array", "4", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    shard_lines = [line for line in out if line.startswith("# shard")]
    assert shard_lines == [f"# shard {k}/4: 4 tasks -> results/demo.shard-{k}-of-4.h5" for k in range(4)]
    cmds = [line for line in out if not line.startswith("#")]
    assert len(cmds) == 2
    array, merge = cmds
    script = os.path.join(SLURM_DIR, "array.sbatch")
    logs = os.path.join(os.path.abspath("results"), "logs")
    assert array.startswith("ARRAY_ID=$(sbatch --comment=hpc-nc:")
    assert array.endswith(f"{script} {DEMO} 4 shard)")
    assert "RESULTS=results/demo.h5" in array and "STRUCTURES=results/demo_structures.h5" in array
    assert f"HPC_NC={sys.executable} -m hpc_nc" in array  # the submitting interpreter, no PATH lookup
    assert f"--output={logs}/%x-%A_%a.out" in array
    assert "--dependency=afterany:$ARRAY_ID" in merge
    assert merge.endswith(f"--ntasks=1 {script} {DEMO} 4 merge)")
    assert f"--output={logs}/%x-%j.out" in merge and "%a" not in merge  # no ..._4294967294.out


def _argv(steps, k=0):
    return list(steps[k].argv)


def test_resources_follow_the_job_not_a_fixed_16_tasks_and_4_hours():
    from hpc_nc.io.jobs import parse_job
    from hpc_nc.pipeline.cost import farm_makespan_s, predict_task_detail

    job = load_job(DEMO)
    res = slurm.estimate_resources(job, "both")
    assert res.ntasks == 16  # one rank per task of the demo (16 tasks, ranks_per_task 1)
    assert res.time_s == slurm.MIN_TIME_S  # small dots: the floor, not 4 h
    relax = slurm.estimate_resources(job, "relax")
    assert relax.ntasks == 8  # 8 distinct STR structures
    capped = slurm.estimate_resources(job, "solve", max_ntasks=4)
    assert capped.ntasks == 4 and capped.time_s >= res.time_s
    big = parse_job(job.job_text, overrides={"sweep.geometries": [[6.0, 2.0]], "parallel.ranks_per_task": 2})
    est = slurm.estimate_resources(big, "solve", max_ntasks=5)
    assert est.ntasks == 4  # whole groups of ranks_per_task
    # the time is the cost model's farm makespan on 2 groups, with the margin
    wall = [
        predict_task_detail(t.n_atoms, big.n_electrons + big.n_holes, big.solver.strategy, 2).wall_s for t in big.tasks
    ]
    expected = slurm.SAFETY * farm_makespan_s(wall, 2) + slurm.STARTUP_S
    assert abs(est.time_s - max(slurm.MIN_TIME_S, int(expected))) <= 0.05 * expected
    assert slurm.Resources(1, 3600).time_text == "01:00:00"
    assert slurm.Resources(1, 90000).time_text == "1-01:00:00"


def test_memory_request_follows_the_cost_model_and_yields_to_explicit_values():
    """--mem-per-cpu is the largest predicted peak per rank of the stage's work times
    MEM_SAFETY (rounded up to 256 MiB, at least MIN_MEM_MIB); --mem / --mem-per-cpu given by
    the user replace it."""
    from hpc_nc.io.jobs import parse_job
    from hpc_nc.pipeline.cost import predict_task_detail

    job = load_job(DEMO)
    assert "--mem-per-cpu=512M" in _argv(slurm.plan(DEMO))  # small dots: the floor
    big = parse_job(job.job_text, overrides={"sweep.geometries": [[6.0, 2.0]]})
    peak = max(predict_task_detail(t.n_atoms, 16, big.solver.strategy, 1).peak_bytes for t in big.tasks)
    mib = slurm.stage_memory_mib(big, "solve")
    assert mib % 256 == 0 and slurm.MEM_SAFETY * peak / 2**20 <= mib < slurm.MEM_SAFETY * peak / 2**20 + 256
    assert slurm.estimate_resources(big, "solve").mem_per_cpu_mib == mib
    for explicit in (["--mem=8G"], ["--mem-per-cpu=3000M"]):
        argv = _argv(slurm.plan(DEMO, sbatch_args=explicit))
        assert not any(a.startswith("--mem-per-cpu=512M") for a in argv) and explicit[0] in argv


def test_partition_limits_shrink_estimates_and_refuse_impossible_requests():
    limits = {"name": "small", "max_time_s": 1800, "total_cpus": 4, "max_cpus_per_job": 4, "state": "UP"}
    warnings = []
    steps = slurm.plan(DEMO, limits=limits, warn=warnings.append)
    argv = _argv(steps)
    assert "--ntasks=4" in argv and "--time=00:10:00" in argv
    assert any("16 ranks estimated, partition small has 4 CPUs" in w for w in warnings)
    with pytest.raises(slurm.SlurmError, match="exceeds the 4 CPUs of partition small.*PartitionConfig"):
        slurm.plan(DEMO, limits=limits, sbatch_args=["--ntasks=8"])
    with pytest.raises(slurm.SlurmError, match="PartitionTimeLimit"):
        slurm.plan(DEMO, limits=limits, sbatch_args=["-t", "2:00:00"])
    long_job = ["--set", "sweep.geometries=[[10.0, 3.0]]"]
    warnings.clear()
    argv = _argv(slurm.plan(DEMO, limits=limits, sets=long_job[1:], warn=warnings.append))
    assert "--time=00:30:00" in argv and any("resubmit" in w for w in warnings)
    # explicit values replace the estimate
    argv = _argv(slurm.plan(DEMO, sbatch_args=["--ntasks=2", "--time=5"]))
    assert not any(a.startswith("--ntasks=1") for a in argv) and "--time=5" in argv
    assert slurm._parse_slurm_time("1-02:03:04") == 93784 and slurm._parse_slurm_time("UNLIMITED") is None


def test_partition_account_set_results_and_per_stage_arguments(tmp_path):
    res = str(tmp_path / "r" / "x.h5")
    relax, solve = slurm.plan(
        DEMO,
        two_step=True,
        partition="short",
        account="proj1",
        sets=["states.holes=4"],
        results=res,
        relax_args=["--mem=1G"],
        solve_args=["--ntasks=3"],
        sbatch_args=["--qos=low"],
        make_log_dir=True,
    )
    r, s = list(relax.argv), list(solve.argv)
    for argv in (r, s):
        assert "--partition=short" in argv and "--account=proj1" in argv and "--qos=low" in argv
        assert argv[argv.index("--set") + 1] == "states.holes=4"
        assert f"--output={tmp_path}/r/logs/%x-%j.out" in argv
    assert "--mem=1G" in r and "--mem=1G" not in s
    assert "--ntasks=3" in s and "--ntasks=3" not in r and "--ntasks=8" in r  # relax: 8 structures
    assert s[-2:] == ["--results", res] and "--results" not in r
    assert (tmp_path / "r" / "logs").is_dir()
    array, merge = slurm.plan(DEMO, array=2, sbatch_args=["--mem=2G"], merge_args=["--mem=100M"])
    assert "--mem=2G" in array.argv and "--mem=2G" not in merge.argv and "--mem=100M" in merge.argv
    assert merge.argv[merge.argv.index("--ntasks=1") + 1].endswith("array.sbatch")  # nothing overrides it
    (tmp_path / "f").write_text("")
    with pytest.raises(slurm.HpcNcError, match="log folder"):
        slurm.plan(DEMO, results=str(tmp_path / "f" / "x.h5"), make_log_dir=True)


def test_single_and_two_step_commands():
    d = SLURM_DIR
    single = slurm.plan(DEMO)
    assert len(single) == 1 and single[0].argv[-2:] == (f"{d}/sweep.sbatch", DEMO)
    relax, solve = slurm.submit_commands(DEMO, two_step=True, sbatch_args=["--partition=short"])
    assert relax.startswith("RELAX_ID=$(sbatch --parsable --job-name=hpc-nc-demo-relax ")
    assert relax.endswith(f"--partition=short {d}/relax_solve.sbatch relax {DEMO})")
    assert solve.startswith(
        "SOLVE_ID=$(sbatch --parsable --dependency=afterany:$RELAX_ID --job-name=hpc-nc-demo-solve "
    )
    assert solve.endswith(f"--partition=short {d}/relax_solve.sbatch solve {DEMO})")


def test_templates_ship_with_the_package():
    import hpc_nc

    for script in slurm.SCRIPTS:
        assert os.path.isfile(os.path.join(os.path.dirname(hpc_nc.__file__), "pipeline", "templates", script))
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as fh:
        assert "pipeline/templates/*.sbatch" in fh.read()


def test_bad_requests_are_clear_errors(tmp_path):
    with pytest.raises(slurm.SlurmError, match="more shards than the 16 tasks"):
        slurm.submit_commands(DEMO, array=17, slurm_dir=SLURM_DIR)
    with pytest.raises(slurm.SlurmError, match="cannot be combined"):
        slurm.submit_commands(DEMO, array=2, two_step=True, slurm_dir=SLURM_DIR)
    with pytest.raises(slurm.SlurmError, match="templates"):
        slurm.submit_commands(DEMO, slurm_dir=str(tmp_path))
    with pytest.raises(slurm.SlurmError, match="partition 'nope' does not exist"):
        _fake_scontrol(tmp_path, "echo 'Invalid partition name specified' >&2; exit 1")
        slurm.partition_limits("nope")
    from hpc_nc.errors import JobFileError

    with pytest.raises(JobFileError):
        slurm.submit_commands(str(tmp_path / "missing.yaml"), slurm_dir=SLURM_DIR)


def _executable(path, text):
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def _fake_scontrol(tmp_path, body):
    bindir = tmp_path / "sbin"
    bindir.mkdir(exist_ok=True)
    _executable(bindir / "scontrol", f"#!{BASH}\n{body}\n")
    os.environ["PATH"] = f"{bindir}{os.pathsep}{os.environ['PATH']}"


@pytest.fixture(autouse=True)
def _restore_path():
    saved = os.environ.get("PATH", "")
    yield
    os.environ["PATH"] = saved


def test_partition_limits_parse_scontrol(tmp_path):
    _fake_scontrol(
        tmp_path,
        "echo 'PartitionName=debug Default=YES MaxNodes=UNLIMITED MaxTime=1-00:00:00 "
        "MaxCPUsPerNode=UNLIMITED State=UP TotalCPUs=2 TotalNodes=1'",
    )
    assert slurm.partition_limits() == {
        "name": "debug",
        "max_time_s": 86400,
        "total_cpus": 2,
        "max_cpus_per_job": 2,
        "state": "UP",
    }


def test_without_sbatch_main_fails_with_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert slurm.main([DEMO, "--slurm-dir", SLURM_DIR]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hpc-nc: error: sbatch not found") and err.count("\n") == 1


@pytest.mark.skipif(BASH is None, reason="bash not installed")
def test_submit_passes_the_array_job_id_to_the_merge_job(monkeypatch, tmp_path):
    log = tmp_path / "sbatch.log"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    _executable(
        bindir / "sbatch",
        f'#!{BASH}\necho "$*" >> {log}\n'
        'if [[ "$1" == --parsable ]]; then echo "$(( 4711 + $(wc -l < ' + str(log) + ') - 1 ));cluster"; '
        "else echo 'Submitted batch job 4712'; fi\n",
    )
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    ids = slurm.submit(slurm.plan(DEMO, array=3))
    assert ids == ["4711", "4712"]
    first, second = log.read_text().splitlines()
    assert "--array=0-2" in first and "--dependency=afterany:4711" in second and "--ntasks=1" in second


@pytest.mark.skipif(BASH is None, reason="bash not installed")
def test_failed_second_sbatch_cancels_the_first(monkeypatch, tmp_path):
    log = tmp_path / "calls.log"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    _executable(
        bindir / "sbatch",
        f'#!{BASH}\necho "sbatch $*" >> {log}\n'
        "if [[ \"$*\" == *merge* ]]; then echo 'sbatch: error: QOSMaxSubmitJobPerUserLimit' >&2; exit 1; fi\n"
        "echo '4711'\n",
    )
    _executable(bindir / "scancel", f'#!{BASH}\necho "scancel $*" >> {log}\n')
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(
        slurm.SlurmError,
        match=r"QOSMaxSubmitJobPerUserLimit; cancelled the job\(s\) already "
        r"queued: 4711",
    ):
        slurm.submit(slurm.plan(DEMO, array=3))
    assert log.read_text().splitlines()[-1] == "scancel 4711"


@pytest.mark.skipif(BASH is None, reason="bash not installed")
def test_duplicate_submission_is_refused(monkeypatch, tmp_path, capsys):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    res = os.path.abspath("results/demo.h5")
    _executable(bindir / "sbatch", f"#!{BASH}\necho 1\n")
    _executable(bindir / "squeue", f"#!{BASH}\necho '77|PENDING|hpc-nc:{res}'\necho '78|RUNNING|other'\n")
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(slurm, "partition_limits", lambda partition=None: None)
    assert slurm.queued_jobs_on("results/demo.h5") == ["77"]
    assert slurm.main([DEMO]) == 2
    err = capsys.readouterr().err
    assert "job(s) 77 already queued or running on results/demo.h5" in err and err.count("\n") == 1


# -- the scripts themselves, with a stand-in for hpc-nc ------------------------------------
def _run_script(tmp_path, script, args, **env):
    log = tmp_path / "hpc-nc.log"
    stub = _executable(
        tmp_path / "hpc-nc-stub", f'#!{BASH}\necho "$*" >> {log}\n[[ "$1" == merge ]] && touch "$2"\nexit 0\n'
    )
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "RANKS_PER_TASK", "RESULTS"))}
    full_env.update(HPC_NC=stub, LAUNCH="", **env)
    proc = subprocess.run(
        [BASH, os.path.join(SLURM_DIR, script), *args], cwd=tmp_path, env=full_env, capture_output=True, text=True
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return proc, calls


@pytest.mark.skipif(BASH is None, reason="bash not installed")
def test_sweep_script_relaxes_then_solves(tmp_path):
    proc, calls = _run_script(tmp_path, "sweep.sbatch", ["jobs/demo.yaml"])
    assert proc.returncode == 0, proc.stderr
    assert calls == ["relax jobs/demo.yaml", "solve jobs/demo.yaml"]
    proc, calls = _run_script(tmp_path, "sweep.sbatch", ["jobs/demo.yaml", "--set", "a=1"])
    assert calls[-2:] == ["relax jobs/demo.yaml --set a=1", "solve jobs/demo.yaml --set a=1"]
    (tmp_path / "two").mkdir()
    proc, calls = _run_script(tmp_path / "two", "relax_solve.sbatch", ["solve", "j.yaml"], RANKS_PER_TASK="4")
    assert proc.returncode == 0, proc.stderr
    assert calls[-1] == "solve j.yaml --set parallel.ranks_per_task=4"
    proc, _ = _run_script(tmp_path, "relax_solve.sbatch", ["both", "j.yaml"])
    assert proc.returncode == 2 and "usage" in proc.stderr


@pytest.mark.skipif(BASH is None, reason="bash not installed")
def test_array_script_runs_its_shard_and_merges_what_exists(tmp_path):
    proc, calls = _run_script(tmp_path, "array.sbatch", ["jobs/demo.yaml", "4", "shard"], SLURM_ARRAY_TASK_ID="2")
    assert proc.returncode == 0, proc.stderr
    assert calls == [
        "relax jobs/demo.yaml --shard 2/4 --structures results/demo.shard-2-of-4_structures.h5",
        "solve jobs/demo.yaml --shard 2/4 --structures results/demo.shard-2-of-4_structures.h5 "
        "--results results/demo.shard-2-of-4.h5",
    ]
    proc, _ = _run_script(tmp_path, "array.sbatch", ["jobs/demo.yaml", "4"])  # not in an array
    assert proc.returncode == 2 and "SLURM_ARRAY_TASK_ID" in proc.stderr

    res = tmp_path / "out"
    res.mkdir()
    for k in (0, 1, 3):  # shard 2 never ran
        (res / f"d.shard-{k}-of-4.h5").touch()
    (res / "d.shard-0-of-4_structures.h5").touch()
    (tmp_path / "hpc-nc.log").unlink()
    proc, calls = _run_script(
        tmp_path, "array.sbatch", ["jobs/demo.yaml", "4", "merge"], RESULTS="out/d.h5", SLURM_JOB_ID="99"
    )
    assert proc.returncode == 0, proc.stderr
    assert calls == [
        "merge out/d.h5.merging-99 out/d.shard-0-of-4.h5 out/d.shard-1-of-4.h5 out/d.shard-3-of-4.h5",
        "merge out/d_structures.h5.merging-99 out/d.shard-0-of-4_structures.h5",
    ]
    assert "shard(s) 2 of 4" in proc.stderr
    assert (res / "d.h5").exists() and (res / "d_structures.h5").exists()
    assert not list(res.glob("*.merging-*"))


def test_lock_probe_sees_a_held_results_lock(tmp_path):
    import fcntl

    res = str(tmp_path / "r.h5")
    assert not slurm.lock_held(res)  # no lock file
    (tmp_path / "r.h5.lock").write_text("")
    assert not slurm.lock_held(res)  # nobody holds it
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'rb'); "
            "fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)",
            res + ".lock",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert slurm.lock_held(res)
    finally:
        holder.kill()
        holder.wait()
    assert fcntl is not None and not slurm.lock_held(res)
