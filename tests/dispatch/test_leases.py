"""Leases: fair share over live processes, takeover after expiry, fencing tokens grow;
a region's worker lives only while its lease does."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from typing import TYPE_CHECKING

from dispatcher.domain import Technician, TechnicianStatus
from dispatcher.loop.leases import LeaseManager, RegionRef, fair_share
from dispatcher.loop.solve_loop import SolveLoop
from dispatcher.runtime.metrics import DispatchMetrics
from dispatcher.store.keys import lease_counter_key, lease_key
from dispatcher.store.policy import PolicyStore
from dispatcher.store.state import RedisStateStore
from solver.policy import Policy
from tests.dispatch.conftest import eventually

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from dispatcher.loop.pool import SolverPool

REGIONS = [RegionRef("acme", f"r{i}") for i in range(5)]


async def _regions() -> list[RegionRef]:
    return REGIONS


def test_fair_share() -> None:
    """ceil(regions / processes), zero without regions."""
    assert fair_share(10, 3) == 4
    assert fair_share(0, 3) == 0
    assert fair_share(5, 0) == 5


async def test_regions_are_shared_and_taken_over(redis_client: aioredis.Redis) -> None:
    """Two processes split the regions; when one stops renewing the other takes all."""
    a = LeaseManager(
        redis_client,
        _regions,
        ttl_ms=600,
        owner_id="a",
        metrics=DispatchMetrics.throwaway(),
    )
    b = LeaseManager(
        redis_client,
        _regions,
        ttl_ms=600,
        owner_id="b",
        metrics=DispatchMetrics.throwaway(),
    )
    await a.tick()
    await b.tick()
    await a.tick()  # a sees b in the registry and sheds down to its share
    await b.tick()
    assert set(a.held).isdisjoint(b.held)
    assert len(a.held) + len(b.held) == 5
    assert max(len(a.held), len(b.held)) == 3
    old_tokens = {r: a.held[r].token for r in a.held}
    await asyncio.sleep(0.7)  # a "dies": no renewals
    await b.tick()
    assert set(b.held) == set(REGIONS)
    for region, token in old_tokens.items():
        assert b.held[region].token > token
        assert (
            int(await redis_client.get(lease_key(region.tenant, region.region)))
            == b.held[region].token
        )
    # a wakes up: its renewals fail, it drops what it thought it held
    await a.tick()
    assert set(a.held).isdisjoint(b.held)


async def test_a_failing_acquire_does_not_end_the_round(
    redis_client: aioredis.Redis,
) -> None:
    """An acquire that fails (here: the region's token counter is not a number, so the
    script's INCR errors, as a region on an unreachable Cluster node would) skips that
    region; the same round still acquires every other free region."""
    broken = {REGIONS[0], REGIONS[2]}
    for r in broken:
        await redis_client.hset(
            lease_counter_key(r.tenant, r.region), "not", "a number"
        )

    async def four() -> list[RegionRef]:
        # broken, free, broken, free: whatever region the round starts at, a free one
        # comes after a broken one
        return REGIONS[:4]

    m = LeaseManager(
        redis_client,
        four,
        ttl_ms=5000,
        owner_id="a",
        metrics=DispatchMetrics.throwaway(),
    )
    await m.tick()
    assert set(m.held) == {REGIONS[1], REGIONS[3]}
    await m.tick()  # and again the next round
    assert set(m.held) == {REGIONS[1], REGIONS[3]}


async def test_a_failing_renewal_does_not_end_the_round(
    redis_client: aioredis.Redis,
) -> None:
    """A renewal that fails (here: the region's lease key is not a string, so the renew
    script's GET errors) keeps that lease while it is locally valid and drops it after;
    the same round still renews the others and acquires a free region."""
    first = REGIONS[:3]

    async def listed() -> list[RegionRef]:
        return first

    m = LeaseManager(
        redis_client,
        listed,
        ttl_ms=5000,
        owner_id="a",
        metrics=DispatchMetrics.throwaway(),
    )
    await m.tick()
    assert set(m.held) == set(first)
    failing = REGIONS[1]
    key = lease_key(failing.tenant, failing.region)
    await redis_client.delete(key)
    await redis_client.hset(key, "not", "a token")
    first.append(REGIONS[3])  # a new free region
    await m.tick()
    assert set(m.held) == set(REGIONS[:4])
    m.held[failing].valid_until = time.monotonic()  # its local validity has run out
    await m.tick()
    assert set(m.held) == {REGIONS[0], REGIONS[2], REGIONS[3]}


async def test_release_all_frees_regions(redis_client: aioredis.Redis) -> None:
    """A clean stop releases every lease at once (no TTL wait for the next holder)."""
    a = LeaseManager(
        redis_client,
        _regions,
        ttl_ms=10_000,
        owner_id="a",
        metrics=DispatchMetrics.throwaway(),
    )
    await a.tick()
    assert len(a.held) == 5
    await a.release_all()
    assert not a.held
    for region in REGIONS:
        assert await redis_client.get(lease_key(region.tenant, region.region)) is None


async def test_solve_loop_ends_on_stop_without_a_cancel(
    redis_client: aioredis.Redis, solver_pool: SolverPool
) -> None:
    """Shutdown sets ``stop``: the loop ends and releases its leases even when the cancel
    never arrives (redis-py can swallow a cancel that lands mid-command)."""
    stop = asyncio.Event()
    loop = SolveLoop(
        redis_client,
        DispatchMetrics.throwaway(),
        pool=solver_pool,
        lease_ttl_ms=900,
        stop=stop,
    )
    running = asyncio.create_task(loop.run())
    await asyncio.sleep(0.5)
    stop.set()
    async with asyncio.timeout(2.0):  # one renew interval (TTL/3) plus a release
        await running
    assert not loop.leases.held


async def test_the_lease_loop_ends_on_a_cancel_a_library_swallowed(
    redis_client: aioredis.Redis,
) -> None:
    """redis-py can swallow a cancel that lands mid-command: the call returns as if none
    came. The lease loop must end on that cancel all the same (and release its leases),
    not keep ticking until a stop event that whoever cancelled it never sets."""
    in_call = asyncio.Event()

    async def regions_swallowing_a_cancel() -> list[RegionRef]:
        in_call.set()
        with contextlib.suppress(asyncio.CancelledError):  # as the library does
            await asyncio.sleep(0.2)
        return REGIONS

    manager = LeaseManager(
        redis_client,
        regions_swallowing_a_cancel,
        ttl_ms=900,
        owner_id="a",
        metrics=DispatchMetrics.throwaway(),
    )
    stop = asyncio.Event()  # never set by the test: only its clean-up sets it
    running = asyncio.create_task(manager.run(stop))

    async def holding_all() -> bool:
        return len(manager.held) == len(REGIONS)

    async def holding_all_and_listing_again() -> bool:
        return await holding_all() and in_call.is_set()

    try:
        await eventually(holding_all)
        in_call.clear()
        await eventually(holding_all_and_listing_again)
        running.cancel()  # lands in the listing call, which swallows it
        await asyncio.wait({running}, timeout=3.0)
        assert running.cancelled()
    finally:
        stop.set()
        await asyncio.wait({running}, timeout=5.0)
    assert not manager.held
    for region in REGIONS:
        assert await redis_client.get(lease_key(region.tenant, region.region)) is None


async def test_a_worker_whose_cancel_is_lost_ends_when_its_lease_does(
    redis_client: aioredis.Redis, solver_pool: SolverPool
) -> None:
    """The lease is lost (``on_change(region, None)`` cancels the region's worker) just as
    a change wakes the idle worker: Python 3.11's ``asyncio.wait_for`` then returns
    instead of raising the cancel. The worker must end anyway (it is no longer the
    region's worker), not solve beside its successor or wait forever for the lease."""
    region = RegionRef("acme", "r1")
    idle = Policy(solver=dataclasses.replace(Policy().solver, cadence_s=600.0))
    await PolicyStore(redis_client).update(region.tenant, idle, updated_by="test")
    await RedisStateStore(
        redis_client, metrics=DispatchMetrics.throwaway()
    ).upsert_technician(
        region.tenant,
        Technician("A", region.region, TechnicianStatus.AVAILABLE, 2),
    )
    loop = SolveLoop(redis_client, DispatchMetrics.throwaway(), pool=solver_pool)
    running = asyncio.create_task(loop.run())
    try:

        async def idle_worker() -> bool:
            """The worker read the region once and waits for a change (cadence 600 s)."""
            worker = loop.region_workers.get(region)
            return (
                worker is not None
                and worker.model is not None
                and worker.model.resyncs == 1
                and not worker.wake.is_set()
            )

        await eventually(idle_worker)
        await asyncio.sleep(0.2)  # its first cycle ended: it waits for a change
        worker, task = loop.region_workers[region], loop.workers[region]
        started = worker.last_start
        assert loop.leases.on_change is not None
        worker.wake.set()  # a change arrives ...
        loop.leases.on_change(region, None)  # ... as the lease is lost: cancel
        await asyncio.sleep(0.5)
        assert task.done()
        assert worker.last_start == started  # no cycle after the cancel
    finally:
        loop.stop.set()
        async with asyncio.timeout(5.0):
            await running
