"""SLA timers: due times from the policy, at-risk prediction, breaches and escalation.

Pure functions over plain values; the solve loop feeds them the region's snapshot and
the clock and turns the returned actions into store writes and events. Every action
fires once per ticket: the caller passes the marks already recorded on the ticket
(``SlaMarks``) and records the new ones with the event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from dispatcher.policy import EscalationRule, Policy
    from solver.model import Solution

STAGES = ("QUEUED", "ASSIGNED", "ACCEPTED", "IN_PROGRESS", "RESOLVED")
"""Lifecycle order used by escalation conditions and breach checks."""

_CONDITION_STAGE = {
    "not_assigned": "ASSIGNED",
    "not_accepted": "ACCEPTED",
    "not_started": "IN_PROGRESS",
    "not_resolved": "RESOLVED",
}


def stage_index(status: str) -> int:
    """Position of a status in the lifecycle; unknown/terminal-other statuses count as done."""
    try:
        return STAGES.index(status.upper())
    except ValueError:
        return len(STAGES)


def due_times(
    policy: Policy,
    priority: int,
    created_s: float,
    response_due_s: float | None = None,
    resolution_due_s: float | None = None,
) -> tuple[float, float]:
    """Response and resolution due times: the given ones, else submit time + policy target."""
    target = policy.sla_for(priority)
    response = response_due_s if response_due_s else created_s + target.response_s
    resolution = (
        resolution_due_s if resolution_due_s else created_s + target.resolution_s
    )
    return float(response), float(resolution)


@dataclass(frozen=True, slots=True)
class SlaMarks:
    """What has already been signalled for one ticket (stored with the ticket)."""

    at_risk: bool = False
    response_breached: bool = False
    resolution_breached: bool = False
    escalated: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class ClockTicket:
    """The slice of an open ticket the clock rules need."""

    ticket_id: str
    priority: int
    status: str
    created_s: float
    response_due_s: float
    resolution_due_s: float
    marks: SlaMarks = field(default_factory=SlaMarks)


@dataclass(frozen=True, slots=True)
class Breach:
    ticket_id: str
    priority: int
    kind: str  # "response" | "resolution"
    due_s: float


@dataclass(frozen=True, slots=True)
class Escalation:
    ticket_id: str
    rule: EscalationRule
    old_priority: int
    new_priority: int


def at_risk_rows(
    solution: Solution, response_due_s: np.ndarray, resolution_due_s: np.ndarray
) -> np.ndarray:
    """Rows predicted to miss a finite SLA due time (assigned late, or not assigned at all)."""
    has_sla = np.isfinite(response_due_s) | np.isfinite(resolution_due_s)
    return np.flatnonzero(has_sla & ~solution.sla_met.astype(bool))


def breaches(tickets: list[ClockTicket], now_s: float) -> list[Breach]:
    """Due times passed on the clock and not yet signalled.

    Response: work not started (status before IN_PROGRESS) at the response due time.
    Resolution: not resolved at the resolution due time.
    """
    out: list[Breach] = []
    for t in tickets:
        stage = stage_index(t.status)
        if (
            not t.marks.response_breached
            and math.isfinite(t.response_due_s)
            and now_s > t.response_due_s
            and stage < STAGES.index("IN_PROGRESS")
        ):
            out.append(Breach(t.ticket_id, t.priority, "response", t.response_due_s))
        if (
            not t.marks.resolution_breached
            and math.isfinite(t.resolution_due_s)
            and now_s > t.resolution_due_s
            and stage < STAGES.index("RESOLVED")
        ):
            out.append(
                Breach(t.ticket_id, t.priority, "resolution", t.resolution_due_s)
            )
    return out


def escalations(
    policy: Policy, tickets: list[ClockTicket], now_s: float
) -> list[Escalation]:
    """Escalation rules whose time has come, at most one new rule per ticket per call.

    A rule applies to tickets of its priority (0 = any) that have not reached the
    condition's stage ``after_s`` after submit, and fires once per ticket.
    """
    out: list[Escalation] = []
    for t in tickets:
        stage = stage_index(t.status)
        for rule in policy.escalations:
            if rule.name in t.marks.escalated:
                continue
            if rule.priority and rule.priority != t.priority:
                continue
            if stage >= STAGES.index(_CONDITION_STAGE[rule.condition]):
                continue
            if now_s - t.created_s < rule.after_s:
                continue
            new_priority = max(1, t.priority - rule.raise_priority)
            out.append(Escalation(t.ticket_id, rule, t.priority, new_priority))
            break
    return out


def next_clock_deadline(
    policy: Policy, tickets: list[ClockTicket], now_s: float
) -> float:
    """The earliest future time at which a breach or escalation could fire (inf if none).

    Lets the loop wake up exactly when the clock rules need it rather than only on its
    cadence tick.
    """
    best = math.inf
    for t in tickets:
        stage = stage_index(t.status)
        if not t.marks.response_breached and stage < STAGES.index("IN_PROGRESS"):
            best = min(best, t.response_due_s)
        if not t.marks.resolution_breached and stage < STAGES.index("RESOLVED"):
            best = min(best, t.resolution_due_s)
        for rule in policy.escalations:
            if rule.name in t.marks.escalated or (
                rule.priority and rule.priority != t.priority
            ):
                continue
            if stage < STAGES.index(_CONDITION_STAGE[rule.condition]):
                best = min(best, t.created_s + rule.after_s)
    return best if best > now_s else now_s
