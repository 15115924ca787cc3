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
from solver.cost import (
    below_min_gain,
    evaluate_pairs,
    first_in_queue_times,
    late_pricing,
    late_seconds,
    pair_total,
    terms_at,
)
from solver.geo import next_location, pair_travel_time_s, travel_time_s
from solver.local import places
from solver.model import NO_TECHNICIAN
from solver.ordering import distinct_inverse
from solver.sequence import Schedule, sequence_queues

if TYPE_CHECKING:
    from solver.cost import LatePricing, TechState
    from solver.model import CostWeights, Problem

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def movable_plan(problem: Problem, technician: IntArray) -> IntArray:
    """A solution's plan as the position model reads it: each row's technician, with
    NO_TECHNICIAN for pinned rows (their work is their queue's occupancy, not a place)."""
    return np.where(problem.tickets.pinned, NO_TECHNICIAN, technician).astype(np.int64)


def plan_queues(
    problem: Problem,
    late: LatePricing,
    state: TechState,
    tech_of: IntArray,
    allow_overtime: bool = True,
) -> tuple[IntArray, Schedule]:
    """The assigned movable rows of ``tech_of`` and their sequenced queues (no shift
    check by default; ``allow_overtime`` False: ordered as :func:`solver.finalize` orders
    them without overtime, overruns reported)."""
    rows = np.flatnonzero(tech_of >= 0)
    sch = sequence_queues(
        problem, late, rows, tech_of[rows],
        state.lat_deg, state.lon_deg, state.ready_s, allow_overtime,
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
    start, finish = first_in_queue_times(
        state.ready_s[tech], travel, t.window_start_s[rows], t.duration_s[rows]
    )
    first = late_seconds(problem, rows, start, finish)
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
    pair = pair_total(terms)
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
    return _cost_and_finish(problem, weights, state, free, tix, tech, tech_of, queues)[
        0
    ]


def _cost_and_finish(
    problem: Problem,
    weights: CostWeights,
    state: TechState,
    free: IntArray,
    tix: IntArray,
    tech: IntArray,
    tech_of: IntArray,
    queues: tuple[IntArray, Schedule],
) -> tuple[FloatArray, FloatArray]:
    """:func:`place_costs` of the pairs, and the finish of their work at that place."""
    first, start, finish = place_times(problem, state, free, tix, tech, tech_of, queues)
    terms = terms_at(problem, weights, tix, tech, first, start, finish)
    cost = pair_total(terms)
    return cost, finish


def _places(
    problem: Problem,
    free: IntArray,
    tech_of: IntArray,
    queues: tuple[IntArray, Schedule],
) -> IntArray:
    """Per technician, the place a ticket joining its queue takes (module doc):
    ``min(count, free - 1)``, 0 at least."""
    rows, _ = queues
    count = np.bincount(tech_of[rows], minlength=problem.technicians.count)
    return np.maximum(np.minimum(count, free - 1), 0)


def place_starts(
    problem: Problem,
    state: TechState,
    free: IntArray,
    tech_of: IntArray,
    queues: tuple[IntArray, Schedule],
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per technician, when and where a ticket joining its queue at the place it takes
    (module doc) starts its way there: the finish and location of the sequenced ticket
    before that place (the technician's ``state`` at place 0)."""
    t = problem.tickets
    rows, sch = queues
    place = _places(problem, free, tech_of, queues)
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
    return ready, lat, lon


def place_times(
    problem: Problem,
    state: TechState,
    free: IntArray,
    tix: IntArray,
    tech: IntArray,
    tech_of: IntArray,
    queues: tuple[IntArray, Schedule],
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """First-in-queue travel, start and finish of pairs ``(tix, tech)`` at the place each
    ticket would take in the plan's sequenced ``queues`` (:func:`place_costs`)."""
    t, k = problem.tickets, problem.technicians
    rows, sch = queues
    ready, lat, lon = place_starts(problem, state, free, tech_of, queues)
    to = (t.lat_deg, t.lon_deg)
    speed = k.speed_kmh[tech]
    first = pair_travel_time_s((state.lat_deg, state.lon_deg), tech, to, tix, speed)
    leg = pair_travel_time_s((lat, lon), tech, to, tix, speed)
    start = np.maximum(ready[tech] + leg, t.window_start_s[tix])
    finish = start + t.duration_s[tix]
    held = np.flatnonzero(tech_of[tix] == tech)  # already in this queue: as sequenced
    at = np.searchsorted(rows, tix[held])
    start[held], finish[held] = sch.start_s[at], sch.finish_s[at]
    return first, start, finish


def displaced(
    problem: Problem,
    free: IntArray,
    tech_of: IntArray,
    queues: tuple[IntArray, Schedule],
) -> IntArray:
    """Per technician, the ticket row a ticket joining its full queue would displace, -1
    when the queue has room: the last in the sequenced queue of its tickets nobody holds,
    else the one at the place the joining ticket takes (:func:`place_times`). A full queue
    that took a new ticket can take a held one back in its stead: only a queue of held
    tickets alone makes a move off it forced (:func:`held_gains`)."""
    rows, sch = queues
    m = problem.technicians.count
    count = np.bincount(tech_of[rows], minlength=m)
    place = _places(problem, free, tech_of, queues)
    out = np.full(m, -1, np.int64)
    tech = tech_of[rows]
    full = count[tech] >= free[tech]
    at = np.flatnonzero((sch.position == place[tech]) & full)
    out[tech[at]] = rows[at]
    t = problem.tickets
    nobodys = full & (t.current_technician[rows] < 0) & ~t.pinned[rows]
    last = np.full(m, -1, np.int64)
    np.maximum.at(last, tech[nobodys], sch.position[nobodys])
    at = np.flatnonzero(nobodys & (sch.position == last[tech]))
    out[tech[at]] = rows[at]
    return out


def held_gains(
    problem: Problem,
    weights: CostWeights,
    state: TechState,
    free: IntArray,
    tix: IntArray,
    tech: IntArray,
    cost: FloatArray,
    tech_of: IntArray,
    queues: tuple[IntArray, Schedule],
    allow_overtime: bool,
) -> FloatArray:
    """What moving each ticket ``tix`` off its holder to ``tech`` gains (weight units), the
    bounded-churn rule priced by position in the plan ``tech_of`` (``queues``: its
    sequenced queues, ``free``: places per technician): the ticket's :func:`place_costs`
    with its holder minus ``cost`` (its :func:`place_costs` with ``tech``) without the
    stability term: the gain :func:`solver.cost.move_gain` gives at first place, taken at
    the places of the plan.

    ``+inf`` when the holder cannot take it back (the move is forced): the holder cannot
    take it at all (unavailable, no place, skills, exclusion, shift in first place:
    :attr:`solver.cost.PairEval.placeable`) or, for a ticket not in its holder's queue of
    the plan, at the place it would take there the work would end after the shift (without
    overtime), or the holder's queue is full of tickets somebody holds (only a ticket
    nobody holds is displaced for it, :func:`displaced`). ``nan`` when the
    pair is not a move (a ticket nobody holds, a pinned one, or its holder)."""
    t = problem.tickets
    cur = t.current_technician[tix]
    moving = np.flatnonzero((cur >= 0) & (cur != tech) & ~t.pinned[tix])
    gain = np.full(tix.size, np.nan)
    if moving.size == 0:
        return gain
    held, at = distinct_inverse(tix[moving], t.count)
    holder = t.current_technician[held]
    ev, _ = evaluate_pairs(problem, weights, state, held, holder, allow_overtime)
    stay, finish = _cost_and_finish(
        problem, weights, state, free, held, holder, tech_of, queues
    )
    away = tech_of[held] != holder
    bump = displaced(problem, free, tech_of, queues)[holder]
    back = ev.placeable & ~(away & (bump >= 0) & (t.current_technician[bump] >= 0))
    if not allow_overtime:
        back &= ~away | (finish <= problem.technicians.shift_end_s[holder])
    new_cost = cost[moving] - weights.stability
    gain[moving] = np.where(back[at], stay[at] - new_cost, np.inf)
    return gain


def move_gains(
    problem: Problem,
    weights: CostWeights,
    state: TechState,
    tech_of: IntArray,
    allow_overtime: bool,
) -> FloatArray:
    """Per ticket row, what its move in the plan ``tech_of`` (movable rows; NO_TECHNICIAN
    elsewhere) gains at the places it really takes (:func:`held_gains`): its place in its
    new technician's queue as sequenced (the solution's start and finish), against the
    place it would take in its holder's queue of the same plan. ``nan`` for rows that do
    not move, ``+inf`` for forced moves. The gain the churn rule holds to
    (:func:`moves_below`) and the one the service reports with a move."""
    t = problem.tickets
    cur = t.current_technician
    gain = np.full(t.count, np.nan)
    moved = np.flatnonzero((tech_of >= 0) & (cur >= 0) & (cur != tech_of) & ~t.pinned)
    if moved.size == 0:
        return gain
    # only the queues of the moved tickets' technicians and holders are priced
    involved = np.zeros(problem.technicians.count, np.bool_)
    involved[tech_of[moved]] = involved[cur[moved]] = True
    plan = np.where(involved[np.maximum(tech_of, 0)], tech_of, NO_TECHNICIAN)
    queues = plan_queues(
        problem, late_pricing(problem, weights), state, plan, allow_overtime
    )
    free = state.free_slots
    cost = place_costs(problem, weights, state, free, moved, plan[moved], plan, queues)
    gain[moved] = held_gains(
        problem, weights, state, free, moved, plan[moved], cost, plan, queues,
        allow_overtime,
    )  # fmt: skip
    return gain


def moves_below(
    problem: Problem,
    weights: CostWeights,
    state: TechState,
    tech_of: IntArray,
    allow_overtime: bool,
) -> IntArray:
    """Rows whose move in the plan ``tech_of`` gains less than the churn rule's threshold
    at the places it takes (:func:`move_gains`, :func:`solver.cost.below_min_gain`)."""
    if weights.move_min_gain <= 0:
        return np.zeros(0, np.int64)
    gain = move_gains(problem, weights, state, tech_of, allow_overtime)
    return np.flatnonzero(below_min_gain(gain, weights))
