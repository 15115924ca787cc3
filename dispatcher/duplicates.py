"""The duplicate-ticket rule: the same asset, or the same category nearby and recently.

``is_duplicate`` is the rule on two tickets; the store's index (``dispatcher.store.
duplicates``) applies the same rule atomically in Redis when a ticket is submitted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from solver.policy import DuplicateRule

EARTH_RADIUS_M = 6_371_000.0


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True, slots=True)
class DuplicateProbe:
    """The fields of a new ticket that duplicate detection looks at."""

    ticket_id: str
    category: str
    created_s: float
    lat_deg: float | None = None
    lon_deg: float | None = None
    asset_id: str = ""


def is_duplicate(rule: DuplicateRule, new: DuplicateProbe, old: DuplicateProbe) -> bool:
    """The pure rule (the Lua script implements the same): same asset, or same category
    within ``radius_m`` and ``window_s``."""
    if not rule.enabled or new.ticket_id == old.ticket_id:
        return False
    if rule.by_asset and new.asset_id and new.asset_id == old.asset_id:
        return True
    if (
        new.category != old.category
        or abs(new.created_s - old.created_s) > rule.window_s
    ):
        return False
    if None in (new.lat_deg, new.lon_deg, old.lat_deg, old.lon_deg):
        return False
    d = haversine_m(new.lat_deg, new.lon_deg, old.lat_deg, old.lon_deg)  # type: ignore[arg-type]
    return d <= rule.radius_m
