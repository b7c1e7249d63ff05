"""sp3s* + spin-orbit tight-binding kernels (plain numpy, no MPI). docs/physics.md §3.

Conventions (shared by the bulk and the nanocrystal Hamiltonians):

* Orbital order per atom and spin: (s, px, py, pz, s*); 10 spin-orbitals per atom with
  index ``5*spin + orb``, spin 0 = up, 1 = down.
* Two-centre integrals are derived from Vogl's bulk parameters (Vogl, Hjalmarson and Dow,
  J. Phys. Chem. Solids 44, 365 (1983)); the index order of :data:`TWO_CENTRE_NAMES` is
  used for the vectorised arrays.
* Slater-Koster blocks are written for an **anion -> cation** bond whose unit vector
  (l, m, n) points from the anion to the cation; row = anion orbital, column = cation
  orbital. The cation -> anion block is its transpose (all entries are real).
  Sign convention (Slater & Koster, Phys. Rev. 94, 1498 (1954)): <s_a|H|p_c,a> = +l_a V_sp
  (p orbital at the far end), <p_a,a|H|s_c> = -l_a V_sp (p orbital at the near end).
* Spin-orbit (Chadi, Phys. Rev. B 16, 790 (1977)) acts on the p orbitals of one atom with
  lambda = Delta/3: the p shell splits into +lambda (x4, j=3/2) and -2*lambda (x2, j=1/2).
* No s-s* and no s*-s* hopping between neighbours, no spin mixing in the hopping.
"""

from __future__ import annotations

import numpy as np

SQRT3 = np.sqrt(3.0)

ORBITALS = ("s", "px", "py", "pz", "s*")
N_ORB = 5
N_SPIN_ORB = 10

# Vogl's parameter names (eV), in the order of docs/physics.md §3.
VOGL_NAMES = (
    "Esa",
    "Epa",
    "Esc",
    "Epc",
    "Essa",
    "Essc",
    "Vss",
    "Vxx",
    "Vxy",
    "Vsapc",
    "Vscpa",
    "Vssapc",
    "Vpassc",
)
ONSITE_NAMES = ("Esa", "Epa", "Esc", "Epc", "Essa", "Essc")

# Two-centre integrals (eV), vectorised order.
TWO_CENTRE_NAMES = (
    "ss_sigma",  # V_{ss sigma}
    "sa_pc_sigma",  # s on the anion, p on the cation
    "sc_pa_sigma",  # s on the cation, p on the anion
    "ssa_pc_sigma",  # s* on the anion, p on the cation
    "ssc_pa_sigma",  # s* on the cation, p on the anion
    "pp_sigma",
    "pp_pi",
)


def two_centre_integrals(vogl: dict) -> np.ndarray:
    """Two-centre integrals (7,) eV from Vogl's nearest-neighbour parameters (eV).

    Vss = 4 V_ss_sigma; Vxx = (4/3)(V_pp_sigma + 2 V_pp_pi); Vxy = (4/3)(V_pp_sigma - V_pp_pi);
    Vsa,pc = (4/sqrt3) V_sa_pc_sigma and likewise for the other s-p pairs (docs/physics.md §3).
    """
    return np.array(
        [
            vogl["Vss"] / 4.0,
            vogl["Vsapc"] * SQRT3 / 4.0,
            vogl["Vscpa"] * SQRT3 / 4.0,
            vogl["Vssapc"] * SQRT3 / 4.0,
            vogl["Vpassc"] * SQRT3 / 4.0,
            (vogl["Vxx"] + 2.0 * vogl["Vxy"]) / 4.0,
            (vogl["Vxx"] - vogl["Vxy"]) / 4.0,
        ]
    )


def slater_koster_block(integrals: np.ndarray, cosines) -> np.ndarray:
    """Anion -> cation hopping block (5, 5) eV, element by element (reference form).

    integrals: (7,) in TWO_CENTRE_NAMES order; cosines: unit vector anion -> cation.
    """
    ss, sapc, scpa, ssapc, sscpa, pps, ppp = (float(v) for v in integrals)
    cos = np.asarray(cosines, dtype=float)
    b = np.zeros((N_ORB, N_ORB))
    b[0, 0] = ss
    for a in range(3):
        b[0, 1 + a] = cos[a] * sapc
        b[4, 1 + a] = cos[a] * ssapc
        b[1 + a, 0] = -cos[a] * scpa
        b[1 + a, 4] = -cos[a] * sscpa
        for c in range(3):
            b[1 + a, 1 + c] = cos[a] * cos[c] * (pps - ppp) + (ppp if a == c else 0.0)
    return b


def slater_koster_blocks(integrals: np.ndarray, cosines: np.ndarray) -> np.ndarray:
    """Vectorised :func:`slater_koster_block`: integrals (M, 7), cosines (M, 3) -> (M, 5, 5)."""
    v = np.asarray(integrals, dtype=float)
    l = np.asarray(cosines, dtype=float)  # noqa: E741 (direction cosines l, m, n of Slater-Koster)
    m = l.shape[0]
    b = np.zeros((m, N_ORB, N_ORB))
    b[:, 0, 0] = v[:, 0]
    b[:, 0, 1:4] = l * v[:, 1:2]
    b[:, 4, 1:4] = l * v[:, 3:4]
    b[:, 1:4, 0] = -l * v[:, 2:3]
    b[:, 1:4, 4] = -l * v[:, 4:5]
    b[:, 1:4, 1:4] = (l[:, :, None] * l[:, None, :]) * (v[:, 5] - v[:, 6])[:, None, None]
    b[:, 1:4, 1:4] += np.eye(3)[None] * v[:, 6][:, None, None]
    return b


def spin_block_diagonal(block: np.ndarray) -> np.ndarray:
    """(..., 5, 5) spin-independent block -> (..., 10, 10) with identical up/down blocks."""
    shape = block.shape[:-2] + (N_SPIN_ORB, N_SPIN_ORB)
    out = np.zeros(shape, dtype=block.dtype)
    out[..., :N_ORB, :N_ORB] = block
    out[..., N_ORB:, N_ORB:] = block
    return out


def spin_orbit_block(lam) -> np.ndarray:
    """Chadi on-site spin-orbit block (..., 10, 10) complex eV for lambda = Delta/3 (eV).

    lam may be a scalar or an array (M,) for M atoms. Matrix elements (docs/physics.md §3):
    <px u|py u> = -i lam, <px u|pz d> = lam, <py u|pz d> = -i lam, <pz u|px d> = -lam,
    <pz u|py d> = i lam; down-down = conj(up-up); the rest by hermiticity.
    """
    lam = np.asarray(lam, dtype=float)
    out = np.zeros(lam.shape + (N_SPIN_ORB, N_SPIN_ORB), dtype=complex)
    x, y, z = 1, 2, 3
    u, d = 0, N_ORB
    entries = [  # (row, col, coefficient of lambda); hermitian partners added below
        (u + x, u + y, -1j),
        (u + x, d + z, 1.0),
        (u + y, d + z, -1j),
        (u + z, d + x, -1.0),
        (u + z, d + y, 1j),
        (d + x, d + y, 1j),  # conj of up-up
    ]
    for r, c, coef in entries:
        out[..., r, c] = coef * lam
        out[..., c, r] = np.conj(coef) * lam
    return out


def sp3_hybrids(directions: np.ndarray) -> np.ndarray:
    """sp3 hybrids (..., 4, 5) on (s, px, py, pz, s*) along unit bond directions (..., 4, 3).

    h_k = (s + sqrt3 (l px + m py + n pz)) / 2 (Lee et al., PRB 69, 045316 (2004)); for the
    four ideal tetrahedral directions they are orthonormal.
    """
    d = np.asarray(directions, dtype=float)
    h = np.zeros(d.shape[:-1] + (N_ORB,))
    h[..., 0] = 0.5
    h[..., 1:4] = 0.5 * SQRT3 * d
    return h


def passivation_block(directions: np.ndarray, missing: np.ndarray, shift_ev: float) -> np.ndarray:
    """Dangling-bond passivation (..., 5, 5) eV: shift_ev * sum over missing k of |h_k><h_k|.

    directions: (..., 4, 3) unit ideal bond directions of the site; missing: (..., 4) bool.
    Spin-independent; add it to both spin blocks (see :func:`spin_block_diagonal`).
    """
    h = sp3_hybrids(directions) * np.asarray(missing, dtype=float)[..., None]
    return shift_ev * np.einsum("...ka,...kb->...ab", h, h)


def harrison_scale(distance, natural_distance, eta: float = 2.0):
    """Harrison's law factor (d0/d)^eta for two-centre integrals (d, d0 in Angstrom)."""
    return (np.asarray(natural_distance, dtype=float) / np.asarray(distance, dtype=float)) ** eta


def onsite_vectors(onsite: dict) -> tuple[np.ndarray, np.ndarray]:
    """(anion, cation) on-site energies (5,) eV in (s, px, py, pz, s*) order."""
    an = np.array([onsite["Esa"], onsite["Epa"], onsite["Epa"], onsite["Epa"], onsite["Essa"]])
    ca = np.array([onsite["Esc"], onsite["Epc"], onsite["Epc"], onsite["Epc"], onsite["Essc"]])
    return an, ca


def onsite_block(energies: np.ndarray, lam, passivation: np.ndarray | None = None) -> np.ndarray:
    """On-site block (..., 10, 10) complex: diag(energies) per spin + spin-orbit (+ passivation).

    energies: (..., 5) eV; lam: (...) eV; passivation: (..., 5, 5) eV or None.
    """
    e = np.asarray(energies, dtype=float)
    blk = np.zeros(e.shape[:-1] + (N_ORB, N_ORB))
    idx = np.arange(N_ORB)
    blk[..., idx, idx] = e
    if passivation is not None:
        blk = blk + passivation
    return spin_block_diagonal(blk).astype(complex) + spin_orbit_block(lam)


def time_reversal(vectors: np.ndarray) -> np.ndarray:
    """Kramers partners T psi, T = i sigma_y K, of state vectors with rows 10*atom + 5*spin
    + orb along axis 0 (shape (10N,) or (10N, n)): (psi_up, psi_down) -> (conj psi_down,
    -conj psi_up). With real orbitals T^2 = -1, so T v is orthogonal to v and, for a
    time-reversal invariant H (spin-orbit included), an eigenvector of the same energy."""
    v = np.asarray(vectors)
    if v.ndim == 2 and v.shape[1] > 1 and v.flags.f_contiguous and not v.flags.c_contiguous:
        # column-major blocks (the block eigensolvers'): work on the transposed view, so
        # that no C-order copy is made, and return column-major too (what BLAS wants)
        cols = v.T.reshape(v.shape[1], -1, 2, 5)
        out = np.empty(cols.shape, dtype=np.result_type(v.dtype, np.complex64))
        np.conjugate(cols[:, :, 1], out=out[:, :, 0])
        np.conjugate(cols[:, :, 0], out=out[:, :, 1])
        np.negative(out[:, :, 1], out=out[:, :, 1])
        return out.reshape(v.shape[1], -1).T
    blocks = v.reshape((-1, 2, 5) + v.shape[1:])
    out = np.empty(blocks.shape, dtype=np.result_type(v.dtype, np.complex64))
    out[:, 0] = np.conj(blocks[:, 1])
    out[:, 1] = -np.conj(blocks[:, 0])
    return out.reshape(v.shape)
