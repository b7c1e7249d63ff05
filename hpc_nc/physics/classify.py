"""Confinement classification of the ground electron-hole pair (paper, Figs. 3-6, 12).

The paper classifies by eye from radial densities, optical activity and Delta_XX and warns
that each metric alone misleads: "the observed low optical activity arose from the
localization of the electron and hole in different atomic layers rather than from
large-scale spatial separation ... the confinement could still be classified as type-I"
(Fig. 6 discussion); "a substantial Delta_XX may result from shifted density maxima and
different spatial distributions, without necessarily implying type-II" and such cases are
called 'mixed' (Fig. 12 discussion). The rules below encode that reading with explicit
thresholds. The thresholds are OUR choices (the paper gives no numbers); they are data
(:class:`ClassifySettings`) so a sweep can be re-classified without recomputing anything.
docs/VALIDATION.md ("Confinement classifier") lists the cases that fix them.

Where a carrier is, is judged against a homogeneous reference, never against a fixed
number. A pure ZnS dot of the same size already puts a core share w_ref into the core that
depends strongly on R / (R + H) and on the carrier (R = H = 3a: electron 0.38, hole 0.60;
R = 1a, H = 3a: 0.05 and 0.09), so a fixed threshold classifies by geometry. The reference
weights w_ref_e, w_ref_h are those of the E1 and H1 levels of that ZnS dot (solved by the
electronic stage, hpc_nc.pipeline.electronic_stage.homogeneous_reference). Callers without
a solved reference (unit tests on synthetic states) may use :func:`envelope_core_share`,
the core share of the 1S envelope j0(pi r / R_dot)^2 sampled on the atoms; the reason
string says which reference was used.

Metrics (all for the levels E1 and H1, averaged over all states of the degenerate level;
see hpc_nc.physics.observables and hpc_nc.physics.exciton "Basis invariance"):
* w_e, w_h: core weights (probability on core atoms).
* g = [w / (1 - w)] / [w_ref / (1 - w_ref)]: the carrier's core enhancement, the odds of
  being in the core relative to the homogeneous dot (g = 1: as in pure ZnS; g > 1 drawn
  into the core; g < 1 pushed out). Odds, not differences, so that a tiny core (w_ref 0.05)
  and a large one (w_ref 0.8) are judged alike.
* location of a carrier: "core" if g >= confined_ratio (2), "shell" if g <= 1/confined_ratio,
  otherwise "as homogeneous" (spread over core and shell like in pure ZnS).
* C = g_h / g_e (or its inverse): the charge-separation contrast, how much more one carrier
  is drawn into the core than the other, relative to the homogeneous dot.
* s = |r_max_e - r_max_h| / total_radius: separation of the envelope maxima relative to the
  dot radius; "separated" if s >= separation_min (default 0.2).
* O_env: overlap of the radial envelopes; "overlapping" if O_env >= envelope_high (0.8).
* O_atom: atom-resolved overlap; O_atom / O_env < layer_ratio (0.5) flags carriers on
  different atomic layers (cation vs anion sub-lattice) inside a common envelope.
* Delta_XX and the optical activity |d|^2 are reported, not thresholded. Delta_XX =
  (rho_e - rho_h) V (rho_e - rho_h) >= 0 for every pair of densities (V positive definite),
  so "Delta_XX > 0" is no test of anything; its size is dominated by the on-site term for
  localised holes and by the screening model (hpc_nc.physics.coulomb). |d|^2 scales with
  the emitter's volume ("larger nanocrystals tend to exhibit higher dipole transitions ...
  not related to type-I or type-II", Fig. 10 discussion).

Rules, first match wins:
0. a homogeneous dot (no Cu and no In, or no shell, H = 0: no core/shell band offset to
   separate anything) is "type-I".
1. type-II: the contrast C >= separation_ratio (4), the carrier drawn into the core is
   mostly there (w >= 1/2) while the other is mostly in the shell (w < 1/2) and is not
   itself drawn into the core (its g < confined_ratio): "electron in the shell, hole in the
   core" (or the reverse) literally, and clearly more so than in the homogeneous dot. (A
   Cu-rich core of R = 1a draws both carriers in, g_e ~ 4 and g_h ~ 30, while the electron's
   majority stays in the shell only because the core is tiny: that is type-I, not type-II.)
   Exception, "mixed": the envelopes still overlap (O_env >= envelope_high) with close maxima (s < separation_min), i.e. both carriers hug the interface from either
   side (the paper's 'shifted maxima'). Partial overlap does not veto: a hole in a core of
   R = 3a overlaps the shell electron's envelope (O_env = 0.73, s = 0.16 for InS/ZnS
   R = H = 3a at VBO 1.1 eV) and the paper calls that case type-II.
2. quasi-type-II: one carrier localised ("core" or "shell"), the other "as homogeneous".
3. same location (both core, both shell, both as homogeneous) or opposite directions
   without rule 1's majorities: "type-I" if the envelopes overlap and the maxima are not
   separated (a low O_atom is then reported as "different atomic layers" but does not
   change the class); otherwise "mixed" (shifted maxima without separation into different
   regions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASSES = ("type-I", "quasi-type-II", "type-II", "mixed")
MAX_REASON_CHARS = 200  # the results file stores the reason as a fixed-width string
_WEIGHT_FLOOR = 1e-12  # keeps odds finite for a carrier with (numerically) no weight in a region


@dataclass(frozen=True)
class ClassifySettings:
    """Thresholds of the confinement rules (dimensionless; module docstring).

    confined_ratio: core-enhancement odds ratio g beyond which (or below whose inverse) a
    carrier counts as confined to the core (shell). separation_ratio: contrast C of the two
    carriers' enhancements needed for type-II. separation_min, envelope_high, layer_ratio:
    envelope separation, envelope overlap and atomic/envelope overlap thresholds of rule 3.
    """

    confined_ratio: float = 2.0
    separation_ratio: float = 4.0
    separation_min: float = 0.2
    envelope_high: float = 0.8
    layer_ratio: float = 0.5


@dataclass(frozen=True)
class Classification:
    label: str
    reason: str
    metrics: dict

    def __post_init__(self):
        if len(self.reason) > MAX_REASON_CHARS:  # never expected (worst case ~190), but cheap
            object.__setattr__(self, "reason", self.reason[: MAX_REASON_CHARS - 3] + "...")


def envelope_core_share(positions: np.ndarray, in_core: np.ndarray, total_radius: float) -> float:
    """Core share of the 1S envelope j0(pi r / R)^2 of a sphere of radius R = total_radius
    (Angstrom), sampled on the atoms (every atom has the same volume in zinc blende).

    In the continuum limit this is x - sin(2 pi x)/(2 pi), x = R_core / R. A stand-in for the
    solved homogeneous dot where none is available (module docstring).
    """
    r = np.linalg.norm(np.asarray(positions, dtype=float), axis=1)
    env = np.sinc(r / float(total_radius)) ** 2  # np.sinc(x) = sin(pi x)/(pi x)
    env[r > total_radius] = 0.0
    return float(env[np.asarray(in_core, dtype=bool)].sum() / env.sum())


def _odds(w: float) -> float:
    w = min(max(float(w), _WEIGHT_FLOOR), 1.0 - _WEIGHT_FLOOR)
    return w / (1.0 - w)


def _location(ratio: float, settings: ClassifySettings) -> str:
    if ratio >= settings.confined_ratio:
        return "core"
    if ratio <= 1.0 / settings.confined_ratio:
        return "shell"
    return "as homogeneous"


def classify_confinement(
    core_weight_e: float,
    core_weight_h: float,
    r_max_e: float,
    r_max_h: float,
    total_radius: float,
    overlap_envelope: float,
    overlap_atomic: float,
    dxx: float,
    j_eh: float,
    dipole_sq: float = float("nan"),
    settings: ClassifySettings = ClassifySettings(),
    *,
    reference_weight_e: float,
    reference_weight_h: float,
    homogeneous: bool = False,
    reference: str = "ZnS dot",
) -> Classification:
    """Class ("type-I", "quasi-type-II", "type-II", "mixed"), a one-line reason, the metrics.

    Radii in Angstrom, dxx and j_eh in eV (reported only), dipole_sq in Angstrom^2 (reported
    only). reference_weight_e/h: E1/H1 core weights of the homogeneous dot of the same size;
    homogeneous: the dot has no core/shell heterostructure (rule 0); reference: a short name
    of where the reference weights come from, quoted in the reason.
    """
    g_e = _odds(core_weight_e) / _odds(reference_weight_e)
    g_h = _odds(core_weight_h) / _odds(reference_weight_h)
    loc_e = _location(g_e, settings)
    loc_h = _location(g_h, settings)
    sep = abs(r_max_e - r_max_h) / total_radius
    layer_ratio = overlap_atomic / overlap_envelope if overlap_envelope > 0 else float("nan")
    contrast = max(g_e, g_h) / min(g_e, g_h)
    metrics = dict(
        core_weight_e=float(core_weight_e),
        core_weight_h=float(core_weight_h),
        reference_weight_e=float(reference_weight_e),
        reference_weight_h=float(reference_weight_h),
        core_enhancement_e=float(g_e),
        core_enhancement_h=float(g_h),
        separation_contrast=float(contrast),
        location_e=loc_e,
        location_h=loc_h,
        separation_relative=float(sep),
        overlap_envelope=float(overlap_envelope),
        overlap_atomic=float(overlap_atomic),
        atomic_to_envelope=float(layer_ratio),
        dxx=float(dxx),
        j_eh=float(j_eh),
        dipole_sq=float(dipole_sq),
    )
    summary = (
        f"w_e={core_weight_e:.2f}, w_h={core_weight_h:.2f} vs {reference} {reference_weight_e:.2f}, "
        f"{reference_weight_h:.2f}; O_env={overlap_envelope:.2f}, s={sep:.2f}"
    )

    if homogeneous:
        return Classification("type-I", "homogeneous dot (no core/shell band offset)", metrics)

    inner, outer = ("hole", "electron") if g_h >= g_e else ("electron", "hole")
    w_inner, w_outer = (core_weight_h, core_weight_e) if inner == "hole" else (core_weight_e, core_weight_h)
    overlapping = overlap_envelope >= settings.envelope_high
    separated = sep >= settings.separation_min
    g_outer = g_e if outer == "electron" else g_h
    if contrast >= settings.separation_ratio and w_inner >= 0.5 > w_outer and g_outer < settings.confined_ratio:
        if overlapping and not separated:  # both hug the interface from either side
            return Classification(
                "mixed",
                f"{outer} in the shell, {inner} in the core, but envelopes overlap, maxima close ({summary})",
                metrics,
            )
        return Classification(
            "type-II", f"{outer} in the shell, {inner} in the core, contrast {contrast:.1f} ({summary})", metrics
        )

    localised = {"core", "shell"}
    if (loc_e in localised) != (loc_h in localised):
        if loc_e in localised:
            text = f"electron drawn to the {loc_e}, hole as in the homogeneous dot"
        else:
            text = f"hole drawn to the {loc_h}, electron as in the homogeneous dot"
        return Classification("quasi-type-II", f"{text} ({summary})", metrics)

    where = f"the {loc_e}" if loc_e == loc_h and loc_e in localised else "core and shell"
    if loc_e != loc_h:  # opposite directions, but the carriers are not mostly in "their" regions
        where = f"opposite directions (e: {loc_e}, h: {loc_h}) without a majority in each"
    if overlapping and not separated:
        layers = ""
        if np.isfinite(layer_ratio) and layer_ratio < settings.layer_ratio:
            layers = f"; O_atom={overlap_atomic:.2f}: different atomic layers"
        return Classification("type-I", f"both in {where}, envelopes overlap ({summary}){layers}", metrics)
    return Classification("mixed", f"both in {where}, envelopes shifted ({summary})", metrics)
