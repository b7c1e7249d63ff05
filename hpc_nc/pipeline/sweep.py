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
from collections.abc import Iterable
from typing import TYPE_CHECKING

from hpc_nc import __version__
from hpc_nc.errors import HpcNcError
from hpc_nc.settings import ElectronicSettings, as_dict

if TYPE_CHECKING:
    from mpi4py import MPI

    from hpc_nc.io.jobs import JobSpec, Task
    from hpc_nc.parallel.farm import FarmSummary


def select_shard(tasks: Iterable[Task], shard: tuple[int, int] | None) -> list[Task]:
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


def provenance(comm: MPI.Comm, job: JobSpec, stage: str, structures_path: str | None = None) -> dict:
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

        prov["relax_settings"] = as_dict(job.relax)
        prov["bond_length_edges"] = [float(x) for x in DEFAULT_BOND_LENGTH_EDGES]  # Å
        prov["radial_edges"] = [float(x) for x in DEFAULT_RADIAL_EDGES]  # Å
    else:
        if structures_path and any(t.model == "STR" for t in job.tasks):
            prov.update(_structures_provenance(structures_path))
        prov["solver_settings"] = as_dict(job.solver)
        prov["hamiltonian_settings"] = as_dict(job.hamiltonian)
        prov["analysis_settings"] = as_dict(job.analysis)
    return prov


def run_relax(
    comm: MPI.Comm,
    job: JobSpec,
    *,
    shard: tuple[int, int] | None = None,
    structures_path: str | None = None,
    progress: str | None = None,
) -> FarmSummary | None:
    """Collective: relax every STR structure of the job (or of one shard) not yet relaxed."""
    from hpc_nc.io.store import StructureStore
    from hpc_nc.parallel.farm import run_farm
    from hpc_nc.parallel.petsc_build import select_build
    from hpc_nc.pipeline.structure_stage import relax_task, structure_fields, structure_tasks

    path = structures_path or job.structures_path
    _check_resources_collective(comm, job, job.results_path, path)
    select_build("real")
    wanted = structure_tasks(select_shard(job.tasks, shard))
    all_structures = {t.structure_key: t.n_atoms for t in structure_tasks(job.tasks)}
    if not all_structures:
        if comm.rank == 0:
            print(f"relax: job '{job.name}' has no STR task; nothing to relax")
        return None
    _ensure_dir(comm, path)
    # Resuming with other relaxation settings or VFF parameters would mix structures.
    store = StructureStore.create_or_open(
        comm,
        path,
        all_structures,
        structure_fields(),
        provenance(comm, job, "relax"),
        must_match=["relax_settings", "vff_sha256"],
    )
    try:
        skip = [t.index for t in wanted if t.structure_key in store.done_keys]

        def on_done(task, result, error, seconds):
            if error is None:
                store.write_structure(task.structure_key, result, seconds=seconds)
            else:
                store.mark_failed(task.structure_key, error, seconds=seconds)

        if comm.rank == 0:
            print(f"relax: {len(wanted)} structures ({len(skip)} already relaxed) -> {path}", flush=True)
        summary = run_farm(
            comm,
            wanted,
            job.ranks_per_task,
            lambda g, t: relax_task(g, t, job.relax),
            on_done,
            skip=skip,
            progress=progress or "auto",
        )
    finally:
        store.close()
    return summary


def run_solve(
    comm: MPI.Comm,
    job: JobSpec,
    *,
    shard: tuple[int, int] | None = None,
    results_path: str | None = None,
    structures_path: str | None = None,
    progress: str | None = None,
) -> FarmSummary:
    """Collective: the electronic stage for every task of the job (or shard) not yet done."""
    from hpc_nc.io.store import ResultsStore, read_structure
    from hpc_nc.parallel.farm import run_farm
    from hpc_nc.parallel.petsc_build import select_build
    from hpc_nc.pipeline.electronic_stage import result_fields, solve_task

    path = results_path or job.results_path
    spath = structures_path or job.structures_path
    _check_resources_collective(comm, job, path, spath)
    select_build("complex")
    wanted = select_shard(job.tasks, shard)
    _ensure_dir(comm, path)
    # Resuming with other settings or parameters would mix incomparable rows in one file.
    settings = ElectronicSettings.from_job(job)
    store = ResultsStore.create_or_open(
        comm,
        path,
        job.tasks,
        result_fields(settings),
        provenance(comm, job, "solve", spath),
        must_match=["solver_settings", "hamiltonian_settings", "analysis_settings", "materials_sha256"],
    )
    try:
        skip = [t.index for t in wanted if t.index in store.done]

        def run_task(group, task):
            positions = None
            if task.model == "STR":
                # every rank of the group reads the same rows (serial HDF5, read-only)
                positions = read_structure(spath, task.structure_key)["positions"]
            return solve_task(group, task, settings, positions)

        if comm.rank == 0:
            print(f"solve: {len(wanted)} tasks ({len(skip)} already done) -> {path}", flush=True)
        summary = run_farm(
            comm, wanted, job.ranks_per_task, run_task, store.record, skip=skip, progress=progress or "auto"
        )
    finally:
        store.close()
    return summary


def _check_resources_collective(comm, job, results_path: str, structures_path: str) -> None:
    """check_resources on rank 0; the same one-line error on every rank."""
    from hpc_nc.errors import JobFileError

    error = None
    if comm.rank == 0:
        try:
            check_resources(job, results_path, structures_path)
        except HpcNcError as exc:
            error = str(exc)
    error = comm.bcast(error, root=0)
    if error:
        raise JobFileError(error)


def _ensure_dir(comm, path: str) -> None:
    if comm.rank == 0:
        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
    comm.Barrier()


# -- resources checked before anything runs ------------------------------------------------------
#: Bytes of a row beyond its fields (task columns, key, status, message, timing; measured ~1 kB
#: of the demo's results file per row) and slack for HDF5 metadata.
_ROW_OVERHEAD_BYTES = 2048
_FILE_OVERHEAD_BYTES = 1 << 20


def _field_bytes(fields, n_atoms: int = 0) -> int:
    import numpy as np

    total = 0
    for f in fields:
        shape = [n_atoms if s == "n_atoms" else s for s in f.shape_per_task]  # store.PER_ATOM
        total += int(np.prod(shape, dtype=np.int64)) * np.dtype(f.dtype).itemsize
    return total


def output_size_estimates(job: JobSpec) -> tuple[int, int]:
    """Estimated bytes of the results file and of the structures file of a job (uncompressed)."""
    from hpc_nc.pipeline.electronic_stage import result_fields
    from hpc_nc.pipeline.structure_stage import structure_fields, structure_tasks

    fields = result_fields(ElectronicSettings.from_job(job))
    row = _field_bytes(fields) + _ROW_OVERHEAD_BYTES
    # per-atom result fields (the species codes) grow with each task's dot
    per_atom = _field_bytes([f for f in fields if f.per_atom], 1)
    results = _FILE_OVERHEAD_BYTES + len(job.tasks) * row + per_atom * sum(t.n_atoms for t in job.tasks)
    fields = structure_fields()
    structures = _FILE_OVERHEAD_BYTES
    sizes: dict[int, int] = {}
    for t in structure_tasks(job.tasks):
        sizes[t.n_atoms] = sizes.get(t.n_atoms, 0) + 1
    for n_atoms, count in sizes.items():
        # positions (N, 3) f8 and species (N,) i1 plus the per-atom and fixed fields of structure_fields()
        structures += count * (n_atoms * 25 + _field_bytes(fields, n_atoms) + _ROW_OVERHEAD_BYTES)
    return results, structures


def _free_bytes(path: str) -> int:
    import shutil

    d = os.path.dirname(os.path.abspath(path))
    while d and not os.path.isdir(d):
        d = os.path.dirname(d)
    return shutil.disk_usage(d or "/").free


def physical_memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def check_resources(job: JobSpec, results_path: str, structures_path: str) -> None:
    """Refuse a job whose largest task cannot fit in memory, or whose files cannot fit on disk.

    Memory: the electronic-stage estimate per rank of the largest task (hpc_nc.io.jobs.
    estimate_task_memory_bytes, on ranks_per_task ranks) against this machine's physical
    memory (a rank can use at most a whole node). Disk: the estimated sizes of the files still
    to be written against the free space of their directories. Also refuses unusable output
    paths and a results file that is the structures file. Raises JobFileError (one line).
    """
    from hpc_nc.errors import JobFileError
    from hpc_nc.io.jobs import check_output_path, estimate_task_memory_bytes

    check_output_path("results file", "path", results_path)
    check_output_path("structures file", "path", structures_path)
    if os.path.normpath(os.path.abspath(results_path)) == os.path.normpath(os.path.abspath(structures_path)):
        raise JobFileError(
            f"{job.source}: the results and the structures file are the same file "
            f"({results_path}); give them different paths"
        )
    n_states = job.n_electrons + job.n_holes
    biggest = max(job.tasks, key=lambda t: t.n_atoms)
    need = estimate_task_memory_bytes(biggest.n_atoms, n_states, job.solver.strategy, job.ranks_per_task)
    have = physical_memory_bytes()
    if have and need > have:
        raise JobFileError(
            f"{job.source}: task {biggest.index} ({biggest.key}, {biggest.n_atoms:,} atoms) needs about "
            f"{need / 2**30:,.1f} GiB per rank on {job.ranks_per_task} rank(s), more than this machine's "
            f"{have / 2**30:.1f} GiB of memory (use smaller dots, or more ranks_per_task)"
        )
    results_bytes, structures_bytes = output_size_estimates(job)
    wants = [(results_path, results_bytes)]
    if any(t.model == "STR" for t in job.tasks):
        wants.append((structures_path, structures_bytes))
    need_on: dict[int, list] = {}
    for path, size in wants:
        try:
            size -= os.path.getsize(path) if os.path.isfile(path) else 0  # resuming: already allocated
            free = _free_bytes(path)
            dev = os.stat(
                os.path.dirname(os.path.abspath(path)) if os.path.isdir(os.path.dirname(os.path.abspath(path))) else "/"
            ).st_dev
        except (OSError, ValueError, UnicodeError):
            continue  # the path is checked again when the file is created (one-line error there)
        entry = need_on.setdefault(dev, [0, free, []])
        entry[0] += max(size, 0)
        entry[2].append(path)
    for size, free, paths in need_on.values():
        if size > free:
            raise JobFileError(
                f"{job.source}: the output ({', '.join(paths)}) needs about {size / 2**30:,.2f} GiB, "
                f"but only {free / 2**30:,.2f} GiB are free there"
            )
