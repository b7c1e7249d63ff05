"""Distributed Keating relaxation with PETSc TAO (hpc_nc.solvers.relax). Real PETSc build only.

Every test with an MPI code path is marked ``mpi`` and passes with the same assertions on
1 and 2 ranks (results are gathered/reduced before comparing).
"""

import numpy as np
import pytest

from hpc_nc.errors import HpcNcError
from hpc_nc.physics import vff
from hpc_nc.physics.alloy import realise_alloy
from hpc_nc.physics.geometry import build_nanocrystal

pytestmark = pytest.mark.real_build


@pytest.fixture(scope="module")
def alloy_dot():
    nc = build_nanocrystal(1.5, 0.5)
    return nc, realise_alloy(nc, x_cu=0.2, x_in=0.4, seed=11)


def _relax(comm, nc, alloy, **kw):
    from hpc_nc.solvers.relax import RelaxSettings, relax_structure

    return relax_structure(comm, nc, alloy, RelaxSettings(**kw))


def _scipy_reference(nc, alloy):
    """Tight L-BFGS minimum from SciPy on the same energy (serial reference)."""
    from scipy.optimize import minimize

    terms = vff.nanocrystal_terms(nc, alloy)

    def fun(flat):
        e, g = vff.keating_energy_gradient(flat.reshape(-1, 3), terms)
        return e, g.ravel()

    res = minimize(
        fun,
        nc.positions.ravel(),
        jac=True,
        method="L-BFGS-B",
        options={"gtol": 1e-8, "ftol": 1e-16, "maxiter": 20000, "maxcor": 20},
    )
    return res.x.reshape(-1, 3), res.fun, terms


@pytest.mark.mpi
def test_ideal_zns_dot_is_already_relaxed(petsc, comm):
    nc = build_nanocrystal(1.5, 0.0)
    r = _relax(comm, nc, realise_alloy(nc, 0.0, 0.0, seed=1))
    assert r.converged and r.iterations == 0
    assert r.energy_ev < 1e-20 and r.max_force_ev_per_angstrom < 1e-10
    np.testing.assert_allclose(r.positions, nc.positions, rtol=0, atol=1e-12)  # centroid round-off


@pytest.mark.mpi
def test_relaxation_converges_to_the_scipy_minimum(petsc, comm, alloy_dot):
    nc, alloy = alloy_dot
    r = _relax(comm, nc, alloy, force_tol=1e-5)
    assert r.converged, r.reason
    assert r.max_force_ev_per_angstrom <= 1e-5
    assert r.energy_ev < r.initial_energy_ev
    x_ref, e_ref, terms = _scipy_reference(nc, alloy)
    # Same minimum: energy to 1e-9 relative, positions up to a rigid motion (the energy is
    # invariant under rotation: compare bond lengths, which are rotation invariant).
    assert r.energy_ev == pytest.approx(e_ref, rel=1e-8)
    np.testing.assert_allclose(vff.bond_lengths(r.positions, terms), vff.bond_lengths(x_ref, terms), atol=1e-4)
    # The reported force is the true one at the returned positions.
    _, g = vff.keating_energy_gradient(r.positions, terms)
    g -= g.mean(axis=0)
    assert np.linalg.norm(g, axis=1).max() == pytest.approx(r.max_force_ev_per_angstrom, rel=1e-6, abs=1e-12)


@pytest.mark.mpi
def test_no_rigid_drift(petsc, comm, alloy_dot):
    nc, alloy = alloy_dot
    r = _relax(comm, nc, alloy)
    drift = r.positions.mean(axis=0) - nc.positions.mean(axis=0)
    # The net force is projected out: the centre of mass does not move beyond round-off.
    assert np.abs(drift).max() < 1e-9


@pytest.mark.mpi
def test_same_structure_on_any_rank_count(petsc, comm, alloy_dot):
    """Result on comm (1 or 2 ranks) equals the one on COMM_SELF within the tolerance."""
    from mpi4py import MPI

    nc, alloy = alloy_dot
    r_all = _relax(comm, nc, alloy, force_tol=1e-6)
    r_one = _relax(MPI.COMM_SELF, nc, alloy, force_tol=1e-6)
    assert r_all.converged and r_one.converged
    assert r_all.energy_ev == pytest.approx(r_one.energy_ev, rel=1e-9)
    # Displacements differ at most by ~force_tol / (smallest stiffness) ~ 1e-4 Å.
    assert np.abs(r_all.positions - r_one.positions).max() < 1e-3
    np.testing.assert_array_equal(r_all.bond_length_histogram.sum(axis=1), r_one.bond_length_histogram.sum(axis=1))
    # Every rank holds the same result.
    same = comm.allgather(r_all.positions.tobytes()) if comm.Get_size() > 1 else [r_all.positions.tobytes()]
    assert all(s == same[0] for s in same)


@pytest.mark.mpi
def test_cg_and_newton_reach_the_same_minimum(petsc, comm, alloy_dot):
    nc, alloy = alloy_dot
    r_cg = _relax(comm, nc, alloy, tao_type="bncg", force_tol=1e-6)
    r_nls = _relax(comm, nc, alloy, tao_type="nls", force_tol=1e-6)
    assert r_cg.converged and r_nls.converged, (r_cg.reason, r_nls.reason)
    assert r_nls.tao_type == "nls"
    assert r_nls.energy_ev == pytest.approx(r_cg.energy_ev, rel=1e-9)
    assert r_nls.iterations < r_cg.iterations  # Newton needs far fewer steps
    terms = vff.nanocrystal_terms(nc, alloy)
    np.testing.assert_allclose(
        vff.bond_lengths(r_nls.positions, terms), vff.bond_lengths(r_cg.positions, terms), atol=1e-4
    )


@pytest.mark.mpi
def test_plain_cg_type_also_works(petsc, comm, alloy_dot):
    nc, alloy = alloy_dot
    r = _relax(comm, nc, alloy, tao_type="cg")
    assert r.converged and r.tao_type == "cg"


@pytest.mark.mpi
def test_distributed_hessian_equals_numpy_hessian(petsc, comm, alloy_dot):
    from hpc_nc.solvers.relax import _fill_hessian, _hessian_matrix, atom_ownership

    PETSc, _ = petsc
    nc, alloy = alloy_dot
    terms = vff.nanocrystal_terms(nc, alloy)
    rng = np.random.default_rng(2)
    x = nc.positions + 0.05 * rng.standard_normal(nc.positions.shape)
    start, stop = atom_ownership(comm, nc.n_atoms)
    local, needed = vff.block_terms(terms, start, stop)
    own = np.searchsorted(needed, np.arange(start, stop))
    mat = _hessian_matrix(PETSc, comm, local, needed, own, start, stop, nc.n_atoms, nc.positions)
    _fill_hessian(PETSc, mat, vff.keating_hessian(x[needed], local), needed, own)
    ref = vff.keating_hessian(x, terms).toarray()[3 * start : 3 * stop]
    got = mat.getValues(range(3 * start, 3 * stop), range(3 * nc.n_atoms))
    mat.destroy()
    assert np.abs(got - ref).max() < 1e-12


@pytest.mark.mpi
def test_non_convergence_is_reported(petsc, comm, alloy_dot):
    nc, alloy = alloy_dot
    r = _relax(comm, nc, alloy, max_it=2)
    assert not r.converged
    assert r.iterations == 2
    assert "MAXITS" in r.reason
    assert r.max_force_ev_per_angstrom > 1e-4


@pytest.mark.mpi
def test_tao_options_from_settings_and_command_line_precedence(petsc, comm, alloy_dot):
    PETSc, _ = petsc
    nc, alloy = alloy_dot
    opts = PETSc.Options()
    # A command-line style option wins over the settings' dictionary.
    opts.setValue("relaxtest_tao_max_it", "3")
    try:
        r = _relax(comm, nc, alloy, options_prefix="relaxtest_", tao_options={"tao_max_it": 1000, "tao_type": "lmvm"})
    finally:
        opts.delValue("relaxtest_tao_max_it")
        opts.delValue("relaxtest_tao_type")
    assert r.tao_type == "lmvm"
    assert r.iterations == 3 and not r.converged


@pytest.mark.mpi
def test_settings_options_do_not_leak_into_the_next_relaxation(petsc, comm, alloy_dot):
    PETSc, _ = petsc
    nc, alloy = alloy_dot
    r1 = _relax(comm, nc, alloy, tao_options={"tao_type": "lmvm", "tao_max_it": 1})
    assert r1.tao_type == "lmvm" and r1.iterations == 1
    assert not PETSc.Options().hasName("tao_type")
    r2 = _relax(comm, nc, alloy)
    assert r2.tao_type == "bncg" and r2.converged


@pytest.mark.mpi
def test_strain_diagnostics(petsc, comm):
    from hpc_nc.solvers.relax import RelaxSettings

    nc = build_nanocrystal(1.0, 1.0)
    out = {}
    for label, x_cu, x_in in (("CuS", 1.0, 0.0), ("InS", 0.0, 1.0)):
        r = _relax(comm, nc, realise_alloy(nc, x_cu, x_in, seed=1))
        assert r.converged
        s = RelaxSettings()
        assert r.bond_length_histogram.shape == (3, len(s.bond_length_edges) - 1)
        assert r.radial_strain.shape == (len(s.radial_edges) - 1,)
        assert r.hydrostatic_strain.shape == (nc.n_atoms,)
        out[label] = r
    ins, cus = out["InS"], out["CuS"]
    # Only Zn-S bonds in the shell plus the core compound's bonds.
    assert ins.bond_length_histogram[2].sum() == 0 and cus.bond_length_histogram[1].sum() == 0
    # InS core squeezed by the ZnS shell: core In-S bonds shorter than natural, strongly.
    assert ins.mean_bond_strain[1] < -0.02
    assert abs(cus.mean_bond_strain[2]) < 0.005
    # Hydrostatic strain vs ZnS: the InS core is expanded relative to ZnS.
    core = nc.in_core & ~nc.is_surface
    assert np.nanmean(ins.hydrostatic_strain[core]) > 0.03
    assert abs(np.nanmean(cus.hydrostatic_strain[core])) < 0.01
    assert ins.radial_strain[0] == pytest.approx(ins.hydrostatic_strain[nc.radii < 1.0].item(), abs=1e-12)


@pytest.mark.mpi
def test_bad_tao_type_or_option_raises_a_clear_error(petsc, comm, alloy_dot):
    nc, alloy = alloy_dot
    with pytest.raises(HpcNcError, match="TAO type"):
        _relax(comm, nc, alloy, tao_type="no_such_solver")
    with pytest.raises(HpcNcError, match="TAO options"):
        _relax(comm, nc, alloy, tao_options={"tao_bncg_type": "no_such_variant"})


def test_bad_settings_are_rejected():
    from hpc_nc.solvers.relax import RelaxSettings

    with pytest.raises(HpcNcError, match="force_tol"):
        RelaxSettings(force_tol=0.0)
    with pytest.raises(HpcNcError, match="max_it"):
        RelaxSettings(max_it=0)
