"""Durability mode ``redis_wait_replicas``: acknowledged writes wait for replicas (WAIT).

Single-node checks (a plain valkey-server has no replica, so WAIT 1 always falls short):
the write scripts issue WAIT only when the mode asks for it, and a write that too few
replicas acknowledged is answered UNAVAILABLE and counted, never acknowledged. The cluster
check kills the primary of a region right after the acks and reads every ticket back from
the promoted replica.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import statistics
import time
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio
import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot
from redis.exceptions import RedisError

from dispatcher.api.server import create_server
from dispatcher.backend.cluster import (
    ReplicatedScript,
    Replication,
    ReplicationTimeout,
    set_replication,
    wait_fence_key,
)
from dispatcher.backend.redis_errors import REDIS_ERROR_KINDS
from dispatcher.bootstrap import Services
from dispatcher.domain import SubmitTicket, Technician, TechnicianStatus
from dispatcher.loop.leases import LeaseManager, RegionRef
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.pb import dispatch_pb2_grpc as pb_grpc
from dispatcher.runtime.context import AppContext
from dispatcher.runtime.context import redis_client as make_redis_client
from dispatcher.runtime.metrics import DispatchMetrics, new_registry
from dispatcher.runtime.settings import Settings
from dispatcher.store import events
from dispatcher.store.state import RedisStateStore, keys
from tests.service.conftest import ticket

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    import redis.asyncio

    from dispatcher.backend.embedded_cluster import EmbeddedCluster

pytestmark = [pytest.mark.integration]

TENANT = "default"  # the tenant of a server without an auth config


async def wait_calls(client: redis.asyncio.Redis) -> int:
    """How many WAIT commands the (single) server has run so far."""
    stats: Any = await client.info("commandstats")
    return int(stats.get("cmdstat_wait", {}).get("calls", 0))


def _submit_item(ticket_id: str) -> SubmitTicket:
    from dispatcher.api import convert

    return SubmitTicket(convert.ticket_from_pb(ticket(ticket_id)), f"req-{ticket_id}")


async def test_default_mode_issues_no_wait(redis_client: redis.asyncio.Redis) -> None:
    """With 0 replicas (the default) the write scripts are plain EVALSHA: no WAIT at all."""
    store = RedisStateStore(redis_client, metrics=DispatchMetrics.throwaway())
    assert store.replication.replicas == 0
    assert not isinstance(store._submit, ReplicatedScript)
    before = await wait_calls(redis_client)
    (result,) = await store.submit(TENANT, [_submit_item("T1")])
    assert result.error is None
    await store.cancel(TENANT, "T1", "test")
    assert await wait_calls(redis_client) == before


async def test_wait_mode_issues_wait_and_refuses_to_acknowledge(
    redis_client: redis.asyncio.Redis,
) -> None:
    """With 1 replica required every write script is followed by WAIT; on a server without a
    replica WAIT falls short, the write raises ReplicationTimeout and is counted."""
    registry = new_registry(process_metrics=False)
    metrics = DispatchMetrics(registry)
    set_replication(redis_client, 1, 20)
    store = RedisStateStore(redis_client, metrics=metrics)
    assert store.replication == Replication(1, 20)
    before = await wait_calls(redis_client)
    with pytest.raises(ReplicationTimeout, match="replicas"):  # the tenant set's SADD
        await store.submit(TENANT, [_submit_item("T1")])
    assert await wait_calls(redis_client) - before == 1
    await redis_client.sadd(keys.TENANTS_KEY, TENANT)
    store._known_tenants.add(TENANT)
    with pytest.raises(ReplicationTimeout, match="replicas"):  # the submit script
        await store.submit(TENANT, [_submit_item("T1")])
    assert await wait_calls(redis_client) - before == 2
    with pytest.raises(ReplicationTimeout):
        await store.cancel(TENANT, "T1", "test")
    with pytest.raises(ReplicationTimeout):
        await store.upsert_technician(
            TENANT,
            Technician(
                technician_id="X",
                region="north",
                capacity=2,
                status=TechnicianStatus.AVAILABLE,
            ),
        )
    errors = registry.get_sample_value(
        "dispatch_redis_errors_total", {"kind": "replication"}
    )
    assert errors == 4  # tenant set, submit, cancel, technician id claim
    # one WAIT per write (one more when a script was not cached yet: NOSCRIPT, load, again)
    assert await wait_calls(redis_client) - before >= 4
    # the mode travels with the client, so the lease manager built on it (solve loop) waits too
    leases = LeaseManager(
        redis_client,
        _no_regions,
        ttl_ms=1000,
        owner_id="a",
        metrics=DispatchMetrics.throwaway(),
    )
    with pytest.raises(ReplicationTimeout):
        await leases._acquire(RegionRef(TENANT, "north"))
    assert not leases.held


async def _no_regions() -> list[RegionRef]:
    return []


@pytest.fixture
async def waiting_server(
    redis_client: redis.asyncio.Redis, redis_server: str, tmp_path: Path
) -> AsyncIterator[tuple[grpc.aio.Channel, CollectorRegistryLike]]:
    settings = Settings(
        redis_url=redis_server,
        grpc_port=0,
        metrics_port=0,
        state_dir=tmp_path / "state",
        redis_wait_replicas=1,
        redis_wait_timeout_ms=20,
    )
    async with running(settings) as (channel, ctx):
        yield channel, ctx.registry


CollectorRegistryLike = Any


class running:
    """An in-process server on ``settings`` (no solve loop) and a channel to it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def __aenter__(self) -> tuple[grpc.aio.Channel, AppContext]:
        assert self.settings.redis_url is not None
        registry = new_registry(process_metrics=False)
        self.ctx = AppContext(
            settings=self.settings,
            redis=make_redis_client(self.settings.redis_url),
            metrics=DispatchMetrics(registry),
            registry=registry,
        )
        self.server, port = await create_server(
            self.ctx, Services.build(self.ctx), "127.0.0.1:0"
        )
        await self.server.start()
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        await self.channel.channel_ready()
        return self.channel, self.ctx

    async def __aexit__(self, *exc: object) -> None:
        await self.channel.close()
        await self.server.stop(None)
        await self.ctx.aclose()


async def test_rpc_answers_unavailable_when_replicas_fall_short(
    waiting_server: tuple[grpc.aio.Channel, Any],
) -> None:
    """A submit whose write no replica acknowledged is UNAVAILABLE with a clear message."""
    channel, registry = waiting_server
    stub = pb_grpc.TicketServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SubmitTicket(
            pb.SubmitTicketRequest(ticket=ticket("T1"), request_id="r1")
        )
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "replica" in (err.value.details() or "")
    assert (
        registry.get_sample_value(
            "dispatch_redis_errors_total", {"kind": "replication"}
        )
        >= 1
    )


def test_settings_of_the_mode() -> None:
    """Flag/env/TOML derive from the fields; a WAIT longer than the socket timeout is refused."""
    from dispatcher.runtime.settings import SettingsError, load_settings

    s = load_settings({"redis_wait_replicas": "1"}, env={})
    assert (s.redis_wait_replicas, s.redis_wait_timeout_ms) == (1, 1000)
    s = load_settings({}, env={"DISPATCH_REDIS_WAIT_REPLICAS": "2"})
    assert s.redis_wait_replicas == 2
    with pytest.raises(SettingsError, match="--redis-wait-replicas"):
        load_settings({"redis_wait_replicas": "-1"}, env={})
    with pytest.raises(SettingsError, match="shorter than"):
        load_settings(
            {"redis_wait_replicas": "1", "redis_wait_timeout_ms": "6000"}, env={}
        )


# --- on the real local cluster ----------------------------------------------------------


async def _submit_all(stub: Any, ids: list[str], concurrency: int = 16) -> list[float]:
    """Submit ``ids`` one RPC each (at most ``concurrency`` at once); latencies in ms."""
    limit = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(tid: str) -> None:
        async with limit:
            t0 = time.perf_counter()
            await stub.SubmitTicket(
                pb.SubmitTicketRequest(ticket=ticket(tid), request_id=f"r-{tid}"),
                timeout=10,
            )
            latencies.append(1000 * (time.perf_counter() - t0))

    await asyncio.gather(*(one(t) for t in ids))
    return latencies


@pytest.mark.cluster
@pytest.mark.timeout(180)
async def test_failover_loses_no_acknowledged_ticket(
    cluster_client: RedisCluster, healthy_cluster: EmbeddedCluster, tmp_path: Path
) -> None:
    """wait_replicas=1: SIGKILL of the region's primary right after the acks loses nothing."""
    base = Settings(
        redis_url=healthy_cluster.url,
        grpc_port=0,
        metrics_port=0,
        state_dir=tmp_path / "state",
        role="api",
    )
    waiting_settings = dataclasses.replace(base, redis_wait_replicas=1)
    n = 300
    async with (
        running(base) as (plain_channel, _),
        running(waiting_settings) as (channel, ctx),
    ):
        plain = pb_grpc.TicketServiceStub(plain_channel)
        stub = pb_grpc.TicketServiceStub(channel)
        # latency of unary submits with and without WAIT, alternating, same cluster
        lat_plain: list[float] = []
        lat_wait: list[float] = []
        for round_ in range(3):
            lat_plain += await _submit_all(
                plain, [f"P{round_}-{i}" for i in range(60)], concurrency=1
            )
            lat_wait += await _submit_all(
                stub, [f"W{round_}-{i}" for i in range(60)], concurrency=1
            )
        print(
            f"\nsubmit p50 ms: plain {statistics.median(lat_plain):.2f}, "
            f"WAIT 1 {statistics.median(lat_wait):.2f} "
            f"(x{statistics.median(lat_wait) / statistics.median(lat_plain):.2f})"
        )
        # the acknowledged burst, then SIGKILL of the region's primary at once
        ids = [f"T{i}" for i in range(n)]
        await _submit_all(stub, ids[: n // 2], concurrency=16)
        batch = await stub.BatchSubmitTickets(
            pb.BatchSubmitTicketsRequest(
                requests=[
                    pb.SubmitTicketRequest(ticket=ticket(t), request_id=f"r-{t}")
                    for t in ids[n // 2 :]
                ]
            ),
            timeout=10,
        )
        assert all(r.code == 0 for r in batch.results)
        victim = healthy_cluster.primary_for_key(keys.events_key(TENANT, "north"))
        result = await asyncio.to_thread(healthy_cluster.kill_primary, victim.port)
        assert result.new_primary_port != victim.port
        print(f"failover took {result.duration_s:.2f} s")
        assert not any(
            ctx.registry.get_sample_value("dispatch_redis_errors_total", {"kind": k})
            for k in REDIS_ERROR_KINDS
        )
    # every acknowledged ticket is on the promoted replica (a fresh client: no cache)
    fresh = RedisCluster(
        startup_nodes=[
            ClusterNode(h, p) for h, p in healthy_cluster.seed_nodes if p != victim.port
        ],
        decode_responses=True,
    )
    try:
        store = RedisStateStore(fresh, metrics=DispatchMetrics.throwaway())  # type: ignore[arg-type]
        missing = []
        for tid in ids:
            try:
                t = await store.get_ticket(TENANT, tid)
                assert t.ticket_id == tid
            except Exception as exc:
                missing.append((tid, repr(exc)))
        assert not missing, f"{len(missing)} acknowledged tickets lost: {missing[:5]}"
    finally:
        await fresh.aclose()


@pytest.mark.cluster
@pytest.mark.timeout(120)
async def test_stalled_replica_means_no_acknowledgement(
    cluster_client: RedisCluster, healthy_cluster: EmbeddedCluster, tmp_path: Path
) -> None:
    """While the region's replica is stopped (SIGSTOP) a plain server acknowledges submits a
    failover could lose; with wait_replicas=1 they answer UNAVAILABLE instead, and succeed
    again once the replica runs."""
    base = Settings(
        redis_url=healthy_cluster.url,
        grpc_port=0,
        metrics_port=0,
        state_dir=tmp_path / "state",
        role="api",
    )
    waiting_settings = dataclasses.replace(
        base, redis_wait_replicas=1, redis_wait_timeout_ms=200
    )
    primary = healthy_cluster.primary_for_key(keys.events_key(TENANT, "north"))
    replica = healthy_cluster.node_by_port(healthy_cluster.topology()[primary.port][0])
    assert replica.process is not None
    async with (
        running(base) as (plain_channel, _),
        running(waiting_settings) as (channel, ctx),
    ):
        plain = pb_grpc.TicketServiceStub(plain_channel)
        stub = pb_grpc.TicketServiceStub(channel)
        await _submit_all(stub, ["warm-up"])  # tenant known, scripts cached
        replica.process.send_signal(signal.SIGSTOP)
        try:
            await _submit_all(plain, ["P1"])  # acknowledged without a replica
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await _submit_all(stub, ["W1"])
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "replica" in (err.value.details() or "")
        finally:
            replica.process.send_signal(signal.SIGCONT)
        assert (
            ctx.registry.get_sample_value(
                "dispatch_redis_errors_total", {"kind": "replication"}
            )
            == 1
        )
        await _submit_all(stub, ["W1"])  # the retry (same request id) is acknowledged
        got = await stub.GetTicket(pb.GetTicketRequest(ticket_id="W1"))
        assert got.ticket_id == "W1"


def _submit_in(region: str, ticket_id: str) -> SubmitTicket:
    from dispatcher.api import convert

    body = convert.ticket_from_pb(ticket(ticket_id, region=region))
    return SubmitTicket(body, f"req-{ticket_id}")


def _region_off_the_index_shard(cluster: EmbeddedCluster) -> str:
    """A region whose shard is not the one of the tenant's id index: stopping its replica
    lets the id claim replicate and stalls only the region's own writes."""
    index_primary = cluster.primary_for_key(keys.ticket_region_key(TENANT))
    return next(
        r
        for r in (f"r{i}" for i in range(64))
        if cluster.primary_for_key(keys.events_key(TENANT, r)).port
        != index_primary.port
    )


@pytest.mark.cluster
async def test_a_replayed_submit_waits_for_the_write_it_reports(
    healthy_cluster: EmbeddedCluster, cluster_client: RedisCluster
) -> None:
    """A submit retried with its request id on another process (another connection) is
    answered from the first attempt's write: it must not be acknowledged while no replica
    holds that write. WAIT counts only the calling connection's own writes; the replay
    writes nothing, so a bare WAIT returned at once with the stalled replica counted: an
    acknowledged ticket that a failover loses (issue 16 item 14). The region is one whose
    shard is not the tenant id index's, so the first attempt's id claim is replicated and
    its ticket write is not."""
    region = _region_off_the_index_shard(healthy_cluster)
    primary = healthy_cluster.primary_for_key(keys.events_key(TENANT, region))
    replica = healthy_cluster.node_by_port(healthy_cluster.topology()[primary.port][0])
    assert replica.process is not None
    clients = [make_redis_client(healthy_cluster.url) for _ in range(2)]
    try:
        stores = []
        for client in clients:
            set_replication(client, 1, 300)
            stores.append(RedisStateStore(client, metrics=DispatchMetrics.throwaway()))
        for n, store in enumerate(
            stores
        ):  # tenant known, scripts cached, connections open
            (warm,) = await store.submit(TENANT, [_submit_in(region, f"warm-{n}")])
            assert warm.error is None
        first, other = stores
        replica.process.send_signal(signal.SIGSTOP)
        try:
            with pytest.raises(ReplicationTimeout):
                await first.submit(TENANT, [_submit_in(region, "W1")])
            with pytest.raises(ReplicationTimeout):  # the retry, on the other process
                await other.submit(TENANT, [_submit_in(region, "W1")])
        finally:
            replica.process.send_signal(signal.SIGCONT)
        (retried,) = await other.submit(TENANT, [_submit_in(region, "W1")])
        assert retried.error is None
        assert retried.replayed
    finally:
        for client in clients:
            await client.aclose()


@given(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20))
def test_the_wait_fence_shares_its_keys_slot(key: str) -> None:
    """The fence written before a WAIT is in the slot of the key it fences (the same
    primary, so the same connection); a key without a usable hash tag but with a '}' has
    none, nor has the empty key (every key of the store has a tag)."""
    try:
        fence = wait_fence_key(key)
    except ValueError:
        assert "}" in key or not key
        return
    assert key_slot(fence.encode()) == key_slot(key.encode())


@pytest.mark.cluster
async def test_a_watcher_sees_no_event_the_replicas_do_not_hold(
    healthy_cluster: EmbeddedCluster, cluster_client: RedisCluster
) -> None:
    """With wait_replicas=1 a submit whose WAIT fell short is on the primary, and so is its
    event; a failover may still drop both, so a watcher must not be shown that event until
    the replica holds it (before: delivered at once; the partition repro saw 13 events
    vanish after the failover). Once the replica runs again the event is delivered."""
    region = _region_off_the_index_shard(healthy_cluster)
    primary = healthy_cluster.primary_for_key(keys.events_key(TENANT, region))
    replica = healthy_cluster.node_by_port(healthy_cluster.topology()[primary.port][0])
    assert replica.process is not None
    client = make_redis_client(healthy_cluster.url)
    set_replication(client, 1, 300)
    reader = events.watch_client(client, healthy_cluster.url)
    store = RedisStateStore(client, metrics=DispatchMetrics.throwaway())
    (warm,) = await store.submit(TENANT, [_submit_in(region, "warm")])
    assert warm.error is None
    seen: list[str] = []
    started = asyncio.Event()

    async def on_started(_: str) -> None:
        started.set()

    async def collect() -> None:
        request = events.WatchRequest(regions=(region,))
        metrics = DispatchMetrics.throwaway()
        stream = events.watch(
            reader, TENANT, request, metrics=metrics, on_started=on_started
        )
        async for batch in stream:
            seen.extend(e.ticket_id for e in batch)

    watcher = asyncio.create_task(collect())
    try:
        await asyncio.wait_for(started.wait(), 10)
        replica.process.send_signal(signal.SIGSTOP)
        try:
            with pytest.raises(ReplicationTimeout):
                await store.submit(TENANT, [_submit_in(region, "W1")])
            await asyncio.sleep(1.5)  # several reads and fenced WAITs
            assert "W1" not in seen
        finally:
            replica.process.send_signal(signal.SIGCONT)
        async with asyncio.timeout(10):
            while "W1" not in seen:
                await asyncio.sleep(0.05)
        assert seen.count("W1") == 1
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await events.drain()
        await reader.aclose()
        await client.aclose()


@pytest.mark.cluster
@pytest.mark.timeout(120)
async def test_a_webhook_sends_no_event_the_replicas_do_not_hold(
    healthy_cluster: EmbeddedCluster, cluster_client: RedisCluster, tmp_path: Path
) -> None:
    """Webhooks, like watchers, are sent an event only once the required replica holds
    it: a submit whose WAIT fell short (replica stopped) is not delivered until the
    replica runs again, then exactly once (before: delivered at once)."""
    from tests.webhooks.conftest import Receiver

    region = _region_off_the_index_shard(healthy_cluster)
    primary = healthy_cluster.primary_for_key(keys.events_key(TENANT, region))
    replica = healthy_cluster.node_by_port(healthy_cluster.topology()[primary.port][0])
    assert replica.process is not None
    settings = Settings(
        redis_url=healthy_cluster.url,
        grpc_port=0,
        metrics_port=0,
        state_dir=tmp_path / "state",
        role="api",
        redis_wait_replicas=1,
        redis_wait_timeout_ms=300,
        webhook_allow_loopback=True,
        webhook_retry_max_s=0.2,
        webhook_lease_ttl_ms=1000,
    )
    receiver = Receiver()
    await receiver.start()
    registry = new_registry(process_metrics=False)
    ctx = AppContext(
        settings=settings,
        redis=make_redis_client(healthy_cluster.url),
        metrics=DispatchMetrics(registry),
        registry=registry,
    )
    server, port = await create_server(
        ctx, Services.build(ctx, webhooks=True), "127.0.0.1:0"
    )
    await server.start()
    ctx.start_background()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            tickets = pb_grpc.TicketServiceStub(channel)
            hooks = pb_grpc.WebhookServiceStub(channel)
            await hooks.CreateWebhookSubscription(
                pb.CreateWebhookSubscriptionRequest(
                    subscription=pb.WebhookSubscription(url=receiver.url)
                )
            )

            async def submit(tid: str) -> None:
                await tickets.SubmitTicket(
                    pb.SubmitTicketRequest(
                        ticket=ticket(tid, region=region), request_id=f"r-{tid}"
                    ),
                    timeout=10,
                )

            await submit("warm")
            await receiver.wait_for(lambda r: "warm" in receiver.delivered_ids())
            replica.process.send_signal(signal.SIGSTOP)
            try:
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await submit("W1")
                assert err.value.code() == grpc.StatusCode.UNAVAILABLE
                await asyncio.sleep(2.0)  # reads and fenced WAITs keep falling short
                assert "W1" not in receiver.delivered_ids()
            finally:
                replica.process.send_signal(signal.SIGCONT)
            await receiver.wait_for(lambda r: "W1" in receiver.delivered_ids())
            assert receiver.delivered_ids().count("W1") == 1
    finally:
        ctx.shutdown_event.set()
        await server.stop(None)
        await ctx.stop_background()
        await ctx.aclose()
        await receiver.stop()


@pytest.mark.cluster
async def test_a_wait_cut_off_mid_reply_is_never_an_acknowledgement(
    healthy_cluster: EmbeddedCluster, cluster_client: RedisCluster
) -> None:
    """The connection carrying a write's WAIT is killed while WAIT blocks (replica
    stopped). The client must not answer the write as replicated: redis-py's cluster
    pipeline resent the lone WAIT, routed by its own policy (every primary, replies
    summed), where other primaries' idle connections answered at once."""
    region = _region_off_the_index_shard(healthy_cluster)
    primary = healthy_cluster.primary_for_key(keys.events_key(TENANT, region))
    replica = healthy_cluster.node_by_port(healthy_cluster.topology()[primary.port][0])
    assert replica.process is not None
    client = make_redis_client(healthy_cluster.url)
    set_replication(client, 1, 4000)
    store = RedisStateStore(client, metrics=DispatchMetrics.throwaway())
    admin = make_redis_client(f"redis://127.0.0.1:{primary.port}")
    try:
        (warm,) = await store.submit(TENANT, [_submit_in(region, "warm")])
        assert warm.error is None
        replica.process.send_signal(signal.SIGSTOP)
        try:
            submit = asyncio.create_task(
                store.submit(TENANT, [_submit_in(region, "W1")])
            )
            waiting: list[str] = []
            async with asyncio.timeout(3):
                while not waiting:
                    await asyncio.sleep(0.05)
                    listing = str(await admin.execute_command("CLIENT", "LIST"))
                    waiting = [
                        line.split()[0].removeprefix("id=")
                        for line in listing.splitlines()
                        if " cmd=wait " in f" {line} "
                    ]
            for client_id in waiting:
                await admin.execute_command("CLIENT", "KILL", "ID", client_id)
            with pytest.raises(RedisError):  # refused (UNAVAILABLE), never acknowledged
                await submit
        finally:
            replica.process.send_signal(signal.SIGCONT)
    finally:
        await admin.aclose()
        await client.aclose()
