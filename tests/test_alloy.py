"""Alloy realisations: statistics, keying by (seed, site id), rank independence."""

import numpy as np
import pytest

from hpc_nc.errors import HpcNcError
from hpc_nc.parallel.rng import uniform_for_sites
from hpc_nc.physics.alloy import CUS, INS, ZNS, realise_alloy, virtual_crystal
from hpc_nc.physics.geometry import build_nanocrystal


def test_uniform_numbers_are_uniform_and_independent():
    u = uniform_for_sites(11, np.arange(200_000))
    assert np.all((u >= 0) & (u < 1))
    # mean 1/2 and variance 1/12 within 5 standard errors
    n = len(u)
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / n)
    assert abs(u.var() - 1 / 12) < 5 * np.sqrt(1 / 180 / n)
    # histogram: chi-square with 49 dof stays below its 0.999 quantile (~85.4)
    counts, _ = np.histogram(u, bins=50, range=(0, 1))
    chi2 = ((counts - n / 50) ** 2 / (n / 50)).sum()
    assert chi2 < 85.4
    # neighbouring site ids and seeds are uncorrelated
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01
    v = uniform_for_sites(12, np.arange(200_000))
    assert abs(np.corrcoef(u, v)[0, 1]) < 0.01


def test_composition_statistics_over_realisations():
    nc = build_nanocrystal(3.0, 1.0)
    x_cu, x_in = 0.2, 0.3
    n_core = int((nc.is_cation & nc.in_core).sum())
    got = np.array(
        [[a.realised_x_cu, a.realised_x_in] for a in (realise_alloy(nc, x_cu, x_in, seed) for seed in range(40))]
    )
    # mean within 4 standard errors of the binomial mean
    se = np.sqrt(np.array([x_cu * (1 - x_cu), x_in * (1 - x_in)]) / (n_core * 40))
    assert np.all(np.abs(got.mean(axis=0) - [x_cu, x_in]) < 4 * se)
    # spread of a single realisation matches the binomial standard deviation within 35 %
    sd = np.sqrt(np.array([x_cu * (1 - x_cu), x_in * (1 - x_in)]) / n_core)
    assert np.all(np.abs(got.std(axis=0, ddof=1) / sd - 1) < 0.35)


def test_only_core_cations_are_alloyed():
    nc = build_nanocrystal(2.0, 1.0)
    a = realise_alloy(nc, 0.3, 0.6, 5)
    w = a.compound_weights
    assert np.all(w[~nc.is_cation] == 0)
    np.testing.assert_array_equal(w[nc.is_cation].sum(axis=1), 1.0)
    shell_cat = nc.is_cation & ~nc.in_core
    assert np.all(w[shell_cat, ZNS] == 1)
    core = a.cation_compound[nc.is_cation & nc.in_core]
    assert set(np.unique(core)) == {ZNS, INS, CUS}
    # realised composition is what was drawn
    assert a.realised_x_in == pytest.approx((core == INS).mean())


def test_pure_compounds_are_deterministic():
    nc = build_nanocrystal(1.5, 1.0)
    for x_cu, x_in, code in ((0.0, 1.0, INS), (1.0, 0.0, CUS), (0.0, 0.0, ZNS)):
        a = realise_alloy(nc, x_cu, x_in, 1)
        assert np.all(a.cation_compound[nc.is_cation & nc.in_core] == code)


def test_alloy_independent_of_atom_order_and_shell():
    """Keyed by (seed, site id): a core site has the same occupant in any dot/atom order."""
    a_nc, b_nc = build_nanocrystal(2.0, 0.0), build_nanocrystal(2.0, 1.5)
    a = realise_alloy(a_nc, 0.1, 0.4, 99)
    b = realise_alloy(b_nc, 0.1, 0.4, 99)
    occupant = dict(zip(b_nc.site_id, b.cation_compound))
    core = a_nc.is_cation & a_nc.in_core
    assert all(occupant[s] == c for s, c in zip(a_nc.site_id[core], a.cation_compound[core]))
    # permuting the site list permutes the numbers and nothing else
    sid = a_nc.site_id
    perm = np.random.default_rng(1).permutation(len(sid))
    np.testing.assert_array_equal(uniform_for_sites(3, sid)[perm], uniform_for_sites(3, sid[perm]))


@pytest.mark.mpi
def test_alloy_is_rank_independent(comm):
    """Each rank draws only its slice of sites; the gathered dot equals the serial one."""
    nc = build_nanocrystal(2.5, 0.5)
    full = uniform_for_sites(7, nc.site_id)
    lo = comm.rank * nc.n_atoms // comm.size
    hi = (comm.rank + 1) * nc.n_atoms // comm.size
    parts = comm.allgather(uniform_for_sites(7, nc.site_id[lo:hi]))
    np.testing.assert_array_equal(np.concatenate(parts), full)
    ref = comm.bcast(realise_alloy(nc, 0.2, 0.5, 7).compound_weights if comm.rank == 0 else None)
    np.testing.assert_array_equal(realise_alloy(nc, 0.2, 0.5, 7).compound_weights, ref)


def test_virtual_crystal_weights():
    nc = build_nanocrystal(1.5, 1.0)
    v = virtual_crystal(nc, 0.25, 0.5)
    core = nc.is_cation & nc.in_core
    np.testing.assert_allclose(v.compound_weights[core], [[0.25, 0.5, 0.25]] * int(core.sum()))
    assert v.virtual_crystal


@pytest.mark.parametrize("x_cu,x_in", [(0.6, 0.5), (-0.1, 0.2), (0.2, 1.2), (float("nan"), 0)])
def test_impossible_compositions_rejected(x_cu, x_in):
    with pytest.raises(HpcNcError):
        realise_alloy(build_nanocrystal(1.0), x_cu, x_in, 0)
