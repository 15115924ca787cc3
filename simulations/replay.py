"""Replayed ticket streams: a real CSV mapped onto ticket records (polars).

``load_boston311()`` reads the shipped Boston 311 extract (2015 Q3, see
``simulations/data/SOURCE.md``); ``load_ticket_csv()`` reads any CSV through a column mapping.
Both return one row per ticket sorted by creation time, in the schema of
:data:`TICKET_SCHEMA`, and do no simulation: the service's ``dispatcher demo`` replays the
same frame over gRPC.

Boston 311 mapping
------------------
- ``QUEUE`` (the crew / work queue) -> ``skill``; ``TYPE`` -> ``category``;
  ``CASE_ENQUIRY_ID`` -> ``ticket_id``; ``OPEN_DT`` -> ``created_at``;
  ``TARGET_DT`` (the city's own SLA deadline) -> ``resolution_due_at``.
- **Priority** is derived from the city's SLA window ``TARGET_DT - OPEN_DT``, i.e. from how
  urgent the city itself considered the case type: <= 1 day (+1 h tolerance) -> P1,
  <= 3 days -> P2, <= 30 days -> P3, longer or no target -> P4. On the Q3 extract that gives
  about 5% P1, 14% P2, 37% P3, 44% P4. A target earlier than the open time is clamped to it.
- **Unknown location**: 4,673 rows carry the city's default geocode 42.3594,-71.0587 (City
  Hall); they get ``location_known = False`` and, by ``unknown_location``: ``"keep"`` the
  City Hall point, ``"drop"`` the row, or ``"sample"`` a location drawn (seeded) from the
  known locations of the same skill (queue), else from all known locations.
- Timestamps are Boston local wall-clock time, naive; no DST handling is needed inside one
  quarter for relative times.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

BOSTON311_PATH = Path(__file__).parent / "data" / "boston311_2015Q3.csv.gz"
BOSTON311_COLUMNS: dict[str, str] = {
    "id": "CASE_ENQUIRY_ID",
    "created": "OPEN_DT",
    "resolution_due": "TARGET_DT",
    "category": "TYPE",
    "skill": "QUEUE",
    "lat": "LATITUDE",
    "lon": "LONGITUDE",
}
BOSTON311_TIMESTAMP_FORMAT = "%m/%d/%Y %I:%M:%S %p"
CITY_HALL_LAT_DEG = 42.3594
CITY_HALL_LON_DEG = -71.0587
# SLA window upper bounds (hours) for P1, P2, P3; anything longer (or no target) is P4.
BOSTON311_PRIORITY_WINDOWS_H = (25.0, 73.0, 721.0)

TICKET_SCHEMA: dict[str, Any] = {
    "ticket_id": pl.String,
    "created_at": pl.Datetime("us"),
    "created_s": pl.Float64,  # seconds since the replay start (virtual clock)
    "category": pl.String,
    "skill": pl.String,
    "priority": pl.Int64,  # 1 = P1 (highest) .. 4
    "lat_deg": pl.Float64,
    "lon_deg": pl.Float64,
    "location_known": pl.Boolean,
    "resolution_due_at": pl.Datetime("us"),  # null = no target in the source
    "resolution_due_s": pl.Float64,  # seconds since the replay start; NaN = none
}


def _to_datetime(value: str | dt.datetime | dt.date | None) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    return dt.datetime.fromisoformat(value)


def load_ticket_csv(
    path: str | Path,
    columns: Mapping[str, str],
    *,
    timestamp_format: str = BOSTON311_TIMESTAMP_FORMAT,
    priority_rule: str = "sla_window",
    start: str | dt.datetime | dt.date | None = None,
    end: str | dt.datetime | dt.date | None = None,
    limit: int | None = None,
    unknown_location: str = "keep",
    unknown_lat_deg: float = CITY_HALL_LAT_DEG,
    unknown_lon_deg: float = CITY_HALL_LON_DEG,
    seed: int = 0,
) -> pl.DataFrame:
    """Read a ticket CSV (plain or .gz) through a column mapping.

    Parameters
    ----------
    path
        The CSV file.
    columns
        Role -> source column, roles ``id, created, resolution_due, category, skill, lat, lon``
        and, for ``priority_rule="column"``, ``priority`` (integers 1..4).
    timestamp_format
        ``strptime`` format of the ``created`` / ``resolution_due`` columns.
    priority_rule
        ``"sla_window"`` (derive from ``resolution_due - created`` as documented above) or
        ``"column"``.
    start, end
        Keep tickets created in ``[start, end)``; the virtual clock's zero is ``start`` (or
        midnight of the first ticket's day).
    limit
        Keep at most this many tickets (the first ones).
    unknown_location
        ``"keep"``, ``"drop"`` or ``"sample"`` for rows at (``unknown_lat_deg``,
        ``unknown_lon_deg``), the source's "no geocode" default.
    seed
        Seed of the ``"sample"`` imputation.

    Returns
    -------
    polars.DataFrame
        Columns of :data:`TICKET_SCHEMA`, sorted by ``created_at``.
    """
    missing = {
        "id",
        "created",
        "resolution_due",
        "category",
        "skill",
        "lat",
        "lon",
    } - set(columns)
    if priority_rule == "column":
        missing |= {"priority"} - set(columns)
    if missing:
        raise ValueError(f"columns: missing role(s) {', '.join(sorted(missing))}")
    if priority_rule not in ("sla_window", "column"):
        raise ValueError(
            f"priority_rule: must be sla_window or column, got {priority_rule!r}"
        )
    if unknown_location not in ("keep", "drop", "sample"):
        raise ValueError(
            f"unknown_location: must be keep, drop or sample, got {unknown_location!r}"
        )

    wanted = [
        columns[r]
        for r in ("id", "created", "resolution_due", "category", "skill", "lat", "lon")
    ]
    if priority_rule == "column":
        wanted.append(columns["priority"])
    header = pl.read_csv(path, n_rows=0, infer_schema_length=0).columns
    absent = [w for w in dict.fromkeys(wanted) if w not in header]
    if absent:
        raise ReplayError(
            f"{path}: column(s) {', '.join(repr(a) for a in absent)} not in the file "
            f"(mapped in [replay.columns]; the file has {len(header)} columns)"
        )
    raw = pl.read_csv(path, columns=wanted, infer_schema_length=0)
    c = columns
    df = raw.select(
        pl.col(c["id"]).alias("ticket_id"),
        pl.col(c["created"])
        .str.strptime(pl.Datetime("us"), timestamp_format, strict=False)
        .alias("created_at"),
        pl.col(c["resolution_due"])
        .str.strptime(pl.Datetime("us"), timestamp_format, strict=False)
        .alias("resolution_due_at"),
        pl.col(c["category"]).fill_null("unknown").alias("category"),
        pl.col(c["skill"]).fill_null("unknown").alias("skill"),
        pl.col(c["lat"]).cast(pl.Float64, strict=False).alias("lat_deg"),
        pl.col(c["lon"]).cast(pl.Float64, strict=False).alias("lon_deg"),
        *(
            [pl.col(c["priority"]).cast(pl.Int64, strict=False).alias("priority")]
            if priority_rule == "column"
            else []
        ),
    )
    # Count bad values only in the window asked for (an unparseable date counts anyway).
    lo, hi = _to_datetime(start), _to_datetime(end)
    if lo is not None or hi is not None:
        when = pl.col("created_at")
        inside = (when >= lo if lo is not None else pl.lit(True)) & (
            when < hi if hi is not None else pl.lit(True)
        )
        keep = df.select(when.is_null() | inside).to_series()
        raw, df = raw.filter(keep), df.filter(keep)
    counts = {k: v for k, v in _bad_value_counts(raw, df, c).items() if v}
    if counts:
        log.warning(
            "replay %s: bad values kept going: %s",
            Path(path).name,
            "; ".join(f"{v:,} {k}" for k, v in counts.items()),
        )
    df = df.filter(pl.col("created_at").is_not_null())
    df = df.sort("created_at", "ticket_id", maintain_order=True)

    t0 = _to_datetime(start)
    t1 = _to_datetime(end)
    if t0 is not None:
        df = df.filter(pl.col("created_at") >= t0)
    if t1 is not None:
        df = df.filter(pl.col("created_at") < t1)
    if limit is not None:
        df = df.head(limit)
    if t0 is None:
        first = df["created_at"].min() if df.height else dt.datetime(1970, 1, 1)
        assert isinstance(first, dt.datetime)
        t0 = dt.datetime(first.year, first.month, first.day)

    # A due time before the open time is a data error: clamp it to the open time.
    df = df.with_columns(
        pl.when(pl.col("resolution_due_at") < pl.col("created_at"))
        .then(pl.col("created_at"))
        .otherwise(pl.col("resolution_due_at"))
        .alias("resolution_due_at")
    )
    if priority_rule == "sla_window":
        window_h = (
            pl.col("resolution_due_at") - pl.col("created_at")
        ).dt.total_seconds() / 3600.0
        p1, p2, p3 = BOSTON311_PRIORITY_WINDOWS_H
        df = df.with_columns(
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
            .alias("priority")
        )
    else:
        df = df.with_columns(pl.col("priority").fill_null(4).clip(1, 4))

    unknown = (
        pl.col("lat_deg").is_null()
        | pl.col("lon_deg").is_null()
        | (
            ((pl.col("lat_deg") - unknown_lat_deg).abs() < 1e-6)
            & ((pl.col("lon_deg") - unknown_lon_deg).abs() < 1e-6)
        )
    )
    df = df.with_columns((~unknown).alias("location_known"))
    if unknown_location == "drop":
        df = df.filter(pl.col("location_known"))
    elif unknown_location == "keep":
        df = df.with_columns(
            pl.col("lat_deg").fill_null(unknown_lat_deg),
            pl.col("lon_deg").fill_null(unknown_lon_deg),
        )
    else:
        df = _impute_locations(
            df, np.random.default_rng(seed), unknown_lat_deg, unknown_lon_deg
        )

    zero = pl.lit(t0, dtype=pl.Datetime("us"))
    df = df.with_columns(
        ((pl.col("created_at") - zero).dt.total_microseconds() / 1e6).alias(
            "created_s"
        ),
        ((pl.col("resolution_due_at") - zero).dt.total_microseconds() / 1e6)
        .fill_null(float("nan"))
        .alias("resolution_due_s"),
    )
    return df.select([pl.col(k).cast(v) for k, v in TICKET_SCHEMA.items()])


class ReplayError(ValueError):
    """A replay file that cannot be read as mapped (e.g. a mapped column is missing)."""


log = logging.getLogger(__name__)


def _bad_value_counts(
    raw: pl.DataFrame, df: pl.DataFrame, c: Mapping[str, str]
) -> dict[str, int]:
    """Values present in the source but unusable, per kind (rows of ``df`` vs ``raw``)."""

    def bad(src: str, parsed: str) -> int:
        return int((raw[src].is_not_null() & df[parsed].is_null()).sum())

    out = {
        "unparseable created (row dropped)": bad(c["created"], "created_at"),
        "unparseable resolution_due (treated as none)": bad(
            c["resolution_due"], "resolution_due_at"
        ),
        "non-numeric lat/lon (treated as unknown location)": int(
            (
                (raw[c["lat"]].is_not_null() & df["lat_deg"].is_null())
                | (raw[c["lon"]].is_not_null() & df["lon_deg"].is_null())
            ).sum()
        ),
    }
    if "priority" in df.columns and "priority" in c:
        out["non-integer priority (treated as P4)"] = bad(c["priority"], "priority")
        out["priority outside 1..4 (clipped)"] = int(
            ((df["priority"] < 1) | (df["priority"] > 4)).sum()
        )
    return out


def _impute_locations(
    df: pl.DataFrame, rng: np.random.Generator, lat0: float, lon0: float
) -> pl.DataFrame:
    known = df["location_known"].to_numpy()
    lat = df["lat_deg"].fill_null(lat0).to_numpy().copy()
    lon = df["lon_deg"].fill_null(lon0).to_numpy().copy()
    if known.all() or not known.any():
        return df.with_columns(pl.Series("lat_deg", lat), pl.Series("lon_deg", lon))
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


def load_boston311(
    path: str | Path | None = None,
    *,
    start: str | dt.datetime | dt.date | None = None,
    end: str | dt.datetime | dt.date | None = None,
    limit: int | None = None,
    unknown_location: str = "keep",
    seed: int = 0,
) -> pl.DataFrame:
    """The shipped Boston 311 stream (2015-07-01 .. 2015-09-30), mapped as documented above.

    Parameters
    ----------
    path
        Defaults to the shipped ``simulations/data/boston311_2015Q3.csv.gz``; the full shared
        CSV works too.
    start, end, limit, unknown_location, seed
        As in :func:`load_ticket_csv`.

    Returns
    -------
    polars.DataFrame
        One row per ticket (:data:`TICKET_SCHEMA`), sorted by ``created_at``.
    """
    return load_ticket_csv(
        path or BOSTON311_PATH,
        BOSTON311_COLUMNS,
        timestamp_format=BOSTON311_TIMESTAMP_FORMAT,
        priority_rule="sla_window",
        start=start,
        end=end,
        limit=limit,
        unknown_location=unknown_location,
        seed=seed,
    )


def iter_ticket_records(df: pl.DataFrame) -> Iterator[dict[str, Any]]:
    """Yield the tickets of a loaded frame one by one, as plain dicts, in creation order."""
    yield from df.iter_rows(named=True)
