"""Select the real or complex PETSc/SLEPc build before petsc4py is first imported.

PETSc is compiled for one scalar type. The structure stage (TAO) needs the real build; the
electronic stage (spin-orbit makes H complex Hermitian) needs the complex build. Debian's
``petsc4py.pth`` appends ``$PETSC_DIR/lib/python3/dist-packages`` to ``sys.path`` at
interpreter start; we do the same at run time, before the first import, which works even
when the interpreter started without PETSC_DIR.

Resolution order for a scalar type ``s`` ("real" or "complex"):
1. ``HPC_NC_PETSC_DIR_<S>`` / ``HPC_NC_SLEPC_DIR_<S>`` (a cluster with both builds);
2. ``PETSC_DIR`` / ``SLEPC_DIR`` already set by the user (a site module): respected as is,
   and checked for the scalar type after import;
3. Debian's builds under /usr/lib/petscdir and /usr/lib/slepcdir.
"""

from __future__ import annotations

import glob
import os
import sys

from hpc_nc.errors import BuildError

SCALAR_TYPES = ("real", "complex")

# Every environment variable the package reads, declared once (see README).
ENVIRONMENT_VARIABLES = {
    "HPC_NC_PETSC_DIR_REAL": "PETSc installation with real scalars (structure stage)",
    "HPC_NC_PETSC_DIR_COMPLEX": "PETSc installation with complex scalars (electronic stage)",
    "HPC_NC_SLEPC_DIR_REAL": "SLEPc installation matching HPC_NC_PETSC_DIR_REAL",
    "HPC_NC_SLEPC_DIR_COMPLEX": "SLEPc installation matching HPC_NC_PETSC_DIR_COMPLEX",
    "PETSC_DIR": "standard PETSc location; respected when set (checked for scalar type)",
    "SLEPC_DIR": "standard SLEPc location; respected when set",
    "HPC_NC_SCALAR": "scalar type the test suite selects (real|complex, default complex)",
}

_DEBIAN_PETSC = "/usr/lib/petscdir/petsc*/x86_64-linux-gnu-{s}"
_DEBIAN_SLEPC = "/usr/lib/slepcdir/slepc*/x86_64-linux-gnu-{s}"


def _debian_dir(pattern: str, scalar: str) -> str | None:
    hits = sorted(glob.glob(pattern.format(s=scalar)))
    if not hits:  # other architectures: */<triplet>-{s}
        hits = sorted(glob.glob(pattern.replace("x86_64-linux-gnu", "*").format(s=scalar)))
    return hits[-1] if hits else None


def find_builds() -> dict[str, dict[str, str | None]]:
    """Candidate PETSc/SLEPc directories for each scalar type (no import is done)."""
    builds = {}
    for s in SCALAR_TYPES:
        builds[s] = {
            "petsc_dir": os.environ.get(f"HPC_NC_PETSC_DIR_{s.upper()}") or _debian_dir(_DEBIAN_PETSC, s),
            "slepc_dir": os.environ.get(f"HPC_NC_SLEPC_DIR_{s.upper()}") or _debian_dir(_DEBIAN_SLEPC, s),
        }
    return builds


def loaded_scalar_type() -> str | None:
    """Scalar type of the already imported petsc4py, or None if not imported yet."""
    mod = sys.modules.get("petsc4py.PETSc")
    if mod is None:
        return None
    import numpy as np

    return "complex" if np.issubdtype(mod.ScalarType, np.complexfloating) else "real"


def _prepend_python_dir(install_dir: str) -> None:
    path = os.path.join(install_dir, "lib", "python3", "dist-packages")
    if os.path.isdir(path):
        if path in sys.path:
            sys.path.remove(path)
        sys.path.insert(0, path)


def select_build(scalar: str):
    """Make ``import petsc4py``/``slepc4py`` load the build with ``scalar`` scalars.

    Returns ``(PETSc, SLEPc)``; petsc4py is initialised with ``sys.argv`` so that PETSc
    command-line options (``-eps_view``, ``-log_view``, ``-tao_*``) are honoured.
    Raises :class:`BuildError` with a one-line message when the build cannot be had.
    """
    if scalar not in SCALAR_TYPES:
        raise BuildError(f"unknown PETSc scalar type {scalar!r} (use real or complex)")
    already = loaded_scalar_type()
    if already is None:
        explicit = os.environ.get(f"HPC_NC_PETSC_DIR_{scalar.upper()}")
        user_dir = os.environ.get("PETSC_DIR")
        if explicit or not user_dir or _is_debian_build_dir(user_dir):
            cand = find_builds()[scalar]
            if not cand["petsc_dir"]:
                raise BuildError(
                    f"no {scalar} PETSc build found: install python3-petsc4py-{scalar} "
                    f"(Debian) or set HPC_NC_PETSC_DIR_{scalar.upper()}"
                )
            os.environ["PETSC_DIR"] = cand["petsc_dir"]
            if cand["slepc_dir"]:
                os.environ["SLEPC_DIR"] = cand["slepc_dir"]
        if _is_debian_build_dir(os.environ["PETSC_DIR"]):
            os.environ.pop("PETSC_ARCH", None)  # Debian's builds have no arch subdirectory
        if os.environ.get("SLEPC_DIR"):
            _prepend_python_dir(os.environ["SLEPC_DIR"])
        _prepend_python_dir(os.environ["PETSC_DIR"])
        try:
            import petsc4py
        except ImportError as exc:
            raise BuildError(f"petsc4py is not importable for PETSC_DIR={os.environ['PETSC_DIR']}: {exc}") from None
        # Pass PETSc options from the command line through; our own CLI flags are
        # harmless to PETSc (it ignores what it does not know).
        petsc4py.init(sys.argv)
    from petsc4py import PETSc

    got = loaded_scalar_type()
    if got != scalar:
        raise BuildError(
            f"the loaded PETSc build has {got} scalars but this stage needs {scalar} "
            f"(PETSC_DIR={os.environ.get('PETSC_DIR')}); run the stage in its own process "
            f"or set HPC_NC_PETSC_DIR_{scalar.upper()}"
        )
    try:
        import slepc4py

        if "slepc4py.SLEPc" not in sys.modules:
            slepc4py.init(sys.argv)
        from slepc4py import SLEPc
    except ImportError as exc:
        raise BuildError(
            f"slepc4py is not importable for the {scalar} build (SLEPC_DIR={os.environ.get('SLEPC_DIR')}): {exc}"
        ) from None
    return PETSc, SLEPc


def _is_debian_build_dir(path: str) -> bool:
    return path.startswith("/usr/lib/petscdir/") or path == "/usr/lib/petsc"


def describe_builds() -> list[dict]:
    """Probe every build found, each in a fresh interpreter (one scalar type per process)."""
    import json
    import subprocess

    probe = (
        "import json,sys\n"
        "from hpc_nc.parallel.petsc_build import select_build\n"
        "s=sys.argv[1]\n"
        "out={'scalar':s}\n"
        "try:\n"
        "    PETSc,SLEPc=select_build(s)\n"
        "    out.update(petsc_version='.'.join(map(str,PETSc.Sys.getVersion())),\n"
        "               slepc_version='.'.join(map(str,SLEPc.Sys.getVersion())),\n"
        "               scalar_type=str(PETSc.ScalarType.__name__),\n"
        "               petsc_dir=__import__('os').environ.get('PETSC_DIR'),\n"
        "               mumps=PETSc.Sys.hasExternalPackage('mumps'),\n"
        "               tao_cg=True)\n"
        "    try:\n"
        "        t=PETSc.TAO().create(PETSc.COMM_SELF); t.setType('cg'); t.destroy()\n"
        "    except Exception:\n"
        "        out['tao_cg']=False\n"
        "except Exception as e:\n"
        "    out['error']=str(e)\n"
        "print(json.dumps(out))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMPI_") and not k.startswith("PMIX_")}
    results = []
    for s in SCALAR_TYPES:
        proc = subprocess.run([sys.executable, "-c", probe, s], capture_output=True, text=True, env=env, timeout=120)
        try:
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        except (IndexError, ValueError):
            results.append({"scalar": s, "error": (proc.stderr.strip().splitlines() or ["probe failed"])[-1]})
    return results


# ----------------------------------------------------------------------------- BLAS threads
def _openblas():
    """The OpenBLAS library this process has loaded (Debian's MUMPS and numpy share it), or None."""
    import ctypes

    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line and ".so" in line})
    except OSError:
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_num_threads.restype = ctypes.c_int
            lib.openblas_set_num_threads.argtypes = [ctypes.c_int]
            return lib
        except (OSError, AttributeError):
            continue
    return None


class blas_threads:
    """Context manager: run the block with ``n`` OpenBLAS threads, then restore the count.

    Why: Debian's OpenBLAS (pthreads) starts one thread per core. On the 2-core benchmark
    machine two threads made MUMPS's multi-right-hand-side solves 2x *slower* than one
    (7a: 35 vs 16 ms per right-hand side) and did not speed up tall-skinny zgemm; under
    mpirun they also oversubscribe the cores. Only speed depends on this: with another BLAS
    (no ``openblas_set_num_threads``) the block runs unchanged.
    """

    def __init__(self, n: int = 1):
        self.n = int(n)
        self._lib = None
        self._before = None

    def __enter__(self):
        self._lib = _openblas()
        if self._lib is not None:
            self._before = self._lib.openblas_get_num_threads()
            self._lib.openblas_set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        if self._lib is not None and self._before is not None:
            self._lib.openblas_set_num_threads(self._before)
        return False
