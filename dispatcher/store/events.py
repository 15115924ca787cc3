"""The resumable event stream: reads the per-region Redis Streams behind ``WatchEvents``.

Events are appended by the store's Lua scripts, in the same atomic step as the change they
record (exactly one per change). A watcher reads each region's stream from an exclusive
start id, so resuming with the last id received gives no gap and no duplicate, also after
a server restart (the position lives in the client, the events in Redis). Retention caps each
stream's length; the scripts remember the newest dropped id, and a start id older than it is
refused with ``OutOfRange`` (never a silent gap).

With ``redis_wait_replicas`` N > 0 (the mode travels with the client, see
``backend.cluster.set_replication``) a watcher is shown only events N replicas hold: a
write whose WAIT fell short is on the primary and in its stream, but a failover may still
drop it, so every read that found events is followed by a fenced WAIT on each stream's
primary (``execute_replicated``) and delivered only when that succeeds; otherwise the same
positions are read again (paced by the WAIT timeout).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from dispatcher.backend.cluster import (
    is_cluster_client,
    replicas_hold,
    replication_of,
    set_replication,
)
from dispatcher.errors import InvalidArgument, OutOfRange
from dispatcher.store import keys
from dispatcher.store.codec import event_from_entry

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

    import redis.asyncio as aioredis

    from dispatcher.domain import Event, EventType
    from dispatcher.runtime.metrics import DispatchMetrics

logger = logging.getLogger(__name__)

EVENT_ID_RE = re.compile(r"^\d{1,20}-\d{1,20}$")
BLOCK_MS = 1000
"""Longest wait of one XREAD; also how often the region list and shutdown are checked."""
READ_COUNT = 500
MAX_BATCH = 1000
"""Largest ``max_batch`` a watcher may ask for (events per response)."""
REGION_REFRESH_S = 2.0


def event_id_key(event_id: str) -> tuple[int, int]:
    """A stream entry id ('ms-seq') as numbers, ordered as the stream orders them."""
    ms, seq = event_id.split("-")
    return int(ms), int(seq)


@dataclass(frozen=True, slots=True)
class WatchRequest:
    """What to watch: regions ('' = all, new ones included), filters, resume positions."""

    regions: tuple[str, ...] = ()
    technician_id: str = ""
    types: frozenset[EventType] = frozenset()
    after_event_ids: Mapping[str, str] = field(default_factory=dict)
    from_earliest: bool = False


def check_event_id(field_name: str, event_id: str) -> None:
    if not EVENT_ID_RE.match(event_id):
        raise InvalidArgument(
            field_name, f"{event_id!r} is not an event id like '1732550000000-0'"
        )


WATCH_MAX_CONNECTIONS = 10_000
"""Connection cap of the watch client: one connection per watcher blocks in XREAD."""


def watch_client(redis: Any, url: str | None = None) -> Any:
    """A client for blocking stream reads with its own connection pool(s).

    Each watcher holds a connection for up to ``BLOCK_MS`` at a time; sharing the RPC
    client's pool (redis-py caps a pool at 100 connections by default) would let a hundred
    watchers starve every other call. On Redis Cluster a second cluster client is built
    from ``url`` (the given client when there is none).
    """
    mode = replication_of(redis)
    pool = getattr(redis, "connection_pool", None)
    if pool is None:
        from dispatcher.backend.cluster import connect_cluster, is_cluster_url

        if url is None or not is_cluster_url(url):
            return redis
        client: Any = connect_cluster(
            url,
            decode_responses=True,
            max_connections=WATCH_MAX_CONNECTIONS,
            socket_timeout=10.0,
        )
    else:
        from redis.asyncio import Redis

        from dispatcher.backend.pool import ClosingConnectionPool

        own = ClosingConnectionPool(
            connection_class=pool.connection_class,
            max_connections=WATCH_MAX_CONNECTIONS,
            **pool.connection_kwargs,
        )
        client = Redis.from_pool(own)  # the client owns the pool: aclose() closes it
    set_replication(
        client, mode.replicas, mode.timeout_ms
    )  # watchers wait as writers do
    return client


async def _check_retained(redis: Any, tenant: str, region: str, after: str) -> None:
    """``OutOfRange`` when events after ``after`` were dropped by retention (a gap)."""
    trimmed = await redis.get(keys.events_trimmed_key(tenant, region))
    if trimmed and event_id_key(after) < event_id_key(str(trimmed)):
        raise OutOfRange(
            f"after_event_ids[{region!r}]: {after} is older than the retained events of region "
            f"{region!r} (dropped up to {trimmed}); resynchronise from current state"
        )


_MAX_SEQ = 2**64 - 1


async def _start_id(redis: Any) -> str:
    """The stream position just before Redis's clock now: an event appended from now on,
    in any region (the stream ids are Redis's own millisecond clock), comes after it.

    One instant for every region of a watch: reading each region's latest id instead took
    a round trip per region, and a region whose turn came after its events were appended
    skipped them all (a watch of every region, opened just before a lifecycle, saw 0 of 8).
    On Redis Cluster the time comes from one node: the nodes' clocks are assumed to agree
    to within a millisecond or so (NTP).
    """
    reply: Any = await redis.time()
    times = reply.values() if isinstance(reply, dict) else [reply]
    ms = min(int(sec) * 1000 + int(usec) // 1000 for sec, usec in times)
    return f"{ms - 1}-{_MAX_SEQ}"


async def _xread_once(r: Any, streams: dict[str, str]) -> list[Any]:
    """One blocking XREAD over ``streams``; per stream concurrently on Redis Cluster."""
    if not is_cluster_client(r):
        return list(await r.xread(streams, count=READ_COUNT, block=BLOCK_MS) or ())
    # a multi-key XREAD must stay in one slot on a cluster: one read per region stream
    replies = await asyncio.gather(
        *(
            r.xread({k: pos}, count=READ_COUNT, block=BLOCK_MS)
            for k, pos in streams.items()
        )
    )
    return [entry for reply in replies for entry in (reply or ())]


_T = TypeVar("_T")

READ_ATTEMPTS = 6
"""Tries of one read: 0.05 s, then doubling (with jitter) up to 1.6 s between them."""
_TRANSIENT = (RedisConnectionError, RedisTimeoutError, AttributeError, TypeError)
"""A dropped connection; redis-py 8.1 may also surface one as an AttributeError or
TypeError from the transport (redis/redis-py#4287). Seen here under bursts on a cluster,
where one connection error makes redis-py's cluster client close every connection of the
client, failing the reads of all watchers at once."""


async def _retrying(fn: Callable[..., Awaitable[_T]], *args: Any) -> _T:
    """``await fn(*args)``, tried again when the connection dropped (a read has no side
    effect: a stream read starts again from the same positions, nothing skipped or
    repeated); the last failure ends the watch."""
    for attempt in range(1, READ_ATTEMPTS):
        try:
            return await fn(*args)
        except _TRANSIENT:
            logger.warning("event read failed; retrying", exc_info=True)
            await asyncio.sleep(0.05 * 2 ** (attempt - 1) * (0.5 + random.random()))
    return await fn(*args)  # the last try: its failure ends the watch


_draining: set[asyncio.Future[list[Any]]] = set()
"""Reads in flight, also after their watcher went away (kept referenced until done)."""


async def _read(r: Any, streams: dict[str, str]) -> list[Any]:
    """A retried ``_xread_once``, shielded: a watcher cancelled mid-read (client gone, shutdown) lets the
    read end by itself within ``BLOCK_MS``, so its pooled connection is returned intact
    instead of being torn down (redis-py drops a connection whose read is cancelled)."""
    task = asyncio.ensure_future(_retrying(_xread_once, r, streams))
    # every read, also one whose watcher missed its cancel (see drain)
    _draining.add(task)
    task.add_done_callback(_drained)
    return await asyncio.shield(task)


async def drain(timeout_s: float = 5 * BLOCK_MS / 1000) -> None:
    """Wait (bounded) for reads in flight to end; call before closing Redis.

    Every read is waited for, not only those of watchers seen cancelled: redis-py 8.1 may
    swallow a cancel that arrives mid-command, leaving a watcher reading past its cancel.
    """
    loop = asyncio.get_running_loop()
    reads = [t for t in _draining if t.get_loop() is loop]
    if reads:
        await asyncio.wait(reads, timeout=timeout_s)


def _drained(task: asyncio.Future[list[Any]]) -> None:
    _draining.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a failed read nobody waits for is not an error


async def watch(
    redis: aioredis.Redis,
    tenant: str,
    request: WatchRequest,
    *,
    stop: asyncio.Event | None = None,
    metrics: DispatchMetrics,
    on_started: Callable[[str], Awaitable[None]] | None = None,
) -> AsyncIterator[list[Event]]:
    """Yield the tenant's events matching ``request``, as the lists that became available
    together (in order, never empty), until cancelled or ``stop`` is set.

    ``on_started(start_id)`` runs once every starting position is fixed (before the first
    read): every event appended after it is delivered, in every watched region, new
    regions included."""
    r: Any = redis  # redis-py's reply types are loose unions
    for region, after in request.after_event_ids.items():
        check_event_id(f"after_event_ids[{json.dumps(region)}]", after)
    all_regions = not request.regions
    positions: dict[str, str] = {}
    # taken first: the regions listed below may be read long after it
    start_id = await _retrying(_start_id, r)

    async def add_region(region: str) -> None:
        after = request.after_event_ids.get(region)
        if after is not None:
            await _retrying(_check_retained, r, tenant, region, after)
            positions[region] = after
        elif request.from_earliest:
            positions[region] = "0-0"
        else:
            positions[region] = start_id

    initial = list(request.regions) or sorted(
        await _retrying(r.smembers, keys.regions_key(tenant))
    )
    for region in initial:
        await add_region(region)
    if on_started is not None:
        await on_started(start_id)
    last_refresh = time.monotonic()
    raw_types = frozenset(t.value for t in request.types)  # as in the entries' "type"
    metrics.event_subscribers.inc()
    try:
        while stop is None or not stop.is_set():
            if all_regions and time.monotonic() - last_refresh > REGION_REFRESH_S:
                last_refresh = time.monotonic()
                regions = await _retrying(r.smembers, keys.regions_key(tenant))
                for region in sorted(regions):
                    if region not in positions:
                        # a region created after the watch began: from the same instant
                        await add_region(region)
            if not positions:
                await asyncio.sleep(BLOCK_MS / 1000)
                continue
            streams = {
                keys.events_key(tenant, reg): pos for reg, pos in positions.items()
            }
            region_of = {keys.events_key(tenant, reg): reg for reg in positions}
            reply = await _read(r, streams)
            if not await _held_by_replicas(r, reply):
                continue  # not delivered: read again from the same positions
            batch = _matching_events(
                reply, region_of, positions, request, raw_types, metrics
            )
            if batch:
                yield batch
    finally:
        metrics.event_subscribers.dec()


async def _held_by_replicas(r: Any, reply: list[Any]) -> bool:
    """True when the client's replicas (``redis_wait_replicas``; none = always) hold every
    entry of ``reply`` (see ``backend.cluster.replicas_hold``)."""
    if await replicas_hold(r, [str(key) for key, entries in reply if entries]):
        return True
    logger.warning("events read but not yet held by the replicas: held back")
    return False


def _matching_events(
    reply: list[Any],
    region_of: dict[str, str],
    positions: dict[str, str],
    request: WatchRequest,
    raw_types: frozenset[str],
    metrics: DispatchMetrics,
) -> list[Event]:
    """The events of one read that ``request`` asks for (``raw_types``: its types as stored;
    empty = all), decoded; every entry read advances its region's position, wanted or not."""
    now_s = time.time()
    batch: list[Event] = []
    for key, entries in reply:
        region = region_of[str(key)]
        for event_id, fields in entries:
            positions[region] = str(event_id)
            # filters on the raw fields: an event nobody asked for is not decoded
            if raw_types and fields.get("type") not in raw_types:
                continue
            if request.technician_id and request.technician_id not in (
                fields.get("tc", ""),
                fields.get("ptc", ""),
            ):
                continue
            metrics.event_stream_lag_seconds.observe(
                max(0.0, now_s - event_id_key(str(event_id))[0] / 1000)
            )
            batch.append(event_from_entry(region, str(event_id), fields))
    return batch
