"""Lease renewals run beside the event loop: a busy loop keeps its leases and its commits;
a stuck one still loses its leases by TTL."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import TYPE_CHECKING

from dispatcher.loop.leases import LeaseManager, RegionRef
from dispatcher.loop.solve_loop import SolveLoop
from dispatcher.runtime.context import close_redis
from dispatcher.runtime.context import redis_client as make_redis_client
from dispatcher.runtime.metrics import DispatchMetrics, new_registry
from dispatcher.store.events import watch_client
from dispatcher.store.keys import lease_key
from dispatcher.store.state import RedisStateStore
from tests.dispatch.conftest import eventually, stored_technician, submitted_ticket

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from dispatcher.domain import (
        SubmitTicket,
        Technician,
    )
    from dispatcher.loop.pool import SolverPool

TENANT = "acme"


def _spin(seconds: float) -> None:
    """Synchronous CPU work on the event loop's thread (it holds the GIL as a cycle's
    reads, builds and commits do, apart from the interpreter's switch interval)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _tech(tid: str, region: str) -> Technician:
    return stored_technician(tid, region, capacity=8)


def _ticket(tid: str, region: str) -> SubmitTicket:
    return submitted_ticket(tid, region, work_duration_s=600)


async def test_a_busy_event_loop_keeps_its_leases_and_commits(
    redis_client: aioredis.Redis, redis_server: str, solver_pool: SolverPool
) -> None:
    """While tickets arrive, the solve loop's event loop runs nothing but synchronous
    stretches of 0.8 TTL (longer than the renewal interval, shorter than the TTL) for
    about 6 TTLs: no lease is lost (same tokens), no commit refused, every ticket assigned.
    With the renewals on the event loop, a round of them needs several of its turns,
    more than a TTL apart: every lease was lost."""
    ttl_ms = 900
    registry = new_registry(process_metrics=False)
    metrics = DispatchMetrics(registry)
    store = RedisStateStore(redis_client, metrics=DispatchMetrics.throwaway())
    regions = ("r0", "r1")
    for region in regions:
        for k in range(2):
            await store.upsert_technician(TENANT, _tech(f"k{k}-{region}", region))
    # the URL as bootstrap passes it: on Redis Cluster the renewal thread's own client is
    # built from it (without it a cluster client's renewals stay on the event loop)
    loop = SolveLoop(
        redis_client, metrics, pool=solver_pool, lease_ttl_ms=ttl_ms,
        redis_url=redis_server,
    )  # fmt: skip
    running = asyncio.create_task(loop.run())
    try:

        async def all_held() -> bool:
            return len(loop.leases.held) == len(regions)

        await eventually(all_held)
        tokens = {r: lease.token for r, lease in loop.leases.held.items()}
        ticket_ids: list[str] = []

        async def arrivals() -> None:
            for i in range(4):
                batch = [_ticket(f"t{i}-{r}", r) for r in regions]
                ticket_ids.extend(t.ticket.ticket_id for t in batch)
                await store.submit(TENANT, batch)
                await asyncio.sleep(0.5)

        arriving = asyncio.create_task(arrivals())
        busy_until = time.monotonic() + 6 * ttl_ms / 1000.0
        while time.monotonic() < busy_until:
            _spin(0.8 * ttl_ms / 1000.0)
            await asyncio.sleep(0)  # one turn of the event loop between stretches
        await arriving

        async def all_assigned() -> bool:
            got = [await store.get_ticket(TENANT, t) for t in ticket_ids]
            return all(t.status.value == "ASSIGNED" for t in got)

        await eventually(all_assigned, timeout_s=20.0)
        assert (
            registry.get_sample_value("dispatch_lease_changes_total", {"event": "lost"})
            == 0
        )
        assert (
            registry.get_sample_value(
                "dispatch_store_conflicts_total", {"kind": "lease"}
            )
            == 0
        )
        assert {r: lease.token for r, lease in loop.leases.held.items()} == tokens
    finally:
        loop.stop.set()
        async with asyncio.timeout(10.0):
            await running


async def test_a_stuck_event_loop_loses_its_leases_by_ttl(
    redis_client: aioredis.Redis, redis_server: str
) -> None:
    """An event loop that runs no callback for longer than the stall limit is stuck, not
    busy: the renewal thread stops renewing and the lease expires in Redis while the loop
    is still stuck (the bound: stall limit + two renewal intervals + TTL; the loop stays
    stuck 0.8 s longer). Once it runs again the lease is dropped as lost and acquired
    anew with a higher token; at the end the renewal thread is gone."""
    region = RegionRef(TENANT, "r0")

    async def regions() -> list[RegionRef]:
        return [region]

    registry = new_registry(process_metrics=False)
    manager = LeaseManager(
        redis_client,
        regions,
        ttl_ms=400,
        owner_id="a",
        metrics=DispatchMetrics(registry),
        renew_client=lambda: watch_client(redis_client, redis_server),
    )
    stop = asyncio.Event()
    running = asyncio.create_task(manager.run(stop))
    try:

        async def held() -> bool:
            return region in manager.held

        await eventually(held)
        old_token = manager.held[region].token
        await asyncio.sleep(1.0)  # renewed meanwhile: the loop answers its probes
        assert manager.token(region) == old_token
        gone_after: list[float] = []
        stuck_s = (
            manager.stall_limit_s + 2 * manager.renew_interval_s + 0.4 + 0.8
        )  # the bound for a TTL of 0.4 s, and then some
        started = time.monotonic()

        async def poll_key() -> None:
            # a client of its own (single node or cluster, as the URL says), on this
            # thread's loop: the test's event loop is the stuck one
            client = make_redis_client(redis_server)
            try:
                while time.monotonic() < started + stuck_s:
                    if (
                        await client.get(lease_key(region.tenant, region.region))
                        is None
                    ):
                        gone_after.append(time.monotonic() - started)
                        return
                    await asyncio.sleep(0.02)
            finally:
                await close_redis(client)

        def watch_key() -> None:
            asyncio.run(poll_key())

        watcher = threading.Thread(target=watch_key)
        watcher.start()
        _spin(stuck_s)  # the event loop is stuck
        await asyncio.to_thread(watcher.join)
        assert gone_after, "the lease was renewed for a stuck event loop"

        async def taken_anew() -> bool:
            lease = manager.held.get(region)
            return lease is not None and lease.token > old_token

        await eventually(taken_anew)
        assert (
            registry.get_sample_value("dispatch_lease_changes_total", {"event": "lost"})
            == 1
        )
    finally:
        stop.set()
        async with asyncio.timeout(5.0):
            await running
    assert not [t for t in threading.enumerate() if t.name.startswith("lease-renewal")]
