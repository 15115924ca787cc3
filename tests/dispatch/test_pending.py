"""PENDING over gRPC: out of every queue, the SLA clock stops, ResumeTicket moves the due
times by the wait. Real server, real Redis, real gRPC over loopback."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import grpc
import grpc.aio
import pytest

from dispatcher.pb import dispatch_pb2 as pb
from tests.dispatch.conftest import is_assignment, technician, ticket

if TYPE_CHECKING:
    from tests.dispatch.conftest import Stubs

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def test_pending_stops_the_clock_and_resume_moves_the_due_times(
    dispatch: Stubs,
) -> None:
    """An assigned ticket goes PENDING: it leaves the queue (event names the previous
    technician) and no solve places it; on resume its due times move by the wait and it is
    dispatched again."""
    await dispatch.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=technician("A", capacity=3))
    )
    await dispatch.tickets.SubmitTicket(pb.SubmitTicketRequest(ticket=ticket("T1")))
    first = await dispatch.wait_event(is_assignment)
    before = await dispatch.tickets.GetTicket(pb.GetTicketRequest(ticket_id="T1"))
    pending = await dispatch.tickets.PendTicket(
        pb.PendTicketRequest(
            ticket_id="T1", reason="waiting for the customer",
            expected_version=first.ticket_version,
        )
    )  # fmt: skip
    assert pending.status == pb.TICKET_STATUS_PENDING
    assert pending.pending_since_ms > 0
    assert not pending.HasField("assignment")
    ev = await dispatch.wait_event(lambda e: e.type == pb.EVENT_TYPE_TICKET_PENDING)
    assert (ev.previous_technician_id, ev.reason) == ("A", "waiting for the customer")
    tech = await dispatch.technicians.GetTechnician(
        pb.GetTechnicianRequest(technician_id="A")
    )
    assert list(tech.queue_ticket_ids) == []
    stats = await dispatch.insight.GetQueueStats(
        pb.GetQueueStatsRequest(regions=["north"])
    )
    p3 = next(p for p in stats.regions[0].priorities if p.priority == pb.PRIORITY_P3)
    assert (p3.pending, p3.assigned, p3.queued) == (1, 0, 0)
    await asyncio.sleep(0.6)
    # a solve runs for a new ticket: it places T2, never the pending T1
    await dispatch.tickets.SubmitTicket(pb.SubmitTicketRequest(ticket=ticket("T2")))
    await dispatch.wait_event(lambda e: is_assignment(e) and e.ticket_id == "T2")
    still = await dispatch.tickets.GetTicket(pb.GetTicketRequest(ticket_id="T1"))
    assert still.status == pb.TICKET_STATUS_PENDING
    resumed = await dispatch.tickets.ResumeTicket(
        pb.ResumeTicketRequest(ticket_id="T1")
    )
    assert resumed.status in (pb.TICKET_STATUS_QUEUED, pb.TICKET_STATUS_ASSIGNED)
    assert resumed.pending_since_ms == 0
    stats = await dispatch.insight.GetQueueStats(
        pb.GetQueueStatsRequest(regions=["north"])
    )
    p3 = next(p for p in stats.regions[0].priorities if p.priority == pb.PRIORITY_P3)
    assert p3.pending == 0
    wait_ms = resumed.updated_at_ms - pending.pending_since_ms
    assert wait_ms >= 600
    for old, new in (
        (before.sla.response_due_ms, resumed.sla.response_due_ms),
        (before.sla.resolution_due_ms, resumed.sla.resolution_due_ms),
    ):
        assert new - old == pytest.approx(wait_ms, abs=250)
    await dispatch.wait_event(lambda e: e.type == pb.EVENT_TYPE_TICKET_RESUMED)
    again = await dispatch.wait_event(
        lambda e: (
            is_assignment(e)
            and e.ticket_id == "T1"
            and e.ticket_version > resumed.version - 1
        )
    )
    assert again.technician_id == "A"


async def test_only_open_tickets_pend_and_only_pending_ones_resume(
    dispatch: Stubs,
) -> None:
    """Resume of a QUEUED ticket and pend of a cancelled one are FAILED_PRECONDITION;
    a PENDING ticket can be cancelled."""
    await dispatch.tickets.SubmitTicket(pb.SubmitTicketRequest(ticket=ticket("T1")))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await dispatch.tickets.ResumeTicket(pb.ResumeTicketRequest(ticket_id="T1"))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    await dispatch.tickets.PendTicket(pb.PendTicketRequest(ticket_id="T1"))
    done = await dispatch.tickets.CancelTicket(
        pb.CancelTicketRequest(ticket_id="T1", reason="customer gone")
    )
    assert done.status == pb.TICKET_STATUS_CANCELLED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await dispatch.tickets.PendTicket(pb.PendTicketRequest(ticket_id="T1"))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
