"""Overload over a real server: a burst the event loop cannot take at once is refused
RESOURCE_EXHAUSTED by admission, before any Redis work, and every call is counted."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from typing import Any

import grpc
import pytest

from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.pb import dispatch_pb2_grpc as pb_grpc
from tests.conftest import sample_soon
from tests.redis_control import pause, unpause
from tests.service.conftest import ticket

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

BURST = 1500
"""More calls than gRPC's default pending-call soft limit (1,000), under its hard one."""
CHANNELS = 8
SUBMIT = "dispatch.v1.TicketService/SubmitTicket"


def _sent_while_blocked(target: str, sent: threading.Event) -> list[str]:
    """``BURST`` submits over ``CHANNELS`` channels from another thread (its own event
    loop), started while the server's loop is blocked; their codes once all answered."""

    async def one(stub: pb_grpc.TicketServiceStub, k: int) -> str:
        try:
            await stub.SubmitTicket(
                pb.SubmitTicketRequest(ticket=ticket(f"O{k}"), request_id=f"o{k}"),
                timeout=30,
            )
        except grpc.aio.AioRpcError as exc:
            return str(exc.code().name)
        return "OK"

    async def burst() -> list[str]:
        channels = [grpc.aio.insecure_channel(target) for _ in range(CHANNELS)]
        try:
            for channel in channels:
                await channel.channel_ready()
            stubs = [pb_grpc.TicketServiceStub(c) for c in channels]
            calls = [
                asyncio.ensure_future(one(stubs[k % CHANNELS], k)) for k in range(BURST)
            ]
            await asyncio.sleep(0.5)  # every call on the wire
            sent.set()
            return list(await asyncio.gather(*calls))
        finally:
            for channel in channels:
                await channel.close()

    return asyncio.run(burst())


def _redis_round_trips(registry: Any) -> dict[str, float]:
    """Redis round trips by command label, background tasks' reads (``smembers``,
    ``hgetall``... of the queue gauges) left out: the writes a submit makes."""
    return {
        s.labels["command"]: s.value
        for m in registry.collect()
        if m.name == "dispatch_redis_command_duration_seconds"
        for s in m.samples
        if s.name.endswith("_count")
        and s.labels["command"] in ("submit", "sadd", "claim")
    }


async def test_burst_is_refused_resource_exhausted_counted_and_without_redis_work(
    grpc_server: Any,
) -> None:
    """With admission full, a burst piled up in gRPC while the loop was busy is answered
    RESOURCE_EXHAUSTED call by call (none CANCELLED by gRPC's pending-call limit, which
    nothing counts), each counted in the RPC metrics, with no Redis round trip."""
    registry = grpc_server.ctx.registry
    admission = grpc_server.services.admission
    admission.limit = 0
    before = _redis_round_trips(registry)
    sent = threading.Event()
    client = asyncio.create_task(
        asyncio.to_thread(_sent_while_blocked, grpc_server.target, sent)
    )
    await asyncio.to_thread(sent.wait, 30)
    time.sleep(2.0)  # the server's loop is busy: the burst waits in gRPC
    try:
        codes = Counter(await client)
    finally:
        admission.limit = 512
    assert codes == {"RESOURCE_EXHAUSTED": BURST}
    refused = await sample_soon(
        registry,
        "dispatch_rpc_duration_seconds_count",
        {"method": SUBMIT, "code": "RESOURCE_EXHAUSTED"},
        expected=BURST,
    )
    assert refused == BURST
    assert (
        registry.get_sample_value(
            "dispatch_rejected_requests_total", {"reason": "overload"}
        )
        == BURST
    )
    assert _redis_round_trips(registry) == before


async def test_a_call_the_client_cancels_is_counted_cancelled(
    grpc_server: Any, grpc_channel: grpc.aio.Channel, redis_client: Any
) -> None:
    """A submit the client gives up on while it waits for Redis (writes paused) is counted
    CANCELLED in the RPC metrics, and leaves the in-flight count as it was."""
    registry = grpc_server.ctx.registry
    admission = grpc_server.services.admission
    stub = pb_grpc.TicketServiceStub(grpc_channel)
    await pause(redis_client, 3000, "WRITE")
    try:
        call = stub.SubmitTicket(
            pb.SubmitTicketRequest(ticket=ticket("C1"), request_id="c1")
        )
        await asyncio.sleep(0.3)
        assert admission.in_flight == 1
        call.cancel()
        async with asyncio.timeout(2):
            while admission.in_flight:
                await asyncio.sleep(0.02)
    finally:
        await unpause(redis_client)
    cancelled = await sample_soon(
        registry,
        "dispatch_rpc_duration_seconds_count",
        {"method": SUBMIT, "code": "CANCELLED"},
        expected=1,
    )
    assert cancelled == 1
