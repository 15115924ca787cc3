"""Help desks in the simulator (issue 13 items 3 and 4): PENDING waits stop the SLA clock,
escalation rules fire on the simulated clock by the service's functions (priority raises and
support tier moves), and a ticket every able agent declined goes to the next tier.

Hand-built streams and rosters (skills ``a`` and ``desk``: desk 1 = first line, desk 2 =
second line), the stub policy and zero travel, so every time below is worked out by hand.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from simtest_helpers import StubPolicy, tiny_scenario_doc

from dispatcher import sla as dispatcher_sla
from dispatcher.domain import (
    SkillLevel,
    Technician,
    TechnicianStatus,
    Ticket,
    TicketStatus,
)
from dispatcher.loop import sla_step
from dispatcher.loop.declines import roster_of as service_roster_of
from dispatcher.loop.sla_step import tier_body
from dispatcher.sla import declined_escalation
from simulations import clock as clock_module
from simulations.clock import TicketClock
from simulations.engine import Engine
from simulations.kpi import run_kpis
from simulations.runner import run_once
from simulations.scenario import ScenarioError, load_scenario, scenario_from_dict
from simulations.streams import (
    MAX_DISPATCH_ATTEMPTS,
    SYNTHETIC_ORIGIN,
    PendingDraws,
    Roster,
    TicketStream,
    build_roster,
    build_stream,
)
from solver import declines
from solver.policy import SUPERVISOR_OVERRIDE, EscalationRule, Policy
from solver.sla import SlaMarks

if TYPE_CHECKING:
    from solver.declines import SkillRoster

SKILLS = ["a", "desk"]
L1, L2 = [1, 1], [1, 2]  # (a, desk) levels of a first- and a second-line agent
TO_L2 = {
    "name": "to-l2",
    "priority": 0,
    "condition": "not_started",
    "after_s": 1800.0,
    "raise_priority": 0,
    "tier_skill": "desk",
    "tier_level": 2,
}
HOUR = 3600.0


def desk_doc(**overrides: Any) -> dict[str, Any]:
    """A scenario whose only use here is its policy and timing (the stream is by hand)."""
    doc = tiny_scenario_doc(
        simulation={"horizon_s": 4 * 86_400.0, "debounce_s": 0.0, "seed": 1},
        arrivals={
            "rate_per_day": 10.0,
            "categories": {
                "fix": {
                    "skill": "a",
                    "duration_mean_s": 600.0,
                    "priority_mix": [0, 0, 1, 0],
                    "location": "none",
                }
            },
        },
        technicians={
            "groups": [
                {
                    "name": "l1",
                    "count": 1,
                    "skills": {"a": 1, "desk": 1},
                    "home": "none",
                },
                {
                    "name": "l2",
                    "count": 1,
                    "skills": {"a": 1, "desk": 2},
                    "home": "none",
                },
            ]
        },
        behaviour={"decline_probability": 0.5, "cancel_probability": 0.0},
    )
    doc.update(overrides)
    return doc


def stream_of(
    tickets: list[dict[str, Any]], pending: PendingDraws | None = None
) -> TicketStream:
    """Tickets from dicts: created, actual (work s), response/resolution due; optional
    level (of skill a), desk (required desk level), priority, declines (draws per
    attempt: 0 = declines, 1 = accepts)."""
    n = len(tickets)

    def col(key: str, default: Any, dtype: type = np.float64) -> np.ndarray:
        return np.array([t.get(key, default) for t in tickets], dtype)

    u = np.ones((n, MAX_DISPATCH_ATTEMPTS))
    for i, t in enumerate(tickets):
        draws = t.get("declines", [])
        u[i, : len(draws)] = draws
    stream = TicketStream(
        ticket_id=[f"T{i}" for i in range(n)],
        created_s=col("created", 0.0),
        lat_deg=np.full(n, np.nan),
        lon_deg=np.full(n, np.nan),
        priority=col("priority", 3, np.int64),
        category=np.zeros(n, np.int64),
        skill=np.array([1 if t.get("desk") else 0 for t in tickets], np.int64),
        skill_level=np.array([t.get("desk") or t.get("level", 1) for t in tickets]),
        duration_est_s=col("actual", 600.0),
        duration_actual_s=col("actual", 600.0),
        response_due_s=col("response_due", 10 * 86_400.0),
        resolution_due_s=col("resolution_due", 10 * 86_400.0),
        tier=np.zeros(n, np.int64),
        cancel_at_s=np.full(n, np.inf),
        decline_u=u,
        categories=["fix"],
        skills=list(SKILLS),
        pending=pending,
    )
    return dataclasses.replace(stream, skill_level=stream.skill_level.astype(np.int64))


def roster_of(levels: list[list[int]], start_s: float = 0.0) -> Roster:
    m = len(levels)
    return Roster(
        tech_id=[f"K{j + 1}" for j in range(m)],
        group=["l2" if lv[1] >= 2 else "l1" for lv in levels],
        home_lat_deg=np.full(m, np.nan),
        home_lon_deg=np.full(m, np.nan),
        skill_levels=np.array(levels, np.int64),
        shift_start_s=np.full(m, start_s),
        shift_length_s=np.full(m, 24 * HOUR),
        speed_kmh=np.full(m, 30.0),
        capacity=np.full(m, 3, np.int64),
    )


def waits(n: int, i: int, share: float, wait_s: float, before: bool) -> PendingDraws:
    """Only ticket ``i`` waits on the customer, once."""
    s = np.full(n, np.nan)
    s[i] = share
    b = np.zeros(n, bool)
    b[i] = before
    return PendingDraws(share=s, before_work=b, wait_s=np.full(n, wait_s))


def run(doc: dict[str, Any], stream: TicketStream, roster: Roster) -> dict[str, Any]:
    sc = scenario_from_dict(doc)
    result = Engine(
        sc, stream, roster, StubPolicy(), travel_time_s=lambda *a: 0.0
    ).run()
    return {r["ticket_id"]: r for r in result.tickets.iter_rows(named=True)}


# --------------------------------------------------------------------------- waits


def test_the_clock_stops_while_pending() -> None:
    """T0 (work 1200 s) starts at 0, waits on the customer halfway (600 s) for 7000 s, then
    resumes at 7600 and ends at 8200: its due times (response 3600, resolution 7200) move
    later by the wait, to 10600 / 14200, so finishing after 7200 is no breach. The agent
    is free meanwhile: T1, arriving at 700, is worked from 700 to 1300."""
    stream = stream_of(
        [
            {
                "created": 0.0,
                "actual": 1200.0,
                "response_due": 3600.0,
                "resolution_due": 7200.0,
            },
            {"created": 700.0},
        ],
        waits(2, 0, share=0.5, wait_s=7000.0, before=False),
    )
    t = run(desk_doc(), stream, roster_of([L1]))
    t0 = t["T0"]
    assert t0["status"] == "resolved"
    assert (t0["arrived_s"], t0["resolved_s"]) == (0.0, 8200.0)
    assert (t0["response_due_s"], t0["resolution_due_s"]) == (10_600.0, 14_200.0)
    assert t0["pending_s"] == 7000.0
    assert not t0["resolution_breached"]
    assert (t["T1"]["arrived_s"], t["T1"]["resolved_s"]) == (700.0, 1300.0)


def test_the_clock_stops_in_working_hours_on_a_business_calendar() -> None:
    """A 09:00-17:00 Monday-Friday desk (UTC; virtual t = 0 is Monday 00:00). T0, a P3 with
    an 8 h response / 16 h resolution target, arrives on Monday at 16:00: due on Tuesday
    16:00 / Wednesday 16:00. Its agent takes it up at once and asks the customer first
    (PENDING before work) for 20 h, to Tuesday 12:00: 4 working hours (Monday 16-17,
    Tuesday 9-12). Both due times move 4 working hours later: Wednesday 12:00 and
    Thursday 12:00. The simulator's clock and the service's (epoch milliseconds) agree."""
    doc = desk_doc(
        calendars={"desk": {"time_zone": "UTC", "days": [1, 2, 3, 4, 5],
                            "start": "09:00", "end": "17:00"}},
        sla={"P3": {"response_s": 8 * HOUR, "resolution_s": 16 * HOUR,
                    "calendar": "desk"}},
    )  # fmt: skip
    day, monday_16h = 86_400.0, 16 * HOUR
    policy = scenario_from_dict(doc).policy
    assert policy.due_times(3, monday_16h, origin_s=SYNTHETIC_ORIGIN.timestamp()) == (
        day + 16 * HOUR,
        2 * day + 16 * HOUR,
    )
    stream = stream_of(
        [{"created": monday_16h, "response_due": day + 16 * HOUR,
          "resolution_due": 2 * day + 16 * HOUR}],
        waits(1, 0, share=0.0, wait_s=20 * HOUR, before=True),
    )  # fmt: skip
    t0 = run(doc, stream, roster_of([L1], start_s=monday_16h))["T0"]
    assert t0["pending_s"] == 20 * HOUR
    assert (t0["response_due_s"], t0["resolution_due_s"]) == (
        2 * day + 12 * HOUR,
        3 * day + 12 * HOUR,
    )
    assert (t0["arrived_s"], t0["resolved_s"]) == (
        day + 12 * HOUR,
        day + 12 * HOUR + 600,
    )
    # the service's rule on epoch milliseconds gives the same instants
    epoch_ms = SYNTHETIC_ORIGIN.timestamp() * 1000.0

    def ms(virtual_s: float) -> float:
        return epoch_ms + virtual_s * 1000.0

    service = policy.resumed_due_times(
        3,
        (ms(day + 16 * HOUR), ms(2 * day + 16 * HOUR)),
        ms(monday_16h),
        ms(day + 12 * HOUR),
        per_second=1000.0,
    )
    assert service == (ms(t0["response_due_s"]), ms(t0["resolution_due_s"]))
    wednesday_noon = dt.datetime(2026, 1, 7, 12, tzinfo=dt.UTC).timestamp() * 1000.0
    assert service[0] == wednesday_noon


# --------------------------------------------------------------------------- tiers


def test_a_tier_rule_fires_at_its_time_and_only_the_next_tier_takes_the_ticket() -> (
    None
):
    """K1 (first line) works T0 from 0 to 3000; K2 (second line) works T2 (desk 2) from 0
    to 5000. T1 arrives at 10 and waits in K1's queue. At 1810 (30 min after submission,
    not started) the rule moves it to desk 2: it leaves K1 for K2, and although K1 is idle
    from 3000, only K2 may take it, at 5000."""
    stream = stream_of(
        [
            {"created": 0.0, "actual": 3000.0},
            {"created": 10.0},
            {"created": 0.0, "actual": 5000.0, "desk": 2},
        ]
    )
    t = run(desk_doc(escalations=[TO_L2]), stream, roster_of([L1, L2]))
    t1 = t["T1"]
    assert t1["escalated_s"] == 1810.0
    assert (t1["escalations_clock"], t1["escalated_tier"]) == (1, "desk:2")
    assert (t1["technician"], t1["dispatched_s"]) == ("K2", 5000.0)
    assert t1["n_reassignments"] == 1  # moved from K1's queue
    assert t["T0"]["resolved_s"] == 3000.0  # K1 idle from then on
    assert t["T0"]["n_escalations"] == t["T2"]["n_escalations"] == 0


def test_a_clock_tier_nobody_able_holds_is_passed_over() -> None:
    """As above, but T1 needs ``a`` at level 2, held only by K1 (first line); K2, the
    second line, holds ``a`` at level 1. At 1810 the rule fires without its tier move
    (as in the service): moved to desk 2, T1 would have had nobody able to take it. K1
    serves it after T0, at 3000."""
    stream = stream_of(
        [{"created": 0.0, "actual": 3000.0, "level": 2}, {"created": 10.0, "level": 2}]
    )
    t = run(desk_doc(escalations=[TO_L2]), stream, roster_of([[2, 1], [1, 2]]))
    t1 = t["T1"]
    assert (t1["escalations_clock"], t1["escalated_s"]) == (1, 1810.0)
    assert t1["escalated_tier"] == ""
    assert (t1["status"], t1["technician"], t1["dispatched_s"]) == (
        "resolved",
        "K1",
        3000.0,
    )


def test_a_ticket_declined_by_every_able_agent_goes_to_the_next_tier() -> None:
    """T0 is declined by its first-line agent K1 and then by K2: every agent able to do it
    has declined. The next tier rule fires at once (whatever its clock): T0 needs desk 2,
    its declines are lifted, and K2, the second line, takes it. Without a tier rule a
    supervisor overrides the declines instead."""
    stream = stream_of([{"created": 0.0, "declines": [0.0, 0.0]}])
    t0 = run(desk_doc(escalations=[TO_L2]), stream, roster_of([L1, L2]))["T0"]
    assert t0["status"] == "resolved"
    assert t0["n_declines"] == 2
    assert (t0["escalations_declined"], t0["escalations_override"]) == (1, 0)
    assert (t0["escalated_tier"], t0["escalated_s"]) == ("desk:2", 0.0)
    assert t0["technician"] == "K2"
    plain = run(desk_doc(), stream, roster_of([L1, L2]))["T0"]
    assert (plain["escalations_declined"], plain["escalations_override"]) == (0, 1)
    assert plain["escalated_tier"] == ""
    assert plain["status"] == "resolved"


def test_a_tier_skill_nobody_holds_is_refused() -> None:
    """A rule moving tickets to a tier no group reaches names the field."""
    rule = {**TO_L2, "tier_level": 3}
    with pytest.raises(ScenarioError, match=r"escalations\[0\]\.tier_skill"):
        scenario_from_dict(desk_doc(escalations=[rule]))


@pytest.mark.slow
@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    first=st.integers(1, 4),
    second=st.integers(1, 3),
    decline=st.sampled_from([0.0, 0.2, 0.6]),
    pending=st.sampled_from([0.0, 0.3]),
    when=st.sampled_from(["before_work", "during_work"]),
    after_s=st.sampled_from([0.0, 300.0, 1800.0]),
    condition=st.sampled_from(["not_assigned", "not_accepted", "not_started"]),
)
def test_no_ticket_is_served_below_its_tier(
    seed: int,
    first: int,
    second: int,
    decline: float,
    pending: float,
    when: str,
    after_s: float,
    condition: str,
) -> None:
    """Whatever the load, declines, waits and rule: every ticket in work or done is worked
    by an agent holding its (escalated) tier."""
    rule = {**TO_L2, "after_s": after_s, "condition": condition}
    doc = desk_doc(
        simulation={"horizon_s": 3 * HOUR, "debounce_s": 30.0, "seed": seed},
        arrivals={
            "rate_per_day": 600.0,
            "categories": {"fix": {
                "skill": "a", "duration_mean_s": 900.0, "priority_mix": [1, 1, 1, 1],
                "location": "none",
                "pending": {"probability": pending, "when": when, "wait_mean_s": 1200.0},
            }},
        },
        technicians={"groups": [
            {"name": "l1", "count": first, "skills": {"a": 1, "desk": 1}, "home": "none",
             "shift_hours": 4.0, "shift_start_h": 0.0},
            {"name": "l2", "count": second, "skills": {"a": 1, "desk": 2},
             "home": "none", "shift_hours": 4.0, "shift_start_h": 0.0},
        ]},
        behaviour={"decline_probability": decline, "cancel_probability": 0.05},
        escalations=[rule],
    )  # fmt: skip
    sc = scenario_from_dict(doc)
    rng = np.random.default_rng(seed)
    stream = build_stream(sc, rng)
    roster = build_roster(sc, stream, rng)
    result = Engine(
        sc,
        stream,
        roster,
        StubPolicy(),
        check_decisions=False,
        travel_time_s=lambda *a: 0.0,
    ).run()
    desk = dict(zip(roster.tech_id, roster.skill_levels[:, 1].tolist(), strict=True))
    t = result.tickets
    # the technician of the last spell of work (a ticket that went PENDING or back to
    # the queue since has not been served again yet)
    served = t.filter(t["status"].is_in(["en_route", "in_progress", "resolved"]))
    for tech, tier in zip(served["technician"], served["escalated_tier"], strict=True):
        need = int(tier.split(":")[1]) if tier else 0
        assert desk[tech] >= need, (tech, tier)
    if after_s == 0.0:  # due at once: every ticket still queued at a solve moves up
        assert (t["escalated_tier"] == "desk:2").any()
    waited = t["pending_s"] > 0
    if pending:
        assert waited.any()
    else:
        assert not waited.any()


# --------------------------------------------------------------------------- one rule


def service_ticket(clock: TicketClock, declined_by: tuple[str, ...]) -> Ticket:
    """Row 0 of ``clock`` as the service stores it (priority, skills, due times)."""
    return Ticket(
        ticket_id="T0",
        region="north",
        priority=int(clock.priority[0]),
        work_duration_s=600,
        required_skills=tuple(
            SkillLevel(s, int(v))
            for s, v in zip(SKILLS, clock.required[0].tolist(), strict=True)
            if v > 0
        ),
        status=TicketStatus.QUEUED,
        declined_by_technician_ids=declined_by,
        response_due_ms=int(clock.response_due_s[0] * 1000),
        resolution_due_ms=int(clock.resolution_due_s[0] * 1000),
    )


def service_roster(levels: list[list[int]]) -> SkillRoster:
    """The agents of ``roster_of(levels)`` as the service's loop reads them."""
    techs = [
        Technician(
            technician_id=f"K{j + 1}",
            region="north",
            status=TechnicianStatus.AVAILABLE,
            capacity=3,
            skills=tuple(
                SkillLevel(s, v) for s, v in zip(SKILLS, lv, strict=True) if v > 0
            ),
        )
        for j, lv in enumerate(levels)
    ]
    return service_roster_of(techs)


def simulator_roster(levels: list[list[int]]) -> SkillRoster:
    """The same agents as the simulator's engine builds them."""
    stream = stream_of([{"created": 0.0}])
    return Engine(
        scenario_from_dict(desk_doc()), stream, roster_of(levels), StubPolicy()
    ).skill_roster


def test_the_simulator_and_the_service_compute_the_same_escalation() -> None:
    """For one ticket state, the service's escalation of a ticket every able technician
    declined (``dispatcher.sla.declined_escalation`` and the tier body the store writes)
    and the simulator's (``TicketClock.declined``) agree: same rule, priority and tier.
    On the clock, both call ``solver.sla.escalations`` on the same ClockTicket."""
    rules = (
        EscalationRule(name="raise-p3", priority=3, condition="not_started",
                       after_s=600.0, raise_priority=1),
        EscalationRule(name="to-l2", priority=0, condition="not_started",
                       after_s=7200.0, raise_priority=1, tier_skill="desk", tier_level=2),
    )  # fmt: skip
    policy = Policy(escalations=rules)
    stream = stream_of([{"created": 0.0, "priority": 3}])
    clock = TicketClock(policy, stream, origin_s=0.0)
    ticket = service_ticket(clock, ("K1", "K2"))
    # on the clock at 700 s: the P3 rule raises it to P2 (the tier rule waits for 2 h)
    rows, wake = clock.run_rules(
        np.array([0], np.int64), ["QUEUED"], 700.0, simulator_roster([L1, L2]), {}
    )
    assert rows == [0]
    assert wake == 7200.0
    assert clock.priority[0] == 2
    # declined by every able agent: the service's next tier escalation, then the simulator's
    marks = SlaMarks(escalated=frozenset({"raise-p3"}))
    levels = [L1, L2]
    service = declined_escalation(
        policy, dataclasses.replace(ticket, priority=2), marks, service_roster(levels)
    )
    assert service is not None
    assert clock.declined(0, ("K1", "K2"), 800.0, simulator_roster(levels))
    assert clock.priority[0] == service.new_priority == 1
    body = json.loads(tier_body(ticket, service.rule))
    assert dict(body["skills"]) == {
        s: int(v) for s, v in zip(SKILLS, clock.required[0].tolist(), strict=True)
    }
    assert clock.tier[0] == "desk:2"
    assert clock.fired[0] == {"raise-p3", "to-l2"}
    assert sla_step.escalations is clock_module.escalations  # the same function
    # the one owner of the decision on both sides
    assert dispatcher_sla.stranded_escalation is clock_module.stranded_escalation


AGENT_LEVELS = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 3)).map(list), min_size=1, max_size=4
)
# the ticket's required levels of ``a`` and ``desk``
TICKET_NEED = st.tuples(st.integers(1, 2), st.integers(0, 2))
TIER_RULES = st.lists(
    st.builds(
        lambda k, prio, level, widen: EscalationRule(
            name=f"tier-{k}",
            priority=prio,
            condition="not_started",
            after_s=HOUR,
            raise_priority=k % 2,
            widen_to_neighbours=widen,
            tier_skill="desk",
            tier_level=level,
        ),
        st.integers(0, 99),
        st.sampled_from([0, 1, 2, 3, 4]),
        st.integers(1, 3),
        st.booleans(),
    ),
    max_size=3,
    unique_by=lambda r: r.name,
)


@settings(max_examples=200, deadline=None)
@given(
    levels=AGENT_LEVELS,
    rules=TIER_RULES,
    priority=st.integers(1, 4),
    need=TICKET_NEED,
    fired=st.sets(st.sampled_from(["tier-0", "tier-1", SUPERVISOR_OVERRIDE])),
)
def test_the_simulator_and_the_service_decide_alike_for_a_stranded_ticket(
    levels: list[list[int]],
    rules: list[EscalationRule],
    priority: int,
    need: tuple[int, int],
    fired: set[str],
) -> None:
    """Any small roster of agents (levels of ``a`` and ``desk``), tier rules and marks, a
    ticket requiring ``need`` that every able agent declined: the service
    (``dispatcher.sla.declined_escalation`` on stored tickets and technicians) and the
    simulator (``TicketClock.declined`` on its arrays) take the same decision -- the same
    rule or none, the same priority and requirement after it -- and it never strands the
    ticket: after an escalation somebody is able to do it, and an override comes only when
    no tier anybody serves is left."""
    policy = Policy(escalations=tuple(rules))
    stream = stream_of([{"created": 0.0, "priority": priority}])
    clock = TicketClock(policy, stream, origin_s=0.0)
    clock.required[0] = need
    clock.fired[0] = frozenset(fired)
    held = np.array(levels, np.int64)
    able = declines.able_technicians(clock.required[0], held)
    assume(able.any())  # somebody able declined it, else there is nothing to strand
    declined_by = tuple(f"K{j + 1}" for j in np.flatnonzero(able).tolist())
    ticket = service_ticket(clock, declined_by)
    marks = SlaMarks(escalated=frozenset(fired))
    service = declined_escalation(policy, ticket, marks, service_roster(levels))
    escalated = clock.declined(0, declined_by, 0.0, simulator_roster(levels))
    assert escalated == (service is not None)
    if service is None:
        assert SUPERVISOR_OVERRIDE in fired
        return
    assert clock.fired[0] == frozenset(fired) | {service.rule.name}
    assert clock.priority[0] == service.new_priority
    body = json.loads(
        tier_body(ticket, service.rule) if service.rule.tier_skill else "{}"
    )
    after = dict(
        body.get("skills") or [(s.skill, s.level) for s in ticket.required_skills]
    )
    assert after == {
        s: int(v)
        for s, v in zip(SKILLS, clock.required[0].tolist(), strict=True)
        if v > 0
    }
    # never stranded: with the declines lifted somebody able is on the roster
    assert declines.able_technicians(clock.required[0], held).any()
    if service.rule.name == SUPERVISOR_OVERRIDE:
        assert clock.escalated[0].tolist() == [0, 0, 1]
        assert clock.required[0].tolist() == list(need)


@settings(max_examples=200, deadline=None)
@given(
    levels=AGENT_LEVELS,
    rules=TIER_RULES,
    priority=st.integers(1, 4),
    need=TICKET_NEED,
    refused=st.sets(st.integers(0, 3)),
)
def test_the_simulator_and_the_service_move_tiers_alike_on_the_clock(
    levels: list[list[int]],
    rules: list[EscalationRule],
    priority: int,
    need: tuple[int, int],
    refused: set[int],
) -> None:
    """A clock rule due now on a ticket requiring ``need`` that some agents declined: the
    service (``solver.sla.escalations`` then ``dispatcher.sla.clock_escalation``) and the
    simulator (``TicketClock.run_rules``) fire the same rule with the same tier move or
    none; a move happens only where an agent who has not declined can serve the result."""
    policy = Policy(
        escalations=tuple(dataclasses.replace(r, after_s=0.0) for r in rules)
    )
    stream = stream_of([{"created": 0.0, "priority": priority}])
    clock = TicketClock(policy, stream, origin_s=0.0)
    clock.required[0] = need
    declined = sorted(j for j in refused if j < len(levels))
    ticket = service_ticket(clock, tuple(f"K{j + 1}" for j in declined))
    due = sla_step.escalations(
        policy, clock.clock_tickets(np.array([0]), ["QUEUED"]), 0.0
    )
    service = [
        dispatcher_sla.clock_escalation(e, ticket, service_roster(levels)) for e in due
    ]
    rows, _ = clock.run_rules(
        np.array([0], np.int64),
        ["QUEUED"],
        0.0,
        simulator_roster(levels),
        {0: declined},
    )
    assert rows == ([0] if service else [])
    if not service:
        return
    (e,) = service
    assert clock.fired[0] == {e.rule.name}
    assert clock.priority[0] == e.new_priority
    if e.rule.tier_skill:
        assert clock.tier[0] == f"desk:{max(need[1], e.rule.tier_level)}"
        held = np.array(levels, np.int64)
        able = declines.able_technicians(clock.required[0], held, declined)
        assert able.any()
    else:
        assert clock.tier[0] == ""
        assert clock.required[0].tolist() == list(need)


def test_a_tier_nobody_able_holds_is_passed_over_for_the_override() -> None:
    """T0 needs ``a`` (level 2), held only by K1, who has desk 1; K2 has desk 2 but ``a``
    at level 1 only. K1 declines: moving T0 to desk 2 would leave nobody able, so the
    simulator, as the service, passes the tier over and a supervisor overrides the
    declines; K1 takes T0 (its next draw accepts)."""
    stream = stream_of([{"created": 0.0, "level": 2, "declines": [0.0]}])
    t0 = run(desk_doc(escalations=[TO_L2]), stream, roster_of([[2, 1], [1, 2]]))["T0"]
    assert (t0["escalations_declined"], t0["escalations_override"]) == (0, 1)
    assert t0["escalated_tier"] == ""
    assert (t0["status"], t0["technician"]) == ("resolved", "K1")


# --------------------------------------------------------------------------- shipped


def test_the_shipped_help_desk_uses_tiers_and_waits() -> None:
    """The shipped helpdesk scenario (3 hours, the optimizer): tickets wait on customers,
    move up to the second line, and no agent serves a ticket below its tier."""
    sc = dataclasses.replace(load_scenario("helpdesk"), horizon_s=3 * HOUR)
    out = run_once(sc, "optimizer", 1)
    k = run_kpis(out.result)
    assert k["pending_tickets"] > 0
    assert k["pending_h"] > 0
    assert k["escalations_clock"] + k["escalations_declined"] > 0
    t = out.result.tickets
    assert (t["escalated_tier"] != "").sum() > 0
