"""The Redis state store: every key, every Lua script, every ``redis.call`` of the product."""
