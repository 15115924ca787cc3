"""Hand-sized problems for solver tests: every field has a default, override what matters."""

from __future__ import annotations

from typing import Any

import numpy as np

from solver import NO_TECHNICIAN, Problem, Technicians, Tickets

BOSTON = (42.36, -71.06)


def tickets(n: int, **kw: Any) -> Tickets:
    """``n`` tickets at Boston, P3, 30 min of work, no skills required, no deadlines."""
    n_skills = np.asarray(kw.get("skill_levels", np.zeros((n, 1)))).shape[1]
    base: dict[str, Any] = {
        "lat_deg": np.full(n, BOSTON[0]),
        "lon_deg": np.full(n, BOSTON[1]),
        "priority": np.full(n, 3, np.int64),
        "skill_levels": np.zeros((n, n_skills), np.int64),
        "duration_s": np.full(n, 1800.0),
        "created_s": np.zeros(n),
        "response_due_s": np.full(n, np.inf),
        "resolution_due_s": np.full(n, np.inf),
        "window_start_s": np.full(n, -np.inf),
        "window_end_s": np.full(n, np.inf),
        "tier": np.zeros(n, np.int64),
        "current_technician": np.full(n, NO_TECHNICIAN, np.int64),
        "pinned": np.zeros(n, np.bool_),
    }
    for key, value in kw.items():
        base[key] = np.asarray(
            value, dtype=base[key].dtype if key in base else np.int64
        )
    return Tickets(**base)


def technicians(m: int, n_skills: int = 1, **kw: Any) -> Technicians:
    """``m`` technicians at Boston, skill level 3 in everything, capacity 3, 8 h shift, 30 km/h."""
    base: dict[str, Any] = {
        "lat_deg": np.full(m, BOSTON[0]),
        "lon_deg": np.full(m, BOSTON[1]),
        "skill_levels": np.full((m, n_skills), 3, np.int64),
        "capacity": np.full(m, 3, np.int64),
        "free_at_s": np.zeros(m),
        "shift_end_s": np.full(m, 8 * 3600.0),
        "speed_kmh": np.full(m, 30.0),
        "available": np.ones(m, np.bool_),
    }
    for key, value in kw.items():
        base[key] = np.asarray(value, dtype=base[key].dtype)
    return Technicians(**base)


def problem(t: Tickets, k: Technicians, now_s: float = 0.0) -> Problem:
    """Bundle into a validated Problem."""
    return Problem(t, k, now_s)
