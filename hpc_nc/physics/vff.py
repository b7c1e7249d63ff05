"""Keating valence force field: parameters, energy, gradient, Hessian (docs/physics.md §4).

Plain numpy/SciPy kernels without MPI; the distributed TAO driver is :mod:`hpc_nc.solvers.relax`.

Energy (eV), positions in Å:

    E = Σ_i Σ_{j∈nn(i)} 3α_ij/(16 d0_ij²) (r_ij² − d0_ij²)²
      + Σ_i Σ_{j<k∈nn(i)} 3β_ijk/(8 d0_ij d0_ik) (r_ij·r_ik + d0_ij d0_ik/3)²

The first double sum visits every bond twice (once from each end); the kernels store each
bond once with the doubled coefficient 3α/(8 d0²). With this normalisation the bulk
relations are C11 = (α+3β)/a, C12 = (α−β)/a, C44 = 4αβ/(a(α+β)) (relaxed); the tests
check them on a periodic 8-atom cell built by :func:`periodic_zincblende_cell`.

Alloys: the compound of a bond is its cation's compound. A cation's natural lattice
constant, α and β are the compound-weighted averages (one-hot for random alloys,
fractional for the virtual crystal), d0 = √3 a/4. An angle at atom i between bonds ij and
ik uses β_ijk = (β_ij + β_ik)/2 and the cross term d0_ij d0_ik/3.

Image offsets: every bond vector is x_j − x_i + offset (offset 0 in a nanocrystal, a
lattice translation in a periodic cell), so one set of kernels serves both.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from hpc_nc.errors import HpcNcError
from hpc_nc.physics.alloy import COMPOUNDS

N_PER_M_TO_EV_PER_A2 = 0.0624151  # 1 N/m = 1 J/m² = 6.24151e18 eV / 1e20 Å² (docs/physics.md)


@dataclass(frozen=True, eq=False)
class VffParameters:
    """Keating parameters per compound, in COMPOUNDS order (ZnS, InS, CuS).

    lattice_constant: (3,) Å; alpha, beta: (3,) eV/Å²; content_hash: sha256 of the file.
    """

    compounds: tuple
    lattice_constant: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    content_hash: str
    source: str

    @property
    def bond_length(self) -> np.ndarray:
        """(3,) natural bond length d0 = √3 a/4 of each compound, Å."""
        return np.sqrt(3.0) / 4.0 * self.lattice_constant


def _positive(value, what: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise HpcNcError(f"vff parameter {what} is not a number: {value!r}") from None
    if not (np.isfinite(x) and x > 0):
        raise HpcNcError(f"vff parameter {what} must be positive and finite, got {value!r}")
    return x


def load_vff(path: str | Path | None = None) -> VffParameters:
    """Load and validate the VFF parameter file (default: the package's data/vff.yaml)."""
    import yaml

    if path is None:
        text = resources.files("hpc_nc").joinpath("data/vff.yaml").read_bytes()
        source = "hpc_nc/data/vff.yaml"
    else:
        try:
            text = Path(path).read_bytes()
        except OSError as exc:
            raise HpcNcError(f"cannot read VFF parameter file {path}: {exc.strerror}") from None
        source = str(path)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise HpcNcError(f"VFF parameter file {source} is not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("compounds"), dict):
        raise HpcNcError(f"VFF parameter file {source} has no 'compounds' mapping")
    units = doc.get("units", {})
    if units.get("force_constant", "N/m") != "N/m" or units.get("lattice_constant", "angstrom") != "angstrom":
        raise HpcNcError(f"VFF parameter file {source}: units must be N/m and angstrom")
    comps = doc["compounds"]
    missing = [c for c in COMPOUNDS if c not in comps]
    if missing:
        raise HpcNcError(f"VFF parameter file {source} lacks compounds {missing}")
    lat, alpha, beta = [], [], []
    for name in COMPOUNDS:
        entry = comps[name]
        if not isinstance(entry, dict):
            raise HpcNcError(f"VFF parameter file {source}: {name} must be a mapping")
        lat.append(_positive(entry.get("lattice_constant"), f"{name}.lattice_constant"))
        donor = entry.get("force_constants_from", name)
        if donor not in comps or "alpha" not in comps[donor]:
            raise HpcNcError(f"VFF parameter file {source}: {name} takes force constants from unknown {donor!r}")
        alpha.append(_positive(comps[donor].get("alpha"), f"{donor}.alpha"))
        beta.append(_positive(comps[donor].get("beta"), f"{donor}.beta"))
    arrays = [np.array(v) for v in (lat, alpha, beta)]
    arrays[1] *= N_PER_M_TO_EV_PER_A2
    arrays[2] *= N_PER_M_TO_EV_PER_A2
    for arr in arrays:
        arr.setflags(write=False)
    return VffParameters(
        compounds=COMPOUNDS,
        lattice_constant=arrays[0],
        alpha=arrays[1],
        beta=arrays[2],
        content_hash=hashlib.sha256(text).hexdigest(),
        source=source,
    )


def keating_from_elastic(c11_gpa: float, c12_gpa: float, lattice_constant: float) -> tuple[float, float]:
    """(α, β) in N/m that reproduce C11 and C12 exactly: α = a(C11+3C12)/4, β = a(C11−C12)/4.

    1 GPa·Å = 0.1 N/m.
    """
    a = lattice_constant * 0.1
    return a * (c11_gpa + 3.0 * c12_gpa) / 4.0, a * (c11_gpa - c12_gpa) / 4.0


# --------------------------------------------------------------------------- terms


@dataclass(frozen=True, eq=False)
class KeatingTerms:
    """Every bond and angle of a structure with its constants (units eV, Å).

    Bonds (each once): i = cation, j = anion, vector x_j − x_i + bond_offset;
    bond_coef = 3α/(8 d0²) [eV/Å⁴], bond_d0sq = d0² [Å²], bond_compound = argmax of the
    cation's weights (for diagnostics). Angles at vertex v between bonds to j and k:
    angle_coef = 3β/(8 d0_vj d0_vk) [eV/Å⁴], angle_c = d0_vj d0_vk/3 [Å²].
    bond_owned/angle_owned: which terms count towards the energy (all of them for a whole
    structure; in a block only the terms owned by the block, see :func:`block_terms`).

    The same terms in a dense per-vertex layout (used by the energy/gradient kernel, which
    avoids scattered gathers): vertices vert (M,), their four slots slot_nb (M, 4) (the
    vertex itself for a dangling bond, with zero constants), slot_off (M, 4, 3) Å,
    slot_coef = 3α/(16 d0²) (half a bond: each bond is seen from both ends, as in the
    double sum of the energy), slot_d0sq (M, 4), pair_coef/pair_c (M, 6) over the slot
    pairs _SLOT_PAIRS, vert_owned (M,).
    """

    n_atoms: int
    bond_i: np.ndarray
    bond_j: np.ndarray
    bond_offset: np.ndarray
    bond_coef: np.ndarray
    bond_d0sq: np.ndarray
    bond_compound: np.ndarray
    bond_owned: np.ndarray
    angle_v: np.ndarray
    angle_j: np.ndarray
    angle_k: np.ndarray
    angle_offset_j: np.ndarray
    angle_offset_k: np.ndarray
    angle_coef: np.ndarray
    angle_c: np.ndarray
    angle_owned: np.ndarray
    vert: np.ndarray
    slot_nb: np.ndarray
    slot_off: np.ndarray
    slot_coef: np.ndarray
    slot_d0sq: np.ndarray
    pair_coef: np.ndarray
    pair_c: np.ndarray
    vert_owned: np.ndarray

    @property
    def has_offsets(self) -> bool:
        """True when some bond crosses a periodic boundary (cached)."""
        cached = self.__dict__.get("_has_offsets")
        if cached is None:
            cached = bool(np.any(self.slot_off))
            object.__setattr__(self, "_has_offsets", cached)
        return cached

    @property
    def slot_major(self) -> dict:
        """Dense per-vertex arrays transposed to slot-major (4 or 6, M) layout (cached)."""
        cached = self.__dict__.get("_slot_major")
        if cached is None:
            cached = {
                "slot_nb": np.ascontiguousarray(self.slot_nb.T),
                "slot_off": np.ascontiguousarray(np.transpose(self.slot_off, (2, 1, 0))),
                "slot_coef": np.ascontiguousarray(self.slot_coef.T),
                "slot_d0sq": np.ascontiguousarray(self.slot_d0sq.T),
                "pair_coef": np.ascontiguousarray(self.pair_coef.T),
                "pair_c": np.ascontiguousarray(self.pair_c.T),
            }
            object.__setattr__(self, "_slot_major", cached)
        return cached

    @property
    def n_bonds(self) -> int:
        return int(self.bond_i.size)

    @property
    def n_angles(self) -> int:
        return int(self.angle_v.size)


_SLOT_PAIRS = [(p, q) for p in range(4) for q in range(p + 1, 4)]


def build_keating_terms(
    neighbors: np.ndarray,
    is_cation: np.ndarray,
    compound_weights: np.ndarray,
    params: VffParameters,
    bond_offsets: np.ndarray | None = None,
) -> KeatingTerms:
    """Bond and angle lists with per-term constants from the neighbour table.

    neighbors: (N, 4) atom per bond slot, -1 for dangling bonds (Nanocrystal.neighbors).
    compound_weights: (N, 3) over COMPOUNDS, rows of cations sum to 1 (AlloyRealisation).
    bond_offsets: optional (N, 4, 3) Å added to x[neighbors[i,k]] − x[i] (periodic images).
    """
    nb = np.asarray(neighbors, dtype=np.int64)
    n = nb.shape[0]
    cat = np.asarray(is_cation, dtype=bool)
    w = np.asarray(compound_weights, dtype=np.float64)
    if nb.shape != (n, 4) or cat.shape != (n,) or w.shape != (n, len(COMPOUNDS)):
        raise HpcNcError("neighbors, is_cation and compound_weights disagree in shape")
    if np.any(np.abs(w[cat].sum(axis=1) - 1.0) > 1e-9):
        raise HpcNcError("every cation needs compound weights that sum to 1")
    off = np.zeros((n, 4, 3)) if bond_offsets is None else np.asarray(bond_offsets, dtype=np.float64)

    # Per-slot bond constants, taken from the cation at either end of the bond.
    cat_atom = np.where(cat[:, None], np.arange(n)[:, None], nb)  # (N,4): cation of each slot
    real = nb >= 0
    cw = w[np.where(real, cat_atom, 0)]  # (N,4,3)
    slot_a = cw @ params.lattice_constant
    slot_alpha = cw @ params.alpha
    slot_beta = cw @ params.beta
    slot_d0 = np.sqrt(3.0) / 4.0 * slot_a

    # Bonds once: from the cation end.
    ci, ck = np.nonzero(real & cat[:, None])
    d0 = slot_d0[ci, ck]
    bond_compound = w[ci].argmax(axis=1)

    av, aj, ak, aoj, aok, acoef, ac = [], [], [], [], [], [], []
    for p, q in _SLOT_PAIRS:
        v = np.flatnonzero(real[:, p] & real[:, q])
        dp, dq = slot_d0[v, p], slot_d0[v, q]
        beta = 0.5 * (slot_beta[v, p] + slot_beta[v, q])
        av.append(v)
        aj.append(nb[v, p])
        ak.append(nb[v, q])
        aoj.append(off[v, p])
        aok.append(off[v, q])
        acoef.append(3.0 * beta / (8.0 * dp * dq))
        ac.append(dp * dq / 3.0)
    av = np.concatenate(av)
    order = np.argsort(av, kind="stable")  # angles grouped by vertex: local blocks stay contiguous

    dp = slot_d0[:, [p for p, _ in _SLOT_PAIRS]]
    dq = slot_d0[:, [q for _, q in _SLOT_PAIRS]]
    pair_real = real[:, [p for p, _ in _SLOT_PAIRS]] & real[:, [q for _, q in _SLOT_PAIRS]]
    pair_beta = 0.5 * (slot_beta[:, [p for p, _ in _SLOT_PAIRS]] + slot_beta[:, [q for _, q in _SLOT_PAIRS]])
    with np.errstate(divide="ignore", invalid="ignore"):
        slot_coef = np.where(real, 3.0 * slot_alpha / (16.0 * slot_d0**2), 0.0)
        pair_coef = np.where(pair_real, 3.0 * pair_beta / (8.0 * dp * dq), 0.0)
    return KeatingTerms(
        n_atoms=n,
        bond_i=ci,
        bond_j=nb[ci, ck],
        bond_offset=off[ci, ck],
        bond_coef=3.0 * slot_alpha[ci, ck] / (8.0 * d0**2),
        bond_d0sq=d0**2,
        bond_compound=bond_compound,
        bond_owned=np.ones(ci.size, dtype=bool),
        angle_v=av[order],
        angle_j=np.concatenate(aj)[order],
        angle_k=np.concatenate(ak)[order],
        angle_offset_j=np.concatenate(aoj)[order],
        angle_offset_k=np.concatenate(aok)[order],
        angle_coef=np.concatenate(acoef)[order],
        angle_c=np.concatenate(ac)[order],
        angle_owned=np.ones(av.size, dtype=bool),
        vert=np.arange(n),
        slot_nb=np.where(real, nb, np.arange(n)[:, None]),
        slot_off=np.where(real[:, :, None], off, 0.0),
        slot_coef=slot_coef,
        slot_d0sq=np.where(real, slot_d0**2, 0.0),
        pair_coef=pair_coef,
        pair_c=np.where(pair_real, dp * dq / 3.0, 0.0),
        vert_owned=np.ones(n, dtype=bool),
    )


def nanocrystal_terms(nc, alloy, params: VffParameters | None = None) -> KeatingTerms:
    """Keating terms of a Nanocrystal with an AlloyRealisation (free boundaries)."""
    return build_keating_terms(nc.neighbors, nc.is_cation, alloy.compound_weights, params or load_vff())


# --------------------------------------------------------------------------- kernels


def _vectors(x: np.ndarray, t: KeatingTerms):
    r = x[t.bond_j] - x[t.bond_i] + t.bond_offset
    u = x[t.angle_j] - x[t.angle_v] + t.angle_offset_j
    v = x[t.angle_k] - x[t.angle_v] + t.angle_offset_k
    return r, u, v


def keating_energy(positions: np.ndarray, terms: KeatingTerms) -> float:
    """Energy (eV) of the owned terms at positions (N, 3) Å."""
    return keating_energy_gradient(positions, terms, gradient=False)[0]


_PAIR_P = np.array([p for p, _ in _SLOT_PAIRS])
_PAIR_Q = np.array([q for _, q in _SLOT_PAIRS])


def keating_energy_gradient(positions: np.ndarray, terms: KeatingTerms, gradient: bool = True):
    """(energy eV over owned terms, gradient (N, 3) eV/Å over all terms).

    The gradient includes every term passed in, owned or not, so that the rows of a block's
    own atoms are complete when the block's terms include all terms touching them.
    Dense per-vertex evaluation: bond vectors of the four slots of every vertex at once.
    """
    x = np.asarray(positions, dtype=np.float64)
    t = terms
    # Slot-major (4, M) layout and 1-D gathers per component: contiguous rows, much faster
    # than fancy-indexing (N, 3) rows or einsum over small axes.
    lay = terms.slot_major
    nbt, vert = lay["slot_nb"], t.vert
    rc = []
    for i in range(3):
        xi = np.ascontiguousarray(x[:, i])
        c = np.take(xi, nbt) - np.take(xi, vert)
        if t.has_offsets:
            c += lay["slot_off"][i]
        rc.append(c)
    c0, c1, c2 = rc
    stretch = c0 * c0 + c1 * c1 + c2 * c2 - lay["slot_d0sq"]  # (4,M)
    s = np.empty((len(_SLOT_PAIRS), vert.size))
    for k, (p, q) in enumerate(_SLOT_PAIRS):
        s[k] = c0[p] * c0[q] + c1[p] * c1[q] + c2[p] * c2[q]
    s += lay["pair_c"]
    bond_e = lay["slot_coef"] * stretch * stretch
    angle_e = lay["pair_coef"] * s * s
    own = t.vert_owned
    if own.all():
        energy = float(bond_e.sum() + angle_e.sum())
    else:
        energy = float(bond_e[:, own].sum() + angle_e[:, own].sum())
    if not gradient:
        return energy, None
    ws = 2.0 * lay["pair_coef"] * s
    sb = 4.0 * lay["slot_coef"] * stretch
    g = np.empty_like(x)
    flat_nb = nbt.ravel()
    for i, c in enumerate(rc):
        d = sb * c  # dE/d(bond vector) along axis i, (4,M)
        for k, (p, q) in enumerate(_SLOT_PAIRS):
            d[p] += ws[k] * c[q]
            d[q] += ws[k] * c[p]
        g[:, i] = np.bincount(flat_nb, d.ravel(), minlength=x.shape[0])
        g[vert, i] -= d.sum(axis=0)  # vertices are unique: plain fancy assignment is exact
    return energy, g


def keating_hessian(positions: np.ndarray, terms: KeatingTerms):
    """Hessian d²E/dx dx (3N x 3N, eV/Å²) as a scipy.sparse CSR matrix (all terms).

    Row/column 3*atom + axis. The sparsity pattern depends only on the terms (entries that
    happen to be zero are kept), so it can be preallocated once.
    """
    import scipy.sparse as sp

    x = np.asarray(positions, dtype=np.float64)
    t = terms
    n = x.shape[0]
    r, u, v = _vectors(x, t)
    eye = np.eye(3)
    # Bond: E = k (r·r − D)²  ->  d²E/dr² = 4k[(r·r − D) I + 2 r rᵀ]
    bstretch = np.einsum("ij,ij->i", r, r) - t.bond_d0sq
    hb = 4.0 * t.bond_coef[:, None, None] * (bstretch[:, None, None] * eye + 2.0 * r[:, :, None] * r[:, None, :])
    # Angle: E = k (u·v + c)²  ->  H_uu = 2k v vᵀ, H_vv = 2k u uᵀ, H_uv = 2k (v uᵀ + s I)
    s = np.einsum("ij,ij->i", u, v) + t.angle_c
    k2 = (2.0 * t.angle_coef)[:, None, None]
    huu = k2 * v[:, :, None] * v[:, None, :]
    hvv = k2 * u[:, :, None] * u[:, None, :]
    huv = k2 * (v[:, :, None] * u[:, None, :] + s[:, None, None] * eye)
    hvu = np.transpose(huv, (0, 2, 1))
    # x_j enters through u, x_k through v, x_v through −(u + v). The block order is fixed
    # (the cached CSR pattern relies on it).
    blocks = [
        (t.bond_i, t.bond_i, hb),
        (t.bond_j, t.bond_j, hb),
        (t.bond_i, t.bond_j, -hb),
        (t.bond_j, t.bond_i, -hb),
        (t.angle_j, t.angle_j, huu),
        (t.angle_k, t.angle_k, hvv),
        (t.angle_j, t.angle_k, huv),
        (t.angle_k, t.angle_j, hvu),
        (t.angle_v, t.angle_v, huu + hvv + huv + hvu),
        (t.angle_v, t.angle_j, -(huu + hvu)),
        (t.angle_j, t.angle_v, -(huu + huv)),
        (t.angle_v, t.angle_k, -(huv + hvv)),
        (t.angle_k, t.angle_v, -(hvu + hvv)),
    ]
    vals = np.concatenate([h.ravel() for _, _, h in blocks])
    indptr, indices, perm = _hessian_pattern(terms, blocks, n)
    data = np.bincount(perm, vals, minlength=indices.size)
    return sp.csr_matrix((data, indices, indptr), shape=(3 * n, 3 * n))


def _hessian_pattern(terms: KeatingTerms, blocks, n: int):
    """CSR pattern of the Hessian and the map from block entries to CSR slots (cached).

    The pattern depends only on the terms, so the sort that sums duplicate entries is done
    once; later Hessians are a single bincount.
    """
    cached = terms.__dict__.get("_hessian_pattern")
    if cached is not None:
        return cached
    ax = np.arange(3)
    rows = np.concatenate([(3 * p[:, None, None] + ax[None, :, None]).repeat(3, axis=2).ravel() for p, _, _ in blocks])
    cols = np.concatenate([(3 * q[:, None, None] + ax[None, None, :]).repeat(3, axis=1).ravel() for _, q, _ in blocks])
    keys, perm = np.unique(rows * (3 * n) + cols, return_inverse=True)  # row-major order = CSR order
    indices = keys % (3 * n)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(keys // (3 * n), minlength=3 * n))])
    cached = (indptr, indices, perm)
    object.__setattr__(terms, "_hessian_pattern", cached)
    return cached


# --------------------------------------------------------------------------- blocks


def _take(
    t: KeatingTerms,
    bonds: np.ndarray,
    angles: np.ndarray,
    verts: np.ndarray,
    remap: np.ndarray,
    n_atoms: int,
    bond_owned: np.ndarray,
    angle_owned: np.ndarray,
    vert_owned: np.ndarray,
) -> KeatingTerms:
    return KeatingTerms(
        n_atoms=n_atoms,
        bond_i=remap[t.bond_i[bonds]],
        bond_j=remap[t.bond_j[bonds]],
        bond_offset=t.bond_offset[bonds],
        bond_coef=t.bond_coef[bonds],
        bond_d0sq=t.bond_d0sq[bonds],
        bond_compound=t.bond_compound[bonds],
        bond_owned=bond_owned,
        angle_v=remap[t.angle_v[angles]],
        angle_j=remap[t.angle_j[angles]],
        angle_k=remap[t.angle_k[angles]],
        angle_offset_j=t.angle_offset_j[angles],
        angle_offset_k=t.angle_offset_k[angles],
        angle_coef=t.angle_coef[angles],
        angle_c=t.angle_c[angles],
        angle_owned=angle_owned,
        vert=remap[t.vert[verts]],
        slot_nb=remap[t.slot_nb[verts]],
        slot_off=t.slot_off[verts],
        slot_coef=t.slot_coef[verts],
        slot_d0sq=t.slot_d0sq[verts],
        pair_coef=t.pair_coef[verts],
        pair_c=t.pair_c[verts],
        vert_owned=vert_owned,
    )


def block_terms(terms: KeatingTerms, atom_start: int, atom_stop: int) -> tuple[KeatingTerms, np.ndarray]:
    """Terms a block of atoms [atom_start, atom_stop) needs, in a compact local numbering.

    Returns (local_terms, needed): needed is the sorted array of global atoms whose
    positions the block needs (its own atoms and ghosts up to two bonds away); local_terms
    index into it. The local terms are every term touching a block atom, so the gradient
    rows of the block atoms are complete; a term is *owned* (counts towards the energy)
    when its bond's cation or its angle's vertex is in the block, so the owned energies of
    all blocks add up to the total energy exactly once.
    """

    def inside(a):
        return (a >= atom_start) & (a < atom_stop)

    bsel = np.flatnonzero(inside(terms.bond_i) | inside(terms.bond_j))
    asel = np.flatnonzero(inside(terms.angle_v) | inside(terms.angle_j) | inside(terms.angle_k))
    # Vertices whose slots touch the block: the block's atoms and their neighbours.
    vsel = np.flatnonzero(inside(terms.vert) | inside(terms.slot_nb).any(axis=1))
    needed = np.unique(
        np.concatenate(
            [
                np.arange(atom_start, atom_stop),
                terms.bond_i[bsel],
                terms.bond_j[bsel],
                terms.angle_v[asel],
                terms.angle_j[asel],
                terms.angle_k[asel],
                terms.vert[vsel],
                terms.slot_nb[vsel].ravel(),
            ]
        )
    )
    remap = np.full(terms.n_atoms, -1, dtype=np.int64)
    remap[needed] = np.arange(needed.size)
    local = _take(
        terms,
        bsel,
        asel,
        vsel,
        remap,
        needed.size,
        inside(terms.bond_i[bsel]),
        inside(terms.angle_v[asel]),
        inside(terms.vert[vsel]),
    )
    return local, needed


def keating_block_energy_gradient(positions: np.ndarray, terms: KeatingTerms, atom_start: int, atom_stop: int):
    """(owned energy eV, gradient rows (atom_stop − atom_start, 3) eV/Å) of one atom block.

    positions: (N, 3) Å of the whole structure. Summing the energies of a partition into
    blocks gives the total energy; stacking the rows gives the full gradient.
    """
    local, needed = block_terms(terms, atom_start, atom_stop)
    e, g = keating_energy_gradient(np.asarray(positions)[needed], local)
    rows = np.searchsorted(needed, np.arange(atom_start, atom_stop))
    return e, g[rows]


# --------------------------------------------------------------------------- diagnostics


def bond_lengths(positions: np.ndarray, terms: KeatingTerms) -> np.ndarray:
    """(n_bonds,) bond lengths in Å."""
    x = np.asarray(positions, dtype=np.float64)
    return np.linalg.norm(x[terms.bond_j] - x[terms.bond_i] + terms.bond_offset, axis=1)


def bond_length_histogram(positions: np.ndarray, terms: KeatingTerms, edges: np.ndarray) -> np.ndarray:
    """(3, len(edges) − 1) counts of bond lengths (Å) per bond type Zn–S, In–S, Cu–S.

    The type of a bond is its cation's compound (the largest weight for a virtual
    crystal). Bonds outside the grid are not counted.
    """
    length = bond_lengths(positions, terms)
    out = np.zeros((len(COMPOUNDS), len(edges) - 1), dtype=np.int64)
    for c in range(len(COMPOUNDS)):
        out[c] = np.histogram(length[terms.bond_compound == c], bins=edges)[0]
    return out


def mean_bond_strain(positions: np.ndarray, terms: KeatingTerms) -> np.ndarray:
    """(3,) mean of (d − d0)/d0 over bonds of each type Zn–S, In–S, Cu–S (NaN if none)."""
    strain = bond_lengths(positions, terms) / np.sqrt(terms.bond_d0sq) - 1.0
    out = np.full(len(COMPOUNDS), np.nan)
    for c in range(len(COMPOUNDS)):
        sel = terms.bond_compound == c
        if sel.any():
            out[c] = strain[sel].mean()
    return out


def tetrahedron_volumes(positions: np.ndarray, neighbors: np.ndarray) -> np.ndarray:
    """(N,) volume (Å³) of the tetrahedron of each atom's four neighbours; NaN if < 4."""
    x = np.asarray(positions, dtype=np.float64)
    nb = np.asarray(neighbors)
    full = (nb >= 0).all(axis=1)
    vol = np.full(x.shape[0], np.nan)
    p = x[nb[full]]  # (M,4,3)
    vol[full] = np.abs(np.linalg.det(p[:, 1:] - p[:, :1])) / 6.0
    return vol


def hydrostatic_strain(positions: np.ndarray, neighbors: np.ndarray, reference_lattice_constant) -> np.ndarray:
    """(N,) local linear hydrostatic strain ε = (V/V0)^(1/3) − 1 of each atom.

    V is the volume of the tetrahedron spanned by the atom's four neighbours and
    V0 = a_ref³/24 that of the ideal zinc-blende tetrahedron with lattice constant a_ref
    (Å; scalar or (N,)). For a homogeneous strain ε_ij, 3ε ≈ tr(ε) to first order.
    Atoms with fewer than four neighbours (surface) get NaN.
    """
    v0 = np.asarray(reference_lattice_constant, dtype=np.float64) ** 3 / 24.0
    return np.cbrt(tetrahedron_volumes(positions, neighbors) / v0) - 1.0


def radial_profile(values: np.ndarray, radii: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(len(edges) − 1,) mean of the finite values in each radial shell (Å); NaN if empty."""
    ok = np.isfinite(values)
    cnt = np.histogram(radii[ok], bins=edges)[0]
    tot = np.histogram(radii[ok], bins=edges, weights=values[ok])[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)


# --------------------------------------------------------------------------- periodic cell


def periodic_zincblende_cell(lattice_constant: float, reps: int = 1, strain: np.ndarray | None = None):
    """Periodic zinc-blende supercell of reps³ cubic cells (8 reps³ atoms), homogeneously strained.

    Returns (positions (N,3) Å, neighbors (N,4), is_cation (N,), bond_offsets (N,4,3) Å,
    cell (3,3) Å with cell vectors as rows). Positions and offsets are (1 + strain) applied
    to the ideal ones, so internal (sublattice) relaxation is left to the caller.
    """
    basis = np.array([[0, 0, 0], [0, 2, 2], [2, 0, 2], [2, 2, 0], [1, 1, 1], [1, 3, 3], [3, 1, 3], [3, 3, 1]])
    cells = np.array([[i, j, k] for i in range(reps) for j in range(reps) for k in range(reps)])
    grid = (4 * cells[:, None, :] + basis[None, :, :]).reshape(-1, 3)  # a/4 units
    period = 4 * reps
    is_cation = (grid % 2 == 1).all(axis=1)
    lookup = {tuple(g): i for i, g in enumerate(grid)}
    steps = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]])
    n = grid.shape[0]
    neighbors = np.empty((n, 4), dtype=np.int64)
    images = np.zeros((n, 4, 3))
    for i, g in enumerate(grid):
        for k, s in enumerate(steps if not is_cation[i] else -steps):
            t = g + s
            wrapped = t % period
            neighbors[i, k] = lookup[tuple(wrapped)]
            images[i, k] = (t - wrapped) // period  # whole supercell translations
    deform = np.eye(3) + (np.zeros((3, 3)) if strain is None else np.asarray(strain, dtype=np.float64))
    quarter = lattice_constant / 4.0
    cell = period * quarter * np.eye(3) @ deform.T
    positions = (grid * quarter) @ deform.T
    offsets = images @ cell
    return positions, neighbors, is_cation, offsets, cell
