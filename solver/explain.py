"""Explanations: why a ticket went to whom (its cost terms) and what the alternatives cost.

Every technician is priced at the place the ticket would really take in its queue as the
plan sequences it (:func:`insertion_prices`): the ticket is inserted into that queue, the
queue is sequenced again (:func:`solver.sequence.sequence_queues`, the solution's own
sequencing) and costed with the evaluation of a plan as driven
(:func:`solver.position.queue_costs`: each stop's terms at its chained travel, start and
finish, plus the balance of its places). An option's total is what the ticket adds to that
queue: its own terms at its place, the place's balance, and ``queue_others``, the change
in the cost of the queue's other tickets (the delay it causes them, re-routed travel). The
chosen technician is priced the same way (its queue with the ticket against without), so
the totals compare, and each alternative's ``why_not`` agrees with its price.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from solver.cost import (
    PAIR_TERMS,
    below_min_gain,
    drop_penalty,
    evaluate_pairs,
    late_pricing,
    pair_total,
    terms_at,
)
from solver.model import NO_TECHNICIAN, Problem, Solution, SolveParams, UnassignedReason
from solver.position import held_gains, movable_plan, plan_queues
from solver.sequence import sequence_queues
from solver.solve import tech_state

if TYPE_CHECKING:
    import numpy.typing as npt

    from solver.cost import TechState

    IntArray = npt.NDArray[np.int64]
    FloatArray = npt.NDArray[np.float64]
    BoolArray = npt.NDArray[np.bool_]

OTHERS = "queue_others"
"""Term name: the change in the cost of the queue's other tickets when the ticket joins."""


@dataclass(frozen=True, slots=True)
class Option:
    """One technician for the explained ticket: its cost terms (weight units) by name."""

    technician: int
    total: float  # sum of ``terms``: what the ticket adds to that queue as sequenced
    terms: dict[
        str, float
    ]  # PAIR_TERMS at its place + "balance" (that place) + OTHERS (the rest of the queue)
    feasible: (
        bool  # every hard constraint holds (skills, exclusion, shift, availability)
    )
    at_capacity: bool  # its queue is full in the solution being explained
    violations: tuple[str, ...]  # names of the hard constraints it breaks, if any
    why_not: str = ""  # for an alternative: why the plan did not give it this ticket
    overruns: bool = (
        False  # for an alternative: its queue with the ticket overruns the shift
    )
    place: int = -1  # 0-based place the ticket takes (would take) in that queue


@dataclass(frozen=True, slots=True)
class Insertion:
    """The ticket inserted into each priced technician's sequenced queue."""

    total: FloatArray  # what it adds to the queue's cost as driven (weight units)
    terms: dict[str, FloatArray]  # PAIR_TERMS at its place, "balance", OTHERS
    overrun: BoolArray  # the queue overruns the shift with it, not without it
    place: IntArray  # its 0-based place in that queue (pinned work included)


def insertion_prices(
    problem: Problem,
    params: SolveParams,
    state: TechState,
    technician: IntArray,
    row: int,
    techs: IntArray,
) -> Insertion:
    """Price ticket ``row`` in each of ``techs``' queues of the plan ``technician``.

    Each queue (its movable tickets, ``row`` left out) is sequenced without and with
    ``row`` (shift ends checked unless ``params.allow_overtime``), every stop priced at its
    chained travel, start and finish (:func:`solver.cost.terms_at`) plus the balance of
    the places (the evaluation of :func:`solver.position.queue_costs`).
    """
    t, w = problem.tickets, params.weights
    m = problem.technicians.count
    pick = np.zeros(m, np.bool_)
    pick[techs] = True
    keep = (technician >= 0) & ~t.pinned
    keep[row] = False
    keep &= pick[np.maximum(technician, 0)]
    base = np.flatnonzero(keep)
    base_tech = technician[base]
    late = late_pricing(problem, w)

    def drive(
        tix: IntArray, tech: IntArray
    ) -> tuple[FloatArray, dict[str, FloatArray], BoolArray, IntArray]:
        sch = sequence_queues(
            problem, late, tix, tech, state.lat_deg, state.lon_deg, state.ready_s,
            params.allow_overtime,
        )  # fmt: skip
        terms = terms_at(problem, w, tix, tech, sch.travel_s, sch.start_s, sch.finish_s)
        stop = pair_total(terms)
        over = np.bincount(tech[sch.overrun], minlength=m) > 0
        cost = np.asarray(np.bincount(tech, stop, m), np.float64)
        return cost, terms, over, sch.position

    before, _, over_before, _ = drive(base, base_tech)
    tix = np.concatenate([base, np.full(techs.size, row, np.int64)])
    tech = np.concatenate([base_tech, techs])
    after, terms, over_after, position = drive(tix, tech)
    own = np.arange(base.size, tix.size)
    held = np.bincount(base_tech, minlength=m)[techs]
    out = {name: np.asarray(terms[name][own], np.float64) for name in PAIR_TERMS}
    out["balance"] = w.balance * (state.load[techs] + held).astype(np.float64)
    own_total = pair_total(out)
    out[OTHERS] = after[techs] - own_total - before[techs]
    total = np.sum(list(out.values()), axis=0)
    return Insertion(
        np.asarray(total, np.float64), out, over_after[techs] & ~over_before[techs],
        np.asarray(position[own] + state.load[techs], np.int64),
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why ``ticket`` got ``technician`` (or none), with the best alternatives."""

    ticket: int
    technician: int  # NO_TECHNICIAN when unassigned
    reason: UnassignedReason
    chosen: Option | None
    alternatives: tuple[Option, ...]  # cheapest other feasible technicians, best first;
    # when all of those are full, the last half are the cheapest ones with a free place
    unassigned_penalty: (
        float  # what leaving it unassigned costs (incl. stability if held)
    )
    summary: str  # one sentence for people


def explain(
    problem: Problem,
    params: SolveParams,
    solution: Solution,
    ticket_row: int,
    alternatives: int = 3,
) -> Explanation:
    """Explain one ticket's decision in ``solution``: every technician priced at the place
    the ticket takes (would take) in its queue as sequenced (module doc).

    Parameters
    ----------
    problem, params
        The instance and parameters that produced ``solution``.
    solution
        The solution to explain (from :func:`solver.solve` or a baseline policy).
    ticket_row
        Row of the ticket in ``problem.tickets``.
    alternatives
        How many next-best feasible technicians to list (>= 0).

    Returns
    -------
    Explanation
        The chosen technician's terms, the alternatives' terms and, when unassigned,
        the binding reason (from ``solution.reason``).

    Raises
    ------
    ValueError
        If ``ticket_row`` is out of range, ``alternatives`` < 0, or ``solution`` does not
        match ``problem``.
    """
    n, m = problem.tickets.count, problem.technicians.count
    if solution.technician.shape != (n,):
        raise ValueError("solution: ticket count does not match problem")
    if not 0 <= ticket_row < n:
        raise ValueError(f"ticket_row: {ticket_row} not in [0, {n})")
    if alternatives < 0:
        raise ValueError("alternatives: must be >= 0")
    w = params.weights
    state = tech_state(problem, w)
    techs = np.arange(m, dtype=np.int64)
    rows = np.full(m, ticket_row, np.int64)
    ev, first_terms = evaluate_pairs(
        problem, w, state, rows, techs, params.allow_overtime, with_terms=True
    )
    assigned = solution.technician
    count = np.bincount(assigned[assigned >= 0], minlength=m)
    chosen_tech = int(assigned[ticket_row])
    available = problem.technicians.available
    at_cap = count >= problem.technicians.capacity
    pinned = bool(problem.tickets.pinned[ticket_row])
    ok = ev.qualified & available
    priced = np.flatnonzero(ok | (techs == chosen_tech))
    ins = insertion_prices(problem, params, state, assigned, ticket_row, priced)
    churn_ok = ev.churn_ok & _churn_ok_at_place(
        problem, params, state, solution, ticket_row, priced, ins, first_terms
    )
    total = np.full(m, np.inf)
    total[priced] = ins.total
    pen = float(drop_penalty(problem, w)[ticket_row])
    # each technician's price for the ticket as the solve's assignment prices it: first
    # in its queue (right after the pinned work), at the next place's balance
    movable = assigned[(assigned >= 0) & ~problem.tickets.pinned]
    places = state.load + np.bincount(movable, minlength=m)
    first_price = ev.total + w.balance * places

    def option(i: int, chosen_total: float | None = None) -> Option:
        at = int(np.searchsorted(priced, i))
        if pinned and i == chosen_tech:  # its schedule heads the queue: first-in-queue
            tt = {name: float(first_terms[name][i]) for name in PAIR_TERMS}
            tt["balance"] = w.balance * float(solution.position[ticket_row])
        else:
            tt = {name: float(v[at]) for name, v in ins.terms.items()}
        viol = [
            name
            for name, bad in (
                ("skill", not ev.skill_ok[i]),
                ("excluded", bool(ev.excluded[i])),
                ("shift", not ev.shift_ok[i]),
                ("unavailable", not available[i]),
            )
            if bad
        ]
        overruns = i != chosen_tech and bool(ins.overrun[at])
        total_i = float(sum(tt.values()))
        why = _why_not(
            WhyNot(
                total_i, bool(at_cap[i]), viol, overruns, pinned, bool(churn_ok[i]),
                float(first_price[i]),
            ),
            w.move_min_gain, chosen_total, pen,
        )  # fmt: skip
        return Option(
            i, total_i, tt, not viol, bool(at_cap[i]), tuple(viol), why, overruns,
            int(ins.place[at]),
        )  # fmt: skip

    others = np.flatnonzero(ok & (techs != chosen_tech))
    others = others[np.lexsort((others, total[others]))]
    best = others[:alternatives]
    with_room = others[~at_cap[others]][: max(1, alternatives // 2)]
    if alternatives and with_room.size and at_cap[best].all():
        # every cheapest one is full: make room in the list for those with a place
        best = np.concatenate([best[: alternatives - with_room.size], with_room])
    chosen = option(chosen_tech) if chosen_tech >= 0 else None
    ref = chosen.total if chosen is not None else None
    alts = tuple(option(int(i), ref) for i in best)
    reason = UnassignedReason(int(solution.reason[ticket_row]))
    if chosen is not None:
        top = max(chosen.terms, key=lambda k: abs(chosen.terms[k]))
        summary = (
            f"ticket {ticket_row} -> technician {chosen_tech} (queue place "
            f"{int(solution.position[ticket_row])}), cost {chosen.total:.1f}, mostly {top}"
        )
        if alts:
            summary += (
                f"; next best technician {alts[0].technician} at {alts[0].total:.1f}"
            )
    else:
        summary = (
            f"ticket {ticket_row} unassigned: {reason.name.lower()} (penalty {pen:.1f})"
        )
    return Explanation(
        ticket_row,
        chosen_tech if chosen else NO_TECHNICIAN,
        reason,
        chosen,
        alts,
        pen,
        summary,
    )


def _churn_ok_at_place(
    problem: Problem,
    params: SolveParams,
    state: TechState,
    solution: Solution,
    row: int,
    priced: IntArray,
    ins: Insertion,
    first_terms: dict[str, FloatArray],
) -> BoolArray:
    """Per technician, whether moving ticket ``row`` into its queue passes the churn rule
    at the place it would take there (its insertion place; the rule's first-in-queue
    travel, :func:`solver.position.held_gains`) against its holder's place in the
    solution's plan: the rule the solve holds its moves to (with the first-in-queue
    screen, :attr:`solver.cost.PairEval.churn_ok`)."""
    w = params.weights
    ok = np.ones(problem.technicians.count, np.bool_)
    if w.move_min_gain <= 0 or priced.size == 0:
        return ok
    plan = movable_plan(problem, solution.technician)
    queues = plan_queues(
        problem, late_pricing(problem, w), state, plan, params.allow_overtime
    )
    at_place = [ins.terms[name] for name in PAIR_TERMS if name != "travel"]
    cost = np.sum(at_place, axis=0) + first_terms["travel"][priced]
    rows = np.full(priced.size, row, np.int64)
    gain = held_gains(
        problem, w, state, state.free_slots, rows, priced, cost, plan, queues,
        params.allow_overtime,
    )  # fmt: skip
    ok[priced] = ~below_min_gain(gain, w)
    return ok


@dataclass(frozen=True, slots=True)
class WhyNot:
    """What decides why an alternative technician did not get the ticket."""

    total: float  # its insertion price
    full: bool
    violations: list[str]
    overruns: bool  # its queue with the ticket would overrun the shift
    pinned: bool  # the ticket is accepted: it stays where it is
    churn_ok: bool  # a move there passes the bounded-churn rule
    first_price: float = float("nan")  # the pair's price first in the queue (the flow's
    # arc and place: how the solve's assignment prices a placement)


def _why_not(
    case: WhyNot, min_gain: float, chosen_total: float | None, penalty: float
) -> str:
    """Why an alternative technician did not get the ticket, in one phrase that agrees
    with its insertion price (``case.total``)."""
    if case.violations:
        return "breaks " + ", ".join(case.violations)
    if case.pinned:
        return "the ticket is accepted by its technician: it is never moved"
    if case.full:
        return "queue full with tickets it serves better"
    if case.overruns:
        return "its shift would overrun with the ticket in its queue"
    if chosen_total is not None and case.total >= chosen_total:
        return f"dearer by {case.total - chosen_total:.1f} at its place in that queue"
    if not case.churn_ok:  # not dearer: the churn rule is why it stays
        return f"a move there gains less than move_min_gain ({min_gain:g})"
    if chosen_total is not None:
        return (
            f"cheaper by {chosen_total - case.total:.1f} at its place in that queue as"
            " it stands: a move the last solve did not make (the queues changed since,"
            " or it was outside the moves the solve tries)"
        )
    if case.total >= penalty:
        return (
            f"costs {case.total:.1f}, more than leaving it unassigned ({penalty:.1f})"
        )
    if case.first_price >= penalty:
        return (
            f"costs {case.total:.1f} < penalty {penalty:.1f} at its place in that queue as"
            f" driven, but {case.first_price:.1f} first in the queue, as the solve's"
            " assignment prices a placement (travel from the technician's position):"
            " above the penalty, so the solve left it"
        )
    return (
        f"costs {case.total:.1f} < penalty {penalty:.1f} at its place in that queue as it"
        " stands: a placement the solve did not make (the queues changed since it, or"
        " it was outside the moves the solve tries)"
    )
