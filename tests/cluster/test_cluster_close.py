"""A closed cluster client stays closed: nothing reconnects after ``close_redis``.

redis-py's ``RedisCluster.aclose()`` forgets the topology, and a command still running (one
retrying after the close's disconnect, a task that outlived the server) discovered it again
and opened connections; they were garbage-collected unclosed later, in another test
("Unclosed RedisCluster client", "Unclosed ClusterNode": pytest turns that ResourceWarning
into an error, which failed the service suite on the cluster in CI).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from dispatcher.runtime.context import close_redis
from dispatcher.runtime.context import redis_client as product_client

if TYPE_CHECKING:
    from redis.asyncio.cluster import RedisCluster

    from dispatcher.backend.embedded_cluster import EmbeddedCluster

pytestmark = [pytest.mark.cluster, pytest.mark.integration]


def _left_open(client: RedisCluster) -> list[str]:
    """What the client's finalizers would warn about: a topology, connected connections."""
    manager = client.nodes_manager
    open_parts = ["topology"] if manager.default_node is not None else []
    nodes = [*manager.startup_nodes.values(), *manager.nodes_cache.values()]
    open_parts += [
        node.name for node in nodes if any(c.is_connected for c in node._connections)
    ]
    return open_parts


async def test_a_command_after_close_fails_instead_of_reinitialising(
    healthy_cluster: EmbeddedCluster,
) -> None:
    client = product_client(healthy_cluster.url)
    await client.ping()
    await close_redis(client)
    with pytest.raises(RedisConnectionError, match="closed"):
        await client.set("{close}:k", "v")
    assert _left_open(client) == []  # type: ignore[arg-type]


async def test_a_command_in_flight_at_close_leaves_nothing_open(
    healthy_cluster: EmbeddedCluster,
) -> None:
    """A blocking read still running when the close gives up waiting for it: it fails
    instead of rediscovering the cluster, and no node keeps a connection open."""
    client = product_client(healthy_cluster.url)
    await client.ping()
    blocked = asyncio.create_task(client.xread({"{close}:stream": "$"}, block=1000))
    await asyncio.sleep(0.05)
    await close_redis(client, timeout_s=0.05)
    outcome = (await asyncio.gather(blocked, return_exceptions=True))[0]
    assert isinstance(outcome, RedisConnectionError)
    assert _left_open(client) == []  # type: ignore[arg-type]


async def test_a_discovery_in_flight_at_close_leaves_nothing_open(
    healthy_cluster: EmbeddedCluster,
) -> None:
    """Commands sent before the client knew the cluster: one discovers it, the others
    wait for that discovery; the close gives up waiting for them at once (as it does when
    a discovery outlasts its wait, a seed node slow to answer). The discovery ending after
    the close must not leave the client open: every command fails instead."""
    client = product_client(healthy_cluster.url)
    commands = [asyncio.create_task(client.get(f"{{close}}:k{i}")) for i in range(5)]
    await asyncio.sleep(0)  # the first command is discovering, the others wait for it
    await close_redis(client, timeout_s=0)
    outcomes = await asyncio.gather(*commands, return_exceptions=True)
    assert all(isinstance(o, RedisConnectionError) for o in outcomes), outcomes
    assert _left_open(client) == []  # type: ignore[arg-type]
