"""Every public function of the pipeline and solver layers carries complete type hints (issue 11).

An ast scan (nothing is imported, so no PETSc build is selected): each public (not
underscore-prefixed) module-level function, and each public method of a public class, must
annotate every parameter except self/cls, *args and **kwargs included, and its return.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "hpc_nc"
PACKAGES = ("pipeline", "solvers")


def missing_annotations(source: str, filename: str = "<source>") -> list[str]:
    """``name: what is missing`` for each public function of ``source`` lacking a hint."""
    tree = ast.parse(source, filename=filename)
    problems = []

    def check(fn: ast.FunctionDef | ast.AsyncFunctionDef, owner: str | None) -> None:
        if fn.name.startswith("_"):
            return
        args = fn.args
        positional = args.posonlyargs + args.args
        bare = [
            a.arg
            for i, a in enumerate(positional)
            if a.annotation is None and not (owner and i == 0 and a.arg in ("self", "cls"))
        ]
        bare += [a.arg for a in args.kwonlyargs if a.annotation is None]
        bare += [f"*{a.arg}" for a in (args.vararg,) if a is not None and a.annotation is None]
        bare += [f"**{a.arg}" for a in (args.kwarg,) if a is not None and a.annotation is None]
        what = []
        if bare:
            what.append("parameters " + ", ".join(bare))
        if fn.returns is None:
            what.append("return")
        if what:
            name = f"{owner}.{fn.name}" if owner else fn.name
            problems.append(f"{filename}:{fn.lineno} {name}: no hint for {' and '.join(what)}")

    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            check(node, None)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for sub in node.body:
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    check(sub, node.name)
    return problems


MODULES = sorted(p for pkg in PACKAGES for p in (ROOT / pkg).glob("*.py"))


def test_modules_found():
    names = {p.name for p in MODULES}
    assert {"sweep.py", "slurm.py", "eigensolver.py", "hamiltonian.py"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_public_functions_fully_annotated(path):
    problems = missing_annotations(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT.parent)))
    assert not problems, "public functions without complete type hints:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_annotations_not_evaluated(path):
    """Hints name MPI/PETSc and project classes imported only under TYPE_CHECKING: that is safe
    only when annotations stay strings (PEP 563)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    has_defs = any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for n in tree.body)
    future = any(
        isinstance(n, ast.ImportFrom) and n.module == "__future__" and any(a.name == "annotations" for a in n.names)
        for n in tree.body
    )
    assert future or not has_defs, f"{path.name}: add 'from __future__ import annotations'"


def test_scan_catches_missing_hints():
    """The scan itself: each kind of gap is reported, private names and self are not."""
    source = """
def good(a: int, *args: str, b: float = 1.0, **kw: object) -> None: ...
def no_return(a: int): ...
def bare_param(a, b: int) -> int: ...
def bare_star(*args) -> None: ...
def bare_kwonly(*, flag=False) -> None: ...
def bare_kwargs(**kw) -> None: ...
def _private(a): ...
class Public:
    def method(self, x: int) -> int: ...
    @classmethod
    def make(cls) -> "Public": ...
    def loose(self, x): ...
    def _hidden(self, x): ...
class _Private:
    def method(self, x): ...
"""
    found = missing_annotations(source)
    names = sorted(line.split(" ")[1].rstrip(":") for line in found)
    assert names == ["Public.loose", "bare_kwargs", "bare_kwonly", "bare_param", "bare_star", "no_return"]
    text = "\n".join(found)
    assert "parameters x and return" in text
    assert "parameters *args" in text and "parameters **kw" in text and "parameters flag" in text
