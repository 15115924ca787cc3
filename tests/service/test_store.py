"""RedisStateStore on a real Redis: transitions, idempotency, events, snapshot, fenced commit."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import TYPE_CHECKING

import pytest

from dispatcher.backend.cluster import is_cluster_client
from dispatcher.domain import (
    Assignment,
    Location,
    Resolution,
    ResolutionCode,
    SkillLevel,
    SubmitTicket,
    Technician,
    TechnicianStatus,
    Ticket,
    TicketStatus,
    UnassignedReason,
)
from dispatcher.errors import (
    AlreadyExists,
    IllegalTransition,
    NotHolder,
    StaleVersion,
    UnknownTicket,
)
from dispatcher.runtime.metrics import DispatchMetrics
from dispatcher.store import lua as store_lua
from dispatcher.store.outcomes import CommitCode
from dispatcher.store.state import Decision, ExpectedVersions, RedisStateStore, keys

if TYPE_CHECKING:
    import redis.asyncio

pytestmark = pytest.mark.integration

T, R = "acme", "north"


def tk(ticket_id: str, region: str = R, priority: int = 3) -> Ticket:
    return Ticket(ticket_id, region, priority, 600, location=Location(42.0, -71.0))


def tech(technician_id: str, capacity: int = 2, region: str = R) -> Technician:
    return Technician(
        technician_id,
        region,
        TechnicianStatus.AVAILABLE,
        capacity,
        location=Location(42.0, -71.0),
    )


async def events(
    redis_client: redis.asyncio.Redis, region: str = R
) -> list[dict[str, str]]:
    return [f for _, f in await redis_client.xrange(keys.events_key(T, region))]


async def lease(redis_client: redis.asyncio.Redis, token: str = "tok-1") -> str:
    await redis_client.set(keys.lease_key(T, R), token)
    return token


async def versions(store: RedisStateStore) -> ExpectedVersions:
    snap = await store.snapshot(T, R)
    return ExpectedVersions(
        {t.ticket_id: t.version for t in snap.tickets},
        {t.technician_id: t.version for t in snap.technicians},
    )


async def test_submit_is_idempotent_under_concurrent_retries(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    """Ten racing submits with one request id create one ticket and one event."""
    results = await asyncio.gather(
        *(
            RedisStateStore(redis_client, metrics=DispatchMetrics.throwaway()).submit(
                T, [SubmitTicket(tk("T1"), "req-1")]
            )
            for _ in range(10)
        )
    )
    flat = [r[0] for r in results]
    assert all(r.error is None for r in flat)
    assert sum(1 for r in flat if not r.replayed) == 1
    assert len(await events(redis_client)) == 1


async def test_same_ticket_id_without_same_request_is_already_exists(
    store: RedisStateStore,
) -> None:
    """A second submit of a taken id (other request id, even another region) fails per item."""
    await store.submit(T, [SubmitTicket(tk("T1"), "a")])
    (same_region,) = await store.submit(T, [SubmitTicket(tk("T1"), "b")])
    (other_region,) = await store.submit(
        T, [SubmitTicket(tk("T1", region="south"), "c")]
    )
    assert isinstance(same_region.error, AlreadyExists)
    assert isinstance(other_region.error, AlreadyExists)


async def test_full_lifecycle_one_event_per_change(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    """submit -> assign -> accept -> start -> complete: versions 1..5, one event each, in order."""
    await store.submit(T, [SubmitTicket(tk("T1"))])
    await store.upsert_technician(T, tech("X"))
    token = await lease(redis_client)
    res = await store.commit_assignments(
        T, R, token, [Decision("T1", "X", Assignment("X", 0))], await versions(store)
    )
    assert [o.code for o in res.outcomes] == ["ASSIGNED"]
    await store.accept(T, "T1", "X")
    await store.transition(T, "T1", "start", actor="X")
    done = await store.complete(T, "T1", Resolution(ResolutionCode.FIXED, "ok"), "X")
    assert done.status is TicketStatus.RESOLVED
    assert done.version == 5
    ticket_events = [e for e in await events(redis_client) if e.get("tk") == "T1"]
    assert [e["type"] for e in ticket_events] == [
        "TICKET_SUBMITTED",
        "TICKET_ASSIGNED",
        "TICKET_ACCEPTED",
        "TICKET_STARTED",
        "TICKET_COMPLETED",
    ]
    assert [int(e["v"]) for e in ticket_events] == [1, 2, 3, 4, 5]
    assert (await store.get_technician(T, "X")).queue_ticket_ids == ()


async def test_illegal_transitions_change_nothing(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    """Accepting a QUEUED ticket, starting before accept, completing twice: refused, no event."""
    await store.submit(T, [SubmitTicket(tk("T1"))])
    with pytest.raises(IllegalTransition):
        await store.transition(T, "T1", "accept")
    with pytest.raises(IllegalTransition):
        await store.transition(T, "T1", "start")
    await store.cancel(T, "T1", "customer")
    with pytest.raises(IllegalTransition):
        await store.cancel(T, "T1")
    assert [e["type"] for e in await events(redis_client)] == [
        "TICKET_SUBMITTED",
        "TICKET_CANCELLED",
    ]
    with pytest.raises(UnknownTicket):
        await store.transition(T, "nope", "cancel")


async def test_expected_version_mismatch_is_stale(store: RedisStateStore) -> None:
    """A lifecycle call naming an old version loses the race (ABORTED)."""
    await store.submit(T, [SubmitTicket(tk("T1"))])
    with pytest.raises(StaleVersion):
        await store.cancel(T, "T1", expected_version=7)


async def test_decline_requeues_and_excludes(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    """A decline returns the ticket to QUEUED; a later commit to the same technician is refused."""
    await store.submit(T, [SubmitTicket(tk("T1"))])
    await store.upsert_technician(T, tech("X"))
    token = await lease(redis_client)
    await store.commit_assignments(
        T, R, token, [Decision("T1", "X", Assignment("X"))], await versions(store)
    )
    with pytest.raises(NotHolder):
        await store.transition(T, "T1", "decline", actor="Y", argument="not me")
    t = await store.transition(T, "T1", "decline", actor="X", argument="too far")
    assert t.status is TicketStatus.QUEUED
    assert t.declined_by_technician_ids == ("X",)
    res = await store.commit_assignments(
        T, R, token, [Decision("T1", "X", Assignment("X"))], await versions(store)
    )
    assert res.outcomes[0].code == "EXCLUDED"


async def test_commit_with_stale_lease_commits_nothing(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    """A solve holding an old lease token changes nothing and appends no event."""
    await store.submit(T, [SubmitTicket(tk("T1")), SubmitTicket(tk("T2"))])
    await store.upsert_technician(T, tech("X"))
    await lease(redis_client, "new-token")
    before = len(await events(redis_client))
    res = await store.commit_assignments(
        T,
        R,
        "old-token",
        [Decision("T1", "X", Assignment("X")), Decision("T2", "X", Assignment("X"))],
        await versions(store),
    )
    assert res.lease_lost
    assert res.applied == 0
    assert len(await events(redis_client)) == before
    assert (await store.get_ticket(T, "T1")).status is TicketStatus.QUEUED


async def test_commit_skips_items_changed_since_snapshot(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    """A ticket updated (or technician changed) after the snapshot is not committed; others are."""
    await store.submit(
        T, [SubmitTicket(tk("T1")), SubmitTicket(tk("T2")), SubmitTicket(tk("T3"))]
    )
    await store.upsert_technician(T, tech("X", capacity=3))
    await store.upsert_technician(T, tech("Y", capacity=3))
    token = await lease(redis_client)
    expected = await versions(store)
    await store.cancel(T, "T2", "changed meanwhile")
    await store.set_availability(T, "Y", TechnicianStatus.AVAILABLE, None)
    res = await store.commit_assignments(
        T,
        R,
        token,
        [
            Decision("T1", "X", Assignment("X")),
            Decision("T2", "X", Assignment("X")),
            Decision("T3", "Y", Assignment("Y")),
        ],
        expected,
    )
    assert [o.code for o in res.outcomes] == [
        "ASSIGNED",
        "STALE_TICKET",
        "STALE_TECHNICIAN",
    ]
    assert (await store.get_ticket(T, "T3")).status is TicketStatus.QUEUED


async def test_commit_enforces_capacity_and_allows_swaps(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    """Over-capacity arrivals are refused; a swap between two full technicians succeeds."""
    await store.submit(T, [SubmitTicket(tk(f"T{i}")) for i in range(3)])
    await store.upsert_technician(T, tech("X", capacity=1))
    await store.upsert_technician(T, tech("Y", capacity=1))
    token = await lease(redis_client)
    res = await store.commit_assignments(
        T,
        R,
        token,
        [Decision(f"T{i}", "X", Assignment("X", i)) for i in range(2)]
        + [Decision("T2", "Y", Assignment("Y"))],
        await versions(store),
    )
    assert [o.code for o in res.outcomes] == ["CAPACITY", "CAPACITY", "ASSIGNED"]
    res = await store.commit_assignments(
        T, R, token, [Decision("T0", "X", Assignment("X"))], await versions(store)
    )
    assert res.outcomes[0].code == "ASSIGNED"
    swap = await store.commit_assignments(
        T,
        R,
        token,
        [Decision("T0", "Y", Assignment("Y")), Decision("T2", "X", Assignment("X"))],
        await versions(store),
    )
    assert [o.code for o in swap.outcomes] == ["REASSIGNED", "REASSIGNED"]
    assert (await store.get_technician(T, "X")).queue_ticket_ids == ("T2",)
    assert (await store.get_technician(T, "Y")).queue_ticket_ids == ("T0",)


async def test_unassignable_event_only_when_reason_changes(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    """Repeating the same unassigned reason each solve emits no further event."""
    await store.submit(T, [SubmitTicket(tk("T1"))])
    token = await lease(redis_client)
    d = [Decision("T1", unassigned_reason=UnassignedReason.NO_TECHNICIANS)]
    first = await store.commit_assignments(T, R, token, d, await versions(store))
    second = await store.commit_assignments(T, R, token, d, await versions(store))
    assert first.outcomes[0].code == "UNASSIGNABLE"
    assert second.outcomes[0].code == "UNCHANGED"
    assert [e["type"] for e in await events(redis_client)] == [
        "TICKET_SUBMITTED",
        "TICKET_UNASSIGNABLE",
    ]


async def test_accepted_ticket_is_pinned(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    """A commit cannot move an ACCEPTED ticket."""
    await store.submit(T, [SubmitTicket(tk("T1"))])
    await store.upsert_technician(T, tech("X"))
    await store.upsert_technician(T, tech("Y"))
    token = await lease(redis_client)
    await store.commit_assignments(
        T, R, token, [Decision("T1", "X", Assignment("X"))], await versions(store)
    )
    await store.accept(T, "T1", "X")
    res = await store.commit_assignments(
        T, R, token, [Decision("T1", "Y", Assignment("Y"))], await versions(store)
    )
    assert res.outcomes[0].code == "PINNED"


async def test_remove_technician_requeues_assigned(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    """Removing a technician returns its ASSIGNED tickets to QUEUED with an event each."""
    await store.submit(T, [SubmitTicket(tk("T1"))])
    await store.upsert_technician(T, tech("X"))
    token = await lease(redis_client)
    await store.commit_assignments(
        T, R, token, [Decision("T1", "X", Assignment("X"))], await versions(store)
    )
    assert await store.remove_technician(T, "X") == ["T1"]
    assert (await store.get_ticket(T, "T1")).status is TicketStatus.QUEUED
    types = [e["type"] for e in await events(redis_client)]
    assert types[-2:] == ["TICKET_UNASSIGNED", "TECHNICIAN_REMOVED"]


async def test_every_key_of_a_region_shares_its_hash_slot(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    """Every key written for a region carries its {tenant:region} tag (Cluster-safe)."""
    from redis.crc import key_slot

    await store.submit(T, [SubmitTicket(tk("T1"), "req")])
    await store.upsert_technician(T, tech("X"))
    slot = key_slot(keys.events_key(T, R).encode())
    region_keys = [
        k async for k in redis_client.scan_iter(match="dispatch:{acme:north}*")
    ]
    assert len(region_keys) > 5
    assert {key_slot(k.encode()) for k in region_keys} == {slot}
    assert keys.lease_key(T, R) == "dispatch:{acme:north}:lease"


async def test_same_technician_refresh_is_not_a_change(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    """Re-committing a ticket to its holder updates its placement without version or event."""
    await store.submit(T, [SubmitTicket(tk("T1"))])
    await store.upsert_technician(T, tech("X"))
    token = await lease(redis_client)
    await store.commit_assignments(
        T, R, token, [Decision("T1", "X", Assignment("X", 0))], await versions(store)
    )
    before = len(await events(redis_client))
    res = await store.commit_assignments(
        T,
        R,
        token,
        [
            Decision(
                "T1", "X", Assignment("X", 0, expected_arrival_ms=1_800_000_000_000)
            )
        ],
        await versions(store),
    )
    assert res.outcomes[0].code == "UNCHANGED"
    t = await store.get_ticket(T, "T1")
    assert (t.version, t.assignment.expected_arrival_ms if t.assignment else 0) == (
        2,
        1_800_000_000_000,
    )
    assert len(await events(redis_client)) == before


async def test_coalesced_unary_submits_keep_per_item_semantics(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    """Concurrent single submits share script calls yet answer one by one (incl. retries)."""
    single_node = not is_cluster_client(redis_client)
    if single_node:
        await redis_client.config_resetstat()
    items = [SubmitTicket(tk(f"C{i}"), f"rq{i}") for i in range(40)]
    retries = [SubmitTicket(tk("C0"), "rq0")] * 5
    results = await asyncio.gather(*(store.submit_one(T, it) for it in items + retries))
    assert [r.ticket_id for r in results] == [f"C{i}" for i in range(40)] + ["C0"] * 5
    assert all(r.error is None for r in results)
    assert sum(1 for r in results if not r.replayed) == 40
    assert all(r.ticket is not None and r.ticket.version == 1 for r in results)
    assert len(await events(redis_client)) == 40
    if single_node:
        calls = (await redis_client.info("commandstats"))["cmdstat_evalsha"]["calls"]
        assert calls < 45  # coalesced: fewer script calls than submits


async def test_submit_answer_equals_the_stored_ticket(store: RedisStateStore) -> None:
    """The ticket a single submit answers with is exactly what a later read returns."""
    t = Ticket(
        "E1",
        R,
        1,
        900,
        category="hvac",
        title="No heat",
        description="Boiler cold since 6am",
        location=Location(42.123456789, -71.5),
        asset_id="boiler-7",
        required_skills=(SkillLevel("hvac", 2),),
        customer_tier=2,
        attributes={"k": "v"},
        window_start_ms=1_800_000_000_000,
        window_end_ms=1_800_003_600_000,
        preferred_technician_ids=("A",),
        excluded_technician_ids=("B",),
    )
    answered = await store.submit_one(
        T, SubmitTicket(t, "rq", True, 1_800_000_100_000, 1_800_000_200_000)
    )
    assert answered.ticket == await store.get_ticket(T, "E1")


async def test_a_batch_over_regions_is_one_round_trip_and_survives_a_script_flush(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    """Items of several regions are stored by one script call on a single node (one group
    per region, each written to its own region's keys and stream); after the server's
    script cache is emptied (as by a restart) the call is loaded and run once."""
    if is_cluster_client(redis_client):
        pytest.skip("a cluster runs the regions' calls concurrently, one per region")
    regions = ("north", "south", "east")
    items = [SubmitTicket(tk(f"M{i}", regions[i % 3]), f"m{i}") for i in range(9)]
    await redis_client.script_load(store_lua.SUBMIT)  # no NOSCRIPT call counted
    await redis_client.config_resetstat()
    first = await store.submit(T, items[:6])
    stats = await redis_client.info("commandstats")
    assert stats["cmdstat_evalsha"]["calls"] == 1  # every region's items, one call
    assert [r.ticket_id for r in first] == [f"M{i}" for i in range(6)]
    await redis_client.script_flush()
    again = await store.submit(T, items)  # 6 retries and 3 new, after NOSCRIPT
    assert [r.replayed for r in again] == [True] * 6 + [False] * 3
    assert all(r.error is None for r in first + again)
    for region in regions:
        assert len(await events(redis_client, region)) == 3


async def test_a_batch_without_enough_replicas_is_a_replication_timeout(
    redis_client: redis.asyncio.Redis,
) -> None:
    """With a replica required and none attached, the pipelined calls run on the primary
    and the batch raises ReplicationTimeout (the caller answers UNAVAILABLE)."""
    from dispatcher.backend.cluster import (
        ReplicatedScript,
        ReplicationTimeout,
        call_script_batch,
    )

    if is_cluster_client(redis_client):
        pytest.skip("the cluster harness has replicas")
    timeouts: list[int] = []
    script = ReplicatedScript(
        redis_client,
        "return redis.call('INCR', KEYS[1])",
        replicas=1,
        timeout_ms=50,
        on_timeout=lambda: timeouts.append(1),
    )
    with pytest.raises(ReplicationTimeout):
        await call_script_batch(redis_client, script, [(["rt:a"], []), (["rt:b"], [])])
    assert timeouts == [1]
    assert await redis_client.mget("rt:a", "rt:b") == ["1", "1"]


async def test_a_commit_bigger_than_one_index_write_keeps_every_index(
    store: RedisStateStore, redis_client: redis.asyncio.Redis
) -> None:
    """The commit script gathers its writes to the status/priority sets and the due index
    and sends them in calls of at most 500 tickets: a commit of more tickets of one
    priority than that leaves each in the set of its new status, scored by its submit time,
    and in the due index at its due time, and none in the QUEUED set."""
    n, techs = 1234, 20
    for k in range(techs):
        await store.upsert_technician(T, tech(f"k{k:02d}", capacity=100))
    now = int(time.time() * 1000)
    await store.submit(
        T,
        [
            SubmitTicket(
                dataclasses.replace(
                    tk(f"t{i:04d}", priority=2), response_due_ms=now + 3_600_000 + i
                )
            )
            for i in range(n)
        ],
    )
    token = await lease(redis_client)
    tids = [f"t{i:04d}" for i in range(n)]
    decisions = [
        Decision(t, f"k{i % techs:02d}", Assignment(f"k{i % techs:02d}", i // techs))
        for i, t in enumerate(tids)
    ]
    res = await store.commit_assignments(T, R, token, decisions, await versions(store))
    assert [o.code for o in res.outcomes] == [CommitCode.ASSIGNED] * n
    prefix = keys.region_prefix(T, R)
    assigned = dict(
        await redis_client.zrange(
            prefix + keys.STATUS_PRIO + "ASSIGNED:2", 0, -1, withscores=True
        )
    )
    due = dict(
        await redis_client.zrange(prefix + keys.DUE + "2", 0, -1, withscores=True)
    )
    assert await redis_client.zcard(prefix + keys.STATUS_PRIO + "QUEUED:2") == 0
    assert set(assigned) == set(due) == set(tids)
    for t in tids:
        created, due_ms = await redis_client.hmget(
            keys.ticket_key(T, R, t), "created", "due"
        )
        assert assigned[t] == float(created)
        assert due[t] == float(due_ms) > 0
