"""The versioned policy store on a real Redis (the model itself: tests/solver/test_policy.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from dispatcher.store.policy import PolicyConflict, PolicyStore
from solver.policy import Policy, SlaTarget

if TYPE_CHECKING:
    import redis.asyncio as aioredis


async def test_store_versions_and_history(redis_client: aioredis.Redis) -> None:
    """Updates bump the version, record who and when, and keep the history newest first."""
    store = PolicyStore(redis_client)
    assert (await store.get("acme")).version == 0
    v1 = await store.update("acme", Policy(), updated_by="alice")
    faster = Policy(sla={1: SlaTarget(60.0, 600.0)})
    v2 = await store.update("acme", faster, updated_by="bob", expected_version=1)
    assert (v1.version, v2.version) == (1, 2)
    current = await store.get("acme")
    assert current.policy == faster
    assert current.updated_by == "bob"
    assert current.updated_at_ms > 0
    assert [h.updated_by for h in await store.history("acme")] == ["bob", "alice"]
    with pytest.raises(PolicyConflict):
        await store.update("acme", Policy(), updated_by="carol", expected_version=1)
    # a region override wins over the tenant policy; other regions see the tenant's
    await store.update("acme", Policy(), updated_by="dave", scope="north")
    assert (await store.effective("acme", "north")).scope == "north"
    assert (await store.effective("acme", "south")).policy == faster
    assert (await store.get("other")).version == 0
