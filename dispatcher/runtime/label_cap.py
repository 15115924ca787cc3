"""Bounded client-chosen label values (``region``, ``tenant``): beyond a cap they become ``other``.

docs/DESIGN.md §8: the first ``limit`` distinct values of a capped label keep their name,
every later one is reported as ``other``. Counters and histograms add up under ``other`` by
themselves; a gauge's ``other`` series shows the sum of the overflowed values' latest values
(or another ``combine``, e.g. ``max`` for an age), never whichever one was set last.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from prometheus_client import Gauge

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    Combine = Callable[[Iterable[float]], float]

logger = logging.getLogger(__name__)

OTHER = "other"
"""The label value of every value beyond a cap."""


class LabelCap:
    """Bounds one label: the first ``limit`` distinct values keep their name, later ones
    are reported as ``other`` (logged once)."""

    def __init__(self, label: str, limit: int) -> None:
        self.label = label
        self.limit = limit
        self._seen: set[str] = set()
        self.overflowed = False

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) < self.limit:
            self._seen.add(value)
            return value
        if not self.overflowed:
            self.overflowed = True
            logger.warning(
                "more than %d %ss: further ones are reported as %s=%r in metrics",
                self.limit,
                self.label,
                self.label,
                OTHER,
            )
        return OTHER


class _OverflowShare:
    """What a capped gauge's ``labels()`` returns for a series beyond a cap: its own value
    is kept in ``values`` (by its real label values) and the shared ``other`` series shows
    ``combine`` of all of them."""

    def __init__(
        self,
        child: Any,
        values: dict[tuple[str, ...], float],
        origin: tuple[str, ...],
        combine: Combine,
    ) -> None:
        self._child = child
        self._values = values
        self._origin = origin
        self._combine = combine

    def set(self, value: float) -> None:
        self._values[self._origin] = float(value)
        self._child.set(self._combine(self._values.values()))

    def inc(self, amount: float = 1.0) -> None:
        self.set(self._values.get(self._origin, 0.0) + amount)

    def dec(self, amount: float = 1.0) -> None:
        self.set(self._values.get(self._origin, 0.0) - amount)


def cap_labels(metric: Any, caps: Iterable[LabelCap], combine: Combine = sum) -> None:
    """Make ``metric.labels(...)`` pass each capped label's value through its cap.

    Metrics without any of the capped labels are left alone. For a gauge, a series whose
    labels were capped shows ``combine`` (sum by default) of the real series it stands for.
    """
    names = tuple(metric._labelnames)
    applied = [cap for cap in caps if cap.label in names]
    if not applied:
        return
    labels = metric.labels
    shares: dict[tuple[str, ...], dict[tuple[str, ...], float]] = {}

    def capped(*values: Any, **kw: Any) -> Any:
        if values and (kw or len(values) != len(names)):
            return labels(*values, **kw)  # a wrong call: let prometheus_client say why
        given = dict(zip(names, map(str, values), strict=True)) if values else {}
        given |= {k: str(v) for k, v in kw.items()}
        if any(cap.label not in given for cap in applied):
            return labels(*values, **kw)
        origin = tuple(given[cap.label] for cap in applied)
        for cap in applied:
            given[cap.label] = cap(given[cap.label])
        child = labels(**given)
        if origin == tuple(given[cap.label] for cap in applied):
            return child
        if not isinstance(metric, Gauge):
            return child
        key = tuple(given[name] for name in names)
        return _OverflowShare(child, shares.setdefault(key, {}), origin, combine)

    metric.labels = capped
