"""Seeded synthetic regions (geo-clustered tickets and technicians) for tests and benchmarks."""

from __future__ import annotations

import numpy as np

from solver.model import NO_TECHNICIAN, Problem, Technicians, Tickets


def random_problem(
    n_tickets: int,
    n_technicians: int,
    seed: int = 0,
    *,
    n_skills: int = 4,
    capacity: int = 3,
    clusters: int = 8,
    radius_km: float = 25.0,
    now_s: float = 0.0,
    shift_h: float = 8.0,
    pinned_frac: float = 0.0,
    assigned_frac: float = 0.0,
    excluded_frac: float = 0.02,
    preferred_frac: float = 0.02,
) -> Problem:
    """A random region: tickets and technicians scattered around ``clusters`` centres.

    Parameters
    ----------
    n_tickets, n_technicians
        Sizes (either may be 0).
    seed
        Seed of the one ``numpy.random.Generator`` used; same seed, same problem.
    n_skills, capacity, clusters, radius_km, now_s, shift_h
        Shape of the instance: skill vocabulary, queue capacity per technician, number
        of geographic clusters and their spread, clock and shift length (hours).
    pinned_frac, assigned_frac
        Fractions of tickets already pinned (accepted) / assigned to a technician (the
        pinned ones respect capacity and skills; ``excluded`` pairs avoid them).
    excluded_frac, preferred_frac
        Fraction of tickets with one excluded / preferred technician.

    Returns
    -------
    Problem
        A valid problem around (42.36 N, -71.06 E).
    """
    rng = np.random.default_rng(seed)
    n, m = n_tickets, n_technicians
    centres = np.stack(
        [42.36 + rng.normal(0, 0.15, clusters), -71.06 + rng.normal(0, 0.2, clusters)],
        1,
    )
    deg = radius_km / 111.0

    def around(count: int) -> tuple[np.ndarray, np.ndarray]:
        c = centres[rng.integers(0, clusters, count)]
        return c[:, 0] + rng.normal(0, deg / 2, count), c[:, 1] + rng.normal(
            0, deg / 1.5, count
        )

    tlat, tlon = around(n)
    klat, klon = around(m)
    k_sk = rng.integers(0, 4, (m, n_skills)).astype(np.int64)
    if n_skills:
        k_sk[np.arange(m), rng.integers(0, n_skills, m)] = 3
    t_sk = np.zeros((n, n_skills), np.int64)
    if n_skills:
        t_sk[np.arange(n), rng.integers(0, n_skills, n)] = rng.integers(1, 4, n)
    priority = rng.choice([1, 2, 3, 4], n, p=[0.1, 0.2, 0.4, 0.3]).astype(np.int64)
    created = now_s - rng.uniform(0, 4 * 3600, n)
    resp = created + np.array([0, 2, 4, 8, 24], float)[priority] * 3600
    duration = rng.uniform(15, 120, n) * 60
    cur = np.full(n, NO_TECHNICIAN, np.int64)
    pinned = np.zeros(n, np.bool_)
    if m and n:
        held = rng.random(n) < assigned_frac + pinned_frac
        rows = np.flatnonzero(held)
        picks = rng.integers(0, m, rows.size)
        ok = (k_sk[picks] >= t_sk[rows]).all(axis=1)
        rows, picks = rows[ok], picks[ok]
        load = np.zeros(m, np.int64)
        for r, p in zip(rows.tolist(), picks.tolist(), strict=True):
            if load[p] < capacity:
                load[p] += 1
                cur[r] = p
        pin_p = pinned_frac / max(assigned_frac + pinned_frac, 1e-12)
        pinned = (cur >= 0) & (rng.random(n) < pin_p)
    ex_rows = (
        np.flatnonzero(rng.random(n) < excluded_frac) if m else np.zeros(0, np.int64)
    )
    excluded = np.stack([ex_rows, rng.integers(0, max(m, 1), ex_rows.size)], 1).astype(
        np.int64
    )
    excluded = excluded[cur[excluded[:, 0]] != excluded[:, 1]]
    pr_rows = (
        np.flatnonzero(rng.random(n) < preferred_frac) if m else np.zeros(0, np.int64)
    )
    preferred = np.stack([pr_rows, rng.integers(0, max(m, 1), pr_rows.size)], 1).astype(
        np.int64
    )
    tickets = Tickets(
        lat_deg=tlat, lon_deg=tlon, priority=priority, skill_levels=t_sk, duration_s=duration,
        created_s=created, response_due_s=resp, resolution_due_s=resp + 4 * 3600,
        window_start_s=np.full(n, -np.inf), window_end_s=np.full(n, np.inf),
        tier=rng.integers(0, 3, n).astype(np.int64), current_technician=cur, pinned=pinned,
        excluded=excluded.reshape(-1, 2), preferred=preferred.reshape(-1, 2),
    )  # fmt: skip
    techs = Technicians(
        lat_deg=klat, lon_deg=klon, skill_levels=k_sk, capacity=np.full(m, capacity, np.int64),
        free_at_s=now_s + rng.uniform(-1, 1, m).clip(0) * 1800,
        shift_end_s=now_s + rng.uniform(0.3, 1.0, m) * shift_h * 3600,
        speed_kmh=rng.uniform(25, 45, m), available=rng.random(m) < 0.95,
    )  # fmt: skip
    return Problem(tickets, techs, float(now_s))
