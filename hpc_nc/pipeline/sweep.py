"""Stage drivers: a job's tasks through the task farm into the HDF5 stores.

``run_relax`` (structure stage, real PETSc) and ``run_solve`` (electronic stage, complex
PETSc) are collective over the world communicator; each selects its PETSc build first, so
they run as separate programs (``hpc-nc relax`` / ``hpc-nc solve``). Both resume: finished
rows of the store are skipped, failed rows are retried.
"""

from __future__ import annotations

import os
import platform
import sys

from hpc_nc import __version__
from hpc_nc.errors import HpcNcError


def select_shard(tasks, shard: tuple[int, int] | None):
    """Tasks of shard K of N (index % N == K); all tasks when shard is None."""
    if shard is None:
        return list(tasks)
    k, n = shard
    return [t for t in tasks if t.index % n == k]


def parse_shard(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise HpcNcError(f"--shard {text}: expected K/N with integers, e.g. 3/8") from None
    if not (n >= 1 and 0 <= k < n):
        raise HpcNcError(f"--shard {text}: need 0 <= K < N")
    return k, n


def petsc_options_in_use(options: dict, argv: list[str] | None = None) -> dict:
    """PETSc's options database without hpc-nc's own ``--options``.

    petsc4py reads ``sys.argv``, so ``--results FILE`` shows up in the database as the PETSc
    option ``results``; only options given PETSc-style (``-eps_view``) are PETSc's.
    """
    argv = sys.argv[1:] if argv is None else argv
    ours = {a[2:].split("=", 1)[0] for a in argv if a.startswith("--") and len(a) > 2}
    return {k: str(v) for k, v in options.items() if k not in ours}


def _structures_provenance(path: str) -> dict:
    """Which structures an STR solve used: the structures file and its identifying hashes."""
    out = {"structures_file": os.path.abspath(path)}
    try:
        from hpc_nc.io.store import read_provenance

        stored = read_provenance(path)
    except HpcNcError:
        return out
    for key in ("row_keys_sha256", "vff_sha256", "job_sha256"):
        if key in stored:
            out[f"structures_{key}"] = stored[key]
    return out


def provenance(comm, job, stage: str, structures_path: str | None = None) -> dict:
    """File attributes: what produced the file (taken from rank 0)."""
    from hpc_nc.physics.materials import parameter_hash

    prov = {
        "hpc_nc_version": __version__,
        "stage": stage,
        "job_name": job.name,
        "job_file": job.source,
        "job_text": job.job_text,
        "job_sha256": job.job_hash,
        "materials_sha256": parameter_hash(),
        "python": platform.python_version(),
        "mpi_size": comm.size,
        "ranks_per_task": job.ranks_per_task,
        "command_line": " ".join(sys.argv),
        "seeds": sorted({t.seed for t in job.tasks}),
    }
    try:
        from petsc4py import PETSc

        prov["petsc_version"] = ".".join(map(str, PETSc.Sys.getVersion()))
        prov["petsc_dir"] = os.environ.get("PETSC_DIR", "")
        prov["petsc_options"] = petsc_options_in_use(PETSc.Options().getAll())
        from slepc4py import SLEPc

        prov["slepc_version"] = ".".join(map(str, SLEPc.Sys.getVersion()))
    except ImportError:
        pass
    from hpc_nc.physics.vff import load_vff

    # Both files record the VFF parameters: STR results depend on them through the structures.
    prov["vff_sha256"] = getattr(load_vff(), "content_hash", "")
    if stage == "relax":
        from hpc_nc.solvers.relax import DEFAULT_BOND_LENGTH_EDGES, DEFAULT_RADIAL_EDGES

        prov["relax_settings"] = job.relax
        prov["bond_length_edges"] = [float(x) for x in DEFAULT_BOND_LENGTH_EDGES]  # Å
        prov["radial_edges"] = [float(x) for x in DEFAULT_RADIAL_EDGES]  # Å
    else:
        if structures_path and any(t.model == "STR" for t in job.tasks):
            prov.update(_structures_provenance(structures_path))
        prov["solver_settings"] = job.solver
        prov["physics_settings"] = job.physics
        prov["coulomb_settings"] = job.coulomb
    return prov


def run_relax(comm, job, *, shard=None, structures_path=None, progress=None):
    """Collective: relax every STR structure of the job (or of one shard) not yet relaxed."""
    from hpc_nc.parallel.farm import run_farm
    from hpc_nc.parallel.petsc_build import select_build
    from hpc_nc.io.store import StructureStore
    from hpc_nc.pipeline.structure_stage import relax_task, structure_fields, structure_tasks

    select_build("real")
    path = structures_path or job.structures_path
    wanted = structure_tasks(select_shard(job.tasks, shard))
    all_structures = {t.structure_key: t.n_atoms for t in structure_tasks(job.tasks)}
    if not all_structures:
        if comm.rank == 0:
            print(f"relax: job '{job.name}' has no STR task; nothing to relax")
        return None
    _ensure_dir(comm, path)
    # Resuming with other relaxation settings or VFF parameters would mix structures.
    store = StructureStore.create_or_open(comm, path, all_structures, structure_fields(),
                                          provenance(comm, job, "relax"),
                                          must_match=["relax_settings", "vff_sha256"])
    try:
        skip = [t.index for t in wanted if t.structure_key in store.done_keys]

        def on_done(task, result, error, seconds):
            if error is None:
                store.write_structure(task.structure_key, result, seconds=seconds)
            else:
                store.mark_failed(task.structure_key, error, seconds=seconds)

        if comm.rank == 0:
            print(f"relax: {len(wanted)} structures ({len(skip)} already relaxed) -> {path}", flush=True)
        summary = run_farm(comm, wanted, job.ranks_per_task, lambda g, t: relax_task(g, t, job), on_done,
                           skip=skip, progress=progress or "auto")
    finally:
        store.close()
    return summary


def run_solve(comm, job, *, shard=None, results_path=None, structures_path=None, progress=None):
    """Collective: the electronic stage for every task of the job (or shard) not yet done."""
    from hpc_nc.pipeline.electronic_stage import result_fields, solve_task
    from hpc_nc.parallel.farm import run_farm
    from hpc_nc.parallel.petsc_build import select_build
    from hpc_nc.io.store import ResultsStore, read_structure

    select_build("complex")
    path = results_path or job.results_path
    spath = structures_path or job.structures_path
    wanted = select_shard(job.tasks, shard)
    _ensure_dir(comm, path)
    # Resuming with other settings or parameters would mix incomparable rows in one file.
    store = ResultsStore.create_or_open(comm, path, job.tasks, result_fields(job), provenance(comm, job, "solve", spath),
                                        must_match=["solver_settings", "physics_settings", "coulomb_settings",
                                                    "materials_sha256"])
    try:
        skip = [t.index for t in wanted if t.index in store.done]

        def run_task(group, task):
            positions = None
            if task.model == "STR":
                # every rank of the group reads the same rows (serial HDF5, read-only)
                positions = read_structure(spath, task.structure_key)["positions"]
            return solve_task(group, task, job, positions)

        if comm.rank == 0:
            print(f"solve: {len(wanted)} tasks ({len(skip)} already done) -> {path}", flush=True)
        summary = run_farm(comm, wanted, job.ranks_per_task, run_task, store.record, skip=skip,
                           progress=progress or "auto")
    finally:
        store.close()
    return summary


def _ensure_dir(comm, path: str) -> None:
    if comm.rank == 0:
        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
    comm.Barrier()
