"""The SLA step's writes: at-risk, breach and escalation marks and events in one script per
region, fenced by the lease token (the rules that decide them: ``solver.sla``).

Each action fires once per ticket: the script keeps a hash of the marks already signalled
(``keys.sla_marks_key``) and appends the event only for a new mark.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from dispatcher.store import keys
from dispatcher.store.lua import PRELUDE, script
from dispatcher.store.outcomes import ScriptReply
from dispatcher.store.state import now_ms
from solver.sla import SlaMarks

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import redis.asyncio as aioredis

    from dispatcher.sla import SlaAction

# ARGV[4] lease token, ARGV[5] n, then per action: kind, ticket id, arg1, arg2, details JSON.
# kind: risk (arg1 -) | breach (arg1 response|resolution) | esc (arg1 rule, arg2 new prio;
# details with a supervisor_target also append the SUPERVISOR_NOTIFIED notice; details with
# declined_by -- every able technician declined the ticket -- lift its declines).
# Returns per action 1 (applied) / 0 (ticket gone, closed or already marked); or the
# string LEASE when the token is not current (nothing applied).
_APPLY = r"""
local token, n = ARGV[4], tonumber(ARGV[5])
if redis.call('GET', P .. K.LEASE) ~= token then return R.LEASE end
local out = {}
local j = 6
for i = 1, n do
  local kind, id, a1, a2, det = ARGV[j], ARGV[j + 1], ARGV[j + 2], ARGV[j + 3], ARGV[j + 4]
  j = j + 5
  local key = P .. K.TICKET .. id
  local h = redis.call('HMGET', key, 'status', 'version', 'tech', 'prio', 'created', 'due', 'esc')
  local res = 0
  if h[1] and OPEN[h[1]] then
    local mt = redis.call('HGET', P .. K.SLA_MARKS, id)
    local m = {}
    if mt then m = cjson.decode(mt) end
    if kind == 'risk' and not m['r'] then
      m['r'] = 1
      emit({'type', EV.TICKET_SLA_AT_RISK, 'tk', id, 'tc', h[3] or '', 'st', h[1], 'v', h[2],
        'p', h[4], 'r', 'predicted', 'd', det})
      res = 1
    elseif kind == 'breach' and not m[a1] then
      m[a1] = 1
      emit({'type', EV.TICKET_SLA_BREACHED, 'tk', id, 'tc', h[3] or '', 'st', h[1], 'v', h[2],
        'p', h[4], 'r', a1, 'd', det})
      res = 1
    elseif kind == 'esc' then
      local done = m['e'] or {}
      local fired = false
      for _, x in ipairs(done) do if x == a1 then fired = true end end
      if not fired then
        done[#done + 1] = a1
        m['e'] = done
        local nv = tonumber(h[2]) + 1
        if a2 ~= h[4] then
          redis.call('ZREM', P .. K.STATUS_PRIO .. h[1] .. ':' .. h[4], id)
          redis.call('ZREM', P .. K.DUE .. h[4], id)
          move(id, a2, h[5], h[6], nil, h[1])
        end
        redis.call('HSET', key, 'prio', a2, 'esc', tonumber(h[7] or '0') + 1, 'version', nv,
          'updated', NOW)
        local dd = cjson.decode(det)
        if dd['body'] then
          -- tier escalation: the new required skills (the body is written by Python)
          redis.call('HSET', key, 'body', dd['body'])
          dd['body'] = nil
          det = cjson.encode(dd)
        end
        if dd['declined_by'] then
          -- escalated because every able technician declined: the declines are lifted
          redis.call('HSET', key, 'declined', '[]')
        end
        emit({'type', EV.TICKET_ESCALATED, 'tk', id, 'tc', h[3] or '', 'st', h[1], 'v', nv,
          'p', a2, 'r', a1, 'd', det})
        if cjson.decode(det)['supervisor_target'] then
          emit({'type', EV.SUPERVISOR_NOTIFIED, 'tk', id, 'tc', h[3] or '', 'st', h[1],
            'v', nv, 'p', a2, 'r', a1, 'd', det})
        end
        res = 1
      end
    end
    if res == 1 then redis.call('HSET', P .. K.SLA_MARKS, id, cjson.encode(m)) end
  end
  out[i] = res
end
return out
"""


def marks_from_json(text: str | None) -> SlaMarks:
    """Decode the marks hash value written by the ``_APPLY`` script."""
    if not text:
        return SlaMarks()
    m = json.loads(text)
    return SlaMarks(
        at_risk=bool(m.get("r")),
        response_breached=bool(m.get("response")),
        resolution_breached=bool(m.get("resolution")),
        escalated=frozenset(m.get("e") or ()),
    )


class SlaRecorder:
    """Applies ``SlaAction``s atomically in a region's slot, fenced by the lease token."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._apply = redis.register_script(script(PRELUDE + _APPLY))

    async def marks(self, tenant: str, region: str) -> dict[str, SlaMarks]:
        raw = await self._redis.hgetall(keys.sla_marks_key(tenant, region))
        return {str(k): marks_from_json(str(v)) for k, v in raw.items()}

    async def forget(self, tenant: str, region: str, ticket_ids: Iterable[str]) -> None:
        """Drop the marks of tickets that are no longer open."""
        ids = list(ticket_ids)
        if ids:
            await self._redis.hdel(keys.sla_marks_key(tenant, region), *ids)

    async def apply(
        self,
        tenant: str,
        region: str,
        token: str,
        actions: Sequence[SlaAction],
        maxlen: int,
    ) -> list[bool] | None:
        """Record the actions; None when the lease token is not current (nothing applied)."""
        if not actions:
            return []
        args: list[str | int] = [
            keys.region_prefix(tenant, region),
            now_ms(),
            maxlen,
            token,
        ]
        args.append(len(actions))
        for a in actions:
            args += [a.kind, a.ticket_id, a.arg1, a.arg2 or "", a.details]
        reply = await self._apply(keys=[keys.events_key(tenant, region)], args=args)
        if reply == ScriptReply.LEASE:
            return None
        return [bool(int(x)) for x in reply]
