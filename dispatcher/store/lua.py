"""Lua scripts of ``RedisStateStore``: every state change of a region, atomically, with its event.

Each script runs in one region's hash slot: ``ARGV[1]`` is the region key prefix
(``store.keys.region_prefix``) and ``KEYS[1]`` the region's event stream (declared so that
Redis Cluster routes the call to the right node); every other key it touches is built from
the prefix and therefore carries the same hash tag. A script either applies its whole
change and appends exactly one event per changed ticket/technician to the stream, or
returns an error code and changes nothing.

Ticket hash fields: body (JSON, written by Python, opaque here), status, version, tech,
asg (assignment JSON, opaque), prio, due (response due ms, 0 = none), created, updated,
declined (JSON array of technician ids), ureason, res (resolution JSON), creason,
accepted, started, closed, esc. A fresh ticket has no 'updated' / 'ureason' yet (they read
as 'created' / NOT_YET_SOLVED), which keeps the submit path short.
"""

from __future__ import annotations

PRELUDE = r"""
local P = ARGV[1]
local NOW = ARGV[2]
local MAXLEN = ARGV[3]
local OPEN = {QUEUED=true, ASSIGNED=true, ACCEPTED=true, IN_PROGRESS=true, PENDING=true}
local NOT_STARTED = {QUEUED=true, ASSIGNED=true, ACCEPTED=true}

local function trim()
  -- retention: once the stream is `slack` over MAXLEN, drop the oldest entries exactly and
  -- remember the last dropped id, so a reader resuming from before it gets OUT_OF_RANGE
  local key = P .. 'events'
  local max = tonumber(MAXLEN)
  local over = redis.call('XLEN', key) - max
  if over >= math.max(1, math.min(1000, math.floor(max / 10))) then
    local old = redis.call('XRANGE', key, '-', '+', 'COUNT', over)
    redis.call('SET', P .. 'events_trimmed', old[#old][1])
    redis.call('XTRIM', key, 'MAXLEN', max)
  end
end

-- append one event (fields: flat name/value list; empty values are left out); `defer`
-- leaves the retention check to one trim() call at the end of a bulk script
local function emit(fields, defer)
  local clean = {'at', NOW}
  for i = 1, #fields, 2 do
    local v = fields[i + 1]
    if v ~= nil and v ~= '' and v ~= false then
      clean[#clean + 1] = fields[i]
      clean[#clean + 1] = tostring(v)
    end
  end
  local id = redis.call('XADD', P .. 'events', '*', unpack(clean))
  if not defer then trim() end
  return id
end

-- keep the per-status/priority sets and the response-due index in step with a status change
local function move(id, prio, created, due, old, new)
  if old ~= nil and OPEN[old] then redis.call('ZREM', P .. 's:' .. old .. ':' .. prio, id) end
  if OPEN[new] then redis.call('ZADD', P .. 's:' .. new .. ':' .. prio, created, id) end
  local d = tonumber(due or '0') or 0
  if d > 0 and NOT_STARTED[new] then
    redis.call('ZADD', P .. 'due:' .. prio, d, id)
  else
    redis.call('ZREM', P .. 'due:' .. prio, id)
  end
end
"""

SUBMIT = (
    PRELUDE
    + r"""
-- ARGV[4] request-id TTL s; ARGV[5] tenant id->region hash ('' = the caller already claimed
-- the ids: Redis Cluster, where that hash lives in another slot); ARGV[6] tenant region set;
-- ARGV[7] region; ARGV[8] '1' = return each created/replayed ticket's hash;
-- ARGV[9] JSON [[id, request_id, body, prio, due, digest, resolution due], ...].
-- Returns per item {code, ticket id, version, status, extra}: code OK | REPLAY (extra =
-- {created, response due, resolution due} of the original submit: the retry's payload is
-- the same (digest), so these make its answer the original one) | REPLAY_CURRENT (a
-- reservation of an older version without them: extra = the ticket's hash now, when
-- asked) | EXISTS | CONFLICT (extra = the region holding the id) | MISMATCH (the request id
-- was used with another payload digest; extra = that request's ticket id, nothing
-- written). A reservation holds "id<TAB>digest<TAB>created<TAB>response due<TAB>resolution
-- due", written by the same step that claims the request id.
local ttl, claim, region, want = tonumber(ARGV[4]), ARGV[5], ARGV[7], ARGV[8] == '1'
local items = cjson.decode(ARGV[9])
if claim ~= '' then redis.call('SADD', ARGV[6], region) end
local out = {}
for n, it in ipairs(items) do
  local id, rid, body, prio, due = it[1], it[2], it[3], tostring(it[4]), tostring(it[5])
  local dg, rdue = it[6] or '', tostring(it[7] or 0)
  local key = P .. 'ticket:' .. id
  local rkey = P .. 'req:' .. rid
  -- reserve the request id in one step; a taken one means a retry (same digest) or misuse
  local prev, pdg, held = false, '', {}
  local rv = id .. '\t' .. dg .. '\t' .. NOW .. '\t' .. due .. '\t' .. rdue
  if rid ~= '' and not redis.call('SET', rkey, rv, 'NX', 'EX', ttl) then
    for f in string.gmatch(redis.call('GET', rkey) .. '\t', '([^\t]*)\t') do
      held[#held + 1] = f
    end
    prev, pdg = held[1], held[2] or ''
  end
  if prev and pdg ~= '' and dg ~= '' and pdg ~= dg then
    out[n] = {'MISMATCH', id, '0', '', prev}
  elseif prev and held[5] then
    out[n] = {'REPLAY', prev, '1', 'QUEUED', {held[3], held[4], held[5]}}
  elseif prev then
    local pk = P .. 'ticket:' .. prev
    local h = redis.call('HMGET', pk, 'version', 'status')
    out[n] = {'REPLAY_CURRENT', prev, h[1] or '0', h[2] or '',
      want and redis.call('HGETALL', pk) or ''}
  else
    -- a fresh tenant-wide claim proves the id unused; an old claim needs a look
    local fresh = claim ~= '' and redis.call('HSETNX', claim, id, region) == 1
    local holder = region
    if claim ~= '' and not fresh then holder = redis.call('HGET', claim, id) end
    if holder ~= region then
      if rid ~= '' then redis.call('DEL', rkey) end
      out[n] = {'CONFLICT', id, '0', '', holder}
    elseif not fresh and redis.call('EXISTS', key) == 1 then
      if rid ~= '' then redis.call('DEL', rkey) end
      local h = redis.call('HMGET', key, 'version', 'status')
      out[n] = {'EXISTS', id, h[1] or '0', h[2] or '', ''}
    else
      -- 'updated' and 'ureason' are left unset: they read as created / NOT_YET_SOLVED
      redis.call('HSET', key, 'body', body, 'status', 'QUEUED', 'version', 1, 'prio', prio,
        'due', due, 'created', NOW)
      redis.call('ZADD', P .. 'tickets', 0, id)
      move(id, prio, NOW, due, nil, 'QUEUED')
      emit({'type', 'TICKET_SUBMITTED', 'tk', id, 'st', 'QUEUED', 'v', 1, 'p', prio}, true)
      out[n] = {'OK', id, '1', 'QUEUED', ''}  -- the caller knows what it just stored
    end
  end
end
trim()
return out
"""
)

TRANSITION = (
    PRELUDE
    + r"""
-- ARGV[4] ticket id, ARGV[5] action, ARGV[6] acting technician ('' = any holder),
-- ARGV[7] expected version (0 = none), ARGV[8] reason / resolution JSON
local id, action, actor, expected, arg = ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8]
local key = P .. 'ticket:' .. id
local h = redis.call('HMGET', key, 'status', 'version', 'tech', 'prio', 'created', 'due', 'declined')
if not h[1] then return {'NOT_FOUND'} end
-- being moved to another region (dispatcher.store.moves): its state is frozen meanwhile
if redis.call('HEXISTS', key, 'moving') == 1 then return {'MOVING'} end
local st, ver, tech, prio, created, due = h[1], tonumber(h[2]), h[3] or '', h[4], h[5], h[6]
if expected > 0 and ver ~= expected then return {'ABORTED', st, tostring(ver)} end
local allowed = {
  accept = {ASSIGNED = true},
  decline = {ASSIGNED = true, ACCEPTED = true},
  start = {ACCEPTED = true},
  complete = {IN_PROGRESS = true},
  cancel = OPEN,
  pend = {QUEUED = true, ASSIGNED = true, ACCEPTED = true, IN_PROGRESS = true},
  resume = {PENDING = true},
}
if action ~= 'cancel' and actor ~= '' and tech ~= actor then return {'NOT_HOLDER', st, tech} end
if not allowed[action][st] then return {'ILLEGAL', st, tech} end
local nv = ver + 1
local new
local ev = {'tk', id, 'tc', tech, 'p', prio}
if action == 'accept' then
  new = 'ACCEPTED'
  redis.call('HSET', key, 'accepted', NOW)
  ev[#ev + 1] = 'type'; ev[#ev + 1] = 'TICKET_ACCEPTED'
elseif action == 'decline' then
  new = 'QUEUED'
  redis.call('ZREM', P .. 'techq:' .. tech, id)
  local declined = {}
  if h[7] and h[7] ~= '' then declined = cjson.decode(h[7]) end
  declined[#declined + 1] = tech
  redis.call('HSET', key, 'declined', cjson.encode(declined), 'tech', '', 'asg', '',
    'accepted', '', 'ureason', 'NOT_YET_SOLVED')
  ev = {'type', 'TICKET_DECLINED', 'tk', id, 'ptc', tech, 'tc', tech, 'p', prio, 'r', arg}
elseif action == 'start' then
  new = 'IN_PROGRESS'
  redis.call('HSET', key, 'started', NOW)
  ev[#ev + 1] = 'type'; ev[#ev + 1] = 'TICKET_STARTED'
elseif action == 'pend' then
  -- out of every queue, clock stopped (no entry in the due index: see move())
  new = 'PENDING'
  if tech ~= '' then redis.call('ZREM', P .. 'techq:' .. tech, id) end
  redis.call('HSET', key, 'tech', '', 'asg', '', 'accepted', '', 'started', '',
    'paused', NOW, 'ureason', '')
  ev = {'type', 'TICKET_PENDING', 'tk', id, 'ptc', tech, 'p', prio, 'r', arg}
elseif action == 'resume' then
  -- arg: the body and response due with the clock moved by the wait (computed by the caller)
  local d = cjson.decode(arg)
  due = d.due
  new = 'QUEUED'
  redis.call('HSET', key, 'body', d.body, 'due', due, 'paused', '', 'ureason', 'NOT_YET_SOLVED')
  ev = {'type', 'TICKET_RESUMED', 'tk', id, 'p', prio}
elseif action == 'complete' then
  new = 'RESOLVED'
  redis.call('ZREM', P .. 'techq:' .. tech, id)
  redis.call('HSET', key, 'closed', NOW, 'res', arg)
  redis.call('ZADD', P .. 'closed', NOW, id)  -- for the retention sweep (dispatcher.store.retention)
  ev[#ev + 1] = 'type'; ev[#ev + 1] = 'TICKET_COMPLETED'
else
  new = 'CANCELLED'
  if tech ~= '' then redis.call('ZREM', P .. 'techq:' .. tech, id) end
  redis.call('HSET', key, 'closed', NOW, 'creason', arg)
  redis.call('ZADD', P .. 'closed', NOW, id)
  ev[#ev + 1] = 'type'; ev[#ev + 1] = 'TICKET_CANCELLED'
  ev[#ev + 1] = 'r'; ev[#ev + 1] = arg
end
redis.call('HSET', key, 'status', new, 'version', nv, 'updated', NOW)
move(id, prio, created, due, st, new)
ev[#ev + 1] = 'st'; ev[#ev + 1] = new
ev[#ev + 1] = 'v'; ev[#ev + 1] = nv
emit(ev)
return {'OK', redis.call('HGETALL', key)}
"""
)

UPDATE = (
    PRELUDE
    + r"""
-- ARGV[4] id, ARGV[5] version read by the caller, ARGV[6] body, ARGV[7] prio, ARGV[8] due
local id, read, body, prio, due = ARGV[4], tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8]
local key = P .. 'ticket:' .. id
local h = redis.call('HMGET', key, 'status', 'version', 'tech', 'prio', 'created')
if not h[1] then return {'NOT_FOUND'} end
if redis.call('HEXISTS', key, 'moving') == 1 then return {'MOVING'} end
if tonumber(h[2]) ~= read then return {'RACE', h[1], h[2]} end
if not OPEN[h[1]] then return {'ILLEGAL', h[1]} end
-- leave the old priority's indexes, join the new ones
redis.call('ZREM', P .. 's:' .. h[1] .. ':' .. h[4], id)
redis.call('ZREM', P .. 'due:' .. h[4], id)
move(id, prio, h[5], due, nil, h[1])
local nv = read + 1
redis.call('HSET', key, 'body', body, 'prio', prio, 'due', due, 'version', nv, 'updated', NOW)
emit({'type', 'TICKET_UPDATED', 'tk', id, 'tc', h[3] or '', 'st', h[1], 'v', nv, 'p', prio})
return {'OK', redis.call('HGETALL', key)}
"""
)

UPSERT_TECHNICIAN = (
    PRELUDE
    + r"""
-- ARGV[4] id, ARGV[5] expected version (0 = none), ARGV[6] body, ARGV[7] status,
-- ARGV[8] capacity, ARGV[9] shifts JSON, ARGV[10] lat, ARGV[11] lon ('' = keep)
local id, expected = ARGV[4], tonumber(ARGV[5])
local key = P .. 'tech:' .. id
local cur = redis.call('HMGET', key, 'version', 'created')
local ver = tonumber(cur[1] or '0')
if expected > 0 and ver ~= expected then return {'ABORTED', tostring(ver)} end
local held = redis.call('ZCARD', P .. 'techq:' .. id)
if tonumber(ARGV[8]) < held then return {'CAPACITY', tostring(held)} end
local nv = ver + 1
redis.call('HSET', key, 'body', ARGV[6], 'status', ARGV[7], 'cap', ARGV[8], 'shifts', ARGV[9],
  'version', nv, 'updated', NOW, 'created', cur[2] or NOW)
if ARGV[10] ~= '' then
  redis.call('HSET', key, 'lat', ARGV[10], 'lon', ARGV[11], 'loc_ms', NOW)
end
redis.call('ZADD', P .. 'techs', 0, id)
emit({'type', 'TECHNICIAN_UPSERTED', 'tc', id, 'tv', nv, 'r', ARGV[7]})
return {'OK', redis.call('HGETALL', key), redis.call('ZRANGE', P .. 'techq:' .. id, 0, -1)}
"""
)

SET_AVAILABILITY = (
    PRELUDE
    + r"""
-- ARGV[4] id, ARGV[5] expected version, ARGV[6] status ('' = keep), ARGV[7] shifts JSON ('' = keep)
local id, expected = ARGV[4], tonumber(ARGV[5])
local key = P .. 'tech:' .. id
local ver = redis.call('HGET', key, 'version')
if not ver then return {'NOT_FOUND'} end
if expected > 0 and tonumber(ver) ~= expected then return {'ABORTED', ver} end
if ARGV[6] ~= '' then redis.call('HSET', key, 'status', ARGV[6]) end
if ARGV[7] ~= '' then redis.call('HSET', key, 'shifts', ARGV[7]) end
local nv = tonumber(ver) + 1
redis.call('HSET', key, 'version', nv, 'updated', NOW)
emit({'type', 'TECHNICIAN_AVAILABILITY_CHANGED', 'tc', id, 'tv', nv,
  'r', redis.call('HGET', key, 'status')})
return {'OK', redis.call('HGETALL', key), redis.call('ZRANGE', P .. 'techq:' .. id, 0, -1)}
"""
)

REPORT_LOCATION = r"""
-- KEYS[1] technician hash; ARGV[1] lat, ARGV[2] lon, ARGV[3] measured ms
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local cur = tonumber(redis.call('HGET', KEYS[1], 'loc_ms') or '0')
if tonumber(ARGV[3]) < cur then return 0 end
redis.call('HSET', KEYS[1], 'lat', ARGV[1], 'lon', ARGV[2], 'loc_ms', ARGV[3])
return 1
"""

REMOVE_TECHNICIAN = (
    PRELUDE
    + r"""
-- ARGV[4] id, ARGV[5] expected version
local id, expected = ARGV[4], tonumber(ARGV[5])
local key = P .. 'tech:' .. id
local ver = redis.call('HGET', key, 'version')
if not ver then return {'NOT_FOUND'} end
if expected > 0 and tonumber(ver) ~= expected then return {'ABORTED', ver} end
local q = redis.call('ZRANGE', P .. 'techq:' .. id, 0, -1)
for _, tid in ipairs(q) do
  local st = redis.call('HGET', P .. 'ticket:' .. tid, 'status')
  if st == 'ACCEPTED' or st == 'IN_PROGRESS' then return {'BUSY', tid, st} end
end
for _, tid in ipairs(q) do
  local tk = P .. 'ticket:' .. tid
  local h = redis.call('HMGET', tk, 'version', 'prio', 'created', 'due', 'status')
  local nv = tonumber(h[1]) + 1
  redis.call('HSET', tk, 'status', 'QUEUED', 'tech', '', 'asg', '', 'ureason', 'NOT_YET_SOLVED',
    'version', nv, 'updated', NOW)
  move(tid, h[2], h[3], h[4], h[5], 'QUEUED')
  emit({'type', 'TICKET_UNASSIGNED', 'tk', tid, 'ptc', id, 'st', 'QUEUED', 'v', nv, 'p', h[2],
    'r', 'technician removed'})
end
redis.call('DEL', key, P .. 'techq:' .. id)
redis.call('ZREM', P .. 'techs', id)
emit({'type', 'TECHNICIAN_REMOVED', 'tc', id, 'tv', tonumber(ver) + 1})
return {'OK', q}
"""
)

COMMIT_ASSIGNMENTS = (
    PRELUDE
    + r"""
-- ARGV[4] lease token, ARGV[5] solve id, ARGV[6] n, then per decision:
-- ticket id, expected ticket version, technician id ('' = unassigned), expected technician
-- version, queue position, assignment JSON, unassigned reason.
-- Returns per decision: outcome code, ticket version after.
local token, sid, n = ARGV[4], ARGV[5], tonumber(ARGV[6])
local out = {}
local lease = redis.call('GET', P .. 'lease')
if lease ~= token then
  for _ = 1, n do out[#out + 1] = 'LEASE'; out[#out + 1] = 0 end
  return out
end
local D = {}
local cap = {}
local seen = {}
local j = 7
for i = 1, n do
  local d = {tid = ARGV[j], tver = tonumber(ARGV[j + 1]), tech = ARGV[j + 2],
    techver = tonumber(ARGV[j + 3]), pos = ARGV[j + 4], asg = ARGV[j + 5], reason = ARGV[j + 6],
    code = 'OK'}
  j = j + 7
  local h = redis.call('HMGET', P .. 'ticket:' .. d.tid, 'status', 'version', 'tech', 'prio',
    'created', 'ureason', 'declined', 'due')
  if seen[d.tid] then d.code = 'DUPLICATE'
  elseif not h[1] then d.code = 'GONE'
  elseif tonumber(h[2]) ~= d.tver then d.code = 'STALE_TICKET'
  elseif h[1] ~= 'QUEUED' and h[1] ~= 'ASSIGNED' then d.code = 'PINNED'
  else
    d.st, d.old, d.prio, d.created, d.ureason, d.due = h[1], h[3] or '', h[4], h[5], h[6] or '', h[8]
    if d.tech ~= '' then
      local th = redis.call('HMGET', P .. 'tech:' .. d.tech, 'version', 'status', 'cap')
      if not th[1] then d.code = 'GONE_TECHNICIAN'
      elseif tonumber(th[1]) ~= d.techver then d.code = 'STALE_TECHNICIAN'
      elseif d.tech ~= d.old and (th[2] == 'ON_BREAK' or th[2] == 'OFF_SHIFT') then
        d.code = 'UNAVAILABLE'
      else
        cap[d.tech] = tonumber(th[3])
        if h[7] and h[7] ~= '' then
          for _, x in ipairs(cjson.decode(h[7])) do
            if x == d.tech then d.code = 'EXCLUDED' end
          end
        end
      end
    end
  end
  seen[d.tid] = true
  D[i] = d
end
-- capacity: final queue length per technician after every move, rejecting all arrivals at a
-- technician that would end over capacity until nobody does (each round rejects >= 1)
local count = {}
local function card(t)
  if count[t] == nil then count[t] = redis.call('ZCARD', P .. 'techq:' .. t) end
  return count[t]
end
for _, d in ipairs(D) do
  if d.code == 'OK' and d.tech ~= d.old then
    if d.old ~= '' then count[d.old] = card(d.old) - 1 end
    if d.tech ~= '' then count[d.tech] = card(d.tech) + 1 end
  end
end
local changed = true
while changed do
  changed = false
  for t, c in pairs(count) do
    if cap[t] == nil then cap[t] = tonumber(redis.call('HGET', P .. 'tech:' .. t, 'cap') or '0') end
    if c > cap[t] then
      for _, d in ipairs(D) do
        if d.code == 'OK' and d.tech == t and d.old ~= t then
          d.code = 'CAPACITY'
          count[t] = count[t] - 1
          if d.old ~= '' then count[d.old] = count[d.old] + 1 end
          changed = true
        end
      end
    end
  end
end
-- apply one accepted decision: its writes and its event
local function apply(d)
  local key = P .. 'ticket:' .. d.tid
  local nv = d.tver
  if d.tech ~= '' and d.tech == d.old then
    redis.call('HSET', key, 'asg', d.asg)
    redis.call('ZADD', P .. 'techq:' .. d.tech, d.pos, d.tid)
    d.code = 'UNCHANGED'
  elseif d.tech ~= '' then
    nv = nv + 1
    if d.old ~= '' then redis.call('ZREM', P .. 'techq:' .. d.old, d.tid) end
    redis.call('ZADD', P .. 'techq:' .. d.tech, d.pos, d.tid)
    redis.call('HSET', key, 'status', 'ASSIGNED', 'tech', d.tech, 'asg', d.asg, 'ureason', '',
      'version', nv, 'updated', NOW)
    move(d.tid, d.prio, d.created, d.due, d.st, 'ASSIGNED')
    if d.old == '' then d.code = 'ASSIGNED' else d.code = 'REASSIGNED' end
    emit({'type', 'TICKET_' .. d.code, 'tk', d.tid, 'tc', d.tech, 'ptc', d.old,
      'st', 'ASSIGNED', 'v', nv, 'p', d.prio, 'asg', d.asg, 'sid', sid})
    if d.via_queue then d.code = 'REASSIGNED' end
  elseif d.st == 'ASSIGNED' then
    nv = nv + 1
    redis.call('ZREM', P .. 'techq:' .. d.old, d.tid)
    redis.call('HSET', key, 'status', 'QUEUED', 'tech', '', 'asg', '', 'ureason', d.reason,
      'version', nv, 'updated', NOW)
    move(d.tid, d.prio, d.created, d.due, 'ASSIGNED', 'QUEUED')
    d.code = 'UNASSIGNED'
    emit({'type', 'TICKET_UNASSIGNED', 'tk', d.tid, 'ptc', d.old, 'st', 'QUEUED', 'v', nv,
      'p', d.prio, 'ur', d.reason, 'sid', sid})
  elseif d.ureason ~= d.reason then
    nv = nv + 1
    redis.call('HSET', key, 'ureason', d.reason, 'version', nv, 'updated', NOW)
    d.code = 'UNASSIGNABLE'
    emit({'type', 'TICKET_UNASSIGNABLE', 'tk', d.tid, 'st', 'QUEUED', 'v', nv, 'p', d.prio,
      'ur', d.reason, 'sid', sid})
  else
    d.code = 'UNCHANGED'
  end
  d.tver = nv
end
-- a move out of a ring of full technicians goes through QUEUED first: UNASSIGNED now (its
-- place is free for the ring's next arrival), ASSIGNED when its target has room
local function requeue(d)
  local nv = d.tver + 1
  redis.call('ZREM', P .. 'techq:' .. d.old, d.tid)
  redis.call('HSET', P .. 'ticket:' .. d.tid, 'status', 'QUEUED', 'tech', '', 'asg', '',
    'version', nv, 'updated', NOW)
  move(d.tid, d.prio, d.created, d.due, 'ASSIGNED', 'QUEUED')
  emit({'type', 'TICKET_UNASSIGNED', 'tk', d.tid, 'ptc', d.old, 'st', 'QUEUED', 'v', nv,
    'p', d.prio, 'ur', 'CAPACITY', 'sid', sid,
    'r', 'on its way to ' .. d.tech .. ', full until a move of this solve'})
  d.tver, d.old, d.st, d.via_queue = nv, '', 'QUEUED', true
end
-- Event order: replayed in stream order, the events never show a technician over capacity
-- (the state a consumer rebuilds is one a single step could have left). Decisions that take
-- no place (unassign, reason, refresh) go first; then each arrival as soon as its
-- technician has room (a reassignment frees its old place as it goes); when every arrival
-- left waits for a full technician, the moves form a ring (e.g. a swap), broken by sending
-- one of them through QUEUED. The queues written so far are the state the events show.
local pending = {}
for _, d in ipairs(D) do
  if d.code == 'OK' then
    if d.tech ~= '' and d.tech ~= d.old then pending[#pending + 1] = d else apply(d) end
  end
end
while #pending > 0 do
  local waiting = {}
  for _, d in ipairs(pending) do
    if redis.call('ZCARD', P .. 'techq:' .. d.tech) < cap[d.tech] then
      apply(d)
    else
      waiting[#waiting + 1] = d
    end
  end
  if #waiting == #pending then
    local ring = nil
    for _, d in ipairs(waiting) do
      if d.old ~= '' and ring == nil then ring = d end
    end
    if ring then
      requeue(ring)
    else
      -- unreachable while every queue is within capacity (the check above); never loop
      for _, d in ipairs(waiting) do apply(d) end
      waiting = {}
    end
  end
  pending = waiting
end
for _, d in ipairs(D) do
  out[#out + 1] = d.code
  out[#out + 1] = d.tver
end
return out
"""
)

SNAPSHOT = r"""
-- ARGV[1] region prefix. Open tickets (hashes), technicians (hashes + queues), lease value.
local P = ARGV[1]
-- open tickets = the union of the per-status/priority sets of the open statuses
local ids = {}
local tickets = {}
for _, st in ipairs({'QUEUED', 'ASSIGNED', 'ACCEPTED', 'IN_PROGRESS'}) do
  for p = 1, 4 do
    for _, id in ipairs(redis.call('ZRANGE', P .. 's:' .. st .. ':' .. p, 0, -1)) do
      ids[#ids + 1] = id
      tickets[#tickets + 1] = redis.call('HGETALL', P .. 'ticket:' .. id)
    end
  end
end
local tids = redis.call('ZRANGE', P .. 'techs', 0, -1)
local techs = {}
local queues = {}
for i, id in ipairs(tids) do
  techs[i] = redis.call('HGETALL', P .. 'tech:' .. id)
  queues[i] = redis.call('ZRANGE', P .. 'techq:' .. id, 0, -1)
end
return {ids, tickets, tids, techs, queues, redis.call('GET', P .. 'lease') or ''}
"""

CLAIM_IDS = r"""
-- KEYS[1] id -> region hash, KEYS[2] region set; ARGV[1] region, ARGV[2..] ids.
-- Returns per id the region already holding it ('' when newly claimed or the same region).
local out = {}
redis.call('SADD', KEYS[2], ARGV[1])
for i = 2, #ARGV do
  local prev = redis.call('HGET', KEYS[1], ARGV[i])
  if prev and prev ~= ARGV[1] then
    out[#out + 1] = prev
  else
    if not prev then redis.call('HSET', KEYS[1], ARGV[i], ARGV[1]) end
    out[#out + 1] = ''
  end
end
return out
"""


BOUNDED_SNAPSHOT = r"""
-- ARGV[1] region prefix, ARGV[2] most QUEUED tickets to return, ARGV[3] '1' = include the
-- technicians. Like the store's SNAPSHOT (same reply shape, plus the total QUEUED count),
-- but of the QUEUED tickets only the most urgent: P1 first, oldest first (the
-- per-status/priority sets are scored by submit time); technicians without their queues
-- (the solver does not use them), and only when asked.
local P, maxq = ARGV[1], tonumber(ARGV[2])
local ids = {}
for _, st in ipairs({'ASSIGNED', 'ACCEPTED', 'IN_PROGRESS'}) do
  for p = 1, 4 do
    for _, id in ipairs(redis.call('ZRANGE', P .. 's:' .. st .. ':' .. p, 0, -1)) do
      ids[#ids + 1] = id
    end
  end
end
local total = 0
for p = 1, 4 do total = total + redis.call('ZCARD', P .. 's:QUEUED:' .. p) end
local left = maxq
for p = 1, 4 do
  if left <= 0 then break end
  local q = redis.call('ZRANGE', P .. 's:QUEUED:' .. p, 0, left - 1)
  for _, id in ipairs(q) do ids[#ids + 1] = id end
  left = left - #q
end
local tickets = {}
for i, id in ipairs(ids) do tickets[i] = redis.call('HGETALL', P .. 'ticket:' .. id) end
local tids, techs, queues = {}, {}, {}
if ARGV[3] == '1' then
  tids = redis.call('ZRANGE', P .. 'techs', 0, -1)
  for i, id in ipairs(tids) do
    techs[i] = redis.call('HGETALL', P .. 'tech:' .. id)
    queues[i] = {}
  end
end
return {ids, tickets, tids, techs, queues, redis.call('GET', P .. 'lease') or '', total}
"""
