"""Retention of closed tickets: the sweep that keeps Redis from growing without bound.

A ticket that reached RESOLVED or CANCELLED stays readable (get, list, explain) for the
retention period (setting ``closed_ticket_retention_days``; 0 keeps it forever), then the
solve loop holding its region deletes it: its hash, its listing entry and its tenant-wide id
claim. Its events stay in the region's stream (bounded by ``events_maxlen``). An open
ticket is never touched: the script re-reads each status and deletes terminal ones only.

The closing transition indexes a ticket in the region's ``closed`` sorted set (see
``store.lua.TRANSITION``); the sweep reads its oldest entries. On a single server the id
claims are released in the same script as the ticket (atomic). On Redis Cluster the claims
live in another hash slot and are released first: a submit that reuses such an id
meanwhile is answered ALREADY_EXISTS until the sweep is done, never given a corrupt ticket.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dispatcher.backend.cluster import is_cluster_client, write_script
from dispatcher.store import keys
from dispatcher.store.lua import NAMES, script

if TYPE_CHECKING:
    import redis.asyncio as aioredis

PURGE_BATCH = 500
"""Tickets deleted per script call (a bounded pause of the region's slot)."""
PURGE_MAX_BATCHES = 20
"""Script calls per sweep of one region; the rest waits for the next sweep."""
SWEEP_INTERVAL_S = 60.0
"""A region held by a solve loop is swept at most this often."""

# KEYS[1] the region's event stream (routes the call on a cluster; the script appends no
# event); ARGV[1] region prefix, ARGV[2] tenant claim hash ('' on a cluster: released
# before), ARGV[3] region name, ARGV[4..] ticket ids read from the 'closed' index
_PURGE = script(
    NAMES
    + r"""
local P, claim, region = ARGV[1], ARGV[2], ARGV[3]
local gone = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local key = P .. K.TICKET .. id
  local st = redis.call('HGET', key, 'status')
  if st == ST.RESOLVED or st == ST.CANCELLED then
    redis.call('DEL', key)
    redis.call('ZREM', P .. K.TICKETS_ALL, id)
    if claim ~= '' and redis.call('HGET', claim, id) == region then
      redis.call('HDEL', claim, id)
    end
    gone[#gone + 1] = id
  end
  redis.call('ZREM', P .. K.CLOSED, id)
end
return gone
"""
)

# KEYS[1] tenant claim hash; ARGV[1] region, ARGV[2..] ticket ids
_RELEASE_CLAIMS = r"""
for i = 2, #ARGV do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return 0
"""


class ClosedTicketSweeper:
    """Deletes one region's tickets closed before a cut-off (``sweep``)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._r: Any = redis
        self._cluster = is_cluster_client(redis)
        self._purge = write_script(redis, _PURGE)
        self._release = write_script(redis, _RELEASE_CLAIMS)

    async def sweep(
        self,
        tenant: str,
        region: str,
        closed_before_ms: int,
        *,
        batch: int = PURGE_BATCH,
        max_batches: int = PURGE_MAX_BATCHES,
    ) -> int:
        """Delete the region's tickets closed before ``closed_before_ms``; return how many."""
        prefix = keys.region_prefix(tenant, region)
        claims = keys.ticket_region_key(tenant)
        deleted = 0
        for _ in range(max_batches):
            ids = await self._r.zrangebyscore(
                prefix + keys.CLOSED, "-inf", f"({closed_before_ms}", start=0, num=batch
            )
            if not ids:
                break
            if self._cluster:
                await self._release(keys=[claims], args=[region, *ids])
            gone = await self._purge(
                keys=[keys.events_key(tenant, region)],
                args=[prefix, "" if self._cluster else claims, region, *ids],
            )
            deleted += len(gone)
            if len(ids) < batch:
                break
        return deleted
