"""Single-particle observables on synthetic tight-binding states of a zinc-blende dot."""

import numpy as np
import pytest

from hpc_nc.physics import observables as obs
from hpc_nc.physics.geometry import build_nanocrystal


@pytest.fixture(scope="module")
def dot():
    return build_nanocrystal(1.5, 1.0)


def _state(envelope, rng, n_atoms):
    """Normalised (10N,) vector: envelope(atom) times a random complex 10-spinor per atom."""
    v = envelope[:, None] * (rng.normal(size=(n_atoms, 10)) + 1j * rng.normal(size=(n_atoms, 10)))
    v = v.ravel()
    return v / np.linalg.norm(v)


def test_time_reversal_is_kramers(dot):
    rng = np.random.default_rng(0)
    psi = _state(np.ones(dot.n_atoms), rng, dot.n_atoms)[:, None]
    t = obs.time_reversal(psi)
    assert np.allclose(obs.time_reversal(t), -psi, atol=1e-15)  # T^2 = -1
    assert abs(np.vdot(psi, t)) < 1e-15  # Kramers partners are orthogonal
    assert np.allclose(obs.atom_densities(psi), obs.atom_densities(t), atol=1e-15)


def test_radial_densities_normalised_and_peak_at_shell(dot):
    r = dot.radii
    r0 = 9.0  # Angstrom, a thin shell of atoms around this radius
    rho = np.exp(-0.5 * ((r - r0) / 0.6) ** 2)
    rho /= rho.sum()
    grid = obs.radial_grid(dot.total_radius + 3.0, 300)
    dr = grid[1] - grid[0]
    layer = obs.layer_density(dot.positions, rho, grid)
    env = obs.envelope_density(dot.positions, rho, grid)
    assert layer.sum() * dr == pytest.approx(1.0, abs=1e-12)
    assert env.sum() * dr == pytest.approx(1.0, abs=1e-12)
    assert np.all(env >= 0)
    # the envelope of a thin shell peaks at its mean radius (within one bin + the smoothing
    # of an asymmetric set of shells)
    mean_r = (rho * r).sum()
    assert obs.density_maximum(grid, env) == pytest.approx(mean_r, abs=0.3)


def test_atomic_shells_of_a_small_dot():
    """Anion-centred 1a sphere: shells at sqrt(n) a/4 for n = 0, 3, 8, 11, 16 (anions at
    0, 8, 16; cations at 3, 11) holding 1, 4, 12, 12, 6 atoms."""
    nc = build_nanocrystal(1.0)
    radii, prob = obs.atomic_shells(nc.positions, np.ones(nc.n_atoms))
    q = nc.lattice_constant / 4
    assert np.allclose(radii, q * np.sqrt([0, 3, 8, 11, 16]))
    assert np.allclose(prob, [1, 4, 12, 12, 6])


def test_envelope_of_single_atom_is_the_smoothing_gaussian():
    pos = np.array([[12.01, 0.0, 0.0]])
    grid = obs.radial_grid(30.0, 600)
    width = 1.35
    env = obs.envelope_density(pos, np.array([1.0]), grid, width=width)
    mean = (env * grid).sum() / env.sum()
    var = (env * (grid - mean) ** 2).sum() / env.sum()
    # the atom sits in the bin [12.0, 12.05): centre 12.025 (binning error <= dr/2)
    assert mean == pytest.approx(12.025, abs=1e-6)
    assert np.sqrt(var) == pytest.approx(width, rel=1e-3)


def test_core_weights(dot):
    in_core = dot.in_core
    assert obs.core_weight(in_core.astype(float), in_core) == pytest.approx(1.0)
    uniform = np.ones(dot.n_atoms)
    assert obs.core_weight(uniform, in_core) == pytest.approx(in_core.sum() / dot.n_atoms)
    two = np.stack([in_core.astype(float), (~in_core).astype(float)], axis=1)
    assert np.allclose(obs.core_weight(two, in_core), [1.0, 0.0])


def test_overlaps_identical_disjoint_and_alternating_layers(dot):
    r = dot.radii
    env = np.exp(-0.5 * (r / 4.0) ** 2)
    grid = obs.radial_grid(dot.total_radius + 3.0, 300)
    assert obs.atomic_overlap(env, env) == pytest.approx(1.0, abs=1e-12)
    core_only = env * dot.in_core
    shell_only = env * ~dot.in_core
    assert obs.atomic_overlap(core_only, shell_only) == 0.0
    # electron on cations, hole on anions, same envelope: no atomic overlap at all, but the
    # radial envelopes nearly coincide
    e = env * dot.is_cation
    h = env * ~dot.is_cation
    assert obs.atomic_overlap(e, h) == 0.0
    env_e = obs.envelope_density(dot.positions, e, grid)
    env_h = obs.envelope_density(dot.positions, h, grid)
    assert obs.envelope_overlap(grid, env_e, env_h) > 0.95
    assert obs.envelope_overlap(grid, env_e, env_e) == pytest.approx(1.0, abs=1e-12)


def test_dipole_closed_form_two_atoms():
    pos = np.array([[0.0, 0.0, 0.0], [2.0, -1.0, 3.0]])
    a = np.zeros(20, complex)
    b = np.zeros(20, complex)
    a[3], a[13] = 1 / np.sqrt(2), 1 / np.sqrt(2)  # pz up on both atoms, bonding
    b[3], b[13] = 1 / np.sqrt(2), -1 / np.sqrt(2)  # antibonding
    d = obs.transition_dipoles(pos, a[:, None], b[:, None])[0, 0]
    assert np.allclose(d, (pos[0] - pos[1]) / 2)
    # different spin on the same orbital: the diagonal position operator gives zero
    c = np.zeros(20, complex)
    c[8], c[18] = 1 / np.sqrt(2), -1 / np.sqrt(2)
    assert np.allclose(obs.transition_dipoles(pos, a[:, None], c[:, None]), 0)


def test_dipole_time_reversal_and_origin_independence(dot):
    rng = np.random.default_rng(5)
    r = dot.radii
    e = _state(np.exp(-0.5 * (r / 5.0) ** 2), rng, dot.n_atoms)
    h = _state(np.exp(-0.5 * (r / 4.0) ** 2), rng, dot.n_atoms)
    e = e - np.vdot(h, e) * h  # orthogonal to h
    e /= np.linalg.norm(e)
    E = np.stack([e, obs.time_reversal(e)[:, 0]], axis=1)
    H = np.stack([h, obs.time_reversal(h)[:, 0]], axis=1)
    d = obs.transition_dipoles(dot.positions, E, H)
    # <T a|r|T b> = <b|r|a> = conj(<a|r|b>) since r is time-even and T antiunitary
    assert np.allclose(d[1, 1], np.conj(d[0, 0]), atol=1e-14)
    # <T a|r|b> = -conj(<a|r|T b>)  (from T^2 = -1)
    assert np.allclose(d[1, 0], -np.conj(d[0, 1]), atol=1e-14)
    # within one Kramers pair the dipole vanishes identically: <T a|r|a> = 0
    assert np.allclose(obs.transition_dipoles(dot.positions, E[:, 1:], E[:, :1]), 0, atol=1e-15)
    # origin independence (orthogonal states)
    d_shift = obs.transition_dipoles(dot.positions + np.array([3.0, -7.0, 11.0]), E, H)
    assert np.allclose(d_shift[0, 0], d[0, 0], atol=1e-12)


def test_optical_activity_invariant_under_kramers_mixing(dot):
    rng = np.random.default_rng(6)
    r = dot.radii
    e = _state(np.exp(-0.5 * (r / 5.0) ** 2), rng, dot.n_atoms)
    h = _state(np.exp(-0.5 * (r / 4.0) ** 2) * (1 + dot.positions[:, 0]), rng, dot.n_atoms)
    E = np.stack([e, obs.time_reversal(e)[:, 0]], axis=1)
    H = np.stack([h, obs.time_reversal(h)[:, 0]], axis=1)
    base = obs.optical_activity(obs.transition_dipoles(dot.positions, E, H))
    assert base > 0

    def random_unitary(seed):
        q, _ = np.linalg.qr(
            np.random.default_rng(seed).normal(size=(2, 2)) + 1j * np.random.default_rng(seed + 1).normal(size=(2, 2))
        )
        return q

    mixed = obs.optical_activity(obs.transition_dipoles(dot.positions, E @ random_unitary(10), H @ random_unitary(20)))
    assert mixed == pytest.approx(base, rel=1e-12)
    # and the Kramers-averaged level density is invariant too
    assert np.allclose(obs.level_density(E @ random_unitary(30)), obs.level_density(E), atol=1e-15)


def _unitary(n, seed):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n)))
    return q


def test_degenerate_levels_and_level_averages():
    e = np.array([0.3, 0.3 + 4e-6, 0.3 + 8e-6, 0.2, 0.2, 0.1])  # descending, chained within 5e-6
    assert obs.degenerate_levels(e, 5e-6) == [(0, 3), (3, 5), (5, 6)]
    assert obs.degenerate_levels(e, 1e-6) == [(0, 1), (1, 2), (2, 3), (3, 5), (5, 6)]
    assert obs.degenerate_levels(e[::-1], 5e-6) == [(0, 1), (1, 3), (3, 6)]  # ascending works too
    levels = [(0, 2), (2, 3)]
    v = np.array([[1.0, 3.0, 5.0], [2.0, 4.0, 7.0]])
    assert np.allclose(obs.level_average(v, levels, axis=1), [[2, 2, 5], [3, 3, 7]], atol=0)
    assert np.allclose(obs.level_average(v.T, levels, axis=0), [[2, 3], [2, 3], [5, 7]], atol=0)
    m = np.arange(12.0).reshape(3, 4)
    b = obs.block_average(m, levels, [(0, 1), (1, 4)])
    assert np.allclose(b, [[2.0, 4.0, 4.0, 4.0], [2.0, 4.0, 4.0, 4.0], [8.0, 10.0, 10.0, 10.0]], atol=0)


def test_quartet_optical_activity_and_density_invariant_under_u4_mixing(dot):
    """A 4-fold level (two Kramers pairs of different envelopes): level density, optical
    activity and block averages of |d|^2 do not depend on the basis inside the level, while
    the old pair-only quantities (states 0, 1) do; 2-fold levels give the plain pair sum."""
    rng = np.random.default_rng(8)
    r = dot.radii
    e = _state(np.exp(-0.5 * (r / 5.0) ** 2), rng, dot.n_atoms)
    h1 = _state(np.exp(-0.5 * (r / 4.0) ** 2) * (1 + dot.positions[:, 0]), rng, dot.n_atoms)
    h2 = _state(np.exp(-0.5 * (r / 6.0) ** 2) * (1 + dot.positions[:, 2]), rng, dot.n_atoms)
    E = np.stack([e, obs.time_reversal(e)[:, 0]], axis=1)
    H, _ = np.linalg.qr(np.stack([h1, obs.time_reversal(h1)[:, 0], h2, obs.time_reversal(h2)[:, 0]], axis=1))
    d = obs.transition_dipoles(dot.positions, E, H)
    base = obs.optical_activity(d, 2, 4)
    assert base == pytest.approx((np.abs(d) ** 2).sum() * 0.5, rel=1e-14)
    assert obs.optical_activity(d) == pytest.approx((np.abs(d[:, :2]) ** 2).sum(), rel=1e-14)
    dm = obs.transition_dipoles(dot.positions, E @ _unitary(2, 1), H @ _unitary(4, 2))
    assert obs.optical_activity(dm, 2, 4) == pytest.approx(base, rel=1e-12)
    sq, sqm = (np.abs(d) ** 2).sum(axis=2), (np.abs(dm) ** 2).sum(axis=2)
    assert np.allclose(
        obs.block_average(sqm, [(0, 2)], [(0, 4)]), obs.block_average(sq, [(0, 2)], [(0, 4)]), rtol=1e-12
    )
    assert abs(obs.optical_activity(dm) - obs.optical_activity(d)) > 1e-3 * obs.optical_activity(d)  # pair-only is not
    Hm = H @ _unitary(4, 3)
    assert np.allclose(obs.level_density(Hm, 0, 4), obs.level_density(H, 0, 4), atol=1e-15)
    assert not np.allclose(obs.level_density(Hm), obs.level_density(H), atol=1e-6)
