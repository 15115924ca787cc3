"""Bounded churn through the live service: real server, real Redis, real gRPC over loopback.

A held (ASSIGNED) ticket moves only when the move gains at least the policy's
``weights.move_min_gain``; the REASSIGNED event and Explain say why it moved; an ACCEPTED
ticket never moves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from dispatcher.pb import dispatch_pb2 as pb
from tests.dispatch.conftest import eventually, is_assignment, technician, ticket

if TYPE_CHECKING:
    from tests.dispatch.conftest import Stubs

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SITE = pb.Location(latitude_deg=42.36, longitude_deg=-71.06)
FAR = pb.Location(latitude_deg=42.40, longitude_deg=-71.10)  # ~5.5 km from SITE


async def set_policy(dispatch: Stubs, move_min_gain: float) -> None:
    """Default weights but no stability cost (the threshold alone bounds the churn)."""
    weights = pb.CostWeights(
        travel=1.0, lateness=10.0, waiting=0.1, skill_surplus=60.0, balance=300.0,
        preference=600.0, tier=0.5, stability=0.0, unassigned=7200.0,
        move_min_gain=move_min_gain,
    )  # fmt: skip
    solver = pb.SolverSettings(
        cadence_s=0.2, debounce_ms=5, time_limit_s=2, candidates_k=16
    )
    await dispatch.policy.UpdatePolicy(
        pb.UpdatePolicyRequest(
            policy=pb.Policy(weights=weights, solver=solver),
            update_mask={"paths": ["weights", "solver"]},
        )
    )


async def held_by_far(dispatch: Stubs) -> pb.Event:
    """T1 at SITE, placed with the only technician, FAR."""
    await dispatch.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=technician("FAR", location=FAR))
    )
    await dispatch.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=ticket("T1", location=SITE))
    )
    first = await dispatch.wait_event(is_assignment)
    assert (first.technician_id, first.type) == ("FAR", pb.EVENT_TYPE_TICKET_ASSIGNED)
    assert first.assignment.move_reason == pb.MOVE_REASON_UNSPECIFIED
    return first


async def solves_after_now(dispatch: Stubs, count: int) -> None:
    """Wait until the loop has run ``count`` more solves of the region."""
    registry = dispatch.loop.metrics.registry  # type: ignore[union-attr]

    def solves() -> float:
        value = registry.get_sample_value(
            "dispatch_solve_duration_seconds_count", {"region": "north"}
        )
        return value or 0.0

    start = solves()

    async def done() -> bool:
        return solves() >= start + count

    await eventually(done)


async def test_a_move_carries_its_gain_in_the_event_and_in_explain(
    dispatch: Stubs,
) -> None:
    """A technician appearing at the site draws the ticket over (gain > threshold): the
    REASSIGNED event's assignment says GAIN and how much, and so does Explain."""
    await set_policy(dispatch, 300.0)
    first = await held_by_far(dispatch)
    await dispatch.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=technician("NEAR", location=SITE))
    )
    moved = await dispatch.wait_event(
        lambda e: e.type == pb.EVENT_TYPE_TICKET_REASSIGNED
    )
    assert (moved.technician_id, moved.previous_technician_id) == ("NEAR", "FAR")
    assert moved.ticket_version > first.ticket_version
    assert moved.assignment.move_reason == pb.MOVE_REASON_GAIN
    assert moved.assignment.move_gain >= 300.0
    out = await dispatch.insight.ExplainAssignment(
        pb.ExplainAssignmentRequest(ticket_id="T1")
    )
    assert out.chosen.technician_id == "NEAR"
    assert out.chosen.move_reason == pb.MOVE_REASON_GAIN
    assert out.chosen.move_gain == pytest.approx(moved.assignment.move_gain)


async def test_a_move_below_the_threshold_never_happens(dispatch: Stubs) -> None:
    """The same better technician, but a threshold above what the move gains: T1 stays."""
    await set_policy(dispatch, 1e5)
    await held_by_far(dispatch)
    await dispatch.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=technician("NEAR", location=SITE))
    )
    await solves_after_now(dispatch, 3)
    got = await dispatch.tickets.GetTicket(pb.GetTicketRequest(ticket_id="T1"))
    assert (got.status, got.assignment.technician_id) == (
        pb.TICKET_STATUS_ASSIGNED,
        "FAR",
    )


async def test_an_accepted_ticket_never_moves(dispatch: Stubs) -> None:
    """Accepted (then started) work stays with its technician whatever a move would gain."""
    await set_policy(dispatch, 0.0)
    first = await held_by_far(dispatch)
    await dispatch.tickets.AcceptTicket(
        pb.AcceptTicketRequest(
            ticket_id="T1", technician_id="FAR", expected_version=first.ticket_version
        )
    )
    await dispatch.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=technician("NEAR", location=SITE))
    )
    await solves_after_now(dispatch, 3)
    got = await dispatch.tickets.GetTicket(pb.GetTicketRequest(ticket_id="T1"))
    assert (got.status, got.assignment.technician_id) == (
        pb.TICKET_STATUS_ACCEPTED,
        "FAR",
    )
    await dispatch.tickets.StartTicket(
        pb.StartTicketRequest(ticket_id="T1", technician_id="FAR")
    )
    # in progress, T1 is out of the solves; a new ticket makes the loop solve again
    await dispatch.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=ticket("T2", location=SITE))
    )
    await dispatch.wait_event(lambda e: is_assignment(e) and e.ticket_id == "T2")
    got = await dispatch.tickets.GetTicket(pb.GetTicketRequest(ticket_id="T1"))
    assert got.status == pb.TICKET_STATUS_IN_PROGRESS
    assert got.assignment.technician_id == "FAR"
