"""Redis connection pools with a closed state.

redis-py's pools have none: ``aclose()`` disconnects the connections held at that moment,
and a task still running afterwards (a command retrying after the disconnect, a connection
being made, a release finishing in a background task) reconnects one, which is later
garbage-collected unclosed ("unclosed Connection", "Event loop is closed"). Once
``closed``, these pools refuse to hand out connections (``ConnectionError``) and disconnect
every connection handed back. ``dispatcher.runtime.context.close_redis`` sets ``closed``.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis_asyncio
from redis.exceptions import ConnectionError as RedisConnectionError

CLOSED = "the Redis client is closed"


class ClosingConnectionPool(redis_asyncio.ConnectionPool):
    """redis-py's pool (raises ``MaxConnectionsError`` when full) with a closed state."""

    closed = False

    def in_use_count(self) -> int:
        """Connections handed out and not yet given back."""
        return len(self._in_use_connections)

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        if self.closed:
            raise RedisConnectionError(CLOSED)
        connection = await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
        if self.closed:  # closed while this connection was being made
            await self.release(connection)
            raise RedisConnectionError(CLOSED)
        return connection

    async def release(self, connection: Any) -> None:
        try:
            await super().release(connection)
        finally:
            if self.closed:
                await connection.disconnect()


class ClosingBlockingConnectionPool(
    ClosingConnectionPool, redis_asyncio.BlockingConnectionPool
):
    """redis-py's blocking pool (waits for a free connection) with a closed state."""
