"""Which tickets a shift end drops (``solver.sequence``): without overtime a ticket that
overruns its technician's shift is left to a later shift, so among the orders with the
fewest overruns the sequencing drops the least priority (priority factors); and between
orders equally on time, it keeps the P1 away from the shift end and its due time
(``solver.constants.RISK_SHARE``)."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simulations.plan_eval import drive_plan
from solver import CostWeights, Problem, SolveParams, solve
from solver.constants import PRIORITY_FACTOR, RISK_SHARE
from solver.cost import late_pricing
from solver.sequence import Schedule, sequence_queues
from tests.solver.builders import BOSTON, problem, technicians, tickets

HOUR = 3600.0


def _sequenced_alone(p: Problem) -> Schedule:
    """Every ticket of ``p`` in its one technician's queue, sequenced as a solve does
    (shift overruns dropped, no overtime)."""
    n = p.tickets.count
    rows, tech = np.arange(n, dtype=np.int64), np.zeros(n, np.int64)
    k = p.technicians
    return sequence_queues(
        p, late_pricing(p, CostWeights()), rows, tech,
        k.lat_deg, k.lon_deg, k.free_at_s, allow_overtime=False,
    )  # fmt: skip


def test_a_p1_is_kept_before_two_nearer_p4s_when_the_shift_end_takes_one() -> None:
    """One technician with 2 h of shift left; two P4s at hand (40 min each, due in a week)
    and a P1 1.1 km away (60 min, response due in 4 h, i.e. after the shift): the three do
    not fit, any two do. The P1 is kept and a P4 left for a later shift. Counting overruns
    alone, the nearer order (the P4s first) dropped the P1, which the next shift would
    start after its due time."""
    t = tickets(
        3,
        priority=[4, 4, 1],
        duration_s=[2400.0, 2400.0, HOUR],
        lat_deg=[BOSTON[0], BOSTON[0] + 0.001, BOSTON[0] + 0.01],
        response_due_s=[7 * 24 * HOUR, 7 * 24 * HOUR, 4 * HOUR],
        resolution_due_s=[30 * 24 * HOUR, 30 * 24 * HOUR, 24 * HOUR],
    )
    k = technicians(1, shift_end_s=[2 * HOUR], capacity=[5])
    sol = solve(problem(t, k), SolveParams(seed=0))
    assert sol.technician[2] == 0
    assert (sol.technician[:2] == 0).sum() == 1


@st.composite
def one_queue(draw: st.DrawFn) -> dict[str, list[float] | float]:
    """2-4 tickets of mixed priorities around Boston and a shift end that may cut them."""
    n = draw(st.integers(2, 4))
    coord = st.floats(-0.03, 0.03)
    return {
        "priority": draw(st.lists(st.integers(1, 4), min_size=n, max_size=n)),
        "duration": draw(st.lists(st.floats(600.0, 5400.0), min_size=n, max_size=n)),
        "dlat": draw(st.lists(coord, min_size=n, max_size=n)),
        "dlon": draw(st.lists(coord, min_size=n, max_size=n)),
        "due": draw(st.lists(st.floats(HOUR, 10 * HOUR), min_size=n, max_size=n)),
        "shift_end": draw(st.floats(0.5 * HOUR, 5 * HOUR)),
    }


@settings(max_examples=60, deadline=None)
@given(one_queue())
def test_the_chosen_order_drops_the_fewest_then_the_least_priority(
    q: dict[str, list[float] | float],
) -> None:
    """Of every order of one queue, driven by the plan evaluator
    (``simulations.plan_eval.drive_plan``), none overruns the shift with fewer tickets, or
    as many with a smaller sum of priority factors, than the order the sequencing chose
    (so none at all when some order keeps the shift)."""
    priority = np.asarray(q["priority"], np.int64)
    n = priority.size
    t = tickets(
        n,
        priority=priority,
        duration_s=q["duration"],
        lat_deg=BOSTON[0] + np.asarray(q["dlat"]),
        lon_deg=BOSTON[1] + np.asarray(q["dlon"]),
        response_due_s=q["due"],
    )
    p = problem(t, technicians(1, shift_end_s=[q["shift_end"]], capacity=[n]))
    tech = np.zeros(n, np.int64)
    sch = _sequenced_alone(p)

    def dropped(position: np.ndarray) -> tuple[int, float]:
        over = drive_plan(p, tech, position).finish_s > q["shift_end"]
        return int(over.sum()), float(PRIORITY_FACTOR[priority][over].sum())

    chosen = dropped(sch.position)
    assert chosen == (
        int(sch.overrun.sum()),
        float(PRIORITY_FACTOR[priority][sch.overrun].sum()),
    )
    for order in itertools.permutations(range(n)):
        position = np.empty(n, np.int64)
        position[list(order)] = np.arange(n)
        assert dropped(position) >= chosen


def test_a_p1_on_time_by_minutes_behind_a_nearer_p4_goes_first() -> None:
    """One technician, shift end far: a P4 at hand (60 min) and a P1 1.1 km off (60 min)
    whose response is due a few minutes after the P4's work would end. Both orders are on
    time as estimated; the nearer one (the P4 first) leaves the P1 less slack than
    ``RISK_SHARE`` of the P4's hour, so the P1 goes first. By travel alone it went second,
    and a P4 running 20 minutes over its estimate breached it."""
    travel_s = (
        200.0  # about 1.1 km at 30 km/h, with the road factor: a bound, not exact
    )
    t = tickets(
        2,
        priority=[4, 1],
        duration_s=[HOUR, HOUR],
        lat_deg=[BOSTON[0], BOSTON[0] + 0.01],
        response_due_s=[7 * 24 * HOUR, HOUR + travel_s + 600.0],
        resolution_due_s=[30 * 24 * HOUR, 24 * HOUR],
    )
    p = problem(t, technicians(1, shift_end_s=[8 * HOUR], capacity=[5]))
    tech = np.zeros(2, np.int64)
    sch = _sequenced_alone(p)
    assert sch.position.tolist() == [1, 0]
    # the other order is on time as estimated, by less than RISK_SHARE of the P4's work
    other = drive_plan(p, tech, np.array([0, 1])).start_s[1]
    assert 0 < t.response_due_s[1] - other < RISK_SHARE * HOUR


def test_work_due_days_later_is_sequenced_by_travel_up_to_the_shift_end() -> None:
    """One technician with 2.5 h of shift left: a P3 3 km off and a P4 0.5 km off on the
    same road (60 min each, due in a week). Both orders end before the shift end, and in
    both the second ticket ends within ``RISK_SHARE`` of the work of it. Spilled past the
    shift end, either would wait for a later shift, days before its due time
    (``solver.constants.SPILL_HARMLESS_S``), so neither is at risk and the nearer goes
    first. Before, the shift end put the second at risk and the P3 went first to leave
    the P4 at risk: 2.5 km more driven for no due time."""
    t = tickets(
        2,
        priority=[3, 4],
        duration_s=[HOUR, HOUR],
        lat_deg=[BOSTON[0] + 0.027, BOSTON[0] + 0.0045],
        response_due_s=[7 * 24 * HOUR, 7 * 24 * HOUR],
        resolution_due_s=[30 * 24 * HOUR, 30 * 24 * HOUR],
    )
    p = problem(t, technicians(1, shift_end_s=[2.5 * HOUR], capacity=[5]))
    tech = np.zeros(2, np.int64)
    sch = _sequenced_alone(p)
    assert sch.position.tolist() == [1, 0]
    assert not sch.overrun.any()
    # the far ticket first also keeps the shift, and ends its second stop at risk
    other = drive_plan(p, tech, np.array([0, 1]))
    assert other.finish_s.max() < 2.5 * HOUR < other.finish_s[1] + RISK_SHARE * 2 * HOUR
