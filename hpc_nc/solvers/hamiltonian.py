"""Nanocrystal sp3s*+SO tight-binding Hamiltonian (docs/physics.md §3): numpy rows, PETSc assembly.

Row/column index = 10*atom + 5*spin + orb, orb in (s, px, py, pz, s*); atoms in the
Nanocrystal's (Morton) order. Energies in eV, lengths in Angstrom.

Rules (alloys and strain):
* a cation carries its compound's cation on-site energies and lambda, weighted over
  ``alloy.compound_weights`` (one-hot for NSTR/STR, fractional for VCA);
* a cation-S bond uses the two-centre integrals of that cation's compound (weighted);
* an S atom's on-site energies and lambda are the average over its real cation neighbours'
  compounds (the materials passed in already carry the band-offset shifts); an S atom with
  no real neighbour gets ZnS values;
* STR: bond directions from the actual positions and Harrison scaling (d0/d)^eta of every
  two-centre integral, d0 = sqrt(3)/4 * a of the bond's cation compound (weighted);
  NSTR/VCA: ideal directions, no scaling;
* dangling bonds: passivation_ev * |h_k><h_k| for every missing slot k, with h_k the sp3
  hybrid along the site's ideal bond direction (Lee et al., PRB 69, 045316 (2004)).

Sparsity pattern (fixed by the neighbour table, independent of the parameter values, so
that preallocation is exact): the on-site block of a bulk atom stores the diagonal and the
spin-orbit entries (px-py within a spin; px/py-pz and pz-px/py across spins); a surface
atom's also the same-spin (s,p)x(s,p) block that passivation fills; a bond block stores
the same-spin 5x5 block except s-s*, s*-s and s*-s* (always zero in sp3s*). Entries that
happen to vanish inside this pattern (e.g. for lambda = 0) are stored as zeros.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from hpc_nc.errors import BuildError, HpcNcError
from hpc_nc.parallel.collective import agree_on_error
from hpc_nc.parallel.petsc_matrix import aij_from_local_csr
from hpc_nc.physics.alloy import COMPOUNDS
from hpc_nc.physics.tight_binding import (
    N_SPIN_ORB,
    harrison_scale,
    onsite_block,
    passivation_block,
    slater_koster_block,
    slater_koster_blocks,
    spin_block_diagonal,
    spin_orbit_block,
)
from hpc_nc.settings import DEFAULT_HAMILTONIAN

if TYPE_CHECKING:
    from mpi4py import MPI
    from petsc4py import PETSc
    from scipy.sparse import csr_matrix

    from hpc_nc.physics.alloy import AlloyRealisation
    from hpc_nc.physics.geometry import Nanocrystal
    from hpc_nc.physics.materials import Material

MODELS = ("VCA", "NSTR", "STR")
_CHUNK_ATOMS = 2048  # bounds the temporary (chunk, 10, 5, 10) arrays to ~16 MB


def _patterns() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(on-site pattern of a bulk atom, of a surface atom, bond pattern), (10, 10) bool each."""
    bulk = np.eye(N_SPIN_ORB, dtype=bool)
    x, y, z, d = 1, 2, 3, 5
    for r, c in ((x, y), (d + x, d + y), (x, d + z), (y, d + z), (z, d + x), (z, d + y)):
        bulk[r, c] = bulk[c, r] = True  # spin-orbit (tight_binding.spin_orbit_block)
    surface = bulk.copy()
    bond = np.zeros((N_SPIN_ORB, N_SPIN_ORB), dtype=bool)
    for s in (0, d):
        surface[s : s + 4, s : s + 4] = True  # passivation mixes s and p of one spin
        bond[s : s + 5, s : s + 5] = True
        bond[s, s + 4] = bond[s + 4, s] = bond[s + 4, s + 4] = False
    return bulk, surface, bond


ONSITE_PATTERN_BULK, ONSITE_PATTERN_SURFACE, BOND_PATTERN = _patterns()
# Nonzeros per orbital row (5*spin + orb): on-site bulk (1, 3, 3, 3, 1), surface
# (4, 5, 5, 6, 1); per neighbour (4, 5, 5, 5, 3).
ONSITE_ROW_NNZ_BULK = ONSITE_PATTERN_BULK.sum(axis=1)
ONSITE_ROW_NNZ_SURFACE = ONSITE_PATTERN_SURFACE.sum(axis=1)
BOND_ROW_NNZ = BOND_PATTERN.sum(axis=1)


# ----------------------------------------------------------------------------- parameters
def _check_inputs(nc, alloy, mats, model, positions):
    if model not in MODELS:
        raise HpcNcError(f"unknown model {model!r} (use one of {', '.join(MODELS)})")
    missing = [c for c in COMPOUNDS if c not in mats]
    if missing:
        raise HpcNcError(f"materials lack {', '.join(missing)}")
    w = np.asarray(alloy.compound_weights)
    if w.shape != (nc.n_atoms, len(COMPOUNDS)):
        raise HpcNcError(f"alloy has weights for {w.shape[0]} atoms, the nanocrystal has {nc.n_atoms}")
    if positions is not None:
        p = np.asarray(positions)
        if p.shape != (nc.n_atoms, 3) or not np.all(np.isfinite(p)):
            raise HpcNcError(f"positions must be a finite ({nc.n_atoms}, 3) array in Angstrom, got shape {p.shape}")


def _compound_tables(mats):
    """Per-compound parameter tables in COMPOUNDS order."""
    ms = [mats[c] for c in COMPOUNDS]
    return dict(
        onsite_anion=np.array([m.onsite_anion for m in ms]),  # (3, 5)
        onsite_cation=np.array([m.onsite_cation for m in ms]),
        lam_anion=np.array([m.lambda_anion for m in ms]),  # (3,)
        lam_cation=np.array([m.lambda_cation for m in ms]),
        two_centre=np.array([m.two_centre for m in ms]),  # (3, 7)
        bond_length=np.array([m.bond_length for m in ms]),  # (3,)
    )


def site_weights(nc: Nanocrystal, alloy: AlloyRealisation) -> np.ndarray:
    """(N, 3) compound weights that set each atom's on-site parameters.

    Cations: their own weights. Anions: the mean of their real cation neighbours' weights
    (pure ZnS for an isolated anion).
    """
    w = np.asarray(alloy.compound_weights, dtype=float)
    nb = nc.neighbors
    real = nb >= 0
    summed = np.where(real[:, :, None], w[np.where(real, nb, 0)], 0.0).sum(axis=1)
    count = real.sum(axis=1)
    anion_w = np.zeros_like(w)
    has = count > 0
    anion_w[has] = summed[has] / count[has, None]
    anion_w[~has, COMPOUNDS.index("ZnS")] = 1.0
    return np.where(nc.is_cation[:, None], w, anion_w)


def _bond_geometry(nc, alloy, tables, model, positions, atoms, harrison_eta):
    """Integrals (n, 4, 7) eV and unit anion->cation cosines (n, 4, 3) for every slot of atoms."""
    w = np.asarray(alloy.compound_weights, dtype=float)
    nb = nc.neighbors[atoms]
    real = nb >= 0
    nbi = np.where(real, nb, atoms[:, None])
    cat = nc.is_cation[atoms]
    cation_idx = np.where(cat[:, None], atoms[:, None], nbi)  # (n,4)
    wc = w[cation_idx]  # (n,4,3) weights of the bond's cation
    ints = wc @ tables["two_centre"]  # (n,4,7)
    sign = np.where(cat, -1.0, 1.0)[:, None, None]  # slot vectors of a cation point to the anion
    if model == "STR":
        pos = nc.positions if positions is None else np.asarray(positions, dtype=float)
        vec = sign * (pos[nbi] - pos[atoms][:, None, :])
        vec = np.where(real[:, :, None], vec, sign * nc.bond_vectors[atoms])
        dist = np.linalg.norm(vec, axis=2)
        d0 = wc @ tables["bond_length"]
        ints = ints * harrison_scale(dist, d0, harrison_eta)[:, :, None]
    else:
        vec = sign * nc.bond_vectors[atoms]
        dist = np.linalg.norm(vec, axis=2)
    return ints, vec / dist[:, :, None]


# ----------------------------------------------------------------------------- numpy kernel
def hamiltonian_rows(
    nc: Nanocrystal,
    alloy: AlloyRealisation,
    mats: Mapping[str, Material],
    model: str,
    positions: np.ndarray | None,
    atom_start: int,
    atom_stop: int,
    passivation_ev: float = DEFAULT_HAMILTONIAN.passivation_ev,
    harrison_eta: float = DEFAULT_HAMILTONIAN.harrison_eta,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR rows (indptr, indices, values) of atoms [atom_start, atom_stop), global columns.

    Rows 10*atom_start .. 10*atom_stop - 1; indptr starts at 0; columns are sorted within a
    row; values complex128 in eV. Pure numpy, no MPI. positions: (N, 3) Angstrom, used by the
    STR model only (None = the ideal positions, which still strains bonds whose compound's
    natural length differs from ZnS's); VCA and NSTR ignore them.
    """
    _check_inputs(nc, alloy, mats, model, positions)
    for name, val in (("passivation_ev", passivation_ev), ("harrison_eta", harrison_eta)):
        if not np.isfinite(val):
            raise HpcNcError(f"{name} must be a finite number, got {val!r}")
    if not (0 <= atom_start <= atom_stop <= nc.n_atoms):
        raise HpcNcError(f"atom range [{atom_start}, {atom_stop}) outside [0, {nc.n_atoms})")
    tables = _compound_tables(mats)
    sw = site_weights(nc, alloy)
    indptr_parts, index_parts, value_parts = [], [], []
    for c0 in range(atom_start, atom_stop, _CHUNK_ATOMS):
        atoms = np.arange(c0, min(c0 + _CHUNK_ATOMS, atom_stop))
        n = len(atoms)
        cat = nc.is_cation[atoms]
        wsite = sw[atoms]
        energies = np.where(cat[:, None], wsite @ tables["onsite_cation"], wsite @ tables["onsite_anion"])
        lam = np.where(cat, wsite @ tables["lam_cation"], wsite @ tables["lam_anion"])
        dirs = nc.bond_vectors[atoms] / np.linalg.norm(nc.bond_vectors[atoms], axis=2)[:, :, None]
        passiv = passivation_block(dirs, nc.neighbors[atoms] < 0, passivation_ev)
        onsite = onsite_block(energies, lam, passiv)  # (n,10,10)

        ints, cosines = _bond_geometry(nc, alloy, tables, model, positions, atoms, harrison_eta)
        sk = slater_koster_blocks(ints.reshape(-1, 7), cosines.reshape(-1, 3)).reshape(n, 4, 5, 5)
        # Row atom is the anion: block as is; row atom is the cation: transpose (real).
        sk = np.where(cat[:, None, None, None], np.swapaxes(sk, 2, 3), sk)
        bond = spin_block_diagonal(sk)  # (n,4,10,10)

        # Slot 0 = self, 1..4 = neighbours; sort slots by column atom so columns ascend.
        col_atom = np.concatenate([atoms[:, None], nc.neighbors[atoms]], axis=1)  # (n,5)
        present = col_atom >= 0
        blocks = np.concatenate([onsite[:, None], bond.astype(complex)], axis=1)  # (n,5,10,10)
        key = np.where(present, col_atom, np.iinfo(np.int64).max)
        order = np.argsort(key, axis=1, kind="stable")
        col_atom = np.take_along_axis(col_atom, order, axis=1)
        present = np.take_along_axis(present, order, axis=1)
        blocks = np.take_along_axis(blocks, order[:, :, None, None], axis=1)
        surface = (nc.neighbors[atoms] < 0).any(axis=1)
        own = np.where(surface[:, None, None], ONSITE_PATTERN_SURFACE, ONSITE_PATTERN_BULK)  # (n,10,10)
        pattern = np.where((order == 0)[:, :, None, None], own[:, None], BOND_PATTERN)
        valid = pattern & present[:, :, None, None]  # (n,5,10,10)
        cols = 10 * col_atom[:, :, None, None] + np.arange(N_SPIN_ORB)[None, None, None, :]
        cols = np.broadcast_to(cols, valid.shape)
        # Reorder to (atom, row orbital, slot, column orbital): C order = CSR order.
        valid = valid.transpose(0, 2, 1, 3)
        value_parts.append(blocks.transpose(0, 2, 1, 3)[valid])
        index_parts.append(cols.transpose(0, 2, 1, 3)[valid])
        indptr_parts.append(valid.sum(axis=(2, 3)).reshape(-1))
    counts = np.concatenate(indptr_parts) if indptr_parts else np.zeros(0, dtype=np.int64)
    indptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.concatenate(index_parts).astype(np.int64) if index_parts else np.zeros(0, dtype=np.int64)
    values = np.concatenate(value_parts) if value_parts else np.zeros(0, dtype=complex)
    return indptr, indices, values


def hamiltonian_csr(
    nc: Nanocrystal,
    alloy: AlloyRealisation,
    mats: Mapping[str, Material],
    model: str,
    positions: np.ndarray | None = None,
    passivation_ev: float = DEFAULT_HAMILTONIAN.passivation_ev,
    harrison_eta: float = DEFAULT_HAMILTONIAN.harrison_eta,
) -> csr_matrix:
    """Serial convenience: the whole H (eV) as scipy.sparse.csr_matrix from :func:`hamiltonian_rows`."""
    import scipy.sparse as sp

    indptr, indices, values = hamiltonian_rows(
        nc, alloy, mats, model, positions, 0, nc.n_atoms, passivation_ev, harrison_eta
    )
    n = 10 * nc.n_atoms
    return sp.csr_matrix((values, indices, indptr), shape=(n, n))


def row_nnz(nc: Nanocrystal, atom_start: int, atom_stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact (diagonal, off-diagonal) nonzeros per row of the atom block, from the neighbour
    table alone: the 'diagonal' part holds the columns of atoms in [atom_start, atom_stop)."""
    nb = nc.neighbors[atom_start:atom_stop]
    real = nb >= 0
    local = real & (nb >= atom_start) & (nb < atom_stop)
    n_local = local.sum(axis=1)
    n_off = real.sum(axis=1) - n_local
    own = np.where((~real).any(axis=1)[:, None], ONSITE_ROW_NNZ_SURFACE, ONSITE_ROW_NNZ_BULK)
    d = own + n_local[:, None] * BOND_ROW_NNZ[None, :]
    o = n_off[:, None] * BOND_ROW_NNZ[None, :]
    return d.reshape(-1).astype(np.int64), o.reshape(-1).astype(np.int64)


# ----------------------------------------------------------------------------- reference
def reference_hamiltonian(
    nc: Nanocrystal,
    alloy: AlloyRealisation,
    mats: Mapping[str, Material],
    model: str,
    positions: np.ndarray | None = None,
    passivation_ev: float = DEFAULT_HAMILTONIAN.passivation_ev,
    harrison_eta: float = DEFAULT_HAMILTONIAN.harrison_eta,
) -> csr_matrix:
    """Independent, loop-over-atoms-and-bonds build of H as scipy.sparse.csr_matrix (eV).

    Test reference for :func:`hamiltonian_rows`: dense 10x10 blocks per atom and per bond
    from the element-by-element Slater-Koster form, assembled as COO. Slow; small dots only.
    """
    import scipy.sparse as sp

    _check_inputs(nc, alloy, mats, model, positions)
    w = np.asarray(alloy.compound_weights, dtype=float)
    pos = nc.positions if (positions is None or model != "STR") else np.asarray(positions, dtype=float)
    comp = [mats[c] for c in COMPOUNDS]

    def mix(weights, attr):
        return sum(wc * np.asarray(getattr(m, attr)) for wc, m in zip(weights, comp))

    rows, cols, vals = [], [], []

    def add(i, j, block):
        r, c = np.nonzero(np.ones((10, 10), dtype=bool))
        rows.append(10 * i + r)
        cols.append(10 * j + c)
        vals.append(block[r, c])

    for i in range(nc.n_atoms):
        if nc.is_cation[i]:
            e, lam = mix(w[i], "onsite_cation"), mix(w[i], "lambda_cation")
        else:
            nbrs = [j for j in nc.neighbors[i] if j >= 0]
            ws = np.mean([w[j] for j in nbrs], axis=0) if nbrs else np.array([1.0, 0.0, 0.0])
            e, lam = mix(ws, "onsite_anion"), mix(ws, "lambda_anion")
        h = np.zeros((10, 10), dtype=complex)
        for s in (0, 5):
            h[s : s + 5, s : s + 5] += np.diag(e)
            for k in range(4):
                if nc.neighbors[i, k] < 0:  # dangling bond: shift its sp3 hybrid
                    u = nc.bond_vectors[i, k] / np.linalg.norm(nc.bond_vectors[i, k])
                    hyb = np.array([0.5, *(0.5 * np.sqrt(3.0) * u), 0.0])
                    h[s : s + 5, s : s + 5] += passivation_ev * np.outer(hyb, hyb)
        h += spin_orbit_block(float(lam))
        add(i, i, h)
        for k in range(4):
            j = nc.neighbors[i, k]
            if j < 0:
                continue
            an, ca = (j, i) if nc.is_cation[i] else (i, j)
            wc = w[ca]
            v = mix(wc, "two_centre")
            if model == "STR":
                d = pos[ca] - pos[an]
                dist = np.linalg.norm(d)
                v = v * (mix(wc, "bond_length") / dist) ** harrison_eta
                u = d / dist
            else:
                d = nc.positions[ca] - nc.positions[an]
                u = d / np.linalg.norm(d)
            b = slater_koster_block(v, u)  # anion rows, cation columns
            blk = b if i == an else b.T
            full = np.zeros((10, 10), dtype=complex)
            full[:5, :5] = blk
            full[5:, 5:] = blk
            add(i, j, full)
    n = 10 * nc.n_atoms
    m = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsr()
    m.eliminate_zeros()
    return m


# ----------------------------------------------------------------------------- PETSc driver
def _size_rank(comm) -> tuple[int, int]:
    if hasattr(comm, "Get_size"):
        return comm.Get_size(), comm.Get_rank()
    return comm.getSize(), comm.getRank()


def _mpi_comm(comm):
    return comm.tompi4py() if hasattr(comm, "tompi4py") else comm


def atom_ownership(comm: MPI.Comm | PETSc.Comm, n_atoms: int) -> tuple[int, int]:
    """(atom_start, atom_stop) of this rank: :func:`hpc_nc.physics.geometry.atom_block`. Not collective."""
    from hpc_nc.physics.geometry import atom_block

    return atom_block(n_atoms, *_size_rank(comm))


def assemble_hamiltonian(
    comm: MPI.Comm | PETSc.Comm,
    nc: Nanocrystal,
    alloy: AlloyRealisation,
    mats: Mapping[str, Material],
    model: str,
    positions: np.ndarray | None = None,
    passivation_ev: float = DEFAULT_HAMILTONIAN.passivation_ev,
    harrison_eta: float = DEFAULT_HAMILTONIAN.harrison_eta,
) -> PETSc.Mat:
    """Collective: the Hamiltonian as a complex PETSc MPIAIJ matrix on comm (eV).

    Rows are owned in whole-atom blocks (:func:`atom_ownership`); preallocation is exact
    (from the neighbour table) and any extra nonzero would be an error. Call
    ``petsc_build.select_build("complex")`` first. comm: mpi4py or petsc4py communicator.
    Every rank must pass the same arguments; an error on any rank is raised on all ranks.
    """
    from hpc_nc.parallel.petsc_build import loaded_scalar_type

    if loaded_scalar_type() != "complex":
        raise BuildError("assemble_hamiltonian needs the complex PETSc build: call select_build('complex') first")
    from petsc4py import PETSc

    mcomm = _mpi_comm(comm)
    a0, a1 = atom_ownership(mcomm, nc.n_atoms)
    error = None
    try:
        indptr, indices, values = hamiltonian_rows(
            nc, alloy, mats, model, positions, a0, a1, passivation_ev, harrison_eta
        )
        d_nnz, o_nnz = row_nnz(nc, a0, a1)
    except HpcNcError as exc:  # agree collectively instead of leaving other ranks waiting
        error = str(exc)
    error = agree_on_error(mcomm, error)
    if error:
        raise HpcNcError(error)
    mat = aij_from_local_csr(PETSc, PETSc.Comm(mcomm), indptr, indices, values, 10 * nc.n_atoms, d_nnz, o_nnz)
    mat.setOption(PETSc.Mat.Option.HERMITIAN, True)
    return mat
