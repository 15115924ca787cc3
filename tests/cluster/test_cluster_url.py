"""Parsing of the seed-node cluster URL (no server needed)."""

from __future__ import annotations

import pytest

from dispatcher.backend.cluster import (
    ClusterUrlError,
    is_cluster_url,
    parse_cluster_url,
)


def test_parse_seed_list() -> None:
    """Every host:port of the list becomes a seed, in order."""
    parsed = parse_cluster_url("redis+cluster://10.0.0.1:7000,10.0.0.2:7001,redis-3")
    assert parsed.seeds == (("10.0.0.1", 7000), ("10.0.0.2", 7001), ("redis-3", 6379))
    assert not parsed.ssl
    assert parsed.username is None


def test_parse_tls_credentials_and_ipv6() -> None:
    """rediss+cluster means TLS; user:password@ is unquoted; [v6]:port works."""
    parsed = parse_cluster_url("rediss+cluster://app:p%40ss@[::1]:7000,h:7001/0")
    assert parsed.ssl
    assert (parsed.username, parsed.password) == ("app", "p@ss")
    assert parsed.seeds == (("::1", 7000), ("h", 7001))


@pytest.mark.parametrize(
    "url",
    [
        "redis://h:1",
        "redis+cluster://",
        "redis+cluster://h:x",
        "redis+cluster://h:70000",
    ],
)
def test_bad_urls_are_rejected(url: str) -> None:
    """A non-cluster scheme, no seed, or a bad port is a ClusterUrlError."""
    with pytest.raises(ClusterUrlError):
        parse_cluster_url(url)


def test_is_cluster_url() -> None:
    """Only the +cluster schemes name a cluster."""
    assert is_cluster_url("redis+cluster://a:1")
    assert is_cluster_url("REDISS+CLUSTER://a:1")
    assert not is_cluster_url("redis://a:1")
    assert not is_cluster_url("unix:///tmp/x.sock")


def test_settings_accept_a_cluster_url() -> None:
    """--redis-url takes a redis+cluster:// seed list; a malformed one is a settings error."""
    from dispatcher.runtime.settings import Settings, SettingsError, load_settings

    url = "redis+cluster://10.0.0.1:7000,10.0.0.2:7001"
    assert load_settings({"redis_url": url}, env={}).redis_url == url
    assert not Settings(redis_url=url).embedded
    with pytest.raises(SettingsError, match="port"):
        load_settings({"redis_url": "redis+cluster://h:x"}, env={})


def test_redis_client_builds_a_cluster_client_for_cluster_urls() -> None:
    """dispatcher.runtime.context.redis_client gives a RedisCluster on the seeds for a cluster URL."""
    from redis.asyncio.cluster import RedisCluster

    from dispatcher.runtime.context import redis_client

    client = redis_client("redis+cluster://127.0.0.1:7000,127.0.0.1:7001")
    assert isinstance(client, RedisCluster)
    assert sorted(int(n.port) for n in client.startup_nodes) == [7000, 7001]
