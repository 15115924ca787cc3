"""Moving a QUEUED ticket between regions (escalation widening): each step, a crash between
them, idempotence, the freeze while moving, and clients with a stale region cache."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from dispatcher import keys
from dispatcher.domain import SubmitTicket, TicketFilter, TicketStatus
from dispatcher.errors import StaleVersion
from dispatcher.store import RedisStateStore
from dispatcher.store_moves import TicketMover
from tests.service.test_store import T, events, lease, tk

if TYPE_CHECKING:
    import redis.asyncio

pytestmark = pytest.mark.integration

SOURCE, TARGET = "north", "south"


async def moved_out(
    store: RedisStateStore, mover: TicketMover, redis_client: redis.asyncio.Redis
) -> None:
    """T1 submitted in SOURCE and taken through step 1 only (a crash right after it)."""
    await store.submit(T, [SubmitTicket(tk("T1", region=SOURCE, priority=2), "r1")])
    await redis_client.hset(
        keys.region_prefix(T, SOURCE) + "slamarks", "T1", '{"e":["x"]}'
    )
    token = await lease(redis_client)
    reply = await mover._out(
        keys=[keys.events_key(T, SOURCE)],
        args=[keys.region_prefix(T, SOURCE), 1, 1000, token, "T1", 1, TARGET, "{}"],
    )
    assert reply == ["OK", "2"]


async def open_ids(store: RedisStateStore) -> list[tuple[str, str]]:
    page = await store.list_tickets(T, TicketFilter(), 100)
    return [(t.region, t.ticket_id) for t in page.items]


async def test_crash_after_step_one_then_finish(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    """After step 1 the ticket is listed nowhere but readable, frozen, and marked
    unfinished; ``finish`` completes it once, however often it runs."""
    mover = TicketMover(redis_client, store.events_maxlen)
    await moved_out(store, mover, redis_client)
    assert await open_ids(store) == []
    assert (await store.get_ticket(T, "T1")).region == SOURCE  # still readable
    with pytest.raises(StaleVersion, match="moved"):
        await store.cancel(T, "T1", "while moving")
    assert await mover.unfinished(T, SOURCE) == ["T1"]
    assert [e["type"] for e in await events(redis_client, SOURCE)][-1] == "TICKET_MOVED"

    for _ in range(2):  # recovery may run more than once
        await mover.finish(T, SOURCE, "T1")
    assert await open_ids(store) == [(TARGET, "T1")]
    moved = await store.get_ticket(T, "T1")
    assert (moved.region, moved.status, moved.version, moved.priority) == (
        TARGET,
        TicketStatus.QUEUED,
        3,
        2,
    )
    assert await mover.unfinished(T, SOURCE) == []
    arrived = [
        e for e in await events(redis_client, TARGET) if e["type"] == "TICKET_MOVED"
    ]
    assert len(arrived) == 1
    assert '"from_region": "north"' in arrived[0]["d"]
    assert await redis_client.hget(keys.region_prefix(T, TARGET) + "slamarks", "T1")
    assert not await redis_client.exists(keys.ticket_key(T, SOURCE, "T1"))
    snap = await store.snapshot(T, TARGET)
    assert [t.ticket_id for t in snap.tickets] == ["T1"]
    assert (await store.snapshot(T, SOURCE)).tickets == ()


async def test_only_a_queued_ticket_of_the_lease_holder_moves(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    """Wrong token, stale version or a closed ticket: refused, nothing changed."""
    mover = TicketMover(redis_client, store.events_maxlen)
    await store.submit(T, [SubmitTicket(tk("T1", region=SOURCE), "r1")])
    token = await lease(redis_client)
    assert await mover.move(T, SOURCE, TARGET, "other", "T1", 1, {}) == "LEASE"
    assert await mover.move(T, SOURCE, TARGET, token, "T1", 7, {}) == "ABORTED"
    await store.cancel(T, "T1", "gone")
    assert await mover.move(T, SOURCE, TARGET, token, "T1", 2, {}) == "ILLEGAL"
    assert await mover.move(T, SOURCE, TARGET, token, "NOPE", 1, {}) == "NOT_FOUND"
    assert (await store.get_ticket(T, "T1")).region == SOURCE


async def test_a_stale_region_cache_follows_the_move(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    """Another process that cached the old region still reads and cancels the ticket."""
    other = RedisStateStore(redis_client)
    mover = TicketMover(redis_client, store.events_maxlen)
    await store.submit(T, [SubmitTicket(tk("T1", region=SOURCE), "r1")])
    assert (await other.get_ticket(T, "T1")).region == SOURCE  # cached: north
    token = await lease(redis_client)
    assert await mover.move(T, SOURCE, TARGET, token, "T1", 1, {"rule": "r"}) == "OK"
    assert (await other.get_ticket(T, "T1")).region == TARGET
    other._ticket_regions[(T, "T1")] = SOURCE  # stale again
    cancelled = await other.cancel(T, "T1", "done elsewhere")
    assert (cancelled.region, cancelled.status) == (TARGET, TicketStatus.CANCELLED)
