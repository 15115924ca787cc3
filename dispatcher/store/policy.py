"""Versioned policies in Redis: the current record per tenant and region, and its history.

A record is the policy's JSON (``solver.policy.policy_to_json``) with its version, who
changed it, when and why. Every update is one script: compare the expected version, bump,
write the current record and append it to the history (capped at ``HISTORY_MAX``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dispatcher.store import keys
from solver.policy import Policy, policy_from_json, policy_to_json, validate

if TYPE_CHECKING:
    import redis.asyncio as aioredis

TENANT_SCOPE = ""
"""Scope of the tenant-wide policy; a region name scopes a per-region override."""

HISTORY_MAX = 1000
"""Versions kept per tenant and scope."""


class PolicyConflict(Exception):
    """An update named an expected version that is no longer current."""


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    """One stored version of a policy."""

    tenant: str
    scope: str  # TENANT_SCOPE or a region
    version: int
    policy: Policy
    updated_by: str
    updated_at_ms: int
    comment: str = ""


# KEYS[1] current, KEYS[2] history; ARGV[1] expected version (-1 = any), ARGV[2] record
# JSON without version, ARGV[3] history cap. Returns the new version or -1 on conflict.
_UPDATE = """
local cur = redis.call('GET', KEYS[1])
local version = 0
if cur then version = cjson.decode(cur)['version'] end
local expected = tonumber(ARGV[1])
if expected >= 0 and expected ~= version then return -1 end
local rec = cjson.decode(ARGV[2])
rec['version'] = version + 1
local text = cjson.encode(rec)
redis.call('SET', KEYS[1], text)
redis.call('RPUSH', KEYS[2], text)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
return version + 1
"""


def _version_from_record(tenant: str, scope: str, text: str | bytes) -> PolicyVersion:
    rec = json.loads(text)
    return PolicyVersion(
        tenant=tenant,
        scope=scope,
        version=int(rec["version"]),
        policy=policy_from_json(rec["policy"]),
        updated_by=str(rec.get("updated_by", "")),
        updated_at_ms=int(rec.get("updated_at_ms", 0)),
        comment=str(rec.get("comment", "")),
    )


class PolicyStore:
    """Versioned policies in Redis; an unset policy reads as the defaults (version 0)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._update = redis.register_script(_UPDATE)
        self._parsed: dict[tuple[str, str], tuple[str | bytes, PolicyVersion]] = {}
        self._default = Policy()

    def _decode(self, tenant: str, scope: str, text: str | bytes) -> PolicyVersion:
        """Parse a stored record, reusing the last parse of the same text (the solve loop
        reads the policy every cycle; parsing and validating it each time is wasted work)."""
        key = (tenant, scope)
        hit = self._parsed.get(key)
        if hit is not None and hit[0] == text:
            return hit[1]
        version = _version_from_record(tenant, scope, text)
        if len(self._parsed) > 10_000:
            self._parsed.clear()
        self._parsed[key] = (text, version)
        return version

    async def get(self, tenant: str, scope: str = TENANT_SCOPE) -> PolicyVersion:
        """The policy stored for exactly this scope (defaults when none)."""
        text = await self._redis.get(keys.policy_key(tenant, scope))
        if text is None:
            return PolicyVersion(tenant, scope, 0, self._default, "", 0)
        return self._decode(tenant, scope, text)

    async def effective(self, tenant: str, region: str) -> PolicyVersion:
        """The region's override when there is one, else the tenant's policy (one MGET: both
        keys carry the tenant's hash tag)."""
        override, base = await self._redis.mget(
            keys.policy_key(tenant, region), keys.policy_key(tenant, TENANT_SCOPE)
        )
        if override is not None:
            return self._decode(tenant, region, override)
        if base is not None:
            return self._decode(tenant, TENANT_SCOPE, base)
        return PolicyVersion(tenant, TENANT_SCOPE, 0, self._default, "", 0)

    async def update(
        self,
        tenant: str,
        policy: Policy,
        *,
        updated_by: str,
        scope: str = TENANT_SCOPE,
        expected_version: int | None = None,
        comment: str = "",
    ) -> PolicyVersion:
        """Store a validated policy as the next version; ``PolicyConflict`` on a lost race."""
        validate(policy)
        now_ms = int(time.time() * 1000)
        record = {
            "policy": policy_to_json(policy),
            "updated_by": updated_by,
            "updated_at_ms": now_ms,
            "comment": comment,
        }
        version = int(
            await self._update(
                keys=[
                    keys.policy_key(tenant, scope),
                    keys.policy_history_key(tenant, scope),
                ],
                args=[
                    -1 if expected_version is None else expected_version,
                    json.dumps(record),
                    HISTORY_MAX,
                ],
            )
        )
        if version < 0:
            raise PolicyConflict(
                f"policy of {tenant!r} changed; expected version {expected_version}"
            )
        return PolicyVersion(
            tenant, scope, version, policy, updated_by, now_ms, comment
        )

    async def history(
        self, tenant: str, scope: str = TENANT_SCOPE, limit: int = 100
    ) -> list[PolicyVersion]:
        """Stored versions, newest first."""
        texts = await self._redis.lrange(
            keys.policy_history_key(tenant, scope), -max(1, limit), -1
        )
        return [_version_from_record(tenant, scope, t) for t in reversed(texts)]
