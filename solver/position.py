"""Position-aware pricing: a pair priced at the place it would take in a sequenced queue.

The exact core (:mod:`solver.core`) prices every (ticket, technician) pair as if the
ticket came first in that technician's queue, right after the pinned work. A queue holds
several places, so its 2nd and 3rd places are chosen blind: a ticket that is on time in
first place may breach in third while another technician had room for it in time.

After the certified flow, :func:`solver.core.position_rounds` re-prices every live
candidate arc from the plan's sequenced queues (:func:`place_costs`) and solves the flow
again, a few rounds, keeping the plan whose *sequenced* cost (:func:`sequenced_cost`) is
lowest. A pair's re-priced cost is its first-in-queue cost with the time terms (lateness,
breach, waiting) taken at the start it would really get:

- a ticket already in that queue: its sequenced start and finish;
- any other ticket: appended after the technician's first ``min(count, free - 1)``
  sequenced tickets (its place when it joins a queue with room; when the queue is full, the
  last place, whose holder it would displace), travelling from the last of them.

Travel stays the first-in-queue travel (from the technician's location), the flow's one
travel model; the sequenced cost charges the chained travel the queues really drive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from solver.constants import COST_SCALE
from solver.cost import PAIR_TERMS, late_seconds, terms_at
from solver.geo import next_location, pair_travel_time_s, travel_time_s
from solver.local import places
from solver.sequence import Schedule, sequence_queues

if TYPE_CHECKING:
    from solver.cost import LatePricing, TechState
    from solver.model import CostWeights, Problem

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def plan_queues(
    problem: Problem, late: LatePricing, state: TechState, tech_of: IntArray
) -> tuple[IntArray, Schedule]:
    """The assigned movable rows of ``tech_of`` and their sequenced queues (no shift check)."""
    rows = np.flatnonzero(tech_of >= 0)
    sch = sequence_queues(
        problem, late, rows, tech_of[rows],
        state.lat_deg, state.lon_deg, state.ready_s, True,
    )  # fmt: skip
    return rows, sch


def later_than_first(
    problem: Problem,
    state: TechState,
    tech_of: IntArray,
    queues: tuple[IntArray, Schedule],
) -> bool:
    """Some ticket of the plan is predicted later (more late seconds) where its sequenced
    queue puts it than first-in-queue pricing predicted: only then can re-pricing by
    place change a breach, so the position rounds run only then."""
    rows, sch = queues
    if rows.size == 0:
        return False
    t, k = problem.tickets, problem.technicians
    tech = tech_of[rows]
    travel = travel_time_s(
        state.lat_deg[tech], state.lon_deg[tech], t.lat_deg[rows], t.lon_deg[rows],
        k.speed_kmh[tech],
    )  # fmt: skip
    start = np.maximum(state.ready_s[tech] + travel, t.window_start_s[rows])
    first = late_seconds(problem, rows, start, start + t.duration_s[rows])
    placed = late_seconds(problem, rows, sch.start_s, sch.finish_s)
    return bool(np.any(placed > first))


def queue_costs(
    problem: Problem,
    weights: CostWeights,
    state: TechState,
    balance_scaled: float,
    tech_of: IntArray,
    queues: tuple[IntArray, Schedule],
) -> FloatArray:
    """Per technician, what its sequenced queue costs as it really runs (weight units):
    each ticket's terms at its sequenced travel (chained from the previous stop), start
    and finish, plus the balance of the places it takes. The one evaluation of a plan as
    driven (:func:`sequenced_cost`, :mod:`solver.polish`)."""
    rows, sch = queues
    m = problem.technicians.count
    tech = tech_of[rows]
    terms = terms_at(
        problem, weights, rows, tech, sch.travel_s, sch.start_s, sch.finish_s
    )
    pair = np.sum([terms[name] for name in PAIR_TERMS], axis=0) if rows.size else 0.0
    slot_tech, slot_cost = places(
        np.bincount(tech, minlength=m), state.load, balance_scaled
    )
    return np.asarray(
        np.bincount(tech, pair, m) + np.bincount(slot_tech, slot_cost, m) / COST_SCALE
    )


def sequenced_cost(
    problem: Problem,
    weights: CostWeights,
    state: TechState,
    penalty: IntArray,
    balance_scaled: float,
    tech_of: IntArray,
    queues: tuple[IntArray, Schedule],
) -> float:
    """Scaled cost of a plan as its sequenced queues really run (:func:`queue_costs`)
    plus the unassigned penalties (``penalty``: scaled, per ticket row)."""
    per_tech = queue_costs(problem, weights, state, balance_scaled, tech_of, queues)
    return float(per_tech.sum()) * COST_SCALE + float(penalty[tech_of < 0].sum())


def place_costs(
    problem: Problem,
    weights: CostWeights,
    state: TechState,
    free: IntArray,
    tix: IntArray,
    tech: IntArray,
    tech_of: IntArray,
    queues: tuple[IntArray, Schedule],
) -> FloatArray:
    """Cost (weight units, sum of ``PAIR_TERMS``) of pairs ``(tix, tech)`` at the place
    each ticket would take in the plan ``tech_of``'s sequenced ``queues`` (module doc);
    ``free``: places per technician for movable tickets."""
    t, k = problem.tickets, problem.technicians
    rows, sch = queues
    count = np.bincount(tech_of[rows], minlength=k.count)
    place = np.maximum(np.minimum(count, free - 1), 0)
    ready = state.ready_s.copy()
    lat, lon = state.lat_deg.copy(), state.lon_deg.copy()
    before = sch.position < place[tech_of[rows]]  # sequenced ahead of the place
    for s in range(int(place.max(initial=0))):
        r = rows[before & (sch.position == s)]
        who = tech_of[r]
        lat[who], lon[who] = next_location(
            lat[who], lon[who], t.lat_deg[r], t.lon_deg[r]
        )
        ready[who] = sch.finish_s[before & (sch.position == s)]
    to = (t.lat_deg, t.lon_deg)
    speed = k.speed_kmh[tech]
    first = pair_travel_time_s((state.lat_deg, state.lon_deg), tech, to, tix, speed)
    leg = pair_travel_time_s((lat, lon), tech, to, tix, speed)
    start = np.maximum(ready[tech] + leg, t.window_start_s[tix])
    finish = start + t.duration_s[tix]
    held = np.flatnonzero(tech_of[tix] == tech)  # already in this queue: as sequenced
    at = np.searchsorted(rows, tix[held])
    start[held], finish[held] = sch.start_s[at], sch.finish_s[at]
    terms = terms_at(problem, weights, tix, tech, first, start, finish)
    return np.asarray(np.sum([terms[name] for name in PAIR_TERMS], axis=0), np.float64)
