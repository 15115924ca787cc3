"""Explanations: why a ticket went to whom (its cost terms) and what the alternatives cost."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solver.cost import PAIR_TERMS, drop_penalty, evaluate_pairs
from solver.model import NO_TECHNICIAN, Problem, Solution, SolveParams, UnassignedReason
from solver.solve import tech_state


@dataclass(frozen=True, slots=True)
class Option:
    """One technician for the explained ticket: its cost terms (weight units) by name."""

    technician: int
    total: float  # sum of ``terms``
    terms: dict[
        str, float
    ]  # PAIR_TERMS + "balance" (the queue place it takes / would take)
    feasible: (
        bool  # every hard constraint holds (skills, exclusion, shift, availability)
    )
    at_capacity: bool  # its queue is full in the solution being explained
    violations: tuple[str, ...]  # names of the hard constraints it breaks, if any
    why_not: str = ""  # for an alternative: why the plan did not give it this ticket


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
    """Explain one ticket's decision in ``solution`` with the same cost model the solver used.

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
    ev, terms = evaluate_pairs(
        problem, w, state, rows, techs, params.allow_overtime, with_terms=True
    )
    assigned = solution.technician
    count = np.bincount(assigned[assigned >= 0], minlength=m)
    chosen_tech = int(assigned[ticket_row])
    place = count.copy()  # an alternative would join the end of that queue
    if chosen_tech >= 0:
        place[chosen_tech] = int(solution.position[ticket_row])
    balance = w.balance * place
    available = problem.technicians.available
    at_cap = count >= problem.technicians.capacity

    pen = float(drop_penalty(problem, w)[ticket_row])

    def option(i: int, chosen_total: float | None = None) -> Option:
        tt = {name: float(terms[name][i]) for name in PAIR_TERMS}
        tt["balance"] = float(balance[i])
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
        total = float(sum(tt.values()))
        why = _why_not(total, bool(at_cap[i]), viol, chosen_total, pen)
        if not viol and not ev.churn_ok[i]:
            why = f"a move there gains less than move_min_gain ({w.move_min_gain:g})"
        return Option(
            i, total, tt, not viol, bool(at_cap[i]), tuple(viol), why,
        )  # fmt: skip

    ok = ev.qualified & available
    total = ev.total + balance
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


def _why_not(
    total: float,
    full: bool,
    violations: list[str],
    chosen_total: float | None,
    penalty: float,
) -> str:
    """Why an alternative technician did not get the ticket, in one phrase."""
    if violations:
        return "breaks " + ", ".join(violations)
    if full:
        return "queue full with tickets it serves better"
    if chosen_total is not None:
        return f"costs {total - chosen_total:+.1f} against the chosen technician"
    if total >= penalty:
        return f"costs {total:.1f}, more than leaving it unassigned ({penalty:.1f})"
    return (
        f"costs {total:.1f} < penalty {penalty:.1f}, but its free place saves more"
        " for other tickets in the plan"
    )
