"""WatchEvents' promises over a real server and Redis: a watch is live once its response
headers arrive (in every region, also ones that do not exist yet), and it ends UNAVAILABLE,
not OK, when the server shuts down."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio
import pytest
from google.protobuf import message_factory

from dispatcher.api.server import create_server
from dispatcher.bootstrap import Services
from dispatcher.domain import Assignment
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.runtime.context import AppContext
from dispatcher.runtime.context import redis_client as make_redis_client
from dispatcher.runtime.metrics import DispatchMetrics, new_registry
from dispatcher.store.state import Decision, ExpectedVersions, RedisStateStore, keys
from tests.service.conftest import AUTH_TOML, Stubs, md, technician, ticket

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import redis.asyncio

    from dispatcher.runtime.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ADMIN = md("acme-admin")
TECH_X = md("acme-tech-x")  # technician app of technician "X"


@dataclasses.dataclass
class Running:
    ctx: AppContext
    server: grpc.aio.Server
    stubs: Stubs


@pytest.fixture
async def running(
    app_settings: Settings, redis_client: redis.asyncio.Redis, tmp_path: Path
) -> AsyncIterator[Running]:
    """A server with the AUTH_TOML credentials, its context and stubs (tenant acme)."""
    path = tmp_path / "auth.toml"
    path.write_text(AUTH_TOML)
    settings = dataclasses.replace(app_settings, auth_config=path, grace_period_s=5.0)
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
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Running(ctx, server, Stubs.on(channel))
    finally:
        ctx.shutdown_event.set()
        await server.stop(None)
        await ctx.aclose()


async def assign(redis_client: Any, region: str, ticket_id: str, tech_id: str) -> None:
    """Play the solve loop of tenant acme: commit ``ticket_id`` -> ``tech_id``."""
    store = RedisStateStore(redis_client, metrics=DispatchMetrics.throwaway())
    await redis_client.set(keys.lease_key("acme", region), "tok")
    snap = await store.snapshot("acme", region)
    versions = ExpectedVersions(
        {t.ticket_id: t.version for t in snap.tickets},
        {t.technician_id: t.version for t in snap.technicians},
    )
    res = await store.commit_assignments(
        "acme",
        region,
        "tok",
        [Decision(ticket_id, tech_id, Assignment(tech_id))],
        versions,
    )
    assert res.outcomes[0].code == "ASSIGNED"


async def lifecycle_of_x(s: Stubs, redis_client: Any, region: str) -> None:
    """Six events concerning technician X in ``region``."""
    await s.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=technician("X", region=region)),
        metadata=ADMIN,
    )
    tid = f"T-{region}"
    await s.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=ticket(tid, region=region)), metadata=ADMIN
    )
    await assign(redis_client, region, tid, "X")
    for call, request in (
        (s.tickets.AcceptTicket, pb.AcceptTicketRequest(ticket_id=tid)),
        (s.tickets.StartTicket, pb.StartTicketRequest(ticket_id=tid)),
        (
            s.tickets.CompleteTicket,
            pb.CompleteTicketRequest(
                ticket_id=tid, resolution=pb.Resolution(code=pb.RESOLUTION_CODE_FIXED)
            ),
        ),
        (
            s.technicians.SetAvailability,
            pb.SetAvailabilityRequest(
                status=pb.TECHNICIAN_STATUS_ON_BREAK,
                update_mask={"paths": ["status"]},
            ),
        ),
    ):
        await call(request, metadata=TECH_X)


async def read_ids(call: Any, n: int, timeout_s: float) -> list[str]:
    out: list[str] = []
    try:
        async with asyncio.timeout(timeout_s):
            while len(out) < n:
                out.append((await call.read()).event.event_id)
    except TimeoutError:
        pass
    return out


ITERATIONS = 30
OTHER_REGIONS = 300


async def test_watch_of_every_region_sees_a_region_created_after_it_opened(
    running: Running, redis_client: redis.asyncio.Redis
) -> None:
    """A technician app's watch with no regions, live (headers received) before its
    region has any event, gets exactly what an explicit watch of that region gets; 30
    times, each a fresh region sorting after 300 others (their setup used to take a round
    trip each, and a region whose turn came late skipped its events)."""
    s = running.stubs
    await s.tickets.BatchSubmitTickets(
        pb.BatchSubmitTicketsRequest(
            requests=[
                pb.SubmitTicketRequest(ticket=ticket(f"O{i}", region=f"r{i:03d}"))
                for i in range(OTHER_REGIONS)
            ]
        ),
        metadata=ADMIN,
    )
    previous = ""
    for i in range(ITERATIONS):
        region = f"zz-{i:02d}"
        if previous:
            await s.technicians.RemoveTechnician(
                pb.RemoveTechnicianRequest(technician_id="X"), metadata=ADMIN
            )
        # the region exists (a ticket no technician holds), no event concerns X yet
        await s.tickets.SubmitTicket(
            pb.SubmitTicketRequest(ticket=ticket(f"Z{i}", region=region)),
            metadata=ADMIN,
        )
        every = s.events.WatchEvents(pb.WatchEventsRequest(), metadata=TECH_X)
        explicit = s.events.WatchEvents(
            pb.WatchEventsRequest(regions=[region], technician_id="X"), metadata=ADMIN
        )
        async with asyncio.timeout(10):
            for call in (every, explicit):
                headers = dict(await call.initial_metadata())
                assert headers.get("x-watch-start-id")
        await lifecycle_of_x(s, redis_client, region)
        want = await read_ids(explicit, 6, timeout_s=10)
        assert len(want) == 6, (region, want)
        got = await read_ids(every, 6, timeout_s=10)
        assert got == want, (i, region)
        every.cancel()
        explicit.cancel()
        previous = region


async def test_watch_ends_unavailable_when_the_server_shuts_down(
    running: Running,
) -> None:
    """On shutdown (the serve order: health NOT_SERVING, shutdown event, graceful stop) a
    live watch ends with UNAVAILABLE, the code that tells a client to reconnect."""
    call = running.stubs.events.WatchEvents(pb.WatchEventsRequest(), metadata=ADMIN)
    await asyncio.sleep(
        0.3
    )  # the watch is running (not waiting for headers: see above)
    assert running.ctx.health is not None
    await running.ctx.health.enter_graceful_shutdown()
    running.ctx.shutdown_event.set()
    stop = asyncio.create_task(running.server.stop(5.0))

    async def drain() -> None:
        async with asyncio.timeout(10):
            async for _ in call:
                pass

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await drain()
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE, err.value.details()
    assert "reconnect" in str(err.value.details())
    await stop


# --- the roles each rpc documents are the roles it admits ---------------------------------

PROTO = Path(__file__).resolve().parents[2] / "proto/dispatcher/pb/dispatch.proto"
ROLES = ("platform", "technician_app", "admin")
TOKENS = {"platform": "acme-platform", "technician_app": "acme-tech-x"}


def documented_roles() -> dict[str, set[str]]:
    """rpc name -> the roles its ``// Roles:`` comment admits (the text before the rpc)."""
    out: dict[str, set[str]] = {}
    comment: list[str] = []
    for line in PROTO.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("//"):
            comment.append(stripped.removeprefix("//").strip())
            continue
        match = re.match(r"rpc (\w+)\(", stripped)
        if match:
            text = " ".join(comment)
            assert "Roles:" in text, f"rpc {match.group(1)} does not say its roles"
            roles_text = text.split("Roles:", 1)[1]
            out[match.group(1)] = {r for r in ROLES if r in roles_text}
        comment = []
    return out


async def _code(stubs: Stubs, service: Any, method: Any, token: str) -> grpc.StatusCode:
    """The status a call of ``method`` with an empty request ends with (OK for a stream
    still open after a moment)."""
    request_cls = message_factory.GetMessageClass(method.input_type)
    response_cls = message_factory.GetMessageClass(method.output_type)
    path = f"/{service.full_name}/{method.name}"
    kw: dict[str, Any] = {
        "request_serializer": request_cls.SerializeToString,
        "response_deserializer": response_cls.FromString,
    }
    channel = stubs.channel
    try:
        if method.client_streaming:
            call = channel.stream_unary(path, **kw)(
                iter([request_cls()]), metadata=md(token)
            )
            await call
        elif method.server_streaming:
            stream = channel.unary_stream(path, **kw)(request_cls(), metadata=md(token))
            try:
                async with asyncio.timeout(1.0):
                    await stream.read()
            except TimeoutError:
                stream.cancel()
        else:
            await channel.unary_unary(path, **kw)(request_cls(), metadata=md(token))
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


async def test_each_rpc_admits_exactly_the_roles_it_documents(running: Running) -> None:
    """Every rpc's ``Roles:`` comment in the .proto holds: a role it does not name gets
    PERMISSION_DENIED, a role it names does not (empty requests: other errors are fine)."""
    roles = documented_roles()
    services = list(pb.DESCRIPTOR.services_by_name.values())
    assert {m.name for s in services for m in s.methods} == set(roles)
    wrong = []
    for service in services:
        for method in service.methods:
            for role, token in TOKENS.items():
                code = await _code(running.stubs, service, method, token)
                denied = code == grpc.StatusCode.PERMISSION_DENIED
                if denied == (role in roles[method.name]):
                    wrong.append((method.name, role, code.name))
    assert not wrong, wrong
