"""Redis connection pools (and the cluster client) with a closed state.

redis-py's pools have none: ``aclose()`` disconnects the connections held at that moment,
and a task still running afterwards (a command retrying after the disconnect, a connection
being made, a release finishing in a background task) reconnects one, which is later
garbage-collected unclosed ("unclosed Connection", "Event loop is closed"). Once
``closed``, these pools refuse to hand out connections (``ConnectionError``) and disconnect
every connection handed back. A ``RedisCluster`` has no single pool: ``aclose()`` forgets
the topology and the next command discovers it again, so :class:`ClosingRedisCluster`
refuses to initialise once ``closed``. ``dispatcher.runtime.context.close_redis`` sets
``closed``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import redis.asyncio as redis_asyncio
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError

if TYPE_CHECKING:
    from redis.asyncio.cluster import ClusterNode

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


class ClosingRedisCluster(RedisCluster):
    """redis-py's cluster client with a closed state.

    A command running when the client closes (one retrying after the close's disconnect,
    or a task that outlived the server) used to discover the topology again and open
    connections that were garbage-collected unclosed ("Unclosed RedisCluster client",
    "Unclosed ClusterNode"). Once :meth:`close_gate` ran, every command is refused
    (``ConnectionError``) where it would (re)initialise, and a discovery still running at
    the close (each task waiting for it too) closes what it found when it ends: nothing
    stays open.
    """

    closed = False

    def close_gate(self) -> None:
        """Refuse every command from now on: each one must initialise first, which fails."""
        self.closed = True
        # the flags redis-py's commands and pipelines check before initialize()
        self._initialize = True
        self._topology_ready = False

    async def initialize(self, *args: Any, **kwargs: Any) -> RedisCluster:
        if self.closed:
            raise RedisConnectionError(CLOSED)
        await super().initialize(*args, **kwargs)
        if self.closed:
            # closed while this task discovered the cluster (or waited for another task
            # to): a first discovery gives the close no topology to close, so the one it
            # found is closed here, and the command fails as any after the close
            await self.aclose()
            raise RedisConnectionError(CLOSED)
        return self

    async def aclose(self) -> None:
        """redis-py's close; once gated, the topology is forgotten and every node closed
        on every redis-py version (5.x closes only a client whose ``_initialize`` flag is
        clear, and the gate sets it)."""
        await super().aclose()
        if self.closed:
            await self.nodes_manager.aclose()
            await self.nodes_manager.aclose("startup_nodes")

    def in_use_count(self) -> int:
        """Connections of every known node handed out and not yet given back."""
        return sum(len(node._connections) - len(node._free) for node in self._nodes())

    async def disconnect(self) -> None:
        """Disconnect every connection of every known node (idle or handed back late)."""
        await asyncio.gather(*(node.disconnect() for node in self._nodes()))

    def _nodes(self) -> list[ClusterNode]:
        manager = self.nodes_manager
        nodes = {id(n): n for n in manager.startup_nodes.values()}
        nodes.update((id(n), n) for n in manager.nodes_cache.values())
        return list(nodes.values())
