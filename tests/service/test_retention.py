"""Retention of closed tickets (dispatcher.store.retention) on a real Redis: the sweep deletes
closed tickets past the cut-off, never an open one, and a deleted id can be submitted anew."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatcher.domain import (
    Assignment,
    Resolution,
    ResolutionCode,
    SubmitTicket,
    TicketFilter,
    TicketStatus,
)
from dispatcher.errors import UnknownTicket
from dispatcher.runtime.metrics import DispatchMetrics
from dispatcher.store.retention import ClosedTicketSweeper
from dispatcher.store.state import Decision, RedisStateStore, keys
from tests.service.test_store import R, T, events, lease, tech, tk, versions

if TYPE_CHECKING:
    import redis.asyncio

pytestmark = pytest.mark.integration

FUTURE_MS = int(time.time() * 1000) + 3_600_000
"""A cut-off after every closing in these tests."""


STAGES = ("queued", "assigned", "accepted", "started", "resolved")
"""How far along the lifecycle a ticket is taken (``advance``)."""


async def advance(
    store: RedisStateStore, client: redis.asyncio.Redis, tid: str, stage: str
) -> None:
    """Take ``tid`` (QUEUED) through the lifecycle with technician X up to ``stage``."""
    steps = STAGES.index(stage)
    if steps >= 1:
        token = await lease(client)
        await store.commit_assignments(
            T, R, token, [Decision(tid, "X", Assignment("X", 0))], await versions(store)
        )
    if steps >= 2:
        await store.accept(T, tid, "X")
    if steps >= 3:
        await store.transition(T, tid, "start", actor="X")
    if steps >= 4:
        await store.complete(T, tid, Resolution(ResolutionCode.FIXED, "ok"), "X")


async def resolve(
    store: RedisStateStore, client: redis.asyncio.Redis, tid: str
) -> None:
    """Assign ``tid`` to technician X and take it through to RESOLVED."""
    await advance(store, client, tid, "resolved")


async def test_sweep_deletes_closed_tickets_and_keeps_open_ones(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    """RESOLVED and CANCELLED tickets past the cut-off go (hash, listing, id claim, index);
    open ones keep their state and version; no event is added or removed."""
    await store.upsert_technician(T, tech("X", capacity=3))
    await store.submit(T, [SubmitTicket(tk(t)) for t in ("done", "gone", "q", "held")])
    await resolve(store, redis_client, "done")
    await store.cancel(T, "gone", "customer")
    token = await lease(redis_client)
    await store.commit_assignments(
        T, R, token, [Decision("held", "X", Assignment("X", 0))], await versions(store)
    )
    open_before = {t: await store.get_ticket(T, t) for t in ("q", "held")}
    events_before = await events(redis_client)
    sweeper = ClosedTicketSweeper(redis_client)

    # closed after the cut-off: kept
    assert await sweeper.sweep(T, R, int(time.time() * 1000) - 60_000) == 0
    assert (await store.get_ticket(T, "done")).status is TicketStatus.RESOLVED

    assert await sweeper.sweep(T, R, FUTURE_MS) == 2
    for tid in ("done", "gone"):
        with pytest.raises(UnknownTicket):
            await store.get_ticket(T, tid)
        assert not await redis_client.hexists(keys.ticket_region_key(T), tid)
        assert not await redis_client.exists(keys.ticket_key(T, R, tid))
        prefix = keys.region_prefix(T, R)
        assert await redis_client.zscore(prefix + keys.TICKETS_ALL, tid) is None
    for tid, before in open_before.items():
        assert await store.get_ticket(T, tid) == before
    listed = await store.list_tickets(T, TicketFilter(), 100)
    assert sorted(t.ticket_id for t in listed.items) == ["held", "q"]
    assert await redis_client.zcard(keys.region_prefix(T, R) + keys.CLOSED) == 0
    assert await events(redis_client) == events_before
    assert await sweeper.sweep(T, R, FUTURE_MS) == 0  # nothing left to do


async def test_a_swept_ticket_id_can_be_submitted_again(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    """After the sweep the id is free: a new submit makes a fresh ticket (version 1, no
    field of the old one), also in another region."""
    await store.upsert_technician(T, tech("X"))
    await store.submit(T, [SubmitTicket(tk("T1"))])
    await resolve(store, redis_client, "T1")
    await ClosedTicketSweeper(redis_client).sweep(T, R, FUTURE_MS)
    (again,) = await store.submit(T, [SubmitTicket(tk("T1"))])
    assert again.error is None
    assert not again.replayed
    fresh = await store.get_ticket(T, "T1")
    assert (fresh.status, fresh.version, fresh.resolution) == (
        TicketStatus.QUEUED,
        1,
        None,
    )
    await store.cancel(T, "T1")
    await ClosedTicketSweeper(redis_client).sweep(T, R, FUTURE_MS)
    (south,) = await store.submit(T, [SubmitTicket(tk("T1", region="south"))])
    assert south.error is None
    assert (await store.get_ticket(T, "T1")).region == "south"


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    fates=st.lists(st.tuples(st.sampled_from(STAGES), st.booleans()), max_size=12),
    batch=st.integers(1, 4),
    max_batches=st.integers(1, 5),
)
async def test_sweep_never_touches_an_open_ticket(
    redis_client: redis.asyncio.Redis,
    fates: list[tuple[str, bool]],
    batch: int,
    max_batches: int,
) -> None:
    """Tickets at every lifecycle stage, cancelled or not (a ticket is cancelled from the
    open stage it reached), any batch bounds: each sweep deletes only closed tickets, at
    most ``batch * max_batches``; repeated sweeps delete every closed one."""
    await redis_client.flushall()
    store = RedisStateStore(redis_client, metrics=DispatchMetrics.throwaway())
    await store.upsert_technician(T, tech("X", capacity=len(fates) + 1))
    ids = [f"T{i}" for i in range(len(fates))]
    if ids:
        await store.submit(T, [SubmitTicket(tk(t)) for t in ids])
    open_ids = set()
    for tid, (stage, cancel) in zip(ids, fates, strict=True):
        await advance(store, redis_client, tid, stage)
        if cancel and stage != "resolved":
            await store.cancel(T, tid)
        elif stage != "resolved":
            open_ids.add(tid)
    open_before = {t: await store.get_ticket(T, t) for t in open_ids}
    sweeper = ClosedTicketSweeper(redis_client)
    closed_left = len(ids) - len(open_ids)
    while True:
        deleted = await sweeper.sweep(
            T, R, FUTURE_MS, batch=batch, max_batches=max_batches
        )
        assert deleted <= min(closed_left, batch * max_batches)
        closed_left -= deleted
        if not deleted:
            break
    assert closed_left == 0
    remaining = await store.list_tickets(T, TicketFilter(), 100)
    assert {t.ticket_id for t in remaining.items} == open_ids
    for tid, before in open_before.items():
        assert await store.get_ticket(T, tid) == before
