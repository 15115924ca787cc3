"""Help desks through the live service: agents and tickets without location (travel 0).

Real server, real Redis, real gRPC over loopback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
import grpc.aio
import pytest

from dispatcher.pb import dispatch_pb2 as pb
from solver.business_time import BusinessCalendar, add_business_seconds
from tests.dispatch.conftest import is_assignment

if TYPE_CHECKING:
    from tests.dispatch.conftest import Stubs

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SITE = pb.Location(latitude_deg=42.36, longitude_deg=-71.06)


def agent(technician_id: str, **kw: object) -> pb.Technician:
    """A help desk agent: no location."""
    kw.setdefault("capacity", 3)
    return pb.Technician(
        technician_id=technician_id,
        region="desk",
        status=pb.TECHNICIAN_STATUS_AVAILABLE,
        **kw,  # type: ignore[arg-type]
    )


def remote_ticket(ticket_id: str, **kw: object) -> pb.Ticket:
    """A help desk ticket: no location, no asset."""
    kw.setdefault("priority", 2)
    return pb.Ticket(
        ticket_id=ticket_id,
        region="desk",
        work_duration_s=900,
        **kw,  # type: ignore[arg-type]
    )


async def test_agents_without_location_take_remote_tickets(dispatch: Stubs) -> None:
    """Every remote ticket is placed with an agent without location, no travel term."""
    for tid in ("A1", "A2"):
        await dispatch.technicians.UpsertTechnician(
            pb.UpsertTechnicianRequest(technician=agent(tid))
        )
    for tid in ("T1", "T2", "T3", "T4"):
        await dispatch.tickets.SubmitTicket(
            pb.SubmitTicketRequest(ticket=remote_ticket(tid))
        )
    events = await dispatch.wait_events(is_assignment, 4, regions=("desk",))
    assert {e.ticket_id for e in events} == {"T1", "T2", "T3", "T4"}
    for e in events:
        assert e.technician_id in ("A1", "A2")
        terms = {c.name: c.value for c in e.assignment.cost_terms}
        assert terms.get("travel", 0.0) == 0.0
        assert e.assignment.expected_arrival_ms > 0
    out = await dispatch.insight.ExplainAssignment(
        pb.ExplainAssignmentRequest(ticket_id="T1")
    )
    assert out.chosen.technician_id in ("A1", "A2")
    assert all(
        c.name != "travel" or c.value == 0.0
        for a in out.alternatives
        for c in a.cost_terms
    )


async def test_an_agent_costs_no_travel_to_a_ticket_with_a_place(
    dispatch: Stubs,
) -> None:
    """A ticket with a location, one field technician 5 km away and one agent without
    location: the agent (travel 0) gets it."""
    far = pb.Location(latitude_deg=42.40, longitude_deg=-71.10)
    await dispatch.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=agent("FIELD", location=far))
    )
    await dispatch.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=agent("DESK"))
    )
    await dispatch.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=remote_ticket("T1", location=SITE))
    )
    placed = await dispatch.wait_event(is_assignment, regions=("desk",))
    assert placed.technician_id == "DESK"


async def test_an_agent_with_concurrency_two_runs_two_tickets_at_once(
    dispatch: Stubs,
) -> None:
    """Concurrency 2, capacity 4: four tickets all go to the one agent, two are predicted
    to start now side by side and two after them; places 0..3 in one queue."""
    await dispatch.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=agent("A1", capacity=4, concurrency=2))
    )
    got = await dispatch.technicians.GetTechnician(
        pb.GetTechnicianRequest(technician_id="A1")
    )
    assert got.concurrency == 2
    for tid in ("T1", "T2", "T3", "T4"):
        await dispatch.tickets.SubmitTicket(
            pb.SubmitTicketRequest(ticket=remote_ticket(tid))
        )
    events = await dispatch.wait_events(is_assignment, 4, regions=("desk",))
    assert {e.technician_id for e in events} == {"A1"}

    async def placed() -> list[pb.Ticket]:
        out = []
        for tid in ("T1", "T2", "T3", "T4"):
            t = await dispatch.tickets.GetTicket(pb.GetTicketRequest(ticket_id=tid))
            out.append(t)
        return out

    tickets = await placed()
    assert sorted(t.assignment.position for t in tickets) == [0, 1, 2, 3]
    starts = sorted(t.assignment.expected_start_ms for t in tickets)
    assert starts[1] - starts[0] < 5_000  # two at once
    assert starts[2] - starts[0] >= 900_000 - 5_000  # the next two after 15 min


async def test_concurrency_above_capacity_is_refused(dispatch: Stubs) -> None:
    """concurrency must be <= capacity (and <= 20): INVALID_ARGUMENT naming the field."""
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await dispatch.technicians.UpsertTechnician(
            pb.UpsertTechnicianRequest(
                technician=agent("A1", capacity=2, concurrency=3)
            )
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "technician.concurrency" in (err.value.details() or "")


async def test_business_hours_calendar_sets_the_due_times(dispatch: Stubs) -> None:
    """A policy whose P3 clock runs 09:00-17:00 Berlin on weekdays: a submitted P3's derived
    due times are the calendar's sums from its submit time (GetPolicy returns the calendar)."""
    desk = pb.BusinessCalendar(
        time_zone="Europe/Berlin", days=[1, 2, 3, 4, 5], start="09:00", end="17:00",
        holidays=["2026-12-25"],
    )  # fmt: skip
    await dispatch.policy.UpdatePolicy(
        pb.UpdatePolicyRequest(
            policy=pb.Policy(
                sla_targets=[
                    pb.SlaTarget(
                        priority=pb.PRIORITY_P3, response_s=8 * 3600.0,
                        resolution_s=16 * 3600.0, calendar="desk",
                    ),
                ],
                calendars={"desk": desk},
            ),
            update_mask={"paths": ["sla_targets", "calendars"]},
        )
    )  # fmt: skip
    got = await dispatch.policy.GetPolicy(pb.GetPolicyRequest())
    assert got.calendars["desk"].time_zone == "Europe/Berlin"
    assert got.sla_targets[0].calendar == "desk"
    out = await dispatch.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=remote_ticket("T1", priority=3))
    )
    t = out.ticket
    cal = BusinessCalendar(
        time_zone="Europe/Berlin", start="09:00", end="17:00", holidays=("2026-12-25",)
    )
    created_s = t.created_at_ms / 1000.0
    assert t.sla.response_due_ms == pytest.approx(
        add_business_seconds(cal, created_s, 8 * 3600.0) * 1000.0, abs=1.0
    )
    assert t.sla.resolution_due_ms == pytest.approx(
        add_business_seconds(cal, created_s, 16 * 3600.0) * 1000.0, abs=1.0
    )
    assert t.sla.response_due_ms - t.created_at_ms >= 8 * 3600 * 1000


async def test_an_undefined_calendar_is_refused(dispatch: Stubs) -> None:
    """An SLA target naming no calendar of the policy: INVALID_ARGUMENT naming the field."""
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await dispatch.policy.UpdatePolicy(
            pb.UpdatePolicyRequest(
                policy=pb.Policy(
                    sla_targets=[
                        pb.SlaTarget(
                            priority=pb.PRIORITY_P3, response_s=60.0,
                            resolution_s=120.0, calendar="nope",
                        )
                    ]
                ),
                update_mask={"paths": ["sla_targets"]},
            )
        )  # fmt: skip
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "calendar" in (err.value.details() or "")


async def _escalate_to_second_line_after(dispatch: Stubs, after_s: float) -> None:
    """The policy's one rule: a ticket not started ``after_s`` after submit escalates to
    the second line (desk level 2)."""
    rule = pb.EscalationRule(
        name="to-second-line", condition=pb.ESCALATION_CONDITION_NOT_STARTED,
        after_s=after_s, tier_skill="desk", tier_level=2,
    )  # fmt: skip
    await dispatch.policy.UpdatePolicy(
        pb.UpdatePolicyRequest(
            policy=pb.Policy(escalation_rules=[rule]),
            update_mask={"paths": ["escalation_rules"]},
        )
    )


async def test_tier_escalation_moves_the_ticket_to_second_line(dispatch: Stubs) -> None:
    """A rule 0.5 s after submit raises the ticket's desk requirement to level 2: the
    escalation event names the tier, the ticket now requires desk 2, and the next solve
    moves it from the first-line agent to the second-line one (its holder no longer
    qualifies: MOVE_REASON_PREVIOUS_UNABLE)."""
    await _escalate_to_second_line_after(dispatch, 0.5)
    for tid, level in (("L1", 1), ("L2", 2)):
        await dispatch.technicians.UpsertTechnician(
            pb.UpsertTechnicianRequest(
                technician=agent(tid, skills=[pb.Skill(skill="desk", level=level)])
            )
        )
    need = [pb.SkillRequirement(skill="desk", min_level=1)]
    await dispatch.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=remote_ticket("T1", required_skills=need))
    )
    first = await dispatch.wait_event(is_assignment, regions=("desk",))
    assert first.technician_id == "L1"  # no skill surplus
    escalated = await dispatch.wait_event(
        lambda e: e.type == pb.EVENT_TYPE_TICKET_ESCALATED, regions=("desk",)
    )
    assert escalated.reason == "to-second-line"
    assert escalated.details["tier"] == "desk:2"
    assert "body" not in escalated.details
    moved = await dispatch.wait_event(
        lambda e: e.type == pb.EVENT_TYPE_TICKET_REASSIGNED, regions=("desk",)
    )
    assert (moved.technician_id, moved.previous_technician_id) == ("L2", "L1")
    assert moved.assignment.move_reason == pb.MOVE_REASON_PREVIOUS_UNABLE
    got = await dispatch.tickets.GetTicket(pb.GetTicketRequest(ticket_id="T1"))
    assert [(s.skill, s.min_level) for s in got.required_skills] == [("desk", 2)]


async def test_a_clock_tier_nobody_able_holds_is_passed_over(dispatch: Stubs) -> None:
    """The same rule on a ticket needing ``sap``, held only by S1, while desk 2 is held
    only by L2 (no sap): moving the ticket to desk 2 would leave nobody able (NO_SKILL),
    so the rule fires without the move (the event names the tier passed over) and S1
    keeps the ticket, which still needs only sap."""
    await _escalate_to_second_line_after(dispatch, 0.5)
    for tid, skill, level in (("S1", "sap", 1), ("L2", "desk", 2)):
        await dispatch.technicians.UpsertTechnician(
            pb.UpsertTechnicianRequest(
                technician=agent(tid, skills=[pb.Skill(skill=skill, level=level)])
            )
        )
    need = [pb.SkillRequirement(skill="sap", min_level=1)]
    await dispatch.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=remote_ticket("T1", required_skills=need))
    )
    first = await dispatch.wait_event(is_assignment, regions=("desk",))
    assert first.technician_id == "S1"
    escalated = await dispatch.wait_event(
        lambda e: e.type == pb.EVENT_TYPE_TICKET_ESCALATED, regions=("desk",)
    )
    assert escalated.reason == "to-second-line"
    assert "tier" not in escalated.details
    assert escalated.details["tier_passed_over"] == "desk:2"
    # a solve after the escalation (it places T2) keeps T1 with S1: with the tier, S1
    # would have lost it (PREVIOUS_UNABLE) and nobody could take it (NO_SKILL)
    await dispatch.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=remote_ticket("T2", required_skills=need))
    )
    await dispatch.wait_event(
        lambda e: is_assignment(e) and e.ticket_id == "T2", regions=("desk",)
    )
    got = await dispatch.tickets.GetTicket(pb.GetTicketRequest(ticket_id="T1"))
    assert [(s.skill, s.min_level) for s in got.required_skills] == [("sap", 1)]
    assert got.assignment.technician_id == "S1"
    assert got.escalation_level == 1
