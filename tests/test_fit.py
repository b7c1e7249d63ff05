"""InS/CuS parameter fit from CdS: reproducibility and targets."""

import os
import shutil

import pytest

from hpc_nc import fit
from hpc_nc.physics.bulk import bulk_summary, gamma_gap
from hpc_nc.physics.materials import DATA_DIR, load_materials, parse_material_file


def test_stored_files_reproduce_the_fit():
    # Re-running the fit gives the stored numbers within 1e-6 eV.
    assert fit.check() == []


def test_fit_writes_identical_files(tmp_path):
    d = tmp_path / "materials"
    shutil.copytree(DATA_DIR, d)
    for name in ("InS", "CuS"):
        os.remove(d / f"{name}.yaml")
    fit.write(str(d))
    for name in ("InS", "CuS"):
        # No dates or other run-dependent content: byte-identical to the package files.
        assert (d / f"{name}.yaml").read_bytes() == open(os.path.join(DATA_DIR, f"{name}.yaml"), "rb").read()


@pytest.mark.parametrize("name,gap,vbo", [("InS", 2.45, 1.1), ("CuS", 2.1, 0.34)])
def test_stored_sets_hit_targets(name, gap, vbo):
    mats = load_materials()
    m = mats[name]
    assert gamma_gap(m) == pytest.approx(gap, abs=1e-6)
    assert m.gap == pytest.approx(gap, abs=1e-6)  # minimum gap = Gamma gap
    assert m.vbm == pytest.approx(vbo, abs=1e-6)
    assert bulk_summary(name, mats)["cbm_location"] == "Gamma"
    # Only Esc and the rigid shift differ from CdS: hoppings and spin-orbit are CdS's.
    cds = parse_material_file(os.path.join(DATA_DIR, "CdS.yaml"))
    stored = parse_material_file(os.path.join(DATA_DIR, f"{name}.yaml"))
    for key in ("Vss", "Vxx", "Vxy", "Vsapc", "Vscpa", "Vssapc", "Vpassc"):
        assert stored["vogl"][key] == cds["vogl"][key]
    assert stored["delta_anion"] == cds["delta_anion"] and stored["delta_cation"] == cds["delta_cation"]
    shift = stored["vogl"]["Esa"] - cds["vogl"]["Esa"]
    for key in ("Epa", "Epc", "Essa", "Essc"):
        assert stored["vogl"][key] - cds["vogl"][key] == pytest.approx(shift, abs=2e-9)


def test_fit_recovers_a_known_parameter(monkeypatch):
    # Target the CdS gap itself: the fit must return CdS's own Esc (1.83 eV) and, with a
    # zero offset, the rigid shift that puts the raw CdS VBM at 0.
    mats = load_materials()
    target = dict(fit.FIT_TARGETS["InS"], gap=gamma_gap(mats["CdS"]), vbo=0.0, lattice_constant=5.818)
    monkeypatch.setitem(fit.FIT_TARGETS, "InS", target)
    result = fit.fit_compound("InS")
    assert result["esc_raw"] == pytest.approx(1.83, abs=1e-9)
    assert result["vogl"]["Esa"] == pytest.approx(mats["CdS"].vogl["Esa"], abs=1e-8)


def test_check_detects_a_tampered_file(tmp_path):
    d = tmp_path / "materials"
    shutil.copytree(DATA_DIR, d)
    p = d / "CuS.yaml"
    text = p.read_text()
    v = parse_material_file(str(p))["vogl"]["Esc"]
    p.write_text(text.replace(f"value: {v:.9f}", f"value: {v + 1e-5:.9f}", 1))
    problems = fit.check(str(d))
    assert any("CuS.yaml: Esc" in msg for msg in problems)
    assert fit.main(["--check", "--data-dir", str(d)]) == 1


def test_zns_spin_orbit_fit_hits_measured_delta0_and_is_checked(tmp_path):
    """Equal atomic splittings give bulk Delta0 = 64 meV; the stored ZnS values are the fit's,
    and --check catches a ZnS file with another splitting (e.g. the old unsourced 0.09)."""
    from hpc_nc.physics.materials import material_from_numbers

    delta = fit.fit_zns_spin_orbit()
    zns = parse_material_file(os.path.join(DATA_DIR, "ZnS.yaml"))
    assert zns["delta_anion"] == pytest.approx(delta, abs=1e-9) and zns["delta_cation"] == pytest.approx(
        delta, abs=1e-9
    )
    m = material_from_numbers(dict(zns, delta_anion=delta, delta_cation=delta))
    assert bulk_summary("ZnS", {"ZnS": m})["delta_so"] == pytest.approx(fit.ZNS_DELTA0_EV, abs=1e-10)
    d = tmp_path / "materials"
    shutil.copytree(DATA_DIR, d)
    p = d / "ZnS.yaml"
    p.write_text(p.read_text().replace("value: 0.064", "value: 0.09", 1))
    assert any("ZnS.yaml: delta_anion" in msg for msg in fit.check(str(d)))
