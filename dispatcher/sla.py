"""SLA clock rules on stored tickets: their due times and the escalation of one every able
technician declined.

The rules themselves are pure functions in ``solver.sla`` (which the simulator calls too);
this module applies them to a ``dispatcher.domain.Ticket``. The solve loop
(``loop.sla_step``) turns the returned actions into store writes and events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from solver.sla import tier_escalation

if TYPE_CHECKING:
    from dispatcher.domain import Ticket
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
    policy: Policy, ticket: Ticket, marks: SlaMarks
) -> Escalation | None:
    """The escalation of a ticket every able technician declined (``solver.sla``'s
    ``tier_escalation``: the next tier rule, fired now whatever its condition and time), or
    None when there is no next tier."""
    return tier_escalation(
        policy,
        ticket.ticket_id,
        ticket.priority,
        marks,
        {s.skill: s.level for s in ticket.required_skills},
        ticket.declined_by_technician_ids,
    )


@dataclass(frozen=True, slots=True)
class SlaAction:
    """One clock or prediction outcome to record: ``kind`` risk | breach | esc."""

    kind: str
    ticket_id: str
    arg1: str = ""
    arg2: str = ""
    details: str = "{}"
