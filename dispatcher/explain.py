"""Explain: why a ticket went to whom, from the live state, with the solver's own cost model.

``explain_ticket`` reads the ticket's region (the same snapshot the solve loop reads),
builds the same ``solver.Problem`` (``loop.solve_loop.build_problem``) and a ``Solution`` that is
the *committed* state (each ticket with the technician and queue place the store holds), and
asks ``solver.explain.explain`` for the chosen technician's cost terms and the cheapest
alternatives. It explains the decision in force, not a fresh solve. Tickets outside the
problem (in progress, held back as a duplicate, closed) get the stored decision only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from dispatcher.domain import Assignment, CostTerm, MoveReason, Ticket, TicketStatus
from dispatcher.domain import UnassignedReason as DomainReason
from dispatcher.loop.problem import build_problem
from dispatcher.loop.snapshot import views_from_snapshot
from solver.explain import explain
from solver.model import NO_TECHNICIAN, SolveStats, SolveStatus, UnassignedReason

if TYPE_CHECKING:
    from dispatcher.loop.problem import IndexMaps
    from dispatcher.store.policy import PolicyStore
    from dispatcher.store.state import RedisStateStore
    from solver.explain import Option
    from solver.model import Problem, Solution

_SOLVER_REASON = {
    DomainReason.NONE: UnassignedReason.ASSIGNED,
    DomainReason.NOT_YET_SOLVED: UnassignedReason.PENALTY_CHEAPER,
    DomainReason.NO_TECHNICIANS: UnassignedReason.NO_TECHNICIANS,
    DomainReason.NO_SKILL: UnassignedReason.NO_SKILL,
    DomainReason.EXCLUDED: UnassignedReason.EXCLUDED,
    DomainReason.SHIFT: UnassignedReason.SHIFT,
    DomainReason.CAPACITY: UnassignedReason.CAPACITY,
    DomainReason.PENALTY_CHEAPER: UnassignedReason.PENALTY_CHEAPER,
    DomainReason.DECLINED: UnassignedReason.EXCLUDED,  # declines exclude technicians
}
_VIOLATION_REASON = {
    "skill": DomainReason.NO_SKILL,
    "excluded": DomainReason.EXCLUDED,
    "shift": DomainReason.SHIFT,
    "unavailable": DomainReason.NO_TECHNICIANS,
}


@dataclass(frozen=True, slots=True)
class Alternative:
    """A technician the ticket could go to, with what it would cost."""

    technician_id: str
    cost_terms: tuple[CostTerm, ...]
    total_cost: float
    feasible: bool
    infeasible_reason: DomainReason = DomainReason.NONE
    why_not: str = ""  # why the plan did not give it the ticket (solver.explain.Option)


@dataclass(frozen=True, slots=True)
class TicketExplanation:
    """The answer of ExplainAssignment, in domain types."""

    ticket: Ticket
    chosen: Assignment | None
    alternatives: tuple[Alternative, ...]
    unassigned_reason: DomainReason
    unassigned_penalty: float
    summary: str


def _terms(option: Option) -> tuple[CostTerm, ...]:
    return tuple(CostTerm(k, float(v)) for k, v in option.terms.items() if v != 0.0)


def committed_solution(
    problem: Problem, maps: IndexMaps, tickets: dict[str, Ticket]
) -> Solution:
    """The store's current decisions as a ``solver.Solution`` over ``problem``'s rows."""
    from solver.model import Solution

    n = problem.tickets.count
    tech_row = maps.technician_row()
    technician = np.full(n, NO_TECHNICIAN, dtype=np.int64)
    position = np.full(n, -1, dtype=np.int64)
    times = np.full((3, n), np.nan)
    sla_met = np.zeros(n, dtype=np.bool_)
    reason = np.zeros(n, dtype=np.int64)
    for i, ticket_id in enumerate(maps.ticket_ids):
        t = tickets[ticket_id]
        a = t.assignment
        row = (
            tech_row.get(a.technician_id, NO_TECHNICIAN)
            if a is not None
            else NO_TECHNICIAN
        )
        if a is not None and row != NO_TECHNICIAN:
            technician[i], position[i], sla_met[i] = (
                row,
                a.position,
                a.sla_predicted_met,
            )
            for k, ms in enumerate(
                (a.expected_arrival_ms, a.expected_start_ms, a.expected_finish_ms)
            ):
                times[k, i] = ms / 1000.0 if ms else math.nan
        else:
            reason[i] = _SOLVER_REASON[t.unassigned_reason]
    return Solution(
        technician=technician,
        position=position,
        arrival_s=times[0],
        start_s=times[1],
        finish_s=times[2],
        sla_met=sla_met,
        reason=reason,
        objective=0.0,
        objective_terms={},
        stats=SolveStats(SolveStatus.FEASIBLE, 0.0, 0, n, problem.technicians.count),
    )


async def explain_ticket(
    store: RedisStateStore,
    policies: PolicyStore,
    tenant: str,
    ticket_id: str,
    max_alternatives: int = 3,
) -> TicketExplanation:
    """Explain a ticket of ``tenant`` (``UnknownTicket`` when it does not exist)."""
    ticket = await store.get_ticket(tenant, ticket_id)
    region = ticket.region
    stored = TicketExplanation(
        ticket, ticket.assignment, (), ticket.unassigned_reason, 0.0, ""
    )
    if ticket.status not in (
        TicketStatus.QUEUED,
        TicketStatus.ASSIGNED,
        TicketStatus.ACCEPTED,
    ):
        return replace(
            stored, summary=f"ticket {ticket_id} is {ticket.status.value.lower()}"
        )
    policy = (await policies.effective(tenant, region)).policy
    snap = await store.snapshot(tenant, region)
    ticket_views, tech_views = views_from_snapshot(snap, policy, snap.taken_at_ms)
    problem, maps, _ = build_problem(
        ticket_views, tech_views, snap.taken_at_ms / 1000.0
    )
    if ticket_id not in maps.ticket_ids:
        why = "held back as a duplicate of " + ticket.duplicate_of_ticket_id
        return replace(stored, summary=f"ticket {ticket_id} is not dispatched: {why}")
    by_id = {t.ticket_id: t for t in snap.tickets}
    ticket = by_id.get(ticket_id, ticket)
    solution = committed_solution(problem, maps, by_id)
    row = maps.ticket_ids.index(ticket_id)
    result = explain(
        problem, policy.solve_params(), solution, row, max(0, max_alternatives)
    )
    names = maps.technician_ids
    alternatives = tuple(
        Alternative(
            technician_id=names[o.technician],
            cost_terms=_terms(o),
            total_cost=o.total,
            feasible=o.feasible and not o.at_capacity and not o.overruns,
            infeasible_reason=_infeasible_reason(o),
            why_not=o.why_not,
        )
        for o in _one_per_technician(result.alternatives, names, ticket)
    )
    chosen = ticket.assignment
    best = result.chosen
    if best is not None and chosen is not None:
        chosen = replace(chosen, cost_terms=_terms(best), total_cost=best.total)
        top = max(best.terms, key=lambda k: abs(best.terms[k]))
        summary = (
            f"{ticket_id} -> {chosen.technician_id} (queue place {chosen.position}), "
            f"cost {best.total:.1f}, mostly {top}"
        )
        if alternatives:
            summary += f"; next best {alternatives[0].technician_id} at {alternatives[0].total_cost:.1f}"
        summary += _moved(chosen)
    else:
        summary = (
            f"{ticket_id} unassigned: {_unassigned_text(ticket)}"
            f" (leaving it costs {result.unassigned_penalty:.1f})"
        )
    return TicketExplanation(
        ticket=ticket,
        chosen=chosen,
        alternatives=alternatives,
        unassigned_reason=ticket.unassigned_reason,
        unassigned_penalty=result.unassigned_penalty,
        summary=summary,
    )


def _infeasible_reason(o: Option) -> DomainReason:
    """The domain reason of an option's first broken rule (NONE when it breaks none)."""
    if o.violations:
        return _VIOLATION_REASON.get(o.violations[0], DomainReason.NONE)
    if o.at_capacity:
        return DomainReason.CAPACITY
    return DomainReason.SHIFT if o.overruns else DomainReason.NONE


def _unassigned_text(ticket: Ticket) -> str:
    reason = ticket.unassigned_reason
    if reason is DomainReason.DECLINED:
        who = ", ".join(ticket.declined_by_technician_ids)
        return (
            f"declined by every able technician ({who}) again after a supervisor "
            "overrode its declines (no tier anybody serves is left)"
        )
    return reason.value.lower() or "not yet solved"


def _moved(a: Assignment) -> str:
    """Why a solve moved the ticket to its technician, for the summary ('' if not moved)."""
    if a.move_reason is MoveReason.GAIN:
        return f"; moved here from another technician: gain {a.move_gain:.1f}"
    if a.move_reason is MoveReason.PREVIOUS_UNABLE:
        return "; moved here: its previous technician could no longer take it"
    return ""


def _one_per_technician(
    options: tuple[Option, ...], names: tuple[str, ...], ticket: Ticket
) -> list[Option]:
    """The cheapest option per technician (its lanes are rows of their own), never the
    ticket's own technician."""
    own = ticket.assignment.technician_id if ticket.assignment else ""
    seen: set[str] = {own} if own else set()
    out: list[Option] = []
    for o in options:
        if names[o.technician] not in seen:
            seen.add(names[o.technician])
            out.append(o)
    return out
