"""The region feed of the solve loop's region model (``dispatcher.loop.region_model``): a
full read (the solve snapshot plus the stream position it is consistent with) and a delta
read (what changed after a stream position), each one atomic script in the region's slot.

Every change of a ticket or technician appends an event naming it (``tk``, ``tc``, ``ptc``;
invariant 4) in the same step, with two exceptions the delta also covers: a location ping
appends none but adds the technician to the region's ``LOCATED`` set, which the lease holder
reads and empties; and the commit's same-place refresh (a new queue place or cost terms
with the same technician) appends none: the caller names those items itself (``also_*``).
The delta re-reads every named item the way the snapshot reads it (``lua.REGION_READS``),
so the model it feeds stays equal to a fresh snapshot; the reader's own commits' events
are not read when the reader says it applied them itself (``own``: the stream is read
between their ranges). A technician named
only by ticket events (each carries ``tk``) is read as its queue alone: only a
technician's own events (no ``tk``: upsert, availability, removal) and a location ping
change its hash, so the hash the reader holds is still the store's (``DeltaRead.queues``).

The delta refuses (``gap``) when it cannot tell what changed: events after the position were
dropped by retention, the stream is older than the position (it was deleted), more than
``max_events`` events are pending (the reader's own commits' not counted), an event names
no item, an event of the reader's own commits is not in the stream (a failover lost the
acknowledged commit the reader applied),
or the mark its last read left (``MODEL_READ``, written by the lease holder's reads) is
not: a failover lost that read's writes, so maybe what it read (a change with or without
an event). The caller then reads in full.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dispatcher.store import keys, lua
from dispatcher.store.codec import (
    BodyCache,
    TechnicianCache,
    pairs_to_dict,
    ticket_from_hash,
)
from dispatcher.store.outcomes import ScriptReply

if TYPE_CHECKING:
    from collections.abc import Iterable

    import redis.asyncio as aioredis

    from dispatcher.domain import Technician, Ticket

START_ID = "0-0"
"""The position before every event (an empty stream)."""

_STREAM_IDS = r"""
-- stream ids compare as (milliseconds, sequence)
local function older(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
local function newest(key)
  local e = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
  if #e == 0 then return '0-0' end
  return e[1][1]
end
"""

FULL = lua.script(
    lua.NAMES
    + lua.REGION_READS
    + _STREAM_IDS
    + r"""
-- KEYS[1] the region's event stream; ARGV[1] region prefix, ARGV[2] lease token of the
-- reader, ARGV[3] the mark of this read. Returns {ticket hashes, technician hashes, queues,
-- lease, newest event id}; when the token holds the lease, empties LOCATED (this read has
-- every location) and leaves the mark in MODEL_READ.
local P, token = ARGV[1], ARGV[2]
local _, tickets = open_tickets(P)
local _, techs, queues = technicians(P)
local lease = redis.call('GET', P .. K.LEASE) or ''
if token ~= '' and lease == token then
  redis.call('DEL', P .. K.LOCATED)
  redis.call('SET', P .. K.MODEL_READ, ARGV[3])
end
return {tickets, techs, queues, lease, newest(KEYS[1])}
"""
)

DELTA = lua.script(
    lua.NAMES
    + lua.REGION_READS
    + _STREAM_IDS
    + r"""
-- KEYS[1] the region's event stream; ARGV[1] region prefix, ARGV[2] position (last event id
-- applied), ARGV[3] lease token of the reader, ARGV[4] most events to read (those of the
-- own ranges, which are not read, not counted), ARGV[5] JSON
-- ticket ids and ARGV[6] JSON technician ids to read as well, ARGV[7] JSON [first, last]
-- event id ranges of the reader's own commits (their events are not read: the reader
-- applied them),
-- ARGV[8] the mark of the reader's last read, ARGV[9] the mark of this one.
-- Returns {GAP, why} or {OK, new position, lease, ticket ids, their hashes ({} = not
-- open), technician ids, their hashes ({} = removed), their queues, ids of technicians
-- named only by ticket events, their queues}: a ticket's event changes no technician's
-- hash (only a technician's own events, which name no ticket, and location pings do), so
-- of those the queue alone is read.
local P, after, token, most = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local lease = redis.call('GET', P .. K.LEASE) or ''
local holder = token ~= '' and lease == token
-- the last read's writes are gone: a failover lost them, and maybe what that read saw (a
-- replica applies the writes in order: one it has not got, it has none of the later)
if holder and redis.call('GET', P .. K.MODEL_READ) ~= ARGV[8] then
  return {R.GAP, 'the mark of the last read is not in the store (lost)'}
end
local trimmed = redis.call('GET', P .. K.EVENTS_TRIMMED)
if trimmed and older(after, trimmed) then return {R.GAP, 'events after ' .. after .. ' were trimmed'} end
local own = cjson.decode(ARGV[7])
for _, r in ipairs(own) do
  -- the reader applied the commit as acknowledged: a failover may have lost it since (one
  -- atomic script: its first and last events tell whether all of it is here)
  for _, id in ipairs(r) do
    if #redis.call('XRANGE', KEYS[1], id, id) == 0 then
      return {R.GAP, 'own commit event ' .. id .. ' is not in the stream (lost)'}
    end
  end
end
-- the events after the position but those of the own ranges (they name nothing for the
-- reader, which applied them itself): the stream is read between the ranges, in order
table.sort(own, function(a, b) return older(a[1], b[1]) end)
local entries, last, from = {}, after, after
local function take(to)
  local got = redis.call('XRANGE', KEYS[1], '(' .. from, to, 'COUNT', most + 1 - #entries)
  for _, e in ipairs(got) do entries[#entries + 1] = e end
  if #got > 0 then last = got[#got][1] end
  return #entries <= most
end
for _, r in ipairs(own) do
  if older(from, r[2]) then
    if older(from, r[1]) and not take('(' .. r[1]) then
      return {R.GAP, 'more than ' .. most .. ' events'}
    end
    from, last = r[2], r[2]
  end
end
if not take('+') then return {R.GAP, 'more than ' .. most .. ' events'} end
if last == after and after ~= '0-0' and older(newest(KEYS[1]), after) then
  return {R.GAP, 'the stream is older than ' .. after}
end
local tids, techids, seen_t, seen_k = {}, {}, {}, {}
local qids, seen_q = {}, {}  -- technicians named by ticket events: their queues only
local function ticket(id)
  if id and id ~= '' and not seen_t[id] then seen_t[id] = true; tids[#tids + 1] = id end
end
local function tech(id)
  if id and id ~= '' and not seen_k[id] then seen_k[id] = true; techids[#techids + 1] = id end
end
local function queue(id)
  if id and id ~= '' and not seen_q[id] then seen_q[id] = true; qids[#qids + 1] = id end
end
for _, e in ipairs(entries) do
  local f = e[2]
  local tk, tc, ptc = nil, nil, nil
  for i = 1, #f, 2 do
    local name = f[i]
    if name == 'tk' then tk = f[i + 1]
    elseif name == 'tc' then tc = f[i + 1]
    elseif name == 'ptc' then ptc = f[i + 1]
    end
  end
  if not (tk or tc or ptc) then
    return {R.GAP, 'event ' .. e[1] .. ' names no ticket or technician'}
  end
  ticket(tk)
  local named = tk and queue or tech
  named(tc)
  named(ptc)
end
for _, id in ipairs(cjson.decode(ARGV[5])) do ticket(id) end
for _, id in ipairs(cjson.decode(ARGV[6])) do tech(id) end
if holder then
  for _, id in ipairs(redis.call('SMEMBERS', P .. K.LOCATED)) do tech(id) end
  redis.call('DEL', P .. K.LOCATED)
  redis.call('SET', P .. K.MODEL_READ, ARGV[9])
end
local th = {}
for i, id in ipairs(tids) do th[i] = open_ticket(P, id) end
local kh, kq = {}, {}
for i, id in ipairs(techids) do
  kh[i] = redis.call('HGETALL', P .. K.TECH .. id)
  kq[i] = redis.call('ZRANGE', P .. K.TECH_QUEUE .. id, 0, -1)
end
local qonly, qq = {}, {}
for _, id in ipairs(qids) do
  if not seen_k[id] then
    qonly[#qonly + 1] = id
    qq[#qq + 1] = redis.call('ZRANGE', P .. K.TECH_QUEUE .. id, 0, -1)
  end
end
return {R.OK, last, lease, tids, th, techids, kh, kq, qonly, qq}
"""
)


@dataclass(frozen=True, slots=True)
class FullRead:
    """Every open ticket and technician, the lease value and the newest event id, at once."""

    tickets: dict[str, Ticket]
    technicians: dict[str, Technician]
    lease_token: str
    position: str


@dataclass(frozen=True, slots=True)
class DeltaRead:
    """The items changed after a position: ``None`` = no longer open (ticket) or removed
    (technician). ``gap`` (non-empty: why) = the delta cannot be told; read in full."""

    gap: str = ""
    position: str = ""
    lease_token: str = ""
    tickets: dict[str, Ticket | None] = field(default_factory=dict)
    technicians: dict[str, Technician | None] = field(default_factory=dict)
    queues: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Technicians named only by ticket events: their queues now (ticket ids by
    position); their hashes are as the reader last read them."""


class RegionFeed:
    """Full and delta reads of regions for the region model (scripts registered once)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._full = redis.register_script(FULL)
        self._delta = redis.register_script(DELTA)
        # a ticket is re-read on each change of its live fields: its body decoded once
        self._bodies = BodyCache()
        # a technician is re-read on each change of its queue: decoded once per hash
        self._technicians = TechnicianCache()

    async def full(self, tenant: str, region: str, token: str, mark: str) -> FullRead:
        """Everything; ``mark`` is left in the store when ``token`` holds the lease (the
        next ``delta`` expects it)."""
        reply: Any = await self._full(
            keys=[keys.events_key(tenant, region)],
            args=[keys.region_prefix(tenant, region), token, mark],
        )
        raw_tickets, raw_techs, queues, lease, position = reply
        tickets = {}
        for h in raw_tickets:
            if h:
                t = ticket_from_hash(pairs_to_dict(h), self._bodies)
                tickets[t.ticket_id] = t
        techs = {}
        for h, q in zip(raw_techs, queues, strict=True):
            if h:
                k = self._technicians.technician(h, q)
                techs[k.technician_id] = k
        return FullRead(tickets, techs, str(lease), str(position))

    async def delta(
        self,
        tenant: str,
        region: str,
        after: str,
        token: str,
        *,
        max_events: int,
        also_tickets: Iterable[str] = (),
        also_technicians: Iterable[str] = (),
        own: Iterable[tuple[str, str]] = (),
        marks: tuple[str, str],
    ) -> DeltaRead:
        """What changed after ``after``. ``own``: (first, last) event ids of the reader's
        own commits, whose writes the reader has applied itself (``CommitResult``): their
        events name no item (another event after ``after`` still does). ``marks``: the
        mark the reader's last read left, and this read's (a gap when the store no longer
        has the last one: a failover lost that read's writes)."""
        reply: Any = await self._delta(
            keys=[keys.events_key(tenant, region)],
            args=[
                keys.region_prefix(tenant, region),
                after,
                token,
                max_events,
                json.dumps(list(also_tickets)),
                json.dumps(list(also_technicians)),
                json.dumps([list(r) for r in own]),
                *marks,
            ],
        )
        if reply[0] != ScriptReply.OK:
            return DeltaRead(gap=str(reply[1]))
        _, position, lease, tids, th, kids, kh, kq, qids, qq = reply
        tickets: dict[str, Ticket | None] = {
            str(i): ticket_from_hash(pairs_to_dict(h), self._bodies) if h else None
            for i, h in zip(tids, th, strict=True)
        }
        techs: dict[str, Technician | None] = {
            str(i): self._technicians.technician(h, q) if h else None
            for i, h, q in zip(kids, kh, kq, strict=True)
        }
        queues = {
            str(i): tuple(str(t) for t in q) for i, q in zip(qids, qq, strict=True)
        }
        return DeltaRead("", str(position), str(lease), tickets, techs, queues)
