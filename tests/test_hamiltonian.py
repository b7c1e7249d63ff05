"""Nanocrystal Hamiltonian: numpy rows vs an independent reference, PETSc assembly on 1 and 2
ranks, Hermiticity, Kramers degeneracy, passivation, confinement and Td symmetry."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from hpc_nc.physics.alloy import realise_alloy, virtual_crystal
from hpc_nc.physics.geometry import build_nanocrystal
from hpc_nc.physics.materials import load_materials, with_band_offsets
from hpc_nc.solvers import hamiltonian as ham


@pytest.fixture(scope="module")
def mats():
    return with_band_offsets(load_materials(), 1.1, 0.34)


def _alloy(nc, model, x_cu=0.2, x_in=0.3, seed=11):
    return virtual_crystal(nc, x_cu, x_in) if model == "VCA" else realise_alloy(nc, x_cu, x_in, seed)


def _perturbed(nc, scale=0.05, seed=5):
    rng = np.random.default_rng(seed)
    return nc.positions + rng.normal(scale=scale, size=nc.positions.shape)


def _csr(nc, alloy, mats, model, pos, a0=0, a1=None, **kw):
    a1 = nc.n_atoms if a1 is None else a1
    ip, ix, v = ham.hamiltonian_rows(nc, alloy, mats, model, pos, a0, a1, **kw)
    return sp.csr_matrix((v, ix, ip), shape=(10 * (a1 - a0), 10 * nc.n_atoms))


@pytest.mark.parametrize("model", ["VCA", "NSTR", "STR"])
def test_rows_match_reference_and_are_hermitian(mats, model):
    nc = build_nanocrystal(1.0, 0.5)
    alloy = _alloy(nc, model)
    pos = _perturbed(nc)
    kw = dict(passivation_ev=15.0, harrison_eta=3.0)
    h = _csr(nc, alloy, mats, model, pos, **kw)
    ref = ham.reference_hamiltonian(nc, alloy, mats, model, pos, **kw)
    assert abs(h - ref).max() < 1e-12
    assert abs(h - h.getH()).max() < 1e-14
    # Split into two atom blocks: the rows do not depend on the partition.
    half = nc.n_atoms // 2 + 3
    parts = sp.vstack([_csr(nc, alloy, mats, model, pos, 0, half, **kw), _csr(nc, alloy, mats, model, pos, half, **kw)])
    assert abs(parts - h).max() == 0
    # The pattern from the neighbour table is exactly what the kernel produced.
    d, o = ham.row_nnz(nc, 0, half)
    ip = ham.hamiltonian_rows(nc, alloy, mats, model, pos, 0, half, **kw)[0]
    assert np.array_equal(np.diff(ip), d + o)


def test_strain_changes_only_str(mats):
    nc = build_nanocrystal(1.0, 0.5)
    alloy = realise_alloy(nc, 0.0, 0.5, 3)
    pos = _perturbed(nc, 0.1)
    nstr_ideal = _csr(nc, alloy, mats, "NSTR", None)
    assert abs(_csr(nc, alloy, mats, "NSTR", pos) - nstr_ideal).max() == 0  # NSTR ignores positions
    # STR on ideal ZnS positions: In-S bonds are compressed (d0_InS > d) -> integrals scaled up.
    str_ideal = _csr(nc, alloy, mats, "STR", None)
    diff = abs(str_ideal - nstr_ideal)
    assert diff.max() > 0.1
    zn_only = alloy.compound_weights[:, 0] == 1.0
    # A Zn cation's row blocks are identical in both (its bonds have d = d0).
    i = int(np.flatnonzero(zn_only & nc.is_cation)[0])
    assert diff[10 * i : 10 * i + 10].max() < 1e-12


@pytest.mark.mpi
@pytest.mark.parametrize("model", ["NSTR", "STR"])
def test_petsc_matrix_equals_reference(petsc, comm, mats, model):
    PETSc, _ = petsc
    nc = build_nanocrystal(1.0, 0.5)
    alloy = realise_alloy(nc, 0.25, 0.25, 2)
    pos = _perturbed(nc)
    a0, a1 = ham.atom_ownership(comm, nc.n_atoms)
    mat = ham.assemble_hamiltonian(comm, nc, alloy, mats, model, pos)
    r0, r1 = mat.getOwnershipRange()
    assert (r0, r1) == (10 * a0, 10 * a1)
    info = mat.getInfo(PETSc.Mat.InfoType.GLOBAL_SUM)
    assert info["nz_unneeded"] == 0 and info["nz_allocated"] == info["nz_used"]
    ip, ix, v = mat.getValuesCSR()
    pieces = comm.allgather((r0, r1, ip, ix, v))
    n = 10 * nc.n_atoms
    full = sp.vstack([sp.csr_matrix((pv, pix, pip), shape=(pr1 - pr0, n)) for pr0, pr1, pip, pix, pv in pieces])
    ref = ham.reference_hamiltonian(nc, alloy, mats, model, pos)
    assert abs(full - ref).max() < 1e-12
    mat.destroy()


def test_atom_ownership_splits_evenly():
    class Fake:
        def __init__(self, size, rank):
            self.size, self.rank = size, rank

        def Get_size(self):
            return self.size

        def Get_rank(self):
            return self.rank

    for n, size in ((123, 1), (123, 2), (10, 3), (2, 4)):
        ranges = [ham.atom_ownership(Fake(size, r), n) for r in range(size)]
        assert ranges[0][0] == 0 and ranges[-1][1] == n
        assert all(ranges[r][1] == ranges[r + 1][0] for r in range(size - 1))
        lens = [b - a for a, b in ranges]
        assert max(lens) - min(lens) <= 1


def test_bad_model_is_rejected(mats):
    nc = build_nanocrystal(1.0)
    from hpc_nc.errors import HpcNcError

    with pytest.raises(HpcNcError, match="model"):
        ham.hamiltonian_rows(nc, realise_alloy(nc, 0, 0, 1), mats, "XYZ", None, 0, nc.n_atoms)


def _kramers_paired(e, tol=1e-8):
    return np.max(np.abs(e[1::2] - e[0::2])) < tol


def test_kramers_degeneracy_all_models(mats):
    pure = build_nanocrystal(1.0)
    assert _kramers_paired(
        np.linalg.eigvalsh(ham.reference_hamiltonian(pure, realise_alloy(pure, 0, 0, 1), mats, "NSTR").toarray())
    )
    cs = build_nanocrystal(0.75, 0.5)  # InS core, ZnS shell
    ins = realise_alloy(cs, 0.0, 1.0, 1)
    e = np.linalg.eigvalsh(ham.reference_hamiltonian(cs, ins, mats, "STR", _perturbed(cs)).toarray())
    assert _kramers_paired(e)
    for model in ("VCA", "NSTR", "STR"):
        alloy = _alloy(cs, model, 0.3, 0.4, seed=9)
        e = np.linalg.eigvalsh(ham.reference_hamiltonian(cs, alloy, mats, model, _perturbed(cs, seed=1)).toarray())
        assert _kramers_paired(e)
        # Not a trivially degenerate spectrum: distinct Kramers pairs exist.
        assert np.unique(np.round(e[0::2], 6)).size > e.size // 4


def test_passivation_removes_surface_states_from_gap(mats):
    nc = build_nanocrystal(1.5)
    alloy = realise_alloy(nc, 0, 0, 1)
    lo, hi = mats["ZnS"].vbm, mats["ZnS"].cbm  # bulk gap window (0, 3.684) eV
    surf = nc.is_surface
    counts = {}
    for pas in (20.0, 0.0):
        e, v = np.linalg.eigh(ham.reference_hamiltonian(nc, alloy, mats, "NSTR", passivation_ev=pas).toarray())
        w = (np.abs(v) ** 2).reshape(nc.n_atoms, 10, -1).sum(axis=1)
        in_gap = (e > lo) & (e < hi)
        counts[pas] = int((w[surf][:, in_gap].sum(axis=0) > 0.5).sum())
    assert counts[20.0] == 0
    assert counts[0.0] >= 10  # unpassivated dangling bonds fill the gap with surface states


def _dot_gap(mats, radius_a):
    """(HOMO, LUMO) of a pure ZnS dot, eV: shift-invert at each bulk band edge."""
    nc = build_nanocrystal(radius_a)
    h = ham.reference_hamiltonian(nc, realise_alloy(nc, 0, 0, 1), mats, "NSTR").tocsc()
    mid = 0.5 * (mats["ZnS"].vbm + mats["ZnS"].cbm)
    below = spla.eigsh(h, k=4, sigma=mats["ZnS"].vbm, return_eigenvectors=False).real
    above = spla.eigsh(h, k=4, sigma=mats["ZnS"].cbm, return_eigenvectors=False).real
    assert (below < mid).any() and (above > mid).any()
    return below[below < mid].max(), above[above > mid].min()


def test_confinement_gap_falls_with_radius(mats):
    gaps = []
    for r in (1.0, 1.5, 2.0):
        homo, lumo = _dot_gap(mats, r)
        assert homo < mats["ZnS"].vbm and lumo > mats["ZnS"].cbm  # both edges confined
        gaps.append(lumo - homo)
    bulk_gap = mats["ZnS"].gap
    assert gaps[0] > gaps[1] > gaps[2] > bulk_gap


def _symmetry_permutation(nc, rot):
    """Atom permutation sigma with rot @ r_i = r_sigma(i) (None if rot does not map the dot)."""
    ids = {tuple(g): i for i, g in enumerate(nc.grid)}
    img = nc.grid @ rot.T
    sigma = [ids.get(tuple(g)) for g in img]
    if any(s is None for s in sigma):
        return None
    perm = np.array(sigma)
    if not np.array_equal(nc.is_cation[perm], nc.is_cation):
        return None
    return perm


S4_Z = np.array([[0, -1, 0], [1, 0, 0], [0, 0, -1]])  # (x, y, z) -> (-y, x, -z)
C2_Z = np.diag([-1, -1, 1])
C4_Z = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]])


def test_td_degeneracies_of_pure_zns_dot(mats):
    nc = build_nanocrystal(1.5)
    e = np.linalg.eigvalsh(ham.reference_hamiltonian(nc, realise_alloy(nc, 0, 0, 1), mats, "NSTR").toarray())
    homo, lumo = e[e < 1.8].max(), e[e > 1.8].min()
    near = e[(e > homo - 1.0) & (e < lumo + 1.0)]
    groups = np.split(near, np.flatnonzero(np.diff(near) > 1e-7) + 1)[1:-1]  # drop cut edges
    sizes = {len(g) for g in groups}
    # Td double group: irreps of dimension 2 (Gamma6, Gamma7) and 4 (Gamma8) only.
    assert sizes <= {2, 4} and 4 in sizes and len(groups) > 10


@pytest.mark.parametrize("model", ["NSTR", "STR"])
def test_spectrum_invariant_under_dot_symmetries(mats, model):
    nc = build_nanocrystal(1.0, 0.25)
    # C4 about z is not a symmetry of zinc blende (it sends cations to empty sites);
    # S4 and C2 about z are, and map the anion-centred dot onto itself.
    assert _symmetry_permutation(nc, C4_Z) is None
    alloy = realise_alloy(nc, 0.3, 0.3, 4)
    pos = _perturbed(nc, 0.08)
    e0 = np.linalg.eigvalsh(ham.reference_hamiltonian(nc, alloy, mats, model, pos).toarray())
    for rot in (S4_Z, C2_Z):
        perm = _symmetry_permutation(nc, rot)
        assert perm is not None
        # The rotated configuration: atom i's species and displaced position move to sigma(i).
        w = np.zeros_like(alloy.compound_weights)
        w[perm] = alloy.compound_weights
        rotated = type(alloy)(w, alloy.x_cu, alloy.x_in, alloy.realised_x_cu, alloy.realised_x_in, 0, False)
        p = np.zeros_like(pos)
        p[perm] = pos @ rot.T
        e1 = np.linalg.eigvalsh(ham.reference_hamiltonian(nc, rotated, mats, model, p).toarray())
        assert np.allclose(e0, e1, atol=1e-9)
        # Nontrivial: the rotated alloy is a different configuration of the same sites.
        assert not np.array_equal(w, alloy.compound_weights)


def test_serial_csr_helper_matches_rows(mats):
    nc = build_nanocrystal(1.0)
    alloy = realise_alloy(nc, 0.5, 0.0, 2)
    h = ham.hamiltonian_csr(nc, alloy, mats, "NSTR")
    assert abs(h - _csr(nc, alloy, mats, "NSTR", None)).max() == 0
    assert h.shape == (10 * nc.n_atoms, 10 * nc.n_atoms)
