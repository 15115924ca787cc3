"""Moving a QUEUED ticket to another region (escalation "widen to neighbouring regions").

A region's keys share one hash slot, two regions' keys do not (Redis Cluster), so a move
cannot be one atomic script. It is three idempotent steps, each atomic in its own slot,
that a crash can interrupt anywhere without losing or doubling the ticket:

1. ``MOVE_OUT`` in the source region, fenced by its lease token and the ticket's version:
   the ticket (still QUEUED, never held by a technician) leaves the region's listings and
   queues, is marked ``moving`` (to the target) and a ``TICKET_MOVED`` event says where to.
   From here on only its hash is left in the source, which lookups still find.
2. ``MOVE_IN`` in the target region: the same ticket (body with the new region, its
   version + 1, priority, due times, declines, SLA marks) is created there as QUEUED, with a
   ``TICKET_MOVED`` event saying where from. A second run finds it there and does nothing.
   When the ticket comes back before an earlier move out of the target was completed, the
   target still holds that move's frozen copy: the copy with the higher version wins.
3. The tenant's ticket -> region index points at the target; then ``MOVE_DONE`` deletes
   the source's hash, its SLA marks and its ``moving`` entry.

``finish`` runs steps 2-3 for one ticket; the source region's solve loop calls it for every
ticket left in its ``moving`` set (a crash after step 1), so an interrupted move completes
under whichever process holds the source region next. At every moment exactly one region
lists the ticket as open (none, briefly, between steps 1 and 2), and reading it by id
always works: the index names the source until the target has it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from dispatcher.backend.cluster import is_cluster_client
from dispatcher.store import keys
from dispatcher.store.lua import NAMES, PRELUDE, script
from dispatcher.store.outcomes import ScriptReply
from dispatcher.store.state import now_ms

if TYPE_CHECKING:
    import redis.asyncio as aioredis

MOVE_OUT = script(
    PRELUDE
    + r"""
-- ARGV[4] lease token, ARGV[5] ticket id, ARGV[6] expected version, ARGV[7] target
-- region, ARGV[8] details JSON. Returns {'OK', version} | {'LEASE'} | {'NOT_FOUND'} |
-- {'ABORTED', version} | {'ILLEGAL', status}.
if redis.call('GET', P .. K.LEASE) ~= ARGV[4] then return {R.LEASE} end
local id, target = ARGV[5], ARGV[7]
local key = P .. K.TICKET .. id
local h = redis.call('HMGET', key, 'status', 'version', 'prio', 'created', 'due', 'moving')
if not h[1] then return {R.NOT_FOUND} end
if tonumber(h[2]) ~= tonumber(ARGV[6]) then return {R.ABORTED, h[2]} end
if h[1] ~= ST.QUEUED or h[6] then return {R.ILLEGAL, h[1]} end
local nv = tonumber(h[2]) + 1
redis.call('HSET', key, 'moving', target, 'version', nv, 'updated', NOW)
move(id, h[3], h[4], h[5], ST.QUEUED, nil)
redis.call('ZREM', P .. K.TICKETS_ALL, id)
redis.call('SADD', P .. K.MOVING, id)
emit({'type', EV.TICKET_MOVED, 'tk', id, 'st', ST.QUEUED, 'v', nv, 'p', h[3], 'd', ARGV[8]})
return {R.OK, tostring(nv)}
"""
)

MOVE_IN = script(
    PRELUDE
    + r"""
-- ARGV[4] ticket id, ARGV[5] flat field/value list of its hash (JSON array), ARGV[6] SLA
-- marks JSON ('' = none), ARGV[7] details JSON, ARGV[8] the tenant's region set key ('' =
-- none: Redis Cluster), ARGV[9] this region's name, ARGV[10] the incoming version.
-- Returns 'OK' or 'PRESENT'.
local id = ARGV[4]
local key = P .. K.TICKET .. id
local here = redis.call('HMGET', key, 'version', 'moving')
if here[1] then
  -- a live copy here: this step ran already. A copy being moved out of here (an
  -- unfinished earlier move) is replaced only by a newer one; the older side yields.
  if not here[2] or tonumber(here[1]) >= tonumber(ARGV[10]) then return R.PRESENT end
  redis.call('DEL', key)
  redis.call('HDEL', P .. K.SLA_MARKS, id)
  redis.call('SREM', P .. K.MOVING, id)
end
local fields = cjson.decode(ARGV[5])
redis.call('HSET', key, unpack(fields))
local h = redis.call('HMGET', key, 'version', 'prio', 'created', 'due')
redis.call('ZADD', P .. K.TICKETS_ALL, 0, id)
move(id, h[2], h[3], h[4], nil, ST.QUEUED)
if ARGV[6] ~= '' then redis.call('HSET', P .. K.SLA_MARKS, id, ARGV[6]) end
if ARGV[8] ~= '' then redis.call('SADD', ARGV[8], ARGV[9]) end
emit({'type', EV.TICKET_MOVED, 'tk', id, 'st', ST.QUEUED, 'v', h[1], 'p', h[2], 'd', ARGV[7]})
return R.OK
"""
)

MOVE_DONE = script(
    NAMES
    + r"""
-- KEYS[1] the source region's event stream (routing), ARGV[1] its prefix, ARGV[2] id.
local P, id = ARGV[1], ARGV[2]
redis.call('DEL', P .. K.TICKET .. id)
redis.call('HDEL', P .. K.SLA_MARKS, id)
redis.call('SREM', P .. K.MOVING, id)
return R.OK
"""
)


class TicketMover:
    """The three steps of a move, and the recovery of interrupted ones."""

    def __init__(self, redis: aioredis.Redis, events_maxlen: int) -> None:
        self._r: Any = redis
        self.maxlen = events_maxlen
        self._out = redis.register_script(MOVE_OUT)
        self._in = redis.register_script(MOVE_IN)
        self._done = redis.register_script(MOVE_DONE)

    @property
    def _cluster(self) -> bool:
        return is_cluster_client(self._r)

    async def move(
        self,
        tenant: str,
        source: str,
        target: str,
        token: str,
        ticket_id: str,
        version: int,
        details: dict[str, str],
    ) -> ScriptReply:
        """Move a QUEUED ticket; returns ``OK`` or why not (``LEASE``, ``ABORTED``, ...)."""
        reply = await self._out(
            keys=[keys.events_key(tenant, source)],
            args=[
                keys.region_prefix(tenant, source),
                now_ms(),
                self.maxlen,
                token,
                ticket_id,
                version,
                target,
                json.dumps({**details, "to_region": target}),
            ],
        )
        outcome = ScriptReply(reply[0])
        if outcome is ScriptReply.OK:
            await self.finish(tenant, source, ticket_id)
        return outcome

    async def finish(self, tenant: str, source: str, ticket_id: str) -> None:
        """Steps 2-3 of a move whose step 1 is done (idempotent)."""
        target = await self.copy_in(tenant, source, ticket_id)
        if target:
            await self.complete(tenant, source, target, ticket_id)

    async def copy_in(self, tenant: str, source: str, ticket_id: str) -> str:
        """Step 2: the ticket created in its target region; returns the target ('' when
        there is nothing to move: the move was completed already)."""
        raw = await self._r.hgetall(keys.ticket_key(tenant, source, ticket_id))
        if not raw or not raw.get("moving"):  # already finished (or never moved)
            await self._r.srem(keys.moving_key(tenant, source), ticket_id)
            return ""
        target = str(raw.pop("moving"))
        body = json.loads(raw["body"])
        body["region"] = target
        raw["body"] = json.dumps(body, separators=(",", ":"))
        raw["version"] = str(int(raw["version"]) + 1)
        raw.pop("tech", None)  # QUEUED: held by nobody
        raw.pop("asg", None)
        marks = await self._r.hget(keys.sla_marks_key(tenant, source), ticket_id)
        await self._in(
            keys=[keys.events_key(tenant, target)],
            args=[
                keys.region_prefix(tenant, target),
                now_ms(),
                self.maxlen,
                ticket_id,
                json.dumps([x for kv in raw.items() for x in kv]),
                marks or "",
                json.dumps({"from_region": source}),
                "" if self._cluster else keys.regions_key(tenant),
                target,
                raw["version"],
            ],
        )
        return target

    async def complete(
        self, tenant: str, source: str, target: str, ticket_id: str
    ) -> None:
        """Step 3: the index names the target; the source's copy goes."""
        if self._cluster:
            await self._r.sadd(keys.regions_key(tenant), target)
        await self._r.hset(keys.ticket_region_key(tenant), ticket_id, target)
        prefix = keys.region_prefix(tenant, source)
        await self._done(
            keys=[keys.events_key(tenant, source)], args=[prefix, ticket_id]
        )

    async def unfinished(self, tenant: str, region: str) -> list[str]:
        """Tickets moved out of ``region`` whose move did not complete."""
        members = await self._r.smembers(keys.moving_key(tenant, region))
        return sorted(str(m) for m in members)
