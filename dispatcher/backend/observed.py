"""The one choke point for the store's Redis metrics.

``instrument(store, metrics)`` wraps the store's Lua scripts and its direct client (``_r``)
so every round trip observes ``dispatch_redis_command_duration_seconds{command}`` and every
failure counts in ``dispatch_redis_errors_total{kind}`` (``backend.redis_errors``). Label values are bounded: a script's
label is its attribute name on the store (``submit``, ``transition``, ...), a direct
command's label is the redis-py method name (``hget``, ``smembers``, ...) and a pipeline's
is ``pipeline``. A ``ReplicationTimeout`` is not counted here (the store's ``on_timeout``
hook already counts it).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisClusterException, RedisError

from dispatcher.backend.cluster import ReplicationTimeout, call_script_batch
from dispatcher.backend.redis_errors import redis_error_kind

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from dispatcher.runtime.metrics import DispatchMetrics

SCRIPT_ATTRIBUTES = (
    "_submit",
    "_transition",
    "_update",
    "_upsert_tech",
    "_availability",
    "_location",
    "_remove_tech",
    "_commit",
    "_snapshot",
    "_claim",
)
"""The store's script attributes; the label is the name without the underscore."""


def count_error(metrics: DispatchMetrics, exc: BaseException) -> None:
    """Count one failed Redis call, or one failed part of a call's reply (a submit group's
    error reply), in ``dispatch_redis_errors_total{kind}``."""
    metrics.redis_errors_total.labels(kind=redis_error_kind(exc)).inc()


async def _observe(
    metrics: DispatchMetrics, command: str, awaitable: Awaitable[Any]
) -> Any:
    start = time.perf_counter()
    try:
        return await awaitable
    except ReplicationTimeout:
        raise
    except (RedisError, RedisClusterException) as exc:
        count_error(metrics, exc)
        raise
    finally:
        metrics.redis_command_duration_seconds.labels(command=command).observe(
            time.perf_counter() - start
        )


class TimedScript:
    """A registered script (or ``ReplicatedScript``) whose direct calls are measured.

    A call with ``client=`` (queued in a pipeline) is not a round trip of its own: the
    pipeline's ``execute`` is measured instead.
    """

    def __init__(self, script: Any, name: str, metrics: DispatchMetrics) -> None:
        self._script = script
        self._name = name
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        return getattr(self._script, name)

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("client") is not None:
            return await self._script(*args, **kwargs)
        return await _observe(self._metrics, self._name, self._script(*args, **kwargs))

    async def timed_batch(
        self,
        client: Any,
        calls: Sequence[tuple[Sequence[Any], Sequence[Any]]],
        *,
        return_exceptions: bool = False,
    ) -> list[Any]:
        """``backend.cluster.call_script_batch`` of the script, timed as one round trip;
        each failed call counts in ``dispatch_redis_errors_total``."""
        results = list(
            await _observe(
                self._metrics,
                self._name,
                call_script_batch(client, self._script, calls, return_exceptions=True),
            )
        )
        failures = [r for r in results if isinstance(r, Exception)]
        for exc in failures:
            count_error(self._metrics, exc)
        if failures and not return_exceptions:
            raise failures[0]
        return results


class _TimedPipeline:
    def __init__(self, pipe: Any, metrics: DispatchMetrics) -> None:
        self._pipe = pipe
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pipe, name)

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        return await _observe(
            self._metrics, "pipeline", self._pipe.execute(*args, **kwargs)
        )


class TimedClient:
    """A redis client proxy: awaitable command calls are measured, by method name."""

    def __init__(self, client: Any, metrics: DispatchMetrics) -> None:
        self._client = client
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr
        if name == "pipeline":

            def pipeline(*args: Any, **kwargs: Any) -> _TimedPipeline:
                return _TimedPipeline(attr(*args, **kwargs), self._metrics)

            return pipeline
        return self._timed(name, attr)

    def _timed(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        metrics = self._metrics

        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            if hasattr(result, "__await__"):
                return _observe(metrics, name, result)
            return result

        return call


def instrument(store: Any, metrics: DispatchMetrics) -> None:
    """Wrap ``store``'s scripts and direct client (``_r``) with the Redis metrics."""
    for attr in SCRIPT_ATTRIBUTES:
        script = getattr(store, attr, None)
        if script is not None:
            setattr(store, attr, TimedScript(script, attr.lstrip("_"), metrics))
    store._r = TimedClient(store._r, metrics)
