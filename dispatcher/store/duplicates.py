"""The duplicate index in Redis, and the fenced write of a duplicate link.

Per tenant, region and category a GEO set holds the open tickets' locations, a sorted set
their submit times, and one hash maps asset ids to tickets (keys in ``keys.py``).
``match_or_register`` runs one Lua script: it returns the candidates a new ticket
duplicates (asset first, then nearest within the radius and time window; the rule of
``dispatcher.duplicates.is_duplicate``) or, when there are none, registers the new ticket
atomically, so two identical tickets submitted at once cannot both be dispatched. Entries
are never trusted blindly: the caller confirms that a candidate is still open and
``forget``s the ones that are not. All keys carry the region's hash tag.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from dispatcher.store import keys
from dispatcher.store.lua import PRELUDE, script
from dispatcher.store.outcomes import ScriptReply
from dispatcher.store.state import now_ms

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import redis.asyncio as aioredis

    from dispatcher.duplicates import DuplicateProbe
    from solver.policy import DuplicateRule

MAX_CANDIDATES = 5
"""Candidates one match returns (nearest first)."""


# KEYS: geo, time, asset.  ARGV: ticket, lon, lat, has_loc, radius_m, window_s, now_s,
# asset, by_asset, check (1 = look for duplicates, 0 = register only), max candidates.
# Returns candidate ticket ids (empty table = registered).
_MATCH_OR_REGISTER = """
local ticket, lon, lat = ARGV[1], ARGV[2], ARGV[3]
local has_loc, radius, window = ARGV[4] == '1', tonumber(ARGV[5]), tonumber(ARGV[6])
local now, asset, by_asset = tonumber(ARGV[7]), ARGV[8], ARGV[9] == '1'
local check, max_n, always = ARGV[10] == '1', tonumber(ARGV[11]), ARGV[12] == '1'
-- forget entries older than the window (bounded work per call)
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - window, 'LIMIT', 0, 100)
for _, m in ipairs(old) do
  redis.call('ZREM', KEYS[2], m)
  redis.call('ZREM', KEYS[1], m)
end
if check then
  local found = {}
  if by_asset and asset ~= '' then
    local other = redis.call('HGET', KEYS[3], asset)
    if other and other ~= ticket then table.insert(found, other) end
  end
  if has_loc and radius > 0 then
    local near = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', lon, lat,
                            'BYRADIUS', radius, 'm', 'ASC', 'COUNT', max_n)
    for _, m in ipairs(near) do
      if m ~= ticket then
        local t = redis.call('ZSCORE', KEYS[2], m)
        if t and now - tonumber(t) <= window and tonumber(t) <= now then
          table.insert(found, m)
        end
      end
    end
  end
  if #found > 0 and not always then return found end
  if #found > 0 then
    if asset ~= '' and not redis.call('HGET', KEYS[3], asset) then
      redis.call('HSET', KEYS[3], asset, ticket)
    end
    if has_loc then
      redis.call('GEOADD', KEYS[1], lon, lat, ticket)
      redis.call('ZADD', KEYS[2], now, ticket)
    end
    return found
  end
end
if asset ~= '' then redis.call('HSET', KEYS[3], asset, ticket) end
if has_loc then
  redis.call('GEOADD', KEYS[1], lon, lat, ticket)
  redis.call('ZADD', KEYS[2], now, ticket)
end
return {}
"""

# KEYS: geo, time, asset.  ARGV: ticket, asset.
_FORGET = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[2] ~= '' and redis.call('HGET', KEYS[3], ARGV[2]) == ARGV[1] then
  redis.call('HDEL', KEYS[3], ARGV[2])
end
return 1
"""


def _decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class DuplicateIndex:
    """Redis glue of duplicate detection for one store."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._match = redis.register_script(_MATCH_OR_REGISTER)
        self._forget = redis.register_script(_FORGET)

    async def match_or_register(
        self,
        tenant: str,
        region: str,
        rule: DuplicateRule,
        probe: DuplicateProbe,
        *,
        allow_duplicate: bool = False,
    ) -> list[str]:
        """Candidates ``probe`` duplicates, nearest first (asset match first).

        Empty: no match, and ``probe`` was registered. With ``allow_duplicate`` the
        candidates are still returned (the link is reported) and ``probe`` is registered too.
        """
        lat, lon = probe.lat_deg, probe.lon_deg
        # Place matching needs a category: "nearby" alone says nothing about the same issue.
        has_loc = lat is not None and lon is not None and bool(probe.category)
        result = await self._match(
            keys=self._keys(tenant, region, probe.category),
            args=[
                probe.ticket_id,
                lon if lon is not None else 0.0,
                lat if lat is not None else 0.0,
                "1" if has_loc else "0",
                rule.radius_m,
                rule.window_s,
                probe.created_s,
                probe.asset_id if rule.by_asset else "",
                "1" if rule.by_asset else "0",
                "1" if rule.enabled else "0",
                MAX_CANDIDATES,
                "1" if allow_duplicate else "0",
            ],
        )
        return [_decode(v) for v in result or []]

    async def forget(
        self,
        tenant: str,
        region: str,
        ticket_id: str,
        category: str,
        asset_id: str = "",
    ) -> None:
        """Drop a ticket from the index (it closed, or it was found stale)."""
        await self._forget(
            keys=self._keys(tenant, region, category), args=[ticket_id, asset_id]
        )

    async def find_duplicate(
        self,
        tenant: str,
        region: str,
        rule: DuplicateRule,
        probe: DuplicateProbe,
        is_open: Callable[[str], Awaitable[tuple[bool, str, str]]],
        *,
        allow_duplicate: bool = False,
    ) -> str | None:
        """The open ticket ``probe`` duplicates, or None (then ``probe`` is registered).

        ``is_open(ticket_id) -> (open, category, asset_id)`` asks the store; stale
        candidates are forgotten and the match is retried (a few times at most).
        """
        for _ in range(4):
            candidates = await self.match_or_register(
                tenant, region, rule, probe, allow_duplicate=allow_duplicate
            )
            if not candidates:
                return None
            for candidate in candidates:
                still_open, category, asset = await is_open(candidate)
                if still_open:
                    return candidate
                await self.forget(
                    tenant, region, candidate, category or probe.category, asset
                )
        return None

    @staticmethod
    def _keys(tenant: str, region: str, category: str) -> list[str]:
        return [
            keys.duplicate_geo_key(tenant, region, category),
            keys.duplicate_time_key(tenant, region, category),
            keys.duplicate_asset_key(tenant, region),
        ]


# --- linking in the store: the ticket hash's ``dup`` field + one event, lease-fenced ------

# ARGV[4] lease token, ARGV[5] ticket id, ARGV[6] original id ('' = release the link),
# ARGV[7] details JSON. Returns 1 applied, 0 gone/closed/unchanged, 'LEASE'.
_LINK = r"""
if redis.call('GET', P .. K.LEASE) ~= ARGV[4] then return R.LEASE end
local id, orig = ARGV[5], ARGV[6]
local key = P .. K.TICKET .. id
local h = redis.call('HMGET', key, 'status', 'version', 'prio', 'dup', 'tech')
if not h[1] or not OPEN[h[1]] or (h[4] or '') == orig then return 0 end
local nv = tonumber(h[2]) + 1
redis.call('HSET', key, 'dup', orig, 'version', nv, 'updated', NOW)
if orig ~= '' then
  emit({'type', EV.TICKET_DUPLICATE_DETECTED, 'tk', id, 'st', h[1], 'v', nv, 'p', h[3],
    'dup', orig, 'd', ARGV[7]})
else
  emit({'type', EV.TICKET_UPDATED, 'tk', id, 'tc', h[5] or '', 'st', h[1], 'v', nv, 'p', h[3],
    'r', 'duplicate link released', 'd', ARGV[7]})
end
return 1
"""


class DuplicateLinker:
    """Writes a duplicate link (or its release) on a ticket, with its event."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._link = redis.register_script(script(PRELUDE + _LINK))

    async def link(
        self,
        tenant: str,
        region: str,
        token: str,
        ticket_id: str,
        original_id: str,
        *,
        held_back: bool,
        maxlen: int,
    ) -> bool | None:
        """Link ``ticket_id`` to ``original_id`` ('' releases); None when the lease is lost."""
        details = json.dumps({"held_back": "true" if held_back else "false"})
        reply = await self._link(
            keys=[keys.events_key(tenant, region)],
            args=[
                keys.region_prefix(tenant, region),
                now_ms(),
                maxlen,
                token,
                ticket_id,
                original_id,
                details,
            ],
        )
        if reply == ScriptReply.LEASE:
            return None
        return bool(int(reply))
