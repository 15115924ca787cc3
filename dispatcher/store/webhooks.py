"""Webhook subscriptions, dead letters and the delivery primitives in Redis.

Subscriptions are a tenant hash (JSON per subscription, secret included). Delivery reads
the region event streams through one consumer group per subscription (``wh:<id>``), so the
position and the entries in flight (the pending entries list) live in Redis, not in a
process: whichever process holds the (stream, subscription) lease delivers, and after a
crash the next holder claims the dead holder's pending entries (``XAUTOCLAIM``) and sends
them again. Dead letters are a stream per subscription; a replay moves them, atomically,
to the subscription's replay stream, which is delivered like a region stream.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import orjson
from redis.exceptions import ResponseError

from dispatcher.backend.cluster import replicas_hold
from dispatcher.domain import EventType
from dispatcher.store import keys
from dispatcher.webhooks.model import DeadLetter, Subscription

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import redis.asyncio as aioredis

DEAD_LETTERS_MAX = 100_000
"""Dead letters kept per subscription (oldest dropped beyond, approximately)."""

Entry = tuple[str, dict[str, str]]
"""A stream entry: id and fields."""

# KEYS[1] dead letters, KEYS[2] replay stream; ARGV: dead letter ids (none = all).
# Moves them in order; returns how many moved.
_REPLAY = """
local ids = ARGV
if #ids == 0 then
  ids = {}
  for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do ids[#ids + 1] = e[1] end
end
local moved = 0
for _, id in ipairs(ids) do
  local e = redis.call('XRANGE', KEYS[1], id, id)
  if #e == 1 then
    redis.call('XADD', KEYS[2], '*', unpack(e[1][2]))
    redis.call('XDEL', KEYS[1], id)
    moved = moved + 1
  end
end
return moved
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def subscription_to_json(s: Subscription) -> str:
    return orjson.dumps(
        {
            "id": s.subscription_id,
            "url": s.url,
            "secret": s.secret,
            "types": sorted(t.value for t in s.event_types),
            "regions": sorted(s.regions),
            "description": s.description,
            "created": s.created_at_ms,
        }
    ).decode()


def subscription_from_json(text: str) -> Subscription:
    d = orjson.loads(text)
    return Subscription(
        subscription_id=d["id"],
        url=d["url"],
        secret=d["secret"],
        event_types=frozenset(EventType(t) for t in d["types"]),
        regions=frozenset(d["regions"]),
        description=d["description"],
        created_at_ms=int(d["created"]),
    )


def dead_letter_fields(d: DeadLetter) -> dict[str, str | bytes]:
    return {
        "wid": d.webhook_id,
        "region": d.region,
        "eid": d.event_id,
        "type": d.event_type,
        "tk": d.ticket_id,
        "attempts": str(d.attempts),
        "error": d.last_error,
        "first": str(d.first_attempt_at_ms),
        "dead": str(d.dead_at_ms),
        "body": d.body,
    }


def dead_letter_from_entry(entry_id: str, f: dict[str, str]) -> DeadLetter:
    return DeadLetter(
        dead_letter_id=entry_id,
        webhook_id=f["wid"],
        region=f["region"],
        event_id=f["eid"],
        event_type=f["type"],
        ticket_id=f["tk"],
        attempts=int(f["attempts"]),
        last_error=f["error"],
        first_attempt_at_ms=int(f["first"]),
        dead_at_ms=int(f["dead"]),
        body=f["body"].encode(),
    )


def _entries(reply: Any) -> list[Entry]:
    return [(str(i), dict(f)) for i, f in reply or () if f is not None]


class WebhookStore:
    """Every Redis call of the webhooks (``decode_responses=True`` client)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis: Any = redis
        self._replay = redis.register_script(_REPLAY)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    # --- subscriptions ------------------------------------------------------------------

    async def put(self, tenant: str, sub: Subscription) -> None:
        await self._redis.hset(
            keys.webhook_subscriptions_key(tenant),
            sub.subscription_id,
            subscription_to_json(sub),
        )
        await self._redis.sadd(keys.WEBHOOK_TENANTS_KEY, tenant)

    async def get(self, tenant: str, subscription_id: str) -> Subscription | None:
        text = await self._redis.hget(
            keys.webhook_subscriptions_key(tenant), subscription_id
        )
        return None if text is None else subscription_from_json(text)

    async def subscriptions(self, tenant: str) -> list[Subscription]:
        raw = await self._redis.hgetall(keys.webhook_subscriptions_key(tenant))
        subs = [subscription_from_json(v) for v in raw.values()]
        return sorted(subs, key=lambda s: (s.created_at_ms, s.subscription_id))

    async def delete(self, tenant: str, subscription_id: str) -> bool:
        removed = await self._redis.hdel(
            keys.webhook_subscriptions_key(tenant), subscription_id
        )
        await self._redis.delete(
            keys.webhook_dead_letters_key(tenant, subscription_id),
            keys.webhook_replay_key(tenant, subscription_id),
        )
        group = keys.WEBHOOK_GROUP_PREFIX + subscription_id
        for region in await self.regions(tenant):
            with contextlib.suppress(ResponseError):  # no such stream or group
                await self._redis.xgroup_destroy(keys.events_key(tenant, region), group)
        return bool(removed)

    async def tenants(self) -> list[str]:
        return sorted(await self._redis.smembers(keys.WEBHOOK_TENANTS_KEY))

    async def regions(self, tenant: str) -> list[str]:
        return sorted(await self._redis.smembers(keys.regions_key(tenant)))

    # --- dead letters -------------------------------------------------------------------

    async def add_dead_letter(
        self, tenant: str, subscription_id: str, dead: DeadLetter
    ) -> str:
        return str(
            await self._redis.xadd(
                keys.webhook_dead_letters_key(tenant, subscription_id),
                dead_letter_fields(dead),
                maxlen=DEAD_LETTERS_MAX,
                approximate=True,
            )
        )

    async def dead_letters(
        self, tenant: str, subscription_id: str, after: str, count: int
    ) -> list[DeadLetter]:
        start = f"({after}" if after else "-"
        reply = await self._redis.xrange(
            keys.webhook_dead_letters_key(tenant, subscription_id),
            start,
            "+",
            count=count,
        )
        return [dead_letter_from_entry(i, f) for i, f in _entries(reply)]

    async def replay(
        self, tenant: str, subscription_id: str, dead_letter_ids: Sequence[str]
    ) -> int:
        return int(
            await self._replay(
                keys=[
                    keys.webhook_dead_letters_key(tenant, subscription_id),
                    keys.webhook_replay_key(tenant, subscription_id),
                ],
                args=list(dead_letter_ids),
            )
        )

    # --- consumer groups ----------------------------------------------------------------

    async def ensure_group(self, stream: str, group: str, start_id: str) -> None:
        """Create the group at ``start_id`` unless it exists (creating the stream too)."""
        try:
            await self._redis.xgroup_create(stream, group, id=start_id, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def claim_pending(
        self, stream: str, group: str, consumer: str, count: int
    ) -> list[Entry]:
        """Every entry delivered to the group and not acknowledged, whoever read it, now
        this consumer's (oldest first); entries trimmed meanwhile are dropped by Redis."""
        claimed: list[Entry] = []
        cursor = "0-0"
        while True:
            reply = await self._redis.xautoclaim(
                stream, group, consumer, min_idle_time=0, start_id=cursor, count=count
            )
            cursor = str(reply[0])
            claimed += _entries(reply[1])
            if cursor == "0-0":
                return claimed

    async def read_new(
        self, stream: str, group: str, consumer: str, count: int, block_ms: int
    ) -> list[Entry]:
        reply = await self._redis.xreadgroup(
            group, consumer, {stream: ">"}, count=count, block=block_ms
        )
        return [e for _, entries in reply or () for e in _entries(entries)]

    async def replicas_hold(self, stream: str) -> bool:
        """True when the required replicas hold everything read from ``stream`` so far
        (``backend.cluster.replicas_hold``)."""
        return await replicas_hold(self._redis, [stream])

    async def ack(self, stream: str, group: str, ids: Iterable[str]) -> None:
        ids = list(ids)
        if ids:
            await self._redis.xack(stream, group, *ids)

    # --- leases -------------------------------------------------------------------------

    async def acquire(self, key: str, token: str, ttl_ms: int) -> bool:
        return bool(await self._redis.set(key, token, nx=True, px=ttl_ms))

    async def renew(self, key: str, token: str, ttl_ms: int) -> bool:
        return bool(int(await self._renew(keys=[key], args=[token, ttl_ms])))

    async def release(self, key: str, token: str) -> None:
        await self._release(keys=[key], args=[token])
