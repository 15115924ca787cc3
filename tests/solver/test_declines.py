"""The declines rule shared by the service and the simulator (``solver.declines``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from solver.declines import (
    OVERRIDE_RULE,
    SkillRoster,
    able_technicians,
    declined_by_every_able,
    stranded,
    stranded_escalation,
)
from solver.policy import SUPERVISOR_OVERRIDE, EscalationRule, Policy
from solver.sla import SlaMarks


@st.composite
def rosters(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, set[int], set[int]]:
    n_skills = draw(st.integers(1, 3))
    m = draw(st.integers(0, 6))
    levels = st.integers(0, 3)
    held = np.array(
        draw(st.lists(st.lists(levels, min_size=n_skills, max_size=n_skills),
                      min_size=m, max_size=m)),
        np.int64,
    ).reshape(m, n_skills)  # fmt: skip
    required = np.array(
        draw(st.lists(levels, min_size=n_skills, max_size=n_skills)), np.int64
    )
    rows = st.sets(st.integers(0, max(0, m - 1)), max_size=m) if m else st.just(set())
    return held, required, draw(rows), draw(rows)


@given(rosters())
def test_stranded_exactly_when_every_able_technician_declined(
    case: tuple[np.ndarray, np.ndarray, set[int], set[int]],
) -> None:
    """Able = every required level held and not excluded; stranded = someone is able and
    every able one declined (checked row by row against the definition)."""
    held, required, declined, excluded = case
    able = {
        j
        for j in range(len(held))
        if all(held[j, s] >= required[s] for s in range(len(required)))
        and j not in excluded
    }
    assert set(np.flatnonzero(able_technicians(required, held, excluded))) == able
    assert declined_by_every_able(required, held, declined, excluded) == (
        bool(able) and able <= declined
    )


def test_a_decline_by_a_technician_unable_anyway_strands_nobody() -> None:
    held = np.array([[1, 0], [0, 2]])
    need_first = np.array([1, 0])
    assert not declined_by_every_able(need_first, held, {1})
    assert declined_by_every_able(need_first, held, {0})
    assert not declined_by_every_able(np.array([3, 0]), held, {0, 1})  # nobody able


@st.composite
def batches(draw: st.DrawFn) -> tuple[np.ndarray, list[tuple[Any, set[int], set[int]]]]:
    """One roster and up to 6 tickets on it (required levels, declined and excluded rows)."""
    held, _, _, _ = draw(rosters())
    m, n_skills = held.shape
    levels = st.lists(st.integers(0, 3), min_size=n_skills, max_size=n_skills)
    rows = st.sets(st.integers(0, m - 1), max_size=m) if m else st.just(set())
    tickets = draw(st.lists(st.tuples(levels, rows, rows), min_size=1, max_size=6))
    return held, tickets


@given(batches())
def test_many_tickets_at_once_is_each_ticket_alone(
    case: tuple[np.ndarray, list[tuple[Any, set[int], set[int]]]],
) -> None:
    """``stranded`` over a batch (the service's call) equals ``declined_by_every_able``
    per ticket (the simulator's call) on the same roster."""
    held, tickets = case
    m = len(held)
    required = np.array([r for r, _, _ in tickets], np.int64)
    declined = np.zeros((len(tickets), m), bool)
    excluded = np.zeros((len(tickets), m), bool)
    for i, (_, d, x) in enumerate(tickets):
        declined[i, list(d)] = True
        excluded[i, list(x)] = True
    assert stranded(required, held, declined, excluded).tolist() == [
        declined_by_every_able(r, held, d, x) for r, d, x in tickets
    ]


def test_a_roster_serves_what_an_able_technician_not_excluded_holds() -> None:
    """``SkillRoster.serves`` is ``able_technicians`` by skill name: a skill nobody on the
    roster holds (no column) serves nobody; level 0 is no requirement."""
    r = SkillRoster(("A", "B"), ("sap", "desk"), np.array([[1, 0], [0, 2]], np.int64))
    assert r.serves({"sap": 1})
    assert not r.serves({"sap": 1}, excluded={"A"})
    assert not r.serves({"sap": 1, "desk": 2})
    assert not r.serves({"net": 1})
    assert r.serves({"net": 0, "desk": 1})
    assert not SkillRoster((), ("sap",), np.zeros((0, 1), np.int64)).serves({})


def test_a_stranded_ticket_moves_to_a_servable_tier_else_is_overridden_once() -> None:
    """The one decision: the next tier somebody can serve (a widening rule also counts the
    neighbours); else the supervisor override, which fires once per ticket: after it,
    None (the ticket stays DECLINED)."""
    to_desk2 = EscalationRule(
        name="desk2", priority=0, tier_skill="desk", tier_level=2,
        widen_to_neighbours=False,
    )  # fmt: skip
    policy = Policy(escalations=(to_desk2,))
    sap_only = SkillRoster(("S",), ("sap",), np.array([[1]], np.int64))
    sap_desk = SkillRoster(("SD",), ("desk", "sap"), np.array([[2, 1]], np.int64))
    none = SlaMarks()

    def decide(roster: SkillRoster, marks: SlaMarks = none, **kw: Any) -> Any:
        return stranded_escalation(
            policy, "T1", 4, marks, {"sap": 1}, ("S",), roster, **kw
        )

    e = decide(sap_desk)
    assert (e.rule, e.new_priority, e.declined_by) == (to_desk2, 3, ("S",))
    e = decide(sap_only)  # nobody with sap holds desk 2: the tier is passed over
    assert e.rule is OVERRIDE_RULE
    assert (e.rule.name, e.new_priority) == (SUPERVISOR_OVERRIDE, 4)
    assert e.rule.notify_supervisor
    assert not e.rule.tier_skill
    assert (
        decide(sap_only, SlaMarks(escalated=frozenset({SUPERVISOR_OVERRIDE}))) is None
    )
    # a tier only an excluded technician serves is no tier
    assert decide(sap_desk, excluded={"SD"}).rule is OVERRIDE_RULE
    # neighbours count for a rule that widens only
    assert decide(sap_only, neighbours=sap_desk).rule is OVERRIDE_RULE
    widening = Policy(
        escalations=(dataclasses.replace(to_desk2, widen_to_neighbours=True),)
    )
    e = stranded_escalation(
        widening, "T1", 4, none, {"sap": 1}, ("S",), sap_only, neighbours=sap_desk
    )
    assert e is not None
    assert e.rule.name == "desk2"
