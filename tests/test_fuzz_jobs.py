"""Seeded mutation fuzzing of job files (issue 12: bounded input).

Every mutated job file must end in one of two outcomes: accepted (a JobSpec whose summary
and resource check also complete), or a JobFileError of one line (the CLI prints it as one
``hpc-nc: error:`` line and exits 2). Nothing may raise anything else, run longer than
CASE_SECONDS, or raise the process's peak resident memory by more than CASE_BYTES
(resource.getrusage after each case; tracemalloc would slow parsing twenty-fold).

The suite runs ~500 cases in-process plus a few CLI subprocess calls (under a minute);
``make fuzz`` runs a nightly-size campaign: ``HPC_NC_FUZZ_CASES=20000 HPC_NC_FUZZ_SEED=7``.
"""

from __future__ import annotations

import copy
import glob
import os
import random
import resource
import signal
import subprocess
import sys

import pytest
import yaml

from hpc_nc.errors import JobFileError
from hpc_nc.io.jobs import load_job, parse_job, summarize

N_CASES = int(os.environ.get("HPC_NC_FUZZ_CASES", "500"))
SEED = int(os.environ.get("HPC_NC_FUZZ_SEED", "12"))
CASE_SECONDS = 30.0  # the largest accepted job (200,000 tasks) validates in ~3 s unloaded
CASE_BYTES = 400 * 2**20  # ... and needs ~250 MB
MESSAGE_CHARS = 600

SEEDS = [open(f, encoding="utf-8").read() for f in sorted(glob.glob("jobs/*.yaml"))] + [
    "name: f\nsweep: {x_cu: [0, 0.25], x_in: [0.5], core_radius_a: [1, 1.5], shell_thickness_a: [0, 1],"
    " model: [VCA, NSTR, STR], realizations: 3, seed: 4}\nstates: {electrons: 4, holes: 8}\n"
    "solver: {strategy: davidson, tol: 1e-9, max_it: 500, ncv: 0, petsc_options: {eps_view: null}}\n"
    "relax: {tao_type: bncg, force_tol: 1e-4, max_it: 5000, tao_options: {}}\n"
    "hamiltonian: {passivation_ev: 20.0, harrison_eta: 2.0}\n"
    "analysis: {epsilon: 5.2, onsite_ev: null, temperature_k: 300, broadening_ev: 0.01, n_radial_bins: 200}\n"
    "parallel: {ranks_per_task: 1}\noutput: {results: r/f.h5, structures: r/f_s.h5}\n",
    "name: p\nsweep:\n  points:\n    - {x_cu: 0, x_in: 1, core_radius_a: 1, shell_thickness_a: 1, model: NSTR}\n"
    "    - {x_cu: 0.1, x_in: 0.4, core_radius_a: 1.5, model: [VCA, STR], realizations: 2}\n",
]

NASTY = [
    0, -1, 1, 2, 3, 7, 1000000000, 10**18, 10**400, -(10**30), 0.5, -0.5, 1e-6, 1e-300, 1e30, 1e308,
    float("inf"), float("-inf"), float("nan"), True, False, None, "", "x", "1e-6", "STR", "VCA", "davidson",
    "a" * 5000, "\u00e9\u4e2d", [], {}, [0], [[1, 2]], [[1, 2, 3]], [1e30, 0], {"a": 1}, [None], [[[]]],
    [0.0, 1.0], [1.0, 1.0000001], 65536, 65537, 2**40, 256, 258, 10000, 10001,
]
TEXT_SNIPPETS = [
    "&a [1, 2]", "*a", "!!python/object:os.system {}", "!!binary aGVsbG8=", "{", "[", "? [a]\n: b",
    "1e-6", "0x10", "0o17", "1_000", ".inf", "-.nan", "~", "2001-12-14", "'unterminated", '"\\ud800"',
    '"\\x00"', "|\n  block", "<<: {a: 1}", "\t", "\x07", "[" * 60 + "]" * 60, "{a: " * 40 + "1" + "}" * 40,
]


def _tree_paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _tree_paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _tree_paths(v, prefix + (i,))


def _set(node, path, value):
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value


def _mutate_tree(rng: random.Random, text: str) -> str:
    tree = yaml.safe_load(text)
    for _ in range(rng.randint(1, 3)):
        paths = [p for p in _tree_paths(tree) if p]
        if not paths:
            break
        path = rng.choice(paths)
        op = rng.random()
        try:
            if op < 0.6:
                _set(tree, path, copy.deepcopy(rng.choice(NASTY)))  # never mutate NASTY itself
            elif op < 0.75:  # delete
                parent = tree
                for p in path[:-1]:
                    parent = parent[p]
                del parent[path[-1]]
            elif op < 0.9:  # wrap in a list or a mapping
                parent = tree
                for p in path[:-1]:
                    parent = parent[p]
                parent[path[-1]] = rng.choice([[parent[path[-1]]], {"v": parent[path[-1]]}])
            else:  # unknown key next to a known one
                parent = tree
                for p in path[:-1]:
                    parent = parent[p]
                if isinstance(parent, dict):
                    parent[rng.choice(["typo", "Name", "core_radius", "coulomb", "eps_options"])] = 1
        except (KeyError, IndexError, TypeError):
            pass
    try:
        return yaml.safe_dump(tree, default_flow_style=rng.random() < 0.5, allow_unicode=rng.random() < 0.5)
    except (ValueError, OverflowError, yaml.YAMLError):
        return text


def _mutate_text(rng: random.Random, text: str) -> str:
    lines = text.splitlines()
    op = rng.random()
    i = rng.randrange(len(lines) + 1)
    if op < 0.3 and lines:  # duplicate a line (duplicate keys)
        j = rng.randrange(len(lines))
        lines.insert(j, lines[j])
    elif op < 0.5:
        lines.insert(i, f"{rng.choice(['name', 'sweep', 'x', 'description', 'states'])}: "
                        f"{rng.choice(TEXT_SNIPPETS)}")
    elif op < 0.7 and lines:  # replace a value after a colon
        j = rng.randrange(len(lines))
        if ":" in lines[j]:
            head = lines[j].split(":", 1)[0]
            lines[j] = f"{head}: {rng.choice(TEXT_SNIPPETS + [repr(v) for v in NASTY[:20]])}"
    elif op < 0.85:  # alias bomb
        bomb = ["a0: &a0 [x, x, x, x, x, x, x, x]"] + [
            f"a{k}: &a{k} [*a{k - 1}, *a{k - 1}, *a{k - 1}, *a{k - 1}, *a{k - 1}, *a{k - 1}]" for k in range(1, 9)]
        lines = bomb + lines + [rng.choice(["description: *a8", "  model: *a8"])]
    else:  # truncate
        return "\n".join(lines)[: rng.randrange(max(len(text), 1))]
    return "\n".join(lines) + "\n"


def _mutate_bytes(rng: random.Random, text: str) -> bytes:
    data = bytearray(text.encode("utf-8"))
    op = rng.random()
    if op < 0.3:
        return text.encode(rng.choice(["utf-16", "utf-32", "latin-1"]), errors="replace")
    if op < 0.5:
        return b"\x89PNG\r\n\x1a\n" + bytes(rng.randrange(256) for _ in range(64))
    for _ in range(rng.randint(1, 4)):
        if data:
            data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def make_case(rng: random.Random) -> tuple[str, str | bytes]:
    base = rng.choice(SEEDS)
    kind = rng.random()
    if kind < 0.5:
        return "tree", _mutate_tree(rng, base)
    if kind < 0.85:
        return "text", _mutate_text(rng, base)
    return "bytes", _mutate_bytes(rng, base)


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def run_case(content, tmp_path, index: int) -> str:
    """'accepted' or 'refused'; raise AssertionError on a hang, a traceback or a big allocation."""
    path = os.path.join(tmp_path, f"case{index}.yaml")
    with open(path, "wb") as fh:
        fh.write(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, CASE_SECONDS)
    try:
        job = load_job(path)
        summarize(job)
        from hpc_nc.pipeline.sweep import check_resources

        check_resources(job, os.path.join(tmp_path, "r.h5"), os.path.join(tmp_path, "s.h5"))
        outcome = "accepted"
    except JobFileError as exc:
        msg = str(exc)
        assert "\n" not in msg and "\r" not in msg, f"case {index}: two-line message {msg!r}"
        assert len(msg) <= MESSAGE_CHARS, f"case {index}: message of {len(msg)} chars"
        outcome = "refused"
    except _Timeout:
        raise AssertionError(f"case {index}: no answer within {CASE_SECONDS} s") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    grown = _max_rss_bytes() - BASELINE_RSS
    assert grown < CASE_BYTES, f"case {index}: peak memory grew by {grown / 2**20:.0f} MiB"
    return outcome


def _max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


BASELINE_RSS = _max_rss_bytes()


def test_fuzz_job_files_in_process(tmp_path):
    rng = random.Random(SEED)
    outcomes = {"accepted": 0, "refused": 0}
    for i in range(N_CASES):
        kind, content = make_case(rng)
        try:
            outcomes[run_case(content, str(tmp_path), i)] += 1
        except AssertionError:
            raise
        except BaseException as exc:  # noqa: BLE001 - any other exception is a finding
            head = content[:300] if isinstance(content, str) else content[:100]
            raise AssertionError(f"case {i} ({kind}, seed {SEED}): {type(exc).__name__}: {exc}\n"
                                 f"{head!r}") from exc
        finally:
            os.unlink(os.path.join(tmp_path, f"case{i}.yaml"))
    # the mutations must exercise both outcomes, or the fuzzer tests nothing
    assert outcomes["accepted"] > N_CASES // 50 and outcomes["refused"] > N_CASES // 2, outcomes


def _cli_cases():
    rng = random.Random(SEED + 1)
    cases = [make_case(rng)[1] for _ in range(5)]
    cases += [b"\xff\xfe\x00n", "name: b\nsweep: {x_in: [1], core_radius_a: [1]}\nsweep: {}\n",
              "name: b\nsweep: {x_in: [1], core_radius_a: [1], model: [VCA]}\nsolver: {tol: 1e-6}\n"]
    return cases


@pytest.mark.parametrize("index", range(len(_cli_cases())))
def test_fuzz_job_files_through_the_cli(tmp_path, index):
    content = _cli_cases()[index]
    path = tmp_path / "job.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    out = subprocess.run([sys.executable, "-m", "hpc_nc", "validate", str(path)], capture_output=True,
                         text=True, errors="replace", timeout=120, cwd=str(tmp_path))
    assert out.returncode in (0, 2), (out.returncode, out.stderr[-2000:])
    errors = [ln for ln in out.stderr.splitlines() if not ln.startswith("hpc-nc: warning:")]
    if out.returncode == 2:
        assert len(errors) == 1 and errors[0].startswith("hpc-nc: error: "), out.stderr[-2000:]
    else:
        assert errors == [] and "is valid" in out.stdout
