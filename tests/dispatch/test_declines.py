"""A ticket declined by every technician able to do it is escalated, never stranded (issue 13
item 4): at once, by the policy's next-tier escalation rule whose tier somebody can serve,
with the clock escalation's event; without one, by a supervisor override that lifts the
declines (TICKET_ESCALATED and SUPERVISOR_NOTIFIED), once per ticket: declined by every able
technician again after it, the ticket stays QUEUED with the reason DECLINED.

Real server, real solve loop, real Redis, real gRPC over loopback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from dispatcher.pb import dispatch_pb2 as pb
from tests.dispatch.conftest import eventually, is_assignment, technician, ticket

if TYPE_CHECKING:
    from tests.dispatch.conftest import Stubs

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

DESK_1 = [pb.SkillRequirement(skill="desk", min_level=1)]
HOUR = 3600.0  # a rule's clock that cannot fire during a test


def second_line(**kw: object) -> pb.EscalationRule:
    """A tier rule whose clock is an hour away: it fires within a test only on declines."""
    return pb.EscalationRule(
        name="to-second-line", condition=pb.ESCALATION_CONDITION_NOT_STARTED,
        after_s=HOUR, raise_priority=0, tier_skill="desk", tier_level=2,
        **kw,  # type: ignore[arg-type]
    )  # fmt: skip


async def set_policy(dispatch: Stubs, policy: pb.Policy, *paths: str) -> None:
    await dispatch.policy.UpdatePolicy(
        pb.UpdatePolicyRequest(policy=policy, update_mask={"paths": list(paths)})
    )


async def add(dispatch: Stubs, tid: str, level: int, region: str = "north") -> None:
    await dispatch.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(
            technician=technician(
                tid, region=region, skills=[pb.Skill(skill="desk", level=level)]
            )
        )
    )


async def decline(dispatch: Stubs, tid: str, by: str) -> None:
    await dispatch.tickets.DeclineTicket(
        pb.DeclineTicketRequest(ticket_id=tid, technician_id=by, reason="cannot")
    )


def escalated(event: pb.Event) -> bool:
    return event.type == pb.EVENT_TYPE_TICKET_ESCALATED


async def test_the_only_able_technician_declines_and_the_next_tier_takes_it(
    dispatch: Stubs,
) -> None:
    """North's only desk agent L1 declines T1: the tier rule fires at once (not on its
    one-hour clock), T1 now needs desk 2 and widens to the second line's region, where L2,
    who never declined it, is assigned it."""
    await set_policy(
        dispatch,
        pb.Policy(
            escalation_rules=[second_line(widen_to_neighbours=True)],
            neighbours={"north": pb.NeighbourRegions(regions=["second"])},
        ),
        "escalation_rules",
        "neighbours",
    )
    await add(dispatch, "L1", 1)
    await add(dispatch, "L2", 2, region="second")
    await dispatch.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=ticket("T1", required_skills=DESK_1))
    )
    first = await dispatch.wait_event(is_assignment)
    assert first.technician_id == "L1"
    await decline(dispatch, "T1", "L1")
    esc = await dispatch.wait_event(escalated, regions=("north",))
    assert esc.reason == "to-second-line"
    assert esc.details["condition"] == "declined_by_every_able"
    assert esc.details["cause"] == "declined by every able technician (L1)"
    assert esc.details["declined_by"] == "L1"
    assert esc.details["tier"] == "desk:2"
    again = await dispatch.wait_event(
        lambda e: is_assignment(e) and e.ticket_id == "T1", regions=("second",)
    )
    assert again.technician_id == "L2"
    got = await dispatch.tickets.GetTicket(pb.GetTicketRequest(ticket_id="T1"))
    assert got.region == "second"
    assert [(s.skill, s.min_level) for s in got.required_skills] == [("desk", 2)]
    assert got.escalation_level == 1


async def test_declined_by_every_able_one_in_the_region_the_tier_lifts_the_declines(
    dispatch: Stubs,
) -> None:
    """L1 (desk 1) declines: L2 (desk 2, able too) gets T1, no escalation. L2 declines too:
    nobody able is left, so T1 escalates to desk 2 at once; the escalation lifts the
    declines (a supervisor's override) and the second line's L2 is assigned it again. A
    second refusal by L2 leaves it DECLINED: each rule fires once."""
    await set_policy(
        dispatch, pb.Policy(escalation_rules=[second_line()]), "escalation_rules"
    )
    await add(dispatch, "L1", 1)
    await add(dispatch, "L2", 2)
    await dispatch.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=ticket("T1", required_skills=DESK_1))
    )
    first = await dispatch.wait_event(is_assignment)
    assert first.technician_id == "L1"
    await decline(dispatch, "T1", "L1")
    second = await dispatch.wait_event(
        lambda e: is_assignment(e) and e.ticket_version > first.ticket_version
    )
    assert second.technician_id == "L2"
    got = await dispatch.tickets.GetTicket(pb.GetTicketRequest(ticket_id="T1"))
    assert got.escalation_level == 0  # an able technician was left: no escalation
    await decline(dispatch, "T1", "L2")
    esc = await dispatch.wait_event(escalated)
    assert esc.details["declined_by"] == "L1,L2"
    assert esc.details["tier"] == "desk:2"
    third = await dispatch.wait_event(
        lambda e: is_assignment(e) and e.ticket_version > esc.ticket_version
    )
    assert third.technician_id == "L2"
    got = await dispatch.tickets.GetTicket(pb.GetTicketRequest(ticket_id="T1"))
    assert list(got.declined_by_technician_ids) == []
    assert [(s.skill, s.min_level) for s in got.required_skills] == [("desk", 2)]
    # L2 declines the escalated ticket too: no next tier is left, so a supervisor
    # overrides the declines (once) and L2 is offered it again
    await decline(dispatch, "T1", "L2")
    override = await dispatch.wait_event(
        lambda e: escalated(e) and e.ticket_version > third.ticket_version
    )
    assert override.reason == "supervisor-override"
    assert "tier" not in override.details
    fourth = await dispatch.wait_event(
        lambda e: is_assignment(e) and e.ticket_version > override.ticket_version
    )
    assert fourth.technician_id == "L2"
    # a refusal after the override leaves it DECLINED (no further escalation, no offer loop)
    await decline(dispatch, "T1", "L2")
    last = await dispatch.wait_event(
        lambda e: (
            e.type == pb.EVENT_TYPE_TICKET_UNASSIGNABLE
            and e.ticket_version > fourth.ticket_version
        )
    )
    assert last.unassigned_reason == pb.UNASSIGNED_REASON_DECLINED
    got = await dispatch.tickets.GetTicket(pb.GetTicketRequest(ticket_id="T1"))
    assert got.escalation_level == 2


SAP = [pb.SkillRequirement(skill="sap", min_level=1)]


async def add_skilled(dispatch: Stubs, tid: str, **skills: int) -> None:
    await dispatch.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(
            technician=technician(
                tid, skills=[pb.Skill(skill=k, level=v) for k, v in skills.items()]
            )
        )
    )


async def assert_overridden_then_declined(dispatch: Stubs) -> None:
    """T1, assigned to sap-only, is declined by it: a supervisor overrides the declines
    (TICKET_ESCALATED and SUPERVISOR_NOTIFIED, the ticket's skills unchanged) and sap-only
    is assigned it again; declined again, it stays QUEUED with the reason DECLINED,
    escalated once (also in Explain)."""
    first = await dispatch.wait_event(is_assignment)
    assert first.technician_id == "sap-only"
    await decline(dispatch, "T1", "sap-only")
    esc = await dispatch.wait_event(escalated)
    assert esc.reason == "supervisor-override"
    assert esc.details["condition"] == "declined_by_every_able"
    assert esc.details["declined_by"] == "sap-only"
    assert "tier" not in esc.details
    notice = await dispatch.wait_event(
        lambda e: e.type == pb.EVENT_TYPE_SUPERVISOR_NOTIFIED
    )
    assert notice.reason == "supervisor-override"
    assert notice.details["supervisor_target"] == "supervisors"
    assert "declined by every able technician (sap-only)" in notice.details["notice"]
    again = await dispatch.wait_event(
        lambda e: is_assignment(e) and e.ticket_version > esc.ticket_version
    )
    assert again.technician_id == "sap-only"
    got = await dispatch.tickets.GetTicket(pb.GetTicketRequest(ticket_id="T1"))
    assert got.escalation_level == 1
    assert list(got.declined_by_technician_ids) == []
    assert [(s.skill, s.min_level) for s in got.required_skills] == [("sap", 1)]
    # declined again after the override: DECLINED, no second escalation
    await decline(dispatch, "T1", "sap-only")
    unassignable = await dispatch.wait_event(
        lambda e: (
            e.type == pb.EVENT_TYPE_TICKET_UNASSIGNABLE
            and e.ticket_version > again.ticket_version
        )
    )
    assert unassignable.unassigned_reason == pb.UNASSIGNED_REASON_DECLINED

    async def declined() -> pb.Ticket | None:
        got = await dispatch.tickets.GetTicket(pb.GetTicketRequest(ticket_id="T1"))
        return got if got.unassigned_reason == pb.UNASSIGNED_REASON_DECLINED else None

    got = await eventually(declined)
    assert got.status == pb.TICKET_STATUS_QUEUED
    assert got.escalation_level == 1
    out = await dispatch.insight.ExplainAssignment(
        pb.ExplainAssignmentRequest(ticket_id="T1")
    )
    assert out.unassigned_reason == pb.UNASSIGNED_REASON_DECLINED
    assert not out.HasField("chosen")


async def test_without_a_tier_rule_a_supervisor_overrides_the_declines(
    dispatch: Stubs,
) -> None:
    """The default policy (no tier rule): the P4 ticket T1 needs ``sap``, held only by
    sap-only, who declines it. It is not stranded: a supervisor override lifts the declines
    and notifies the supervisors, and sap-only is offered it again; a second refusal leaves
    it DECLINED (one override per ticket)."""
    await add_skilled(dispatch, "sap-only", sap=1)
    await add_skilled(dispatch, "X", net=1)  # able to do nothing here
    await dispatch.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=ticket("T1", priority=4, required_skills=SAP))
    )
    await assert_overridden_then_declined(dispatch)


async def test_a_tier_nobody_with_the_skill_holds_is_passed_over(
    dispatch: Stubs,
) -> None:
    """A tier rule for any priority moves tickets to ``desk:2``, which D2 holds but nobody
    holding ``sap`` does: when sap-only declines T1, moving it there would leave nobody
    able (reason NO_SKILL), so the tier is passed over and a supervisor overrides the
    declines instead; T1 keeps needing only ``sap``."""
    await set_policy(
        dispatch, pb.Policy(escalation_rules=[second_line()]), "escalation_rules"
    )
    await add_skilled(dispatch, "sap-only", sap=1)
    await add_skilled(dispatch, "D2", desk=2)
    await dispatch.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=ticket("T1", priority=4, required_skills=SAP))
    )
    await assert_overridden_then_declined(dispatch)
