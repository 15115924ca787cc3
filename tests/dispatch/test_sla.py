"""SLA clock rules as pure functions: due times, breaches, escalations."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pytest

from solver.declines import SkillRoster
from solver.policy import EscalationRule, Policy, SlaTarget
from solver.sla import (
    ClockTicket,
    SlaMarks,
    breaches,
    escalations,
    next_clock_deadline,
    next_tier_rule,
)

if TYPE_CHECKING:
    from collections.abc import Mapping


def _policy() -> Policy:
    return Policy(
        sla={1: SlaTarget(100.0, 1000.0), 4: SlaTarget(1000.0, 5000.0)},
        escalations=(EscalationRule(name="p1", priority=1, after_s=60.0),),
    )


def test_due_times_from_policy_or_given() -> None:
    """Missing due times come from the policy's target for the priority; a derived one never
    contradicts a given one (Policy.due_times, the one owner of the rule)."""
    p = _policy()
    assert p.due_times(1, 10.0) == (110.0, 1010.0)
    assert p.due_times(1, 10.0, 50.0, 60.0) == (50.0, 60.0)
    assert p.due_times(3, 0.0) == (1000.0, 5000.0)  # nearest defined priority (P4)
    # a given response after the derived resolution moves the resolution, not the response
    assert p.due_times(1, 10.0, response_due=2000.0) == (2000.0, 2000.0)
    # a given resolution before the derived response moves the response, not the resolution
    assert p.due_times(1, 10.0, resolution_due=50.0) == (50.0, 50.0)
    assert p.due_times(1, 10.0, resolution_due=500.0) == (110.0, 500.0)
    # milliseconds: the targets scale with per_second
    assert p.due_times(1, 10_000, per_second=1000) == (110_000, 1_010_000)


def test_breaches_fire_once_per_kind() -> None:
    """A response breach needs work not started; marks suppress repeats."""
    t = ClockTicket("T1", 1, "ASSIGNED", 0.0, 100.0, 1000.0)
    assert [b.kind for b in breaches([t], 50.0)] == []
    assert [b.kind for b in breaches([t], 150.0)] == ["response"]
    assert [b.kind for b in breaches([t], 1500.0)] == ["response", "resolution"]
    started = ClockTicket("T1", 1, "IN_PROGRESS", 0.0, 100.0, 1000.0)
    assert [b.kind for b in breaches([started], 150.0)] == []
    marked = ClockTicket(
        "T1", 1, "ASSIGNED", 0.0, 100.0, 1000.0, SlaMarks(response_breached=True)
    )
    assert [b.kind for b in breaches([marked], 150.0)] == []


def test_escalation_on_the_clock() -> None:
    """A P1 not accepted within after_s escalates once; an accepted one does not."""
    p = _policy()
    t = ClockTicket("T1", 1, "ASSIGNED", 0.0, 100.0, 1000.0)
    assert escalations(p, [t], 59.0) == []
    (esc,) = escalations(p, [t], 61.0)
    assert (esc.ticket_id, esc.rule.name, esc.new_priority) == ("T1", "p1", 1)
    done = ClockTicket(
        "T1", 1, "ASSIGNED", 0.0, 100.0, 1000.0, SlaMarks(escalated=frozenset({"p1"}))
    )
    assert escalations(p, [done], 61.0) == []
    accepted = ClockTicket("T2", 1, "ACCEPTED", 0.0, 100.0, 1000.0)
    assert escalations(p, [accepted], 61.0) == []
    assert next_clock_deadline(p, [t], 10.0) == 60.0
    assert math.isinf(next_clock_deadline(p, [], 10.0))


def test_at_risk_prediction() -> None:
    """Assigned rows are at risk when predicted late; unassigned ones when little of the
    response window is left."""
    import numpy as np

    from solver.model import Solution, SolveStats, SolveStatus
    from solver.sla import at_risk_rows

    solution = Solution(
        technician=np.array([0, 0, -1, -1, -1]),
        position=np.array([0, 1, -1, -1, -1]),
        arrival_s=np.zeros(5),
        start_s=np.zeros(5),
        finish_s=np.zeros(5),
        sla_met=np.array([True, False, False, False, False]),
        reason=np.zeros(5, dtype=np.int64),
        objective=0.0,
        objective_terms={},
        stats=SolveStats(SolveStatus.OPTIMAL, 0.0, 0, 5, 1),
    )
    created = np.zeros(5)
    response = np.array([100.0, 100.0, 100.0, 1000.0, np.inf])
    resolution = np.full(5, 2000.0)
    # now = 80: ticket 2 has 20 of 100 s left (< 25%), ticket 3 has 920 of 1000 s left
    assert at_risk_rows(solution, response, resolution, created, 80.0).tolist() == [
        1,
        2,
    ]
    assert at_risk_rows(solution, response, resolution).tolist() == [1, 2, 3, 4]


def test_at_risk_escalation_needs_the_at_risk_mark() -> None:
    """An ``at_risk`` rule fires only for a ticket signalled at risk and not started, and
    the clock deadline ignores tickets not at risk."""
    rule = EscalationRule(name="risk", priority=0, condition="at_risk", after_s=10.0)
    p = Policy(escalations=(rule,))
    calm = ClockTicket("T1", 2, "ASSIGNED", 0.0, 100.0, 1000.0)
    risky = ClockTicket("T2", 2, "ASSIGNED", 0.0, 100.0, 1000.0, SlaMarks(at_risk=True))
    started = ClockTicket("T3", 2, "IN_PROGRESS", 0.0, 100.0, 1000.0, risky.marks)
    assert [e.ticket_id for e in escalations(p, [calm, risky, started], 11.0)] == ["T2"]
    assert escalations(p, [risky], 9.0) == []
    assert next_clock_deadline(p, [calm], 0.0) == 100.0  # its response due time only
    assert next_clock_deadline(p, [risky], 0.0) == 10.0


def test_at_risk_rule_wakes_the_loop_when_a_queued_ticket_turns_risky() -> None:
    """With an at_risk rule, the clock deadline includes the moment an unassigned ticket
    becomes at risk (a quarter of its response window left); never a past moment."""
    rule = EscalationRule(name="risk", priority=0, condition="at_risk", after_s=0.0)
    p = Policy(escalations=(rule,))
    queued = ClockTicket("T1", 2, "QUEUED", 0.0, 100.0, 1000.0)
    assert next_clock_deadline(p, [queued], 0.0) == pytest.approx(75.001)
    assert next_clock_deadline(p, [queued], 80.0) == 100.0  # then the breach
    assert next_clock_deadline(Policy(escalations=()), [queued], 0.0) == 100.0


def test_next_tier_rule_is_the_first_unfired_rule_that_raises_the_tier() -> None:
    """The rule that escalates a ticket stranded by declines: the first of the policy's
    rules for its priority (0 = any), not yet fired, whose tier is above the ticket's and
    that somebody can serve; None when no rule moves it to such a tier."""
    raise_only = EscalationRule(name="raise", priority=0)
    p2_tier = EscalationRule(name="p2", priority=2, tier_skill="desk", tier_level=3)
    tier2 = EscalationRule(name="t2", priority=0, tier_skill="desk", tier_level=2)
    tier3 = EscalationRule(name="t3", priority=0, tier_skill="desk", tier_level=3)
    p = Policy(escalations=(raise_only, p2_tier, tier2, tier3))
    none: frozenset[str] = frozenset()
    desk = SkillRoster(("D3",), ("desk",), np.array([[3]], np.int64))

    def anyone(_rule: EscalationRule, need: Mapping[str, int]) -> bool:
        return desk.serves(need)

    assert next_tier_rule(p, 2, none, {"desk": 1}, anyone) is p2_tier
    assert next_tier_rule(p, 3, none, {"desk": 1}, anyone) is tier2
    assert next_tier_rule(p, 3, frozenset({"t2"}), {"desk": 1}, anyone) is tier3
    assert next_tier_rule(p, 3, none, {"desk": 2}, anyone) is tier3  # already at tier 2
    assert next_tier_rule(p, 3, none, {"desk": 3}, anyone) is None
    assert (
        next_tier_rule(Policy(escalations=(raise_only,)), 3, none, {}, anyone) is None
    )
    # A ticket that does not require the tier skill (e.g. only "net") may move to the
    # tier only where a technician holds both: it was once given desk 2 whoever held it,
    # and a "sap" ticket moved to a desk nobody with sap held was left with nobody able
    # (NO_SKILL) right after escalating.
    assert next_tier_rule(p, 3, none, {"net": 1}, anyone) is None
    both = SkillRoster(("N2",), ("desk", "net"), np.array([[2, 1]], np.int64))
    assert next_tier_rule(p, 3, none, {"net": 1}, lambda _r, n: both.serves(n)) is tier2
    # an unservable tier is passed over for the next one somebody serves
    assert (
        next_tier_rule(p, 3, none, {"desk": 1}, lambda _r, n: n["desk"] >= 3) is tier3
    )


def test_a_rule_fires_at_the_deadline_it_announced() -> None:
    """The deadline the clock announces (``next_clock_deadline``) is a time at which the
    rule fires: float rounding in ``now - created`` once left it pending at exactly that
    time (created 26392.95567004319 + 7200 s), so a loop woken then woke again at once,
    and the simulator's virtual clock, which does not move by itself, spun forever."""
    created = 26392.95567004319
    rule = EscalationRule(name="r", priority=0, condition="not_started", after_s=7200.0)
    p = Policy(escalations=(rule,))
    t = ClockTicket("T1", 3, "QUEUED", created, math.inf, math.inf)
    due = next_clock_deadline(p, [t], created)
    assert due == created + 7200.0
    assert [e.rule.name for e in escalations(p, [t], due)] == ["r"]
