"""The solve loop's SLA work for one region: clock rules (breaches, escalations with their
supervisor notices, recovery of interrupted moves) and SLA_AT_RISK signals after a solve.

The rules themselves are pure functions in ``solver.sla`` (and ``dispatcher.sla``); this module turns their
results into fenced store writes and events for the ``RegionWorker`` of ``loop.solve_loop``
(``SlaStep``, built once per solve loop with its collaborators).
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

from dispatcher.domain import SkillLevel
from dispatcher.loop.declines import neighbour_roster, roster_of
from dispatcher.loop.problem import REASON_NAMES, IndexMaps, seconds_to_ms
from dispatcher.loop.widen import Widening
from dispatcher.sla import (
    SlaAction,
    clock_escalation,
    declined_escalation,
    ticket_due_times,
)
from dispatcher.store.codec import ticket_body
from solver.sla import (
    ClockTicket,
    SlaMarks,
    at_risk_rows,
    breaches,
    escalations,
    next_clock_deadline,
    tier_level,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from dispatcher.domain import Ticket
    from dispatcher.runtime.metrics import DispatchMetrics
    from dispatcher.store.moves import TicketMover
    from dispatcher.store.sla import SlaRecorder
    from dispatcher.store.state import RedisStateStore, RegionSnapshot
    from solver.build import ProblemParts
    from solver.model import Solution
    from solver.policy import EscalationRule, Policy
    from solver.sla import Escalation

DECLINED_CONDITION = "declined_by_every_able"
"""The ``condition`` detail of an escalation fired because every able technician declined
the ticket (beside the rules' own clock conditions)."""

_CONDITION_TEXT = {
    "not_assigned": "not assigned",
    "not_accepted": "not accepted",
    "not_started": "not started",
    "not_resolved": "not resolved",
    "at_risk": "at risk of missing its SLA",
}

NO_MARKS = SlaMarks()
"""A ticket's marks when nothing was signalled for it yet: one shared instance (marks are
frozen; one built per open ticket per clock run was about half the cost of building the
clock rules' ticket list)."""


def _duration_text(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def supervisor_notice(e: Escalation, region: str) -> str:
    """The one line a supervisor reads, e.g. "P1 ticket T-7 in north not started 2 h after
    submission (rule p1-2h); now P1"."""
    return (
        f"P{e.old_priority} ticket {e.ticket_id} in {region} {escalation_cause(e)} "
        f"(rule {e.rule.name}); now P{e.new_priority}"
    )


def escalation_cause(e: Escalation) -> str:
    """Why the rule fired: its condition and time, or the declines that left nobody."""
    if e.declined_by:
        return f"declined by every able technician ({', '.join(e.declined_by)})"
    return (
        f"{_CONDITION_TEXT[e.rule.condition]} {_duration_text(e.rule.after_s)} after "
        "submission"
    )


class SlaStep:
    """The solve loop's SLA work, built with what it writes through."""

    def __init__(
        self,
        store: RedisStateStore,
        sla: SlaRecorder,
        mover: TicketMover,
        metrics: DispatchMetrics,
        events_maxlen: int,
    ) -> None:
        self.store = store
        self.sla = sla
        self.mover = mover
        self.metrics = metrics
        self.events_maxlen = events_maxlen

    async def run_clock_rules(
        self,
        snap: RegionSnapshot,
        policy: Policy,
        token: str,
        now_ms: int,
        *,
        complete: bool = True,
        marks: dict[str, SlaMarks] | None = None,
        unfinished: list[str] | None = None,
    ) -> tuple[bool, float, list[Widening]]:
        """Breaches and escalations due now; returns (priorities changed, next due time, the
        escalated tickets to widen to a neighbouring region).

        ``marks``, ``unfinished``: the region's SLA marks and its interrupted moves
        (``TicketMover.unfinished``) when the caller already read them."""
        widen: list[Widening] = []
        # moves out of this region interrupted by a crash (or a lost lease) complete here
        if unfinished is None:
            unfinished = await self.mover.unfinished(snap.tenant, snap.region)
        for ticket_id in unfinished:
            await self.mover.finish(snap.tenant, snap.region, ticket_id)
        if marks is None:
            marks = await self.sla.marks(snap.tenant, snap.region)
        if (
            complete
        ):  # marks of closed tickets go; a bounded read does not list every open one
            open_ids = {t.ticket_id for t in snap.tickets}
            await self.sla.forget(
                snap.tenant, snap.region, [k for k in marks if k not in open_ids]
            )
        clock: list[ClockTicket] = []
        for t in snap.tickets:
            created_s = t.created_at_ms / 1000.0
            response, resolution = ticket_due_times(policy, t)
            clock.append(
                ClockTicket(
                    t.ticket_id,
                    t.priority,
                    t.status.value,
                    created_s,
                    response,
                    resolution,
                    marks.get(t.ticket_id, NO_MARKS),
                )
            )
        now_s = now_ms / 1000.0
        found_breaches = breaches(clock, now_s)
        found_escalations = escalations(policy, clock, now_s)
        by_id = {t.ticket_id: t for t in snap.tickets}
        if any(e.rule.tier_skill for e in found_escalations):
            # a tier move only where somebody can serve it (the simulator's rule too)
            roster = roster_of(snap.technicians)
            neighbours = await neighbour_roster(
                self.store, snap.tenant, snap.region, policy
            )
            found_escalations = [
                clock_escalation(e, by_id[e.ticket_id], roster, neighbours)
                for e in found_escalations
            ]
        actions = [
            SlaAction(
                "breach",
                b.ticket_id,
                b.kind,
                "",
                json.dumps({"due_ms": str(seconds_to_ms(b.due_s))}),
            )
            for b in found_breaches
        ]
        actions += [
            _escalation_action(e, policy, snap.region, by_id[e.ticket_id])
            for e in found_escalations
        ]
        applied = await self.sla.apply(
            snap.tenant, snap.region, token, actions, self.events_maxlen
        )
        if not applied:
            return False, next_clock_deadline(policy, clock, now_s), widen
        m = self.metrics
        for b, ok in zip(found_breaches, applied, strict=False):
            if ok:
                m.sla_breaches_total.labels(
                    priority=f"P{b.priority}", kind=b.kind
                ).inc()
        esc_applied = applied[len(found_breaches) :]
        changed, widen = self._record_escalations(
            found_escalations, esc_applied, policy, snap.region
        )
        return changed, next_clock_deadline(policy, clock, now_s), widen

    async def escalate_declined(
        self,
        snap: RegionSnapshot,
        policy: Policy,
        token: str,
        stranded: Sequence[Ticket],
    ) -> tuple[bool, list[Widening]]:
        """Escalate, at once, the ``stranded`` tickets of ``snap``, those every able
        technician has declined (``loop.declines.stranded_by_declines``, computed once
        per read by the caller, whose commit needs them too), as
        ``sla.declined_escalation`` decides: the policy's next tier that the region's
        technicians (or, for a rule that widens, its neighbours') can serve, else a
        supervisor override. The same store action and TICKET_ESCALATED event (and
        SUPERVISOR_NOTIFIED) as a clock escalation, which also lifts the declines. Returns
        (something changed, the tickets to widen to a neighbouring region). A ticket
        whose override has fired already stays; its solve gives it the reason DECLINED."""
        if not stranded:
            return False, []
        marks = await self.sla.marks(snap.tenant, snap.region)
        roster = roster_of(snap.technicians)
        neighbours = await neighbour_roster(
            self.store, snap.tenant, snap.region, policy
        )
        found = [
            e
            for t in stranded
            if (
                e := declined_escalation(
                    policy, t, marks.get(t.ticket_id, NO_MARKS), roster, neighbours
                )
            )
        ]
        if not found:
            return False, []
        by_id = {t.ticket_id: t for t in stranded}
        actions = [
            _escalation_action(e, policy, snap.region, by_id[e.ticket_id])
            for e in found
        ]
        applied = await self.sla.apply(
            snap.tenant, snap.region, token, actions, self.events_maxlen
        )
        if not applied:
            return False, []
        return self._record_escalations(found, applied, policy, snap.region)

    def _record_escalations(
        self,
        found: list[Escalation],
        applied: list[bool],
        policy: Policy,
        region: str,
    ) -> tuple[bool, list[Widening]]:
        """Metrics of the applied escalations; returns (a priority, a requirement or the
        declines changed, the tickets to widen to a neighbouring region)."""
        changed = False
        widen: list[Widening] = []
        neighbours = policy.neighbours.get(region, ())
        for e, ok in zip(found, applied, strict=True):
            if not ok:
                continue
            changed = (
                changed
                or e.new_priority != e.old_priority
                or bool(e.rule.tier_skill)
                or bool(e.declined_by)
            )
            if e.rule.widen_to_neighbours and neighbours:
                widen.append(Widening(e.ticket_id, e.rule.name, neighbours))
            self.metrics.escalations_total.labels(priority=f"P{e.old_priority}").inc()
        return changed, widen

    async def signal_at_risk(
        self,
        snap: RegionSnapshot,
        token: str,
        sol: Solution,
        problem: ProblemParts,
        maps: IndexMaps,
    ) -> int:
        """SLA_AT_RISK once per ticket predicted to miss a due time; returns how many
        tickets were newly signalled."""
        due = problem.tickets
        rows = at_risk_rows(
            sol,
            due.response_due_s,
            due.resolution_due_s,
            due.created_s,
            problem.now_s,
        )
        # The dispatch_queue_at_risk gauge belongs to the queue statistics (handlers), which
        # cover every region; the loop counts what it signals (dispatch_sla_at_risk_total).
        m = self.metrics
        if not len(rows):
            return 0
        marks = await self.sla.marks(snap.tenant, snap.region)
        actions = [
            SlaAction(
                "risk",
                maps.ticket_ids[i],
                details=json.dumps(
                    {
                        "predicted_start_ms": str(seconds_to_ms(float(sol.start_s[i]))),
                        "response_due_ms": str(
                            seconds_to_ms(float(due.response_due_s[i]))
                        ),
                        "reason": REASON_NAMES[int(sol.reason[i])],
                    }
                ),
            )
            for i in rows
            if not marks.get(maps.ticket_ids[i], NO_MARKS).at_risk
        ]
        applied = await self.sla.apply(
            snap.tenant, snap.region, token, actions, self.events_maxlen
        )
        if not applied:
            return 0
        prio = {t.ticket_id: t.priority for t in snap.tickets}
        for a, ok in zip(actions, applied, strict=True):
            if ok:
                m.sla_at_risk_total.labels(
                    priority=f"P{prio.get(a.ticket_id, 4)}"
                ).inc()
        return sum(applied)


def tier_body(ticket: Ticket, rule: EscalationRule) -> str:
    """The ticket's body once moved to the rule's tier: its requirement of
    ``rule.tier_skill`` at least ``rule.tier_level`` (the store writes it with the event)."""
    skills = [s for s in ticket.required_skills if s.skill != rule.tier_skill]
    held = max(
        (s.level for s in ticket.required_skills if s.skill == rule.tier_skill),
        default=0,
    )
    skills.append(SkillLevel(rule.tier_skill, tier_level(held, rule)))
    return ticket_body(dataclasses.replace(ticket, required_skills=tuple(skills)))


def _escalation_action(
    e: Escalation, policy: Policy, region: str, ticket: Ticket
) -> SlaAction:
    """The store action of one due escalation, with its event details."""
    details = {
        "old_priority": f"P{e.old_priority}",
        "condition": DECLINED_CONDITION if e.declined_by else e.rule.condition,
        "cause": escalation_cause(e),
    }
    if e.declined_by:  # the store lifts the declines: the next tier may take it
        details["declined_by"] = ",".join(e.declined_by)
    if e.rule.widen_to_neighbours:
        details["widen_to"] = ",".join(policy.neighbours.get(region, ()))
    if e.rule.notify_supervisor:
        details["supervisor_target"] = e.rule.supervisor_target
        details["notice"] = supervisor_notice(e, region)
    if e.rule.tier_skill:
        details["tier"] = f"{e.rule.tier_skill}:{e.rule.tier_level}"
        details["body"] = tier_body(ticket, e.rule)
    if e.passed_over:  # the rule's tier nobody could serve: not moved there
        details["tier_passed_over"] = e.passed_over
    return SlaAction(
        "esc", e.ticket_id, e.rule.name, str(e.new_priority), json.dumps(details)
    )
