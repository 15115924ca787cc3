"""A synthetic ticket export in a city's own format, and the replay file that maps it.

Usage::

    python -m benchmarks.foreign_export --out DIR [--rows 2500] [--days 3] [--seed 5]
    dispatcher sim compare boston311 --replay DIR/export.toml --seeds 3 --seed-offset 50 \\
        --horizon-s 259200 --policies optimizer,priority_edd,regret,least_loaded

A stream unlike the shipped Boston replay, to try the bring-your-own-data path and the
policies on (simulations/README.md, "Bring your own data"): written as a NYC 311 export
is (``Unique Key``, ``Created Date`` as ``11/04/2023 05:16:53 AM``, ``Agency``,
``Complaint Type``, ...), five agencies as skills, tickets arriving round the clock at an
even rate from 4 November 2023 (the US clocks change on the 5th), response-or-resolution
dues 4 h, 8 h, 1 day or 3 days after creation with a help desk's priorities
(``2 - High``), and the faults a real export has, each at a fixed stride so that a reader
can count them: every 97th row has no location (skipped), every 211th is due an hour
before it was created (clamped), every 5th due is a date alone (end of that day), every
7th row has no closed time. Closed times are creation plus a lognormal number of minutes
(median ~55): the replay takes each category's work time from them. Rows are generated
over the whole ``--days`` and a little past it (arrivals are random): the replay window
keeps those created within it. Deterministic for a ``--seed``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from pathlib import Path

AGENCIES = (
    ("Noise", "NYPD"),
    ("HEAT/HOT WATER", "HPD"),
    ("Street Condition", "DOT"),
    ("Water System", "DEP"),
    ("Sanitation", "DSNY"),
)
PRIORITIES = ("1 - Critical", "2 - High", "3 - Moderate", "4 - Low")
START = dt.datetime(2023, 11, 4)
STAMP = "%m/%d/%Y %I:%M:%S %p"
HEADER = (
    "Unique Key,Created Date,Closed Date,Agency,Complaint Type,Latitude,Longitude,"
    "Due Date,Priority"
)
REPLAY = """[replay]
path = "export.csv"
format = "csv"
start = "{start}"
duration_days = {days}
timestamp_format = "%m/%d/%Y %I:%M:%S %p"
unknown_location = "drop"
duration_mean_s = 2700.0
duration_cv = 0.6
skill_level = 1

[replay.columns]
id = "Unique Key"
created = "Created Date"
closed = "Closed Date"
category = "Complaint Type"
skill = "Agency"
lat = "Latitude"
lon = "Longitude"
resolution_due = "Due Date"
priority = "Priority"
"""


def export_rows(rows: int, days: float, seed: int) -> list[str]:
    """The CSV's lines, header first (module docstring)."""
    rng = random.Random(seed)
    lines = [HEADER]
    created = START
    for i in range(rows):
        created += dt.timedelta(seconds=rng.expovariate(rows / (days * 86400)))
        kind, agency = rng.choice(AGENCIES)
        lat, lon = 40.6 + rng.random() * 0.25, -74.05 + rng.random() * 0.3
        closed = created + dt.timedelta(minutes=rng.lognormvariate(4, 1))
        due = created + dt.timedelta(hours=rng.choice((4, 8, 24, 72)))
        where = ("", "") if i % 97 == 0 else (f"{lat:.6f}", f"{lon:.6f}")
        due_text = due.strftime(STAMP) if i % 5 else due.strftime("%m/%d/%Y")
        if i % 211 == 0:
            due_text = (created - dt.timedelta(hours=1)).strftime(STAMP)
        priority = rng.choice(PRIORITIES)
        closed_text = closed.strftime(STAMP) if i % 7 else ""
        lines.append(
            f"{30000000 + i},{created.strftime(STAMP)},{closed_text},{agency},{kind},"
            f"{where[0]},{where[1]},{due_text},{priority}"
        )
    return lines


def write_export(out: Path, rows: int = 2500, days: float = 3.0, seed: int = 5) -> Path:
    """Write ``export.csv`` and ``export.toml`` (its replay file) into ``out``; return the
    replay file's path."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "export.csv").write_text("\n".join(export_rows(rows, days, seed)) + "\n")
    replay = out / "export.toml"
    replay.write_text(REPLAY.format(start=START.isoformat(), days=days))
    return replay


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="directory to write into")
    ap.add_argument("--rows", type=int, default=2500, help="rows generated")
    ap.add_argument("--days", type=float, default=3.0, help="replay window, days")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args(argv)
    if args.rows < 1 or not args.days > 0:
        raise SystemExit("foreign_export: --rows and --days must be positive")
    print(write_export(args.out, args.rows, args.days, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
