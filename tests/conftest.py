"""Shared fixtures: a real Redis (private valkey-server or $REDIS_URL) and a real gRPC server.

There is no fake Redis: ``redis_server`` starts the same registry-shipped valkey-server the
product embeds, on a free loopback port in a temporary directory, once per session.
Set ``REDIS_URL`` to run the suite against an external server instead (it is FLUSHALLed
before every test that uses ``redis_client``, so never point it at data you want to keep).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc
import grpc.aio
import pytest

from dispatcher.api.server import create_server
from dispatcher.backend.embedded import EmbeddedRedis
from dispatcher.bootstrap import Services
from dispatcher.runtime.context import AppContext, close_redis
from dispatcher.runtime.context import redis_client as make_redis_client
from dispatcher.runtime.metrics import DispatchMetrics, new_registry
from dispatcher.runtime.settings import Settings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    import redis.asyncio
    from prometheus_client import CollectorRegistry


@dataclass(frozen=True)
class RunningServer:
    """A started in-process gRPC server (see the ``grpc_server`` fixture)."""

    server: grpc.aio.Server
    port: int
    ctx: AppContext
    services: Services

    @property
    def target(self) -> str:
        """``127.0.0.1:<port>``, for ``grpc.aio.insecure_channel``."""
        return f"127.0.0.1:{self.port}"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of the session's real Redis: ``$REDIS_URL`` if set, else a private valkey-server.

    The private server runs on a free loopback port with its data in a temporary directory
    (``appendfsync no``: tests need speed, not crash safety) and is stopped at session end.
    """
    external = os.environ.get("REDIS_URL", "").strip()
    if external:
        yield external
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), durability="no").start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
async def redis_client(redis_server: str) -> AsyncIterator[redis.asyncio.Redis]:
    """A ``redis.asyncio`` client (``decode_responses=True``) on an emptied database (FLUSHALL first)."""
    client = make_redis_client(redis_server)
    await client.flushall()
    try:
        yield client
    finally:
        await close_redis(client)


@pytest.fixture
def app_settings(redis_server: str, tmp_path: Path) -> Settings:
    """Settings for an in-process server: the session Redis, port 0, fast health checks, short grace."""
    return Settings(
        redis_url=redis_server,
        grpc_port=0,
        metrics_port=0,
        state_dir=tmp_path / "state",
        health_interval_s=0.2,
        grace_period_s=1.0,
    )


@pytest.fixture
async def app_context(
    app_settings: Settings, redis_client: redis.asyncio.Redis
) -> AsyncIterator[AppContext]:
    """An ``AppContext`` on the (flushed) session Redis with a fresh metrics registry.

    Closed at teardown: background tasks stopped, cleanups run, Redis client closed.
    """
    assert app_settings.redis_url is not None
    registry = new_registry(process_metrics=False)
    ctx = AppContext(
        settings=app_settings,
        redis=make_redis_client(app_settings.redis_url),
        metrics=DispatchMetrics(registry),
        registry=registry,
    )
    try:
        yield ctx
    finally:
        await ctx.aclose()


@pytest.fixture
async def grpc_server(app_context: AppContext) -> AsyncIterator[RunningServer]:
    """A started ``create_server`` on ``127.0.0.1:0`` (API only: no solve loop) with its
    background tasks running."""
    services = Services.build(app_context)
    server, port = await create_server(app_context, services, "127.0.0.1:0")
    await server.start()
    app_context.start_background()
    try:
        yield RunningServer(
            server=server, port=port, ctx=app_context, services=services
        )
    finally:
        app_context.shutdown_event.set()
        await server.stop(None)
        await app_context.stop_background()


@pytest.fixture
async def grpc_channel(grpc_server: RunningServer) -> AsyncIterator[grpc.aio.Channel]:
    """An insecure ``grpc.aio`` channel to ``grpc_server``, ready to use."""
    async with grpc.aio.insecure_channel(grpc_server.target) as channel:
        await channel.channel_ready()
        yield channel


async def sample_soon(
    registry: CollectorRegistry,
    name: str,
    labels: dict[str, str] | None = None,
    *,
    expected: float,
    timeout_s: float = 2.0,
) -> float | None:
    """The sample ``name{labels}`` once it equals ``expected``, else its value after
    ``timeout_s``. A call's RPC metrics are recorded as its handler unwinds, which can be
    a moment after the client has the answer (an aborted call's status goes out first)."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout_s
    while True:
        value = registry.get_sample_value(name, labels or {})
        if value == expected or loop.time() >= give_up:
            return value
        await asyncio.sleep(0.01)
