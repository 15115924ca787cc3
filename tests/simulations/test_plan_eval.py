"""The one plan evaluator (simulations.plan_eval) against a two-technician case worked by hand.

Along the equator the great-circle distance of ``x`` degrees of longitude is
``R x radians(x)``, so every expected time below is written from that formula, the road
factor and the speeds, not from the code under test.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulations.plan_eval import drive_plan, plan_kpis
from solver.constants import EARTH_RADIUS_KM, ROAD_FACTOR
from solver.model import Problem, Technicians, Tickets
from solver.synthetic import random_problem

NOW = 1_000.0
INF = math.inf


def road_s(degrees: float, speed_kmh: float) -> float:
    """Travel time along the equator over ``degrees`` of longitude."""
    return EARTH_RADIUS_KM * math.radians(degrees) * ROAD_FACTOR / speed_kmh * 3_600.0


# Rows: 0 = b, 1 = a, 2 = d, 3 = c, 4 = e (row order is not queue order).
# Technician 0 (60 km/h, at lon 0, idle): a (lon 0.1, 30 min), then b (lon 0.3, 10 min,
# window opens late). Technician 1 (30 km/h, at lon 1.0, busy until 1,600 s, shift ends
# at 4,600 s): c (no location, 15 min), then d (lon 1.1, 15 min, past the shift end).
# Ticket e is unassigned.
T_A = road_s(0.1, 60.0)
T_B = road_s(0.2, 60.0)
T_D = road_s(0.1, 30.0)
A_FINISH = NOW + T_A + 1_800.0
B_WINDOW = A_FINISH + T_B + 500.0  # b waits 500 s for its window
C_START = 1_600.0
D_ARRIVAL = C_START + 900.0 + T_D  # c had no location: d is reached from lon 1.0


def hand_case() -> tuple[Problem, np.ndarray, np.ndarray]:
    lon = np.array([0.3, 0.1, 1.1, np.nan, 0.5])
    lat = np.where(np.isnan(lon), np.nan, 0.0)
    tickets = Tickets(
        lat_deg=lat,
        lon_deg=lon,
        priority=np.array([2, 1, 3, 1, 4]),
        skill_levels=np.zeros((5, 1), np.int64),
        duration_s=np.array([600.0, 1_800.0, 900.0, 900.0, 600.0]),
        created_s=np.zeros(5),
        # c's response is due 100 s before its technician is free; e's (unassigned)
        # before the last shift end (NOW + 3 h)
        response_due_s=np.array([INF, INF, INF, 1_500.0, NOW + 2 * 3_600.0]),
        # a's resolution is due 100 s before it finishes
        resolution_due_s=np.array([INF, A_FINISH - 100.0, INF, INF, INF]),
        window_start_s=np.array([B_WINDOW, -INF, -INF, -INF, -INF]),
        window_end_s=np.full(5, INF),
        tier=np.zeros(5, np.int64),
        current_technician=np.full(5, -1, np.int64),
        pinned=np.zeros(5, np.bool_),
    )
    crew = Technicians(
        lat_deg=np.array([0.0, 0.0]),
        lon_deg=np.array([0.0, 1.0]),
        skill_levels=np.ones((2, 1), np.int64),
        capacity=np.array([3, 3]),
        free_at_s=np.array([0.0, 1_600.0]),
        shift_end_s=np.array([NOW + 3 * 3_600.0, 4_600.0]),
        speed_kmh=np.array([60.0, 30.0]),
        available=np.array([True, True]),
    )
    technician = np.array([0, 0, 1, 1, -1])
    position = np.array([1, 0, 1, 0, -1])
    return Problem(tickets, crew, NOW), technician, position


def test_each_queue_is_driven_in_order_from_where_and_when_its_technician_is_free() -> (
    None
):
    problem, technician, position = hand_case()
    plan = drive_plan(problem, technician, position)
    a_arrival = NOW + T_A
    b_arrival = A_FINISH + T_B
    expected_arrival = [b_arrival, a_arrival, D_ARRIVAL, C_START, np.nan]
    expected_start = [B_WINDOW, a_arrival, D_ARRIVAL, C_START, np.nan]
    expected_finish = [
        B_WINDOW + 600.0,
        A_FINISH,
        D_ARRIVAL + 900.0,
        C_START + 900.0,
        np.nan,
    ]
    np.testing.assert_allclose(plan.arrival_s, expected_arrival, rtol=1e-12)
    np.testing.assert_allclose(plan.start_s, expected_start, rtol=1e-12)
    np.testing.assert_allclose(plan.finish_s, expected_finish, rtol=1e-12)
    np.testing.assert_allclose(plan.travel_s, [T_B, T_A, T_D, 0.0, np.nan], rtol=1e-12)
    assert plan.overrun.tolist() == [False, False, True, False, False]


def test_the_plan_kpis_count_breaches_lateness_travel_and_overruns() -> None:
    problem, technician, position = hand_case()
    k = plan_kpis(problem, technician, position)
    assert (k.tickets, k.assigned, k.unassigned) == (5, 4, 1)
    assert k.breaches == 2  # a (resolution) and c (response), 100 s late each
    assert k.late_s == pytest.approx(200.0)
    assert k.travel_s == pytest.approx(T_A + T_B + T_D)
    assert k.travel_per_ticket_s == pytest.approx((T_A + T_B + T_D) / 4)
    assert k.overruns == 1  # d finishes after technician 1's shift end
    assert k.unassigned_due == 1  # e: due before technician 0's shift ends
    assert k.missed == 3
    assert (k.unassigned_any_due, k.all_breaches) == (1, 3)
    assert k.weighted_all_breaches == 8 + 8 + 1  # a and c are P1s, e a P4


def test_an_unassigned_ticket_due_after_every_shift_is_not_missed() -> None:
    problem, technician, position = hand_case()
    t = problem.tickets
    later = t.response_due_s.copy()
    later[4] = NOW + 3 * 3_600.0 + 1.0
    problem = Problem(replace(t, response_due_s=later), problem.technicians, NOW)
    k = plan_kpis(problem, technician, position)
    assert (k.unassigned_due, k.missed) == (0, 2)
    assert (k.unassigned_any_due, k.all_breaches) == (0, 2)


def test_an_unassigned_ticket_with_only_a_resolution_due_counts_in_all_breaches() -> (
    None
):
    # e (unassigned) has no response due but its resolution is due 2 h from now, before
    # technician 0's shift ends: ``missed`` (response due only) leaves it out,
    # ``all_breaches`` counts it, as it would count e served late
    problem, technician, position = hand_case()
    t = problem.tickets
    response, resolution = t.response_due_s.copy(), t.resolution_due_s.copy()
    response[4], resolution[4] = INF, NOW + 2 * 3_600.0
    problem = Problem(
        replace(t, response_due_s=response, resolution_due_s=resolution),
        problem.technicians,
        NOW,
    )
    k = plan_kpis(problem, technician, position)
    assert (k.unassigned_due, k.missed) == (0, 2)
    assert (k.unassigned_any_due, k.all_breaches) == (1, 3)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(5, 40),
    m=st.integers(1, 5),
    seed=st.integers(0, 10_000),
    no_response_due=st.floats(0.0, 1.0),
)
def test_leaving_out_a_late_last_ticket_lowers_breaches_but_never_all_breaches(
    n: int, m: int, seed: int, no_response_due: float
) -> None:
    # Any plan (tickets spread at random over the available technicians, random order,
    # some left out; some tickets with no response due): dropping the last ticket of a queue that
    # is served late within its shift lowers ``breaches`` by one and leaves
    # ``all_breaches`` as it was.
    problem = random_problem(n, m, seed=seed)
    rng = np.random.default_rng(seed)
    t = problem.tickets
    response = np.where(rng.random(n) < no_response_due, INF, t.response_due_s)
    problem = Problem(
        replace(t, response_due_s=response), problem.technicians, problem.now_s
    )
    # only available technicians take work (as in every policy's plan): the snapshot's
    # horizon is their last shift end
    able = np.flatnonzero(problem.technicians.available)
    technician = np.where(rng.random(n) < 0.2, -1, rng.choice(np.append(able, -1), n))
    position = rng.permutation(n).astype(np.int64)
    before = plan_kpis(problem, technician, position)
    plan = drive_plan(problem, technician, position)
    late = np.maximum(
        plan.start_s - problem.tickets.response_due_s,
        plan.finish_s - problem.tickets.resolution_due_s,
    )
    for j in range(m):
        queue = np.flatnonzero(technician == j)
        if queue.size == 0:
            continue
        last = int(queue[np.argmax(position[queue])])
        if not (late[last] > 0 and not plan.overrun[last]):
            continue
        dropped = technician.copy()
        dropped[last] = -1
        after = plan_kpis(problem, dropped, position)
        assert after.breaches == before.breaches - 1
        assert after.all_breaches == before.all_breaches
        assert after.weighted_all_breaches == before.weighted_all_breaches


def test_a_plan_of_the_wrong_shape_is_a_clear_error() -> None:
    problem, technician, position = hand_case()
    with pytest.raises(ValueError, match="technician/position"):
        drive_plan(problem, technician[:3], position)
    with pytest.raises(ValueError, match="out of range"):
        drive_plan(problem, np.array([0, 0, 1, 2, -1]), position)
