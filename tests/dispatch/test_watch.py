"""The solve loop's event watch (``RegionWorker._watch``): it wakes a region's solve on a
change, and reads on after that cycle from where the cycle's region model read ended, so
the events the cycle read are not read again. docs/DESIGN.md §6."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import TYPE_CHECKING, Any

import pytest

from dispatcher.domain import SubmitTicket, Technician, TechnicianStatus, Ticket
from dispatcher.loop.leases import RegionRef
from dispatcher.loop.solve_loop import SolveLoop, later_event_id
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.runtime.metrics import DispatchMetrics
from dispatcher.store import keys
from dispatcher.store.policy import PolicyStore
from dispatcher.store.state import RedisStateStore
from solver.policy import Policy
from tests.dispatch.conftest import (
    TENANT,
    Stubs,
    eventually,
    is_assignment,
    slow_cadence,
    technician,
    ticket,
)

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from dispatcher.loop.pool import SolverPool

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

REGION = RegionRef(TENANT, "north")
DEBOUNCE_MS = 500
"""Long enough for a burst of submits to arrive between a wake and its cycle's read."""


def test_later_event_id() -> None:
    assert later_event_id("$", "5-1") == "5-1"
    assert later_event_id("5-1", "5-2") == "5-2"
    assert later_event_id("6-0", "5-9") == "6-0"
    assert later_event_id("10-0", "9-99") == "10-0"
    assert later_event_id("5-3", "5-3") == "5-3"


async def _burst_during_a_debounce(dispatch: Stubs) -> tuple[list[str], list[str]]:
    """A burst of submits arrives between a wake and its cycle's read (a long debounce):
    the event types and the submitted tickets the watch read (by XREAD or XRANGE) from the
    burst's first submit until its read after the cycle that assigned the burst."""
    await dispatch.policy.UpdatePolicy(
        pb.UpdatePolicyRequest(
            policy=pb.Policy(
                solver=pb.SolverSettings(
                    cadence_s=120.0,
                    debounce_ms=DEBOUNCE_MS,
                    time_limit_s=2,
                    candidates_k=16,
                )
            ),
            update_mask={"paths": ["solver"]},
        )
    )
    await dispatch.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=technician("A", capacity=20))
    )
    await dispatch.tickets.SubmitTicket(pb.SubmitTicketRequest(ticket=ticket("W0")))
    await dispatch.wait_event(lambda e: is_assignment(e) and e.ticket_id == "W0")
    await asyncio.sleep(DEBOUNCE_MS / 1000)  # the policy's debounce is in force
    stream = keys.events_key(TENANT, REGION.region)
    types_read: list[str] = []
    submits_read: list[str] = []
    reads_started: list[str] = []
    redis: Any = dispatch.loop.redis
    xread, xrange = redis.xread, redis.xrange

    def seen(entries: Any) -> None:
        types_read.extend(f.get("type", "") for _, f in entries)
        submits_read.extend(
            f["tk"] for _, f in entries if f.get("type") == "TICKET_SUBMITTED"
        )

    async def xread_spy(streams: Any, *args: Any, **kwargs: Any) -> Any:
        if stream in streams:
            reads_started.append("xread")
        reply = await xread(streams, *args, **kwargs)
        for key, entries in reply or ():
            if str(key) == stream:
                seen(entries)
        return reply

    async def xrange_spy(key: Any, *args: Any, **kwargs: Any) -> Any:
        reply = await xrange(key, *args, **kwargs)
        if str(key) == stream:
            reads_started.append("xrange")
            seen(reply)
        return reply

    redis.xread, redis.xrange = xread_spy, xrange_spy
    try:
        burst = [f"B{i}" for i in range(8)]
        await dispatch.tickets.SubmitTicket(pb.SubmitTicketRequest(ticket=ticket("B0")))
        await asyncio.sleep(0.1)  # the watch has woken the worker, which debounces
        # one batch: its submits land in one step, all of them in the cycle's read (one
        # by one, under load the last ones could land after that read and be read once)
        await dispatch.tickets.BatchSubmitTickets(
            pb.BatchSubmitTicketsRequest(
                requests=[pb.SubmitTicketRequest(ticket=ticket(t)) for t in burst[1:]]
            )
        )
        assigned = await dispatch.wait_events(
            lambda e: is_assignment(e) and e.ticket_id in burst, len(burst)
        )
        assert {e.ticket_id for e in assigned} == set(burst)
        # the watch reads on after the cycle (the read that woke it ended before the
        # spies came): wait for that read, and for what it returns at once, before
        # taking the spies away
        async with asyncio.timeout(10):
            while not reads_started:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
    finally:
        del redis.xread, redis.xrange
    return types_read, submits_read


async def test_the_watch_does_not_read_again_what_the_cycle_read(
    dispatch: Stubs,
) -> None:
    """A burst arrives between the wake and the cycle's read (a long debounce): the cycle
    reads it all, and the watch, reading on after the cycle from the model's position,
    sees none of the burst's submits after the one that woke it (before: every one)."""
    _, submits_read = await _burst_during_a_debounce(dispatch)
    assert not {f"B{i}" for i in range(1, 8)} & set(submits_read), submits_read


async def test_the_watch_does_not_read_the_cycles_own_commit_events(
    dispatch: Stubs,
) -> None:
    """After the cycle the watch goes on past the events its commit appended (the loop's
    own output, which never wakes it): it reads none of the burst's assignments (before:
    its read after the cycle returned all eight TICKET_ASSIGNED events)."""
    types_read, _ = await _burst_during_a_debounce(dispatch)
    assert "TICKET_ASSIGNED" not in types_read, types_read


async def test_a_watch_whose_cancel_is_lost_ends_with_its_worker(
    redis_client: aioredis.Redis, solver_pool: SolverPool
) -> None:
    """redis-py can swallow a cancel that lands mid-command: the watch's read then returns
    what arrived as if no cancel came. A change among it must not make the watch wait
    for a cycle the ending worker never runs (it waited forever, and the worker with it:
    a lease move left both behind, and shutdown gave up on the loop after 5 s)."""
    region = RegionRef("acme", "r1")
    idle = Policy(solver=dataclasses.replace(Policy().solver, cadence_s=600.0))
    await PolicyStore(redis_client).update(region.tenant, idle, updated_by="test")
    store = RedisStateStore(redis_client, metrics=DispatchMetrics.throwaway())
    await store.upsert_technician(
        region.tenant, Technician("A", region.region, TechnicianStatus.AVAILABLE, 5)
    )
    stream = keys.events_key(region.tenant, region.region)
    xread = redis_client.xread
    read_from: list[str] = []
    losing = False

    async def xread_losing_a_cancel(streams: Any, *args: Any, **kwargs: Any) -> Any:
        if not losing:
            return await xread(streams, *args, **kwargs)
        read_from.append(str(streams[stream]))
        with contextlib.suppress(asyncio.CancelledError):  # as the library does
            await asyncio.sleep(5)
        return await xread(streams, *args, **{**kwargs, "block": None})

    async def submit(ticket_id: str) -> None:
        await store.submit(
            region.tenant, [SubmitTicket(Ticket(ticket_id, region.region, 3, 600))]
        )

    async def worker_started() -> bool:
        return region in loop.region_workers

    async def assigned() -> bool:
        return (await store.get_ticket(region.tenant, "T0")).assignment is not None

    async def watch_reading() -> bool:
        return bool(read_from)

    loop = SolveLoop(redis_client, DispatchMetrics.throwaway(), pool=solver_pool)
    redis_client.xread = xread_losing_a_cancel  # type: ignore[method-assign]
    running = asyncio.create_task(loop.run())
    try:
        await eventually(worker_started)
        await submit("T0")
        await eventually(assigned)
        await asyncio.sleep(0.3)  # the watch has read on past T0's events
        losing = True
        await eventually(watch_reading)
        assert read_from[-1] != "$"  # it reads after an event: T1 is what it returns
        await submit("T1")  # arrives while the watch reads, as its cancel lands
        task = loop.workers[region]
        assert loop.leases.on_change is not None
        loop.leases.on_change(region, None)  # the lease is lost: cancel the worker
        await asyncio.wait({task}, timeout=3.0)
        assert task.done()
    finally:
        loop.stop.set()
        await asyncio.wait({running}, timeout=8.0)
        del redis_client.xread
    assert running.done()


async def test_an_event_between_the_cycles_read_and_its_commit_wakes_the_next_cycle(
    dispatch: Stubs,
) -> None:
    """A ticket submitted after the cycle's read, just before its commit, lies before the
    commit's own events: the watch reads it (it steps over the own events only) and the
    next cycle assigns it, long before the cadence tick."""
    await slow_cadence(dispatch)
    await dispatch.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=technician("A", capacity=20))
    )
    await dispatch.tickets.SubmitTicket(pb.SubmitTicketRequest(ticket=ticket("W0")))
    await dispatch.wait_event(lambda e: is_assignment(e) and e.ticket_id == "W0")
    await asyncio.sleep(0.3)  # the watch reads on past W0's cycle
    store: Any = dispatch.loop.store
    commit = store.commit_assignments
    late: list[str] = []

    async def submit_then_commit(*args: Any, **kwargs: Any) -> Any:
        if not late:  # the first commit: after its cycle's read
            late.append("L1")
            await dispatch.tickets.SubmitTicket(
                pb.SubmitTicketRequest(ticket=ticket("L1"))
            )
        return await commit(*args, **kwargs)

    store.commit_assignments = submit_then_commit
    try:
        await dispatch.tickets.SubmitTicket(pb.SubmitTicketRequest(ticket=ticket("E1")))
        await dispatch.wait_events(
            lambda e: is_assignment(e) and e.ticket_id in {"E1", "L1"}, 2
        )
    finally:
        del store.commit_assignments
    assert late == ["L1"]
