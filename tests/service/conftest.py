"""Fixtures of the live-state tests: stubs on the real server, a store on the real Redis,
and a server with an auth config (two tenants, three roles)."""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import grpc
import grpc.aio
import pytest

from dispatcher.api.gateway import RunningGateway, start_gateway
from dispatcher.api.server import create_server
from dispatcher.bootstrap import Services
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.pb import dispatch_pb2_grpc as pb_grpc
from dispatcher.runtime.context import AppContext
from dispatcher.runtime.context import redis_client as make_redis_client
from dispatcher.runtime.metrics import DispatchMetrics, new_registry
from dispatcher.store.state import RedisStateStore

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    import redis.asyncio

    from dispatcher.runtime.settings import Settings
    from tests.conftest import RunningServer

AUTH_TOML = """
[[credential]]
token = "acme-platform"
tenant = "acme"
role = "platform"

[[credential]]
token = "acme-admin"
tenant = "acme"
role = "admin"
name = "alice"

[[credential]]
token = "acme-tech-x"
tenant = "acme"
role = "technician_app"
technician_id = "X"

[[credential]]
token = "globex-platform"
tenant = "globex"
role = "platform"
"""


@dataclass
class Stubs:
    """One stub per dispatch.v1 service on a channel."""

    tickets: Any
    technicians: Any
    events: Any
    insight: Any
    policy: Any
    channel: Any = None

    @classmethod
    def on(cls, channel: grpc.aio.Channel) -> Stubs:
        return cls(
            pb_grpc.TicketServiceStub(channel),
            pb_grpc.TechnicianServiceStub(channel),
            pb_grpc.EventServiceStub(channel),
            pb_grpc.InsightServiceStub(channel),
            pb_grpc.PolicyServiceStub(channel),
            channel,
        )


def md(token: str) -> tuple[tuple[str, str], ...]:
    """Call metadata carrying a bearer token."""
    return (("authorization", f"Bearer {token}"),)


def ticket(
    ticket_id: str, region: str = "north", priority: int = 3, **kw: Any
) -> pb.Ticket:
    """A valid ticket message (location in Boston, 30 min of work)."""
    kw.setdefault("location", pb.Location(latitude_deg=42.36, longitude_deg=-71.06))
    kw.setdefault("work_duration_s", 1800)
    return pb.Ticket(ticket_id=ticket_id, region=region, priority=priority, **kw)


def technician(
    technician_id: str, region: str = "north", capacity: int = 3, **kw: Any
) -> pb.Technician:
    kw.setdefault("status", pb.TECHNICIAN_STATUS_AVAILABLE)
    kw.setdefault("location", pb.Location(latitude_deg=42.35, longitude_deg=-71.05))
    return pb.Technician(
        technician_id=technician_id, region=region, capacity=capacity, **kw
    )


@pytest.fixture
def stubs(grpc_channel: grpc.aio.Channel) -> Stubs:
    """Stubs on the dev-mode server (tenant 'default', role admin)."""
    return Stubs.on(grpc_channel)


@pytest.fixture
def machine_url(redis_server: str) -> str:
    """The session Redis for the hypothesis state machines (``tests.service.machine``)."""
    from tests.service.machine import REDIS_URL

    REDIS_URL["url"] = redis_server
    return redis_server


@pytest.fixture
def store(redis_client: redis.asyncio.Redis) -> RedisStateStore:
    """A store on the flushed session Redis."""
    return RedisStateStore(redis_client, metrics=DispatchMetrics.throwaway())


@pytest.fixture
async def auth_stubs(
    app_settings: Settings, redis_client: redis.asyncio.Redis, tmp_path: Path
) -> AsyncIterator[Stubs]:
    """Stubs on a server with the AUTH_TOML credentials (tenants acme and globex)."""
    async with (
        _auth_server(app_settings, tmp_path) as (_, port),
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        yield Stubs.on(channel)


@contextlib.asynccontextmanager
async def _auth_server(
    app_settings: Settings, tmp_path: Path
) -> AsyncIterator[tuple[AppContext, int]]:
    """A started server with the AUTH_TOML credentials: its context and port; stopped and
    closed at the end."""
    path = tmp_path / "auth.toml"
    path.write_text(AUTH_TOML)
    settings = dataclasses.replace(app_settings, auth_config=path)
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
    try:
        yield ctx, port
    finally:
        ctx.shutdown_event.set()
        await server.stop(None)
        await ctx.aclose()


# -- the REST/JSON gateway in front of those servers -----------------------------------

HEARTBEAT_S = 0.2


@dataclass
class Http:
    """An HTTP client on a started gateway, and gRPC stubs on the server behind it."""

    session: aiohttp.ClientSession
    base: str  # http://127.0.0.1:<port>
    stubs: Stubs
    gateway: RunningGateway

    async def call(
        self, verb: str, path: str, body: Any = None, headers: Any = None, **params: Any
    ) -> tuple[int, Any, Any]:
        """``(status, JSON body, headers)`` of one request."""
        async with self.session.request(
            verb, self.base + path, json=body, headers=headers, params=params or None
        ) as resp:
            return resp.status, await resp.json(), resp.headers


async def _gateway(ctx: AppContext, grpc_port: int) -> RunningGateway:
    return await start_gateway(
        host="127.0.0.1",
        port=0,
        grpc_target=f"127.0.0.1:{grpc_port}",
        shutdown=ctx.shutdown_event,
        max_message_bytes=ctx.settings.max_message_bytes,
        grace_s=1.0,
        heartbeat_s=HEARTBEAT_S,
    )


@pytest.fixture
async def http(grpc_server: RunningServer, stubs: Stubs) -> AsyncIterator[Http]:
    """The gateway in front of the dev-mode server (tenant 'default', role admin)."""
    gateway = await _gateway(grpc_server.ctx, grpc_server.port)
    try:
        async with aiohttp.ClientSession() as session:
            yield Http(session, f"http://127.0.0.1:{gateway.port}", stubs, gateway)
    finally:
        await gateway.stop()


@pytest.fixture
async def auth_http(
    app_settings: Settings, redis_client: redis.asyncio.Redis, tmp_path: Path
) -> AsyncIterator[Http]:
    """The gateway in front of a server with the AUTH_TOML credentials."""
    async with _auth_server(app_settings, tmp_path) as (ctx, port):
        gateway = await _gateway(ctx, port)
        try:
            async with (
                grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
                aiohttp.ClientSession() as session,
            ):
                yield Http(
                    session,
                    f"http://127.0.0.1:{gateway.port}",
                    Stubs.on(channel),
                    gateway,
                )
        finally:
            ctx.shutdown_event.set()  # as before: streams end, then the gateway stops
            await gateway.stop()
