"""Webhook delivery from the event streams: at least once, in order per ticket.

Work is split in *partitions*: one (region stream or replay stream, subscription) pair.
Every process running delivery looks for partitions once a second and takes the free ones
by lease (``SET NX PX``, renewed every third of its TTL), so each partition has one
deliverer at a time and any process may be it. A partition reads its stream through the
subscription's consumer group: first it claims every entry still pending (read by a holder
that died or lost the lease before acknowledging it: sent again, hence *at least once*),
then new entries. Webhooks of one ticket (technician for technician events) go one after the
other, each acknowledged (``XACK``) once the receiver answered 2xx, while different tickets
go concurrently (``Pipeline``). A failed attempt is retried with
exponential backoff and jitter; after ``dead_letter_after_s`` the event becomes a dead
letter and its ticket's next events follow.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dispatcher.store import keys
from dispatcher.store.webhooks import Entry, WebhookStore
from dispatcher.webhooks.messages import (
    Message,
    message_from_event_entry,
    message_from_replay_entry,
)
from dispatcher.webhooks.model import DeadLetter
from dispatcher.webhooks.pipeline import Pipeline
from dispatcher.webhooks.sender import Sender
from dispatcher.webhooks.targets import address_policy

if TYPE_CHECKING:
    from collections.abc import Sequence

    import redis.asyncio as aioredis

    from dispatcher.runtime.context import AppContext
    from dispatcher.runtime.metrics import DispatchMetrics
    from dispatcher.webhooks.model import Subscription

logger = logging.getLogger(__name__)

DISCOVER_S = 1.0
"""How often a process looks for subscriptions, regions and free partitions."""
READ_BLOCK_MS = 1000
BATCH = 500
"""Most entries read at once."""
MAX_IN_FLIGHT = 256
"""Webhooks of one partition in flight at once (waiting for their ticket's previous one
included)."""
RETRY_BASE_S = 0.25
"""First retry pause (then doubling up to ``retry_max_s``), jittered."""
REPLAY = ""
"""The ``region`` of a subscription's replay partition."""


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    timeout_s: float = 10.0
    retry_max_s: float = 300.0
    dead_letter_after_s: float = 86_400.0
    lease_ttl_ms: int = 5000


def backoff_s(attempt: int, retry_max_s: float, rng: random.Random) -> float:
    """Pause after failed attempt ``attempt`` (1-based): exponential, capped, with "equal
    jitter" (half fixed, half random) so that retries of many events spread out."""
    ceiling = min(retry_max_s, RETRY_BASE_S * 2 ** (attempt - 1))
    return float(ceiling / 2 + rng.uniform(0, ceiling / 2))


class Deliverer:
    """The delivery work of one process (a background task of ``dispatcher serve``)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        metrics: DispatchMetrics,
        sender: Sender,
        settings: DeliverySettings,
        *,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.store = WebhookStore(redis)
        self.metrics = metrics
        self.sender = sender
        self.settings = settings
        # the pid makes a consumer findable in XINFO CONSUMERS (operators, the crash test)
        self.consumer = f"wh-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._stop = stop or asyncio.Event()
        self._tasks: dict[tuple[str, str, str], asyncio.Task[None]] = {}
        self._closing = asyncio.Event()
        self._rng = random.Random()

    async def run(self) -> None:
        """Find partitions and keep one task per partition held, until cancelled."""
        try:
            while not self._stop.is_set():
                try:
                    await self._discover()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # Redis down: the health watcher reports it
                    logger.warning("webhook discovery failed: %s", exc)
                await asyncio.sleep(DISCOVER_S)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Stop every partition: first by asking (a blocking read then ends by itself
        within ``READ_BLOCK_MS``: a read cancelled midway would leave its connection
        unclosed), then by cancelling what is still running."""
        self._closing.set()
        tasks = list(self._tasks.values())
        self._tasks.clear()
        if tasks:
            _, running = await asyncio.wait(tasks, timeout=READ_BLOCK_MS / 1000 + 0.5)
            for task in running:
                task.cancel()
            if running:
                await asyncio.wait(running, timeout=5.0)
        await self.sender.aclose()

    async def _discover(self) -> None:
        wanted: dict[tuple[str, str, str], Subscription] = {}
        for tenant in await self.store.tenants():
            subs = await self.store.subscriptions(tenant)
            if not subs:
                continue
            regions = await self.store.regions(tenant)
            for sub in subs:
                wanted[(tenant, sub.subscription_id, REPLAY)] = sub
                for region in regions:
                    if sub.wants_region(region):
                        wanted[(tenant, sub.subscription_id, region)] = sub
        for key, task in list(self._tasks.items()):
            if task.done() or key not in wanted:
                task.cancel()
                del self._tasks[key]
        for key, sub in wanted.items():
            if key in self._tasks:
                continue
            tenant, _, region = key
            stream = self._stream(tenant, sub, region)
            lease = keys.webhook_lease_key(stream, sub.subscription_id)
            ttl = self.settings.lease_ttl_ms
            if await self.store.acquire(lease, self.consumer, ttl):
                self._tasks[key] = asyncio.create_task(
                    self._partition(tenant, sub, region, stream, lease),
                    name=f"webhooks:{tenant}/{sub.subscription_id}/{region or 'replay'}",
                )

    @staticmethod
    def _stream(tenant: str, sub: Subscription, region: str) -> str:
        if region == REPLAY:
            return keys.webhook_replay_key(tenant, sub.subscription_id)
        return keys.events_key(tenant, region)

    async def _partition(
        self, tenant: str, sub: Subscription, region: str, stream: str, lease: str
    ) -> None:
        group = keys.WEBHOOK_GROUP_PREFIX + sub.subscription_id
        me = asyncio.current_task()
        assert me is not None
        keeper = asyncio.create_task(self._keep_lease(lease, me))
        pipe = Pipeline(functools.partial(self._deliver, tenant, sub), MAX_IN_FLIGHT)

        def feed(entries: Sequence[Entry]) -> None:
            for entry in entries:
                message = (
                    message_from_replay_entry(entry)
                    if region == REPLAY
                    else message_from_event_entry(sub, region, entry)
                )
                if message is None:
                    pipe.skip(entry[0])
                else:
                    pipe.add(message)

        try:
            # a region's group starts at the subscription's creation: no older events
            start = "0-0" if region == REPLAY else f"{sub.created_at_ms}-0"
            await self.store.ensure_group(stream, group, start)
            pending = await self.store.claim_pending(
                stream, group, self.consumer, BATCH
            )
            if pending:
                logger.info(
                    "webhooks %s/%s: sending %d unacknowledged events again",
                    tenant,
                    sub.subscription_id,
                    len(pending),
                )
            feed(await self._replicated(stream, pending))
            while not (self._stop.is_set() or self._closing.is_set()):
                pipe.raise_failure()
                await self.store.ack(stream, group, pipe.take_acks())
                await pipe.wait_for_room()
                entries = await self.store.read_new(
                    stream,
                    group,
                    self.consumer,
                    min(BATCH, pipe.room()),
                    READ_BLOCK_MS,
                )
                feed(await self._replicated(stream, entries))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # ends the partition; discovery takes it up again
            logger.warning(
                "webhooks %s/%s/%s stopped: %s",
                tenant,
                sub.subscription_id,
                region or "replay",
                exc,
            )
        finally:
            keeper.cancel()
            pipe.cancel()
            with contextlib.suppress(Exception):
                await asyncio.shield(self._finish(stream, group, lease, pipe))

    async def _replicated(
        self, stream: str, entries: Sequence[Entry]
    ) -> Sequence[Entry]:
        """``entries`` once the replicas ``redis_wait_replicas`` asks for hold them (a
        failover may still drop the rest: never sent before); none when stopping first
        (unacknowledged, they are claimed and sent by the next holder)."""
        while entries and not await self.store.replicas_hold(stream):
            logger.warning(
                "webhook events read but not yet held by the replicas: held back"
            )
            if self._stop.is_set() or self._closing.is_set():
                return ()
        return entries

    async def _finish(
        self, stream: str, group: str, lease: str, pipe: Pipeline
    ) -> None:
        """Acknowledge what was delivered, then let the lease go."""
        await self.store.ack(stream, group, pipe.take_acks())
        await self.store.release(lease, self.consumer)

    async def _keep_lease(self, lease: str, holder: asyncio.Task[None]) -> None:
        ttl = self.settings.lease_ttl_ms
        while True:
            await asyncio.sleep(ttl / 3000)
            try:
                held = await self.store.renew(lease, self.consumer, ttl)
            except Exception as exc:
                logger.warning("webhook lease renewal failed: %s", exc)
                held = False
            if not held:
                holder.cancel()
                return

    async def _deliver(self, tenant: str, sub: Subscription, m: Message) -> None:
        """Send until the receiver takes it or its time is up (then dead-letter it)."""
        first_ms = int(time.time() * 1000)
        attempt = 0
        while True:
            attempt += 1
            outcome = await self.sender.send(sub, m.webhook_id, m.body)
            self.metrics.webhook_attempts_total.labels(outcome=outcome.outcome).inc()
            now = time.time()
            if outcome.delivered:
                self.metrics.webhook_delivery_seconds.observe(
                    max(0.0, now - m.occurred_ms / 1000)
                )
                return
            left_s = self.settings.dead_letter_after_s - (now - first_ms / 1000)
            if left_s <= 0:
                await self.store.add_dead_letter(
                    tenant,
                    sub.subscription_id,
                    DeadLetter(
                        dead_letter_id="",
                        webhook_id=m.webhook_id,
                        region=m.region,
                        event_id=m.event_id,
                        event_type=m.event_type,
                        ticket_id=m.ticket_id,
                        attempts=attempt,
                        last_error=outcome.error,
                        first_attempt_at_ms=first_ms,
                        dead_at_ms=int(now * 1000),
                        body=m.body,
                    ),
                )
                self.metrics.webhook_dead_letters_total.inc()
                logger.warning(
                    "webhook %s to %s dead-lettered after %d attempts: %s",
                    m.webhook_id,
                    sub.subscription_id,
                    attempt,
                    outcome.error,
                )
                return
            pause = backoff_s(attempt, self.settings.retry_max_s, self._rng)
            await asyncio.sleep(min(pause, left_s))


def deliverer(ctx: AppContext, redis: aioredis.Redis) -> Deliverer:
    """The process's deliverer, on ``redis`` (a client for blocking reads), with the
    server's settings; ``run`` is its background task."""
    settings = ctx.settings
    return Deliverer(
        redis,
        ctx.metrics,
        Sender(address_policy(settings), settings.webhook_timeout_s),
        DeliverySettings(
            timeout_s=settings.webhook_timeout_s,
            retry_max_s=settings.webhook_retry_max_s,
            dead_letter_after_s=settings.webhook_dead_letter_after_s,
            lease_ttl_ms=settings.webhook_lease_ttl_ms,
        ),
        stop=ctx.shutdown_event,
    )
