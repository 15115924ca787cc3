"""The demo's replayed scenario: Boston 311 tickets (2015 Q3) as demo tickets, and synthetic
technicians per region sized to the replay's work queues (see ``dispatcher.demo.command``)."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

    import polars as pl

DEFAULT_START = "2015-07-06T07:00:00"  # a Monday morning
SKILL_CHARS = re.compile(r"[^A-Za-z0-9._:/-]+")
MAX_SKILLS = 64
DEPARTMENTS = ("PWDx", "ISD", "BTDT", "PARK", "INFO")
"""Departments that get a region of their own; the rest share region OTHER."""


# --- the replayed scenario ---------------------------------------------------------------------


def _region(queue: str) -> str:
    dept = queue.split("_", 1)[0]
    if dept.startswith("INFO"):
        dept = "INFO"
    return dept if dept in DEPARTMENTS else "OTHER"


def _skill(queue: str) -> str:
    return SKILL_CHARS.sub("-", queue).strip("-")[:MAX_SKILLS] or "general"


@dataclass(frozen=True, slots=True)
class DemoTicket:
    ticket_id: str
    region: str
    category: str
    priority: int
    skill: str
    lat: float
    lon: float
    at_s: float  # wall seconds after the start of the replay
    work_s: int  # compressed work duration
    resolution_window_s: float  # compressed; inf = none in the source


def load_scenario(args: argparse.Namespace) -> list[DemoTicket]:
    """The Boston 311 tickets of ``duration x speed`` replay seconds from ``--start``."""
    import datetime as dt

    import numpy as np

    from simulations.replay import load_boston311

    start = dt.datetime.fromisoformat(args.start)
    end = start + dt.timedelta(seconds=args.duration * args.speed)
    frame: pl.DataFrame = load_boston311(
        start=start, end=end, unknown_location="sample", seed=args.seed
    )
    rng = np.random.default_rng(args.seed)
    work_real = rng.lognormal(
        math.log(2400.0), 0.5, frame.height
    )  # ~40 min median on site
    out = []
    for i, row in enumerate(frame.iter_rows(named=True)):
        due = row["resolution_due_s"]
        window = (due - row["created_s"]) / args.speed if due == due else math.inf
        out.append(
            DemoTicket(
                ticket_id=str(row["ticket_id"]),
                region=_region(row["skill"]),
                category=str(row["category"])[:64],
                priority=int(row["priority"]),
                skill=_skill(row["skill"]),
                lat=float(row["lat_deg"]),
                lon=float(row["lon_deg"]),
                at_s=float(row["created_s"]) / args.speed,
                work_s=max(1, round(work_real[i] / args.speed)),
                resolution_window_s=max(window, 1.0),
            )
        )
    return out


def technicians_for(
    tickets: list[DemoTicket], total: int, seed: int
) -> list[dict[str, Any]]:
    """Technicians per region in proportion to its volume, with its most common skills."""
    import numpy as np

    rng = np.random.default_rng(seed)
    by_region: dict[str, list[DemoTicket]] = defaultdict(list)
    for t in tickets:
        by_region[t.region].append(t)
    out: list[dict[str, Any]] = []
    for region, items in sorted(by_region.items()):
        n = max(2, round(total * len(items) / max(1, len(tickets))))
        counts: dict[str, int] = defaultdict(int)
        for t in items:
            counts[t.skill] += 1
        skills = sorted(counts, key=lambda s: -counts[s])[:MAX_SKILLS]
        for k in range(n):
            home = items[int(rng.integers(len(items)))]
            out.append(
                {
                    "technician_id": f"{region}-tech-{k:02d}",
                    "region": region,
                    "skills": [(s, int(rng.integers(1, 4))) for s in skills],
                    "lat": home.lat,
                    "lon": home.lon,
                }
            )
    return out
