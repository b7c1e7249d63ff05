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

Metrics (all for the levels E1 and H1, averaged over all states of the degenerate level;
see hpc_nc.physics.observables and hpc_nc.physics.exciton "Basis invariance"):
* w_e, w_h: core weights (probability on core atoms).
* location of a carrier: "core" if w >= localised_weight (default 0.6), "shell" if
  w <= 1 - localised_weight, otherwise "delocalised" (spread over core and shell, e.g. the
  hole sitting at the strained interface of the paper's Fig. 3 at low VBO).
* s = |r_max_e - r_max_h| / total_radius: separation of the envelope maxima relative to the
  dot radius; "separated" if s >= separation_min (default 0.2).
* O_env: overlap of the radial envelopes; "overlapping" if O_env >= envelope_high (0.8).
* O_atom: atom-resolved overlap; O_atom / O_env < layer_ratio (0.5) flags carriers on
  different atomic layers (cation vs anion sub-lattice) inside a common envelope.
* Delta_XX = J_ee + J_hh - 2 J_eh (eV), used through q = Delta_XX / J_eh: charge separation
  makes q > 0 (like charges repel more than unlike attract); it is a necessary condition for
  type-II here, never a sufficient one (the paper's caution above).
* the optical activity |d|^2 is reported but not thresholded: it scales with the emitter's
  volume ("larger nanocrystals tend to exhibit higher dipole transitions ... not related to
  type-I or type-II", Fig. 10 discussion), so an absolute threshold would classify by size.
  O_atom is its size-free proxy (|d| <= max|R| * O_atom by Cauchy-Schwarz).

Rules, first match wins:
1. opposite locations (one "core", the other "shell"): type-II if the envelopes do not
   overlap (O_env < envelope_high), the maxima are separated and q > 0; otherwise "mixed".
2. one carrier localised, the other delocalised: "quasi-type-II", unless the two are
   distributed alike (|w_e - w_h| < weight_contrast, default 0.2, and overlapping
   envelopes), which goes on to rule 3: otherwise the label of a homogeneous dot would
   depend on where its nominal core boundary lies.
3. same location (both core, both shell, or both delocalised): "type-I" if the envelopes
   overlap and the maxima are not separated (a low O_atom is then reported as "different
   atomic layers" but does not change the class); otherwise "mixed" (shifted maxima without
   separation into different regions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASSES = ("type-I", "quasi-type-II", "type-II", "mixed")
MAX_REASON_CHARS = 200  # the results file stores the reason as a fixed-width string


@dataclass(frozen=True)
class ClassifySettings:
    """Thresholds of the confinement rules (dimensionless; module docstring)."""

    localised_weight: float = 0.6
    separation_min: float = 0.2
    envelope_high: float = 0.8
    layer_ratio: float = 0.5
    weight_contrast: float = 0.2


@dataclass(frozen=True)
class Classification:
    label: str
    reason: str
    metrics: dict

    def __post_init__(self):
        if len(self.reason) > MAX_REASON_CHARS:  # never expected (worst case ~180), but cheap
            object.__setattr__(self, "reason", self.reason[: MAX_REASON_CHARS - 3] + "...")


def _location(weight: float, settings: ClassifySettings) -> str:
    if weight >= settings.localised_weight:
        return "core"
    if weight <= 1.0 - settings.localised_weight:
        return "shell"
    return "delocalised"


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
) -> Classification:
    """Class ("type-I", "quasi-type-II", "type-II", "mixed"), a one-line reason, the metrics.

    Radii in Angstrom, dxx and j_eh in eV, dipole_sq in Angstrom^2 (reported only).
    """
    loc_e = _location(core_weight_e, settings)
    loc_h = _location(core_weight_h, settings)
    sep = abs(r_max_e - r_max_h) / total_radius
    ratio = dxx / j_eh if j_eh > 0 else float("nan")
    layer_ratio = overlap_atomic / overlap_envelope if overlap_envelope > 0 else float("nan")
    metrics = dict(
        core_weight_e=float(core_weight_e),
        core_weight_h=float(core_weight_h),
        location_e=loc_e,
        location_h=loc_h,
        separation_relative=float(sep),
        overlap_envelope=float(overlap_envelope),
        overlap_atomic=float(overlap_atomic),
        atomic_to_envelope=float(layer_ratio),
        dxx_over_jeh=float(ratio),
        dipole_sq=float(dipole_sq),
    )
    overlapping = overlap_envelope >= settings.envelope_high
    separated = sep >= settings.separation_min
    summary = f"w_e={core_weight_e:.2f}, w_h={core_weight_h:.2f}, O_env={overlap_envelope:.2f}, s={sep:.2f}"
    localised = {"core", "shell"}

    if {loc_e, loc_h} == localised:
        if not overlapping and separated and ratio > 0:
            return Classification("type-II", f"electron in the {loc_e}, hole in the {loc_h}, envelopes separated ({summary}, dXX/J_eh={ratio:.2f})", metrics)
        why = []
        if overlapping:
            why.append("envelopes still overlap")
        if not separated:
            why.append("density maxima close")
        if not ratio > 0:
            why.append("dXX <= 0")
        return Classification("mixed", f"electron in the {loc_e}, hole in the {loc_h} but {' and '.join(why)} ({summary})", metrics)

    # One carrier just above and the other just below the localisation threshold is not
    # quasi-type-II when both are distributed alike: a homogeneous dot would otherwise be
    # labelled by where its nominal core boundary happens to lie (found in docs/VALIDATION.md).
    alike = abs(core_weight_e - core_weight_h) < settings.weight_contrast and overlapping
    if (loc_e in localised) != (loc_h in localised) and not alike:
        if loc_e in localised:
            text = f"electron localised in the {loc_e}, hole spread over core and shell"
        else:
            text = f"hole localised in the {loc_h}, electron spread over core and shell"
        return Classification("quasi-type-II", f"{text} ({summary})", metrics)

    where = "core and shell" if loc_e == "delocalised" or loc_e != loc_h else f"the {loc_e}"
    if overlapping and not separated:
        layers = ""
        if np.isfinite(layer_ratio) and layer_ratio < settings.layer_ratio:
            layers = f"; low atomic overlap O_atom={overlap_atomic:.2f}: different atomic layers, not spatial separation"
        return Classification("type-I", f"both carriers in {where} with overlapping envelopes ({summary}){layers}", metrics)
    return Classification("mixed", f"both carriers in {where} but envelopes shifted ({summary})", metrics)
