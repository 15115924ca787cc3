"""Rules the .proto states that a client cannot otherwise learn, checked with the solve loop
running: how a held-back duplicate is settled when its original closes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from dispatcher.pb import dispatch_pb2 as pb
from tests.dispatch.conftest import is_assignment, technician, ticket

if TYPE_CHECKING:
    from tests.dispatch.conftest import Stubs

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

HERE = pb.Location(latitude_deg=42.3601, longitude_deg=-71.0601)


async def _original_and_held_back_duplicate(dispatch: Stubs) -> None:
    await dispatch.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=technician("A", capacity=5))
    )
    await dispatch.tickets.SubmitTicket(
        pb.SubmitTicketRequest(
            ticket=ticket("T1", category="streetlight", location=HERE)
        )
    )
    await dispatch.wait_event(lambda e: is_assignment(e) and e.ticket_id == "T1")
    await dispatch.tickets.SubmitTicket(
        pb.SubmitTicketRequest(
            ticket=ticket("T2", category="streetlight", location=HERE)
        )
    )
    dup = await dispatch.wait_event(
        lambda e: e.type == pb.EVENT_TYPE_TICKET_DUPLICATE_DETECTED
    )
    assert (dup.ticket_id, dup.duplicate_of_ticket_id) == ("T2", "T1")


async def test_held_back_duplicate_is_cancelled_when_its_original_resolves(
    dispatch: Stubs,
) -> None:
    """Ticket.duplicate_of_ticket_id: original RESOLVED -> the duplicate is CANCELLED by
    the service, its cancel_reason naming the original."""
    await _original_and_held_back_duplicate(dispatch)
    for call, request in (
        (dispatch.tickets.AcceptTicket, pb.AcceptTicketRequest),
        (dispatch.tickets.StartTicket, pb.StartTicketRequest),
    ):
        await call(request(ticket_id="T1", technician_id="A"))
    await dispatch.tickets.CompleteTicket(
        pb.CompleteTicketRequest(
            ticket_id="T1",
            technician_id="A",
            resolution=pb.Resolution(code=pb.RESOLUTION_CODE_FIXED),
        )
    )
    await dispatch.wait_event(
        lambda e: e.type == pb.EVENT_TYPE_TICKET_CANCELLED and e.ticket_id == "T2"
    )
    t2 = await dispatch.tickets.GetTicket(pb.GetTicketRequest(ticket_id="T2"))
    assert t2.status == pb.TICKET_STATUS_CANCELLED
    assert "T1" in t2.cancel_reason


async def test_held_back_duplicate_is_dispatched_when_its_original_is_cancelled(
    dispatch: Stubs,
) -> None:
    """Ticket.duplicate_of_ticket_id: original CANCELLED -> the duplicate is dispatched on
    its own."""
    await _original_and_held_back_duplicate(dispatch)
    await dispatch.tickets.CancelTicket(pb.CancelTicketRequest(ticket_id="T1"))
    await dispatch.wait_event(lambda e: is_assignment(e) and e.ticket_id == "T2")
