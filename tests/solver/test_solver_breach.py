"""The per-breach term (issue 13 item 6): a step per predicted SLA breach, by priority, for
tickets that can still be saved; priced the same in the pair cost, the unassigned arc and
the queue sequencing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver import CostWeights, SolveParams, solve, travel_time_s
from solver.constants import DEFER_S, PRIORITY_FACTOR
from solver.cost import PAIR_TERMS, drop_penalty, terms_at
from tests.solver.builders import BOSTON, problem, technicians, tickets

offsets = st.floats(min_value=-7200.0, max_value=7200.0, allow_nan=False)
maybe_due = st.one_of(st.just(np.inf), offsets)


@st.composite
def one_pair(draw: st.DrawFn) -> dict[str, float]:
    """One ticket's due times and window around ``now`` and one predicted start."""
    now = draw(st.floats(0.0, 1e6))
    window_start = now + draw(st.one_of(st.just(-np.inf), offsets))
    opens = window_start if np.isfinite(window_start) else now
    length = st.one_of(st.just(np.inf), st.floats(0.0, 7200.0))
    return {
        "now": now,
        "priority": draw(st.integers(1, 4)),
        "duration": draw(st.floats(0.0, 3600.0)),
        "response_due": now + draw(maybe_due),
        "resolution_due": now + draw(maybe_due),
        "window_start": window_start,
        "window_end": opens + draw(length),
        "delay": draw(st.floats(0.0, 7200.0)),
        "breach": draw(st.floats(0.0, 1e4)),
    }


def _late(c: dict[str, float], start: float) -> bool:
    """Late when started at ``start``: the response after its due time, or the finish after
    the resolution due time or the window end (each by hand, one ticket)."""
    finish = start + c["duration"]
    return (
        start > c["response_due"]
        or finish > c["resolution_due"]
        or finish > c["window_end"]
    )


@settings(max_examples=300, deadline=None)
@given(one_pair())
def test_breach_term_is_the_weight_only_for_a_late_ticket_that_could_be_saved(
    c: dict[str, float],
) -> None:
    """0 for a ticket already breached (late even if started now or at its window start),
    0 for an on-time placement, ``breach x priority factor`` otherwise."""
    t = tickets(
        1,
        priority=[c["priority"]],
        duration_s=[c["duration"]],
        response_due_s=[c["response_due"]],
        resolution_due_s=[c["resolution_due"]],
        window_start_s=[c["window_start"]],
        window_end_s=[c["window_end"]],
    )
    p = problem(t, technicians(1), now_s=c["now"])
    w = CostWeights(breach=c["breach"])
    start = max(c["now"], c["window_start"]) + c["delay"]
    row = np.array([0])
    terms = terms_at(
        p, w, row, row, np.zeros(1), np.array([start]),
        np.array([start + c["duration"]]),
    )  # fmt: skip
    already = _late(c, max(c["now"], c["window_start"]))
    late = _late(c, start)
    expected = (
        0.0 if already or not late else c["breach"] * PRIORITY_FACTOR[c["priority"]]
    )
    assert terms["breach"][0] == pytest.approx(expected)
    assert "breach" in PAIR_TERMS


def test_unassigned_arc_pays_the_breach_of_deferring_only_when_it_could_be_saved() -> (
    None
):
    """The drop penalty's deferred part: a ticket due in 30 min (P2) breaches if deferred
    DEFER_S, so leaving it costs the P2 breach weight more; one due in 2 DEFER_S does
    not breach deferred; one already overdue cannot be saved: no breach either way."""
    due = [1800.0, 2 * DEFER_S + 1800.0, -60.0]
    t = tickets(3, priority=[2, 2, 2], duration_s=[600.0] * 3, response_due_s=due)
    p = problem(t, technicians(1))
    extra = drop_penalty(p, CostWeights(breach=1000.0)) - drop_penalty(
        p, CostWeights(breach=0.0)
    )
    np.testing.assert_allclose(extra, [1000.0 * PRIORITY_FACTOR[2], 0.0, 0.0])


def _east(km: float) -> float:
    """Longitude ``km`` east of Boston."""
    return BOSTON[1] + km / (111.195 * np.cos(np.radians(BOSTON[0])))


def test_breach_penalty_saves_a_ticket_lateness_seconds_let_breach() -> None:
    """Two P3 tickets X (0.3 km east) and Y (0.5 km west), technicians A (at 0) and B (4 km
    east), one place each, both due when A could reach either. Late seconds alone (every
    ticket weighed alike: ``overdue = 1``) favour A->Y, B->X (both a little late, less
    travel, fewer late seconds in all); the breach step makes A->X, B->Y cheaper: X is
    saved, one breach instead of two. Y, which no technician can reach in time, can no
    longer be saved: its breach is never charged. With the default weights Y also yields
    (``overdue``): X is saved without the breach step."""
    tix_lon = [_east(0.3), _east(-0.5)]
    tech_lon = [_east(0.0), _east(4.0)]
    speed = 30.0
    a_x, a_y = (float(travel_time_s(BOSTON[0], tech_lon[0], BOSTON[0], x, speed))
                for x in tix_lon)  # fmt: skip
    due = (a_x + a_y) / 2  # A reaches X in time, Y not; B reaches neither
    t = tickets(
        2, lon_deg=tix_lon, duration_s=[600.0, 600.0], response_due_s=[due, due]
    )
    k = technicians(2, lon_deg=tech_lon, capacity=[1, 1], speed_kmh=[speed, speed])
    p = problem(t, k)

    seconds_only = solve(p, SolveParams(weights=CostWeights(breach=0.0, overdue=1.0)))
    assert seconds_only.technician.tolist() == [1, 0]
    assert int(seconds_only.sla_met.sum()) == 0

    with_breach = solve(p, SolveParams(weights=CostWeights(breach=3600.0, overdue=1.0)))
    assert with_breach.technician.tolist() == [0, 1]
    assert with_breach.sla_met.tolist() == [True, False]
    assert with_breach.objective_terms["breach"] == 0.0
    assert solve(p, SolveParams()).technician.tolist() == [0, 1]


def test_sequencing_counts_breaches_not_only_late_seconds() -> None:
    """One technician, three P3 tickets on its spot (no travel): J1 100 s of work due at
    100, J2 and J3 20 s each due at 115. Earliest-due-date order is least late seconds
    (30) but breaches J2 and J3; J2, J3, J1 is 40 s late with one breach."""
    t = tickets(
        3,
        duration_s=[100.0, 20.0, 20.0],
        resolution_due_s=[100.0, 115.0, 115.0],
    )
    p = problem(t, technicians(1))

    seconds_only = solve(p, SolveParams(weights=CostWeights(breach=0.0, overdue=1.0)))
    assert seconds_only.position.tolist() == [0, 1, 2]
    assert int(seconds_only.sla_met.sum()) == 1

    with_breach = solve(p, SolveParams(weights=CostWeights(breach=3600.0)))
    assert with_breach.position[0] == 2
    assert int(with_breach.sla_met.sum()) == 2
