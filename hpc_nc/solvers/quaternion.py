"""Time-reversal (Kramers) structured subspaces: numpy kernels for the block eigensolvers.

H commutes with the antiunitary time reversal T = iσ_y K (T² = −1; no magnetic field), so a
search space can be kept T-invariant: V = [U, T U] with [U, T U] orthonormal. Only U and
H U are stored; everything about T U follows from three identities of an antiunitary T
(⟨Tx, Ty⟩ = conj⟨x, y⟩, ⟨x, Ty⟩ = −⟨y, Tx⟩, ⟨x, Tx⟩ = 0) and H T = T H:

    Vᴴ H V = [[a, b], [−conj b, conj a]],   a = Uᴴ H U (Hermitian),  b = Uᴴ T(H U) (bᵀ = −b)

and the same for (H V)ᴴ (H V) with g = (HU)ᴴ (HU), h = (HU)ᴴ T(HU). A coefficient vector
c = [c₁; c₂] of V c = U c₁ + T U c₂ has its time-reversed partner T(V c) = V τ(c) with
τ(c) = [−conj c₂; conj c₁]. Products with T U are products with U and one application of
T: T U c₂ = T(U conj c₂). So projections, Gram matrices and products cost half of what
the same space costs unstructured, and the Ritz values come in exact Kramers pairs.
(The structure is that of quaternion matrices; Dongarra, Gabriel, Koelling & Wilkinson,
Linear Algebra Appl. 60, 27 (1984), give the quaternion Householder reduction; here only
the Gram–Schmidt form is needed.)

Everything here is plain numpy on small coefficient matrices; hpc_nc/solvers/davidson.py
(``block_davidson``) uses it on distributed blocks.
"""

from __future__ import annotations

import numpy as np


def tau(c: np.ndarray) -> np.ndarray:
    """Coefficients of the time-reversed vectors: V τ(c) = T(V c) for V = [U, T U];
    c has 2q rows (one column or several)."""
    q = c.shape[0] // 2
    return np.concatenate([-np.conj(c[q:]), np.conj(c[:q])], axis=0)


def quaternion_full(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 2q x 2q matrix [[a, b], [−conj b, conj a]] of a T-invariant pair of blocks."""
    return np.block([[a, b], [-np.conj(b), np.conj(a)]])


#: Least relative norm a column keeps in a Gram–Schmidt done in a (non-identity) metric:
#: there norms come from cᴴ M c, whose rounding leaves a column already in the span with a
#: norm of ~sqrt(ε) ≈ 1e-8, not ε, so the drop level must sit well above it (a level of 1e-8
#: kept such noise as spurious directions; benchmarks/RESULTS.md, davidson section).
METRIC_DROP = 1e-6


def structured_pairs(
    candidates: np.ndarray,
    metric: np.ndarray | None = None,
    count: int | None = None,
    drop: float = 1e-8,
    floor: float = 0.0,
) -> np.ndarray:
    """Greedy Kramers-structured Gram–Schmidt of coefficient vectors.

    candidates: (2q, k) coefficient vectors over a basis [B, T B] whose Gram matrix is
    ``metric`` (None: orthonormal basis), which must have the form of :func:`quaternion_full`.
    Returns Q (2q, r): the columns taken in order, each made orthogonal (in the metric) to
    every earlier q and τ(q) and normalised; a candidate keeping less than ``drop`` of its
    norm, or a norm below ``floor``, is skipped (its direction is already in the span, to
    rounding; with a ``metric``, at least METRIC_DROP). Then [Q, τ(Q)] is orthonormal
    in the metric. Stops after ``count`` columns when given. Two Gram–Schmidt passes per
    column (twice is enough). Pure.
    """
    dim = candidates.shape[0]
    M = np.eye(dim) if metric is None else metric
    if metric is not None:
        drop = max(drop, METRIC_DROP)
    taken: list[np.ndarray] = []  # q and τ(q), interleaved
    out: list[np.ndarray] = []
    for j in range(candidates.shape[1]):
        if count is not None and len(out) >= count:
            break
        c = candidates[:, j].astype(np.complex128)
        norm0 = np.sqrt(max(float(np.real(np.vdot(c, M @ c))), 0.0))
        if norm0 == 0.0:
            continue
        for _ in range(2):
            for t in taken:
                c = c - t * np.vdot(t, M @ c)
        norm = np.sqrt(max(float(np.real(np.vdot(c, M @ c))), 0.0))
        if norm <= max(drop * norm0, floor):
            continue
        q = c / norm
        # τ(q) is normalised and orthogonal to q in the metric because T is antiunitary
        taken += [q, tau(q[:, None])[:, 0]]
        out.append(q)
    return np.array(out).T.reshape(dim, len(out))
