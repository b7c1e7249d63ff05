"""Chebyshev-filtered subspace iteration (hpc_nc/solvers/chebyshev.py) and the ``auto`` choice.

The end-to-end answers of the chebyshev strategy against dense eigh (synthetic Kramers
matrix and the real test dots, 1e-8 eV, 1 and 2 ranks) run in test_eigensolver.py, which
runs every physics test on every strategy. Here: the kernels against independent
constructions, equality with davidson on real 2a and 3a dots (1e-8 eV; the bigger sizes
are in benchmarks/bench_eigensolver.py), the completeness check, and ``auto``.
"""

import numpy as np
import pytest

from hpc_nc.errors import HpcNcError
from hpc_nc.physics.alloy import realise_alloy
from hpc_nc.physics.geometry import build_nanocrystal
from hpc_nc.solvers.chebyshev import chebyshev_filter, folded_ritz, gershgorin_bounds, next_cut
from hpc_nc.solvers.sides import one_sided_key

ENERGY_TOL = 1e-8  # eV


def _materials():
    from hpc_nc.physics import materials

    return materials.with_band_offsets(materials.load_materials(), 1.1, 0.34)


# ----------------------------------------------------------------------------- kernels
def test_gershgorin_bounds_contain_the_spectrum_for_any_row_split():
    from hpc_nc.solvers.hamiltonian import hamiltonian_csr

    nc = build_nanocrystal(1.0)
    csr = hamiltonian_csr(nc, realise_alloy(nc, 0.2, 0.3, 4), _materials(), "NSTR")
    w = np.linalg.eigvalsh(csr.toarray())
    parts = []
    for a0, a1 in ((0, 11), (11, nc.n_atoms)):
        rows = csr[10 * a0 : 10 * a1]
        parts.append(gershgorin_bounds(rows.indptr, rows.indices, rows.data, 10 * a0))
    lo, hi = min(p[0] for p in parts), max(p[1] for p in parts)
    assert (lo, hi) == gershgorin_bounds(csr.indptr, csr.indices, csr.data, 0)
    assert lo <= w[0] and w[-1] <= hi
    # the discs of a diagonal matrix are its diagonal
    import scipy.sparse as sp

    d = sp.diags([1.0, -2.0, 5.0]).tocsr()
    assert gershgorin_bounds(d.indptr, d.indices, d.data, 0) == (-2.0, 5.0)


def test_chebyshev_filter_is_the_scaled_chebyshev_polynomial():
    """On a diagonal F the filter multiplies by T_m(ℓ(μ)) / T_m(ℓ(low)) (closed form cosh/cos)."""
    mu = np.linspace(0.0, 10.0, 41)
    X = np.eye(len(mu), dtype=complex)
    cut, top, low, m = 2.0, 10.0, 0.3, 9

    def cheb(x):
        x = np.asarray(x, float)
        out = np.cos(m * np.arccos(np.clip(x, -1, 1)))
        big = np.abs(x) > 1
        out[big] = np.sign(x[big]) ** m * np.cosh(m * np.arccosh(np.abs(x[big])))
        return out

    ell = lambda z: (z - 0.5 * (top + cut)) / (0.5 * (top - cut))  # noqa: E731
    got = np.diag(chebyshev_filter(lambda Z: mu[:, None] * Z, X, m, cut, top, low)).real
    np.testing.assert_allclose(got, cheb(ell(mu)) / cheb(ell(np.array([low])))[0], rtol=1e-10, atol=1e-14)
    damped = mu >= cut
    assert np.abs(got[damped]).max() <= 1.0 / abs(cheb(ell(np.array([low])))[0]) + 1e-14
    assert got[0] > 1.0 > got[5] > np.abs(got[damped]).max()  # 1 at low, falling toward cut, damped beyond
    with pytest.raises(HpcNcError, match="low < cut < top"):
        chebyshev_filter(lambda Z: Z, X, 3, 5.0, 4.0, 0.0)


def test_folded_ritz_in_the_full_space_gives_exact_states_window_first():
    rng = np.random.default_rng(2)
    lam = np.array([-3.3, -2.0, -1.2, 1.1, 1.5, 2.5, 4.0, 7.0])  # distinct |λ − σ| outside the window
    Q, _ = np.linalg.qr(rng.normal(size=(8, 8)) + 1j * rng.normal(size=(8, 8)))
    h = (Q * lam) @ Q.conj().T
    sigma, cut = 0.5, 1.2**2  # window |λ − 0.5| < 1.2: 1.1 and 1.5 only (−1.2 is 1.7 away)
    key = one_sided_key("electron", 0.0)
    theta, Y, n_window, mu_max = folded_ritz(h, h.conj().T @ h, sigma, cut, key)
    assert n_window == 2
    np.testing.assert_allclose(theta[:2], [1.1, 1.5], atol=1e-12)
    np.testing.assert_allclose(np.sort(theta), np.sort(lam), atol=1e-12)
    assert mu_max == pytest.approx((7.0 - sigma) ** 2)
    np.testing.assert_allclose(Y.conj().T @ Y, np.eye(8), atol=1e-12)
    x = Y[:, 0]
    np.testing.assert_allclose(h @ x, 1.1 * x, atol=1e-12)


def test_next_cut_widens_follows_and_stays_below_the_lowest_state():
    d = np.array([2.0, 2.0, 2.1, 2.1])
    r = np.array([1e-3] * 4)
    assert next_cut(d[:2], r[:2], 3.0, 4, 9.0, 50.0) == pytest.approx(4.5)  # too few inside: widen
    assert next_cut(d, np.array([1.0] * 4), 3.0, 4, 9.0, 50.0) == 3.0  # not located yet: keep
    assert next_cut(d, r, 3.0, 4, 2.5, 50.0) == pytest.approx(2.5)  # follow the block's farthest
    assert next_cut(d, r, 3.0, 4, 9.0, 50.0) == pytest.approx(3.6)  # at most 1.8 x the nearest
    assert next_cut(d, r, 3.0, 4, 2.0, 50.0) == pytest.approx(2.101)  # never inside the nev-th + residual


# ----------------------------------------------------------------------------- solver
def _dot_settings(name):
    nc = build_nanocrystal({"2a": 2.0, "3a": 3.0}[name])
    return nc, realise_alloy(nc, 0.0, 0.0, 1)


@pytest.mark.mpi
@pytest.mark.parametrize("name", ["2a", "3a"])
def test_chebyshev_equals_davidson_on_real_dots(petsc, comm, name):
    """8 electrons + 8 holes of pure ZnS dots: the same energies as davidson to 1e-8 eV,
    the same Kramers-closed spaces, identical on every rank."""
    from hpc_nc.physics.tight_binding import time_reversal
    from hpc_nc.pipeline.electronic_stage import band_edge_estimates
    from hpc_nc.solvers.eigensolver import EigenSettings, solve_gap_states
    from hpc_nc.solvers.hamiltonian import assemble_hamiltonian

    nc, alloy = _dot_settings(name)
    mats = _materials()
    vbm, cbm = band_edge_estimates(mats, alloy)
    H = assemble_hamiltonian(comm, nc, alloy, mats, "NSTR")
    try:
        ref = solve_gap_states(comm, H, 8, 8, vbm, cbm, EigenSettings(strategy="davidson"))
        got = solve_gap_states(comm, H, 8, 8, vbm, cbm, EigenSettings(strategy="chebyshev"))
    finally:
        H.destroy()
    np.testing.assert_allclose(got.electron_energies, ref.electron_energies, atol=ENERGY_TOL, rtol=0)
    np.testing.assert_allclose(got.hole_energies, ref.hole_energies, atol=ENERGY_TOL, rtol=0)
    assert got.diagnostics["strategy"] == "chebyshev"
    assert got.diagnostics["verified"] == {"electron": True, "hole": True}
    assert np.all(got.residuals <= got.diagnostics["residual_limit"])
    for vec in (got.electron_vectors, got.hole_vectors):
        np.testing.assert_allclose(vec.conj().T @ vec, np.eye(8), atol=1e-8)
        tv = time_reversal(vec)
        assert np.linalg.norm(tv - vec @ (vec.conj().T @ tv)) < 1e-6
        # the same spaces as davidson's: each level's projector agrees
    # the same spaces as davidson's, level by level; the outermost kept level is left out, since
    # the cut at 8 states may split a degenerate level (ZnS 2a: a 4-fold hole level), where any
    # 2 of its 4 states are an equally right answer (energies compared above)
    for (a, ea), (b, _) in (
        ((got.electron_vectors, got.electron_energies), (ref.electron_vectors, None)),
        ((got.hole_vectors, got.hole_energies), (ref.hole_vectors, None)),
    ):
        last = np.abs(ea - ea[-1]) < 1e-6
        inner = ~last
        s = np.linalg.svd(a[:, inner].conj().T @ b, compute_uv=False)
        assert np.count_nonzero(inner) >= 2 and s.min() > 1 - 1e-6
    mine = np.concatenate([got.electron_energies, got.hole_energies])
    for other in comm.allgather(mine):
        np.testing.assert_array_equal(other, mine)


@pytest.mark.mpi
def test_spectrum_bounds_contain_the_spectrum(petsc, comm):
    from hpc_nc.solvers.block import BlockSpace
    from hpc_nc.solvers.chebyshev import spectrum_bounds
    from hpc_nc.solvers.hamiltonian import assemble_hamiltonian, reference_hamiltonian

    nc = build_nanocrystal(1.5)
    alloy = realise_alloy(nc, 0.3, 0.3, 7)
    w = np.linalg.eigvalsh(reference_hamiltonian(nc, alloy, _materials(), "NSTR").toarray())
    H = assemble_hamiltonian(comm, nc, alloy, _materials(), "NSTR")
    try:
        lo, hi = spectrum_bounds(BlockSpace(comm, H))
    finally:
        H.destroy()
    assert lo <= w[0] and w[-1] <= hi
    assert hi - lo < 1.3 * (w[-1] - w[0])  # much tighter than Gershgorin (about 1.6x here)
    assert comm.allgather((lo, hi)) == [(lo, hi)] * comm.size


@pytest.mark.mpi
def test_check_solve_finds_states_the_main_solve_dropped(petsc, comm, monkeypatch):
    """Sabotage the main hole solve (drop two of the four states of the pure ZnS top hole
    level, leaving 6 >= 4 states that look complete); the deflated check must find them."""
    from hpc_nc.pipeline.electronic_stage import band_edge_estimates
    from hpc_nc.solvers import chebyshev, eigensolver
    from hpc_nc.solvers.hamiltonian import assemble_hamiltonian, reference_hamiltonian

    nc = build_nanocrystal(1.5)
    alloy = realise_alloy(nc, 0.0, 0.0, 1)
    mats = _materials()
    vbm, cbm = band_edge_estimates(mats, alloy)
    w = np.linalg.eigvalsh(reference_hamiltonian(nc, alloy, mats, "NSTR").toarray())
    holes = np.sort(w[w < 0.5 * (vbm + cbm)])[::-1][:4]
    assert holes[3] - holes[0] > -1e-9  # the top hole level is 4-fold

    real = chebyshev.block_chebyshev
    calls = []

    def sabotaged(*args, **kw):
        theta, X, resid, its, cut = real(*args, **kw)
        calls.append(kw.get("deflation") is None)
        if len(calls) == 1:  # the main solve: lose two members of the 4-fold level
            return theta[2:], np.asfortranarray(X[:, 2:]), resid[2:], its, cut
        return theta, X, resid, its, cut

    monkeypatch.setattr(chebyshev, "block_chebyshev", sabotaged)
    H = assemble_hamiltonian(comm, nc, alloy, mats, "NSTR")
    try:
        gs = eigensolver.solve_gap_states(
            comm, H, 0, 4, vbm, cbm, eigensolver.EigenSettings(strategy="chebyshev", extra_states=4)
        )
    finally:
        H.destroy()
    np.testing.assert_allclose(gs.hole_energies, holes, atol=ENERGY_TOL)
    assert calls == [True, False, False, False]  # main, loose check, full check (merge), check
    assert gs.diagnostics["verified"]["hole"] and gs.diagnostics["rounds"]["hole"] == 3


# ----------------------------------------------------------------------------- auto
def test_auto_picks_the_fastest_that_fits_and_the_smallest_otherwise():
    from hpc_nc.solvers import cost
    from hpc_nc.solvers.eigensolver import EigenSettings, resolve_strategy

    gib = 1024.0**3
    small, huge = 2000, 113_023
    # small dots: davidson is predicted faster and fits
    assert cost.predict("davidson", small)[0] < cost.predict("chebyshev", small)[0]
    assert cost.choose_strategy(small, 16, 1, 8 * gib) == "davidson"
    # a budget below davidson's prediction but above chebyshev's: chebyshev
    d_mem, c_mem = cost.predict("davidson", huge)[1], cost.predict("chebyshev", huge)[1]
    assert c_mem < d_mem
    assert cost.choose_strategy(huge, 16, 1, 0.5 * (c_mem + d_mem)) == "chebyshev"
    assert cost.choose_strategy(huge, 16, 1, 0.5 * c_mem) == "chebyshev"  # nothing fits: least memory
    # resolve_strategy replaces only auto
    s = resolve_strategy(EigenSettings(), 10 * small, 16, 1, 8 * gib)
    assert s.strategy == "davidson"
    assert resolve_strategy(EigenSettings(strategy="harmonic"), 10, 16, 1, 1.0).strategy == "harmonic"
    assert EigenSettings().strategy == "auto"
