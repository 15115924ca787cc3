"""Fixtures for tests against a real local Redis Cluster (3 primaries + 3 replicas).

The cluster is started once per session from the registry-shipped valkey-server binary, on
loopback ports, and stopped by PID at the end. Tests that kill nodes put the cluster back
(restart the killed node, wait until healthy) before they return.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from redis.asyncio.cluster import ClusterNode, RedisCluster

from dispatcher.backend.embedded_cluster import EmbeddedCluster

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[EmbeddedCluster]:
    """A running local cluster: 3 primaries, 3 replicas, AOF everysec, 1 s node timeout."""
    cluster = EmbeddedCluster(primaries=3, replicas=1).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def healthy_cluster(redis_cluster: EmbeddedCluster) -> Iterator[EmbeddedCluster]:
    """The session cluster, restored to full health (every node up, replicas linked) after the test."""
    yield redis_cluster
    for node in redis_cluster.nodes:
        if node.pid is None:
            redis_cluster.restart_node(node.port)
    redis_cluster.wait_ok()


@pytest.fixture
async def cluster_client(
    healthy_cluster: EmbeddedCluster,
) -> AsyncIterator[RedisCluster]:
    """An async RedisCluster client on the seed nodes, every primary flushed first."""
    client = RedisCluster(
        startup_nodes=[ClusterNode(h, p) for h, p in healthy_cluster.seed_nodes],
        decode_responses=True,
    )
    await client.initialize()
    await client.flushall(target_nodes=RedisCluster.PRIMARIES)
    try:
        yield client
    finally:
        await client.aclose()
