"""Block Davidson kernels (hpc_nc/solvers/davidson.py) and its completeness check.

The end-to-end answers of the davidson strategy (energies equal to dense eigh to 1e-8 eV on
real dots and a synthetic Kramers matrix, on 1 and 2 ranks) are in test_eigensolver.py,
which runs every physics test on every strategy. Here: the pieces, each against an
independent construction.
"""

import numpy as np
import pytest

from hpc_nc.physics.alloy import realise_alloy
from hpc_nc.physics.geometry import build_nanocrystal
from hpc_nc.physics.tight_binding import time_reversal
from hpc_nc.solvers.davidson import (
    from_spin_columns,
    harmonic_ritz,
    kramers_selection,
    spin_orbit_free_rows,
    start_block,
    to_spin_columns,
)


def _materials():
    from hpc_nc.physics import materials

    return materials.with_band_offsets(materials.load_materials(), 1.1, 0.34)


def _alloy_h(radius=1.5, seed=4):
    from hpc_nc.solvers.hamiltonian import hamiltonian_csr

    nc = build_nanocrystal(radius)
    alloy = realise_alloy(nc, 0.2, 0.3, seed)
    return nc, hamiltonian_csr(nc, alloy, _materials(), "NSTR")


def _k_dense(csr):
    """H₀ (one spin, no spin-orbit) built independently: real part of the up-up block."""
    n = csr.shape[0]
    up = np.flatnonzero(np.arange(n) % 10 < 5)
    return np.real(csr.toarray()[np.ix_(up, up)])


# ----------------------------------------------------------------------------- kernels
def test_spin_orbit_free_rows_is_the_spin_independent_part_of_h():
    nc, csr = _alloy_h()
    dense = csr.toarray()
    k_dense = _k_dense(csr)
    # For any row split in whole atoms the kernel gives the same rows.
    for a0, a1 in ((0, nc.n_atoms), (0, 7), (7, nc.n_atoms)):
        rows = csr[10 * a0 : 10 * a1]
        ptr, cols, vals = spin_orbit_free_rows(rows.indptr, rows.indices, rows.data, 10 * a0)
        import scipy.sparse as sp

        got = sp.csr_matrix((vals, cols, ptr), shape=(5 * (a1 - a0), 5 * nc.n_atoms)).toarray()
        np.testing.assert_array_equal(got, k_dense[5 * a0 : 5 * a1])
    # H − H₀⊗1 is Chadi's spin-orbit only: on-site, p orbitals, and it is not zero.
    h0_both = np.zeros_like(dense)
    n = dense.shape[0]
    up = np.flatnonzero(np.arange(n) % 10 < 5)
    h0_both[np.ix_(up, up)] = k_dense
    h0_both[np.ix_(up + 5, up + 5)] = k_dense
    rest = dense - h0_both
    r, c = np.nonzero(np.abs(rest) > 1e-14)
    assert len(r) > 0
    assert np.all(r // 10 == c // 10)  # same atom
    assert np.all(np.isin(r % 5, (1, 2, 3)) & np.isin(c % 5, (1, 2, 3)))  # p orbitals
    np.testing.assert_allclose(k_dense, k_dense.T, atol=0)  # real symmetric: LDLᵀ is valid


def test_spin_orbit_free_rows_equals_h_built_without_spin_orbit():
    """Independent construction: the loop reference builder with every Δ set to 0 gives a
    spin-diagonal H with two equal blocks, each equal to the kernel's rows of the full H."""
    import dataclasses

    import scipy.sparse as sp

    from hpc_nc.solvers.hamiltonian import reference_hamiltonian

    nc, csr = _alloy_h()
    alloy = realise_alloy(nc, 0.2, 0.3, 4)
    no_so = {k: dataclasses.replace(m, delta_anion=0.0, delta_cation=0.0) for k, m in _materials().items()}
    h0 = reference_hamiltonian(nc, alloy, no_so, "NSTR").toarray()
    n = h0.shape[0]
    up = np.flatnonzero(np.arange(n) % 10 < 5)
    assert np.abs(h0[np.ix_(up, up + 5)]).max() == 0  # no spin mixing
    np.testing.assert_array_equal(h0[np.ix_(up, up)], h0[np.ix_(up + 5, up + 5)])
    assert np.abs(h0.imag).max() == 0
    ptr, cols, vals = spin_orbit_free_rows(csr.indptr, csr.indices, csr.data, 0)
    got = sp.csr_matrix((vals, cols, ptr), shape=(n // 2, n // 2)).toarray()
    np.testing.assert_allclose(got, h0[np.ix_(up, up)].real, atol=1e-13)


def test_spin_orbit_free_rows_rejects_partial_atoms():
    from hpc_nc.errors import HpcNcError

    _, csr = _alloy_h()
    rows = csr[:15]
    with pytest.raises(HpcNcError, match="whole atoms"):
        spin_orbit_free_rows(rows.indptr, rows.indices, rows.data, 0)


def test_spin_columns_round_trip_and_preconditioner_commutes_with_time_reversal():
    _, csr = _alloy_h()
    k = _k_dense(csr) - 2.0 * np.eye(_k_dense(csr).shape[0])
    rng = np.random.default_rng(0)
    r = rng.normal(size=(csr.shape[0], 3)) + 1j * rng.normal(size=(csr.shape[0], 3))
    np.testing.assert_array_equal(from_spin_columns(to_spin_columns(r)), r)

    def k_inv(x):
        return from_spin_columns(np.linalg.solve(k, to_spin_columns(x)))

    # K⁻¹ T r = T K⁻¹ r: the identity that lets one solve serve a Kramers pair.
    np.testing.assert_allclose(k_inv(time_reversal(r)), time_reversal(k_inv(r)), atol=1e-10)


def test_start_block_does_not_depend_on_the_row_partition():
    whole = start_block(7, 0, 100, 6)
    np.testing.assert_array_equal(np.vstack([start_block(7, 0, 40, 6), start_block(7, 40, 60, 6)]), whole)
    assert not np.array_equal(start_block(8, 0, 100, 6), whole)
    assert abs(whole.real).max() <= 0.5 and abs(whole.imag).max() <= 0.5 and whole.flags.f_contiguous


def test_kramers_selection_takes_one_member_per_pair():
    rng = np.random.default_rng(1)
    n = 200
    a, b, c = (rng.normal(size=n) + 1j * rng.normal(size=n) for _ in range(3))
    R = np.column_stack([a, time_reversal(a), b, 0.3 * a - 2.0 * time_reversal(b), c])
    RT = np.hstack([R, time_reversal(R)])
    chosen = kramers_selection(RT.conj().T @ RT)
    np.testing.assert_array_equal(chosen, [0, 2, 4])
    # span(S, T S) holds every column of R
    S = R[:, chosen]
    basis, _ = np.linalg.qr(np.hstack([S, time_reversal(S)]))
    assert np.linalg.norm(R - basis @ (basis.conj().T @ R)) < 1e-10


def test_harmonic_ritz_in_the_full_space_gives_the_exact_states_by_key():
    rng = np.random.default_rng(2)
    m = 30
    q, _ = np.linalg.qr(rng.normal(size=(m, m)) + 1j * rng.normal(size=(m, m)))
    w = np.sort(np.concatenate([rng.uniform(-5, -1, 15), rng.uniform(1, 5, 15)]))
    h = (q * w) @ q.conj().T
    boundary, sigma = 0.0, 0.9
    key = lambda lam: (0 if lam > boundary else 1, abs(lam - boundary))  # noqa: E731
    Y, theta, Z = harmonic_ritz(h, h.conj().T @ h, sigma, key, 5)  # V = identity
    np.testing.assert_allclose(theta, w[w > 0][:5], atol=1e-12)
    np.testing.assert_allclose(Y.conj().T @ Y, np.eye(5), atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(h @ Y - Y * theta, axis=0), 0, atol=1e-10)
    assert Z.shape == (m, m)


def test_blas_threads_restores_the_thread_count():
    from hpc_nc.parallel.petsc_build import _openblas, blas_threads

    lib = _openblas()
    if lib is None:
        pytest.skip("this process has no OpenBLAS loaded")
    before = lib.openblas_get_num_threads()
    with blas_threads(1):
        assert lib.openblas_get_num_threads() == 1
    assert lib.openblas_get_num_threads() == before


# ----------------------------------------------------------------------------- completeness
@pytest.mark.mpi
@pytest.mark.parametrize("kramers_space", [True, False])
def test_check_solve_finds_states_the_main_solve_dropped(petsc, comm, monkeypatch, kramers_space):
    """Sabotage the main solve (T-invariant space or not) (4 holes + 4 look-ahead asked; drop two of the four states of
    the pure ZnS top hole level, leaving 6 >= 4 states that look complete); the deflated
    check must find the two, merge them and then verify."""
    from hpc_nc.pipeline.electronic_stage import band_edge_estimates
    from hpc_nc.solvers import davidson, eigensolver
    from hpc_nc.solvers.hamiltonian import assemble_hamiltonian, reference_hamiltonian

    nc = build_nanocrystal(1.5)
    alloy = realise_alloy(nc, 0.0, 0.0, 1)
    mats = _materials()
    vbm, cbm = band_edge_estimates(mats, alloy)
    w = np.linalg.eigvalsh(reference_hamiltonian(nc, alloy, mats, "NSTR").toarray())
    holes = np.sort(w[w < 0.5 * (vbm + cbm)])[::-1][:4]
    assert holes[3] - holes[0] > -1e-9  # the top hole level is 4-fold

    name = "block_davidson_kramers" if kramers_space else "block_davidson"
    real = getattr(davidson, name)
    calls = []

    def sabotaged(ops, nev, sigma, key, res_limit, **kw):
        theta, X, resid, its = real(ops, nev, sigma, key, res_limit, **kw)
        calls.append(kw.get("deflation") is None)
        if len(calls) == 1:  # the main solve: lose two members of the 4-fold level
            return theta[2:], np.asfortranarray(X[:, 2:]), resid[2:], its
        return theta, X, resid, its

    monkeypatch.setattr(davidson, name, sabotaged)
    H = assemble_hamiltonian(comm, nc, alloy, mats, "NSTR")
    try:
        gs = eigensolver.solve_gap_states(
            comm,
            H,
            0,
            4,
            vbm,
            cbm,
            eigensolver.EigenSettings(strategy="davidson", extra_states=4, kramers_space=kramers_space),
        )
    finally:
        H.destroy()
    np.testing.assert_allclose(gs.hole_energies, holes, atol=1e-8)
    assert calls == [True, False, False, False]  # main, loose check, full check (merge), check
    assert gs.diagnostics["verified"]["hole"] and gs.diagnostics["rounds"]["hole"] == 3


@pytest.mark.mpi
def test_seed_changes_every_start_block_but_not_the_states(petsc, comm, monkeypatch):
    """EigenSettings.seed moves the main and the check solves to other random starts (the
    15a check run uses it); the energies agree to 1e-8 eV, on 1 and 2 ranks."""
    from hpc_nc.pipeline.electronic_stage import band_edge_estimates
    from hpc_nc.solvers import davidson, eigensolver
    from hpc_nc.solvers.hamiltonian import assemble_hamiltonian

    nc = build_nanocrystal(2.0)
    alloy = realise_alloy(nc, 0.0, 0.0, 1)
    mats = _materials()
    vbm, cbm = band_edge_estimates(mats, alloy)
    seeds = []
    real = davidson.start_block

    def recording(seed, *args, **kw):
        seeds.append(seed)
        return real(seed, *args, **kw)

    monkeypatch.setattr(davidson, "start_block", recording)
    H = assemble_hamiltonian(comm, nc, alloy, mats, "NSTR")
    out = {}
    try:
        for seed in (1, 5):
            seeds.clear()
            gs = eigensolver.solve_gap_states(comm, H, 4, 4, vbm, cbm, eigensolver.EigenSettings(seed=seed))
            out[seed] = (gs, list(seeds))
    finally:
        H.destroy()
    # main solve and check rounds of both sides (>= 4 starts), every one shifted by seed - 1
    assert out[1][1][0] == 1 and len(out[1][1]) >= 4
    assert out[5][1] == [s + 4 for s in out[1][1]]
    for f in ("electron_energies", "hole_energies"):
        np.testing.assert_allclose(getattr(out[5][0], f), getattr(out[1][0], f), atol=1e-8, rtol=0)


def test_better_target_moves_only_when_far_and_known():
    from hpc_nc.solvers.davidson import _better_target

    theta = np.array([3.64, 3.64, 3.78, 3.78, 3.79, 3.79, 3.80, 3.80])  # electrons, key order
    # dilute alloy: bulk estimate 2.44 eV, states near 3.64 eV -> move to 3.64 - 0.04 (gap side)
    assert _better_target(theta, 1e-2, 2.44, 1.77) == pytest.approx(3.64 - 0.25 * 0.16)
    assert _better_target(theta, 0.5, 2.44, 1.77) is None  # θ₁ not known well enough yet
    assert _better_target(theta, 1e-3, 3.60, 1.77) is None  # already close: keep the factorisation
    holes = np.array([0.54, 0.54, 0.53, 0.53, 0.49, 0.49, 0.48, 0.48])
    assert _better_target(holes, 1e-3, 1.1, 1.77) == pytest.approx(0.54 + 0.25 * 0.06)  # gap side is up


@pytest.mark.mpi
@pytest.mark.parametrize(
    "radius, shell, x_cu, x_in",
    [(2.0, 0.0, 0.0, 0.0), (3.0, 0.0, 0.0, 0.0), (1.0, 2.0, 0.5, 0.0), (1.5, 1.5, 0.1, 0.3)],
    ids=["ZnS-2a", "ZnS-3a", "CuZnS-core-1a+2a", "alloy-1.5a+1.5a"],
)
def test_kramers_space_equals_the_unstructured_space(petsc, comm, radius, shell, x_cu, x_in):
    """The time-reversal invariant search space (default) gives the same 8 + 8 energies as the
    unstructured one to 1e-8 eV, exact Kramers pairs, residuals below the limit, and
    Kramers-closed returned spaces; on 1 and 2 ranks alike (mpirun -n 2 runs this too).
    The alloyed core/shell dots have targets far from the states (bulk CuS/InS edges), so
    the moved-target path runs too."""
    from hpc_nc.pipeline.electronic_stage import band_edge_estimates
    from hpc_nc.solvers.eigensolver import EigenSettings, solve_gap_states
    from hpc_nc.solvers.hamiltonian import assemble_hamiltonian

    nc = build_nanocrystal(radius, shell)
    alloy = realise_alloy(nc, x_cu, x_in, 3)
    mats = _materials()
    vbm, cbm = band_edge_estimates(mats, alloy)
    H = assemble_hamiltonian(comm, nc, alloy, mats, "NSTR")
    try:
        ref = solve_gap_states(comm, H, 8, 8, vbm, cbm, EigenSettings(strategy="davidson", kramers_space=False))
        got = solve_gap_states(comm, H, 8, 8, vbm, cbm, EigenSettings(strategy="davidson", kramers_space=True))
    finally:
        H.destroy()
    np.testing.assert_allclose(got.electron_energies, ref.electron_energies, atol=1e-8, rtol=0)
    np.testing.assert_allclose(got.hole_energies, ref.hole_energies, atol=1e-8, rtol=0)
    assert got.diagnostics["verified"] == {"electron": True, "hole": True}
    assert np.all(got.residuals <= got.diagnostics["residual_limit"])
    for energies, vec in ((got.electron_energies, got.electron_vectors), (got.hole_energies, got.hole_vectors)):
        np.testing.assert_allclose(energies[0::2], energies[1::2], atol=1e-12)  # exact pairs
        np.testing.assert_allclose(vec.conj().T @ vec, np.eye(8), atol=1e-8)
        tv = time_reversal(vec)
        assert np.linalg.norm(tv - vec @ (vec.conj().T @ tv)) < 1e-6
