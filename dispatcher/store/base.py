"""Shared core of the Redis state store: client, registered scripts, tenant-wide lookups.

``RedisStateStore`` (``dispatcher.store.state``) is assembled from ``TicketStore``
(``store.tickets``), ``TechnicianStore`` (``store.technicians``) and the solve-loop
operations; each part builds on this ``StoreBase``.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections import OrderedDict
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from dispatcher.backend import observed as redis_metrics
from dispatcher.backend.cluster import (
    Replication,
    ReplicationTimeout,
    execute_replicated,
    replication_of,
    write_script,
)
from dispatcher.domain import (
    SubmitResult,
    SubmitTicket,
    TicketStatus,
)
from dispatcher.errors import (
    InvalidArgument,
    UnknownTechnician,
    UnknownTicket,
)
from dispatcher.store import keys
from dispatcher.store import lua as store_lua

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Awaitable, Callable, Mapping

    import redis.asyncio as aioredis

    from dispatcher.runtime.metrics import DispatchMetrics

_T = TypeVar("_T")

ACTIONS = ("accept", "decline", "start", "complete", "cancel", "pend", "resume")
LIST_SCAN_BUDGET = 5000
"""Most ticket ids one List call inspects before returning a (possibly short) page."""
_REGION_CACHE_SIZE = 200_000
STATUS_BY_NAME = {s.value: s for s in TicketStatus}
MAX_FLUSHES_IN_FLIGHT = 1
"""Coalesced unary-submit script calls running at once (see ``submit_one``). One: the
submits arriving during a call's round trip go out together in the next (measured with
64 calls in flight: 9.4 submits per script call and 514 us of CPU per call, against 1.5
and 632 us with two calls at once)."""
LINGER_S = 0.001
LINGER_BELOW = 16
"""Under load, wait ``LINGER_S`` for more submits before the next script call when fewer
than ``LINGER_BELOW`` are waiting as the previous one returns (as Kafka's ``linger.ms``);
an idle server sends a submit at once. Measured (``benchmarks/api_load.py``, 64 calls in
flight, 5 alternating rounds): 2,466 vs 2,070 unary submits/s, 429 vs 527 us of CPU per
call; a submit under load waits up to 1 ms longer."""


def now_ms() -> int:
    return int(time.time() * 1000)


def encode_page_token(data: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(
        json.dumps(data, separators=(",", ":")).encode()
    ).decode()


def decode_page_token(
    token: str, fingerprint: str, field_name: str = "page_token"
) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidArgument(
            field_name, "is not a token this service issued"
        ) from None
    if not isinstance(data, dict) or data.get("f") != fingerprint:
        raise InvalidArgument(field_name, "does not match this request's filter")
    return data


class StoreBase:
    """Redis client, scripts and helpers shared by every part of the store."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        events_maxlen: int = keys.EVENTS_MAXLEN_DEFAULT,
        request_ttl_s: int = keys.REQUEST_ID_TTL_S,
        metrics: DispatchMetrics,
    ) -> None:
        self.redis = redis
        # redis-py's reply types are loose unions; the replies here are known shapes
        self._r: Any = redis
        self.events_maxlen = events_maxlen
        self.request_ttl_s = request_ttl_s
        self.metrics = metrics
        # Durability (``backend.cluster.set_replication`` on the client, from the setting
        # ``redis_wait_replicas``): with replicas > 0 every acknowledged write script sends
        # ``WAIT n timeout`` after it on the same connection and raises
        # ``ReplicationTimeout`` (UNAVAILABLE) when too few replicas have it; with 0 (the
        # default) they are plain registered scripts, exactly as fast as before.
        self.replication: Replication = replication_of(redis)
        write = partial(
            write_script,
            redis,
            replication=self.replication,
            on_timeout=self._replication_timeout,
        )
        self._submit = write(store_lua.SUBMIT)
        self._transition = write(store_lua.TRANSITION)
        self._update = write(store_lua.UPDATE)
        self._upsert_tech = write(store_lua.UPSERT_TECHNICIAN)
        self._availability = write(store_lua.SET_AVAILABILITY)
        # location pings are last-writer-wins telemetry, superseded by the next ping
        self._location = redis.register_script(store_lua.REPORT_LOCATION)
        self._remove_tech = write(store_lua.REMOVE_TECHNICIAN)
        self._commit = write(store_lua.COMMIT_ASSIGNMENTS)
        self._snapshot = redis.register_script(store_lua.SNAPSHOT)
        self._on_duty = redis.register_script(store_lua.ON_DUTY_COUNT)
        self._claim = write(store_lua.CLAIM_IDS)
        self._ticket_regions: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._pending: dict[
            str, list[tuple[SubmitTicket, asyncio.Future[SubmitResult]]]
        ] = {}
        self._flush_scheduled = False
        self._flushes: set[asyncio.Future[None]] = set()
        self._known_tenants: set[str] = set()
        # the one choke point of dispatch_redis_command_duration_seconds / _errors_total:
        # every script call and direct command above (see dispatcher.backend.observed)
        redis_metrics.instrument(self, metrics)

    # --- helpers --------------------------------------------------------------------------

    def _conflict(self, kind: str, n: int = 1) -> None:
        if n:
            self.metrics.store_conflicts_total.labels(kind=kind).inc(n)

    def _common(self, tenant: str, region: str) -> tuple[list[str], list[Any]]:
        return [keys.events_key(tenant, region)], [
            keys.region_prefix(tenant, region),
            now_ms(),
            self.events_maxlen,
        ]

    def _replication_timeout(self) -> None:
        self.metrics.redis_errors_total.labels(kind="replication").inc()

    async def _remember_tenant(self, tenant: str) -> None:
        if tenant not in self._known_tenants:
            if self.replication.replicas <= 0:
                await self._r.sadd(keys.TENANTS_KEY, tenant)
            else:
                await self._write(("SADD", keys.TENANTS_KEY, tenant))
            self._known_tenants.add(tenant)

    async def _write(self, command: tuple[Any, ...]) -> Any:
        """One write command on key ``command[1]`` followed by WAIT (replicas > 0 only)."""
        mode = self.replication
        try:
            (reply,) = await execute_replicated(
                self.redis,
                str(command[1]),
                [command],
                replicas=mode.replicas,
                timeout_ms=mode.timeout_ms,
            )
        except ReplicationTimeout:
            self._replication_timeout()
            raise
        return reply

    async def tenants(self) -> list[str]:
        return sorted(await self._r.smembers(keys.TENANTS_KEY))

    async def regions(self, tenant: str) -> list[str]:
        return sorted(await self._r.smembers(keys.regions_key(tenant)))

    async def in_ticket_region(
        self, tenant: str, ticket_id: str, op: Callable[[str], Awaitable[_T]]
    ) -> _T:
        """``op(region)`` in the region holding the ticket. A ticket moves region only by an
        escalation (``store.moves``): when ``op`` finds nothing in a cached region, the
        index is read again and ``op`` retried there once."""
        cached = (tenant, ticket_id) in self._ticket_regions
        region = await self.ticket_region(tenant, ticket_id)
        try:
            return await op(region)
        except UnknownTicket:
            if not cached:
                raise
            self._ticket_regions.pop((tenant, ticket_id), None)
            fresh = await self.ticket_region(tenant, ticket_id)
            if fresh == region:
                raise
            return await op(fresh)

    async def ticket_region(self, tenant: str, ticket_id: str) -> str:
        """The region holding ``ticket_id``; ``UnknownTicket`` when none (may be cached:
        use ``in_ticket_region`` for an operation on the ticket)."""
        cached = self._ticket_regions.get((tenant, ticket_id))
        if cached is not None:
            return cached
        region = await self._r.hget(keys.ticket_region_key(tenant), ticket_id)
        if region is None:
            raise UnknownTicket(f"ticket {ticket_id!r} not found")
        self._cache_region(tenant, ticket_id, str(region))
        return str(region)

    def _cache_region(self, tenant: str, ticket_id: str, region: str) -> None:
        self._ticket_regions[(tenant, ticket_id)] = region
        if len(self._ticket_regions) > _REGION_CACHE_SIZE:
            self._ticket_regions.popitem(last=False)

    async def technician_region(self, tenant: str, technician_id: str) -> str:
        region = await self._r.hget(keys.technician_region_key(tenant), technician_id)
        if region is None:
            raise UnknownTechnician(f"technician {technician_id!r} not found")
        return str(region)

    def _published(self, n: int) -> None:
        if n:
            self.metrics.events_published_total.inc(n)
