"""solver.build, the one problem builder: its rules on hand-computed states (the live loop's
and the simulator's paths through it: tests/simulations/test_one_builder.py)."""

from __future__ import annotations

import numpy as np
import pytest

from solver.build import (
    ACCEPTED,
    ASSIGNED,
    IN_PROGRESS,
    NOT_OPEN,
    QUEUED,
    TechnicianState,
    TicketState,
    build_problem,
)
from solver.model import NO_TECHNICIAN

NOW = 10_000.0
NAN = float("nan")


def _tickets(
    status: list[int],
    technician: list[int],
    *,
    started: list[float] | None = None,
    lat: list[float] | None = None,
    held_back: list[bool] | None = None,
    excluded: list[tuple[int, int]] = (),  # type: ignore[assignment]
    preferred: list[tuple[int, int]] = (),  # type: ignore[assignment]
) -> TicketState:
    n = len(status)
    lat_deg = np.array(lat if lat is not None else [42.0 + i / 100 for i in range(n)])
    return TicketState(
        status=np.array(status, np.int64),
        technician=np.array(technician, np.int64),
        held_back=np.array(held_back or [False] * n, np.bool_),
        started_s=np.array(started or [NAN] * n),
        lat_deg=lat_deg,
        lon_deg=np.where(np.isnan(lat_deg), NAN, -71.0),
        priority=np.full(n, 2, np.int64),
        skill_levels=np.zeros((n, 1), np.int64),
        duration_s=np.full(n, 600.0),
        created_s=np.full(n, NOW - 60),
        response_due_s=np.full(n, np.inf),
        resolution_due_s=np.full(n, np.inf),
        window_start_s=np.full(n, -np.inf),
        window_end_s=np.full(n, np.inf),
        tier=np.zeros(n, np.int64),
        excluded=np.array(excluded, np.int64).reshape(-1, 2),
        preferred=np.array(preferred, np.int64).reshape(-1, 2),
    )


def _techs(capacity: list[int], concurrency: list[int]) -> TechnicianState:
    m = len(capacity)
    return TechnicianState(
        lat_deg=np.full(m, 41.0),
        lon_deg=np.full(m, -70.0),
        skill_levels=np.ones((m, 1), np.int64),
        capacity=np.array(capacity, np.int64),
        concurrency=np.array(concurrency, np.int64),
        shift_end_s=np.full(m, np.inf),
        speed_kmh=np.full(m, 40.0),
        available=np.ones(m, np.bool_),
    )


def test_two_jobs_on_one_lane_add_up() -> None:
    """Two tickets in progress on a technician with one lane: it is free when the later
    ends, at the last one with a location, and both use a place (never below 0)."""
    tickets = _tickets(
        [IN_PROGRESS, IN_PROGRESS, IN_PROGRESS, IN_PROGRESS],
        [0, 0, 0, 1],
        started=[NOW - 100, NOW + 50, NOW - 200, NAN],
        lat=[42.5, 42.7, NAN, 43.0],
    )
    parts = build_problem(tickets, _techs([2, 1], [1, 1]), NOW)
    te = parts.technicians
    assert te.free_at_s.tolist() == [NOW + 650, NOW + 600]  # NaN start: now
    assert te.lat_deg.tolist() == [42.7, 43.0]  # the last job with a location
    assert te.capacity.tolist() == [0, 0]
    assert parts.tickets.count == 0


def test_lanes_take_work_free_first_and_share_held_tickets() -> None:
    """Concurrency 2: a job already overdue leaves its lane free now, so the next job takes
    that lane too; held tickets alternate over the lanes in row order; an exclusion or
    preference names every lane."""
    tickets = _tickets(
        [IN_PROGRESS, IN_PROGRESS, ASSIGNED, ACCEPTED, ASSIGNED, QUEUED],
        [0, 0, 0, 0, 0, NO_TECHNICIAN],
        started=[NOW - 5_000, NOW - 10, NAN, NAN, NAN, NAN],
        excluded=[(5, 0)],
        preferred=[(2, 1)],
    )
    parts = build_problem(tickets, _techs([5, 2], [2, 1]), NOW)
    te, tk = parts.technicians, parts.tickets
    assert parts.technician_index.tolist() == [0, 0, 1]
    assert te.free_at_s.tolist() == [NOW + 590, NOW, NOW]
    assert te.capacity.tolist() == [1, 2, 2]  # lane places 3, 2 (5 over 2 lanes), 2
    assert parts.ticket_index.tolist() == [2, 3, 4, 5]
    assert tk.current_technician.tolist() == [0, 1, 0, NO_TECHNICIAN]
    assert tk.pinned.tolist() == [False, True, False, False]
    assert tk.excluded.tolist() == [[3, 0], [3, 1]]
    assert tk.preferred.tolist() == [[0, 2]]


def test_rows_leave_out_held_back_gone_and_closed() -> None:
    """Held-back duplicates, an ACCEPTED ticket whose technician is not in the state and any
    other status are no rows; their exclusions go with them."""
    tickets = _tickets(
        [QUEUED, ACCEPTED, NOT_OPEN, ASSIGNED, ACCEPTED],
        [NO_TECHNICIAN, NO_TECHNICIAN, 0, 0, 0],
        held_back=[True, False, False, False, False],
        excluded=[(0, 0), (1, 0), (3, 0)],
    )
    parts = build_problem(tickets, _techs([2], [1]), NOW)
    assert parts.ticket_index.tolist() == [3, 4]
    assert parts.tickets.pinned.tolist() == [False, True]
    assert parts.tickets.excluded.tolist() == [[0, 0]]
    assert parts.technicians.capacity.tolist() == [2]  # held tickets are the solver's
    parts.build()  # a valid Problem


@pytest.mark.parametrize(
    ("capacity", "concurrency", "field"),
    [([2], [0], "concurrency"), ([2], [21], "concurrency"), ([-1], [1], "capacity")],
)
def test_bad_technician_names_the_field(
    capacity: list[int], concurrency: list[int], field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        build_problem(_tickets([], []), _techs(capacity, concurrency), NOW)
