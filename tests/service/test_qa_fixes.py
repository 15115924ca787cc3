"""Regression tests for the QA review's findings (request-id reuse, Redis metrics, errors)."""

from __future__ import annotations

import grpc
import pytest

from dispatcher.pb import dispatch_pb2 as pb
from tests.service.conftest import Stubs, ticket

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def _error(coro: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await coro  # type: ignore[misc]
    return err.value


async def test_reused_request_id_with_other_ticket_is_refused(stubs: Stubs) -> None:
    """Same request_id, different ticket: ALREADY_EXISTS naming request_id, nothing written;
    the same request again still replays the original."""
    await stubs.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=ticket("T1"), request_id="r1")
    )
    err = await _error(
        stubs.tickets.SubmitTicket(
            pb.SubmitTicketRequest(ticket=ticket("T1x"), request_id="r1")
        )
    )
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "request_id" in (err.details() or "")
    # the same ticket id with a changed payload is a different request too
    err = await _error(
        stubs.tickets.SubmitTicket(
            pb.SubmitTicketRequest(ticket=ticket("T1", priority=1), request_id="r1")
        )
    )
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert (
        await _error(stubs.tickets.GetTicket(pb.GetTicketRequest(ticket_id="T1x")))
    ).code() == grpc.StatusCode.NOT_FOUND
    again = await stubs.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=ticket("T1"), request_id="r1")
    )
    assert again.replayed
    assert again.ticket.ticket_id == "T1"
    assert again.ticket.priority == 3


async def test_batch_reused_request_id_with_other_ticket_fails_per_item(
    stubs: Stubs,
) -> None:
    first = [
        pb.SubmitTicketRequest(ticket=ticket(f"B{i}"), request_id=f"q{i}")
        for i in range(3)
    ]
    await stubs.tickets.BatchSubmitTickets(pb.BatchSubmitTicketsRequest(requests=first))
    second = [
        first[0],
        pb.SubmitTicketRequest(ticket=ticket("B1x"), request_id="q1"),
        pb.SubmitTicketRequest(ticket=ticket("B9"), request_id="q9"),
    ]
    resp = await stubs.tickets.BatchSubmitTickets(
        pb.BatchSubmitTicketsRequest(requests=second)
    )
    r0, r1, r2 = resp.results
    assert r0.code == 0
    assert r0.replayed
    assert r0.ticket_id == "B0"
    assert r1.code == grpc.StatusCode.ALREADY_EXISTS.value[0]
    assert "request_id" in r1.message
    assert not r1.replayed
    assert r2.code == 0
    assert not r2.replayed
    assert (
        await _error(stubs.tickets.GetTicket(pb.GetTicketRequest(ticket_id="B1x")))
    ).code() == grpc.StatusCode.NOT_FOUND
