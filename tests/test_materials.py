"""Material data files: validation on load, provenance, energy reference, band offsets."""

import os
import shutil

import numpy as np
import pytest
import yaml

from hpc_nc.errors import HpcNcError
from hpc_nc.physics.materials import DATA_DIR, load_materials, parameter_hash, with_band_offsets
from hpc_nc.physics.tight_binding import ONSITE_NAMES, VOGL_NAMES


@pytest.fixture(scope="module")
def mats():
    return load_materials()


def _copy_data(tmp_path):
    d = tmp_path / "materials"
    shutil.copytree(DATA_DIR, d)
    return d


def test_all_compounds_load_with_reference_energies(mats):
    assert set(mats) == {"ZnS", "CdS", "InS", "CuS"}
    # Energy reference: ZnS VBM (with SO) = 0 eV; InS/CuS at the VBOs they were fitted at
    # (paper Methods: 1.1 and 0.34 eV).
    assert abs(mats["ZnS"].vbm) < 1e-12
    assert mats["InS"].vbm == pytest.approx(1.1, abs=1e-8)
    assert mats["CuS"].vbm == pytest.approx(0.34, abs=1e-8)
    # Rigid shift only: ZnS keeps the published Vogl differences (Epa - Esa = 1.48 + 11.61).
    z = mats["ZnS"].vogl
    assert z["Epa"] - z["Esa"] == pytest.approx(13.09, abs=1e-12)
    assert z["Vss"] == -6.30


def test_lattice_constants_follow_documented_derivation(mats):
    assert mats["ZnS"].lattice_constant == 5.409
    assert mats["CdS"].lattice_constant == 5.818
    assert mats["InS"].lattice_constant == pytest.approx(5.409 * 1.16, abs=1e-6)
    assert mats["CuS"].lattice_constant == pytest.approx(5.409 * (1 - 0.009), abs=1e-6)
    assert mats["ZnS"].bond_length == pytest.approx(np.sqrt(3) / 4 * 5.409)


def test_every_number_has_a_source():
    for fname in sorted(os.listdir(DATA_DIR)):
        with open(os.path.join(DATA_DIR, fname)) as fh:
            doc = yaml.safe_load(fh)
        entries = [doc["lattice_constant"], doc["valence_band_offset"]]
        entries += [doc["tight_binding"]["parameters"][n] for n in VOGL_NAMES]
        entries += list(doc["spin_orbit"]["parameters"].values())
        for e in entries:
            assert isinstance(e["value"], (int, float))
            assert len(e["source"]) > 10
        if doc["compound"] in ("ZnS", "CdS"):
            assert "Lippens" in doc["tight_binding"]["parameters"]["Vss"]["source"]
            assert "unverified" in doc["tight_binding"]["parameters"]["Vss"]["source"]


def test_missing_key_names_file_and_key(tmp_path):
    d = _copy_data(tmp_path)
    path = d / "CuS.yaml"
    doc = yaml.safe_load(path.read_text())
    del doc["tight_binding"]["parameters"]["Vxy"]
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(HpcNcError, match=r"CuS\.yaml.*Vxy"):
        load_materials(str(d))


def test_non_numeric_value_names_file_and_key(tmp_path):
    d = _copy_data(tmp_path)
    path = d / "ZnS.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["spin_orbit"]["parameters"]["delta_anion"]["value"] = "0.09 eV"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(HpcNcError, match=r"ZnS\.yaml.*delta_anion"):
        load_materials(str(d))


def test_missing_source_is_rejected(tmp_path):
    d = _copy_data(tmp_path)
    path = d / "InS.yaml"
    doc = yaml.safe_load(path.read_text())
    del doc["lattice_constant"]["source"]
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(HpcNcError, match=r"InS\.yaml.*lattice_constant"):
        load_materials(str(d))


def test_parameter_hash_tracks_file_bytes(tmp_path):
    h = parameter_hash()
    assert len(h) == 64 and int(h, 16) >= 0
    d = _copy_data(tmp_path)
    assert parameter_hash(str(d)) == h
    with open(d / "ZnS.yaml", "a") as fh:
        fh.write("# edited\n")
    assert parameter_hash(str(d)) != h


def test_with_band_offsets_is_a_rigid_shift(mats):
    moved = with_band_offsets(mats, 1.6, 0.75)
    assert moved["ZnS"] is mats["ZnS"]
    for name, vbo in (("InS", 1.6), ("CuS", 0.75)):
        old, new = mats[name], moved[name]
        shift = vbo - old.vbm
        assert new.vbm == pytest.approx(vbo, abs=1e-12)
        assert new.gap == pytest.approx(old.gap, abs=1e-12)
        assert new.valence_band_offset == pytest.approx(vbo, abs=1e-12)
        for n in VOGL_NAMES:
            expected = old.vogl[n] + (shift if n in ONSITE_NAMES else 0.0)
            assert new.vogl[n] == pytest.approx(expected, abs=1e-12)
    # The band edges of the shifted material agree with a fresh bulk calculation.
    from hpc_nc.physics.bulk import band_edges

    vbm, cbm = band_edges(moved["InS"])
    assert vbm == pytest.approx(1.6, abs=1e-10) and cbm == pytest.approx(1.6 + 2.45, abs=1e-6)
    with pytest.raises(HpcNcError):
        with_band_offsets(mats, float("nan"), 0.3)


def test_gap_volume_deformation_potentials_of_the_strain_model():
    """Strain acts only through Harrison scaling of the two-centre integrals (on-site energies
    and spin-orbit fixed), so a_gap = dE_g/d ln V vanishes for eta = 0, is proportional to
    eta (E_g depends on a only through f = (a0/a)^eta), and does not depend on the step.
    Values (docs/physics.md, "Strain"): ZnS -4.57 eV, CdS/InS/CuS -1.50 to -1.52 eV."""
    from hpc_nc.physics.materials import gap_volume_deformation_potential, strained_material

    mats = load_materials()
    values = {}
    for name in ("ZnS", "InS", "CuS"):
        m = mats[name]
        a2 = gap_volume_deformation_potential(m, harrison_eta=2.0)
        values[name] = a2
        assert a2 < 0  # the gap closes under expansion
        assert gap_volume_deformation_potential(m, harrison_eta=0.0) == pytest.approx(0.0, abs=1e-8)
        assert a2 == pytest.approx(2.0 * gap_volume_deformation_potential(m, harrison_eta=1.0), rel=1e-5)
        assert a2 == pytest.approx(gap_volume_deformation_potential(m, strain=1e-3), rel=1e-4)
        s = strained_material(m, 1.01 * m.lattice_constant)
        for n in m.vogl:
            if n.startswith("E"):
                assert s.vogl[n] == m.vogl[n]
            else:
                assert s.vogl[n] == pytest.approx(m.vogl[n] / 1.01**2, rel=1e-14)
    assert values["ZnS"] == pytest.approx(-4.57, abs=0.01)
    for name in ("InS", "CuS"):
        assert values[name] == pytest.approx(-1.51, abs=0.02)
