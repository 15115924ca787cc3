"""Bad inputs raise ValueError with a message naming the field; edge sizes work."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from solver import (
    CostWeights,
    Problem,
    ScalingWarning,
    SolveParams,
    SolveStatus,
    UnassignedReason,
    solve,
)
from tests.solver.builders import problem, technicians, tickets


def _bad_ticket(**kw: Any) -> None:
    t = tickets(2)
    t = replace(t, **{k: np.asarray(v) for k, v in kw.items()})
    Problem(t, technicians(2), 0.0)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("lat_deg", [np.nan, 1.0], "tickets.lat_deg: must be finite"),
        ("lat_deg", [95.0, 1.0], r"tickets.lat_deg: values must lie in"),
        ("lon_deg", [1.0], r"tickets.lon_deg: shape"),
        ("priority", [0, 3], r"tickets.priority: values must lie in \[1, 4\]"),
        ("priority", [1.0, 3.0], "tickets.priority: dtype"),
        ("duration_s", [-1.0, 5.0], "tickets.duration_s"),
        ("response_due_s", [np.nan, 1.0], "tickets.response_due_s: contains NaN"),
        ("window_start_s", [np.inf, 0.0], r"tickets.window_start_s: \+inf"),
        ("skill_levels", [[1, 2], [1, 2]], "tickets.skill_levels: shape"),
        ("current_technician", [5, -1], "tickets.current_technician"),
        ("pinned", [True, False], "pinned ticket needs a current_technician"),
        ("pinned", [1, 0], "tickets.pinned: dtype"),
        ("excluded", [[0, 9]], r"tickets.excluded\[:, 1\]"),
        ("preferred", [[7, 0]], r"tickets.preferred\[:, 0\]"),
        ("lat_deg", [[1.0, 2.0]], "tickets.lat_deg: shape"),
        (
            "lon_deg",
            [200.0, 1.0],
            r"tickets.lon_deg: values must lie in \[-180.0, 180.0\]",
        ),
    ],
)
def test_bad_ticket_field_raises(field: str, value: Any, match: str) -> None:
    """Each malformed ticket field is rejected when the Problem is built."""
    with pytest.raises(ValueError, match=match):
        _bad_ticket(**{field: value})


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("speed_kmh", [0.0, 30.0], "technicians.speed_kmh: must be > 0"),
        ("free_at_s", [np.nan, 0.0], "technicians.free_at_s"),
        ("capacity", [-1, 3], "technicians.capacity"),
        ("available", [1, 1], "technicians.available: dtype"),
        ("shift_end_s", [np.nan, 0.0], "technicians.shift_end_s: contains NaN"),
        ("lon_deg", [-181.0, 0.0], r"technicians.lon_deg: values must lie in"),
    ],
)
def test_bad_technician_field_raises(field: str, value: Any, match: str) -> None:
    """Each malformed technician field is rejected when the Problem is built."""
    k = replace(technicians(2), **{field: np.asarray(value)})
    with pytest.raises(ValueError, match=match):
        Problem(tickets(2), k, 0.0)


def test_other_bad_inputs() -> None:
    """Lists instead of arrays, NaN clock, bad weights and params, wrong call all raise."""
    with pytest.raises(ValueError, match="expected a numpy array"):
        Problem(replace(tickets(1), lat_deg=[42.0]), technicians(1), 0.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="now_s"):
        Problem(tickets(1), technicians(1), float("nan"))
    with pytest.raises(ValueError, match=r"weights\.travel"):
        CostWeights(travel=-1.0)
    with pytest.raises(ValueError, match=r"weights\.lateness"):
        CostWeights(lateness=float("nan"))
    with pytest.raises(ValueError, match="candidates_k"):
        SolveParams(candidates_k=0)
    with pytest.raises(ValueError, match="position_rounds"):
        SolveParams(position_rounds=-1)
    with pytest.raises(ValueError, match="position_rounds: must be an integer"):
        SolveParams(position_rounds=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected \\(Problem, SolveParams\\)"):
        solve("not a problem", SolveParams())  # type: ignore[arg-type]


def test_window_start_after_end_raises() -> None:
    with pytest.raises(ValueError, match=r"tickets\.window_start_s: after"):
        _bad_ticket(window_start_s=[100.0, 0.0], window_end_s=[50.0, 10.0])


@pytest.mark.parametrize("k", [2.5, "8", True, None])
def test_candidates_k_must_be_an_integer(k: Any) -> None:
    with pytest.raises(ValueError, match="candidates_k: must be an integer"):
        SolveParams(candidates_k=k)


def test_weight_that_would_overflow_the_scaled_costs_raises() -> None:
    with pytest.raises(ValueError, match=r"weights\.unassigned: .* overflow"):
        CostWeights(unassigned=1e12)


def test_clipped_cost_gives_overflow_status_not_optimal() -> None:
    """Accepted weights can still make one cost exceed MAX_COST: OVERFLOW, never OPTIMAL."""
    t = tickets(3, priority=[1, 1, 1], response_due_s=[-1e6, -1e6, -1e6])
    p = problem(t, technicians(2))
    with pytest.warns(ScalingWarning):
        sol = solve(p, SolveParams(weights=CostWeights(lateness=1e6)))
    assert sol.stats.status is SolveStatus.OVERFLOW


def test_empty_sides() -> None:
    """No tickets, or no technicians, still solve; every ticket gets a reason."""
    empty = solve(problem(tickets(0), technicians(3)), SolveParams())
    assert empty.technician.shape == (0,)
    assert empty.objective == 0.0
    none = solve(problem(tickets(3), technicians(0)), SolveParams())
    assert np.all(none.reason == UnassignedReason.NO_TECHNICIANS)
    assert none.objective == pytest.approx(3 * 7200.0 * 2)


def test_integer_dtypes_accepted() -> None:
    """Any integer / real width is accepted (int32 priorities, float32 coordinates)."""
    t = replace(
        tickets(2),
        priority=np.array([1, 2], np.int32),
        lat_deg=np.array([42.3, 42.4], np.float32),
    )
    sol = solve(problem(t, technicians(2)), SolveParams())
    assert np.all(sol.technician >= 0)
