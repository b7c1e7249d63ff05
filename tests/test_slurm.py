"""Slurm templates and submission helper: syntax, dry run, shards, and the scripts' commands."""

import os
import shutil
import stat
import subprocess

import pytest

from hpc_nc.pipeline import slurm
from hpc_nc.io.jobs import load_job

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "jobs", "demo.yaml")
SLURM_DIR = os.path.join(ROOT, "slurm")
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


def test_dry_run_names_the_job_file_and_the_shards(capsys):
    assert slurm.main([DEMO, "--array", "4", "--dry-run", "--slurm-dir", SLURM_DIR]) == 0
    out = capsys.readouterr().out.splitlines()
    shard_lines = [line for line in out if line.startswith("# shard")]
    assert shard_lines == [f"# shard {k}/4: 4 tasks -> results/demo.shard-{k}-of-4.h5" for k in range(4)]
    cmds = [line for line in out if not line.startswith("#")]
    assert len(cmds) == 2
    array, merge = cmds
    script = os.path.join(SLURM_DIR, "array.sbatch")
    assert array.startswith("ARRAY_ID=$(sbatch --parsable --array=0-3 ")
    assert array.endswith(f"{script} {DEMO} 4)")
    assert "RESULTS=results/demo.h5" in array and "STRUCTURES=results/demo_structures.h5" in array
    assert merge.startswith("sbatch --dependency=afterany:$ARRAY_ID --ntasks=1 ")
    assert merge.endswith(f"{script} {DEMO} 4 merge")


def test_single_and_two_step_commands():
    d = SLURM_DIR
    assert slurm.submit_commands(DEMO, slurm_dir=d) == [
        f"sbatch --job-name=hpc-nc-demo {d}/sweep.sbatch {DEMO}"]
    relax, solve = slurm.submit_commands(DEMO, two_step=True, sbatch_args=["--partition=short"], slurm_dir=d)
    assert relax == (f"RELAX_ID=$(sbatch --parsable --job-name=hpc-nc-demo-relax --partition=short "
                     f"{d}/relax_solve.sbatch relax {DEMO})")
    assert solve == (f"sbatch --dependency=afterany:$RELAX_ID --job-name=hpc-nc-demo-solve --partition=short "
                     f"{d}/relax_solve.sbatch solve {DEMO}")


def test_bad_requests_are_clear_errors(tmp_path):
    with pytest.raises(slurm.SlurmError, match="more shards than the 16 tasks"):
        slurm.submit_commands(DEMO, array=17, slurm_dir=SLURM_DIR)
    with pytest.raises(slurm.SlurmError, match="cannot be combined"):
        slurm.submit_commands(DEMO, array=2, two_step=True, slurm_dir=SLURM_DIR)
    with pytest.raises(slurm.SlurmError, match="templates"):
        slurm.submit_commands(DEMO, slurm_dir=str(tmp_path))
    from hpc_nc.errors import JobFileError

    with pytest.raises(JobFileError):
        slurm.submit_commands(str(tmp_path / "missing.yaml"), slurm_dir=SLURM_DIR)


def _executable(path, text):
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


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
    _executable(bindir / "sbatch", f"#!{BASH}\necho \"$*\" >> {log}\n"
                "if [[ \"$1\" == --parsable ]]; then echo '4711;cluster'; else echo 'Submitted batch job 4712'; fi\n")
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    ids = slurm.submit(slurm.plan(DEMO, array=3, slurm_dir=SLURM_DIR))
    assert ids == ["4711", "4712"]
    first, second = log.read_text().splitlines()
    assert "--array=0-2" in first and second.startswith("--dependency=afterany:4711 --ntasks=1")


# -- the scripts themselves, with a stand-in for hpc-nc ------------------------------------
def _run_script(tmp_path, script, args, **env):
    log = tmp_path / "hpc-nc.log"
    stub = _executable(tmp_path / "hpc-nc-stub",
                       f"#!{BASH}\necho \"$*\" >> {log}\n[[ \"$1\" == merge ]] && touch \"$2\"\nexit 0\n")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "RANKS_PER_TASK", "RESULTS"))}
    full_env.update(HPC_NC=stub, LAUNCH="", **env)
    proc = subprocess.run([BASH, os.path.join(SLURM_DIR, script), *args], cwd=tmp_path, env=full_env,
                          capture_output=True, text=True)
    calls = log.read_text().splitlines() if log.exists() else []
    return proc, calls


@pytest.mark.skipif(BASH is None, reason="bash not installed")
def test_sweep_script_relaxes_then_solves(tmp_path):
    proc, calls = _run_script(tmp_path, "sweep.sbatch", ["jobs/demo.yaml"])
    assert proc.returncode == 0, proc.stderr
    assert calls == ["relax jobs/demo.yaml", "solve jobs/demo.yaml"]
    (tmp_path / "two").mkdir()
    proc, calls = _run_script(tmp_path / "two", "relax_solve.sbatch", ["solve", "j.yaml"], RANKS_PER_TASK="4")
    assert proc.returncode == 0, proc.stderr
    assert calls[-1] == "solve j.yaml --set parallel.ranks_per_task=4"
    proc, _ = _run_script(tmp_path, "relax_solve.sbatch", ["both", "j.yaml"])
    assert proc.returncode == 2 and "usage" in proc.stderr


@pytest.mark.skipif(BASH is None, reason="bash not installed")
def test_array_script_runs_its_shard_and_merges_what_exists(tmp_path):
    proc, calls = _run_script(tmp_path, "array.sbatch", ["jobs/demo.yaml", "4"], SLURM_ARRAY_TASK_ID="2")
    assert proc.returncode == 0, proc.stderr
    assert calls == ["relax jobs/demo.yaml --shard 2/4 --structures results/demo.shard-2-of-4_structures.h5",
                     "solve jobs/demo.yaml --shard 2/4 --structures results/demo.shard-2-of-4_structures.h5 "
                     "--results results/demo.shard-2-of-4.h5"]
    proc, _ = _run_script(tmp_path, "array.sbatch", ["jobs/demo.yaml", "4"])  # not in an array
    assert proc.returncode == 2 and "SLURM_ARRAY_TASK_ID" in proc.stderr

    res = tmp_path / "out"
    res.mkdir()
    for k in (0, 1, 3):  # shard 2 never ran
        (res / f"d.shard-{k}-of-4.h5").touch()
    (res / "d.shard-0-of-4_structures.h5").touch()
    (tmp_path / "hpc-nc.log").unlink()
    proc, calls = _run_script(tmp_path, "array.sbatch", ["jobs/demo.yaml", "4", "merge"],
                              RESULTS="out/d.h5", SLURM_JOB_ID="99")
    assert proc.returncode == 0, proc.stderr
    assert calls == [
        "merge out/d.h5.merging-99 out/d.shard-0-of-4.h5 out/d.shard-1-of-4.h5 out/d.shard-3-of-4.h5",
        "merge out/d_structures.h5.merging-99 out/d.shard-0-of-4_structures.h5"]
    assert "shard(s) 2 of 4" in proc.stderr
    assert (res / "d.h5").exists() and (res / "d_structures.h5").exists()
    assert not list(res.glob("*.merging-*"))
