"""Excitons by configuration interaction, emission spectrum, Delta_XX, and the one entry point
``analyse_states`` that turns gap states into every number of the results file.

Basis (paper, Methods; docs/physics.md §5): the 2 lowest electron spin-orbitals e in {E1, E1'}
(one Kramers pair) and the 4 highest valence spin-orbitals h in {H1, H1', H2, H2'} (two
pairs). Configuration |e h> = c_e^dagger c_h |ground>: one valence electron h removed, one
conduction electron e added; index c = e * 4 + h (e = 0, 1; h = 0..3), 8 configurations.
The hole is the *missing valence electron*: h always labels the valence spin-orbital psi_h
itself (not its time-reversed partner), and eps_h is its single-particle energy.

Hamiltonian (derived from the Slater rules for singly excited determinants with the
single-particle energies taken as the tight-binding levels; verified in
tests/test_exciton.py against a brute-force second-quantised calculation):

    H[(e h), (e' h')] = (eps_e - eps_h) delta_ee' delta_hh' - J[(e h), (e' h')] + K[(e h), (e' h')]
    J[(e h), (e' h')] = sum_ij rho_ee'(i) V_ij rho_h'h(j)   direct (e-h attraction)
    K[(e h), (e' h')] = sum_ij rho_eh(i)  V_ij rho_h'e'(j)  exchange (repulsion)

with rho_ab(i) = sum_alpha conj(psi_a(i, alpha)) psi_b(i, alpha) and V from hpc_nc.physics.coulomb.
Note the order h'h in the direct term (the hole density enters transposed: conj on the
primed hole), and that both J and K are Hermitian 8x8 matrices. In docs/physics.md's notation
J_{eh,h'e'} is this J and K_{eh,e'h'} this K.

Optics. The recombination amplitude of exciton X = sum c_eh |e h> is
<ground| r |X> = sum_eh c_eh <h|r|e> = sum_eh c_eh conj(d_eh), d_eh = <e|r|h>
(hpc_nc.physics.observables). Oscillator strength f_X = |sum c_eh conj(d_eh)|^2 summed over x, y, z
(Angstrom^2, orientation-averaged up to the constant 1/3). Emission (Fermi's golden rule):
I(E) = sum_X p_X f_X g(E - E_X), p_X Boltzmann populations exp(-(E_X - E_0)/kT)/Z at
temperature T (default 300 K, room-temperature photoluminescence as in the paper's
applications; the paper does not state its temperature; T = 0 populates the lowest manifold
only), g a normalised Gaussian of standard deviation broadening_ev (default 20 meV, an
ensemble/phonon broadening of our choice), so I is in Angstrom^2/eV. The prefactor
omega^3 of spontaneous emission is left out (it only tilts the spectrum).

Biexciton (paper, Fig. 12): Delta_XX = J_E1E1 + J_H1H1 - 2 J_E1H1 with J_ab the direct
integrals of the level densities (mean density over all states of the degenerate level). In first order E_XX - 2 E_X =
(2 eps + J_ee + J_hh - 4 J_eh) - 2 (eps - J_eh) = Delta_XX, so the sign is that of
E_XX - 2 E_X: Delta_XX > 0 means the biexciton is ANTI-bound (exciton-exciton repulsion);
this is the sign of the paper, which reports values above 0.7 eV for its type-II dots.

Basis invariance (``analyse_states``). Inside a degenerate level (a Kramers pair, or a Td
Gamma8 quartet) the eigensolver returns an arbitrary orthonormal basis, different between
runs, rank counts and identical dots. Electron and hole states are therefore grouped into
levels (consecutive energies within ``AnalysisSettings.level_tol_ev``, default 1e-5 eV: ten
times the eigensolver's degeneracy tolerance of 1e-6 eV, far below any physical level
spacing of interest) and every stored number is a basis-invariant trace over whole levels:
* E1 / H1 level = all electron / hole states degenerate with e_1 / h_1; their energies are
  the level means (equal to e_1 / h_1 within the tolerance).
* level densities (mean atom density over the level) give J_ee, J_hh, J_eh, dXX, the E1/H1
  core weights, envelopes, r_max, separation, overlaps and the classification; the per-state
  arrays (core_weight_e/h, radial_density_e/h, envelope_e/h) store for every state the
  values of the level it belongs to.
* dipole_sq = (2/g_E1)(2/g_H1) sum over E1 x H1 states of |d_eh|^2 (g = level degeneracy);
  it equals the plain Kramers-pair sum for 2-fold levels. transition_dipole_sq holds the mean
  of |d|^2 over each (electron level, hole level) block.
* the CI diagonal uses level-mean single-particle energies. Its eigenvalues are invariant
  when the configuration basis (electron states 0, 1; hole states 0..3) consists of complete
  levels; each exciton's oscillator strength is replaced by the mean over its degenerate
  exciton level (``degeneracy_tol_ev``), which makes it invariant too. When the basis cuts a
  level (e.g. a 4-fold E1, or hole states 3 and 4 degenerate, or the solver returned an
  incomplete last level: ``split_levels``) the result field ``ci_basis_complete`` is 0.0 and
  all exciton quantities of that task depend on the solver's basis; where the cut level is
  E1 or H1 itself (truncated by the solver) so do the E1/H1 level quantities.
* exciton_weights, ci_direct and ci_exchange are written in the configuration basis and are
  basis dependent by nature: never compare them between runs.
The last level of each side can only be checked for completeness by the eigensolver
(``GapStates.diagnostics["split_degenerate_level"]``, passed as ``split_levels``); without it
the states handed in are taken to end at a level boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hpc_nc.errors import HpcNcError

# The stored fields (units, doc text, dtypes) live in the results schema.
from hpc_nc.io.schema import RESULT_DESCRIPTIONS, RESULT_UNITS  # noqa: F401
from hpc_nc.physics import observables as obs
from hpc_nc.physics.classify import ClassifySettings, classify_confinement, envelope_core_share
from hpc_nc.physics.coulomb import DEFAULT_BLOCK_ELEMENTS, DEFAULT_SCREENING, ZNS_EPSILON_INF, onsite_coulomb_ev
from hpc_nc.physics.coulomb_fft import coulomb_potential_by_method
from hpc_nc.settings import DEFAULT_ANALYSIS

N_ELECTRON_BASIS = 2
N_HOLE_BASIS = 4
N_CONFIGURATIONS = N_ELECTRON_BASIS * N_HOLE_BASIS
BOLTZMANN_EV_PER_K = 8.617333262e-5  # CODATA 2018


@dataclass(frozen=True)
class AnalysisSettings:
    """Settings of the exciton/observable stage (must be identical on all ranks).

    epsilon: high-frequency dielectric constant eps_inf (ZnS, 5.2). screening: one of
    hpc_nc.physics.coulomb.SCREENING_MODELS (default thomas-fermi-resta), used for the direct
    and the exchange integrals alike. onsite_ev: on-site Coulomb integral in eV, None = the
    screening model's default (thomas-fermi-resta and none: 6/5 e^2/r_ws = 10.30 eV;
    uniform: that / epsilon; hpc_nc.physics.coulomb). temperature_k: emission temperature, K.
    broadening_ev: Gaussian standard deviation of the spectrum lines, eV. spectrum_*: fixed
    emission energy grid, eV. n_radial_bins, radial_margin (Angstrom beyond the dot radius)
    and envelope_width (Angstrom) define the radial grid and the envelope smoothing.
    degeneracy_tol_ev: exciton levels closer than this form one degenerate exciton level
    (1e-6 eV: below the exchange splittings of 1e-5 to 4e-4 eV found for 1.5a-2a ZnS dots,
    above the eigenvalue noise of converged solver states); used for the ground manifold,
    the T = 0 populations and the level-averaged oscillator strengths.
    level_tol_ev: single-particle states whose consecutive energies differ by at most this
    form one degenerate level (1e-5 eV: 10x the eigensolver's degeneracy tolerance, so its
    degenerate levels are never split; module docstring "Basis invariance").
    """

    epsilon: float = DEFAULT_ANALYSIS.epsilon
    onsite_ev: float | None = DEFAULT_ANALYSIS.onsite_ev
    screening: str = DEFAULT_ANALYSIS.screening
    coulomb_method: str = DEFAULT_ANALYSIS.method  # direct, fft or auto (hpc_nc.physics.coulomb_fft)
    temperature_k: float = DEFAULT_ANALYSIS.temperature_k
    broadening_ev: float = DEFAULT_ANALYSIS.broadening_ev
    spectrum_min_ev: float = 1.5
    spectrum_max_ev: float = 5.0
    n_spectrum: int = 701
    n_radial_bins: int = DEFAULT_ANALYSIS.n_radial_bins
    radial_margin: float = 3.0
    envelope_width: float = obs.DEFAULT_ENVELOPE_WIDTH
    degeneracy_tol_ev: float = 1e-6
    level_tol_ev: float = 1e-5
    max_block_elements: int = DEFAULT_BLOCK_ELEMENTS
    classification: ClassifySettings = field(default_factory=ClassifySettings)

    @property
    def onsite(self) -> float:
        return (
            onsite_coulomb_ev(self.epsilon, screening=self.screening)
            if self.onsite_ev is None
            else float(self.onsite_ev)
        )

    def spectrum_grid(self) -> np.ndarray:
        return np.linspace(self.spectrum_min_ev, self.spectrum_max_ev, int(self.n_spectrum))


@dataclass(frozen=True)
class CoulombTerms:
    """CI matrices (8, 8) complex in eV (index e*4 + h) and level integrals J (eV) of the
    E1 and H1 level densities."""

    direct: np.ndarray
    exchange: np.ndarray
    j_ee: float
    j_hh: float
    j_eh: float


@dataclass(frozen=True)
class ExcitonResult:
    energies: np.ndarray  # (8,) eV ascending
    amplitudes: np.ndarray  # (8 configurations, 8 states) complex, column = state
    oscillator_strengths: np.ndarray  # (8,) Angstrom^2


def _check_basis(electron_vectors: np.ndarray, hole_vectors: np.ndarray) -> None:
    if electron_vectors.shape[1] < N_ELECTRON_BASIS or hole_vectors.shape[1] < N_HOLE_BASIS:
        raise HpcNcError(
            f"the exciton basis needs >= {N_ELECTRON_BASIS} electron and >= {N_HOLE_BASIS} hole states, "
            f"got {electron_vectors.shape[1]} and {hole_vectors.shape[1]}"
        )


def coulomb_terms(
    comm,
    positions: np.ndarray,
    electron_vectors: np.ndarray,
    hole_vectors: np.ndarray,
    epsilon: float = ZNS_EPSILON_INF,
    onsite_ev: float | None = None,
    max_block_elements: int = DEFAULT_BLOCK_ELEMENTS,
    n_e1: int = 2,
    n_h1: int = 2,
    screening: str = DEFAULT_SCREENING,
    method: str = "direct",
) -> CoulombTerms:
    """Collective: all Coulomb integrals of the CI and of Delta_XX with one pass over V.

    The CI uses electron states 0, 1 and hole states 0..3 of the given (10N, n) arrays; the
    level integrals J use the mean densities of electron states 0 .. n_e1-1 (the E1 level)
    and hole states 0 .. n_h1-1 (the H1 level); the defaults 2, 2 are Kramers pairs.
    screening: the model of V (hpc_nc.physics.coulomb.SCREENING_MODELS) for J and K alike.
    method: "direct" sum, "fft" convolution or "auto" (hpc_nc.physics.coulomb_fft); same V.
    """
    ev = np.asarray(electron_vectors)
    hv = np.asarray(hole_vectors)
    _check_basis(ev, hv)
    if not (1 <= n_e1 <= ev.shape[1] and 1 <= n_h1 <= hv.shape[1]):
        raise HpcNcError(f"E1/H1 level sizes {n_e1}, {n_h1} exceed the {ev.shape[1]}/{hv.shape[1]} states given")
    rho_e1 = obs.level_density(ev, 0, n_e1)
    rho_h1 = obs.level_density(hv, 0, n_h1)
    ev = ev[:, :N_ELECTRON_BASIS]
    hv = hv[:, :N_HOLE_BASIS]
    n_atoms = ev.shape[0] // obs.ORBITALS_PER_ATOM
    rho_ee = obs.pair_densities(ev, ev)  # (N, 2, 2)
    rho_hh = obs.pair_densities(hv, hv)  # (N, 4, 4)  [i, a, b] = conj(h_a) h_b
    rho_eh = obs.pair_densities(ev, hv)  # (N, 2, 4)
    levels = np.stack([rho_e1, rho_h1], axis=1).astype(complex)
    columns = np.concatenate([rho_hh.reshape(n_atoms, -1), np.conj(rho_eh).reshape(n_atoms, -1), levels], axis=1)
    phi = coulomb_potential_by_method(
        comm, positions, columns, epsilon, onsite_ev, max_block_elements, method, screening=screening
    )
    phi_hh = phi[:, :16].reshape(n_atoms, 4, 4)  # V rho_ab for hole pairs (a, b)
    phi_x = phi[:, 16:24].reshape(n_atoms, 2, 4)  # V rho_he = V conj(rho_eh)
    phi_e1 = phi[:, 24].real
    phi_h1 = phi[:, 25].real
    # direct[e, h, e', h'] = sum_i rho_ee'(i) (V rho_h'h)(i)
    direct = np.einsum("ief,igh->ehfg", rho_ee, phi_hh).reshape(N_CONFIGURATIONS, N_CONFIGURATIONS)
    # exchange[e, h, e', h'] = sum_i rho_eh(i) (V rho_h'e')(i)
    exchange = np.einsum("ieh,ifg->ehfg", rho_eh, phi_x).reshape(N_CONFIGURATIONS, N_CONFIGURATIONS)
    return CoulombTerms(
        direct=direct,
        exchange=exchange,
        j_ee=float(rho_e1 @ phi_e1),
        j_hh=float(rho_h1 @ phi_h1),
        j_eh=float(rho_e1 @ phi_h1),
    )


def ci_hamiltonian(electron_energies: np.ndarray, hole_energies: np.ndarray, terms: CoulombTerms | None) -> np.ndarray:
    """(8, 8) complex Hermitian CI matrix in eV; terms=None switches the Coulomb part off."""
    ee = np.asarray(electron_energies, dtype=float)[:N_ELECTRON_BASIS]
    eh = np.asarray(hole_energies, dtype=float)[:N_HOLE_BASIS]
    h = np.diag((ee[:, None] - eh[None, :]).ravel()).astype(complex)
    if terms is not None:
        h = h - terms.direct + terms.exchange
    return 0.5 * (h + h.conj().T)  # remove roundoff asymmetry only; both parts are Hermitian


def solve_excitons(hamiltonian: np.ndarray, dipoles: np.ndarray) -> ExcitonResult:
    """Diagonalise the CI matrix; dipoles (n_e>=2, n_h>=4, 3) single-particle d_eh (Angstrom)."""
    energies, amplitudes = np.linalg.eigh(hamiltonian)
    d = np.asarray(dipoles)[:N_ELECTRON_BASIS, :N_HOLE_BASIS, :].reshape(N_CONFIGURATIONS, 3)
    amplitude = amplitudes.T @ np.conj(d)  # (states, 3): sum_c c_X(c) conj(d_c)
    return ExcitonResult(energies, amplitudes, (np.abs(amplitude) ** 2).sum(axis=1))


def boltzmann_populations(energies: np.ndarray, temperature_k: float, degeneracy_tol_ev: float = 1e-6) -> np.ndarray:
    """Thermal populations of levels (eV); T <= 0 shares the population in the lowest manifold."""
    e = np.asarray(energies, dtype=float) - np.min(energies)
    if temperature_k <= 0:
        p = (e <= degeneracy_tol_ev).astype(float)
    else:
        p = np.exp(-e / (BOLTZMANN_EV_PER_K * temperature_k))
    return p / p.sum()


def emission_spectrum(
    energy_grid: np.ndarray,
    energies: np.ndarray,
    oscillator_strengths: np.ndarray,
    temperature_k: float,
    broadening_ev: float,
    degeneracy_tol_ev: float = 1e-6,
) -> np.ndarray:
    """Golden-rule emission sum_X p_X f_X g(E - E_X) on energy_grid (Angstrom^2/eV)."""
    if not broadening_ev > 0:
        raise HpcNcError(f"spectrum broadening must be positive, got {broadening_ev!r}")
    p = boltzmann_populations(energies, temperature_k, degeneracy_tol_ev)
    x = (np.asarray(energy_grid)[:, None] - np.asarray(energies)[None, :]) / broadening_ev
    g = np.exp(-0.5 * x * x) / (broadening_ev * np.sqrt(2.0 * np.pi))
    return g @ (p * np.asarray(oscillator_strengths))


def biexciton_shift(j_ee: float, j_hh: float, j_eh: float) -> float:
    """Delta_XX = J_ee + J_hh - 2 J_eh (eV) = E_XX - 2 E_X in first order; > 0 anti-binding."""
    return j_ee + j_hh - 2.0 * j_eh


# ---------------------------------------------------------------------------------------
# The entry point for the electronic stage.


def result_shapes(n_electrons: int, n_holes: int, settings: AnalysisSettings = AnalysisSettings()) -> dict[str, tuple]:
    """Shape of every value of ``analyse_states`` (() for scalars and strings), known before
    any task runs so that a results file can be created up front. Complex: ci_direct,
    ci_exchange; strings: confinement, confinement_reason; all others float64."""
    nb, ns, nc = int(settings.n_radial_bins), int(settings.n_spectrum), N_CONFIGURATIONS
    shapes = {key: () for key in RESULT_UNITS}
    shapes.update(
        electron_energies=(n_electrons,),
        hole_energies=(n_holes,),
        exciton_energies=(nc,),
        oscillator_strengths=(nc,),
        exciton_weights=(nc, nc),
        ci_direct=(nc, nc),
        ci_exchange=(nc, nc),
        transition_dipole_sq=(n_electrons, n_holes),
        core_weight_e=(n_electrons,),
        core_weight_h=(n_holes,),
        radial_grid=(nb,),
        radial_density_e=(n_electrons, nb),
        radial_density_h=(n_holes, nb),
        envelope_e=(n_electrons, nb),
        envelope_h=(n_holes, nb),
        spectrum_energy=(ns,),
        spectrum=(ns,),
    )
    return shapes


def _basis_cuts_level(levels: list[tuple[int, int]], n_basis: int, last_split: bool) -> bool:
    """True if states 0 .. n_basis-1 do not consist of whole levels: a level straddles the
    basis edge, or the basis uses the last level and the solver reported it incomplete."""
    if any(lo < n_basis < hi for lo, hi in levels):
        return True
    return bool(last_split) and levels[-1][0] < n_basis


def analyse_states(
    comm,
    positions: np.ndarray,
    in_core: np.ndarray,
    core_radius: float,
    total_radius: float,
    electron_energies: np.ndarray,
    hole_energies: np.ndarray,
    electron_vectors: np.ndarray,
    hole_vectors: np.ndarray,
    settings: AnalysisSettings = AnalysisSettings(),
    split_levels: dict | None = None,
    reference_weights: tuple[float, float] | None = None,
    homogeneous: bool = False,
) -> dict:
    """Collective: every observable of one task from its gap states.

    positions (N, 3) Angstrom; in_core (N,) bool; radii in Angstrom; electron energies
    ascending (e_1 first) and hole energies descending (h_1 first), eV; vectors (10N, n)
    complex with the contract's orbital order, identical on all ranks, n_e >= 2, n_h >= 4.
    States are grouped into degenerate levels (settings.level_tol_ev) and every value except
    exciton_weights, ci_direct and ci_exchange is invariant under unitary mixing inside a
    level (module docstring "Basis invariance"). split_levels: {"electron": bool, "hole":
    bool} as in GapStates.diagnostics["split_degenerate_level"] (True: the solver cut the
    last level of that side); None = the states end at a level boundary.
    reference_weights: (w_E1, w_H1) core weights of the homogeneous (pure ZnS) dot of the
    same size for the classifier; None = the 1S-envelope core share on these atoms for both
    (hpc_nc.physics.classify.envelope_core_share; the reason string names the reference).
    homogeneous: the dot has no core/shell band offset (always type-I).
    Returns a dict with the keys of RESULT_UNITS and the shapes of ``result_shapes``; the
    same on every rank. Only the Coulomb sum is distributed; the rest is O(N) per rank.
    """
    ev = np.asarray(electron_vectors)
    hv = np.asarray(hole_vectors)
    _check_basis(ev, hv)
    pos = np.asarray(positions, dtype=float)
    if ev.shape[0] != 10 * len(pos) or hv.shape[0] != 10 * len(pos):
        raise HpcNcError(f"state vectors have {ev.shape[0]}/{hv.shape[0]} rows for {len(pos)} atoms (need 10 per atom)")
    e_en = np.asarray(electron_energies, dtype=float)
    h_en = np.asarray(hole_energies, dtype=float)
    if len(e_en) != ev.shape[1] or len(h_en) != hv.shape[1]:
        raise HpcNcError(f"{len(e_en)}/{len(h_en)} energies for {ev.shape[1]}/{hv.shape[1]} electron/hole states")
    core = np.asarray(in_core, dtype=bool)
    split = dict(split_levels or {})

    lev_e = obs.degenerate_levels(e_en, settings.level_tol_ev)
    lev_h = obs.degenerate_levels(h_en, settings.level_tol_ev)
    g_e1 = lev_e[0][1]  # degeneracy of the E1 level
    g_h1 = lev_h[0][1]
    e_lvl = obs.level_average(e_en, lev_e)  # level-mean energies (invariant CI diagonal)
    h_lvl = obs.level_average(h_en, lev_h)
    ci_complete = not (
        _basis_cuts_level(lev_e, N_ELECTRON_BASIS, split.get("electron", False))
        or _basis_cuts_level(lev_h, N_HOLE_BASIS, split.get("hole", False))
    )

    # per-state densities replaced by their level's mean density: basis invariant
    rho_e = obs.level_average(obs.atom_densities(ev), lev_e, axis=1)  # (N, n_e)
    rho_h = obs.level_average(obs.atom_densities(hv), lev_h, axis=1)
    rho_E1 = rho_e[:, 0]
    rho_H1 = rho_h[:, 0]
    grid = obs.radial_grid(total_radius + settings.radial_margin, settings.n_radial_bins)
    env_e = obs.envelope_density(pos, rho_e, grid, settings.envelope_width)
    env_h = obs.envelope_density(pos, rho_h, grid, settings.envelope_width)
    env_E1 = env_e[0]
    env_H1 = env_h[0]
    r_max_e = obs.density_maximum(grid, env_E1)
    r_max_h = obs.density_maximum(grid, env_H1)

    dipoles = obs.transition_dipoles(pos, ev, hv)
    terms = coulomb_terms(
        comm,
        pos,
        ev,
        hv,
        settings.epsilon,
        settings.onsite,
        settings.max_block_elements,
        g_e1,
        g_h1,
        screening=settings.screening,
        method=settings.coulomb_method,
    )
    ham = ci_hamiltonian(e_lvl, h_lvl, terms)
    ex = solve_excitons(ham, dipoles)
    # within a degenerate exciton level the CI eigenvectors are arbitrary: use level means
    f_x = obs.level_average(ex.oscillator_strengths, obs.degenerate_levels(ex.energies, settings.degeneracy_tol_ev))
    ground = ex.energies <= ex.energies[0] + settings.degeneracy_tol_ev
    pops = boltzmann_populations(ex.energies, settings.temperature_k, settings.degeneracy_tol_ev)
    spec_grid = settings.spectrum_grid()
    spectrum = emission_spectrum(
        spec_grid, ex.energies, f_x, settings.temperature_k, settings.broadening_ev, settings.degeneracy_tol_ev
    )
    dxx = biexciton_shift(terms.j_ee, terms.j_hh, terms.j_eh)
    o_atom = obs.atomic_overlap(rho_E1, rho_H1)
    o_env = obs.envelope_overlap(grid, env_E1, env_H1)
    w_e = obs.core_weight(rho_e, core)
    w_h = obs.core_weight(rho_h, core)
    w_E1 = float(w_e[0])
    w_H1 = float(w_h[0])
    dipole_sq = obs.optical_activity(dipoles, g_e1, g_h1)
    if reference_weights is None:
        share = envelope_core_share(pos, core, total_radius)
        ref_e, ref_h, ref_name = share, share, "1S envelope"
    else:
        (ref_e, ref_h), ref_name = reference_weights, "ZnS dot"
    cls = classify_confinement(
        w_E1,
        w_H1,
        r_max_e,
        r_max_h,
        total_radius,
        o_env,
        o_atom,
        dxx,
        terms.j_eh,
        dipole_sq,
        settings.classification,
        reference_weight_e=float(ref_e),
        reference_weight_h=float(ref_h),
        homogeneous=homogeneous,
        reference=ref_name,
    )

    gap = float(e_lvl[0] - h_lvl[0])
    return {
        "electron_energies": e_en,
        "hole_energies": h_en,
        "E1": float(e_lvl[0]),
        "H1": float(h_lvl[0]),
        "gap": gap,
        "exciton_energy": float(ex.energies[0]),
        "exciton_binding": gap - float(ex.energies[0]),
        "exciton_energies": ex.energies,
        "oscillator_strengths": f_x,
        "exciton_weights": (np.abs(ex.amplitudes) ** 2).T,  # [state, configuration]
        "ground_oscillator_strength": float(f_x[ground].sum()),
        "thermal_oscillator_strength": float(pops @ f_x),
        "ci_direct": terms.direct,
        "ci_exchange": terms.exchange,
        "ci_basis_complete": 1.0 if ci_complete else 0.0,
        "transition_dipole_sq": obs.block_average((np.abs(dipoles) ** 2).sum(axis=2), lev_e, lev_h),
        "dipole_sq": dipole_sq,
        "J_ee": terms.j_ee,
        "J_hh": terms.j_hh,
        "J_eh": terms.j_eh,
        "dXX": dxx,
        "core_weight_e": w_e,
        "core_weight_h": w_h,
        "core_weight_E1": w_E1,
        "core_weight_H1": w_H1,
        "radial_grid": grid,
        "radial_density_e": obs.layer_density(pos, rho_e, grid),
        "radial_density_h": obs.layer_density(pos, rho_h, grid),
        "envelope_e": env_e,
        "envelope_h": env_h,
        "r_max_e": r_max_e,
        "r_max_h": r_max_h,
        "separation": r_max_e - r_max_h,
        "overlap_atomic": o_atom,
        "overlap_envelope": o_env,
        "spectrum_energy": spec_grid,
        "spectrum": spectrum,
        "epsilon": float(settings.epsilon),
        "onsite_ev": settings.onsite,
        "confinement": cls.label,
        "confinement_reason": cls.reason,
    }
