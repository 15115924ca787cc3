"""Per-region leases with fencing tokens, spread fairly over the live solver processes.

A region (``tenant``, ``region``) is solved only by the holder of its lease. Acquiring a
lease bumps a per-region counter (``INCR``) and stores the new value, the *fencing token*,
in the lease key with a TTL (``SET NX PX``), both in one Lua script. Renew and release
check the token first, so a process whose lease lapsed can neither extend nor drop
somebody else's. The store's commit script reads the same lease key (``lease_key``) and
refuses a commit whose token is not the current one: a paused or partitioned process that
lost its lease commits nothing even if it has not noticed yet.

Both keys carry the region's hash tag, so the commit (tickets + lease) stays in one slot
on Redis Cluster. The registry of live processes (a sorted set scored by heartbeat expiry)
is a single key on its own; it only steers fairness, never safety.

Renewals run on a thread of their own with their own Redis client (``LeaseManager.run``),
not on the event loop, whose cycles (reads, problem builds, commits) can keep it busy for
longer than the TTL under overload: a process that is alive but behind keeps its leases
instead of losing all of them at once and refusing the cycles in flight. The thread
renews only while the event loop still runs its callbacks (``LoopWatch``): when it has not
for ``LOOP_STALL_TTLS`` TTLs, the renewals stop and the leases expire by TTL, as those of
a dead process do (docs/DESIGN.md §6).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dispatcher.runtime.context import close_redis
from dispatcher.runtime.settings import DEFAULT_LEASE_TTL_MS as DEFAULT_LEASE_TTL_MS
from dispatcher.store.leases import LeaseStore

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    import redis.asyncio as aioredis

    from dispatcher.runtime.metrics import DispatchMetrics

logger = logging.getLogger(__name__)

RENEW_FRACTION = 3
"""Leases are renewed (and free regions looked for) every ``ttl / RENEW_FRACTION``."""
LOOP_STALL_TTLS = 3
"""The renewal thread renews only while the event loop ran a callback it posted within
this many TTLs: a process whose event loop is stuck (not merely busy) loses its leases
by TTL after that, at most this many TTLs + two renewal intervals + one TTL after it got
stuck (9 + 2 + 3 s by default)."""


def takeover_bound_s(ttl_ms: int, tick_s: float) -> float:
    """Longest time from a process's last lease renewal (at the latest, its death) until
    a live process sends the acquire that takes its region over; ``tick_s``: how long a
    round of the live process's ``LeaseManager.run`` may take beyond the renew interval
    (one ``tick``, a few Redis round trips, plus the event loop's lateness).

    The dead process's leases, and its registry entry (heartbeat just before the
    renewal, same TTL), expire one TTL after that renewal. The others start a round every
    ``ttl / RENEW_FRACTION`` + at most ``tick_s``, so the first round that starts after
    the expiry starts within that of it; it no longer counts the dead process for the
    fair share and acquires the free regions within its tick.
    """
    ttl_s = ttl_ms / 1000.0
    return ttl_s + ttl_s / RENEW_FRACTION + 2 * tick_s


@dataclass(frozen=True, slots=True, order=True)
class RegionRef:
    """One dispatch partition: a tenant's region."""

    tenant: str
    region: str

    @property
    def tag(self) -> str:
        """The Redis Cluster hash tag shared by every key of this region."""
        return "{" + f"{self.tenant}:{self.region}" + "}"

    def __str__(self) -> str:
        return f"{self.tenant}/{self.region}"


def fair_share(n_regions: int, n_processes: int) -> int:
    """Most regions one process should hold: ``ceil(regions / processes)``."""
    if n_regions <= 0:
        return 0
    return math.ceil(n_regions / max(1, n_processes))


def default_owner_id() -> str:
    """``solver-<host>-<pid>-<random>``: unique per process, readable in the owner key."""
    return f"solver-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class LoopWatch:
    """Whether an event loop still runs its callbacks, asked from another thread: a probe
    posted to the loop is outstanding until the loop runs it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._posted_at: float | None = None

    def lag_s(self) -> float:
        """How long the outstanding probe has waited (posting one when none is): 0 right
        after the loop ran the last one. Raises ``RuntimeError`` once the loop is closed."""
        now = time.monotonic()
        with self._lock:
            posted_at = self._posted_at
            if posted_at is None:
                self._posted_at = now
        if posted_at is None:
            self._loop.call_soon_threadsafe(self._answered)
            return 0.0
        return now - posted_at

    def _answered(self) -> None:
        with self._lock:
            self._posted_at = None


@dataclass(slots=True)
class Lease:
    """A lease this process believes it holds; ``valid_until`` and ``acquired_at`` (when
    the acquire was sent) are local monotonic times."""

    token: int
    valid_until: float
    acquired_at: float = 0.0


@dataclass(slots=True)
class LeaseManager:
    """Acquires, renews and releases region leases for one process.

    ``tick()`` is one round: it renews what is held, drops what was lost, heartbeats the
    registry, sheds regions above the fair share and acquires unowned ones up to it.
    ``run()`` does the same every ``renew_interval_s``, with the renewals on a thread of
    their own (``renew_client``) so that a busy event loop cannot make them late.
    ``on_change(region, token_or_None)`` tells the solve loop (always on the event loop).

    A lease counts as locally valid until ``ttl`` minus a safety margin after the renew
    call was *sent*, so the process stops solving before Redis could hand the region to
    another one; the commit script's token check is the real guard.
    """

    redis: aioredis.Redis
    regions: Callable[[], Awaitable[Iterable[RegionRef]]]
    ttl_ms: int = DEFAULT_LEASE_TTL_MS
    owner_id: str = field(default_factory=lambda: default_owner_id())
    metrics: DispatchMetrics = field(kw_only=True)
    on_change: Callable[[RegionRef, int | None], None] | None = None
    renew_client: Callable[[], aioredis.Redis] | None = field(
        default=None, kw_only=True
    )
    """Builds the renewal thread's own Redis client (called on that thread, closed there);
    None: ``run`` renews on the event loop, as ``tick`` does."""
    held: dict[RegionRef, Lease] = field(default_factory=dict)
    """Changed on the event loop only, under ``_lock`` (the renewal thread reads it)."""
    slowest_tick_s: float = 0.0
    """The longest a round of ``run`` took beyond ``renew_interval_s`` so far: its tick
    plus the event loop's lateness in waking up (the ``tick_s`` of ``takeover_bound_s``)."""
    slowest_loop_lag_s: float = 0.0
    """The longest the renewal thread saw the event loop leave a callback waiting."""
    _store: LeaseStore = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._store = self._lease_store(self.redis)

    def _lease_store(self, client: aioredis.Redis) -> LeaseStore:
        return LeaseStore(client, on_replication_timeout=self._replication_timeout)

    @property
    def renew_interval_s(self) -> float:
        return self.ttl_ms / 1000.0 / RENEW_FRACTION

    @property
    def stall_limit_s(self) -> float:
        """The renewal thread stops renewing once the event loop left a callback waiting
        this long (``LOOP_STALL_TTLS``)."""
        return LOOP_STALL_TTLS * self.ttl_ms / 1000.0

    @property
    def _margin_s(self) -> float:
        return min(0.5, self.ttl_ms / 1000.0 / 5)

    def _replication_timeout(self) -> None:
        self.metrics.redis_errors_total.labels(kind="replication").inc()

    def token(self, region: RegionRef) -> int | None:
        """The fencing token if the lease is held and still locally valid."""
        lease = self.held.get(region)
        if lease is None or time.monotonic() >= lease.valid_until:
            return None
        return lease.token

    async def _heartbeat(self) -> int:
        """Refresh this process in the registry; return how many processes are live."""
        return await self._store.heartbeat(self.owner_id, self.ttl_ms)

    async def _renew(self, store: LeaseStore, region: RegionRef, lease: Lease) -> bool:
        sent = time.monotonic()
        ok = await store.renew(region.tenant, region.region, lease.token, self.ttl_ms)
        if ok:
            with self._lock:  # a renewal sent earlier never shortens the validity
                lease.valid_until = max(
                    lease.valid_until, sent + self.ttl_ms / 1000.0 - self._margin_s
                )
        return bool(ok)

    async def _renew_all(self, store: LeaseStore) -> list[tuple[RegionRef, int]]:
        """Renew every held lease through ``store`` (on whichever thread's loop this runs);
        return the leases lost, as (region, token), for ``_settle`` on the event loop."""
        with self._lock:
            held = list(self.held.items())
        # Renew concurrently: one slow round trip must not make the others late.
        renewed = await asyncio.gather(
            *(self._renew(store, region, lease) for region, lease in held),
            return_exceptions=True,
        )
        lost: list[tuple[RegionRef, int]] = []
        for (region, lease), ok in zip(held, renewed, strict=True):
            if isinstance(ok, BaseException):
                # failed, not refused (e.g. its Cluster node is unreachable): it may still
                # be this process's, so it is kept while locally valid
                logger.warning("lease renewal of %s failed", region, exc_info=ok)
                if time.monotonic() >= lease.valid_until:
                    lost.append((region, lease.token))
            elif not ok:
                lost.append((region, lease.token))
        return lost

    def _settle(self, lost: Iterable[tuple[RegionRef, int]]) -> None:
        """Drop the leases found lost (on the event loop); one acquired again meanwhile
        (another token) stays."""
        for region, token in lost:
            lease = self.held.get(region)
            if lease is not None and lease.token == token:
                self._drop(region)

    async def _acquire(self, region: RegionRef) -> bool:
        sent = time.monotonic()
        token = await self._store.acquire(
            region.tenant, region.region, self.ttl_ms, self.owner_id
        )
        if token <= 0:
            return False
        valid_until = sent + self.ttl_ms / 1000.0 - self._margin_s
        with self._lock:
            self.held[region] = Lease(token, valid_until, acquired_at=sent)
        self._changed(region, token, "acquired")
        return True

    async def release(self, region: RegionRef) -> None:
        """Give a region up (shedding or shutdown)."""
        with self._lock:
            lease = self.held.pop(region, None)
        if lease is None:
            return
        self._changed(region, None, "released", lease.token)
        try:
            await self._store.release(region.tenant, region.region, lease.token)
        except Exception:  # the lease expires by itself; nothing else to do
            logger.warning(
                "release of %s failed; it will expire", region, exc_info=True
            )

    async def release_all(self) -> None:
        for region in sorted(self.held):
            await self.release(region)
        try:
            await self._store.leave(self.owner_id)
        except Exception:
            logger.warning("could not leave the solver registry", exc_info=True)

    def _drop(self, region: RegionRef) -> None:
        with self._lock:
            lease = self.held.pop(region, None)
        if lease is not None:
            self._changed(region, None, "lost", lease.token)

    def _drop_expired(self) -> None:
        """Drop the leases past their local validity (no renewal got through in time)."""
        now = time.monotonic()
        for region, lease in list(self.held.items()):
            if now >= lease.valid_until:
                self._drop(region)

    def _changed(
        self,
        region: RegionRef,
        token: int | None,
        event: str,
        old_token: int | None = None,
    ) -> None:
        """``token``: the new token (None once the region is not held; ``on_change`` gets
        it); ``old_token``: the token just given up or lost, for the log line."""
        logger.info(
            "lease %s on %s (token %s, owner %s)",
            event,
            region,
            token if token is not None else old_token,
            self.owner_id,
        )
        self.metrics.lease_changes_total.labels(event=event).inc()
        self.metrics.leases_held.set(len(self.held))
        if self.on_change is not None:
            self.on_change(region, token)

    async def tick(self) -> None:
        """One round: renew, then heartbeat, shed above the fair share, acquire up to it."""
        self._settle(await self._renew_all(self._store))
        await self._rebalance()

    async def _rebalance(self) -> None:
        """Heartbeat, release regions no longer listed, shed above the fair share and
        acquire free regions up to it (the renewals are not part of it)."""
        n_processes = await self._heartbeat()
        self._drop_expired()
        known = sorted(set(await self.regions()))
        for region in [r for r in self.held if r not in known]:
            await self.release(region)
        share = fair_share(len(known), n_processes)
        # Shed the most recently listed extras first; a region moves at most once per tick.
        while len(self.held) > share:
            await self.release(max(self.held))
        if len(self.held) >= share:
            return
        # Start at an owner-dependent offset so processes do not all race for region 0.
        start = hash(self.owner_id) % max(1, len(known))
        for region in known[start:] + known[:start]:
            if len(self.held) >= share:
                break
            if region not in self.held:
                try:
                    await self._acquire(region)
                except Exception:
                    # this region only (e.g. its Cluster node is unreachable): the others
                    # are still tried, and this one again next round
                    logger.warning("lease acquire of %s failed", region, exc_info=True)

    def _keep_renewing(
        self, loop: asyncio.AbstractEventLoop, stop: threading.Event
    ) -> None:
        """The renewal thread: every ``renew_interval_s``, renew the held leases on its own
        client and event loop, and hand the lost ones to ``loop``; skip the round while
        ``loop`` has left a callback waiting longer than ``stall_limit_s`` (stuck, not
        busy: its leases then expire by TTL)."""
        assert self.renew_client is not None
        watch = LoopWatch(loop)
        own = asyncio.new_event_loop()
        client = self.renew_client()
        store = self._lease_store(client)
        stalled = busy = False
        try:
            next_round = time.monotonic() + self.renew_interval_s
            while not stop.wait(max(0.0, next_round - time.monotonic())):
                next_round = time.monotonic() + self.renew_interval_s
                try:
                    lag = watch.lag_s()
                except RuntimeError:  # the event loop is closed
                    return
                self.slowest_loop_lag_s = max(self.slowest_loop_lag_s, lag)
                if lag > self.stall_limit_s:
                    if not stalled:
                        logger.error(
                            "event loop unresponsive for %.1f s: lease renewals stop, "
                            "the leases expire by TTL",
                            lag,
                        )
                    stalled = True
                    continue
                if lag > self.ttl_ms / 1000.0 and not busy:
                    # renewals on the event loop would have lost every lease by now
                    logger.warning(
                        "event loop busy for %.1f s (more than a lease TTL): the "
                        "renewal thread keeps the leases",
                        lag,
                    )
                stalled, busy = False, lag > self.ttl_ms / 1000.0
                started = time.monotonic()
                try:
                    lost = own.run_until_complete(self._renew_all(store))
                except Exception:
                    logger.warning("lease renewal round failed", exc_info=True)
                    continue
                took = time.monotonic() - started
                if took > self.renew_interval_s:
                    logger.warning(
                        "lease renewal round took %.1f s (Redis slow, or this process "
                        "short of CPU)",
                        took,
                    )
                if lost:
                    try:
                        loop.call_soon_threadsafe(self._settle, lost)
                    except RuntimeError:
                        return
        finally:
            with contextlib.suppress(Exception):
                own.run_until_complete(close_redis(client))
            own.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set, then release every lease."""
        renewer: threading.Thread | None = None
        renewer_stop = threading.Event()
        if self.renew_client is not None:
            renewer = threading.Thread(
                target=self._keep_renewing,
                args=(asyncio.get_running_loop(), renewer_stop),
                name=f"lease-renewal:{self.owner_id}",
                daemon=True,
            )
            renewer.start()
        try:
            while not stop.is_set() and not _cancel_requested():
                started = time.monotonic()
                try:
                    if renewer is None:
                        await self.tick()
                    else:
                        await self._rebalance()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.warning("lease tick failed", exc_info=True)
                    self._drop_expired()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.renew_interval_s)
                over = time.monotonic() - started - self.renew_interval_s
                self.slowest_tick_s = max(self.slowest_tick_s, over)
        finally:
            # shielded: a second cancel (shutdown) must not cut a release's command off
            # mid-connect, which leaves a connection nobody closes
            await asyncio.shield(self._wind_down(renewer, renewer_stop))
        if _cancel_requested():
            raise asyncio.CancelledError  # the cancel a library swallowed ends us all the same

    async def _wind_down(
        self, renewer: threading.Thread | None, renewer_stop: threading.Event
    ) -> None:
        """Stop the renewal thread (no renewal after the releases), then release all."""
        if renewer is not None:
            renewer_stop.set()
            await asyncio.to_thread(renewer.join)
        await self.release_all()


def _cancel_requested() -> bool:
    """This task was cancelled, even if the cancel was swallowed on its way (redis-py may
    swallow one that lands mid-command: the command then returns as if none came)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
