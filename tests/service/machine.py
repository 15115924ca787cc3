"""Shared frame of the hypothesis state machines that drive the real store: each example
gets its own event loop and Redis client on the session's server (flushed first)."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine

from dispatcher.runtime.context import redis_client as make_redis_client

REDIS_URL: dict[str, str] = {}
"""Set by the ``machine_url`` fixture (hypothesis builds machines without fixtures)."""


class RedisMachine(RuleBasedStateMachine):
    """A state machine with ``self.redis`` (flushed) and ``self.run(coro)``."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.redis = make_redis_client(REDIS_URL["url"])
        self.run(self.redis.flushall())

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(self.redis.aclose())
        self.loop.close()


def run_machine(machine: type[RedisMachine], examples: int, steps: int) -> None:
    """Run ``machine`` for ``examples`` random programs of up to ``steps`` rules."""
    state = machine.TestCase
    state.settings = settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
        ],
    )
    state().runTest()
