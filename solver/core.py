"""The exact core of a solve: scaled costs, min-cost flow, shift repair and refill."""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from solver.candidates import Candidates, skill_groups
from solver.certify import (
    Certificate,
    PairPrice,
    PricingGroup,
    later_ready,
    negative_pairs,
    potentials,
    pricing_groups,
)
from solver.constants import COST_SCALE, DENSE_PAIRS_MAX, QUEUE_MARGIN_S
from solver.cost import (
    below_min_gain,
    clips,
    drop_penalty,
    evaluate_pairs,
    late_pricing,
    pair_keys,
    to_scaled,
)
from solver.flow import FlowResult, assign_slots
from solver.incumbent import held_decision
from solver.local import local_resolve, places, places_total
from solver.model import NO_TECHNICIAN, SolveStatus
from solver.ordering import stable_order
from solver.polish import driven_cost, polish
from solver.position import (
    displaced,
    held_gains,
    later_than_first,
    move_gains,
    place_costs,
    place_starts,
    plan_queues,
    sequenced_cost,
)
from solver.recreate import one_shot_kpis, recreate
from solver.sequence import Schedule, queues_overrun, sequence_queues
from solver.warm import warm_assign

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy.typing as npt

    from solver.cost import LatePricing, TechState
    from solver.model import Problem, SolveParams

    IntArray = npt.NDArray[np.int64]
    FloatArray = npt.NDArray[np.float64]
    BoolArray = npt.NDArray[np.bool_]
    Potentials = tuple[FloatArray, FloatArray]

REPAIR_ROUNDS = 3
"""Local re-solves after sequencing found shift overruns, before dropping what still overruns."""

REFILL_ROUNDS = 10
"""Most greedy rounds (each adds at most one ticket per technician; stops when none fits)
that put unassigned tickets into places the repair left empty."""

REPAIR_SEED_ARCS = 3
REPAIR_WIDE = 500
"""When more than ``REPAIR_WIDE`` tickets overran, each displaced ticket reaches in the
repair's local re-solve only the technicians of its ``REPAIR_SEED_ARCS`` cheapest arcs
(a smaller, faster neighbourhood; ~0.01% worse objective at 50k x 5k)."""

CERTIFY_SLACK = 150 * COST_SCALE
"""Pricing rounds that find a negative pair also add the pairs within this reduced cost
(2.5 minutes of travel at the default weights): most of the next round's finds."""

ROUND_SLACK = CERTIFY_SLACK
"""``CERTIFY_SLACK`` of the position rounds' certification."""

POLISH_ROUNDS = 3
"""Most global re-solves (repaired capacities and dead arcs kept) after a lossy repair."""

REPAIR_HOPS = 1
"""Neighbourhood depth of the repair's local re-solve (see :func:`solver.local.local_resolve`)."""


@dataclass(slots=True)
class Core:
    """Mutable working set of one solve (kept by ``IncrementalSolver`` between solves)."""

    problem: Problem
    params: SolveParams
    state: TechState
    cands: Candidates
    arc_cost: IntArray  # scaled, per candidate arc
    penalty: IntArray  # scaled unassigned penalty per ticket row
    alive: BoolArray  # candidate arcs not removed by the shift repair
    free: IntArray  # places per technician left to movable tickets after the repair
    late: LatePricing  # how the queue sequencing prices lateness
    certificate: Certificate | None = None  # set by a certified flow solve
    hint: Potentials | None = (
        None  # potentials of the last certified optimum (warm starts)
    )
    clipped: bool = False  # some scaled cost was clipped: the status is OVERFLOW
    bound_gap: float | None = None  # plan cost above the flow's bound (weight units)
    deadline: float = math.inf  # perf_counter() time after which optional work stops
    pricing: list[PricingGroup] | None = None  # what a certification prices (set by it)

    @classmethod
    def build(
        cls, problem: Problem, params: SolveParams, state: TechState, cands: Candidates
    ) -> Core:
        """Scale the costs of ``cands`` and start with every arc alive."""
        penalty = drop_penalty(problem, params.weights)
        core = cls(
            problem, params, state, cands, to_scaled(cands.cost),
            to_scaled(penalty), np.ones(cands.tix.size, np.bool_),
            state.free_slots.copy(), late_pricing(problem, params.weights),
        )  # fmt: skip
        core.clipped = clips(cands.cost) or clips(penalty)
        return core

    @property
    def balance_scaled(self) -> float:
        """Scaled cost per queue-place index."""
        return self.params.weights.balance * COST_SCALE


def run_core(
    core: Core, flow: FlowResult | None = None
) -> tuple[IntArray, SolveStatus]:
    """Exact flow over all candidate arcs, then sequencing and shift repair.

    ``flow``: the result of :func:`certified_flow` on ``core`` when the caller ran it
    (``IncrementalSolver`` keeps it), else it runs here.

    The flow's optimum is the bound (``core.bound_gap``: how far above it the returned
    plan is, weight units). When the shift repair moved the plan above the bound, the
    whole flow is re-solved with the repaired queue capacities and dead arcs kept, then
    repaired again, while that lowers the cost (``POLISH_ROUNDS`` at most). Last, the
    incumbent plan (:func:`keep_incumbent`) replaces the new plan when it is cheaper as
    driven. The status is OPTIMAL only when the returned plan attains a certified bound,
    else FEASIBLE.

    Returns
    -------
    tuple
        (technician per ticket row for the movable tickets, else NO_TECHNICIAN; status).
        The reasons of the rows it leaves unassigned, those the shift repair dropped
        included, are judged against every technician (:func:`solver.reasons.judge`).
    """
    res = certified_flow(core) if flow is None else flow
    if res.status is not SolveStatus.OPTIMAL:
        n = core.problem.tickets.count
        return np.full(n, NO_TECHNICIAN, np.int64), res.status
    start = (core.free.copy(), core.alive.copy())  # before any repair
    tech_of, status = repair_shifts(core, flow_decision(core, res))
    cost = model_cost(core, tech_of)
    for _ in range(POLISH_ROUNDS):
        if cost == res.cost or status is not SolveStatus.OPTIMAL:
            break
        if time.perf_counter() > core.deadline:
            break
        saved = (core.free.copy(), core.alive.copy())
        again = (
            _flow(core, core.alive)
            if core.hint is None
            else _warm_flow(core, core.hint, core.alive)[0]
        )
        if again.status is not SolveStatus.OPTIMAL:
            break
        t2, s2 = repair_shifts(core, flow_decision(core, again, core.alive))
        c2 = model_cost(core, t2)
        if s2 is not SolveStatus.OPTIMAL or c2 >= cost:
            core.free, core.alive = saved
            break
        tech_of, status, cost = t2, s2, c2
    if status is not SolveStatus.INFEASIBLE:
        tech_of, status = rounds_then_polish(core, tech_of, status)
        tech_of = bound_churn(core, tech_of)
        tech_of, status = keep_incumbent(core, start, tech_of, status)
        cost = model_cost(core, tech_of)
    certified = core.certificate is None or core.certificate.certified
    # Unproven over all pairs (time limit), the flow optimum is no bound.
    core.bound_gap = (cost - res.cost) / COST_SCALE if certified else None
    if status is SolveStatus.OPTIMAL and (cost != res.cost or not certified):
        status = SolveStatus.FEASIBLE
    return tech_of, SolveStatus.OVERFLOW if core.clipped else status


def rounds_then_polish(
    core: Core, tech_of: IntArray, status: SolveStatus
) -> tuple[IntArray, SolveStatus]:
    """:func:`position_rounds` on the repaired plan ``tech_of``, then polish
    (:func:`_polished`, when ``core.params.polish``).

    In batch planning (``SolveParams.batch``), when the rounds changed the plan, both
    plans are polished, the repaired one and the rounds' one, and the polished plan
    that misses fewer tickets, then drives less per ticket served, is returned
    (:func:`solver.recreate.one_shot_kpis`, what the static snapshots judge; a tie
    keeps the rounds' plan). A round keeps the plan of lowest sequenced cost, lateness
    seconds and waiting included, its travel priced from each technician's start
    (:mod:`solver.position`); polish is a local search, and where it ends depends on
    where it starts. Once both are polished, the rounds' plan often misses as many
    tickets, or more, and drives further (static snapshots 3000x300 seed 3: 1280
    against 1278 missed, 9.22 against 8.88 min per ticket; 20 x 3 seed 38: 6 and 6,
    59 against 48 min). A plan made once and judged once can pay for the second
    polish: seeds 0-9, travel per ticket 21.38 / 11.93 / 8.01 -> 20.72 / 11.73 / 7.96
    min at 200x20 / 1000x100 / 3000x300, all breaches 87.3 / 417.7 / 1257.7 -> 86.5 /
    416.7 / 1257.3; solve CPU 0.11 / 0.32 / 0.70 -> 0.21 / 0.53 / 1.21 s. The live
    loop re-plans every few seconds: one polish, of the rounds' plan.
    """
    rounded, r_status = position_rounds(core, tech_of, status)
    if not core.params.polish:
        return rounded, r_status
    after = _polished(core, rounded)
    if not core.params.batch or np.array_equal(rounded, tech_of):
        return after, r_status
    before = _polished(core, tech_of)
    p, late, state, ot = core.problem, core.late, core.state, core.params.allow_overtime
    if one_shot_kpis(p, late, state, before, ot) < one_shot_kpis(
        p, late, state, after, ot
    ):
        return before, status
    return after, r_status


def _polished(core: Core, tech_of: IntArray) -> IntArray:
    """The plan after :func:`solver.polish.polish`; in batch planning
    (``SolveParams.batch``) with its inserts, then re-packed by
    :func:`solver.recreate.recreate` and polished again (the re-packed queues open moves
    polish's first run had no way to: static snapshots 3000x300, travel per ticket 7.97 ->
    7.78 min; CHANGELOG).

    Polish moves along any pair of its neighbourhoods (``arcs`` None), not only the
    exact core's candidate arcs: those depend on the pruning (``candidates_k``,
    ``all_pairs``) and the plans would too. :func:`model_cost` prices a pair that is no
    arc as the flow would."""
    p, w, batch = core.problem, core.params.weights, core.params.batch
    args = (p, w, core.late, core.state)
    ot, deadline = core.params.allow_overtime, core.deadline
    tech_of = polish(*args, tech_of, ot, deadline, inserts=batch)
    if not batch:
        return tech_of
    tech_of = recreate(*args, tech_of, ot, deadline)
    return polish(*args, tech_of, ot, deadline, inserts=True)


def exact_core_only(params: SolveParams) -> bool:
    """No position rounds and no polish: the solve returns the first-in-queue model's plan
    as the exact core certifies it (its moves pass the churn rule at first place, the
    flow's arcs), so neither :func:`bound_churn` nor :func:`keep_incumbent` changes it."""
    return params.position_rounds == 0 and not params.polish


def keep_incumbent(
    core: Core,
    start: tuple[IntArray, BoolArray],
    tech_of: IntArray,
    status: SolveStatus,
) -> tuple[IntArray, SolveStatus]:
    """The new plan ``tech_of`` or the incumbent plan, whichever is cheaper as driven.

    The incumbent plan is the queues the problem already carries
    (:func:`solver.incumbent.held_decision`) with what no longer fits them taken out:
    :func:`repair_shifts` from the places and arcs the flow started with (``start``:
    ``core.free`` and ``core.alive`` before any repair) in its last round's form (the
    tickets that overrun their holder's shift left unassigned; no local re-solve, no
    refill: a shift-feasible incumbent stays exactly as held, and the new plan is the
    one that re-places tickets). It is returned, with that status and its places in
    ``core``, when its cost as driven
    (:func:`solver.polish.driven_cost`) is below the new plan's; ties keep the new plan.
    It moves no held ticket, so the churn rule holds for it. Not in the exact core alone
    (:func:`exact_core_only`: the model's certified optimum is what was asked for). Runs
    past the deadline too:
    one sequencing of the held queues, and a plan cut short is the likeliest to cost
    more than keeping the queues.
    """
    problem, state, params = core.problem, core.state, core.params
    if exact_core_only(params):
        return tech_of, status
    held = held_decision(problem, params.weights, state, core.late)
    if not (held >= 0).any() or np.array_equal(held, tech_of):
        return tech_of, status
    trial = dataclasses.replace(core, free=start[0].copy(), alive=start[1].copy())
    kept, k_status = repair_shifts(trial, held, fill_rounds=0, rounds=0)
    if k_status not in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE):
        return tech_of, status
    if np.array_equal(kept, tech_of):
        return tech_of, status
    w, late, ot = params.weights, core.late, params.allow_overtime
    if driven_cost(problem, w, late, state, kept, ot) >= driven_cost(
        problem, w, late, state, tech_of, ot
    ):
        return tech_of, status
    core.free, core.alive = trial.free, trial.alive
    return kept, k_status


def position_rounds(
    core: Core, tech_of: IntArray, status: SolveStatus
) -> tuple[IntArray, SolveStatus]:
    """Re-price the live arcs at the places the plan's sequenced queues give them, re-solve.

    Only when some ticket is predicted later in its sequenced queue than first-in-queue
    pricing said (:func:`solver.position.later_than_first`), ``core.params.position_rounds``
    rounds at most (stopping at the deadline): each solves the flow of the pairs priced at
    the places of the last plan's sequenced queues (:func:`round_flow`, certified over
    all pairs as the first flow was) and repairs the shift overruns. The plan with the
    lowest sequenced cost (:func:`solver.position.sequenced_cost`) is returned, the given
    one unless a round beats it. ``core.certificate`` stays the first flow's: it proves
    the first-in-queue flow optimal over all pairs, and a plan from these rounds is above
    that optimum (FEASIBLE).
    """
    problem, state, w = core.problem, core.state, core.params.weights
    best = (tech_of, status)
    if core.params.position_rounds == 0:
        return best
    queues = plan_queues(problem, core.late, state, tech_of)
    if not later_than_first(problem, state, tech_of, queues):
        return best
    best_cost = sequenced_cost(
        problem, w, state, core.penalty, core.balance_scaled, tech_of, queues
    )
    plan = tech_of
    for _ in range(core.params.position_rounds):
        if time.perf_counter() > core.deadline or not core.alive.any():
            break
        solved = round_flow(core, plan, queues)
        if solved is None:
            break
        trial, res = solved
        plan, s2 = repair_shifts(trial, flow_decision(trial, res, _round_arcs(trial)))
        if s2 not in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE):
            break
        queues = plan_queues(problem, core.late, state, plan)
        cost = sequenced_cost(
            problem, w, state, core.penalty, core.balance_scaled, plan, queues
        )
        if cost < best_cost:
            best, best_cost = (plan, s2), cost
    return best


def round_flow(
    core: Core, plan: IntArray, queues: tuple[IntArray, Schedule]
) -> tuple[Core, FlowResult] | None:
    """One position round's flow on the plan ``plan`` (``queues``: its sequenced
    queues): every live candidate arc priced at the start its ticket would really get
    there (:func:`solver.position.place_costs`), the moves the churn rule refuses at
    those places dead, solved over the arcs worth placing; then, when ``core``'s first
    flow was certified by pricing, extended by :func:`certify` until no pair of any
    ticket and technician priced so (:func:`_at_places`) has a negative reduced cost:
    the round's optimum over all pairs, whatever the candidates (unproven when the
    deadline stopped the pricing). Returns the round's working set (``core`` re-priced,
    its own places and arcs) and its flow, or None when a flow was not optimal."""
    problem, state, w = core.problem, core.state, core.params.weights
    c = core.cands
    live = np.flatnonzero(core.alive)
    priced = core.arc_cost.copy()
    at_place = place_costs(
        problem, w, state, core.free, c.tix[live], c.tech[live], plan, queues
    )
    priced[live] = to_scaled(at_place)
    refused = _refused_at_places(
        core, c.tix[live], c.tech[live], at_place, plan, queues
    )
    alive = core.alive.copy()
    alive[live[refused]] = False
    trial = dataclasses.replace(
        core, arc_cost=priced, free=core.free.copy(), alive=alive
    )
    res = _flow(trial, _round_arcs(trial))
    if res.status is SolveStatus.OPTIMAL and _certifiable(core):
        res, _, _ = certify(trial, res, _round_arcs, _at_places(trial, plan, queues))
    return (trial, res) if res.status is SolveStatus.OPTIMAL else None


def _round_arcs(core: Core) -> BoolArray:
    """The arcs a position round's flow is over: alive and worth placing."""
    return core.alive & worth_placing(core)


def _certifiable(core: Core) -> bool:
    """Whether the position rounds certify their flows as :func:`certified_flow` did
    the first: it certified it by pricing (``core.pricing``) and proved it."""
    cert = core.certificate
    return core.pricing is not None and cert is not None and cert.certified


def _at_places(
    core: Core, plan: IntArray, queues: tuple[IntArray, Schedule]
) -> tuple[TechState, PairPrice]:
    """The pricing of pairs in a position round on the plan ``plan`` (``queues``: its
    sequenced queues, ``core.free``: the round's places), for :func:`certify`: the cost
    at the place each ticket would take (:func:`solver.position.place_costs`), feasible
    when the pair is a feasible arc at first place (:attr:`solver.cost.PairEval.feasible`)
    whose move, if it is one, passes the churn rule at these places
    (:func:`solver.position.held_gains`), as the round's arcs are; and the state its
    bounds read: ready at the places (:func:`solver.certify.later_ready`)."""
    problem, state, params = core.problem, core.state, core.params
    w, ot = params.weights, params.allow_overtime
    ready, lat, lon = place_starts(problem, state, core.free, plan, queues)
    speed = problem.technicians.speed_kmh
    bounds = dataclasses.replace(
        state, ready_s=later_ready(state, speed, ready, lat, lon)
    )

    def price(tix: IntArray, tech: IntArray) -> tuple[FloatArray, BoolArray]:
        ev, _ = evaluate_pairs(problem, w, state, tix, tech, ot)
        cost = place_costs(problem, w, state, core.free, tix, tech, plan, queues)
        ok = ev.feasible & ~_refused_at_places(core, tix, tech, cost, plan, queues)
        return cost, np.asarray(ok)

    return bounds, price


def _refused_at_places(
    core: Core,
    tix: IntArray,
    tech: IntArray,
    at_place: FloatArray,
    plan: IntArray,
    queues: tuple[IntArray, Schedule],
) -> BoolArray:
    """Per pair (``at_place``: its cost at its place in the plan ``plan``), whether the
    churn rule refuses it as a move at these places (:func:`solver.position.held_gains`
    below ``weights.move_min_gain``): a position round's arcs and its certification
    alike."""
    w = core.params.weights
    if w.move_min_gain <= 0:
        return np.zeros(tix.size, np.bool_)
    gain = held_gains(
        core.problem, w, core.state, core.free, tix, tech, at_place, plan, queues,
        core.params.allow_overtime,
    )  # fmt: skip
    return np.asarray(below_min_gain(gain, w))


def worth_placing(core: Core) -> BoolArray:
    """The candidate arcs some optimum of the flow may use (per arc): an arc costing more
    than its ticket's unassigned penalty minus its technician's first free place (and any
    arc of a technician with no free place) is in none, since sending that ticket to the
    sink instead and freeing the place lowers the cost. Leaving the others out of the flow
    keeps its optima and speeds it up."""
    c, state = core.cands, core.state
    first_place = np.rint(core.balance_scaled * state.load).astype(np.int64)
    worth: BoolArray = (core.arc_cost + first_place[c.tech] <= core.penalty[c.tix]) & (
        core.free[c.tech] > 0
    )
    return worth


def bound_churn(core: Core, tech_of: IntArray) -> IntArray:
    """Send back to its holder each move of the plan that gains less than
    ``move_min_gain`` at the places it takes (:func:`solver.position.move_gains`).

    The exact core's arcs and polish's moves are screened by the gain at first place
    (:func:`solver.cost.move_gain`), the position rounds by the gain at the last plan's
    places; the returned plan's places can differ from both. Each round sends the move
    with the lowest gain of each holder back to it, at the place its gain was priced at:
    into a free place, or displacing the ticket nobody holds at the last place of its
    full queue (:func:`solver.position.displaced`; that ticket takes the returned
    ticket's place when it may and fits the shift there, else it waits unassigned). A
    return whose holder's re-sequenced queue would overrun the shift is undone. A return
    changes places: the gains are priced again, until no move is below the threshold or
    no return is possible (each round returns one ticket at least, so at most as many
    rounds as moves). Not with ``position_rounds`` 0 and no ``polish``: that plan is the
    first-in-queue model's (its moves pass the rule at first place, the flow's arcs).
    """
    problem, state, params = core.problem, core.state, core.params
    w, m = params.weights, problem.technicians.count
    holder_of = problem.tickets.current_technician
    if w.move_min_gain <= 0 or exact_core_only(params):
        return tech_of  # no threshold, or the first-in-queue plan as certified
    while True:
        gain = move_gains(problem, w, state, tech_of, params.allow_overtime)
        below = np.flatnonzero(below_min_gain(gain, w))
        if below.size == 0:
            break
        below = below[np.lexsort((below, gain[below], holder_of[below]))]
        first = np.r_[True, holder_of[below][1:] != holder_of[below][:-1]]
        back = below[first]  # the lowest gain of each holder
        trial = _send_back(core, tech_of, back)
        if np.array_equal(trial, tech_of):
            break
        tech_of = trial
    core.free = np.maximum(
        core.free, np.bincount(tech_of.compress(tech_of >= 0), minlength=m)
    )
    return tech_of


def _send_back(core: Core, tech_of: IntArray, back: IntArray) -> IntArray:
    """``tech_of`` with each row of ``back`` (distinct holders) returned to its holder
    (:func:`bound_churn`), the returns that overrun a shift undone."""
    problem, state, params = core.problem, core.state, core.params
    m = problem.technicians.count
    holder = problem.tickets.current_technician[back]
    mine = np.zeros(m, np.bool_)
    mine[holder] = True
    queues_of = np.where(mine[np.maximum(tech_of, 0)], tech_of, NO_TECHNICIAN)
    queues = plan_queues(problem, core.late, state, queues_of, params.allow_overtime)
    bump = displaced(problem, state.free_slots, queues_of, queues)[holder]
    left = tech_of[back]  # where each returned ticket was
    trial = tech_of.copy()
    trial[back] = holder
    out = bump >= 0
    ev, _ = evaluate_pairs(
        problem, params.weights, state, bump[out], left[out], params.allow_overtime
    )
    trial[bump[out]] = np.where(ev.qualified, left[out], NO_TECHNICIAN)
    if params.allow_overtime:
        return trial
    to_left = out.copy()
    to_left[out] = ev.qualified
    hit = np.zeros(m, np.bool_)
    hit[left[to_left]] = True
    over = overrunning(core, trial, hit)
    late = to_left & over[left]
    trial[bump[late]] = NO_TECHNICIAN  # it does not fit there: it waits
    hit[:] = False
    hit[holder] = True
    over = overrunning(core, trial, hit)
    undo = over[holder]
    trial[back[undo]] = tech_of[back[undo]]
    trial[bump[undo & out]] = tech_of[bump[undo & out]]
    return trial


def _flow_arcs(
    core: Core, arcs: BoolArray | None
) -> tuple[IntArray, IntArray, IntArray]:
    """(tickets, technicians, scaled costs) of the candidate arcs ``arcs`` (all: None)."""
    c = core.cands
    if arcs is None:
        return c.tix, c.tech, core.arc_cost
    return c.tix[arcs], c.tech[arcs], core.arc_cost[arcs]


def _flow(core: Core, arcs: BoolArray | None = None) -> FlowResult:
    """The flow over the candidate arcs (``arcs``: only these), places from ``core.free``."""
    state = core.state
    n, m = core.problem.tickets.count, core.problem.technicians.count
    slot_tech, slot_cost = places(core.free, state.load, core.balance_scaled)
    tix, tech, cost = _flow_arcs(core, arcs)
    return assign_slots(n, tix, tech, cost, core.penalty, slot_tech, slot_cost, m)


def _warm_flow(
    core: Core, hint: Potentials, arcs: BoolArray | None = None
) -> tuple[FlowResult, Potentials | None]:
    """:func:`_flow` solved warm from ``hint``, potentials of an earlier optimum
    (:func:`solver.warm.warm_assign`: the same optimum, and its potentials when known)."""
    tix, tech, cost = _flow_arcs(core, arcs)
    return warm_assign(
        core.problem.tickets.count, tix, tech, cost, core.penalty, core.free,
        core.state.load, core.balance_scaled, hint,
    )  # fmt: skip


def flow_decision(
    core: Core, res: FlowResult, arcs: BoolArray | None = None
) -> IntArray:
    """Technician per ticket row of a flow solved over the candidate arcs (``arcs``)."""
    tix, tech, _ = _flow_arcs(core, arcs)
    tech_of = np.full(core.problem.tickets.count, NO_TECHNICIAN, np.int64)
    tech_of[tix[res.arc_used]] = tech[res.arc_used]
    return tech_of


def model_cost(core: Core, tech_of: IntArray) -> int:
    """Scaled cost of a decision in the flow model: its arcs, places and penalties. A
    pair of the decision that is no candidate arc (e.g. a ticket sent back to its holder
    by :func:`bound_churn`, or a committed pair dearer than its penalty) is priced as the
    flow would price it (:func:`solver.cost.evaluate_pairs`, overtime allowed)."""
    problem, c = core.problem, core.cands
    m = problem.technicians.count
    on = np.flatnonzero(tech_of >= 0)
    keys = pair_keys(c.tix, c.tech, m)
    want = pair_keys(on, tech_of[on], m)
    if np.array_equal(keys, want):  # the arcs are the decision's pairs, in row order
        arcs, missing = int(core.arc_cost.sum()), on[:0]
    else:
        order = np.argsort(keys, kind="stable")
        at = np.minimum(np.searchsorted(keys[order], want), max(keys.size - 1, 0))
        found = keys[order[at]] == want if keys.size else np.zeros(on.size, np.bool_)
        arcs = int(core.arc_cost[order[at[found]]].sum())
        missing = on[~found]
    if missing.size:
        ev, _ = evaluate_pairs(
            problem, core.params.weights, core.state, missing, tech_of[missing], True
        )
        arcs += int(to_scaled(ev.total).sum())
    count = np.bincount(tech_of[on], minlength=m)
    place_cost = places_total(count, core.state.load, core.balance_scaled)
    off = tech_of < 0  # pinned rows too: the flow prices them as unassigned
    return int(arcs + place_cost + core.penalty.compress(off).sum())


def certified_flow(core: Core) -> FlowResult:
    """Min-cost flow over the candidate arcs, extended until it is optimal over all pairs.

    After each solve every pruned pair is priced against the flow's node potentials
    (:mod:`solver.certify`); pairs with a negative reduced cost join the candidate arcs
    and the flow is solved again, until none remains (:func:`certify`).
    ``core.certificate`` records the rounds and pairs priced. With ``all_pairs`` every
    pair is an arc already.
    """
    problem, state = core.problem, core.state
    res = _flow(core)
    if core.params.all_pairs or res.status is not SolveStatus.OPTIMAL:
        return res
    movable = np.flatnonzero(~problem.tickets.pinned)
    usable = int(np.count_nonzero(state.free_slots > 0))
    if movable.size * usable <= DENSE_PAIRS_MAX:  # every useful pair is an arc already
        core.certificate = Certificate(0, movable.size * usable, 0, 0, True)
        return res
    core.pricing = pricing_groups(state, skill_groups(problem, state, movable))
    res, core.certificate, pot = certify(core, res)
    if pot is not None:
        core.hint = pot
    return res


def certify(
    core: Core,
    res: FlowResult,
    in_flow: Callable[[Core], BoolArray] | None = None,
    price: tuple[TechState, PairPrice] | None = None,
) -> tuple[FlowResult, Certificate | None, Potentials | None]:
    """Extend the optimal flow ``res`` over ``core``'s arcs until no pair has a negative
    reduced cost against its potentials, whatever pair it is.

    Each round prices every pair of ``core.pricing`` that is no arc of ``core`` against
    the flow's node potentials (:func:`solver.certify.negative_pairs`), adds the pairs
    it finds to ``core``'s arcs (alive, their costs scaled) and solves the flow again.
    ``in_flow``: which of ``core``'s arcs the flow is over (default all of them). Arcs
    of ``core`` outside the flow (e.g. dead ones) are not priced: the flow is optimal
    over every pair but those. ``price``: the state the pricing's bounds read and the
    pairs' pricing (``negative_pairs``' ``state`` and ``pair_price``), when the flow is
    not the first-in-queue one; default the first-in-queue evaluation in ``core.state``.
    Each re-solve is warm from the last potentials (:func:`_warm_flow`).

    Returns
    -------
    tuple
        The last flow; its :class:`solver.certify.Certificate` (None when a re-solve
        was not optimal); the potentials that proved it (None when unproven).
    """
    problem, state = core.problem, core.state
    n, m = problem.tickets.count, problem.technicians.count
    groups = core.pricing or []
    rounds = evaluated = added = priced = 0
    pot: Potentials | None = None
    last: Potentials | None = None  # the previous round's: its pricing bounds this one
    # of every arc; the candidates come in pair order, then each round's pairs in
    # theirs: numpy's stable sort (a merge of runs) takes 1.5 ms where its default
    # one took 76 (50k x 5k)
    keys = np.sort(pair_keys(core.cands.tix, core.cands.tech, m), kind="stable")
    while True:
        rounds += 1
        c = core.cands
        if pot is None:
            tix, tech, cost = _flow_arcs(
                core, None if in_flow is None else in_flow(core)
            )
            pot = potentials(
                n, tix, tech, cost, res.arc_used, core.penalty, core.free, state.load,
                core.balance_scaled,
            )  # fmt: skip
        if pot is None:
            return res, Certificate(rounds, priced, evaluated, added, False), None
        bounds, pair_price = (state, None) if price is None else price
        nt, nk, nc, priced, ev, neg = negative_pairs(
            problem, core.params, bounds, groups, keys, *pot,
            CERTIFY_SLACK if price is None else ROUND_SLACK,
            core.deadline, last, pair_price=pair_price,
        )  # fmt: skip
        last = pot
        evaluated += ev
        if neg < 0:  # the time limit stopped the pricing: nothing proven
            return res, Certificate(rounds, priced, evaluated, added, False), None
        if neg == 0:
            return res, Certificate(rounds, priced, evaluated, added, True), pot
        added += nt.size
        keys = _merged(keys, np.sort(pair_keys(nt, nk, m), kind="stable"))
        any_f = c.any_feasible.copy()
        any_f[nt] = True
        core.cands = Candidates(
            np.concatenate([c.tix, nt]), np.concatenate([c.tech, nk]),
            np.concatenate([c.cost, nc]), any_f,
        )  # fmt: skip
        core.clipped |= clips(nc)
        core.arc_cost = np.concatenate([core.arc_cost, to_scaled(nc)])
        core.alive = np.concatenate([core.alive, np.ones(nt.size, np.bool_)])
        res, pot = _warm_flow(core, pot, None if in_flow is None else in_flow(core))
        if res.status is not SolveStatus.OPTIMAL:
            return res, None, None


def _merged(keys: IntArray, more: IntArray) -> IntArray:
    """The sorted ``keys`` and sorted ``more`` in one sorted array: what sorting them
    together gives, without sorting every arc's key again each pricing round (at 50k x
    5k each sort took ~23 ms; a certification prices up to four times)."""
    return np.insert(keys, np.searchsorted(keys, more), more)


def repair_shifts(
    core: Core,
    tech_of: IntArray,
    scope: BoolArray | None = None,
    fill_rounds: int = REFILL_ROUNDS,
    rounds: int = REPAIR_ROUNDS,
) -> tuple[IntArray, SolveStatus]:
    """Remove shift overruns found by sequencing; re-place the displaced tickets locally.

    A technician whose sequenced queue overruns its shift keeps only as many places as
    its fitting tickets used (``core.free``); the overrunning (ticket, technician) arcs die
    (``core.alive``) and the neighbourhood of the displaced tickets is re-solved exactly
    (:func:`local_resolve`). After ``rounds`` (default ``REPAIR_ROUNDS``) the remaining
    overruns are left unassigned (their reasons are the judge's,
    :func:`solver.reasons.judge`, as every unassigned row's) and the status is
    FEASIBLE. ``scope``
    (per technician): only these queues can have changed since they were last checked
    (default: all); ``fill_rounds``: rounds of the final :func:`refill`.
    """
    problem, state, c = core.problem, core.state, core.cands
    status = SolveStatus.OPTIMAL
    m = problem.technicians.count
    if core.params.allow_overtime or m == 0:
        return tech_of, status
    fill_scope = None if scope is None else scope.copy()
    scope = np.ones(m, np.bool_) if scope is None else scope.copy()
    for rnd in range(rounds + 1):
        rows = np.flatnonzero((tech_of >= 0) & scope[np.maximum(tech_of, 0)])
        if not np.isfinite(problem.technicians.shift_end_s[tech_of[rows]]).any():
            # no queue here has a shift end to overrun: nothing to sequence or repair
            return refill(core, tech_of, fill_scope, fill_rounds), status
        sch = sequence_queues(
            problem, core.late, rows, tech_of[rows],
            state.lat_deg, state.lon_deg, state.ready_s, False,
        )  # fmt: skip
        bad = rows[sch.overrun]
        if bad.size == 0:
            return refill(core, tech_of, fill_scope, fill_rounds), status
        tech_of = tech_of.copy()
        if rnd == rounds:
            tech_of[bad] = NO_TECHNICIAN
            return refill(core, tech_of, fill_scope, fill_rounds), SolveStatus.FEASIBLE
        hit = np.unique(tech_of[bad])
        fits = np.bincount(tech_of[rows[~sch.overrun]], minlength=m)
        core.free[hit] = fits[hit]
        gone = np.zeros(problem.tickets.count, np.bool_)
        gone[bad] = True
        of_bad = np.flatnonzero(gone[c.tix])  # the overrunning tickets' arcs
        core.alive[of_bad[c.tech[of_bad] == tech_of[c.tix[of_bad]]]] = False
        tech_of[bad] = NO_TECHNICIAN
        before = tech_of
        tech_of, status, _ = local_resolve(
            c.tix, c.tech, core.arc_cost, core.penalty, core.free,
            state.load, core.balance_scaled, tech_of, bad, REPAIR_HOPS,
            REPAIR_SEED_ARCS if bad.size > REPAIR_WIDE else None, core.alive,
        )  # fmt: skip
        scope = changed_techs(before, tech_of, m)
        if fill_scope is not None:
            fill_scope |= scope
        if status is not SolveStatus.OPTIMAL:
            break
    return tech_of, status


def changed_techs(before: IntArray, after: IntArray, m: int) -> BoolArray:
    """Technicians whose set of tickets differs between two decisions (per technician)."""
    diff = before != after
    out = np.zeros(m, np.bool_)
    out[before[diff & (before >= 0)]] = True
    out[after[diff & (after >= 0)]] = True
    return out


def overrunning(core: Core, tech_of: IntArray, techs: BoolArray) -> BoolArray:
    """Which of ``techs`` (a mask) have a queue in ``tech_of`` that, sequenced, overruns
    its shift (:func:`solver.sequence.queues_overrun`). A queue whose work alone (its
    durations from the technician's ready time, no travel, no waiting) ends after the
    shift by more than the float sums' rounding (``QUEUE_MARGIN_S``, widened for far
    clocks) overruns in every order: it is not driven. Most queues the refill tries
    are such (at 10k x 1k: 1,727 of its 2,342 trials)."""
    state, k = core.state, core.problem.technicians
    duration = core.problem.tickets.duration_s
    rows = np.flatnonzero((tech_of >= 0) & techs.take(np.maximum(tech_of, 0)))
    work = np.bincount(tech_of[rows], duration[rows], minlength=k.count)
    end = np.asarray(k.shift_end_s, np.float64)
    held = np.bincount(tech_of[rows], minlength=k.count) > 0  # (an empty one never)
    sure = held & (state.ready_s + work > end + (QUEUE_MARGIN_S + 1e-9 * np.abs(end)))
    rows = rows[~sure[tech_of[rows]]]
    over = queues_overrun(
        core.problem, core.late, rows, tech_of[rows],
        state.lat_deg, state.lon_deg, state.ready_s,
    )  # fmt: skip
    return over | sure


def best_first(group: IntArray, gain: IntArray) -> IntArray:
    """The order of items by ``group``, then ``gain`` highest first, ties in item order:
    ``np.lexsort((-gain, group))`` as one stable order of a combined int64 key
    (:func:`solver.ordering.stable_order`) when that key fits, else that lexsort."""
    if gain.size == 0:
        return np.zeros(0, np.int64)
    low, high = int(gain.min()), int(gain.max())
    span = high - low + 1
    if span * (int(group.max()) + 1) >= 2**62 or int(group.min()) < 0:
        return np.asarray(np.lexsort((-gain, group)), np.int64)
    return stable_order(group * span + (high - gain))


def _offerable(
    core: Core,
    tech_of: IntArray,
    count: IntArray,
    a_tix: IntArray,
    a_tech: IntArray,
    base_gain: IntArray,
) -> tuple[BoolArray, FloatArray]:
    """Which arcs (tickets ``a_tix``, technicians ``a_tech``, penalty minus arc cost
    ``base_gain``) :func:`refill` can offer with ``count`` tickets per technician: the
    ticket unassigned, the technician with room, a gain after the place cost; and the
    scaled cost of each technician's next place."""
    state = core.state
    place_cost = np.rint(core.balance_scaled * (count + state.load).astype(np.float64))
    ok = (
        (tech_of[a_tix] < 0)
        & (count < state.free_slots)[a_tech]
        & (base_gain > place_cost[a_tech])
    )
    return ok, place_cost


def refill(
    core: Core,
    tech_of: IntArray,
    scope: BoolArray | None = None,
    rounds: int = REFILL_ROUNDS,
) -> IntArray:
    """Greedily add unassigned tickets to technicians with room, keeping every shift.

    Each round offers every technician with room its best remaining arc (largest saving
    against the unassigned penalty, after the place cost), each ticket to its best offer;
    an insertion is kept when the re-sequenced queue still ends within the shift, and a
    rejected arc is not offered again. Recovers places the shift repair's conservative
    capacity cut left empty. Never makes the objective worse. ``scope``: only offer places
    of these technicians (default: all); ``rounds``: at most this many rounds.
    """
    if rounds == 0:
        return tech_of
    problem, c = core.problem, core.cands
    m = problem.technicians.count
    # Work on the candidate arcs that could ever be offered: alive, in scope, whose
    # ticket is unassigned now (tickets only get assigned during the refill).
    sub = core.alive & (tech_of[c.tix] < 0)
    if scope is not None:
        sub &= scope[c.tech]
    idx = np.flatnonzero(sub)
    a_tix, a_tech = c.tix[idx], c.tech[idx]
    base_gain = core.penalty[a_tix] - core.arc_cost[idx]
    arc = np.arange(idx.size)  # ties between offers go to the first arc
    count = np.bincount(tech_of.compress(tech_of >= 0), minlength=m)
    # A technician's arcs all pay the same place cost in a round, so they rank by their
    # base gain (ties by arc) in every round: the arcs that can be offered now, sorted
    # once, by technician, best first.
    keep = np.flatnonzero(_offerable(core, tech_of, count, a_tix, a_tech, base_gain)[0])
    keep = keep[best_first(a_tech[keep], base_gain[keep])]
    arc, a_tix, a_tech, base_gain = (x[keep] for x in (arc, a_tix, a_tech, base_gain))
    offered = np.zeros(arc.size, np.bool_)
    for _ in range(rounds):
        # An arc out of the offers (its ticket placed, its technician full, no gain at
        # its place, offered once) never returns: each round masks the sorted arcs.
        ok, place_cost = _offerable(core, tech_of, count, a_tix, a_tech, base_gain)
        live = np.flatnonzero(ok & ~offered)
        if live.size == 0:
            break
        arcs = live[np.r_[True, a_tech[live][1:] != a_tech[live][:-1]]]  # best per tech
        gain = base_gain[arcs] - place_cost[a_tech[arcs]]
        arcs = arcs[np.lexsort((arc[arcs], -gain, a_tix[arcs]))]
        arcs = arcs[np.r_[True, a_tix[arcs][1:] != a_tix[arcs][:-1]]]  # best per ticket
        trial = tech_of.copy()
        trial[a_tix[arcs]] = a_tech[arcs]
        hit = np.zeros(m, np.bool_)
        hit[a_tech[arcs]] = True
        over = overrunning(core, trial, hit)
        good = arcs[~over[a_tech[arcs]]]
        tech_of = tech_of.copy()
        tech_of[a_tix[good]] = a_tech[good]
        offered[arcs] = True
        count = np.bincount(tech_of.compress(tech_of >= 0), minlength=m)
        core.free = np.maximum(core.free, count)
    return tech_of
