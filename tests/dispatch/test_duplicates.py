"""Duplicate index: asset and geo/time matches, stale candidates forgotten, override."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dispatcher.duplicates import DuplicateProbe, is_duplicate
from dispatcher.store.duplicates import DuplicateIndex
from solver.policy import DuplicateRule

if TYPE_CHECKING:
    import redis.asyncio as aioredis

RULE = DuplicateRule(radius_m=100.0, window_s=600.0)


def test_pure_rule() -> None:
    """Same asset always; same category only within radius and window."""
    a = DuplicateProbe("A", "light", 0.0, 42.35, -71.06, "asset-1")
    assert is_duplicate(
        RULE, DuplicateProbe("B", "other", 9999.0, asset_id="asset-1"), a
    )
    assert is_duplicate(RULE, DuplicateProbe("B", "light", 100.0, 42.3503, -71.0602), a)
    assert not is_duplicate(RULE, DuplicateProbe("B", "light", 100.0, 42.36, -71.06), a)
    assert not is_duplicate(
        RULE, DuplicateProbe("B", "light", 700.0, 42.3503, -71.0602), a
    )
    assert not is_duplicate(
        RULE, DuplicateProbe("B", "tree", 100.0, 42.3503, -71.0602), a
    )


async def test_index_links_and_forgets(redis_client: aioredis.Redis) -> None:
    """A nearby same-category ticket links to the open one; a closed one is forgotten."""
    index = DuplicateIndex(redis_client)
    open_ids = {"T1"}

    async def is_open(ticket_id: str) -> tuple[bool, str, str]:
        return ticket_id in open_ids, "light", ""

    first = DuplicateProbe("T1", "light", 1000.0, 42.35, -71.06)
    near = DuplicateProbe("T2", "light", 1100.0, 42.3503, -71.0602)
    far = DuplicateProbe("T3", "light", 1100.0, 42.36, -71.06)
    assert await index.find_duplicate("acme", "n", RULE, first, is_open) is None
    assert await index.find_duplicate("acme", "n", RULE, near, is_open) == "T1"
    assert await index.find_duplicate("acme", "n", RULE, far, is_open) is None
    # allowed by the client: the link is still reported, and the ticket is registered
    allowed = await index.find_duplicate(
        "acme", "n", RULE, near, is_open, allow_duplicate=True
    )
    assert allowed == "T1"
    open_ids.clear()
    late = DuplicateProbe("T4", "light", 1200.0, 42.3501, -71.0601)
    # T1 closed (forgotten), T2/T3 registered but closed too: nothing matches
    assert await index.find_duplicate("acme", "n", RULE, late, is_open) is None
