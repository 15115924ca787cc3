"""WatchEvents over HTTP as Server-Sent Events (``GET /v1/events``).

Each SSE message is one ``Event`` in canonical JSON (``data:``); its ``id:`` is the stream
position after it, for every region seen so far: ``region=event_id`` pairs joined by ``,``
(region names hold no ``=`` or ``,``). A client that reconnects with ``Last-Event-ID`` (the
browser's EventSource does so itself) resumes exactly after the last event it received:
the position becomes WatchEvents' ``after_event_ids`` and regions not in it start from
their earliest retained event, so nothing is skipped (the gRPC stream guarantees no gap
and no duplicate per region). A comment line (``: heartbeat``) is sent every
``HEARTBEAT_S`` seconds while idle so proxies and clients see the connection alive; the
response ends when the server shuts down (the client reconnects and resumes).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio
from aiohttp import web

from dispatcher.api.http_common import (
    call_metadata,
    invalid_argument,
    rpc_error_response,
    to_json,
)
from dispatcher.api.service import WATCH_START_KEY
from dispatcher.errors import InvalidArgument
from dispatcher.pb import dispatch_pb2 as pb

if TYPE_CHECKING:
    from dispatcher.api import http_rules
    from dispatcher.api.gateway import Gateway

HEARTBEAT_S = 15.0
"""Idle interval between heartbeat comments."""

LAST_EVENT_ID_HEADER = "Last-Event-ID"
_END = object()


def format_position(position: dict[str, str]) -> str:
    """``{"r1": "5-0", "r2": "7-1"}`` -> ``r1=5-0,r2=7-1`` (sorted by region)."""
    return ",".join(f"{region}={position[region]}" for region in sorted(position))


def parse_position(text: str) -> dict[str, str]:
    """The inverse of ``format_position``; ``InvalidArgument`` naming the header."""
    position: dict[str, str] = {}
    for part in filter(None, text.strip().split(",")):
        region, sep, event_id = part.partition("=")
        if not sep or not region or not event_id:
            raise InvalidArgument(
                LAST_EVENT_ID_HEADER, f"{part!r} is not region=event_id"
            )
        position[region] = event_id
    return position


def sse_message(event: pb.Event, position: dict[str, str]) -> bytes:
    """One SSE message: ``id:`` the position after ``event``, ``data:`` the event JSON."""
    data = to_json(event)
    return f"id: {format_position(position)}\ndata: {data}\n\n".encode()


async def stream_events(
    gateway: Gateway,
    request: web.Request,
    route: http_rules.HttpRoute,
    message: Any,
) -> web.StreamResponse:
    """Serve one WatchEvents call as an SSE response."""
    position: dict[str, str] = {}
    last = request.headers.get(LAST_EVENT_ID_HEADER)
    if last:
        try:
            position = parse_position(last)
        except InvalidArgument as exc:
            return invalid_argument(exc)
        message.after_event_ids.update(position)
        message.start = pb.START_POSITION_EARLIEST
    call = gateway.channel.unary_stream(
        route.grpc_path,
        request_serializer=type(message).SerializeToString,
        response_deserializer=route.response_class.FromString,
    )(message, metadata=call_metadata(request))
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=64)
    reader = asyncio.create_task(_read(call, queue))
    response: web.StreamResponse | None = None
    try:
        # the first item is the start (headers received) or an error before any event
        first = await _next(queue, gateway.shutdown, None)
        if isinstance(first, grpc.aio.AioRpcError):
            return rpc_error_response(first)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        await response.write(b": watching\n\n")
        item = first
        while True:
            if item is _END or isinstance(item, grpc.aio.AioRpcError):
                break
            if item is None:
                await response.write(b": heartbeat\n\n")
            elif isinstance(item, pb.WatchEventsResponse):
                events = [item.event] if item.HasField("event") else list(item.events)
                for event in events:
                    position[event.region] = event.event_id
                    await response.write(sse_message(event, position))
            item = await _next(queue, gateway.shutdown, gateway.heartbeat_s)
        return response
    except ConnectionResetError:  # the client went away (aiohttp's reset is a subclass)
        assert response is not None
        return response
    finally:
        call.cancel()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def _read(call: Any, queue: asyncio.Queue[Any]) -> None:
    try:
        # the server sends its headers once the watch is live; a call refused up front
        # (bad region, bad position) sends none and ends with its error below
        headers = await call.initial_metadata()
        if any(key == WATCH_START_KEY for key, _ in headers or ()):
            await queue.put("started")
        async for item in call:
            await queue.put(item)
        await queue.put(_END)
    except grpc.aio.AioRpcError as error:
        await queue.put(error)


async def _next(
    queue: asyncio.Queue[Any], shutdown: asyncio.Event, timeout_s: float | None
) -> Any:
    """The next queued item; ``None`` after ``timeout_s`` idle; ``_END`` on shutdown."""
    get = asyncio.ensure_future(queue.get())
    stop = asyncio.ensure_future(shutdown.wait())
    try:
        done, _ = await asyncio.wait(
            {get, stop}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        stop.cancel()
    if get in done:
        return get.result()
    get.cancel()
    return _END if stop in done else None
