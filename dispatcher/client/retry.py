"""The client's retry rules: which failures are safe to try again, and how long to wait.

| gRPC code | retried | why it is safe |
|---|---|---|
| UNAVAILABLE | yes | server restarting, connection lost, or a write not yet confirmed by replicas: the retry carries the same request id (submits) or is checked against the ticket (lifecycle) |
| DEADLINE_EXCEEDED | yes | the answer was lost, not necessarily the write: same as above |
| CANCELLED | yes | the server cancelled the call (shutdown) |
| RESOURCE_EXHAUSTED | yes | load shed before any work was done |
| anything else | no | the answer is final (INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, ABORTED...) |
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import grpc

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

T = TypeVar("T")

RETRYABLE_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)


def is_retryable(error: BaseException) -> bool:
    """Whether a failed call may be sent again (same request id) under the rules above."""
    return isinstance(error, grpc.aio.AioRpcError) and error.code() in RETRYABLE_CODES


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many attempts and how long between them (exponential, capped, with jitter)."""

    attempts: int = 6
    """Tries of one call, the first included."""
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 5.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts: must be >= 1, got {self.attempts}")
        if not 0 < self.initial_backoff_s <= self.max_backoff_s:
            raise ValueError("backoff: need 0 < initial_backoff_s <= max_backoff_s")

    def backoff_s(self, attempt: int) -> float:
        """Pause after failed attempt ``attempt`` (1-based): half fixed, half random."""
        ceiling = min(self.max_backoff_s, self.initial_backoff_s * 2 ** (attempt - 1))
        return float(ceiling / 2 + self.rng.uniform(0, ceiling / 2))


async def call_with_retry(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_retry: Callable[[grpc.aio.AioRpcError], None] | None = None,
) -> T:
    """``await call()``, again after a retryable failure, up to ``policy.attempts`` times.
    ``call`` must send the same request each time (the same request id)."""
    for attempt in range(1, policy.attempts):
        try:
            return await call()
        except grpc.aio.AioRpcError as exc:
            if not is_retryable(exc):
                raise
            if on_retry is not None:
                on_retry(exc)
            await asyncio.sleep(policy.backoff_s(attempt))
    return await call()  # the last attempt: its failure is the caller's
