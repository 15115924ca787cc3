"""Ruin and recreate: batch planning's improvement of a whole plan (``SolveParams.batch``).

A one-shot plan of a snapshot (a day planned at once, judged once) gains from what a
rolling plan does not need: *which* tickets fill the few places of short shifts, and
which of many equal tickets a technician serves on one trip. Polish
(:mod:`solver.polish`) moves one ticket or one pair at a time; this step re-packs the
queues of a few neighbouring technicians together:

1. **Ruin.** Each round splits the technicians with free places into neighbourhoods of
   ``HOOD`` technicians near each other (a random technician and its nearest ones not
   yet taken; :func:`solver.spatial.nearest` from where their queues start) and takes
   every free ticket (not pinned, held by no technician) out of their queues. Each
   unassigned free ticket joins the neighbourhood of one of the technicians it may go
   to (its ``polish.NEIGHBOURS`` nearest allowed, :func:`solver.polish.move_pairs`, and
   the one it has), drawn at random.
2. **Recreate**, every neighbourhood at once: each step, per neighbourhood, the cheapest
   insertion of a ticket into one of its queues is made, while one lowers the cost. An
   insertion is priced on every order of the queue with the ticket (exact sequencing;
   queues of more than ``EXACT_PLACES``: the queue's order with the ticket at each
   place), driven by :func:`solver.sequence.simulate` as polish screens its moves
   (travel, lateness and breach, waiting; no shift overrun unless overtime is allowed),
   plus the pair's static terms and the balance of the place, minus the ticket's
   unassigned penalty (:func:`solver.cost.drop_penalty`). A ticket the plan left
   unassigned may only go where it is on time (as polish's inserts: a place is not
   spent on one more late ticket). Cheapest first, not regret first: regret insertion
   lowered the cost more but placed the urgent tickets of large penalty at the expense
   of more lower-priority ones, raising the breach count of the static snapshots (notes
   in simulations/README.md, "Against VROOM").
3. **Accept** a neighbourhood's new queues when the plan's own evaluation
   (:func:`solver.polish.plan_cost` on the re-sequenced queues, plus the unassigned
   penalties: what :func:`solver.polish.driven_cost` sums) is lower by at least
   ``MIN_GAIN``, the neighbourhood **misses no more tickets** (served late, or left out
   while a due passes within the plan's horizon: :func:`missed_if_left_out`), no queue
   overruns its shift (unless overtime is allowed) and no ticket the plan left
   unassigned is late; else its queues stay as they were. The neighbourhoods share no
   technician and no ticket, so each is judged alone. The driven cost never rises, nor
   the count of tickets missed. Without the count, a cheaper re-pack may trade an
   on-time ticket for a higher-priority one (the penalty weighs priority, a breach count
   does not): static snapshots 200x20, all breaches 82.6 -> 83.0 per plan.

Hard rules: a ticket goes only where :func:`solver.polish.move_pairs` allows it (skills,
exclusions, availability, the churn rule), into a free place (``TechState.free_slots``);
pinned and held (ASSIGNED) tickets never move. Bounded work: ``ROUNDS`` rounds, none
started after the deadline. Deterministic given ``seed`` (unless the deadline cuts it;
:func:`solver.core.run_core` passes none: a solve stays deterministic, whatever
``SolveParams.seed``).

Batch planning runs it between two polishes (:func:`solver.core.run_core`): the
re-packed queues open single moves the first polish had no way to. Static snapshots, 5
seeds, travel per ticket 20.1 / 11.8 / 7.97 -> 19.8 / 11.6 / 7.78 min at 200x20 /
1000x100 / 3000x300 (VROOM 25.5 / 18.5 / 7.89), all breaches 82.6 / 420.6 / 1283.4 ->
82.4 / 418.2 / 1279.4; solve CPU 0.12 / 0.33 / 0.50 -> 0.33 / 0.71 / 1.24 s (8 rounds:
7.83 min at 3000x300 for 0.91 s). Re-packing without the second polish (8 rounds, without
the miss count): 7.91; a second polish without re-packing: 7.96.
"""

from __future__ import annotations

import itertools
import time
from functools import cache
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from solver.cost import drop_penalty, late_seconds
from solver.geo import unit_vectors
from solver.polish import (
    MIN_GAIN,
    insertions,
    move_pairs,
    plan_cost,
    screen_orders,
    static_cost,
)
from solver.sequence import sequence_queues
from solver.spatial import nearest

if TYPE_CHECKING:
    from solver.cost import LatePricing, TechState
    from solver.model import CostWeights, Problem

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

ROUNDS = 16
"""Ruin-and-recreate rounds (each ruins and recreates every neighbourhood once). Travel
keeps falling with more, ever less: static snapshots 3000x300, 5 seeds, travel per
ticket after batch planning's second polish 7.87 / 7.83 / 7.80 / 7.78 / 7.77 min at 4 /
8 / 12 / 16 / 24 rounds, solve CPU 0.74 / 0.91 / 1.05 / 1.24 / 1.54 s (VROOM: 7.89 in
240-1,590 s)."""

HOOD = 3
"""Technicians per neighbourhood."""

EXACT_PLACES = 4
"""Longest queue whose insertions are priced on every order (4! = 24)."""


@cache
def _orders(q: int) -> IntArray:
    """Every order of ``q`` places, (q!, q)."""
    return np.array(list(itertools.permutations(range(q))), np.int64).reshape(-1, q)


def recreate(
    problem: Problem,
    weights: CostWeights,
    pricing: LatePricing,
    state: TechState,
    tech_of: IntArray,
    allow_overtime: bool,
    deadline: float = np.inf,
    seed: int = 0,
    rounds: int = ROUNDS,
) -> IntArray:
    """Ruin and recreate neighbourhoods of technicians while the plan's cost drops.

    Parameters
    ----------
    problem, weights, pricing, state
        The instance, weights, the sequencing's lateness pricing, state after the pinned
        queues.
    tech_of
        Technician per ticket row of the movable tickets (NO_TECHNICIAN elsewhere), a plan
        that respects every hard rule.
    allow_overtime
        When False, no queue may end after its technician's shift.
    deadline
        ``time.perf_counter()`` time after which no round starts.
    seed
        Seed of the neighbourhoods drawn.
    rounds
        Most rounds.

    Returns
    -------
    numpy.ndarray
        The new plan (a new array). Its :func:`solver.polish.driven_cost` is never
        higher.
    """
    tech_of = tech_of.copy()
    t = problem.tickets
    free = ~t.pinned & (t.current_technician < 0)
    newcomer = free & (tech_of < 0)  # left out by the plan: on time where it goes
    pairs = move_pairs(problem, weights, state, tech_of, allow_overtime, None, True)
    usable = np.flatnonzero(state.free_slots > 0)
    if pairs is None or usable.size == 0:
        return tech_of
    pi, pb = pairs[0], pairs[1]
    on = free[pi]
    mine = np.flatnonzero(free & (tech_of >= 0))  # a ticket may stay where it is
    pi = np.concatenate([pi[on], mine])
    pb = np.concatenate([pb[on], tech_of[mine]])
    keys = np.unique(pi * problem.technicians.count + pb)
    pi, pb = keys // problem.technicians.count, keys % problem.technicians.count
    if pi.size == 0:
        return tech_of
    static = static_cost(problem, weights, pi, pb)
    penalty = drop_penalty(problem, weights)
    near = _near_technicians(state, usable)
    cost, _, sch, rows = plan_cost(
        problem, weights, pricing, state, tech_of, allow_overtime
    )
    late = np.zeros(tech_of.size, np.bool_)
    late[rows] = late_seconds(problem, rows, sch.start_s, sch.finish_s) > 0
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        if time.perf_counter() > deadline:
            break
        hood_of = _hoods(usable, near, problem.technicians.count, rng)
        trial = _recreate(
            problem, weights, pricing, state, tech_of, allow_overtime,
            (pi, pb, static), penalty, hood_of, (free, newcomer), rng,
        )  # fmt: skip
        tech_of, cost, late = _accept(
            problem, weights, pricing, state, allow_overtime, penalty,
            (tech_of, cost, late), trial, hood_of, newcomer,
        )  # fmt: skip
    return tech_of


def _near_technicians(state: TechState, usable: IntArray) -> IntArray:
    """(usable, k): for each usable technician, the usable ones nearest it (itself
    first), by where their queues start."""
    k = min(2 * HOOD, usable.size)
    points = unit_vectors(state.lat_deg[usable], state.lon_deg[usable])
    return usable[nearest(points, points, k)]


def _hoods(
    usable: IntArray, near: IntArray, m: int, rng: np.random.Generator
) -> IntArray:
    """Neighbourhood per technician (-1: none): in a random order of the usable ones,
    each technician not yet taken with its ``HOOD - 1`` nearest not yet taken."""
    hood_of = np.full(m, -1, np.int64)
    h = 0
    rows = near.tolist()
    for at in rng.permutation(usable.size).tolist():
        if hood_of[usable[at]] >= 0:
            continue
        members = [u for u in rows[at] if hood_of[u] < 0][:HOOD]
        hood_of[members] = h
        h += 1
    return hood_of


def _recreate(
    problem: Problem,
    weights: CostWeights,
    pricing: LatePricing,
    state: TechState,
    tech_of: IntArray,
    allow_overtime: bool,
    pairs: tuple[IntArray, IntArray, FloatArray],
    penalty: FloatArray,
    hood_of: IntArray,
    tickets: tuple[BoolArray, BoolArray],
    rng: np.random.Generator,
) -> IntArray:
    """The plan with every neighbourhood's free tickets taken out and put back, cheapest
    insertion first (module doc). ``tickets``: per row, free (not pinned, held by no
    technician), and left out by the plan (on time where it goes)."""
    pi, pb, static = pairs
    free, newcomer = tickets
    n, m = tech_of.size, hood_of.size
    # the neighbourhood of each free ticket: its technician's, or one drawn among those
    # of the technicians it may go to
    ticket_hood = np.full(n, -1, np.int64)
    draw = rng.random(pi.size)
    order = np.lexsort((draw, pi))
    first = np.ones(order.size, np.bool_)
    first[1:] = pi[order][1:] != pi[order][:-1]
    ticket_hood[pi[order][first]] = hood_of[pb[order][first]]
    placed = np.flatnonzero(free & (tech_of >= 0))
    ticket_hood[placed] = hood_of[tech_of[placed]]
    live = np.flatnonzero((ticket_hood[pi] == hood_of[pb]) & (hood_of[pb] >= 0))
    pi, pb, static = pi[live], pb[live], static[live]
    trial = tech_of.copy()
    trial[placed] = -1
    # the queues without the free tickets: held ones stay (in no order yet)
    width = int(state.free_slots.max(initial=0))
    queue = np.full((m, max(width, 1)), -1, np.int64)
    qlen = np.zeros(m, np.int64)
    for r in np.flatnonzero(trial >= 0).tolist():
        b = trial[r]
        queue[b, qlen[b]] = r
        qlen[b] += 1
    qcost = np.zeros(m)
    busy = np.flatnonzero(qlen > 0)
    qcost[busy], best = _best_orders(
        problem, weights, pricing, state, allow_overtime, newcomer,
        (queue[busy], qlen[busy], busy, np.full(busy.size, -1, np.int64)),
    )  # fmt: skip
    queue[busy] = best
    delta = np.full(pi.size, np.inf)
    order_of = np.full((pi.size, queue.shape[1]), -1, np.int64)
    stale = np.ones(pi.size, np.bool_)
    out = np.ones(pi.size, np.bool_)  # pair's ticket not placed yet
    places = state.free_slots
    while True:
        room = out & (qlen[pb] < places[pb])
        redo = np.flatnonzero(room & stale)
        if redo.size:
            b = pb[redo]
            drive, best = _best_orders(
                problem, weights, pricing, state, allow_overtime, newcomer,
                (queue[b], qlen[b], b, pi[redo]),
            )  # fmt: skip
            balance = weights.balance * (state.load[b] + qlen[b])
            delta[redo] = drive - qcost[b] + static[redo] + balance - penalty[pi[redo]]
            order_of[redo] = best
            stale[redo] = False
        cand = np.flatnonzero(room & (delta < -MIN_GAIN))
        if cand.size == 0:
            break
        pick = _cheapest_picks(pi[cand], ticket_hood[pi[cand]], delta[cand])
        chosen = cand[pick]
        i, b = pi[chosen], pb[chosen]
        trial[i] = b
        qlen[b] += 1
        queue[b] = order_of[chosen]
        qcost[b] += (
            delta[chosen]
            - static[chosen]
            + penalty[i]
            - weights.balance * (state.load[b] + qlen[b] - 1)
        )
        placed_now = np.zeros(n, np.bool_)
        placed_now[i] = True
        out &= ~placed_now[pi]
        changed = np.zeros(m, np.bool_)
        changed[b] = True
        stale |= changed[pb]
    return trial


def _cheapest_picks(tix: IntArray, hood: IntArray, delta: FloatArray) -> IntArray:
    """Per neighbourhood, the index (into the arrays) of the insertion to make: the
    cheapest (lowest ``delta``), ties by row then technician order in the arrays."""
    pick = np.lexsort((tix, delta, hood))
    lead = np.ones(pick.size, np.bool_)
    lead[1:] = hood[pick][1:] != hood[pick][:-1]
    return np.asarray(pick[lead], np.int64)


def _best_orders(
    problem: Problem,
    weights: CostWeights,
    pricing: LatePricing,
    state: TechState,
    allow_overtime: bool,
    newcomer: BoolArray,
    edits: tuple[IntArray, IntArray, IntArray, IntArray],
) -> tuple[FloatArray, IntArray]:
    """For each edit (queue row, its length, technician, ticket added or -1): the least
    screening cost of the queue with the ticket (travel, lateness, waiting; inf on an
    overrun without overtime, or when a ``newcomer`` ticket is late) over its orders,
    and that order (padded with -1)."""
    queue, qlen, tech, add = edits
    cost = np.full(tech.size, np.inf)
    best = np.full(queue.shape, -1, np.int64)
    size = qlen + (add >= 0)
    for q in np.unique(size).tolist():
        sel = np.flatnonzero(size == q)
        base = queue[sel, :q].copy()
        grow = add[sel] >= 0
        base[grow, np.minimum(qlen[sel][grow], q - 1)] = add[sel][grow]
        # every order, or the queue's order with the ticket at each place
        orders = base[:, _orders(q)] if q <= EXACT_PLACES else _insertions(base, grow)
        c = screen_orders(
            problem,
            weights,
            pricing,
            state,
            allow_overtime,
            orders,
            tech[sel],
            newcomer,
        )
        arg = np.argmin(c, axis=1)
        cost[sel] = c[np.arange(sel.size), arg]
        best[sel, :q] = orders[np.arange(sel.size), arg]
    return cost, best


def _insertions(base: IntArray, grow: BoolArray) -> IntArray:
    """(T, q, q): where ``grow``, the last ticket of each row of ``base`` (T, q) moved to
    every place of the others' order (:func:`solver.polish.insertions`); else the row as
    it is, q times."""
    q = base.shape[1]
    out = base[:, None, :].repeat(q, axis=1)
    out[grow] = insertions(base[grow, : q - 1], base[grow, q - 1])
    return out


def _accept(
    problem: Problem,
    weights: CostWeights,
    pricing: LatePricing,
    state: TechState,
    allow_overtime: bool,
    penalty: FloatArray,
    now: tuple[IntArray, FloatArray, BoolArray],
    trial: IntArray,
    hood_of: IntArray,
    newcomer: BoolArray,
) -> tuple[IntArray, FloatArray, BoolArray]:
    """The plan with each neighbourhood whose recreated queues cost less and miss no
    more tickets (module doc) taken from ``trial``, its cost per technician and which
    tickets it serves late (``now``: the same three of the current plan)."""
    tech_of, cost, late = now
    m = hood_of.size
    changed = np.zeros(m, np.bool_)
    moved = np.flatnonzero(trial != tech_of)
    if moved.size == 0:
        return tech_of, cost, late
    changed[trial[moved][trial[moved] >= 0]] = True
    changed[tech_of[moved][tech_of[moved] >= 0]] = True
    new_cost, over, sch, rows = plan_cost(
        problem, weights, pricing, state, trial, allow_overtime, changed
    )
    new_late = late_seconds(problem, rows, sch.start_s, sch.finish_s) > 0
    lost = newcomer[rows] & new_late
    hoods = int(hood_of.max(initial=-1)) + 1
    on = np.flatnonzero(changed)
    gain = np.bincount(hood_of[on], new_cost[on] - cost[on], hoods)
    # a moved ticket's hood: where it went, or where it was
    where = np.where(trial[moved] >= 0, trial[moved], tech_of[moved])
    sign = (trial[moved] < 0).astype(np.float64) - (tech_of[moved] < 0)
    gain += np.bincount(hood_of[where], sign * penalty[moved], hoods)
    # tickets missed: served late, or left out while a due passes in the plan's horizon
    was = np.flatnonzero(late & (tech_of >= 0) & changed[np.maximum(tech_of, 0)])
    missed = np.bincount(hood_of[trial[rows]], new_late, hoods) - np.bincount(
        hood_of[tech_of[was]], minlength=hoods
    )
    missed += np.bincount(
        hood_of[where], sign * missed_if_left_out(problem)[moved], hoods
    )
    ok = (gain < -MIN_GAIN) & (missed <= 0)
    ok &= np.bincount(hood_of[trial[rows]], lost, hoods) == 0
    if not allow_overtime:
        ok &= np.bincount(hood_of[on], over[on], hoods) == 0
    take = ok[hood_of[where]]
    tech_of = tech_of.copy()
    tech_of[moved[take]] = trial[moved[take]]
    keep = changed & (hood_of >= 0)
    keep[keep] = ok[hood_of[keep]]
    cost = cost.copy()
    cost[keep] = new_cost[keep]
    late = late.copy()
    late[moved[take]] = False  # moved out of a kept queue, or left out
    kept = keep[trial[rows]]
    late[rows[kept]] = new_late[kept]
    return tech_of, cost, late


def one_shot_kpis(
    problem: Problem,
    pricing: LatePricing,
    state: TechState,
    tech_of: IntArray,
    allow_overtime: bool,
) -> tuple[int, float]:
    """What a one-shot plan is judged by, from its sequenced queues: the tickets it misses
    (served late, or left out while a due passes within the plan's horizon,
    :func:`missed_if_left_out`) and its travel per ticket served (seconds, chained stop
    to stop; 0 when it serves none). Pinned tickets are not in ``tech_of``: the same in
    every plan of a problem."""
    rows = np.flatnonzero(tech_of >= 0)
    sch = sequence_queues(
        problem, pricing, rows, tech_of[rows], state.lat_deg, state.lon_deg,
        state.ready_s, allow_overtime,
    )  # fmt: skip
    late = late_seconds(problem, rows, sch.start_s, sch.finish_s) > 0
    left = (tech_of < 0) & ~problem.tickets.pinned
    missed = int(late.sum()) + int(missed_if_left_out(problem)[left].sum())
    return missed, float(sch.travel_s.sum()) / max(rows.size, 1)


def missed_if_left_out(problem: Problem) -> BoolArray:
    """Per ticket row, whether a one-shot plan that leaves it out misses its SLA: a due
    (response or resolution) passes before the plan's horizon, the last shift end of an
    available technician (no one in the plan could serve it later)."""
    t, k = problem.tickets, problem.technicians
    horizon = float(k.shift_end_s[k.available].max(initial=-np.inf))
    return np.asarray(np.minimum(t.response_due_s, t.resolution_due_s) <= horizon)
