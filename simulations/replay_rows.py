"""The row steps of a replay load: skip a row or adjust a value, and say so.

Each step takes the frame of ``simulations.replay`` (typed columns beside the raw text of
each role, ``raw_column(role)``, and the spreadsheet row number ``ROW``) and appends a
:class:`~simulations.replay_report.RowIssue` for every row it skips or changes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from simulations.replay_report import SKIPPED, RowIssue

ROW = "source_row"
# SLA window upper bounds (hours) for P1, P2, P3; anything longer (or no target) is P4.
BOSTON311_PRIORITY_WINDOWS_H = (25.0, 73.0, 721.0)


def raw_column(role: str) -> str:
    """The frame column holding a role's source text (trimmed; empty = null)."""
    return f"raw_{role}"


@dataclass(frozen=True, slots=True)
class LocationRule:
    """What to do with an unknown location (see ``simulations.replay``)."""

    unknown: str = "drop"  # drop | keep | sample
    lat_deg: float | None = None  # the source's no-geocode point, if it has one
    lon_deg: float | None = None
    seed: int = 0  # of "sample"


def flag(
    df: pl.DataFrame,
    mask: pl.Expr | pl.Series,
    role: str,
    problem: str,
    action: str,
    issues: list[RowIssue],
    value: str | None = None,
) -> None:
    """Record one issue per row of ``df`` where ``mask`` holds, with the source value of
    column ``value`` (default: the role's raw column; "" for none)."""
    hit = df.filter(mask)
    column = raw_column(role) if value is None else value
    values = hit[column].to_list() if column else [None] * hit.height
    issues.extend(
        RowIssue(row, role, v, problem, action)
        for row, v in zip(hit[ROW].to_list(), values, strict=True)
    )


def skip_undated(df: pl.DataFrame, issues: list[RowIssue]) -> pl.Series:
    """Rows without a usable creation time (reported whatever the window: it is unknown)."""
    empty = pl.col(raw_column("created")).is_null()
    bad = pl.col("created_at").is_null() & ~empty
    flag(df, empty, "created", "is empty", SKIPPED, issues)
    flag(df, bad, "created", "is not a date-time", SKIPPED, issues)
    return df.select(pl.col("created_at").is_null()).to_series()


def in_window(
    df: pl.DataFrame, lo: dt.datetime | None, hi: dt.datetime | None
) -> pl.DataFrame:
    if lo is not None:
        df = df.filter(pl.col("created_at") >= lo)
    if hi is not None:
        df = df.filter(pl.col("created_at") < hi)
    return df


def skip_bad_ids(df: pl.DataFrame, issues: list[RowIssue]) -> pl.DataFrame:
    """Skip rows without an id and later rows repeating one (the first in the file stays)."""
    df = df.sort(ROW).with_columns(
        pl.col(ROW).first().over("ticket_id").alias("first_row")
    )
    empty = pl.col("ticket_id").is_null()
    repeat = ~empty & (pl.col(ROW) != pl.col("first_row"))
    flag(df, empty, "id", "is empty", SKIPPED, issues)
    again = df.filter(repeat)
    issues.extend(
        RowIssue(row, "id", f"{tid} (first at row {first})", "repeats", SKIPPED)
        for row, tid, first in again.select(ROW, "ticket_id", "first_row").iter_rows()
    )
    return df.filter(~empty & ~repeat).drop("first_row")


UNKNOWN_LABEL = "unknown"


def unknown_label(role: str) -> pl.Expr:
    """A skill or category: its source text, ``unknown`` where empty (``flag_unknown_labels``)."""
    return pl.col(raw_column(role)).fill_null(UNKNOWN_LABEL).alias(role)


def flag_unknown_labels(df: pl.DataFrame, issues: list[RowIssue]) -> None:
    """Report the loaded rows whose empty skill or category became ``unknown``."""
    for role in ("skill", "category"):
        empty = pl.col(raw_column(role)).is_null()
        flag(df, empty, role, "is empty", UNKNOWN_LABEL, issues)


def settle_due_times(df: pl.DataFrame, issues: list[RowIssue]) -> pl.DataFrame:
    """An unparseable due time becomes none; one before the creation is clamped to it."""
    due, created = pl.col("resolution_due_at"), pl.col("created_at")
    bad = pl.col(raw_column("resolution_due")).is_not_null() & due.is_null()
    flag(df, bad, "resolution_due", "is not a date-time", "no due time", issues)
    flag(
        df,
        due < created,
        "resolution_due",
        "is before created",
        "clamped to created",
        issues,
    )
    return df.with_columns(
        pl.when(due < created).then(created).otherwise(due).alias("resolution_due_at")
    )


def settle_priorities(
    df: pl.DataFrame, rule: str, issues: list[RowIssue]
) -> pl.DataFrame:
    if rule == "sla_window":
        return df.with_columns(_sla_window_priority().alias("priority"))
    p, given = pl.col("priority"), pl.col(raw_column("priority"))
    flag(df, given.is_null(), "priority", "is empty", "P4", issues)
    flag(
        df,
        given.is_not_null() & p.is_null(),
        "priority",
        "is not an integer",
        "P4",
        issues,
    )
    # P0 is the most urgent level of many trackers: 0 (and below) reads as P1, the
    # most urgent here; a file whose 0 means "no priority" should leave it empty (P4)
    flag(df, p < 1, "priority", "is below 1", PRIORITY_BELOW_1, issues)
    flag(df, p > 4, "priority", "is above 4", "P4", issues)
    return df.with_columns(p.fill_null(4).clip(1, 4))


PRIORITY_BELOW_1 = "P1 (the most urgent, as a P0)"


def settle_work_times(df: pl.DataFrame, issues: list[RowIssue]) -> pl.DataFrame:
    """The work time in seconds (NaN = none: the category's mean is used instead)."""
    bad = (
        pl.col(raw_column("work_time")).is_not_null() & pl.col("work_time_s").is_null()
    )
    flag(df, bad, "work_time", "is not a number > 0", "category mean used", issues)
    return df.with_columns(pl.col("work_time_s").fill_null(float("nan")))


def settle_closed_times(df: pl.DataFrame, issues: list[RowIssue]) -> pl.DataFrame:
    """An unparseable closing time, or one not after the creation, becomes none: such a
    row gives no work time (``simulations.replay_work``) and is otherwise loaded."""
    closed, created = pl.col("closed_at"), pl.col("created_at")
    bad = pl.col(raw_column("closed")).is_not_null() & closed.is_null()
    early = closed <= created
    flag(df, bad, "closed", "is not a date-time", NO_CLOSED_TIME, issues)
    flag(df, early, "closed", "is not after created", NO_CLOSED_TIME, issues)
    return df.with_columns(
        pl.when(early).then(None).otherwise(closed).alias("closed_at")
    )


NO_CLOSED_TIME = "no closed time (no work time from it)"


def _sla_window_priority() -> pl.Expr:
    """P1..P4 from the source's own SLA window (``resolution_due - created``)."""
    window_h = (
        pl.col("resolution_due_at") - pl.col("created_at")
    ).dt.total_seconds() / 3600.0
    p1, p2, p3 = BOSTON311_PRIORITY_WINDOWS_H
    return (
        pl.when(window_h.is_null())
        .then(4)
        .when(window_h <= p1)
        .then(1)
        .when(window_h <= p2)
        .then(2)
        .when(window_h <= p3)
        .then(3)
        .otherwise(4)
        .cast(pl.Int64)
    )


def settle_locations(
    df: pl.DataFrame, rule: LocationRule, issues: list[RowIssue], *, mapped: bool
) -> pl.DataFrame:
    """Flag unknown locations and drop, keep or sample them (``unknown_location``); with
    no location columns mapped, no ticket has one (no travel: a help desk)."""
    if not mapped:
        none = pl.lit(float("nan"))
        return df.with_columns(
            none.alias("lat_deg"),
            none.alias("lon_deg"),
            pl.lit(False).alias("location_known"),
        )
    lat, lon = pl.col("lat_deg"), pl.col("lon_deg")
    empty = pl.col(raw_column("lat")).is_null() | pl.col(raw_column("lon")).is_null()
    invalid = ~empty & (lat.is_null() | lon.is_null())
    at_default = pl.lit(False)
    if rule.lat_deg is not None and rule.lon_deg is not None:
        at_default = ((lat - rule.lat_deg).abs() < 1e-6) & (
            (lon - rule.lon_deg).abs() < 1e-6
        )
    df = df.with_columns(
        pl.concat_str(
            pl.col(raw_column("lat")), pl.lit(","), pl.col(raw_column("lon"))
        ).alias("raw_location"),
        (~(empty | invalid | at_default.fill_null(False))).alias("location_known"),
    )
    action = _UNKNOWN_ACTIONS[rule.unknown]
    if rule.unknown == "keep" and rule.lat_deg is None:
        action = "kept without a location (no travel)"
    for mask, problem, value in (
        (empty, "is empty", "raw_location"),
        (invalid, "is not degrees in range", "raw_location"),
        (at_default.fill_null(False), "is the source's no-geocode point", ""),
    ):
        flag(df, mask, "location", problem, action, issues, value=value)
    known = pl.col("location_known")
    if rule.unknown == "drop":
        return df.filter(known)
    nan = float("nan")
    fill_lat = nan if rule.lat_deg is None else rule.lat_deg
    fill_lon = nan if rule.lon_deg is None else rule.lon_deg
    df = df.with_columns(
        pl.when(known).then(lat).otherwise(pl.lit(fill_lat)).alias("lat_deg"),
        pl.when(known).then(lon).otherwise(pl.lit(fill_lon)).alias("lon_deg"),
    )
    if rule.unknown == "sample":
        df = _impute_locations(df, np.random.default_rng(rule.seed))
    return df


_UNKNOWN_ACTIONS = {
    "drop": SKIPPED,
    "keep": "kept at the no-geocode point",
    "sample": "sampled from the same skill's known locations",
}


def _impute_locations(df: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Each unknown location drawn from the known ones of the same skill, else of all."""
    known = df["location_known"].to_numpy()
    if known.all() or not known.any():
        return df
    lat = df["lat_deg"].to_numpy().copy()
    lon = df["lon_deg"].to_numpy().copy()
    skills = df["skill"].to_numpy()
    known_idx = np.flatnonzero(known)
    by_skill: dict[Any, np.ndarray] = {}
    for s in np.unique(skills[known_idx]):
        by_skill[s] = known_idx[skills[known_idx] == s]
    for i in np.flatnonzero(~known):
        pool = by_skill.get(skills[i], known_idx)
        j = pool[rng.integers(pool.shape[0])]
        lat[i], lon[i] = lat[j], lon[j]
    return df.with_columns(pl.Series("lat_deg", lat), pl.Series("lon_deg", lon))


def virtual_clock(df: pl.DataFrame, start: dt.datetime | None) -> pl.DataFrame:
    """Seconds since ``start`` (default: midnight of the first ticket's day)."""
    t0 = start
    if t0 is None:
        first = df["created_at"].min() if df.height else dt.datetime(1970, 1, 1)
        assert isinstance(first, dt.datetime)
        t0 = dt.datetime(first.year, first.month, first.day)
    zero = pl.lit(t0, dtype=pl.Datetime("us"))
    return df.with_columns(
        ((pl.col("created_at") - zero).dt.total_microseconds() / 1e6).alias(
            "created_s"
        ),
        ((pl.col("resolution_due_at") - zero).dt.total_microseconds() / 1e6)
        .fill_null(float("nan"))
        .alias("resolution_due_s"),
        ((pl.col("closed_at") - zero).dt.total_microseconds() / 1e6)
        .fill_null(float("nan"))
        .alias("closed_s"),
    )
