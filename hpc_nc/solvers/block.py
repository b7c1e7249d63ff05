"""Distributed block-vector operations shared by the block eigensolvers (davidson, chebyshev).

A block is a numpy array of this rank's rows (n_local, k) of k vectors of length 10N; rows
are owned in whole atoms, in the row ownership of the PETSc matrix H. Products with H go
through PETSc (MatMatMult of the MPIAIJ H with a dense block sharing the numpy memory);
inner products are local BLAS calls summed over the ranks. Every small dense result that
steers a decision is taken from rank 0 (:meth:`BlockSpace.agree`), so all ranks take the
same branch and the result does not depend on the number of ranks beyond round-off.

Kernels here are plain numpy (:func:`start_block`, :func:`kramers_selection`);
:class:`BlockSpace` holds the distributed parts with ``comm`` explicit.
docs/design.md (eigensolver strategies) describes the strategies built on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from hpc_nc.errors import HpcNcError
from hpc_nc.parallel.rng import uniform_for_sites
from hpc_nc.physics.tight_binding import time_reversal

_T = TypeVar("_T")

N_SPIN_ORB = 10  # rows per atom: (spin, orbital) with 5 orbitals sp3s*


# ----------------------------------------------------------------------------- numpy kernels
def start_block(seed: int, row_start: int, n_rows: int, k: int) -> np.ndarray:
    """(n_rows, k) complex random block that depends only on (seed, global row, column),
    so the start, and hence the result, does not depend on the number of ranks."""
    rows = np.arange(row_start, row_start + n_rows, dtype=np.uint64)[:, None]
    ids = rows * np.uint64(2 * k) + np.arange(2 * k, dtype=np.uint64)[None, :]
    u = uniform_for_sites(seed, ids.ravel()).reshape(n_rows, 2 * k) - 0.5
    return np.asfortranarray(u[:, :k] + 1j * u[:, k:])


def kramers_selection(gram: np.ndarray, drop: float = 0.3) -> np.ndarray:
    """Greedy choice of Kramers representatives from the Gram matrix of [R, T R] (2k x 2k).

    T = iσ_y K commutes with H and with K⁻¹ (K is real and spin-independent), so
    K⁻¹ T r = T K⁻¹ r: one solve gives the expansion vectors of both members of a pair.
    Column j of R (in order) is taken when more than ``drop`` of its norm lies outside the
    span of the columns already taken and their partners. Returns the taken indices.
    """
    k = gram.shape[0] // 2
    d = np.sqrt(np.maximum(np.real(np.diag(gram)), 0.0))
    scale = np.where(d > 0, 1.0 / np.where(d > 0, d, 1.0), 0.0)
    M = gram * scale[:, None] * scale[None, :]
    chosen: list[int] = []
    for j in range(k):
        if d[j] == 0:
            continue
        S = chosen + [c + k for c in chosen]
        rest2 = 1.0
        if S:
            c = np.linalg.lstsq(M[np.ix_(S, S)], M[S, j], rcond=1e-12)[0]
            rest2 = float(np.real(M[j, j] - M[j, S] @ c))
        if rest2 > drop**2:
            chosen.append(j)
    return np.array(chosen, dtype=int)


# ----------------------------------------------------------------------------- distributed
class BlockSpace:
    """Products with H, inner products and orthonormalisation on local row blocks (numpy).

    H: complex Hermitian PETSc Mat (eV), rows owned in whole atoms; comm: its mpi4py
    communicator. Holds no copy of H; memory is the caller's blocks only.
    """

    def __init__(self, comm, H):
        from hpc_nc.parallel.petsc_build import select_build

        self.PETSc, _ = select_build("complex")
        self.comm = comm
        self.H = H
        self.row_start, row_stop = H.getOwnershipRange()
        self.n_local = row_stop - self.row_start
        self.n_global = H.getSize()[0]
        if self.row_start % N_SPIN_ORB or self.n_local % N_SPIN_ORB:
            raise HpcNcError("the block eigensolvers need H's rows owned in whole atoms")
        self.n_mults = 0

    def _dense(self, X: np.ndarray, n_global: int):
        """A distributed dense Mat on this rank's rows of X (column-major, shares X's memory)."""
        PETSc = self.PETSc
        return PETSc.Mat().createDense(
            ((X.shape[0], n_global), (PETSc.DECIDE, X.shape[1])), array=X, comm=self.H.getComm()
        )

    def _sum(self, local: np.ndarray) -> np.ndarray:
        """Elementwise sum over the ranks (identical on every rank)."""
        from mpi4py import MPI

        local = np.ascontiguousarray(local)
        out = np.empty_like(local)
        self.comm.Allreduce(local, out, op=MPI.SUM)
        return out

    def hmult(self, X: np.ndarray) -> np.ndarray:
        """H X for a local block X (n_local, k)."""
        X = np.asfortranarray(X)
        Xm = self._dense(X, self.n_global)
        Ym = self.H.matMult(Xm)
        Y = np.array(Ym.getDenseArray())
        Xm.destroy()
        Ym.destroy()
        self.n_mults += X.shape[1]
        return Y

    def gram(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Xᴴ Y summed over the ranks (identical on every rank). zgemm with a conjugate-
        transpose flag: numpy's X.conj().T @ Y would first copy the conjugate of X."""
        from scipy.linalg.blas import zgemm

        if X.shape[1] == 0 or Y.shape[1] == 0:
            return np.zeros((X.shape[1], Y.shape[1]), dtype=np.complex128)
        return self._sum(zgemm(1.0, X, Y, trans_a=2))

    def column_norms(self, X: np.ndarray) -> np.ndarray:
        return np.sqrt(self._sum(np.sum(np.abs(X) ** 2, axis=0)))

    def agree(self, obj: _T) -> _T:
        """Rank 0's copy of a small result, so every rank takes the same decisions."""
        return self.comm.bcast(obj, root=0)

    def orthonormalize(self, T: np.ndarray, bases: Sequence[np.ndarray | None]) -> np.ndarray:
        """Columns of T orthogonal to every (orthonormal) block in ``bases`` and to each other;
        directions already in their span (relative norm < 1e-8) are dropped."""
        norms = self.agree(self.column_norms(T))
        T = np.asfortranarray(T[:, norms > 0] / norms[norms > 0])
        for _ in range(2):  # twice is enough (Giraud et al., Numer. Math. 101, 87 (2005))
            for B in bases:
                if B is not None and B.shape[1]:
                    T -= B @ self.gram(B, T)
            w, U = np.linalg.eigh(self.gram(T, T))
            w, U = self.agree((w, U))
            keep = w > 1e-16 * max(1.0, w.max(initial=0.0))
            T = T @ (U[:, keep] / np.sqrt(w[keep]))
        return np.asfortranarray(T)

    def kramers_representatives(self, R: np.ndarray, drop: float = 0.3) -> np.ndarray:
        """Indices of columns S of R such that span(S, T S) holds span(R) (see
        :func:`kramers_selection`); one Gram matrix of [R, T R], the rest is small."""
        RT = np.hstack([R, time_reversal(R)])
        return kramers_selection(self.agree(self.gram(RT, RT)), drop)

    def gather_rows(self, X: np.ndarray) -> np.ndarray:
        """Full copy on every rank of a row-distributed block (rank order = ownership order)."""
        return np.concatenate(self.comm.allgather(np.ascontiguousarray(X)), axis=0)

    def destroy(self) -> None:
        """Nothing to free here; subclasses free their PETSc objects."""
