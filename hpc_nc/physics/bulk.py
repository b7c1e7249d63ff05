"""Bulk zinc-blende sp3s*+SO band structure (20x20 k-space Hamiltonian). docs/physics.md §3.

Built from the same Slater-Koster, spin-orbit and on-site blocks as the nanocrystal
Hamiltonian (:mod:`hpc_nc.physics.tight_binding`), so the bulk checks (Gamma closed forms, gaps,
spin-orbit splitting) also check the blocks used in the dots.

Basis order: anion spin-orbitals 0..9 then cation 10..19 (each 5*spin + orb). Bloch sums use
the atomic positions: H_ac(k) = sum_j exp(i k.d_j) B(d_j/|d_j|), d_j the four anion -> cation
bond vectors (a/4)(+-1, +-1, +-1) of the ideal lattice. k in 1/Angstrom.
CLI: ``hpc-nc bulk ZnS [--json] [--plot FILE]`` -> :func:`main`.
"""

from __future__ import annotations

import numpy as np

from hpc_nc.errors import HpcNcError
from hpc_nc.physics.tight_binding import (
    N_SPIN_ORB,
    onsite_block,
    slater_koster_block,
    spin_block_diagonal,
)

ANION_BOND_DIRECTIONS = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=float)
N_VALENCE = 8  # spin-orbital valence bands per primitive cell (s + 3 p, two spins)


def special_points(lattice_constant: float) -> dict[str, np.ndarray]:
    """Gamma, X = (2pi/a)(1,0,0), L = (pi/a)(1,1,1), in 1/Angstrom."""
    t = 2.0 * np.pi / lattice_constant
    return {"Gamma": np.zeros(3), "X": t * np.array([1.0, 0.0, 0.0]), "L": t * np.array([0.5, 0.5, 0.5])}


def bulk_hamiltonian(material, k, spin_orbit: bool = True) -> np.ndarray:
    """Complex Hermitian (20, 20) eV Bloch Hamiltonian at wave vector k (1/Angstrom)."""
    k = np.asarray(k, dtype=float)
    lam_a = material.lambda_anion if spin_orbit else 0.0
    lam_c = material.lambda_cation if spin_orbit else 0.0
    v = material.two_centre
    bonds = ANION_BOND_DIRECTIONS * (material.lattice_constant / 4.0)
    hop = np.zeros((5, 5), dtype=complex)
    for d in bonds:
        hop += np.exp(1j * (k @ d)) * slater_koster_block(v, d / np.linalg.norm(d))
    h = np.zeros((2 * N_SPIN_ORB, 2 * N_SPIN_ORB), dtype=complex)
    h[:N_SPIN_ORB, :N_SPIN_ORB] = onsite_block(material.onsite_anion, lam_a)
    h[N_SPIN_ORB:, N_SPIN_ORB:] = onsite_block(material.onsite_cation, lam_c)
    h[:N_SPIN_ORB, N_SPIN_ORB:] = spin_block_diagonal(hop)
    h[N_SPIN_ORB:, :N_SPIN_ORB] = h[:N_SPIN_ORB, N_SPIN_ORB:].conj().T
    return h


def bands(material, kpoints: np.ndarray, spin_orbit: bool = True) -> np.ndarray:
    """Eigenvalues (nk, 20) eV, ascending, at kpoints (nk, 3) 1/Angstrom."""
    return np.array([np.linalg.eigvalsh(bulk_hamiltonian(material, k, spin_orbit)) for k in kpoints])


def l_gamma_x_path(lattice_constant: float, n_per_segment: int = 40) -> tuple[np.ndarray, np.ndarray, list]:
    """k-points along L-Gamma-X: (kpoints (nk,3), path coordinate (nk,), [(x, label)])."""
    sp = special_points(lattice_constant)
    seg1 = sp["L"][None] * np.linspace(1.0, 0.0, n_per_segment + 1)[:, None]
    seg2 = sp["X"][None] * np.linspace(0.0, 1.0, n_per_segment + 1)[1:, None]
    kpts = np.vstack([seg1, seg2])
    steps = np.r_[0.0, np.linalg.norm(np.diff(kpts, axis=0), axis=1)]
    x = np.cumsum(steps)
    return kpts, x, [(x[0], "L"), (x[n_per_segment], "Γ"), (x[-1], "X")]


def band_edges(material, spin_orbit: bool = True) -> tuple[float, float]:
    """(VBM, CBM) eV: VBM = top valence level at Gamma; CBM = minimum over L-Gamma-X."""
    kpts, _, _ = l_gamma_x_path(material.lattice_constant, 20)
    e = bands(material, kpts, spin_orbit)
    gamma = np.linalg.eigvalsh(bulk_hamiltonian(material, np.zeros(3), spin_orbit))
    return float(gamma[N_VALENCE - 1]), float(e[:, N_VALENCE].min())


def gamma_gap(material, spin_orbit: bool = True) -> float:
    """Direct gap at Gamma, eV."""
    e = np.linalg.eigvalsh(bulk_hamiltonian(material, np.zeros(3), spin_orbit))
    return float(e[N_VALENCE] - e[N_VALENCE - 1])


def _material(compound: str, materials=None):
    if materials is None:
        from hpc_nc.physics.materials import load_materials

        materials = load_materials()
    # compound names in any case ("zns", "ZNS"): the names differ in more than case
    by_lower = {name.lower(): name for name in materials}
    name = by_lower.get(str(compound).lower())
    if name is None:
        raise HpcNcError(f"unknown compound {compound!r} (known: {', '.join(sorted(materials))})")
    return materials[name]


def bulk_summary(compound: str, materials=None) -> dict:
    """Bulk band summary with spin-orbit (eV): gap, vbm, cbm, delta_so, gap_without_so,
    cbm_location and the 20 energies at Gamma, X and L (keys gamma, x, l)."""
    m = _material(compound, materials)
    sp = special_points(m.lattice_constant)
    e = {name: np.linalg.eigvalsh(bulk_hamiltonian(m, k)) for name, k in sp.items()}
    vbm, cbm = band_edges(m)
    cmin = {name: float(v[N_VALENCE]) for name, v in e.items()}
    g = e["Gamma"]
    vbm0, cbm0 = band_edges(m, spin_orbit=False)
    return {
        "compound": compound,
        "gap": cbm - vbm,
        "vbm": vbm,
        "cbm": cbm,
        # Gamma8 - Gamma7: levels 4..7 are Gamma8 (j=3/2), 2..3 the split-off Gamma7.
        "delta_so": float(g[N_VALENCE - 1] - g[N_VALENCE - 5]),
        "gap_without_so": cbm0 - vbm0,
        "cbm_location": min(cmin, key=cmin.get),
        "gamma": [float(x) for x in g],
        "x": [float(x) for x in e["X"]],
        "l": [float(x) for x in e["L"]],
        "lattice_constant": m.lattice_constant,
        "valence_band_offset": m.valence_band_offset,
    }


def plot_bands(compound: str, path: str, materials=None) -> None:
    """Band structure along L-Gamma-X (with spin-orbit) to an image file (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = _material(compound, materials)
    kpts, x, ticks = l_gamma_x_path(m.lattice_constant, 60)
    e = bands(m, kpts)
    fig, ax = plt.subplots(figsize=(4.5, 5))
    ax.plot(x, e, color="k", lw=0.8)
    for xt, _ in ticks:
        ax.axvline(xt, color="0.7", lw=0.5)
    ax.axhline(m.vbm, color="tab:blue", lw=0.5, ls="--")
    ax.set_xticks([t[0] for t in ticks], [t[1] for t in ticks])
    ax.set_xlim(x[0], x[-1])
    ax.set_ylabel("Energy (eV, ZnS VBM = 0)")
    ax.set_title(f"{compound} sp3s*+SO, gap {m.cbm - m.vbm:.3f} eV")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def format_summary(s: dict) -> str:
    lines = [
        f"{s['compound']}: a = {s['lattice_constant']:.4f} Å, VBO = {s['valence_band_offset']:.3f} eV",
        f"  gap {s['gap']:.4f} eV (without SO {s['gap_without_so']:.4f}), VBM {s['vbm']:.4f} eV, "
        f"CBM {s['cbm']:.4f} eV at {s['cbm_location']}, Δ0 {s['delta_so']:.4f} eV",
    ]
    for key, label in (("gamma", "Γ"), ("x", "X"), ("l", "L")):
        lines.append(f"  {label}: " + " ".join(f"{v:.3f}" for v in s[key][::2]) + "  (each Kramers pair once)")
    return "\n".join(lines)
