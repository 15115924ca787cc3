"""A burst of concurrent RPCs, more than the Redis client's connection pool holds at once,
is served (queued for a connection), not failed with UNAVAILABLE "Too many connections";
and an open event stream survives it, so a client keeps getting its assignment events and
the tickets it cancels free their technicians' queue places (docs/DESIGN.md §3, liveness).

Before the fix, the API process's ``redis.asyncio`` pool (100 connections, non-blocking)
raised ``MaxConnectionsError`` beyond 100 commands in flight: RPCs and the WatchEvents
stream of the e2e benchmark failed under load, its technicians' queues were never emptied,
and assignments stopped once every queue place was taken."""

from __future__ import annotations

import asyncio

import grpc
import grpc.aio
import pytest

from dispatcher.pb import dispatch_pb2 as pb
from tests.dispatch.conftest import Stubs, is_assignment, technician, ticket

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

BURST = 400
"""Concurrent RPCs, well over redis-py's default pool of 100 connections."""
WATCHERS = 120
"""Open event streams; each holds a connection in a blocking XREAD most of the time."""


async def test_burst_over_the_pool_size_is_served_and_the_stream_survives(
    dispatch: Stubs,
) -> None:
    await dispatch.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=technician("k1", capacity=1))
    )
    streams = [
        dispatch.events.WatchEvents(
            pb.WatchEventsRequest(start=pb.START_POSITION_LATEST)
        )
        for _ in range(WATCHERS)
    ]
    received: list[pb.Event] = []

    async def read(stream: grpc.aio.UnaryStreamCall, keep: bool) -> None:
        async for response in stream:
            if keep:
                received.append(response.event)

    readers = [asyncio.create_task(read(s, i == 0)) for i, s in enumerate(streams)]
    reader = readers[0]
    try:
        await asyncio.sleep(0.5)  # the streams are reading
        codes: list[grpc.StatusCode] = []

        async def get(i: int) -> None:
            try:
                await dispatch.tickets.GetTicket(
                    pb.GetTicketRequest(ticket_id=f"nope-{i}"), timeout=20
                )
                codes.append(grpc.StatusCode.OK)
            except grpc.aio.AioRpcError as exc:
                codes.append(exc.code())

        await asyncio.gather(*(get(i) for i in range(BURST)))
        assert set(codes) == {grpc.StatusCode.NOT_FOUND}, {
            c.name: codes.count(c) for c in set(codes)
        }
        ended = [r for r in readers if r.done()]
        assert not ended, f"{len(ended)} event streams ended during the burst"

        # The stream still delivers: a ticket is assigned, cancelled (its place freed),
        # and the next one takes the only place.
        for tid in ("t1", "t2"):
            await dispatch.tickets.SubmitTicket(
                pb.SubmitTicketRequest(ticket=ticket(tid))
            )
            async with asyncio.timeout(10):
                while not any(
                    is_assignment(e) and e.ticket_id == tid for e in received
                ):
                    assert not reader.done(), "the event stream ended"
                    await asyncio.sleep(0.02)
            await dispatch.tickets.CancelTicket(pb.CancelTicketRequest(ticket_id=tid))
    finally:
        for s in streams:
            s.cancel()
        for r in readers:
            r.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
