"""SLA clock rules on stored tickets: their due times and the escalation of one every able
technician declined.

The rules themselves are pure functions in ``solver.sla`` (which the simulator calls too);
this module applies them to a ``dispatcher.domain.Ticket``. The solve loop
(``loop.sla_step``) turns the returned actions into store writes and events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from solver.declines import servable_tier, stranded_escalation

if TYPE_CHECKING:
    from dispatcher.domain import Ticket
    from solver.declines import SkillRoster
    from solver.policy import Policy
    from solver.sla import Escalation, SlaMarks


def ticket_due_times(policy: Policy, ticket: Ticket) -> tuple[float, float]:
    """A stored ticket's response and resolution due times in seconds
    (``Policy.due_times``: its own, else the policy's targets)."""
    response_ms, resolution_ms = policy.due_times(
        ticket.priority,
        ticket.created_at_ms,
        ticket.response_due_ms,
        ticket.resolution_due_ms,
        per_second=1000,
    )
    return response_ms / 1000.0, resolution_ms / 1000.0


def declined_escalation(
    policy: Policy,
    ticket: Ticket,
    marks: SlaMarks,
    roster: SkillRoster,
    neighbours: SkillRoster | None = None,
) -> Escalation | None:
    """The escalation of a stored ticket every able technician declined
    (``solver.declines.stranded_escalation``, the simulator's rule too: the next tier the
    region's ``roster``, or a widening rule's ``neighbours``, can serve, else the supervisor
    override once), or None when the override has fired on it already."""
    return stranded_escalation(
        policy,
        ticket.ticket_id,
        ticket.priority,
        marks,
        {s.skill: s.level for s in ticket.required_skills},
        ticket.declined_by_technician_ids,
        roster,
        excluded=ticket.excluded_technician_ids,
        neighbours=neighbours,
    )


def clock_escalation(
    e: Escalation,
    ticket: Ticket,
    roster: SkillRoster,
    neighbours: SkillRoster | None = None,
) -> Escalation:
    """A clock escalation of a stored ticket as it is applied
    (``solver.declines.servable_tier``, the simulator's rule too): its tier move only where
    a technician of the region's ``roster`` (or a widening rule's ``neighbours``) that
    neither is excluded from the ticket nor declined it can serve it."""
    return servable_tier(
        e,
        {s.skill: s.level for s in ticket.required_skills},
        roster,
        excluded=(*ticket.excluded_technician_ids, *ticket.declined_by_technician_ids),
        neighbours=neighbours,
    )


@dataclass(frozen=True, slots=True)
class SlaAction:
    """One clock or prediction outcome to record: ``kind`` risk | breach | esc."""

    kind: str
    ticket_id: str
    arg1: str = ""
    arg2: str = ""
    details: str = "{}"
