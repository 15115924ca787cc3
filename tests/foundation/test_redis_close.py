"""A closed Redis client stays closed: nothing reconnects after ``close_redis``.

redis-py's pool has no closed state, so a task that outlived its server (a handler cancelled
mid-command, a release finishing in the background) used to reconnect a connection after the
close; it was garbage-collected unclosed later, in another test ("unclosed Connection",
"Event loop is closed": pytest turns that ResourceWarning into an error).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from dispatcher.runtime.context import close_redis
from dispatcher.runtime.context import redis_client as product_client

if TYPE_CHECKING:
    import redis.asyncio


async def _clients_named(observer: redis.asyncio.Redis, name: str) -> int:
    listed = await observer.client_list()
    return sum(1 for client in listed if client.get("name") == name)


async def test_a_command_after_close_fails_instead_of_reconnecting(
    redis_server: str,
) -> None:
    client = product_client(redis_server)
    await client.ping()
    await close_redis(client)
    with pytest.raises(RedisConnectionError, match="closed"):
        await client.ping()


async def test_a_command_in_flight_at_close_leaves_no_connection_open(
    redis_server: str, redis_client: redis.asyncio.Redis
) -> None:
    """A blocking command still running when the close gives up waiting: its connection
    is disconnected when it comes back, not kept in the pool connected."""
    client = product_client(redis_server)
    # every connection the pool makes (a reconnect too) names itself on connect
    client.connection_pool.connection_kwargs["client_name"] = "straggler"
    blocked = asyncio.create_task(client.blpop(["nothing-ever"], timeout=1))
    await asyncio.sleep(0.05)
    assert await _clients_named(redis_client, "straggler") == 1
    await close_redis(client, timeout_s=0.05)
    await asyncio.gather(blocked, return_exceptions=True)
    for _ in range(100):
        if await _clients_named(redis_client, "straggler") == 0:
            break
        await asyncio.sleep(0.02)
    assert await _clients_named(redis_client, "straggler") == 0
    pool = client.connection_pool
    assert all(not c.is_connected for c in pool._available_connections)
