"""The stated takeover bound holds: a solver that stops renewing (cut off from Redis right
after a renewal, the worst moment) has its regions taken over by a live solve loop within
``takeover_bound_s`` of that renewal, never later."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

import pytest

from dispatcher.domain import (
    Location,
    SubmitTicket,
    Technician,
    TechnicianStatus,
    Ticket,
)
from dispatcher.loop.leases import RegionRef, takeover_bound_s
from dispatcher.loop.solve_loop import SolveLoop
from dispatcher.runtime.context import redis_client as make_redis_client
from dispatcher.runtime.metrics import DispatchMetrics
from dispatcher.store.keys import lease_key
from dispatcher.store.state import RedisStateStore

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from dispatcher.loop.pool import SolverPool

pytestmark = pytest.mark.integration

TENANT = "acme"
REGIONS = [RegionRef(TENANT, "r0"), RegionRef(TENANT, "r1")]
TTL_MS = 900
USER, PASSWORD = "takeover-victim", "victim-pw"
KILLS = 4


async def until(check: object, timeout_s: float = 10.0) -> float:
    """Poll ``check()`` every 2 ms until true; the monotonic time it became true."""
    async with asyncio.timeout(timeout_s):
        while not check():  # type: ignore[operator]
            await asyncio.sleep(0.002)
    return time.monotonic()


async def seed(redis_client: aioredis.Redis) -> None:
    store = RedisStateStore(redis_client, metrics=DispatchMetrics.throwaway())
    here = Location(42.36, -71.06)
    for ref in REGIONS:
        tech = Technician(
            f"X-{ref.region}", ref.region, TechnicianStatus.AVAILABLE, 2, location=here
        )
        await store.upsert_technician(TENANT, tech)
        await store.submit(
            TENANT,
            [
                SubmitTicket(
                    Ticket(f"T-{ref.region}", ref.region, 3, 600, location=here)
                )
            ],
        )


async def cut_off_right_after_a_renewal(
    redis_client: aioredis.Redis, region: RegionRef
) -> float:
    """Wait for the victim's next renewal of ``region`` (its TTL jumps back up), then
    refuse the victim every command at once; the monotonic time of the cut."""
    key = lease_key(region.tenant, region.region)
    last = await redis_client.pttl(key)
    async with asyncio.timeout(10.0):  # a victim that stopped renewing fails, not hangs
        while True:
            ttl = await redis_client.pttl(key)
            if ttl > last:
                break
            last = ttl
    await redis_client.execute_command("ACL", "SETUSER", USER, "off")
    await redis_client.execute_command("CLIENT", "KILL", "USER", USER)
    return time.monotonic()


async def test_a_dead_solvers_regions_move_within_the_stated_bound(
    redis_server: str, redis_client: aioredis.Redis, solver_pool: SolverPool
) -> None:
    """Two solve loops share two regions; the victim is cut off from Redis right after
    renewing its lease (so it neither renews nor releases), ``KILLS`` times. Each time the
    survivor holds the victim's region within takeover_bound_s(TTL, its slowest tick) of
    the cut; the measured worst case is over one TTL (the bound the README used to state)."""
    await seed(redis_client)
    await redis_client.execute_command(
        "ACL", "SETUSER", USER, "on", f">{PASSWORD}", "~*", "&*", "+@all"
    )
    victim_url = redis_server.replace("redis://", f"redis://{USER}:{PASSWORD}@", 1)
    survivor = SolveLoop(
        redis_client,
        DispatchMetrics.throwaway(),
        pool=solver_pool,
        lease_ttl_ms=TTL_MS,
        owner_id="survivor",
    )
    tasks = [asyncio.create_task(survivor.run())]
    took: list[float] = []
    bounds: list[float] = []
    try:
        for n in range(KILLS):
            await redis_client.execute_command("ACL", "SETUSER", USER, "on")
            victim_redis = make_redis_client(victim_url)
            victim = SolveLoop(
                victim_redis,
                DispatchMetrics.throwaway(),
                pool=solver_pool,
                lease_ttl_ms=TTL_MS,
                owner_id=f"victim-{n}",
            )
            tasks.append(asyncio.create_task(victim.run()))
            await until(
                lambda v=victim: (
                    len(v.leases.held) == 1 and len(survivor.leases.held) == 1
                )
            )
            (region,) = victim.leases.held
            cut = await cut_off_right_after_a_renewal(redis_client, region)
            await until(lambda r=region: r in survivor.leases.held)
            taken = survivor.leases.held[region].acquired_at
            took.append(taken - cut)
            bound = takeover_bound_s(TTL_MS, survivor.leases.slowest_tick_s)
            assert taken - cut <= bound, (took, bound)
            bounds.append(bound)
            token = survivor.leases.held[region].token
            assert (
                int(await redis_client.get(lease_key(region.tenant, region.region)))
                == token
            )
            # stopped as serve stops it (its stop event), then cancelled: redis-py may
            # swallow a cancel mid-command, and a lost cancel left the victim's lease loop
            # running and this gather waiting (the 120 s hang in CI on 6da643a)
            victim.stop.set()
            victim_task = tasks.pop()
            victim_task.cancel()
            await asyncio.gather(victim_task, return_exceptions=True)
            with contextlib.suppress(Exception):
                await victim_redis.aclose()
    finally:
        survivor.stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await redis_client.execute_command("ACL", "DELUSER", USER)
    print(
        f"takeover after the cut: {[round(t, 3) for t in took]} s, bounds {[round(b, 3) for b in bounds]} s, TTL {TTL_MS} ms"
    )
    assert max(took) > TTL_MS / 1000.0  # worst moment: the bare TTL is not the bound
