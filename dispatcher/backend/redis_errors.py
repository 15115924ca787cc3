"""What kind of Redis failure an exception is: the ``kind`` label of
``dispatch_redis_errors_total`` and the word in the service's one log line per refused call.

Kinds (a closed set, so the label stays bounded): ``oom`` (``maxmemory`` reached with
``noeviction``: writes refused), ``readonly`` (a replica answered a write, mid-failover),
``cluster`` (slot moving or cluster down), ``replication`` (WAIT saw too few replicas),
``timeout``, ``pool_full`` (the client's own connection pool), ``connection`` (refused,
reset, loading, auth), ``response`` (any other error reply: a bug such as CROSSSLOT or a
script error) and ``other``.
"""

from __future__ import annotations

from redis.exceptions import (
    ClusterDownError,
    MaxConnectionsError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from dispatcher.backend.cluster import ReplicationTimeout

_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (OutOfMemoryError, "oom"),
    (ReadOnlyError, "readonly"),
    (ClusterDownError, "cluster"),
    (TryAgainError, "cluster"),
    (RedisClusterException, "cluster"),
    (ReplicationTimeout, "replication"),
    (RedisTimeoutError, "timeout"),
    (MaxConnectionsError, "pool_full"),
    (RedisConnectionError, "connection"),
    (ResponseError, "response"),
)
"""Exception class -> kind (first match wins; subclasses before bases)."""

REDIS_ERROR_KINDS: tuple[str, ...] = (*dict.fromkeys(k for _, k in _KINDS), "other")
"""Every ``kind`` label value, in a stable order."""


def redis_error_kind(exc: BaseException) -> str:
    """The kind of Redis failure ``exc`` is (``other`` when none matches)."""
    for cls, kind in _KINDS:
        if isinstance(exc, cls):
            return kind
    return "other"
