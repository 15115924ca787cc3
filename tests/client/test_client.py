"""dispatcher.client against real servers: retries with the same request id, lifecycle
helpers, and an event iterator that resumes across a server restart (SIGKILL) with no gap
and no duplicate."""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING

import grpc
import pytest

from dispatcher.backend.serve_process import start_serve
from dispatcher.client import RETRYABLE_CODES, DispatchClient, RetryPolicy, is_retryable
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.store.keys import events_key, region_prefix
from tests.redis_control import pause

if TYPE_CHECKING:
    from pathlib import Path

    import redis.asyncio as aioredis

    from tests.conftest import RunningServer

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

FAST = RetryPolicy(attempts=40, initial_backoff_s=0.05, max_backoff_s=0.5)


def ticket(ticket_id: str) -> pb.Ticket:
    return pb.Ticket(
        ticket_id=ticket_id,
        region="north",
        priority=pb.PRIORITY_P3,
        work_duration_s=600,
        location=pb.Location(latitude_deg=42.36, longitude_deg=-71.06),
    )


def test_the_retry_table() -> None:
    """Exactly the four documented codes are retried."""
    assert {c.name for c in RETRYABLE_CODES} == {
        "UNAVAILABLE",
        "DEADLINE_EXCEEDED",
        "CANCELLED",
        "RESOURCE_EXHAUSTED",
    }
    assert not is_retryable(ValueError("not a gRPC error"))


async def test_final_errors_are_not_retried(grpc_server: RunningServer) -> None:
    """INVALID_ARGUMENT comes back at once, naming the field."""
    async with DispatchClient.connect(grpc_server.target, retry=FAST) as client:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await client.submit(pb.Ticket(ticket_id="T1", region="north"))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert client.retries == 0


async def test_a_timed_out_submit_is_retried_once_applied(
    grpc_server: RunningServer, redis_client: aioredis.Redis
) -> None:
    """Redis holds writes for 0.6 s, so attempts time out (DEADLINE_EXCEEDED) and are sent
    again with the same request id: one ticket, one request id, one event."""
    client = DispatchClient.connect(grpc_server.target, retry=FAST, timeout_s=0.2)
    async with client:
        await pause(redis_client, 600, "WRITE")
        response = await client.submit(ticket("T1"))
        assert client.retries >= 1
        assert response.ticket.ticket_id == "T1"
        assert (await client.get_ticket("T1")).status == pb.TICKET_STATUS_QUEUED
    request_ids = await redis_client.keys(region_prefix("default", "north") + "req:*")
    assert len(request_ids) == 1
    stream = await redis_client.xrange(events_key("default", "north"))
    assert [f["tk"] for _, f in stream if f["type"] == "TICKET_SUBMITTED"] == ["T1"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.timeout(180)
async def test_lifecycle_and_events_across_a_server_restart(
    redis_server: str, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    """A technician's lifecycle through the helpers; the server is SIGKILLed and started
    again mid-stream; a submit sent while it is down succeeds once it is back; the event
    iterator resumes: every event of the stream exactly once, in order."""
    port = _free_port()
    args = ("--grpc-port", str(port))
    serve = await asyncio.to_thread(
        start_serve, redis_server, tmp_path, "a", extra_args=args
    )
    try:
        async with DispatchClient.connect(f"127.0.0.1:{port}", retry=FAST) as client:
            await client.upsert_technician(
                pb.Technician(
                    technician_id="A",
                    region="north",
                    status=pb.TECHNICIAN_STATUS_AVAILABLE,
                    capacity=10,
                    location=pb.Location(latitude_deg=42.35, longitude_deg=-71.05),
                )
            )
            stream = client.events()
            got: list[pb.Event] = []

            async def follow() -> None:
                async for event in stream:
                    got.append(event)

            follower = asyncio.create_task(follow())

            async def assigned(ids: set[str]) -> None:
                while not ids <= {
                    e.ticket_id for e in got if e.type == pb.EVENT_TYPE_TICKET_ASSIGNED
                }:
                    await asyncio.sleep(0.05)

            for tid in ("T1", "T2"):
                await client.submit(ticket(tid))
            await asyncio.wait_for(assigned({"T1", "T2"}), 20)
            await client.accept("T1", "A")
            await client.start("T1", "A")
            done = await client.complete("T1", "A", notes="fixed")
            assert done.status == pb.TICKET_STATUS_RESOLVED
            declined = await client.decline("T2", "A", "not mine")
            assert "A" in declined.declined_by_technician_ids

            serve.kill()
            late = asyncio.create_task(client.submit(ticket("T3")))  # while down
            await asyncio.sleep(0.5)
            serve = await asyncio.to_thread(
                start_serve, redis_server, tmp_path, "b", extra_args=args
            )
            assert (await late).ticket.ticket_id == "T3"
            await client.submit(ticket("T4"))
            await asyncio.wait_for(assigned({"T3", "T4"}), 30)
            stored = await redis_client.xrange(events_key("default", "north"))
            want = [eid for eid, _ in stored]
            for _ in range(100):
                if len(got) >= len(want):
                    break
                await asyncio.sleep(0.05)
            follower.cancel()
            assert [e.event_id for e in got] == want
            assert stream.reconnects >= 1
            assert stream.positions == {"north": want[-1]}
    finally:
        serve.kill()


async def test_pend_and_resume_helpers(grpc_server: RunningServer) -> None:
    """The client's pend / resume helpers drive PENDING and back."""
    async with DispatchClient.connect(grpc_server.target, retry=FAST) as client:
        await client.submit(ticket("T1"))
        pending = await client.pend("T1", "waiting for the customer")
        assert pending.status == pb.TICKET_STATUS_PENDING
        back = await client.resume("T1", expected_version=pending.version)
        assert back.status == pb.TICKET_STATUS_QUEUED
        assert back.sla.response_due_ms >= pending.sla.response_due_ms
