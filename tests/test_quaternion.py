"""Kramers-structured subspaces (hpc_nc/solvers/quaternion.py) against explicit matrices."""

import numpy as np
import pytest

from hpc_nc.physics.tight_binding import time_reversal
from hpc_nc.solvers.quaternion import quaternion_full, structured_pairs, tau

N_ATOMS = 6
DIM = 10 * N_ATOMS  # rows (atom, spin, orbital) as time_reversal expects


def _t_invariant_hermitian(rng):
    """A random Hermitian H with T H = H T: (X + T X T⁻¹)/2, T X T⁻¹ = S conj(X) S⁻¹."""
    X = rng.normal(size=(DIM, DIM)) + 1j * rng.normal(size=(DIM, DIM))
    X = X + X.conj().T
    S = time_reversal(np.eye(DIM)).real  # T v = S conj(v)
    H = 0.5 * (X + S @ X.conj() @ np.linalg.inv(S))
    assert np.allclose(H @ time_reversal(np.eye(DIM)[:, :3]), time_reversal(H @ np.eye(DIM)[:, :3]))
    return H


def _random_block(rng, k):
    return rng.normal(size=(DIM, k)) + 1j * rng.normal(size=(DIM, k))


def test_projected_matrices_have_the_quaternion_form():
    """Vᴴ H V for V = [U, T U] equals quaternion_full(Uᴴ H U, Uᴴ T(H U)), any U."""
    rng = np.random.default_rng(3)
    H = _t_invariant_hermitian(rng)
    U = _random_block(rng, 5)
    V = np.hstack([U, time_reversal(U)])
    a, b = U.conj().T @ H @ U, U.conj().T @ time_reversal(H @ U)
    np.testing.assert_allclose(V.conj().T @ H @ V, quaternion_full(a, b), atol=1e-10)
    np.testing.assert_allclose(b, -b.T, atol=1e-10)  # antisymmetric
    # τ: the coefficients of the time-reversed vector
    c = rng.normal(size=(10, 2)) + 1j * rng.normal(size=(10, 2))
    np.testing.assert_allclose(V @ tau(c), time_reversal(V @ c), atol=1e-12)


def test_structured_pairs_orthonormal_in_a_metric_and_drops_partners():
    rng = np.random.default_rng(4)
    P = _random_block(rng, 4)
    B = np.hstack([P, time_reversal(P)])
    M = B.conj().T @ B
    Q = structured_pairs(np.eye(8, 4), metric=M)
    assert Q.shape == (8, 4)
    Pn = P @ Q[:4] + time_reversal(P) @ Q[4:]
    Vn = np.hstack([Pn, time_reversal(Pn)])
    np.testing.assert_allclose(Vn.conj().T @ Vn, np.eye(8), atol=1e-12)
    # the span is kept: every original column lies in span(Vn)
    np.testing.assert_allclose(Vn @ (Vn.conj().T @ P), P, atol=1e-10)
    # over an orthonormal [u, T u]: the second and third candidates lie in span(q, τ(q)) of
    # the first (the partner itself, and a combination), so only the first is taken
    cands = np.column_stack([[1, 0], [0, 1], [1, 1j]]).astype(complex)
    q = structured_pairs(cands)
    assert q.shape == (2, 1)
    np.testing.assert_allclose(tau(q)[:, 0], [0, 1], atol=1e-15)


@pytest.mark.parametrize("k", [1, 3])
def test_structured_pairs_count_and_order(k):
    rng = np.random.default_rng(5)
    C = np.linalg.qr(rng.normal(size=(12, 12)) + 1j * rng.normal(size=(12, 12)))[0]
    Q = structured_pairs(C, count=k)
    assert Q.shape == (12, k)
    S = np.hstack([Q, tau(Q)])
    np.testing.assert_allclose(S.conj().T @ S, np.eye(2 * k), atol=1e-12)
    # the first column is the first candidate itself (already normalised)
    np.testing.assert_allclose(Q[:, 0], C[:, 0], atol=1e-12)


def test_kramers_orthonormalize_ignores_gram_rounding_noise():
    """Kramers pairs [x, T x] (4 pairs, every partner exactly T x) with Gram matrices carrying 1e-14 of rounding
    noise (what a sum over ~10⁴-10⁵ rows gives) span exactly 4 representatives. Gram–Schmidt
    in a metric sees a dependent column with a norm of ~sqrt(1e-14) = 1e-7, so the old drop
    level 1e-8 kept 1-4 spurious unit directions here (in a Fig. 12 task they were deflated
    away and the check solve stagnated); METRIC_DROP = 1e-6 must drop them."""
    import types

    from hpc_nc.solvers import davidson

    rng = np.random.default_rng(1)

    def noisy_gram(X, Y):
        G = X.conj().T @ Y
        return G + 1e-14 * (rng.normal(size=G.shape) + 1j * rng.normal(size=G.shape))

    ops = types.SimpleNamespace(agree=lambda o: o, column_norms=lambda X: np.linalg.norm(X, axis=0), gram=noisy_gram)
    for _ in range(30):
        reps = _random_block(rng, 4)  # [x, T x] of 4 random x: 8 independent directions
        X = np.empty((DIM, 8), dtype=complex)
        X[:, 0::2], X[:, 1::2] = reps, time_reversal(reps)
        B = davidson._kramers_orthonormalize(ops, X, [])
        assert B.shape[1] == 4
        V = np.hstack([B, time_reversal(B)])
        assert np.linalg.norm(X - V @ (V.conj().T @ X)) < 1e-10
