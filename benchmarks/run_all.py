"""Run every benchmark with its quick settings (`make bench`); full sizes: run each script.

Each script runs the project's code side by side with its baseline in one process and
prints medians, ratios and peak memory; the recorded results, with the machine, are in
benchmarks/RESULTS.md. Which scalar type and how many ranks each needs is set here.
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable
MPI2 = ["mpirun", "-n", "2"]

QUICK = [
    (
        "Hamiltonian assembly vs reference builder",
        [PY, "bench_hamiltonian.py", "--radii", "2", "4", "--repeats", "1"],
        {},
    ),
    ("Eigen solve: SLEPc strategies vs SciPy ARPACK", [PY, "bench_eigensolver.py", "--radii", "2", "3"], {}),
    (
        "VFF relaxation: TAO vs SciPy",
        [PY, "bench_relax.py", "--radii", "3", "5", "--repeats", "1"],
        {"HPC_NC_SCALAR": "real"},
    ),
    ("Coulomb integrals", [PY, "bench_coulomb.py", "--radius-a", "4", "--small-radius-a", "2", "--repeats", "1"], {}),
    ("Task farm efficiency (2 ranks)", MPI2 + [PY, "bench_farm.py", "--tasks", "12", "--repeat", "1"], {}),
]


def main() -> int:
    env = dict(
        os.environ,
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        OMPI_MCA_rmaps_base_oversubscribe="1",
    )
    failed = []
    for title, cmd, extra in QUICK:
        print(f"\n=== {title}: {' '.join(cmd)}", flush=True)
        if subprocess.run(cmd, cwd=HERE, env=env | extra).returncode != 0:
            failed.append(title)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
