"""WatchEvents as Server-Sent Events: live delivery, heartbeats, resume across a restart."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp
import pytest

from dispatcher.api.gateway import start_gateway
from dispatcher.api.server import create_server
from dispatcher.api.sse import format_position, parse_position
from dispatcher.bootstrap import Services
from dispatcher.errors import InvalidArgument
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.runtime.context import AppContext
from dispatcher.runtime.context import redis_client as make_redis_client
from dispatcher.runtime.metrics import DispatchMetrics, new_registry
from tests.service.conftest import HEARTBEAT_S, Stubs, ticket

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import redis.asyncio

    from dispatcher.runtime.settings import Settings
    from tests.service.conftest import Http

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@dataclass
class SseMessage:
    id: str = ""
    data: str = ""
    comments: list[str] = field(default_factory=list)


async def sse_messages(resp: aiohttp.ClientResponse) -> AsyncIterator[SseMessage]:
    """Parse an SSE body into messages (comments attached to the message they precede)."""
    current = SseMessage()
    async for raw in resp.content:
        line = raw.decode().rstrip("\n")
        if not line:
            if current.data or current.id:
                yield current
                current = SseMessage()
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "":
            current.comments.append(value)
        elif name == "id":
            current.id = value
        elif name == "data":
            current.data = value


def test_position_round_trips() -> None:
    """The SSE id encodes every region's last event id and parses back; junk is refused."""
    position = {"north": "17-0", "south-2": "1733-12"}
    assert parse_position(format_position(position)) == position
    with pytest.raises(InvalidArgument, match="Last-Event-ID"):
        parse_position("north")


async def test_events_stream_live_with_heartbeats(http: Http) -> None:
    """Events submitted after the stream opened arrive in order as SSE messages carrying
    the Event JSON; idle periods carry heartbeat comments."""
    async with http.session.get(
        http.base + "/v1/events", params={"regions": "north"}
    ) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        messages = sse_messages(resp)
        await asyncio.sleep(HEARTBEAT_S * 2.5)  # idle: heartbeats pile up
        for i in range(3):
            await http.stubs.tickets.SubmitTicket(
                pb.SubmitTicketRequest(ticket=ticket(f"T{i}"))
            )
        got = [await anext(messages) for _ in range(3)]
    assert "heartbeat" in got[0].comments
    events = [json.loads(m.data) for m in got]
    assert [e["ticketId"] for e in events] == ["T0", "T1", "T2"]
    assert {e["type"] for e in events} == {"EVENT_TYPE_TICKET_SUBMITTED"}
    assert parse_position(got[-1].id) == {"north": events[-1]["eventId"]}


async def test_bad_request_answers_before_streaming(http: Http) -> None:
    """An invalid region is a 400 with the gRPC message, not an empty stream."""
    async with http.session.get(
        http.base + "/v1/events", params={"regions": "no such region"}
    ) as resp:
        assert resp.status == 400
        assert "regions[0]" in (await resp.json())["message"]
    async with http.session.get(
        http.base + "/v1/events", headers={"Last-Event-ID": "garbage"}
    ) as resp:
        assert resp.status == 400


@dataclass
class Server:
    ctx: AppContext
    grpc: object
    gateway: object
    stubs: Stubs
    base: str


async def _start(settings: Settings) -> tuple[Server, object]:
    import grpc.aio

    assert settings.redis_url is not None
    registry = new_registry(process_metrics=False)
    ctx = AppContext(
        settings=settings,
        redis=make_redis_client(settings.redis_url),
        metrics=DispatchMetrics(registry),
        registry=registry,
    )
    server, port = await create_server(ctx, Services.build(ctx), "127.0.0.1:0")
    await server.start()
    gateway = await start_gateway(
        host="127.0.0.1",
        port=0,
        grpc_target=f"127.0.0.1:{port}",
        shutdown=ctx.shutdown_event,
        max_message_bytes=settings.max_message_bytes,
        grace_s=1.0,
        heartbeat_s=HEARTBEAT_S,
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    return (
        Server(
            ctx, server, gateway, Stubs.on(channel), f"http://127.0.0.1:{gateway.port}"
        ),
        channel,
    )


async def _stop(server: Server, channel: object) -> None:
    server.ctx.shutdown_event.set()
    await server.gateway.stop()  # type: ignore[attr-defined]
    await server.grpc.stop(None)  # type: ignore[attr-defined]
    await channel.close()  # type: ignore[attr-defined]
    await server.ctx.aclose()


async def test_resume_across_a_server_restart_has_no_gap_or_duplicate(
    app_settings: Settings, redis_client: redis.asyncio.Redis
) -> None:
    """Read part of the stream, restart the server (the stream ends cleanly), submit more,
    reconnect with Last-Event-ID: exactly the events after the last one read arrive."""
    first, channel = await _start(app_settings)
    received: list[SseMessage] = []
    try:
        for i in range(4):
            await first.stubs.tickets.SubmitTicket(
                pb.SubmitTicketRequest(
                    ticket=ticket(f"A{i}", region=("north", "south")[i % 2])
                )
            )
        async with aiohttp.ClientSession() as session:
            resp = await session.get(
                first.base + "/v1/events", params={"start": "START_POSITION_EARLIEST"}
            )
            messages = sse_messages(resp)
            received += [await anext(messages) for _ in range(2)]
            await _stop(first, channel)
            # the rest already sent before shutdown may still be buffered; then the end
            rest = [m async for m in messages]
            resp.release()
    finally:
        if not first.ctx.shutdown_event.is_set():
            await _stop(first, channel)
    received += rest
    second, channel = await _start(app_settings)
    try:
        for i in range(2):
            await second.stubs.tickets.SubmitTicket(
                pb.SubmitTicketRequest(ticket=ticket(f"B{i}", region="north"))
            )
        async with aiohttp.ClientSession() as session:
            resp = await session.get(
                second.base + "/v1/events", headers={"Last-Event-ID": received[-1].id}
            )
            assert resp.status == 200
            messages = sse_messages(resp)
            resumed = [await anext(messages) for _ in range(6 - len(received))]
            resp.release()
        everything = await _all_events(second.stubs)
    finally:
        await _stop(second, channel)
    got = [json.loads(m.data)["eventId"] for m in received + resumed]
    by_region: dict[str, list[str]] = {}
    for e in everything:
        by_region.setdefault(e.region, []).append(e.event_id)
    seen: dict[str, list[str]] = {}
    for m in received + resumed:
        e = json.loads(m.data)
        seen.setdefault(e["region"], []).append(e["eventId"])
    assert seen == by_region  # every event once, in order per region
    assert len(got) == len(set(got)) == 6


async def _all_events(stubs: Stubs) -> list[pb.Event]:
    call = stubs.events.WatchEvents(
        pb.WatchEventsRequest(start=pb.START_POSITION_EARLIEST)
    )
    out: list[pb.Event] = []
    while len(out) < 6:
        out.append((await call.read()).event)
    call.cancel()
    return out
