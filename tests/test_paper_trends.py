"""Qualitative trends of the paper, as regression tests on small dots (VCA and NSTR only).

docs/VALIDATION.md runs reduced versions of the paper's studies (Figs. 2, 3, 7, 8, 11, 12)
and records which of the paper's statements the code reproduces. The tests below pin the
reproduced trends that survive on dots small enough for the test suite (radius <= 2.5 a,
<= 525 atoms, serial). Strain (STR) needs the real PETSc build for the relaxation and the
complex one for the solve, which cannot both live in one process, so STR trends are
checked only in docs/VALIDATION.md. The tests run serially (no ``mpi`` marker): they
check physics, and the rank-count independence of exactly these quantities (energies, core
weights) is tested in tests/test_sweep.py.

Reference numbers (eV, ZnS VBM = 0, spin-orbit included; hpc_nc/data/materials): bulk ZnS
VBM 0, CBM 3.684; InS (VBO 1.1 eV) VBM 1.1, CBM 3.55; CuS (VBO 0.34 eV) VBM 0.34,
CBM 2.44 (the project's fitted parameters; the paper's Fig. 1 and Methods give the gaps
ZnS 3.7, InS 2.45, CuS 2.1 eV and the offsets 1.1 and 0.34 eV).
"""

import textwrap

import numpy as np

from hpc_nc.io.jobs import parse_job


def _solve(comm, text):
    """Solve every task of a job in-process; return (tasks, list of result dicts)."""
    from hpc_nc.pipeline.electronic_stage import solve_task
    from hpc_nc.settings import ElectronicSettings

    job = parse_job(textwrap.dedent(text), source="test_paper_trends")
    settings = ElectronicSettings.from_job(job)
    return job.tasks, [solve_task(comm, task, settings) for task in job.tasks]


def _pick(tasks, results, key, **where):
    """Value `key` of the single task matching all `where` fields."""
    hits = [r for t, r in zip(tasks, results) if all(getattr(t, k) == v for k, v in where.items())]
    assert len(hits) == 1, where
    return float(hits[0][key])


def test_ins_core_only_levels_approach_bulk_ins_edges_as_dot_grows(comm, petsc):
    """Quantum confinement of a pure InS core-only dot (paper Fig. 2 end point x_In = 1).

    Confinement raises the electron and lowers the hole, and both relax towards the bulk
    band edges as the dot grows: E1 falls towards the InS CBM (3.55 eV) and H1 rises
    towards the InS VBM (1.1 eV), always staying inside the bulk gap (a variational bound:
    the dot's states are built from bulk states plus hard-wall passivation). Radii 1.5, 2
    and 2.5 a (123, 281, 525 atoms); measured E1 = 4.194, 3.939, 3.914 eV and
    H1 = 0.530, 0.715, 0.822 eV.
    """
    tasks, res = _solve(
        comm,
        """
        name: trend_ins_size
        sweep: {x_cu: [0.0], x_in: [1.0], core_radius_a: [1.5, 2.0, 2.5], shell_thickness_a: [0],
                model: [VCA]}
        states: {electrons: 2, holes: 4}
        analysis: {n_radial_bins: 40}
    """,
    )
    e1 = np.array([_pick(tasks, res, "E1", core_radius_a=r) for r in (1.5, 2.0, 2.5)])
    h1 = np.array([_pick(tasks, res, "H1", core_radius_a=r) for r in (1.5, 2.0, 2.5)])
    assert np.all(np.diff(e1) < 0) and np.all(np.diff(h1) > 0), (e1, h1)
    assert np.all(e1 > 3.55) and np.all(h1 < 1.1), (e1, h1)
    # the gap closes by a sizeable amount from 1.5 a to 2.5 a (0.57 eV measured);
    # 0.2 eV leaves room for parameter refits without losing the trend
    assert (e1[0] - h1[0]) - (e1[-1] - h1[-1]) > 0.2, (e1, h1)


def test_zn_in_s_alloy_vca_vs_nstr(comm, petsc):
    """Paper Fig. 2 without strain: VCA and NSTR agree for electrons, not for holes.

    Core-only Zn(1-x)In(x)S dot of radius 2 a (281 atoms). The paper: "the VCA and NSTR
    results exhibited relatively small differences in electron energy levels"; and the
    large InS/ZnS VBO (1.1 eV) against a 0.15 eV conduction offset makes the random In
    sites deep hole traps: NSTR's H1 lies above VCA's (holes localise on In-rich
    clusters) and above the straight line between the pure dots, so the gap bows below
    the linear interpolation ("interpolation ... can substantially overestimate the
    single-particle band gap"). The validation (2.5 a) found |E1(VCA) - E1(NSTR)| <= 0.02
    eV and an NSTR gap 0.37 eV below the interpolation at x = 0.5; at 2 a (this test,
    seed 5): |dE1| = 0.005 eV, H1(NSTR) - H1(VCA) = 0.235 eV, gap 0.365 eV below. Also checks that VCA,
    NSTR coincide for the pure end points (no randomness left).
    """
    tasks, res = _solve(
        comm,
        """
        name: trend_vca_nstr
        sweep: {x_cu: [0.0], x_in: [0.0, 0.5, 1.0], core_radius_a: [2.0], shell_thickness_a: [0],
                model: [VCA, NSTR], realizations: 1, seed: 5}
        states: {electrons: 2, holes: 4}
        analysis: {n_radial_bins: 40}
    """,
    )
    g = {(m, x): _pick(tasks, res, "gap", model=m, x_in=x) for m in ("VCA", "NSTR") for x in (0.0, 0.5, 1.0)}
    e1 = {(m, x): _pick(tasks, res, "E1", model=m, x_in=x) for m in ("VCA", "NSTR") for x in (0.0, 0.5, 1.0)}
    h1 = {(m, x): _pick(tasks, res, "H1", model=m, x_in=x) for m in ("VCA", "NSTR") for x in (0.0, 0.5, 1.0)}
    for x in (0.0, 1.0):  # pure dots: the two models are the same Hamiltonian
        assert abs(e1["VCA", x] - e1["NSTR", x]) < 1e-8 and abs(h1["VCA", x] - h1["NSTR", x]) < 1e-8
    assert abs(e1["VCA", 0.5] - e1["NSTR", 0.5]) < 0.05, e1
    assert h1["NSTR", 0.5] > h1["VCA", 0.5] + 0.05, h1
    linear = 0.5 * (g["NSTR", 0.0] + g["NSTR", 1.0])
    assert g["NSTR", 0.5] < linear - 0.15, (g, linear)
    # H1 rises with In content in both models (the In VBM lies 1.1 eV above ZnS's)
    for m in ("VCA", "NSTR"):
        assert h1[m, 0.0] < h1[m, 0.5] < h1[m, 1.0], h1


def test_core_hole_follows_vbo_and_cus_core_ignores_it(comm, petsc):
    """InS/ZnS core/shell (R = 1.5 a, H = 1 a, 525 atoms, NSTR = VCA for a pure core).

    Raising the InS/ZnS VBO shifts the InS on-site energies rigidly up (In cations fully,
    S atoms by the fraction of In among their neighbours, since an anion's parameters are
    averaged over its cations). By Hellmann-Feynman dH1/dVBO is the hole's probability
    weighted by that fraction: between 0 and 1, and close to the hole's core weight w_h
    (they differ only by the weight on interface S atoms, whose fraction is neither 0 nor
    1). So a core-confined hole follows the VBO nearly one-to-one but never faster: the
    finite-difference slope over [v, v + 0.2] lies within [min w_h - 0.1, 1]
    (measured: slopes 0.82, 0.85 for w_h = 0.79 ... 0.85). The electron's well becomes
    shallower (InS CBM = VBO + 2.45 eV against ZnS's 3.684 eV: CBO = 1.234 eV - VBO), so
    E1 rises by less than the VBO step and the electron leaks into the shell (its core
    weight falls), the mechanism behind the type-II regime of the paper's Fig. 3. A CuS
    core ignores the InS/ZnS offset exactly (Fig. 8 uses the CuS/ZnS offset only).
    """
    tasks, res = _solve(
        comm,
        """
        name: trend_vbo
        sweep: {compositions: [[0.0, 1.0], [1.0, 0.0]], geometries: [[1.5, 1.0]],
                vbo_ins: [0.9, 1.1, 1.3], model: [NSTR]}
        states: {electrons: 2, holes: 4}
        analysis: {n_radial_bins: 40}
    """,
    )
    vbos = (0.9, 1.1, 1.3)
    h1 = np.array([_pick(tasks, res, "H1", x_in=1.0, vbo_ins=v) for v in vbos])
    e1 = np.array([_pick(tasks, res, "E1", x_in=1.0, vbo_ins=v) for v in vbos])
    wh = np.array([_pick(tasks, res, "core_weight_H1", x_in=1.0, vbo_ins=v) for v in vbos])
    we = np.array([_pick(tasks, res, "core_weight_E1", x_in=1.0, vbo_ins=v) for v in vbos])
    slope = np.diff(h1) / 0.2
    assert np.all(wh > 0.7), wh  # the hole is core-confined (the premise of the bound)
    for k in range(2):
        assert min(wh[k], wh[k + 1]) - 0.1 <= slope[k] <= 1.0 + 1e-6, (slope, wh)
    assert np.all(np.diff(e1) > 0) and np.all(np.diff(e1) < 0.2), e1
    assert np.all(np.diff(we) < 0), we
    cus = np.array([_pick(tasks, res, "H1", x_cu=1.0, vbo_ins=v) for v in vbos])
    np.testing.assert_allclose(cus, cus[0], atol=1e-8)
