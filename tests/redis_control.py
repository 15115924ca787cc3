"""Fault-injection commands a test sends to every server behind a client.

On one server that is the server; on a Redis Cluster it is every node (``CLIENT PAUSE`` or
``CONFIG SET`` sent through ``RedisCluster`` would otherwise reach one node only, often
not the one holding the keys the test exercises).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from redis.asyncio.cluster import RedisCluster

if TYPE_CHECKING:
    import redis.asyncio


async def on_every_node(client: redis.asyncio.Redis | RedisCluster, *args: Any) -> None:
    """Run one command on every server of ``client``."""
    if isinstance(client, RedisCluster):
        await client.execute_command(*args, target_nodes=RedisCluster.ALL_NODES)
    else:
        await client.execute_command(*args)


async def pause(client: redis.asyncio.Redis | RedisCluster, ms: int, mode: str) -> None:
    """``CLIENT PAUSE ms mode`` (``WRITE`` or ``ALL``) on every server."""
    await on_every_node(client, "CLIENT", "PAUSE", str(ms), mode)


async def unpause(client: redis.asyncio.Redis | RedisCluster) -> None:
    await on_every_node(client, "CLIENT", "UNPAUSE")


Dataset = list[tuple[str, bytes, int]]
"""Each key of one server with its ``DUMP`` payload and its TTL in ms (0 = none)."""


async def dataset(client: redis.asyncio.Redis) -> Dataset:
    """Everything one server holds now (for ``lose_writes_since``)."""
    saved: Dataset = []
    async for key in client.scan_iter(count=1000):
        payload = await client.dump(key)  # bytes whatever the client decodes
        if payload is not None:
            saved.append((key, payload, max(await client.pttl(key), 0)))
    return saved


async def lose_writes_since(client: redis.asyncio.Redis, saved: Dataset) -> None:
    """The server holds ``saved`` again, as if every write since was never made: what a
    failover leaves when the promoted replica had not received them (replication is
    asynchronous: a primary acknowledges a write before any replica has it)."""
    await client.flushall()
    for key, payload, ttl in saved:
        await client.restore(key, ttl, payload)
