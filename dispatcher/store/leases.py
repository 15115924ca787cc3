"""The Redis side of region leases: fencing tokens, renewals and the solver registry.

Acquiring a lease bumps the region's counter (``INCR``) and stores the new value, the
*fencing token*, in the lease key with a TTL, both in one script; renew and release check
the token first. The store's commit scripts read the same lease key (``keys.lease_key``)
and refuse a commit with another token. Acquire and renew wait for the replicas the
client's durability mode asks for (``backend.cluster.write_script``), so a failover cannot
hand out a fencing token twice; a lost release only lets the lease expire by itself.
The policy (fair share, timing) lives in ``dispatcher.loop.leases``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dispatcher.backend.cluster import write_script
from dispatcher.store import keys

if TYPE_CHECKING:
    from collections.abc import Callable

    import redis.asyncio as aioredis

# KEYS[1] lease, KEYS[2] counter, KEYS[3] owner; ARGV[1] ttl ms, ARGV[2] owner id.
# Returns the new token, or 0 when held.
_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token, 'PX', tonumber(ARGV[1]))
redis.call('SET', KEYS[3], ARGV[2], 'PX', tonumber(ARGV[1]))
return token
"""

# KEYS[1] lease, KEYS[2] owner; ARGV[1] token, ARGV[2] ttl ms. 1 = renewed, 0 = lost.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]))
  return 1
end
return 0
"""

# KEYS[1] lease; ARGV[1] token. 1 = released, 0 = not ours.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


class LeaseStore:
    """Lease scripts and the registry of live solver processes on one client."""

    def __init__(
        self, redis: aioredis.Redis, *, on_replication_timeout: Callable[[], None]
    ) -> None:
        self._redis = redis
        self._on_timeout = on_replication_timeout
        self._scripts: dict[str, Any] = {}

    def _script(self, body: str) -> Any:
        """The script object, made at first use: the client's durability mode
        (``backend.cluster.set_replication``) may be set after this store is built."""
        script = self._scripts.get(body)
        if script is None:
            if body is _RELEASE:
                script = self._redis.register_script(body)
            else:
                script = write_script(self._redis, body, on_timeout=self._on_timeout)
            self._scripts[body] = script
        return script

    async def acquire(self, tenant: str, region: str, ttl_ms: int, owner: str) -> int:
        """The new fencing token, or 0 when the region is held."""
        return int(
            await self._script(_ACQUIRE)(
                keys=[
                    keys.lease_key(tenant, region),
                    keys.lease_counter_key(tenant, region),
                    keys.lease_owner_key(tenant, region),
                ],
                args=[ttl_ms, owner],
            )
        )

    async def renew(self, tenant: str, region: str, token: int, ttl_ms: int) -> bool:
        """Extend a lease still held with ``token``; False when it was lost."""
        return bool(
            await self._script(_RENEW)(
                keys=[
                    keys.lease_key(tenant, region),
                    keys.lease_owner_key(tenant, region),
                ],
                args=[token, ttl_ms],
            )
        )

    async def release(self, tenant: str, region: str, token: int) -> None:
        await self._script(_RELEASE)(
            keys=[keys.lease_key(tenant, region)], args=[token]
        )

    async def heartbeat(self, owner: str, ttl_ms: int) -> int:
        """Refresh ``owner`` in the registry; return how many processes are live."""
        secs, micros = await self._redis.time()
        now_ms = int(secs) * 1000 + int(micros) // 1000
        # One key, so no transaction is needed (and a Redis Cluster pipeline stays simple).
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(keys.SOLVER_REGISTRY_KEY, {owner: now_ms + ttl_ms})
            pipe.zremrangebyscore(keys.SOLVER_REGISTRY_KEY, "-inf", now_ms)
            pipe.zcard(keys.SOLVER_REGISTRY_KEY)
            results = await pipe.execute()
        return max(1, int(results[-1]))

    async def leave(self, owner: str) -> None:
        await self._redis.zrem(keys.SOLVER_REGISTRY_KEY, owner)
