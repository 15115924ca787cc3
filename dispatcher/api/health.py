"""Health watcher: gRPC health follows Redis reachability; the embedded server is restarted if it died.

Every ``settings.health_interval_s`` it PINGs Redis. While Redis is unreachable the overall
status (service ``""``, the readiness probe) and every registered service are
``NOT_SERVING``. At start the first successful ping makes them ``SERVING``; after an
outage Redis must answer for ``RECOVERY_S`` in a row first, so a server that comes up and
dies again (e.g. an embedded Valkey on a full disk) does not flap the readiness probe.
``dispatch_redis_up`` mirrors the last ping.

A dead embedded server is restarted at once, then after 1, 2, 4... s (capped at
``RESTART_BACKOFF_MAX_S``) while it keeps dying or failing to start; the backoff resets
once it has stayed up for ``RECOVERY_S``. ``dispatch_embedded_redis_restarts_total``
counts the attempts.

The service name ``liveness`` (``LIVENESS_SERVICE``) is the exception: it is ``SERVING``
from start until graceful shutdown whatever Redis does, so a liveness probe does not restart
every pod during a Redis outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from grpc_health.v1 import health_pb2
from grpc_health.v1._async import HealthServicer

from dispatcher.runtime.context import ping_redis

if TYPE_CHECKING:
    from collections.abc import Sequence

    from dispatcher.runtime.context import AppContext

logger = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
PING_TIMEOUT_CAP_S = 2.0
RECOVERY_S = 3.0
"""After an outage, how long Redis must answer every ping before health is SERVING again."""
RESTART_BACKOFF_MAX_S = 30.0
"""Longest wait between two restarts of an embedded server that keeps dying."""
"""A PING slower than this counts as unreachable, whatever the command timeout."""


LIVENESS_SERVICE = "liveness"
"""Health service name that answers SERVING while the process runs, whatever Redis does."""

WATCH_FLUSH_S = 0.2
"""After shutdown starts, how long a Watch stream gets to deliver NOT_SERVING before it ends."""


class DrainingHealthServicer(HealthServicer):  # type: ignore[misc]  # grpc_health ships no stubs
    """The standard aio health servicer whose ``Watch`` streams end once shutdown begins.

    gRPC client-side health checking keeps a ``Watch`` open per channel; without this every
    graceful shutdown would wait the full grace period for those streams. Call
    ``enter_graceful_shutdown()`` (watchers receive NOT_SERVING) and then set ``shutdown``.
    """

    def __init__(self, shutdown: asyncio.Event) -> None:
        super().__init__()
        self._shutdown = shutdown

    async def Watch(self, request: Any, context: Any) -> None:
        watch = asyncio.ensure_future(super().Watch(request, context))
        stop = asyncio.ensure_future(self._shutdown.wait())
        try:
            await asyncio.wait({watch, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not watch.done():
                await asyncio.wait({watch}, timeout=WATCH_FLUSH_S)
        finally:
            stop.cancel()
            if not watch.done():
                watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)
        if not watch.cancelled():
            watch.result()  # re-raise what the stream ended with (e.g. an abort)


class HealthWatcher:
    """Sets health statuses from Redis pings; ``run`` is a ``ctx.background`` function."""

    def __init__(
        self, ctx: AppContext, servicer: HealthServicer, services: Sequence[str]
    ) -> None:
        self.ctx = ctx
        self.servicer = servicer
        self.services = ("", *services)
        self.healthy: bool | None = None
        self._restart_task: asyncio.Task[None] | None = None
        self._reachable_since: float | None = (
            None  # loop time of the first ping of a run
        )
        self._restart_delay_s = 0.0  # wait before the next restart (0: at once)
        self._next_restart_at = 0.0

    async def check_once(self) -> bool:
        """Ping Redis once, update statuses and ``dispatch_redis_up``; return reachability."""
        settings = self.ctx.settings
        reason = await ping_redis(
            self.ctx.redis, min(settings.redis_timeout_s, PING_TIMEOUT_CAP_S)
        )
        reachable = reason is None
        self.ctx.metrics.redis_up.set(1 if reachable else 0)
        if not reachable:
            self.ctx.metrics.redis_errors_total.labels(kind="connection").inc()
        now = asyncio.get_running_loop().time()
        if not reachable:
            self._reachable_since = None
        elif self._reachable_since is None:
            self._reachable_since = now
        steady = reachable and now - (self._reachable_since or now) >= RECOVERY_S
        if steady:
            self._restart_delay_s = 0.0  # it stayed up: the next death restarts at once
        # SERVING at start on the first answer; after an outage only once steady
        healthy = reachable and (self.healthy is None or self.healthy or steady)
        if healthy != self.healthy:
            if healthy:
                logger.info("Redis reachable: health SERVING")
            elif self.healthy is not False:
                logger.warning("Redis unreachable (%s): health NOT_SERVING", reason)
            status = SERVING if healthy else NOT_SERVING
            for service in self.services:
                await self.servicer.set(service, status)
            self.healthy = healthy
        if not reachable:
            self._maybe_restart_embedded(now)
        return reachable

    def _maybe_restart_embedded(self, now: float) -> None:
        embedded = self.ctx.embedded
        if (
            embedded is None
            or embedded.is_running()
            or self.ctx.shutdown_event.is_set()
            or now < self._next_restart_at
        ):
            return
        if self._restart_task is not None and not self._restart_task.done():
            return
        logger.warning(
            "embedded valkey-server exited; restarting it on port %d%s",
            embedded.port,
            f" (after {self._restart_delay_s:g} s)" if self._restart_delay_s else "",
        )
        self.ctx.metrics.embedded_redis_restarts_total.inc()
        self._restart_delay_s = min(
            max(2 * self._restart_delay_s, 1.0), RESTART_BACKOFF_MAX_S
        )
        self._next_restart_at = now + self._restart_delay_s

        async def restart() -> None:
            try:
                await asyncio.to_thread(embedded.start)
            except Exception as exc:
                logger.error("restarting the embedded valkey-server failed: %s", exc)

        self._restart_task = asyncio.create_task(
            restart(), name="embedded-redis-restart"
        )

    async def run(self) -> None:
        """Check every ``health_interval_s`` until cancelled."""
        interval_s = self.ctx.settings.health_interval_s
        shutdown = self.ctx.shutdown_event
        try:
            # Also ends on shutdown_event: a cancel can be lost inside redis-py (see ping_redis).
            while not shutdown.is_set():
                try:
                    await self.check_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("health check failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(shutdown.wait(), interval_s)
        finally:
            if self._restart_task is not None:
                await asyncio.gather(self._restart_task, return_exceptions=True)
