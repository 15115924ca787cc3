"""Helpers of the simulator tests: a hand-checkable stub policy and a tiny scenario."""

from __future__ import annotations

from typing import Any

import numpy as np

from solver.model import (
    NO_TECHNICIAN,
    Problem,
    Solution,
    SolveStats,
    SolveStatus,
    UnassignedReason,
)

REPLAY_COLUMNS = {
    "id": "key",
    "created": "opened",
    "resolution_due": "due",
    "category": "kind",
    "skill": "crew",
    "lat": "y",
    "lon": "x",
    "priority": "prio",
}
"""A generic replay CSV's column mapping (role -> column), header
``key,opened,due,kind,crew,y,x,prio``."""


class StubPolicy:
    """Keeps a ticket where it is if still legal, else the first legal technician with room.

    Deterministic and trivially hand-checkable; it exists so the engine's own logic (events,
    conservation, KPIs) is tested independently of the real solver.
    """

    def solve(self, problem: Problem, previous: Solution | None) -> Solution:
        tk, te = problem.tickets, problem.technicians
        n = tk.count
        tech = np.full(n, NO_TECHNICIAN, np.int64)
        load = np.zeros(te.count, np.int64)
        excluded = {(int(a), int(b)) for a, b in tk.excluded}
        order = np.lexsort((tk.created_s, tk.priority))

        def legal(i: int, j: int) -> bool:
            return bool(
                (te.skill_levels[j] >= tk.skill_levels[i]).all()
                and (i, j) not in excluded
                and load[j] < te.capacity[j]
            )

        for i in order.tolist():
            cur = int(tk.current_technician[i])
            cand = [cur] if cur >= 0 and legal(i, cur) else []
            cand += [j for j in range(te.count) if legal(i, j)]
            if cand:
                tech[i] = cand[0]
                load[cand[0]] += 1
        position = np.full(n, -1, np.int64)
        seen: dict[int, int] = {}
        for i in order.tolist():
            if tech[i] >= 0:
                position[i] = seen.get(int(tech[i]), 0)
                seen[int(tech[i])] = position[i] + 1
        nan = np.full(n, np.nan)
        return Solution(
            technician=tech,
            position=position,
            arrival_s=nan,
            start_s=nan,
            finish_s=nan,
            sla_met=np.zeros(n, bool),
            reason=np.where(
                tech >= 0, UnassignedReason.ASSIGNED, UnassignedReason.CAPACITY
            ).astype(np.int64),
            objective=0.0,
            objective_terms={},
            stats=SolveStats(SolveStatus.OPTIMAL, 0.0, 0, n, te.count),
        )


def tiny_scenario_doc(**overrides: Any) -> dict[str, Any]:
    """A small synthetic scenario document; ``overrides`` replace top-level tables."""
    doc: dict[str, Any] = {
        "simulation": {
            "name": "tiny",
            "horizon_s": 4 * 3600.0,
            "seed": 3,
            "debounce_s": 10.0,
        },
        "geography": {
            "center_lat_deg": 42.36,
            "center_lon_deg": -71.06,
            "radius_km": 3.0,
        },
        "arrivals": {
            "rate_per_day": 400.0,
            "categories": {
                "fix": {
                    "skill": "a",
                    "duration_mean_s": 900.0,
                    "priority_mix": [1, 1, 1, 1],
                },
                "hard": {
                    "skill": "b",
                    "skill_level": 2,
                    "duration_mean_s": 1200.0,
                    "priority_mix": [1, 0, 0, 1],
                },
            },
        },
        "technicians": {
            "groups": [
                {
                    "name": "g",
                    "count": 3,
                    "skills": {"a": 1, "b": 2},
                    "shift_start_h": 0.0,
                    "shift_hours": 3.0,
                },
                {
                    "name": "h",
                    "count": 2,
                    "skills": {"a": 2},
                    "shift_start_h": 1.0,
                    "shift_hours": 8.0,
                },
            ]
        },
        "behaviour": {
            "cancel_probability": 0.1,
            "decline_probability": 0.1,
            "cancel_delay_mean_s": 1800.0,
        },
        "solver": {"cadence_s": 60.0, "time_limit_s": 1.0},
    }
    doc.update(overrides)
    return doc
