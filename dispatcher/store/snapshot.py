"""Cached region snapshots for the solve loop: the store's snapshot script with a parse
cache, optionally bounded to the most urgent QUEUED tickets under a backlog."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dispatcher.store import keys, lua
from dispatcher.store.codec import pairs_to_dict, technician_from_hash, ticket_from_hash
from dispatcher.store.state import RegionSnapshot, now_ms

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from dispatcher.domain import Technician, Ticket


class SnapshotReader:
    """``RedisStateStore.snapshot`` with a parse cache for one region, optionally bounded.

    Runs the store's own snapshot script (or ``lua.BOUNDED_SNAPSHOT``, which reads only the
    most urgent QUEUED tickets so that a backlog does not make every solve read all of it)
    and the store's codec, keeping the decoded tickets and technicians keyed by their raw
    hash contents: most items are unchanged from one solve to the next, and decoding them
    again is most of a snapshot's CPU cost. ``truncated`` tells whether QUEUED tickets
    were left out of the last read.
    """

    def __init__(self, redis: aioredis.Redis) -> None:
        self._script = redis.register_script(lua.SNAPSHOT)
        self._bounded = redis.register_script(lua.BOUNDED_SNAPSHOT)
        self._tickets: dict[tuple[str, ...], Ticket] = {}
        self._techs: dict[tuple[tuple[str, ...], tuple[str, ...]], Technician] = {}
        self.truncated = False

    async def read(
        self,
        tenant: str,
        region: str,
        max_queued: int | None = None,
        *,
        technicians: bool = True,
    ) -> RegionSnapshot:
        """A snapshot; bounded to ``max_queued`` QUEUED tickets when given, and then, with
        ``technicians=False``, reusing the technicians of the previous read (the caller
        knows none changed: they change only with a technician event or a location ping).
        """
        taken = now_ms()
        with_techs = True
        if max_queued is None:
            reply = await self._script(
                keys=[keys.events_key(tenant, region)],
                args=[keys.region_prefix(tenant, region)],
            )
            _ids, raw_tickets, _tids, raw_techs, queues, lease = reply
            self.truncated = False
        else:
            with_techs = technicians or not self._techs
            reply = await self._bounded(
                keys=[keys.events_key(tenant, region)],
                args=[
                    keys.region_prefix(tenant, region),
                    max_queued,
                    "1" if with_techs else "0",
                ],
            )
            _ids, raw_tickets, _tids, raw_techs, queues, lease, total = reply
            self.truncated = int(total) > max_queued
        tickets: dict[tuple[str, ...], Ticket] = {}
        for h in raw_tickets:
            if h:
                key = tuple(h)
                hit = self._tickets.get(key)
                tickets[key] = (
                    hit if hit is not None else ticket_from_hash(pairs_to_dict(h))
                )
        techs: dict[tuple[tuple[str, ...], tuple[str, ...]], Technician] = {}
        if max_queued is not None and not with_techs:
            techs = self._techs  # unchanged since the last read (the caller says so)
        for h, q in zip(raw_techs, queues, strict=True):
            if h:
                tkey = (tuple(h), tuple(q))
                thit = self._techs.get(tkey)
                techs[tkey] = (
                    thit
                    if thit is not None
                    else technician_from_hash(pairs_to_dict(h), q)
                )
        self._tickets, self._techs = tickets, techs
        return RegionSnapshot(
            tenant=tenant,
            region=region,
            tickets=tuple(tickets.values()),
            technicians=tuple(techs.values()),
            lease_token=str(lease),
            taken_at_ms=taken,
        )
