"""Fixtures of the solve-loop tests: a real server (dev mode: tenant 'default', admin) with the
solve loop running on the session Redis, its stubs, and helpers to wait for events."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio
import pytest

from dispatcher.api.server import create_server
from dispatcher.bootstrap import Services
from dispatcher.domain import (
    Location,
    SkillLevel,
    SubmitTicket,
    Technician,
    TechnicianStatus,
    Ticket,
)
from dispatcher.loop.pool import SolverPool
from dispatcher.loop.solve_loop import SolveLoop
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.pb import dispatch_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

    from dispatcher.runtime.context import AppContext

TENANT = "default"
LEASE_TTL_MS = 1000


@dataclass
class Stubs:
    tickets: Any
    technicians: Any
    events: Any
    insight: Any
    policy: Any
    loop: SolveLoop

    async def wait_event(
        self,
        predicate: Callable[[Any], bool],
        *,
        timeout_s: float = 10.0,
        regions: tuple[str, ...] = (),
    ) -> Any:
        """The first event (from the earliest retained) matching ``predicate``."""
        return (
            await self.wait_events(predicate, 1, timeout_s=timeout_s, regions=regions)
        )[0]

    async def wait_events(
        self,
        predicate: Callable[[Any], bool],
        count: int,
        *,
        timeout_s: float = 10.0,
        regions: tuple[str, ...] = (),
    ) -> list[Any]:
        """The first ``count`` events matching ``predicate`` (TimeoutError otherwise)."""
        found: list[Any] = []
        request = pb.WatchEventsRequest(
            regions=list(regions), start=pb.START_POSITION_EARLIEST
        )
        call = self.events.WatchEvents(request)
        try:
            async with asyncio.timeout(timeout_s):
                async for response in call:
                    if predicate(response.event):
                        found.append(response.event)
                        if len(found) >= count:
                            return found
        finally:
            call.cancel()
        raise AssertionError(f"stream ended after {len(found)} of {count} events")


def technician(technician_id: str, region: str = "north", **kw: Any) -> pb.Technician:
    kw.setdefault("status", pb.TECHNICIAN_STATUS_AVAILABLE)
    kw.setdefault("location", pb.Location(latitude_deg=42.35, longitude_deg=-71.05))
    kw.setdefault("capacity", 3)
    return pb.Technician(technician_id=technician_id, region=region, **kw)


def ticket(
    ticket_id: str, region: str = "north", priority: int = 3, **kw: Any
) -> pb.Ticket:
    kw.setdefault("location", pb.Location(latitude_deg=42.36, longitude_deg=-71.06))
    kw.setdefault("work_duration_s", 1800)
    return pb.Ticket(ticket_id=ticket_id, region=region, priority=priority, **kw)


async def slow_cadence(dispatch: Stubs) -> None:
    """No cadence tick during a test: only a change starts a cycle."""
    await dispatch.policy.UpdatePolicy(
        pb.UpdatePolicyRequest(
            policy=pb.Policy(
                solver=pb.SolverSettings(
                    cadence_s=120.0, debounce_ms=5, time_limit_s=2, candidates_k=16
                )
            ),
            update_mask={"paths": ["solver"]},
        )
    )


def is_assignment(event: Any) -> bool:
    return event.type in (
        pb.EVENT_TYPE_TICKET_ASSIGNED,
        pb.EVENT_TYPE_TICKET_REASSIGNED,
    )


@pytest.fixture(scope="session")
def solver_pool() -> Iterator[SolverPool]:
    """One spawn pool for the session (starting workers costs ~1 s: do it once), ready:
    under load a worker's start takes longer than a test waits for its first solve."""
    pool = SolverPool(1)
    pool.wait_ready()
    try:
        yield pool
    finally:
        pool.shutdown()


@pytest.fixture
async def dispatch(
    app_context: AppContext, solver_pool: SolverPool
) -> AsyncIterator[Stubs]:
    """A started server with the solve loop (1 s leases) and stubs on a channel to it."""
    loop = SolveLoop(
        app_context.redis,
        app_context.metrics,
        pool=solver_pool,
        lease_ttl_ms=LEASE_TTL_MS,
        stop=app_context.shutdown_event,
    )
    app_context.background.append(loop.run)
    server, port = await create_server(
        app_context, Services.build(app_context), "127.0.0.1:0"
    )
    await server.start()
    app_context.start_background()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            await channel.channel_ready()
            yield Stubs(
                pb_grpc.TicketServiceStub(channel),
                pb_grpc.TechnicianServiceStub(channel),
                pb_grpc.EventServiceStub(channel),
                pb_grpc.InsightServiceStub(channel),
                pb_grpc.PolicyServiceStub(channel),
                loop,
            )
    finally:
        app_context.shutdown_event.set()
        await server.stop(None)
        await app_context.stop_background()


async def eventually(check: Callable[[], Any], timeout_s: float = 10.0) -> Any:
    """Poll an async ``check`` until it returns a truthy value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def stored_technician(tid: str, region: str, capacity: int) -> Technician:
    """An available 'general' technician in Boston, as the store takes it (no gRPC)."""
    return Technician(
        tid,
        region,
        TechnicianStatus.AVAILABLE,
        capacity=capacity,
        skills=(SkillLevel("general", 1),),
        location=Location(42.35, -71.06),
    )


def submitted_ticket(tid: str, region: str, work_duration_s: int) -> SubmitTicket:
    """A P3 ticket in Boston due in 1 h / 2 h from now, as the store takes it (no gRPC)."""
    now_ms = int(time.time() * 1000)
    return SubmitTicket(
        Ticket(
            tid,
            region,
            priority=3,
            work_duration_s=work_duration_s,
            location=Location(42.36, -71.05),
            response_due_ms=now_ms + 3_600_000,
            resolution_due_ms=now_ms + 7_200_000,
        ),
        request_id=tid,
    )
