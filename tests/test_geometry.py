"""Geometry: atom counts against an independent count, neighbours, surface, ordering."""

import numpy as np
import pytest

from hpc_nc.errors import HpcNcError
from hpc_nc.physics.geometry import build_nanocrystal, count_atoms_in_sphere


def brute_force_count(radius_a, include_boundary=True):
    """Third, slowest path: every integer point of the a/4 grid, tested by species rules."""
    n = int(np.ceil(4 * radius_a)) + 1
    count = 0
    r2 = (4 * radius_a) ** 2
    for i in range(-n, n + 1):
        for j in range(-n, n + 1):
            for k in range(-n, n + 1):
                even = i % 2 == 0 and j % 2 == 0 and k % 2 == 0 and (i + j + k) % 4 == 0
                odd = i % 2 == 1 and j % 2 == 1 and k % 2 == 1 and (i + j + k) % 4 == 3
                d2 = i * i + j * j + k * k
                if (even or odd) and (d2 <= r2 if include_boundary else d2 < r2):
                    count += 1
    return count


def test_seven_a_sphere_counts_match_the_issue():
    assert build_nanocrystal(7.0).n_atoms == 11543
    assert count_atoms_in_sphere(7.0) == 11543
    assert count_atoms_in_sphere(7.0, include_boundary=False) == 11489


@pytest.mark.parametrize("radius", [0.5, 1.0, 1.5, 2.0, 2.5, 3.25])
def test_counts_agree_with_independent_counts(radius):
    nc = build_nanocrystal(radius)
    assert nc.n_atoms == count_atoms_in_sphere(radius) == brute_force_count(radius)


def test_core_shell_labels_and_composition():
    nc = build_nanocrystal(1.5, 1.0)
    assert nc.n_atoms == count_atoms_in_sphere(2.5)
    assert nc.in_core.sum() == count_atoms_in_sphere(1.5)
    assert np.all(nc.radii[nc.in_core] <= nc.core_radius * (1 + 1e-9))
    assert np.all(nc.radii[~nc.in_core] > nc.core_radius)
    # the centre atom is an anion (sphere centred on S)
    centre = np.argmin(nc.radii)
    assert nc.radii[centre] == 0 and not nc.is_cation[centre]
    assert nc.shell_thickness == pytest.approx(1.0 * nc.lattice_constant)


def test_neighbours_are_mutual_and_at_bond_length():
    nc = build_nanocrystal(2.0)
    d = np.sqrt(3) * nc.lattice_constant / 4
    i, k = np.nonzero(nc.neighbors >= 0)
    j = nc.neighbors[i, k]
    assert np.all(nc.is_cation[i] != nc.is_cation[j])  # only anion-cation bonds
    np.testing.assert_allclose(np.linalg.norm(nc.positions[j] - nc.positions[i], axis=1), d, rtol=1e-12)
    np.testing.assert_allclose(nc.positions[j] - nc.positions[i], nc.bond_vectors[i, k], atol=1e-12)
    # mutual: j's slot k points back to i (slot directions are opposite for the two species)
    assert np.all(nc.neighbors[j, k] == i)
    # bulk atoms deep inside have 4 neighbours
    assert np.all(nc.n_neighbors[nc.radii < nc.total_radius - 2 * d] == 4)


def test_surface_atoms_and_missing_bond_directions():
    nc = build_nanocrystal(2.0)
    surf = nc.is_surface
    assert surf.any() and not surf.all()
    # a missing bond points outward: the site it would reach lies outside the sphere
    i, k = np.nonzero(nc.missing_bonds)
    outside = np.linalg.norm(nc.positions[i] + nc.bond_vectors[i, k], axis=1)
    assert np.all(outside > nc.total_radius)
    # and every real bond ends inside
    i, k = np.nonzero(~nc.missing_bonds)
    assert np.all(np.linalg.norm(nc.positions[i] + nc.bond_vectors[i, k], axis=1) <= nc.total_radius * (1 + 1e-9))
    assert np.all(nc.bond_vectors[nc.is_cation, 0] * nc.bond_vectors[~nc.is_cation][:1, 0] < 0)


def test_locality_preserving_order():
    """Morton order: bonded atoms are close in index, far better than a random order."""
    nc = build_nanocrystal(3.0)
    i, k = np.nonzero(nc.neighbors >= 0)
    spread = np.abs(nc.neighbors[i, k] - i)
    rng = np.random.default_rng(0)
    perm = rng.permutation(nc.n_atoms)
    random_spread = np.abs(perm[nc.neighbors[i, k]] - perm[i])
    assert np.median(spread) < 0.05 * np.median(random_spread)


def test_site_ids_independent_of_size_and_unique():
    small, big = build_nanocrystal(1.0), build_nanocrystal(1.0, 1.0)
    assert len(np.unique(big.site_id)) == big.n_atoms
    lookup = {sid: tuple(g) for sid, g in zip(big.site_id, big.grid)}
    for sid, g in zip(small.site_id, small.grid):
        assert lookup[sid] == tuple(g)


def test_arrays_are_frozen_and_function_is_pure():
    a, b = build_nanocrystal(1.5), build_nanocrystal(1.5)
    np.testing.assert_array_equal(a.positions, b.positions)
    with pytest.raises(ValueError):
        a.positions[0, 0] = 1.0


@pytest.mark.parametrize("r,h", [(-1, 0), (0, 1), (float("nan"), 0), (1, -0.5)])
def test_bad_radii_are_rejected(r, h):
    with pytest.raises(HpcNcError):
        build_nanocrystal(r, h)
