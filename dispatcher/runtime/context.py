"""AppContext: what every part of the running service shares (settings, Redis, metrics, hooks).

Built once by the entry point (``dispatcher serve``) or a test fixture, then passed to
``dispatcher.bootstrap.Services.build(ctx)`` and ``create_server(ctx, services, address)``.

Lifecycle hooks (the agreed way to run things beside the gRPC server):

* ``ctx.background``: zero-argument coroutine functions that run for the life of the server
  (solve loop, health watcher...). ``ctx.start_background()`` starts each as a task after
  ``server.start()``; ``await ctx.stop_background()`` cancels them after the server drained.
  A background function should loop until cancelled and may watch ``ctx.shutdown_event``.
  One that raises is logged and not restarted.
* ``ctx.cleanups``: zero-argument coroutine functions run by ``await ctx.aclose()`` in reverse
  order of registration (close pools, executors...), before Redis is closed.
* ``ctx.shutdown_event``: set when graceful shutdown begins. Long-lived streaming handlers
  (event stream, health Watch) should end when it is set so the drain does not wait for the
  full grace period.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import redis.asyncio as redis_asyncio
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from dispatcher.backend.pool import (
    ClosingBlockingConnectionPool,
    ClosingConnectionPool,
    ClosingRedisCluster,
)
from dispatcher.runtime.settings import redact_url

if TYPE_CHECKING:
    from grpc_health.v1._async import HealthServicer
    from prometheus_client import CollectorRegistry

    from dispatcher.backend.embedded import EmbeddedRedis
    from dispatcher.runtime.metrics import DispatchMetrics
    from dispatcher.runtime.settings import Settings

logger = logging.getLogger(__name__)

BackgroundTask = Callable[[], Awaitable[None]]
"""A long-running coroutine function started by ``AppContext.start_background``."""
Cleanup = Callable[[], Awaitable[None]]
"""A coroutine function run once by ``AppContext.aclose``."""


class RedisUnavailableError(RuntimeError):
    """Redis could not be reached within the configured attempts (message is one line)."""


@dataclass
class AppContext:
    """Shared state of one running service instance.

    ``redis`` is a ``redis.asyncio.Redis`` built by :func:`connect_redis` with
    ``decode_responses=True`` (commands return ``str``).
    """

    settings: Settings
    redis: redis_asyncio.Redis
    metrics: DispatchMetrics
    registry: CollectorRegistry
    background: list[BackgroundTask] = field(default_factory=list)
    cleanups: list[Cleanup] = field(default_factory=list)
    shutdown_event: asyncio.Event = field(default_factory=asyncio.Event)
    embedded: EmbeddedRedis | None = None
    """The embedded server when no Redis URL is configured (the health watcher restarts it)."""
    health: HealthServicer | None = None
    """Set by ``create_server``: the gRPC health servicer."""
    service_names: list[str] = field(default_factory=list)
    """Set by ``create_server``: full names of the dispatch.v1 services registered."""
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        # the durability mode travels with the client: every store and lease manager built
        # on it (API handlers, solve loop) waits for that many replicas after each write
        replicas = int(getattr(self.settings, "redis_wait_replicas", 0) or 0)
        if replicas > 0:
            from dispatcher.backend.cluster import set_replication

            set_replication(
                self.redis,
                replicas,
                int(getattr(self.settings, "redis_wait_timeout_ms", 1000)),
            )

    def start_background(self) -> None:
        """Start every ``background`` function as a task (idempotent)."""
        if self._tasks:
            return
        for func in self.background:
            name = getattr(func, "__qualname__", repr(func))
            task = asyncio.create_task(
                _run_logged(func, name), name=f"background:{name}"
            )
            self._tasks.append(task)

    async def stop_background(self, timeout_s: float = 5.0) -> None:
        """Cancel the background tasks and wait up to ``timeout_s`` for them to finish."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout_s)
            for task in pending:
                where = _awaiting(task)
                logger.warning(
                    "background task %s did not stop within %.1fs (at %s)",
                    task.get_name(),
                    timeout_s,
                    where or "?",
                )

    async def aclose(self) -> None:
        """Stop background tasks, run ``cleanups`` (last first), close the Redis client."""
        self.shutdown_event.set()
        await self.stop_background()
        while self.cleanups:
            cleanup = self.cleanups.pop()
            try:
                await cleanup()
            except Exception:
                logger.exception("cleanup %r failed", cleanup)
        loop = asyncio.get_running_loop()
        # orphaned PINGs of a cancelled health check end within their timeout
        probes = [p for p in _probes if p.get_loop() is loop]
        if probes:
            await asyncio.wait(probes, timeout=CLOSE_WAIT_S)
        await close_redis(self.redis)


CLOSE_WAIT_S = 5.0
"""Longest wait in :func:`close_redis` for commands still in flight."""


async def close_redis(client: Any, timeout_s: float = CLOSE_WAIT_S) -> None:
    """Close ``client`` for good: no connection stays open, none is opened afterwards.

    redis-py's pool has no closed state: ``aclose()`` only disconnects the connections it
    holds at that moment. A command in flight meanwhile (still connecting, retrying after
    the disconnect, or a release finishing in a background task) ends with a connected
    connection back in the pool, which is then garbage-collected unclosed
    (``ResourceWarning``, "Event loop is closed"). A :class:`ClosingConnectionPool` is
    marked closed first, so from then on it refuses new commands and disconnects every
    connection handed back; then this waits (bounded) for the commands in flight and
    disconnects whatever is left. A :class:`ClosingRedisCluster` (no single pool) is
    gated the same way: from then on no command can initialise it again.
    """
    pool = getattr(client, "connection_pool", None)
    if isinstance(pool, ClosingConnectionPool):
        pool.closed = True
        gated: ClosingConnectionPool | ClosingRedisCluster = pool
    elif isinstance(client, ClosingRedisCluster):
        client.close_gate()
        gated = client
    else:
        await client.aclose()
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while gated.in_use_count() and loop.time() < deadline:
        await asyncio.sleep(0.01)
    await client.aclose()
    await gated.disconnect()


def _awaiting(task: asyncio.Task[None]) -> str:
    """Where a task is suspended: the chain of awaits, innermost last (for diagnostics)."""
    chain: list[str] = []
    coro: Any = task.get_coro()
    while coro is not None and len(chain) < 12:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
        if frame is not None:
            chain.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
    return " -> ".join(chain) or "?"


async def _run_logged(func: BackgroundTask, name: str) -> None:
    try:
        await func()
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("background task %s crashed", name)


REDIS_MAX_CONNECTIONS = 1000
"""Connections one process's client may open to a (non-cluster) Redis; Redis allows 10,000
clients by default. Open event streams hold one each while they wait for events."""


def redis_client(url: str, *, timeout_s: float = 5.0) -> redis_asyncio.Redis:
    """A ``redis.asyncio`` client for ``url`` (redis://, rediss:// with TLS, unix://).

    A password in the URL (``redis://:secret@host:6379/0`` or ``redis://user:secret@...``)
    is used for AUTH. Nothing connects until the first command.

    A ``redis+cluster://host:port,host:port`` URL gives a ``RedisCluster`` on those seed
    nodes (see ``dispatcher.backend.cluster``). It is typed as ``Redis`` because it offers
    the same command API for what the service does: every multi-key operation stays in one
    hash slot (keys tagged by tenant and region).
    """
    from dispatcher.backend.cluster import connect_cluster, is_cluster_url

    if is_cluster_url(url):
        return cast(
            "redis_asyncio.Redis",
            connect_cluster(
                url,
                decode_responses=True,
                socket_connect_timeout=timeout_s,
                socket_timeout=timeout_s,
            ),
        )
    # A blocking pool: a command beyond REDIS_MAX_CONNECTIONS in flight waits (up to
    # timeout_s) for a connection. redis-py's default pool (100, non-blocking) raised
    # MaxConnectionsError instead, which under a burst failed RPCs with UNAVAILABLE and ended
    # open WatchEvents streams (each holds a connection in its blocking XREAD).
    pool = ClosingBlockingConnectionPool.from_url(
        url,
        max_connections=REDIS_MAX_CONNECTIONS,
        timeout=timeout_s,
        decode_responses=True,
        socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s,
        health_check_interval=30,
    )
    return redis_asyncio.Redis.from_pool(pool)


async def connect_redis(
    url: str, *, attempts: int = 5, timeout_s: float = 5.0
) -> redis_asyncio.Redis:
    """Return a client whose ``PING`` succeeded, trying up to ``attempts`` times.

    Each failed try logs a warning; waits grow 0.25 s, 0.5 s, 1 s... capped at 2 s.

    Raises
    ------
    RedisUnavailableError
        After the last failed attempt.
    """
    if attempts < 1:
        raise ValueError(f"attempts: must be >= 1, got {attempts}")
    client = redis_client(url, timeout_s=timeout_s)
    delay_s = 0.25
    attempt = 1
    while True:
        try:
            await client.ping()
        except (
            RedisConnectionError,
            RedisTimeoutError,
            OSError,
            RedisError,
            RedisClusterException,  # no reachable seed node; not a RedisError subclass
        ) as exc:
            logger.warning(
                "Redis at %s not reachable (attempt %d/%d): %s",
                redact_url(url),
                attempt,
                attempts,
                exc or type(exc),
            )
            if attempt == attempts:
                await client.aclose()
                raise RedisUnavailableError(
                    f"cannot reach Redis at {redact_url(url)} after {attempts} attempts: {exc or type(exc).__name__}"
                ) from None
        else:
            logger.info("connected to Redis at %s", redact_url(url))
            return client
        await asyncio.sleep(delay_s)
        delay_s = min(delay_s * 2, 2.0)
        attempt += 1


_probes: set[asyncio.Future[str | None]] = set()
"""PINGs of ``ping_redis`` still running (their caller may have been cancelled)."""


async def ping_redis(client: redis_asyncio.Redis, timeout_s: float) -> str | None:
    """``None`` when ``PING`` succeeds within ``timeout_s``, else a short reason.

    The PING runs in its own task awaited through ``asyncio.shield``: redis-py's asyncio
    client sometimes swallows a ``CancelledError`` that arrives mid-command (seen with
    redis 8.1: about half of the cancels in a tight loop), which would leave the caller's
    task running after it was cancelled. Shielded, the caller is cancelled reliably and the
    orphaned PING ends on its own within ``timeout_s``.
    """
    probe = asyncio.ensure_future(_ping(client, timeout_s))
    _probes.add(probe)  # AppContext.aclose waits for it before closing Redis
    probe.add_done_callback(_consume_result)
    return await asyncio.shield(probe)


async def _ping(client: redis_asyncio.Redis, timeout_s: float) -> str | None:
    try:
        async with asyncio.timeout(timeout_s):
            await client.ping()
    except TimeoutError:
        return f"no PING answer within {timeout_s:g}s"
    except (RedisError, OSError) as exc:
        return str(exc) or type(exc).__name__
    return None


def _consume_result(task: asyncio.Future[str | None]) -> None:
    """Retrieve an orphaned probe's outcome so asyncio does not log it as never retrieved."""
    _probes.discard(task)
    if not task.cancelled():
        task.exception()
