"""The Redis state store: every key, every Lua script, every ``redis.call`` of the product."""

from dispatcher.store import keys
from dispatcher.store.policy import PolicyConflict, PolicyStore, PolicyVersion
from dispatcher.store.state import RedisStateStore, RegionSnapshot

__all__ = [
    "PolicyConflict",
    "PolicyStore",
    "PolicyVersion",
    "RedisStateStore",
    "RegionSnapshot",
    "keys",
]
