"""The local Redis Cluster harness: real cluster behaviour the service relies on."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from redis.exceptions import RedisClusterException

from dispatcher.backend.cluster import (
    ReplicatedScript,
    ReplicationTimeout,
    connect_cluster,
    execute_replicated,
    xread_streams,
)

if TYPE_CHECKING:
    from redis.asyncio.cluster import RedisCluster

    from dispatcher.backend.embedded_cluster import EmbeddedCluster

pytestmark = [pytest.mark.cluster, pytest.mark.integration]

TAGS = [f"acme:region-{i}" for i in range(12)]


def test_cluster_has_three_primaries_each_with_a_replica(
    healthy_cluster: EmbeddedCluster,
) -> None:
    """Six nodes: three slot owners, each with one linked replica, all on loopback."""
    topology = healthy_cluster.topology()
    assert len(topology) == 3
    assert all(len(replicas) == 1 for replicas in topology.values())
    assert all(host == "127.0.0.1" for host, _ in healthy_cluster.seed_nodes)
    assert healthy_cluster.is_ok()


async def test_writes_spread_over_all_primaries(
    cluster_client: RedisCluster, healthy_cluster: EmbeddedCluster
) -> None:
    """Keys of different tenant/region tags land on different primaries and read back."""
    for tag in TAGS:
        await cluster_client.set(f"dispatch:{{{tag}}}:ticket:T1", tag)
    for tag in TAGS:
        assert await cluster_client.get(f"dispatch:{{{tag}}}:ticket:T1") == tag
    owners = {healthy_cluster.primary_for_key(f"dispatch:{{{t}}}:x").port for t in TAGS}
    assert len(owners) == 3


async def test_multi_exec_on_hash_tagged_keys(cluster_client: RedisCluster) -> None:
    """A MULTI/EXEC over several keys sharing one hash tag is atomic on one node."""
    tag = "acme:north"
    async with cluster_client.pipeline(transaction=True) as pipe:
        pipe.hset(
            f"dispatch:{{{tag}}}:ticket:T1", mapping={"state": "OPEN", "version": 1}
        )
        pipe.zadd(f"dispatch:{{{tag}}}:queue", {"T1": 1.0})
        pipe.incr(f"dispatch:{{{tag}}}:version")
        results = await pipe.execute()
    assert results == [2, 1, 1]
    assert await cluster_client.zscore(f"dispatch:{{{tag}}}:queue", "T1") == 1.0


async def test_lua_script_on_hash_tagged_keys(cluster_client: RedisCluster) -> None:
    """A Lua script may touch several keys when they share one hash tag."""
    script = cluster_client.register_script(
        "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[2])"
    )
    tag = "acme:south"
    assert await script(keys=[f"d:{{{tag}}}:a", f"d:{{{tag}}}:b"], args=["x"]) == 1
    # Keys of two tags are refused (by the client before the server says CROSSSLOT).
    with pytest.raises(RedisClusterException, match="same key slot"):
        await cluster_client.eval(
            "return redis.call('GET', KEYS[1])", 2, "d:{acme:a}:x", "d:{acme:b}:y"
        )


async def test_stream_xadd_xread(cluster_client: RedisCluster) -> None:
    """Streams work on the cluster: XADD then XREAD from an id returns what follows it."""
    stream = "dispatch:{acme:north}:events"
    first = await cluster_client.xadd(
        stream, {"type": "TICKET_CREATED", "ticket": "T1"}
    )
    second = await cluster_client.xadd(stream, {"type": "ASSIGNED", "ticket": "T1"})
    entries = await cluster_client.xread({stream: first}, count=10)
    assert [entry_id for entry_id, _ in entries[0][1]] == [second]
    blocked = asyncio.create_task(cluster_client.xread({stream: second}, block=2000))
    await asyncio.sleep(0.05)
    third = await cluster_client.xadd(stream, {"type": "ACCEPTED", "ticket": "T1"})
    got = await blocked
    assert got[0][1][0][0] == third


async def test_cluster_url_connects(healthy_cluster: EmbeddedCluster) -> None:
    """The service's seed-node URL (redis+cluster://h:p,...) gives a working client."""
    client = connect_cluster(healthy_cluster.url, decode_responses=True)
    try:
        await client.set("{t:r}:k", "v")
        assert await client.get("{t:r}:k") == "v"
    finally:
        await client.aclose()


async def test_failover_keeps_writes_acknowledged_by_a_replica(
    cluster_client: RedisCluster, healthy_cluster: EmbeddedCluster
) -> None:
    """Writes acknowledged with WAIT 1 survive SIGKILL of their primary and its replica's promotion."""
    tag = "acme:failover"
    stream = f"dispatch:{{{tag}}}:events"
    written = []
    for i in range(200):
        results = await execute_replicated(
            cluster_client,
            stream,
            [
                ("XADD", stream, "*", "ticket", f"T{i}"),
                ("HSET", f"dispatch:{{{tag}}}:t:T{i}", "n", i),
            ],
        )
        written.append(results[0])
    victim = healthy_cluster.primary_for_key(stream)
    result = await asyncio.to_thread(healthy_cluster.kill_primary, victim.port)
    assert result.new_primary_port != victim.port
    assert healthy_cluster.primary_for_key(stream).port == result.new_primary_port
    entries = await cluster_client.xrange(stream)
    assert [entry_id for entry_id, _ in entries] == written
    assert await cluster_client.hget(f"dispatch:{{{tag}}}:t:T199", "n") == "199"


async def test_manual_failover_is_lossless_and_restart_rejoins(
    cluster_client: RedisCluster, healthy_cluster: EmbeddedCluster
) -> None:
    """CLUSTER FAILOVER on a replica (planned switch) keeps every write; a killed node rejoins."""
    key = "dispatch:{acme:planned}:counter"
    for _ in range(100):
        await cluster_client.incr(key)
    primary = healthy_cluster.primary_for_key(key)
    replica = healthy_cluster.topology()[primary.port][0]
    result = await asyncio.to_thread(healthy_cluster.manual_failover, replica)
    assert result.new_primary_port == replica
    assert await cluster_client.get(key) == "100"
    await asyncio.to_thread(healthy_cluster.kill_node, primary.port)
    await asyncio.to_thread(healthy_cluster.restart_node, primary.port)
    assert primary.port in healthy_cluster.topology()[replica]


async def test_xread_streams_across_slots(cluster_client: RedisCluster) -> None:
    """xread_streams reads streams of several regions (several slots) and blocks for news."""
    streams = {f"dispatch:{{acme:r{i}}}:events": "0-0" for i in range(6)}
    assert len({cluster_client.keyslot(k) for k in streams}) > 1
    for i, key in enumerate(streams):
        await cluster_client.xadd(key, {"n": str(i)})
    reply = await xread_streams(cluster_client, streams, count=10, block_ms=1000)
    assert sorted(str(key) for key, _ in reply) == sorted(streams)
    latest = {str(key): str(entries[-1][0]) for key, entries in reply}
    waiting = asyncio.create_task(
        xread_streams(cluster_client, latest, count=10, block_ms=3000)
    )
    await asyncio.sleep(0.1)
    assert not waiting.done()
    new_id = await cluster_client.xadd("dispatch:{acme:r3}:events", {"n": "late"})
    reply = await asyncio.wait_for(waiting, 2)
    assert [(str(k), [e[0] for e in entries]) for k, entries in reply] == [
        ("dispatch:{acme:r3}:events", [new_id])
    ]
    assert (
        await xread_streams(
            cluster_client, latest | {"dispatch:{acme:r3}:events": new_id}, block_ms=100
        )
        == []
    )


async def test_replicated_script_survives_failover(
    cluster_client: RedisCluster, healthy_cluster: EmbeddedCluster
) -> None:
    """Script writes acknowledged through ReplicatedScript (EVALSHA + WAIT 1) survive a failover."""
    script = ReplicatedScript(
        cluster_client,
        "redis.call('HSET', KEYS[1], 'n', ARGV[1]); return redis.call('XADD', KEYS[2], '*', 'n', ARGV[1])",
    )
    tag = "acme:replicated"
    stream = f"dispatch:{{{tag}}}:events"
    ids = [
        await script(keys=[f"dispatch:{{{tag}}}:t:{i}", stream], args=[str(i)])
        for i in range(100)
    ]
    victim = healthy_cluster.primary_for_key(stream)
    await asyncio.to_thread(healthy_cluster.kill_primary, victim.port)
    assert [entry_id for entry_id, _ in await cluster_client.xrange(stream)] == ids
    # the promoted replica has no replica of its own yet: a write cannot be acknowledged
    with pytest.raises(ReplicationTimeout):
        await script(keys=[f"dispatch:{{{tag}}}:t:lone", stream], args=["lone"])
    await asyncio.to_thread(healthy_cluster.restart_node, victim.port)
    # a script cache may be empty after a restart or failover: loaded again on NOSCRIPT
    await cluster_client.script_flush()
    await script(keys=[f"dispatch:{{{tag}}}:t:last", stream], args=["last"])
    assert await cluster_client.hget(f"dispatch:{{{tag}}}:t:last", "n") == "last"
