"""Synthetic results for the paper's job files (made-up smooth values, not physics).

``synthetic_paper_results(job_path)`` returns a results dict in the electronic stage's
layout (per-state envelopes and layer densities, a per-task radial grid) for every task
of the job, so the paper figures and report can be exercised without a study.
"""

import numpy as np

from hpc_nc.io.jobs import load_job
from hpc_nc.physics.geometry import ZNS_LATTICE_CONSTANT as A

N_E, N_H, N_BINS = 4, 8, 40


def synthetic_paper_results(job_path, *, pending_every=0, seed=0):
    job = load_job(job_path)
    tasks = job.tasks
    n = len(tasks)
    col = {
        k: np.array([getattr(t, k) for t in tasks])
        for k in (
            "index",
            "x_cu",
            "x_in",
            "core_radius_a",
            "shell_thickness_a",
            "vbo_ins",
            "vbo_cus",
            "model",
            "realization",
            "seed",
            "n_atoms",
        )
    }
    col["key"] = np.array([t.key for t in tasks])
    rng = np.random.default_rng(seed)
    xc, xi, r, h = col["x_cu"], col["x_in"], col["core_radius_a"], col["shell_thickness_a"]
    vi, vc = col["vbo_ins"], col["vbo_cus"]
    model = col["model"]
    alloyed = (model != "VCA") & ~(np.isin(xc, (0.0, 1.0)) & np.isin(xi, (0.0, 1.0)))
    noise = np.where(alloyed, rng.normal(0.0, 0.02, n), 0.0)
    strain = np.where(model == "STR", 1.0, 0.0)
    size = r + h
    e1 = (
        3.7
        - 1.1 * xc
        - 0.3 * xi
        - 0.35 * strain * xi * (1 - xi)
        + 1.2 / (size + 1.0) ** 2
        + 0.15 * (vi - 1.1) * xi
        + noise
    )
    h1 = (
        -0.2
        + 0.9 * xi * vi / 1.1
        + 0.3 * xc * vc / 0.34
        + 0.5 * strain * np.sqrt(xi * (1 - xi))
        - 0.6 / (r + 1.0) ** 2
        - noise
    )
    ratio = h / r
    dipole = 6.0 * np.exp(-0.7 * ratio * (xi > 0)) * (0.6 + 0.1 * r) + 0.5 * np.abs(noise) * 10
    sep = np.clip(0.08 * ratio * (xi > 0) + 0.3 * (vi - 0.75) * (xi > 0.9) * (h > 0), 0, 0.6)
    w_e = np.clip(0.85 - 0.5 * sep - 0.25 * ratio * (xi > 0), 0.02, 0.98)
    w_h = np.clip(0.9 - 0.1 * ratio, 0.4, 0.98)
    label = np.where(sep >= 0.2, "type-II", np.where(sep >= 0.1, "mixed", "type-I"))
    label = np.where((np.abs(noise) > 0.025) & (label == "mixed"), "quasi-type-II", label)
    total_a = np.where(h > 0, size, r) * A
    grid = (np.arange(N_BINS) + 0.5)[None, :] / N_BINS * total_a[:, None] * 1.05
    r_e = (0.5 + 0.5 * sep[:, None]) * r[:, None] * A
    r_h = 0.5 * r[:, None] * A
    env_e = np.exp(-((grid - r_e) ** 2) / (2 * (0.25 * total_a[:, None]) ** 2))
    env_h = np.exp(-((grid - r_h) ** 2) / (2 * (0.2 * total_a[:, None]) ** 2))
    dr = grid[:, 1:2] - grid[:, 0:1]
    env_e /= env_e.sum(axis=1, keepdims=True) * dr
    env_h /= env_h.sum(axis=1, keepdims=True) * dr
    wiggle = 1.0 + 0.6 * np.sin(2 * np.pi * grid / (A / 2))
    status = np.ones(n, dtype=np.int8)
    if pending_every:
        status[::pending_every] = 0
    res = dict(col)
    res.update(
        status=status,
        message=np.array([""] * n),
        E1=e1,
        H1=h1,
        gap=e1 - h1,
        exciton_energy=e1 - h1 - 0.15,
        electron_energies=e1[:, None] + 0.03 * (np.arange(N_E)[None, :] // 2),
        hole_energies=h1[:, None] - 0.02 * (np.arange(N_H)[None, :] // 2),
        dipole_sq=dipole,
        J_ee=0.25 / r,
        J_hh=0.3 / r,
        J_eh=0.25 / r * (1 - sep),
        core_weight_e=w_e[:, None] * np.ones(N_E),
        core_weight_h=w_h[:, None] * np.ones(N_H),
        core_weight_E1=w_e,
        core_weight_H1=w_h,
        r_max_e=r_e[:, 0],
        r_max_h=r_h[:, 0],
        separation=sep,
        overlap_atomic=0.6 - 0.3 * sep,
        overlap_envelope=0.95 - sep,
        confinement=label,
        radial_grid=grid,
        envelope_e=env_e[:, None, :] * np.ones((N_E, 1)),
        envelope_h=env_h[:, None, :] * np.ones((N_H, 1)),
        radial_density_e=(env_e * wiggle)[:, None, :] * np.ones((N_E, 1)),
        radial_density_h=(env_h * wiggle)[:, None, :] * np.ones((N_H, 1)),
        wall_seconds=2.0 * (col["n_atoms"] / 11543.0) ** 1.1,
        solve_seconds=1.5 * (col["n_atoms"] / 11543.0) ** 1.1,
    )
    res["dXX"] = res["J_ee"] + res["J_hh"] - 2 * res["J_eh"]
    for k in ("E1", "H1", "gap", "exciton_energy", "dipole_sq", "dXX", "envelope_e", "envelope_h"):
        res[k] = np.where((status == 1).reshape((-1,) + (1,) * (res[k].ndim - 1)), res[k], np.nan)
    res["confinement"] = np.where(status == 1, res["confinement"], "")
    return res
