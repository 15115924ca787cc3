"""Webhook fixtures: a real HTTP receiver on 127.0.0.1 (aiohttp) and a server that delivers."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc.aio
import pytest
from aiohttp import web

from dispatcher.api.server import create_server
from dispatcher.bootstrap import Services
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.pb import dispatch_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from dispatcher.runtime.context import AppContext
    from dispatcher.runtime.settings import Settings


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class Receiver:
    """An HTTP endpoint that records every POST; ``status`` is what it answers."""

    port: int = 0
    status: int = 200
    delay_s: float = 0.0
    """How long each answer is held back (a slow receiver)."""
    received: list[Received] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(Received(dict(request.headers), body))
        if self.delay_s:
            # held until the delay passes or the receiver stops (a sender that died
            # never reads the answer)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), self.delay_s)
        if 300 <= self.status < 400:
            return web.Response(
                status=self.status, headers={"Location": self.url + "2"}
            )
        return web.Response(status=self.status)

    async def start(self) -> None:
        self._released.clear()
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        app.router.add_post("/hook2", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        if not self.port:
            server: Any = site._server  # the bound port of port 0
            self.port = int(server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Down: nothing listens on the port any more (connection refused)."""
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def delivered_ids(self) -> list[str]:
        return [r.payload["data"]["ticketId"] for r in self.received]

    async def wait_for(
        self, check: Callable[[list[Received]], bool], timeout_s: float = 15.0
    ) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while not check(self.received):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"receiver: condition not met in {timeout_s} s "
                    f"({len(self.received)} received)"
                )
            await asyncio.sleep(0.02)
        return self.received


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A started receiver on a free loopback port."""
    r = Receiver()
    await r.start()
    try:
        yield r
    finally:
        await r.stop()


@pytest.fixture
def app_settings(app_settings: Settings) -> Settings:
    """Loopback receivers allowed; retries fast; dead letters after 1.5 s."""
    return dataclasses.replace(
        app_settings,
        webhook_allow_loopback=True,
        webhook_retry_max_s=0.2,
        webhook_dead_letter_after_s=1.5,
        webhook_timeout_s=2.0,
        webhook_lease_ttl_ms=1000,
    )


@dataclass
class Api:
    tickets: Any
    webhooks: Any
    events: Any
    ctx: AppContext

    async def subscribe(self, url: str, **kw: Any) -> Any:
        return await self.webhooks.CreateWebhookSubscription(
            pb.CreateWebhookSubscriptionRequest(
                subscription=pb.WebhookSubscription(url=url, **kw)
            )
        )

    async def submit(self, ticket_id: str, region: str = "north") -> None:
        await self.tickets.SubmitTicket(
            pb.SubmitTicketRequest(
                request_id=ticket_id, ticket=ticket(ticket_id, region)
            )
        )


def ticket(ticket_id: str, region: str = "north") -> pb.Ticket:
    return pb.Ticket(
        ticket_id=ticket_id,
        region=region,
        priority=pb.PRIORITY_P3,
        work_duration_s=600,
        location=pb.Location(latitude_deg=42.36, longitude_deg=-71.06),
    )


@pytest.fixture
async def api(app_context: AppContext) -> AsyncIterator[Api]:
    """A started server (dev mode: admin of tenant 'default') delivering webhooks."""
    services = Services.build(app_context, webhooks=True)
    server, port = await create_server(app_context, services, "127.0.0.1:0")
    await server.start()
    app_context.start_background()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Api(
                pb_grpc.TicketServiceStub(channel),
                pb_grpc.WebhookServiceStub(channel),
                pb_grpc.EventServiceStub(channel),
                app_context,
            )
    finally:
        app_context.shutdown_event.set()
        await server.stop(None)
        await app_context.stop_background()
        await app_context.aclose()
        gc.collect()  # a connection left unclosed fails this test, not a later one
