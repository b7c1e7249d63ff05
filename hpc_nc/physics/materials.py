"""Material parameters: loaded once from hpc_nc/data/materials/*.yaml and validated.

Each data file holds, for one zinc-blende compound, the 13 Vogl sp3s* parameters (eV), the
atomic spin-orbit splittings Delta (eV) of anion and cation, the lattice constant (Angstrom)
and the valence-band offset (eV, VBM relative to the ZnS VBM) at which its on-site energies
are meant; every number has a ``source`` string. On loading, each compound's on-site
energies are shifted rigidly so that its bulk VBM (spin-orbit included) sits exactly at
that offset: ZnS's published set therefore ends up with VBM = 0 eV, the project's energy
reference. InS and CuS are fitted from CdS by :mod:`hpc_nc.fit` and stored already shifted.
The band offsets of InS and CuS are run-time parameters: :func:`with_band_offsets`.

Strain (docs/physics.md, "Strain"). Strain enters the tight-binding model only through the
bond directions and the Harrison scaling (d0/d)^eta of the two-centre integrals (eta = 2 by
default, job key physics.harrison_eta); on-site energies and spin-orbit splittings do not
depend on strain. The resulting hydrostatic (volume) deformation potential of the gap,
a_gap = dE_g / d ln V, follows from the bulk Hamiltonian alone:
:func:`gap_volume_deformation_potential` (values in docs/physics.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import types
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from hpc_nc.errors import HpcNcError
from hpc_nc.physics.bulk import band_edges
from hpc_nc.physics.tight_binding import ONSITE_NAMES, VOGL_NAMES, onsite_vectors, two_centre_integrals
from hpc_nc.settings import DEFAULT_HAMILTONIAN

DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "materials")
MATERIAL_FILES = ("ZnS", "CdS", "InS", "CuS")
SPIN_ORBIT_NAMES = ("delta_anion", "delta_cation")


@dataclass(frozen=True, eq=False)
class Material:
    """Bulk sp3s*+SO parameters of one compound, on the project's energy scale (eV).

    vogl: the 13 Vogl parameters (eV), on-site energies already shifted.
    delta_anion, delta_cation: atomic spin-orbit splittings Delta (eV), lambda = Delta/3.
    lattice_constant: Angstrom. valence_band_offset: eV, the VBM relative to the ZnS VBM.
    vbm, cbm: bulk band edges with spin-orbit (eV) after the offset shift; the CBM is the
    minimum over the L-Gamma-X path.
    """

    name: str
    cation: str
    lattice_constant: float
    vogl: Mapping[str, float]
    delta_anion: float
    delta_cation: float
    valence_band_offset: float
    vbm: float
    cbm: float
    source_file: str

    @property
    def gap(self) -> float:
        """Bulk band gap with spin-orbit, eV."""
        return self.cbm - self.vbm

    @property
    def bond_length(self) -> float:
        """Natural nearest-neighbour distance sqrt(3) a / 4, Angstrom."""
        return math.sqrt(3.0) * self.lattice_constant / 4.0

    @property
    def onsite_anion(self) -> np.ndarray:
        """(5,) eV on (s, px, py, pz, s*) of the anion."""
        return onsite_vectors(self.vogl)[0]

    @property
    def onsite_cation(self) -> np.ndarray:
        """(5,) eV on (s, px, py, pz, s*) of the cation."""
        return onsite_vectors(self.vogl)[1]

    @property
    def two_centre(self) -> np.ndarray:
        """(7,) two-centre integrals in tight_binding.TWO_CENTRE_NAMES order, eV."""
        return two_centre_integrals(self.vogl)

    @property
    def lambda_anion(self) -> float:
        return self.delta_anion / 3.0

    @property
    def lambda_cation(self) -> float:
        return self.delta_cation / 3.0

    def shifted(self, shift_ev: float) -> Material:
        """The same material with every on-site energy (and both band edges) + shift_ev."""
        vogl = dict(self.vogl)
        for n in ONSITE_NAMES:
            vogl[n] = vogl[n] + shift_ev
        return dataclasses.replace(
            self,
            vogl=types.MappingProxyType(vogl),
            valence_band_offset=self.valence_band_offset + shift_ev,
            vbm=self.vbm + shift_ev,
            cbm=self.cbm + shift_ev,
        )


def _number(doc, key: str, path: str) -> float:
    """A {value, source} entry as float; errors name the file and the key."""
    fname = os.path.basename(path)
    if not isinstance(doc, dict) or "value" not in doc:
        raise HpcNcError(f"{fname}: missing key {key}.value")
    src = doc.get("source")
    if not isinstance(src, str) or not src.strip():
        raise HpcNcError(f"{fname}: {key} has no source string")
    val = doc["value"]
    if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val):
        raise HpcNcError(f"{fname}: {key}.value must be a finite number, got {val!r}")
    return float(val)


def _section(doc: dict, key: str, path: str) -> dict:
    if key not in doc or not isinstance(doc[key], dict):
        raise HpcNcError(f"{os.path.basename(path)}: missing key {key}")
    return doc[key]


def parse_material_file(path: str) -> dict:
    """Read and validate one data file; returns plain numbers (on-sites unshifted)."""
    import yaml

    fname = os.path.basename(path)
    try:
        with open(path, "rb") as fh:
            doc = yaml.safe_load(fh)
    except OSError as exc:
        raise HpcNcError(f"cannot read material file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise HpcNcError(f"{fname}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict):
        raise HpcNcError(f"{fname}: expected a mapping at top level")
    for key in ("compound", "cation"):
        if not isinstance(doc.get(key), str):
            raise HpcNcError(f"{fname}: missing key {key}")
    tb = _section(_section(doc, "tight_binding", path), "parameters", path)
    so = _section(_section(doc, "spin_orbit", path), "parameters", path)
    vogl = {}
    for n in VOGL_NAMES:
        if n not in tb:
            raise HpcNcError(f"{fname}: missing key tight_binding.parameters.{n}")
        vogl[n] = _number(tb[n], f"tight_binding.parameters.{n}", path)
    deltas = {}
    for n in SPIN_ORBIT_NAMES:
        if n not in so:
            raise HpcNcError(f"{fname}: missing key spin_orbit.parameters.{n}")
        deltas[n] = _number(so[n], f"spin_orbit.parameters.{n}", path)
        if deltas[n] < 0:
            raise HpcNcError(f"{fname}: spin_orbit.parameters.{n} must be >= 0")
    for key in ("lattice_constant", "valence_band_offset"):
        if key not in doc:
            raise HpcNcError(f"{fname}: missing key {key}")
    a = _number(doc["lattice_constant"], "lattice_constant", path)
    if a <= 0:
        raise HpcNcError(f"{fname}: lattice_constant must be positive")
    return dict(
        name=doc["compound"],
        cation=doc["cation"],
        lattice_constant=a,
        vogl=vogl,
        valence_band_offset=_number(doc["valence_band_offset"], "valence_band_offset", path),
        source_file=fname,
        **deltas,
    )


def material_from_numbers(numbers: dict) -> Material:
    """Build a Material and shift it so its spin-orbit VBM equals its valence_band_offset."""
    raw = Material(
        name=numbers["name"],
        cation=numbers["cation"],
        lattice_constant=numbers["lattice_constant"],
        vogl=types.MappingProxyType(dict(numbers["vogl"])),
        delta_anion=numbers["delta_anion"],
        delta_cation=numbers["delta_cation"],
        valence_band_offset=0.0,
        vbm=0.0,
        cbm=0.0,
        source_file=numbers.get("source_file", ""),
    )
    vbm, cbm = band_edges(raw)
    raw = dataclasses.replace(raw, vbm=vbm, cbm=cbm, valence_band_offset=vbm)
    return raw.shifted(numbers["valence_band_offset"] - vbm)


def load_materials(data_dir: str | None = None) -> dict[str, Material]:
    """All compounds of the data directory (ZnS, CdS, InS, CuS), validated, eV scale ZnS VBM = 0.

    Raises HpcNcError naming the file and key for a missing key or a non-numeric value.
    """
    data_dir = data_dir or DATA_DIR
    mats = {}
    for name in MATERIAL_FILES:
        path = os.path.join(data_dir, f"{name}.yaml")
        numbers = parse_material_file(path)
        if numbers["name"] != name:
            raise HpcNcError(f"{name}.yaml: compound is {numbers['name']!r}, expected {name!r}")
        mats[name] = material_from_numbers(numbers)
    return mats


def parameter_hash(data_dir: str | None = None) -> str:
    """sha256 (hex) over the names and bytes of the material data files, in sorted order."""
    data_dir = data_dir or DATA_DIR
    h = hashlib.sha256()
    for fname in sorted(f for f in os.listdir(data_dir) if f.endswith(".yaml")):
        h.update(fname.encode())
        h.update(b"\0")
        with open(os.path.join(data_dir, fname), "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()


def with_band_offsets(mats: Mapping[str, Material], vbo_ins: float, vbo_cus: float) -> dict[str, Material]:
    """Copy of mats with InS and CuS shifted rigidly so their VBMs sit at the given VBOs (eV).

    The offsets are relative to the ZnS VBM (= 0 eV); ZnS and CdS are unchanged.
    """
    out = dict(mats)
    for name, vbo in (("InS", vbo_ins), ("CuS", vbo_cus)):
        if not (isinstance(vbo, (int, float, np.floating)) and math.isfinite(vbo)):
            raise HpcNcError(f"valence band offset of {name} must be a finite number of eV, got {vbo!r}")
        out[name] = mats[name].shifted(float(vbo) - mats[name].vbm)
    return out


def strained_material(
    material: Material, lattice_constant: float, harrison_eta: float = DEFAULT_HAMILTONIAN.harrison_eta
) -> Material:
    """The bulk material hydrostatically strained to ``lattice_constant`` (Angstrom) as the
    nanocrystal Hamiltonian strains it: every two-centre integral times (a0/a)^eta (the bond
    length scales with a), on-site energies and spin-orbit unchanged (module docstring).
    The Vogl parameters V.. are fixed linear combinations of the two-centre integrals, so
    scaling them all by one factor is exact."""
    factor = (material.lattice_constant / float(lattice_constant)) ** float(harrison_eta)
    vogl = {n: (v if n in ONSITE_NAMES else v * factor) for n, v in material.vogl.items()}
    return dataclasses.replace(material, vogl=types.MappingProxyType(vogl), lattice_constant=float(lattice_constant))


def gap_volume_deformation_potential(
    material: Material, harrison_eta: float = DEFAULT_HAMILTONIAN.harrison_eta, strain: float = 1e-4
) -> float:
    """a_gap = dE_g/d ln V (eV) of the bulk minimum gap (spin-orbit included) under the
    project's strain model, by a central difference in the lattice constant (relative step
    ``strain``; V ~ a^3, so d ln V = 3 d ln a). Negative: the gap shrinks under expansion."""
    a0 = material.lattice_constant
    gaps = []
    for sign in (1.0, -1.0):
        m = strained_material(material, a0 * (1.0 + sign * strain), harrison_eta)
        vbm, cbm = band_edges(m)
        gaps.append(cbm - vbm)
    return float((gaps[0] - gaps[1]) / (3.0 * (math.log1p(strain) - math.log1p(-strain))))
