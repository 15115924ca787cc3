"""SLA clock rules: breaches, at-risk prediction and escalation (tier moves included).

Pure functions over plain values (no clock reads, no I/O): the service's solve loop
(``dispatcher.loop.sla_step``) and the simulator (``simulations.clock``) both call them, so
an escalation fires on the same ticket state at the same time in both. Every action fires
once per ticket: the caller passes the marks already recorded on the ticket (``SlaMarks``)
and records the new ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from solver.model import Solution
    from solver.policy import EscalationRule, Policy

STAGES = ("QUEUED", "ASSIGNED", "ACCEPTED", "IN_PROGRESS", "RESOLVED")
"""Lifecycle order used by escalation conditions and breach checks."""

_CONDITION_STAGE = {
    "not_assigned": "ASSIGNED",
    "not_accepted": "ACCEPTED",
    "not_started": "IN_PROGRESS",
    "not_resolved": "RESOLVED",
    "at_risk": "IN_PROGRESS",
}


def _condition_holds(rule: EscalationRule, t: ClockTicket, stage: int) -> bool:
    """The rule's condition still holds for the ticket (time aside): the stage is not yet
    reached and, for ``at_risk``, the ticket was signalled SLA at risk."""
    if stage >= STAGES.index(_CONDITION_STAGE[rule.condition]):
        return False
    return rule.condition != "at_risk" or t.marks.at_risk


def stage_index(status: str) -> int:
    """Position of a status in the lifecycle; unknown/terminal-other statuses count as done."""
    try:
        return STAGES.index(status.upper())
    except ValueError:
        return len(STAGES)


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
    """A rule firing on a ticket: on the clock, or at once when every technician able to
    do the ticket has declined it (``declined_by`` set: those technicians)."""

    ticket_id: str
    rule: EscalationRule
    old_priority: int
    new_priority: int
    declined_by: tuple[str, ...] = ()
    passed_over: str = ""  # a tier nobody could serve, e.g. "desk:2" (servable_tier)


UNASSIGNED_RISK_FRACTION = 0.25
"""An unassigned ticket is at risk once less than this fraction of its response window
(submit -> response due) is left: it may still be placed by the next solve before that."""


def at_risk_rows(
    solution: Solution,
    response_due_s: np.ndarray,
    resolution_due_s: np.ndarray,
    created_s: np.ndarray | None = None,
    now_s: float | None = None,
) -> np.ndarray:
    """Rows predicted to miss a finite SLA due time.

    An assigned row is at risk when the solver predicts a miss (``sla_met`` False). An
    unassigned row is at risk when less than ``UNASSIGNED_RISK_FRACTION`` of its response
    window is left (or always, when ``created_s``/``now_s`` are not given).
    """
    has_sla = np.isfinite(response_due_s) | np.isfinite(resolution_due_s)
    late = has_sla & ~solution.sla_met.astype(bool)
    unassigned = solution.technician < 0
    if created_s is not None and now_s is not None:
        window = np.where(
            np.isfinite(response_due_s), response_due_s - created_s, np.inf
        )
        left = response_due_s - now_s
        soon = left < UNASSIGNED_RISK_FRACTION * window
        late = np.where(unassigned, has_sla & soon, late)
    return np.flatnonzero(late)


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


def raised(priority: int, rule: EscalationRule) -> int:
    """The priority after the rule fires (``raise_priority`` steps up; P1 is the ceiling)."""
    return max(1, priority - rule.raise_priority)


def escalations(
    policy: Policy, tickets: list[ClockTicket], now_s: float
) -> list[Escalation]:
    """Escalation rules whose time has come, at most one new rule per ticket per call.

    A rule applies to tickets of its priority (0 = any) that have not reached the
    condition's stage ``after_s`` after submit (``at_risk``: signalled at risk and not
    started), and fires once per ticket.
    """
    out: list[Escalation] = []
    for t in tickets:
        stage = stage_index(t.status)
        for rule in policy.escalations:
            if rule.name in t.marks.escalated:
                continue
            if rule.priority and rule.priority != t.priority:
                continue
            if not _condition_holds(rule, t, stage):
                continue
            if now_s < t.created_s + rule.after_s:  # next_escalation_s's arithmetic
                continue
            out.append(
                Escalation(t.ticket_id, rule, t.priority, raised(t.priority, rule))
            )
            break
    return out


def next_tier_rule(
    policy: Policy,
    priority: int,
    fired: frozenset[str],
    required: Mapping[str, int],
    servable: Callable[[EscalationRule, Mapping[str, int]], bool],
) -> EscalationRule | None:
    """The rule that moves a ticket stranded by declines to the next support tier: the
    first of the policy's rules for its priority (0 = any), not yet fired on it, whose tier
    raises its requirement (``required``: skill -> level; its ``tier_skill`` level is below
    ``tier_level``) and whose raised requirement ``servable(rule, requirement)`` says
    somebody can take. None: there is no next tier anybody serves.

    A ticket that does not require the tier skill at all may move too (a help desk's
    tickets often carry only their group's skill, first line implied), but only where
    ``servable`` finds a technician holding its skills and the tier."""
    for rule in policy.escalations:
        if rule.name in fired or (rule.priority and rule.priority != priority):
            continue
        if not rule.tier_skill:
            continue
        held = required.get(rule.tier_skill, 0)
        if held >= rule.tier_level:
            continue
        need = {**required, rule.tier_skill: tier_level(held, rule)}
        if servable(rule, need):
            return rule
    return None


def tier_level(held: int, rule: EscalationRule) -> int:
    """A ticket's requirement of ``rule.tier_skill`` once the rule fired (``held``: the
    level it required before, 0 = none): at least the rule's ``tier_level``."""
    return max(held, rule.tier_level)


def next_clock_deadline(
    policy: Policy, tickets: list[ClockTicket], now_s: float
) -> float:
    """The earliest future time at which a breach or escalation could fire (inf if none).

    Lets the loop wake up exactly when the clock rules need it rather than only on its
    cadence tick.
    """
    best = next_escalation_s(policy, tickets, now_s)
    for t in tickets:
        stage = stage_index(t.status)
        if not t.marks.response_breached and stage < STAGES.index("IN_PROGRESS"):
            best = min(best, t.response_due_s)
        if not t.marks.resolution_breached and stage < STAGES.index("RESOLVED"):
            best = min(best, t.resolution_due_s)
    return best if best > now_s else now_s


def next_escalation_s(
    policy: Policy, tickets: list[ClockTicket], now_s: float
) -> float:
    """The earliest time at which an escalation rule could fire on one of ``tickets``
    (inf if none; a time already past when a rule is due now)."""
    best = math.inf
    for t in tickets:
        stage = stage_index(t.status)
        for rule in policy.escalations:
            if rule.name in t.marks.escalated or (
                rule.priority and rule.priority != t.priority
            ):
                continue
            if _condition_holds(rule, t, stage):
                best = min(best, t.created_s + rule.after_s)
            elif rule.condition == "at_risk" and not t.marks.at_risk:
                # the solve at this time signals an unassigned ticket at risk (the loop
                # then runs the clock rules at once); a past time is not waited for
                risk_s = max(t.created_s + rule.after_s, unassigned_risk_s(t) + 0.001)
                if risk_s > now_s:
                    best = min(best, risk_s)
    return best if best > now_s else now_s


def unassigned_risk_s(t: ClockTicket) -> float:
    """When a QUEUED ticket becomes at risk if still unassigned (``at_risk_rows``' rule);
    inf for any other status or without a finite response due time."""
    if t.status.upper() != "QUEUED" or not math.isfinite(t.response_due_s):
        return math.inf
    window = t.response_due_s - t.created_s
    return t.response_due_s - UNASSIGNED_RISK_FRACTION * window
