"""Distributed PETSc matrices from each rank's local CSR rows (no physics here)."""

from __future__ import annotations

import numpy as np


def aij_from_local_csr(PETSc, comm, indptr, indices, values, n_global: int, d_nnz=None, o_nnz=None):
    """Collective: an assembled square AIJ matrix of n_global rows from each rank's local CSR
    rows (row pointers from 0, global columns; consecutive rank blocks), exactly
    preallocated: from (d_nnz, o_nnz) where given (then an extra nonzero is an error), else
    counted from the CSR itself. comm: petsc4py communicator."""
    indptr = np.asarray(indptr)
    indices = np.asarray(indices)
    n_local = len(indptr) - 1
    mat = PETSc.Mat().create(comm=comm)
    mat.setSizes(((n_local, n_global), (n_local, n_global)))
    mat.setType(PETSc.Mat.Type.AIJ)
    if d_nnz is None:
        rstart = comm.tompi4py().exscan(n_local) or 0  # rows owned by the lower ranks
        rows = np.repeat(np.arange(n_local), np.diff(indptr))
        inside = (indices >= rstart) & (indices < rstart + n_local)
        d_nnz = np.bincount(rows[inside], minlength=n_local)
        o_nnz = np.diff(indptr) - d_nnz
    ityp = PETSc.IntType
    mat.setPreallocationNNZ((np.asarray(d_nnz).astype(ityp), np.asarray(o_nnz).astype(ityp)))
    mat.setOption(PETSc.Mat.Option.NEW_NONZERO_ALLOCATION_ERR, True)
    # setValuesCSR takes local row pointers and global columns for the rows from rstart on.
    mat.setValuesCSR(indptr.astype(ityp), indices.astype(ityp), np.asarray(values).astype(PETSc.ScalarType))
    mat.assemblyBegin()
    mat.assemblyEnd()
    return mat
