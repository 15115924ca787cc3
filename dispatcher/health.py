"""Health watcher: gRPC health follows Redis reachability; the embedded server is restarted if it died.

Every ``settings.health_interval_s`` it PINGs Redis. While Redis is unreachable the overall
status (service ``""``) and every registered service are ``NOT_SERVING``; they return to
``SERVING`` on the first successful ping. ``dispatch_redis_up`` mirrors the last result.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from grpc_health.v1 import health_pb2

from dispatcher.context import ping_redis

if TYPE_CHECKING:
    from collections.abc import Sequence

    from grpc_health.v1._async import HealthServicer

    from dispatcher.context import AppContext

logger = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
PING_TIMEOUT_CAP_S = 2.0
"""A PING slower than this counts as unreachable, whatever the command timeout."""


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

    async def check_once(self) -> bool:
        """Ping Redis once, update statuses and ``dispatch_redis_up``; return reachability."""
        settings = self.ctx.settings
        reason = await ping_redis(
            self.ctx.redis, min(settings.redis_timeout_s, PING_TIMEOUT_CAP_S)
        )
        healthy = reason is None
        self.ctx.metrics.redis_up.set(1 if healthy else 0)
        if not healthy:
            self.ctx.metrics.redis_errors_total.inc()
        if healthy != self.healthy:
            if healthy:
                logger.info("Redis reachable: health SERVING")
            else:
                logger.warning("Redis unreachable (%s): health NOT_SERVING", reason)
            status = SERVING if healthy else NOT_SERVING
            for service in self.services:
                await self.servicer.set(service, status)
            self.healthy = healthy
        if not healthy:
            self._maybe_restart_embedded()
        return healthy

    def _maybe_restart_embedded(self) -> None:
        embedded = self.ctx.embedded
        if (
            embedded is None
            or embedded.is_running()
            or self.ctx.shutdown_event.is_set()
        ):
            return
        if self._restart_task is not None and not self._restart_task.done():
            return
        logger.warning(
            "embedded valkey-server exited; restarting it on port %d", embedded.port
        )

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
        try:
            while True:
                try:
                    await self.check_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("health check failed")
                await asyncio.sleep(interval_s)
        finally:
            if self._restart_task is not None:
                await asyncio.gather(self._restart_task, return_exceptions=True)
