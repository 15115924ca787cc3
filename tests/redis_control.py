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
