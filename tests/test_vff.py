"""Keating VFF kernels (hpc_nc.physics.vff): parameters, exact derivatives, symmetries, elasticity.

Pure numpy/SciPy: runs in either PETSc build (no PETSc needed).
"""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from hpc_nc.errors import HpcNcError
from hpc_nc.physics import vff
from hpc_nc.physics.alloy import COMPOUNDS, realise_alloy, virtual_crystal
from hpc_nc.physics.geometry import build_nanocrystal

GPA_PER_EV_A3 = 160.21766  # 1 eV/Å³ = 160.21766 GPa


@pytest.fixture(scope="module")
def params():
    return vff.load_vff()


@pytest.fixture(scope="module")
def perturbed_alloy_dot(params):
    nc = build_nanocrystal(1.0, 0.5)
    alloy = realise_alloy(nc, x_cu=0.3, x_in=0.4, seed=7)
    terms = vff.nanocrystal_terms(nc, alloy, params)
    rng = np.random.default_rng(3)
    x = nc.positions + 0.08 * rng.standard_normal(nc.positions.shape)
    return nc, terms, x


# ----------------------------------------------------------------- parameters


def test_parameter_file_loads_with_hash_and_units(params):
    assert params.compounds == COMPOUNDS
    assert len(params.content_hash) == 64
    # InS and CuS take CdS force constants (paper Methods).
    assert params.alpha[1] == params.alpha[2] and params.beta[1] == params.beta[2]
    np.testing.assert_allclose(params.lattice_constant, [5.409, 5.409 * 1.16, 5.409 * (1 - 0.009)], rtol=1e-6)


def test_force_constants_reproduce_the_cited_elastic_constants():
    doc = yaml.safe_load(Path(vff.__file__).parent.parent.joinpath("data").joinpath("vff.yaml").read_text())
    for name in ("ZnS", "CdS"):
        entry = doc["compounds"][name]
        c = entry["elastic_constants"]
        alpha, beta = vff.keating_from_elastic(c["C11"], c["C12"], entry["lattice_constant"])
        assert alpha == pytest.approx(entry["alpha"], rel=1e-4)
        assert beta == pytest.approx(entry["beta"], rel=1e-4)


def test_cds_cubic_constants_are_the_least_squares_inverse_of_wurtzite_data():
    # Zinc-blende -> wurtzite relations (cubic tensor rotated to a [111] axis; Martin,
    # Phys. Rev. B 6, 4546 (1972), internal-strain corrections neglected).
    doc = yaml.safe_load(Path(vff.__file__).parent.parent.joinpath("data").joinpath("vff.yaml").read_text())
    cds = doc["compounds"]["CdS"]
    w = cds["wurtzite_elastic_constants"]
    rows = np.array(
        [
            [1 / 2, 1 / 2, 1],
            [1 / 6, 5 / 6, -1 / 3],
            [1 / 3, 2 / 3, -2 / 3],
            [1 / 3, 2 / 3, 4 / 3],
            [1 / 3, -1 / 3, 1 / 3],
        ]
    )
    rhs = np.array([w["C11"], w["C12"], w["C13"], w["C33"], w["C44"]])
    cubic = np.linalg.lstsq(rows, rhs, rcond=None)[0]
    c = cds["elastic_constants"]
    np.testing.assert_allclose(cubic, [c["C11"], c["C12"], c["C44"]], atol=2e-3)


def test_lattice_constants_agree_with_tight_binding_materials(params):
    """The VFF's lattice constants must equal those of the TB materials files."""
    materials = pytest.importorskip("hpc_nc.physics.materials")
    mats = materials.load_materials()
    for c, name in enumerate(COMPOUNDS):
        assert mats[name].lattice_constant == pytest.approx(params.lattice_constant[c], rel=1e-6), name


def test_invalid_parameter_file_is_rejected(tmp_path):
    doc = yaml.safe_load(Path(vff.__file__).parent.parent.joinpath("data").joinpath("vff.yaml").read_text())
    doc["compounds"]["ZnS"]["alpha"] = -1.0
    bad = tmp_path / "vff.yaml"
    bad.write_text(yaml.safe_dump(doc))
    with pytest.raises(HpcNcError, match="ZnS.alpha"):
        vff.load_vff(bad)
    del doc["compounds"]["CuS"]
    bad.write_text(yaml.safe_dump(doc))
    with pytest.raises(HpcNcError, match="CuS"):
        vff.load_vff(bad)


# ----------------------------------------------------------------- kernels


def test_ideal_zns_dot_has_zero_force(params):
    nc = build_nanocrystal(2.0, 0.0)
    terms = vff.nanocrystal_terms(nc, realise_alloy(nc, 0.0, 0.0, seed=1), params)
    e, g = vff.keating_energy_gradient(nc.positions, terms)
    assert abs(e) < 1e-20
    assert np.abs(g).max() < 1e-10
    # Every bond at d0 and every angle ideal.
    np.testing.assert_allclose(vff.bond_lengths(nc.positions, terms), params.bond_length[0], rtol=1e-14)


def test_bond_and_angle_counts(params):
    nc = build_nanocrystal(1.5, 0.5)
    terms = vff.nanocrystal_terms(nc, realise_alloy(nc, 0.0, 0.0, seed=1), params)
    nn = nc.n_neighbors
    assert terms.n_bonds == nn.sum() // 2
    assert terms.n_angles == (nn * (nn - 1) // 2).sum()


def test_gradient_matches_central_differences(perturbed_alloy_dot):
    nc, terms, x = perturbed_alloy_dot
    _, g = vff.keating_energy_gradient(x, terms)
    h = 1e-5
    rng = np.random.default_rng(0)
    for atom in rng.choice(nc.n_atoms, 25, replace=False):
        for axis in range(3):
            xp, xm = x.copy(), x.copy()
            xp[atom, axis] += h
            xm[atom, axis] -= h
            fd = (vff.keating_energy(xp, terms) - vff.keating_energy(xm, terms)) / (2 * h)
            # central-difference truncation ~h² E''' and round-off ~1e-16 E/h
            assert fd == pytest.approx(g[atom, axis], abs=1e-8)


def test_hessian_matches_central_differences_of_gradient(perturbed_alloy_dot):
    nc, terms, x = perturbed_alloy_dot
    hess = vff.keating_hessian(x, terms)
    assert abs(hess - hess.T).max() < 1e-12
    h = 1e-5
    for atom in (0, nc.n_atoms // 2, nc.n_atoms - 1):
        for axis in range(3):
            xp, xm = x.copy(), x.copy()
            xp[atom, axis] += h
            xm[atom, axis] -= h
            fd = (vff.keating_energy_gradient(xp, terms)[1] - vff.keating_energy_gradient(xm, terms)[1]).ravel() / (
                2 * h
            )
            np.testing.assert_allclose(hess[:, 3 * atom + axis].toarray().ravel(), fd, atol=1e-8)


def test_energy_invariant_under_rotation_and_translation(perturbed_alloy_dot):
    nc, terms, x = perturbed_alloy_dot
    e = vff.keating_energy(x, terms)
    rng = np.random.default_rng(5)
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    q *= np.sign(np.linalg.det(q))  # proper rotation
    y = x @ q.T + np.array([3.1, -7.2, 0.4])
    assert vff.keating_energy(y, terms) == pytest.approx(e, rel=1e-12)
    # The gradient rotates with the structure and has no net force or torque.
    _, g = vff.keating_energy_gradient(x, terms)
    _, gy = vff.keating_energy_gradient(y, terms)
    np.testing.assert_allclose(gy, g @ q.T, atol=1e-10)
    assert np.abs(g.sum(axis=0)).max() < 1e-10
    assert np.abs(np.cross(x, g).sum(axis=0)).max() < 1e-9


def test_blocks_partition_energy_and_gradient(perturbed_alloy_dot):
    nc, terms, x = perturbed_alloy_dot
    e, g = vff.keating_energy_gradient(x, terms)
    cuts = [0, 17, 90, 91, nc.n_atoms]
    parts = [vff.keating_block_energy_gradient(x, terms, a, b) for a, b in zip(cuts[:-1], cuts[1:])]
    assert sum(p[0] for p in parts) == pytest.approx(e, rel=1e-13)
    np.testing.assert_allclose(np.vstack([p[1] for p in parts]), g, atol=1e-13)


def test_vca_uses_weighted_lattice_constant(params):
    nc = build_nanocrystal(1.0, 1.0)
    alloy = virtual_crystal(nc, x_cu=0.2, x_in=0.3)
    terms = vff.nanocrystal_terms(nc, alloy, params)
    core_bond = nc.in_core[terms.bond_i]
    a_vca = 0.5 * params.lattice_constant[0] + 0.3 * params.lattice_constant[1] + 0.2 * params.lattice_constant[2]
    np.testing.assert_allclose(np.sqrt(terms.bond_d0sq[core_bond]), np.sqrt(3) / 4 * a_vca, rtol=1e-13)
    np.testing.assert_allclose(np.sqrt(terms.bond_d0sq[~core_bond]), params.bond_length[0], rtol=1e-13)


# ----------------------------------------------------------------- bulk elasticity


def _cell_energy_density(params, strain, relax_internal):
    """Energy per volume (GPa) of a periodic 8-atom ZnS cell under a homogeneous strain."""
    from scipy.optimize import minimize

    a = params.lattice_constant[0]
    pos, nb, cat, off, cell = vff.periodic_zincblende_cell(a, 1, strain)
    w = np.zeros((len(pos), 3))
    w[cat, 0] = 1.0
    terms = vff.build_keating_terms(nb, cat, w, params, off)
    e = vff.keating_energy(pos, terms)
    if relax_internal:

        def fun(flat):
            en, g = vff.keating_energy_gradient(flat.reshape(-1, 3), terms)
            return en, g.ravel()

        res = minimize(fun, pos.ravel(), jac=True, method="BFGS", options={"gtol": 1e-13, "maxiter": 2000})
        e = res.fun
    return e / abs(np.linalg.det(cell)) * GPA_PER_EV_A3


def test_elastic_constants_of_periodic_cell_match_keating_closed_forms(params):
    a = params.lattice_constant[0]
    alpha, beta = params.alpha[0], params.beta[0]
    to_gpa = GPA_PER_EV_A3
    c11_ref = (alpha + 3 * beta) / a * to_gpa
    c12_ref = (alpha - beta) / a * to_gpa
    c44_rel_ref = 4 * alpha * beta / (a * (alpha + beta)) * to_gpa
    c44_unrel_ref = (alpha + beta) / a * to_gpa
    eps = 1e-4  # small enough that the quartic Keating terms contribute < 1e-3 relative

    def second_derivative(direction, relax):
        ep = _cell_energy_density(params, eps * direction, relax)
        em = _cell_energy_density(params, -eps * direction, relax)
        e0 = _cell_energy_density(params, 0 * direction, relax)
        return (ep + em - 2 * e0) / eps**2

    uni = np.diag([1.0, 0, 0])  # E/V = C11 ε²/2
    bi = np.diag([1.0, 1.0, 0])  # E/V = (C11 + C12) ε²
    shear = np.array([[0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]])  # ε_yz = ε_zy = ε: E/V = 2 C44 ε²
    c11 = second_derivative(uni, False)
    c12 = second_derivative(bi, False) / 2 - c11
    c44_unrel = second_derivative(shear, False) / 4
    c44_rel = second_derivative(shear, True) / 4
    assert c11 == pytest.approx(c11_ref, rel=1e-3)
    assert c12 == pytest.approx(c12_ref, rel=1e-3)
    assert c44_unrel == pytest.approx(c44_unrel_ref, rel=1e-3)
    assert c44_rel == pytest.approx(c44_rel_ref, rel=1e-3)
    # And the fitted parameters reproduce Berlincourt's C11 and C12 (vff.yaml).
    assert c11 == pytest.approx(104.6, rel=2e-3) and c12 == pytest.approx(65.3, rel=2e-3)
    # The stated deficiency (vff.yaml header, docs/physics.md): relaxed C44 34.8 vs 46.3 GPa.
    assert c44_rel == pytest.approx(34.8, abs=0.1)


# ----------------------------------------------------------------- Eshelby inclusion


def _relax_numpy(x0, terms, gtol=1e-7):
    from scipy.optimize import minimize

    def fun(flat):
        e, g = vff.keating_energy_gradient(flat.reshape(-1, 3), terms)
        return e, g.ravel()

    res = minimize(
        fun,
        x0.ravel(),
        jac=True,
        method="L-BFGS-B",
        options={"gtol": gtol, "ftol": 1e-16, "maxiter": 20000, "maxcor": 20},
    )
    return res.x.reshape(-1, 3), res


def test_eshelby_spherical_inclusion_has_uniform_hydrostatic_strain(params):
    """Coherent sphere (radius r_i) with misfit f in a free sphere (radius r_o), equal moduli.

    Isotropic linear elasticity: strain inside, relative to the inclusion's own lattice,
    ε = −f · 4μ (1 − (r_i/r_o)³) / (3K + 4μ); the (r_i/r_o)³ term is the image of the free
    outer surface (it vanishes for an infinite matrix, Eshelby's case). K = (C11+2C12)/3 is
    exact for a cubic crystal; μ is the Hill average of Voigt (C11−C12+3C44)/5 and Reuss
    5(C11−C12)C44/(4C44+3(C11−C12)) with the relaxed Keating C44; the Voigt and Reuss values
    of ε differ by 5 % here. Tolerance 10 %: elastic anisotropy (A = 2C44/(C11−C12) = 1.8
    for Keating ZnS) makes the inclusion strain not exactly uniform or isotropic, and the
    faceted lattice sphere only approximates r_i, r_o. Measured when written: −2.85e-3 vs
    −2.99e-3 (Hill), 4.7 % below; −3.03e-3 vs −3.12e-3 (3 %) for r_o = 7a.
    """
    f = 0.01
    a = params.lattice_constant[0]
    lat = params.lattice_constant.copy()
    lat[1] = a * (1 + f)  # inclusion compound: same α, β as ZnS, misfit f
    same = replace(params, lattice_constant=lat, alpha=np.full(3, params.alpha[0]), beta=np.full(3, params.beta[0]))
    r_in, r_out = 2.0, 5.0
    nc = build_nanocrystal(r_in, r_out - r_in)
    alloy = realise_alloy(nc, x_cu=0.0, x_in=1.0, seed=1)  # all core cations -> inclusion
    terms = vff.nanocrystal_terms(nc, alloy, same)
    x, res = _relax_numpy(nc.positions, terms)
    _, g = vff.keating_energy_gradient(x, terms)
    assert np.linalg.norm(g, axis=1).max() < 1e-5

    eps = vff.hydrostatic_strain(x, nc.neighbors, lat[1])
    inner = nc.is_cation & (nc.radii < (r_in - 0.5) * a)  # cations whose whole tetrahedron is inside
    assert inner.sum() >= 10
    c11, c12 = (same.alpha[0] + 3 * same.beta[0]) / a, (same.alpha[0] - same.beta[0]) / a
    c44 = 4 * same.alpha[0] * same.beta[0] / (a * (same.alpha[0] + same.beta[0]))
    bulk = (c11 + 2 * c12) / 3
    mu_v = (c11 - c12 + 3 * c44) / 5
    mu_r = 5 * (c11 - c12) * c44 / (4 * c44 + 3 * (c11 - c12))
    mu = 0.5 * (mu_v + mu_r)
    expected = -f * 4 * mu * (1 - (r_in / r_out) ** 3) / (3 * bulk + 4 * mu)
    mean = eps[inner].mean()
    assert mean == pytest.approx(expected, rel=0.10)
    # Nearly uniform inside: spread well below the mean strain itself.
    assert eps[inner].std() < 0.15 * abs(mean)
    # The matrix far from the inclusion is nearly unstrained relative to ZnS.
    eps_zns = vff.hydrostatic_strain(x, nc.neighbors, a)
    outer = (nc.radii > (r_in + 1.5) * a) & np.isfinite(eps_zns)
    assert abs(np.nanmean(eps_zns[outer])) < 0.2 * abs(mean)


# ----------------------------------------------------------------- alloy dots


def test_cus_dot_barely_strained_ins_dot_strongly(params):
    """Mean |bond strain| of the core after relaxation: CuS (0.9 % misfit) << InS (16 %)."""
    nc = build_nanocrystal(1.0, 0.5)
    out = {}
    for label, x_cu, x_in in (("CuS", 1.0, 0.0), ("InS", 0.0, 1.0)):
        alloy = realise_alloy(nc, x_cu=x_cu, x_in=x_in, seed=1)
        terms = vff.nanocrystal_terms(nc, alloy, params)
        x, _ = _relax_numpy(nc.positions, terms, gtol=1e-6)
        strain = vff.bond_lengths(x, terms) / np.sqrt(terms.bond_d0sq) - 1
        core = terms.bond_compound != 0
        out[label] = np.abs(strain[core]).mean()
        # Ideal-lattice bond strain is the misfit itself; relaxation can only reduce it.
        ideal = np.abs(vff.bond_lengths(nc.positions, terms) / np.sqrt(terms.bond_d0sq) - 1)[core].mean()
        assert out[label] < ideal
    assert out["CuS"] < 0.01
    assert out["InS"] > 5 * out["CuS"]


def test_diagnostics_shapes_and_counts(perturbed_alloy_dot, params):
    nc, terms, x = perturbed_alloy_dot
    edges = np.linspace(1.5, 3.5, 81)
    hist = vff.bond_length_histogram(x, terms, edges)
    assert hist.shape == (3, 80)
    assert hist.sum() == terms.n_bonds  # the perturbation keeps every bond inside the grid
    hyd = vff.hydrostatic_strain(nc.positions, nc.neighbors, params.lattice_constant[0])
    assert np.all(np.isnan(hyd[nc.is_surface]))
    np.testing.assert_allclose(hyd[~nc.is_surface], 0.0, atol=1e-14)
    prof = vff.radial_profile(hyd, nc.radii, np.linspace(0, 20, 11))
    assert prof.shape == (10,)
