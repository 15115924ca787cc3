"""The composition root: every long-lived collaborator of one running service, built once.

``dispatcher serve`` (and ``dispatcher demo`` and the test fixtures) build an ``AppContext``
(settings, Redis client, metrics, lifecycle hooks), then ``Services.build(ctx)`` once, and
hand both to ``create_server``; with the solver role, ``Services.build(ctx, solver=True)``
also builds the solve loop with its steps and registers it as a background task. Nothing
else constructs these objects or memoises them on the context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dispatcher.api.auth import Authenticator
from dispatcher.api.call_observer import Admission
from dispatcher.handlers import Handlers
from dispatcher.loop.pool import SolverPool
from dispatcher.loop.region_solver import IncrementalSettings
from dispatcher.loop.solve_loop import SolveLoop
from dispatcher.runtime.context import close_redis
from dispatcher.store import events
from dispatcher.store.state import RedisStateStore
from dispatcher.store.webhooks import WebhookStore
from dispatcher.webhooks.admin import WebhookAdmin
from dispatcher.webhooks.delivery import Deliverer, deliverer
from dispatcher.webhooks.targets import address_policy

if TYPE_CHECKING:
    from dispatcher.runtime.context import AppContext


@dataclass(frozen=True, slots=True)
class Services:
    """What the API and the solve loop of one process share."""

    handlers: Handlers
    """The use cases over the store (one store per process)."""
    authenticator: Authenticator
    """API keys / bearer tokens from ``settings.auth_config`` (dev mode without one)."""
    admission: Admission
    """Unary calls in flight, shed above ``settings.max_in_flight``."""
    watch_redis: Any
    """Client for blocking event-stream reads (its own pool; see ``store.events``)."""
    webhooks: WebhookAdmin
    """Webhook subscriptions and dead letters (the admin's use cases)."""
    solve_loop: SolveLoop | None = None
    """The continuous solve loop (solver role only)."""
    webhook_deliverer: Deliverer | None = None
    """Delivers the outbound webhooks (``webhooks=True``, setting webhook_delivery)."""

    @classmethod
    def build(
        cls,
        ctx: AppContext,
        *,
        solver: bool = False,
        webhooks: bool = False,
        lease_ttl_ms: int | None = None,
        solver_workers: int | None = None,
    ) -> Services:
        """Build every collaborator once; register the watch client's close, the event
        drain, (``solver``) the solve loop and (``webhooks``) webhook delivery on ``ctx``'s
        lifecycle hooks."""
        settings = ctx.settings
        store = RedisStateStore(
            ctx.redis, metrics=ctx.metrics, events_maxlen=settings.events_maxlen
        )
        # the loop first: its cleanup (worker pool shutdown) then runs after the event drain
        loop = _solve_loop(ctx, lease_ttl_ms, solver_workers) if solver else None
        watch_redis = events.watch_client(ctx.redis, settings.redis_url)
        if watch_redis is not ctx.redis:

            async def close_watch_client() -> None:
                await close_redis(watch_redis)  # after its reads ended: none reconnects

            ctx.cleanups.append(close_watch_client)
        # cleanups run last first: reads of cancelled watches end before the client closes
        ctx.cleanups.append(events.drain)
        sender = deliverer(ctx, watch_redis) if webhooks else None
        if sender is not None:
            ctx.background.append(sender.run)
        return cls(
            handlers=Handlers(store, ctx.metrics),
            authenticator=Authenticator.from_file(settings.auth_config),
            admission=Admission(settings.max_in_flight),
            watch_redis=watch_redis,
            webhooks=WebhookAdmin(WebhookStore(ctx.redis), address_policy(settings)),
            solve_loop=loop,
            webhook_deliverer=sender,
        )


def _solve_loop(
    ctx: AppContext, lease_ttl_ms: int | None, workers: int | None
) -> SolveLoop:
    """The solve loop with its worker processes started now (start-up, not first solve)."""
    settings = ctx.settings
    n = workers if workers is not None else settings.solver_workers
    pool = SolverPool(n) if n > 0 else SolverPool()
    pool.start()
    loop = SolveLoop(
        ctx.redis,
        ctx.metrics,
        pool=pool,
        lease_ttl_ms=lease_ttl_ms or settings.lease_ttl_ms,
        events_maxlen=settings.events_maxlen,
        closed_retention_s=settings.closed_ticket_retention_days * 86_400.0,
        model_resync_s=settings.region_model_resync_s,
        min_interval_s=settings.solve_min_interval_s,
        incremental=IncrementalSettings(
            settings.solve_cold_every, settings.solve_incremental_max_changes
        ),
        stop=ctx.shutdown_event,
        redis_url=settings.redis_url,
    )
    ctx.background.append(loop.run)
    ctx.cleanups.append(loop.aclose)
    return loop
