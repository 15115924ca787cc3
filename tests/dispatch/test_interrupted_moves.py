"""The solve loop finishes the moves out of its region that a crash interrupted: a cycle
whose clock rules run completes each one (its read is gathered with the cycle's first
reads, ``RegionWorker.cycle``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from dispatcher.domain import TicketStatus
from dispatcher.loop.leases import RegionRef
from dispatcher.loop.region_model import RegionModel
from dispatcher.loop.solve_loop import RegionWorker, SolveLoop
from dispatcher.runtime.metrics import DispatchMetrics
from dispatcher.store.moves import TicketMover
from dispatcher.store.state import RedisStateStore
from tests.service.test_moves import SOURCE, TARGET, moved_out
from tests.service.test_store import T

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from dispatcher.loop.pool import SolverPool

pytestmark = pytest.mark.integration


async def test_a_cycle_finishes_the_moves_a_crash_interrupted(
    redis_client: aioredis.Redis, solver_pool: SolverPool
) -> None:
    """A ticket moved out of the region by step one only (a crash right after it) is in
    the other region after the region's next cycle, whose clock rules are due."""
    store = RedisStateStore(redis_client, metrics=DispatchMetrics.throwaway())
    mover = TicketMover(redis_client, store.events_maxlen)
    await moved_out(store, mover, redis_client)  # holds SOURCE's lease as "tok-1"
    assert await mover.unfinished(T, SOURCE) == ["T1"]
    loop = SolveLoop(redis_client, DispatchMetrics.throwaway(), pool=solver_pool)
    worker = RegionWorker(loop, RegionRef(T, SOURCE))
    worker.model = RegionModel(loop.feed, T, SOURCE, loop.model_resync_s)
    await worker.cycle("tok-1")
    assert await mover.unfinished(T, SOURCE) == []
    moved = await store.get_ticket(T, "T1")
    assert (moved.region, moved.status) == (TARGET, TicketStatus.QUEUED)
