"""Replayed ticket streams: a real CSV mapped onto ticket records (polars).

``load_boston311()`` reads the shipped Boston 311 extract (2015 Q3, see
``simulations/data/SOURCE.md``); ``load_ticket_csv()`` reads any CSV through a column mapping
(roles: ``simulations.replay_columns``) and ``read_ticket_csv()`` also returns the
:class:`~simulations.replay_report.ReplayReport` of every row skipped or adjusted. They
return one row per ticket sorted by creation time, in the schema of :data:`TICKET_SCHEMA`,
and do no simulation: the service's ``dispatcher demo`` replays the same frame over gRPC.

Any CSV
-------
- Timestamps are wall-clock times read with ``timestamp_format`` (``strptime``), in the time
  zone the replay states (a zone on ``start`` only says which one; times are not shifted).
  Values are trimmed; an empty value is none.
- ``resolution_due`` may be a date alone (``date_format``, by default the part of
  ``timestamp_format`` before its first space or ISO ``T``): due at the end of that day, i.e. 00:00 of
  the next day on the same wall clock.
- Skipped (row number and reason in the report): no or an unparseable ``created``; an empty
  or repeated ``id`` (the first row with an id is kept); an unknown location when
  ``unknown_location = "drop"`` (the default).
- Adjusted: an unparseable ``resolution_due`` -> none; a due time before the creation ->
  clamped to it; with ``priority_rule = "column"`` an empty or non-integer priority -> P4
  (``P2``, ``2 - High``, ``2.0`` read as 2: ``PRIORITY_PATTERN``), 0 or below -> P1 (the
  most urgent, as a P0), above 4 -> P4; an empty skill or category -> ``unknown``; a
  ``work_time`` that is not a number > 0 -> none (the category's mean applies); a
  ``closed`` that is not a date-time or not after the creation -> none (no work time from
  it: ``simulations.replay_work``); an unknown location kept (``"keep"``: at the
  no-geocode point if one is given, else without a location, i.e. no travel) or
  ``"sample"``-d (seeded) from the known locations of the same skill, else of all tickets.
- Optional roles left unmapped (``resolution_due``, ``lat`` with ``lon``, ``work_time``,
  ``closed``, ``source``): no ticket has the value, and no row is reported for it (no
  location: no travel). ``source`` is carried as given (the simulator's ticket log).
- Fields are split by ``separator`` (``","`` by default).
- The row steps live in ``simulations.replay_rows``.
- An unknown location: an empty coordinate, one that is not degrees in range, or the
  source's no-geocode point (``unknown_lat_deg``, ``unknown_lon_deg``; none by default).
- A file that cannot be used at all is a :class:`ReplayError` naming the column and a row: a
  mapped column the file lacks (with a hint when another separator would find it), a
  date/number column none of whose values parse (a wrong format), a row with more or fewer
  fields than the header, a directory.

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
  City Hall point (``load_boston311``'s default), ``"drop"`` the row, or ``"sample"``.
- Timestamps are Boston local wall-clock time, naive; no DST handling is needed inside one
  quarter for relative times.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import polars as pl

from simulations.replay_columns import (
    BOSTON311_COLUMNS,
    OPTIONAL_ROLES,
    SEPARATORS,
    WORK_TIME_UNITS_S,
    ReplayError,
    check_choices,
    check_columns,
)
from simulations.replay_report import ReplayReport, RowIssue, log_once
from simulations.replay_rows import (
    ROW,
    LocationRule,
    flag_unknown_labels,
    in_window,
    raw_column,
    settle_closed_times,
    settle_due_times,
    settle_locations,
    settle_priorities,
    settle_work_times,
    skip_bad_ids,
    skip_undated,
    unknown_label,
    virtual_clock,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = [
    "BOSTON311_COLUMNS",
    "BOSTON311_PATH",
    "TICKET_SCHEMA",
    "ReplayError",
    "ReplayReport",
    "Replayed",
    "iter_ticket_records",
    "load_boston311",
    "load_ticket_csv",
    "read_ticket_csv",
]

BOSTON311_PATH = Path(__file__).parent / "data" / "boston311_2015Q3.csv.gz"
BOSTON311_TIMESTAMP_FORMAT = "%m/%d/%Y %I:%M:%S %p"
CITY_HALL_LAT_DEG = 42.3594
CITY_HALL_LON_DEG = -71.0587

TICKET_SCHEMA: dict[str, Any] = {
    "ticket_id": pl.String,
    "created_at": pl.Datetime("us"),
    "created_s": pl.Float64,  # seconds since the replay start (virtual clock)
    "category": pl.String,
    "skill": pl.String,
    "priority": pl.Int64,  # 1 = P1 (highest) .. 4
    "lat_deg": pl.Float64,  # NaN = no location (kept unknown: no travel)
    "lon_deg": pl.Float64,
    "location_known": pl.Boolean,
    "resolution_due_at": pl.Datetime("us"),  # null = no target in the source
    "resolution_due_s": pl.Float64,  # seconds since the replay start; NaN = none
    "work_time_s": pl.Float64,  # the source's work time; NaN = none (or no such column)
    "closed_at": pl.Datetime(
        "us"
    ),  # null = none (or no such column), or not after created
    "closed_s": pl.Float64,  # seconds since the replay start; NaN = none
    "source": pl.String,  # where the ticket came from (phone, email, ...); null = none
    ROW: pl.Int64,  # the ticket's row in the CSV (header = row 1)
}

Moment = str | dt.datetime | dt.date | None


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    """How to read a ticket CSV (see :func:`load_ticket_csv` for each field)."""

    timestamp_format: str = BOSTON311_TIMESTAMP_FORMAT
    date_format: str | None = None
    priority_rule: str = "sla_window"
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    limit: int | None = None
    unknown_location: str = "drop"
    unknown_lat_deg: float | None = None
    unknown_lon_deg: float | None = None
    seed: int = 0
    work_time_unit: str = "min"  # s | min | h
    separator: str = ","  # of the file's fields: one of SEPARATORS

    @property
    def location_rule(self) -> LocationRule:
        return LocationRule(
            self.unknown_location, self.unknown_lat_deg, self.unknown_lon_deg, self.seed
        )

    @property
    def due_date_format(self) -> str:
        # the date part: before the first space, or an ISO "T" before the time (%Y-%m-%dT%H:%M)
        return (
            self.date_format or re.split(r" |T(?=%)", self.timestamp_format.strip())[0]
        )


@dataclass(frozen=True, slots=True)
class Replayed:
    """A loaded stream and what the load did to the file's rows."""

    frame: pl.DataFrame
    report: ReplayReport
    first_created: dt.datetime | None  # over the whole file (for "empty window" errors)
    last_created: dt.datetime | None
    created: pl.Series  # every usable creation time of the file, in the window or not


def wall_clock(value: Moment) -> dt.datetime | None:
    """A window bound as a naive wall-clock time (a date = its midnight; a zone is dropped:
    the file's times are wall-clock times of the zone the replay states)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if not isinstance(value, dt.datetime):
        return dt.datetime(value.year, value.month, value.day)
    return value.replace(tzinfo=None)


def _moment(value: Moment) -> dt.datetime | None:
    """A window bound as a date-time, its zone (if it names one) kept."""
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime(value.year, value.month, value.day)
    return value


def load_ticket_csv(
    path: str | Path,
    columns: Mapping[str, str],
    *,
    timestamp_format: str = BOSTON311_TIMESTAMP_FORMAT,
    date_format: str | None = None,
    priority_rule: str = "sla_window",
    start: Moment = None,
    end: Moment = None,
    limit: int | None = None,
    unknown_location: str = "drop",
    unknown_lat_deg: float | None = None,
    unknown_lon_deg: float | None = None,
    seed: int = 0,
    work_time_unit: str = "min",
    separator: str = ",",
) -> pl.DataFrame:
    """Read a ticket CSV (plain or .gz) through a column mapping; log skipped/adjusted rows.

    Parameters
    ----------
    path
        The CSV file.
    columns
        Role -> source column (``simulations.replay_columns``); ``priority`` is needed for
        ``priority_rule="column"`` (integers 1..4).
    timestamp_format, date_format
        ``strptime`` formats of date-times and of a date-only ``resolution_due`` (default:
        ``timestamp_format`` before its first space or ISO ``T``).
    priority_rule
        ``"sla_window"`` (derive from ``resolution_due - created`` as documented above) or
        ``"column"``.
    start, end
        Keep tickets created in ``[start, end)``; the virtual clock's zero is ``start`` (or
        midnight of the first ticket's day).
    limit
        Keep at most this many tickets (the first ones).
    unknown_location
        ``"drop"``, ``"keep"`` or ``"sample"`` for rows with an unknown location.
    unknown_lat_deg, unknown_lon_deg
        The source's "no geocode" point, if it has one.
    seed
        Seed of the ``"sample"`` imputation.
    work_time_unit
        ``"s"``, ``"min"`` or ``"h"``: the unit of the ``work_time`` column, if mapped.
    separator
        The file's field separator: ``","`` (default), ``";"``, ``"\t"`` or ``"|"``.

    Returns
    -------
    polars.DataFrame
        Columns of :data:`TICKET_SCHEMA`, sorted by ``created_at``. The report's summary
        (counts and example rows per reason) is logged once as a warning (logger
        ``simulations.replay``).

    Raises
    ------
    ReplayError
        A bad mapping or a file that cannot be used (one line naming the column / row).
    """
    options = ReplayOptions(
        timestamp_format=timestamp_format,
        date_format=date_format,
        priority_rule=priority_rule,
        start=_moment(start),  # its zone kept: values written with an offset read on it
        end=_moment(end),
        limit=limit,
        unknown_location=unknown_location,
        unknown_lat_deg=unknown_lat_deg,
        unknown_lon_deg=unknown_lon_deg,
        seed=seed,
        work_time_unit=work_time_unit,
        separator=separator,
    )
    replayed = read_ticket_csv(path, columns, options)
    log_once(replayed.report.summary(), str(Path(path).resolve()))
    return replayed.frame


def read_ticket_csv(
    path: str | Path, columns: Mapping[str, str], options: ReplayOptions
) -> Replayed:
    """The loaded frame and the report of every row skipped or adjusted (nothing logged)."""
    check_columns(columns, options.priority_rule)
    check_choices(options.unknown_location, options.work_time_unit, options.separator)
    if Path(path).is_dir():
        raise ReplayError(f"{path}: is a directory, not a CSV file")
    name = Path(path).name
    raw = _read_roles(path, columns, options.priority_rule, options.separator)
    df = _parse(raw, options)
    _refuse_unparseable_columns(df, columns, options, name)
    first, last = df["created_at"].min(), df["created_at"].max()
    created = df["created_at"].drop_nulls().sort()
    issues: list[RowIssue] = []
    undated = skip_undated(df, issues)
    start, end = wall_clock(options.start), wall_clock(options.end)
    df = in_window(df.filter(~undated), start, end)
    df = skip_bad_ids(df, issues)
    df = df.sort("created_at", "ticket_id", maintain_order=True)
    if options.limit is not None:
        df = df.head(options.limit)
    # _locations may skip rows: before any adjustment
    df = settle_locations(df, options.location_rule, issues, mapped="lat" in columns)
    flag_unknown_labels(df, issues)
    df = settle_due_times(df, issues)
    df = settle_priorities(df, options.priority_rule, issues)
    df = settle_work_times(df, issues)
    df = settle_closed_times(df, issues)
    df = virtual_clock(df, start)
    report = ReplayReport(
        file=name,
        loaded=df.height,
        issues=tuple(sorted(issues, key=lambda i: i.row)),
    )
    frame = df.select([pl.col(k).cast(v) for k, v in TICKET_SCHEMA.items()])
    assert first is None or isinstance(first, dt.datetime)
    assert last is None or isinstance(last, dt.datetime)
    return Replayed(frame, report, first, last, created)


# ------------------------------------------------------------------------------ reading


def _read_roles(
    path: str | Path, columns: Mapping[str, str], priority_rule: str, separator: str
) -> pl.DataFrame:
    """The mapped columns as trimmed strings (empty = null), one ``raw_ROLE`` per role (an
    unmapped optional role: all null), and the spreadsheet row number of each record."""
    roles = [r for r in columns if r != "priority" or priority_rule == "column"]
    wanted = list(dict.fromkeys(columns[r] for r in roles))
    header = _header(path, separator)
    absent = [c for c in wanted if c not in header]
    if absent:
        raise ReplayError(
            f"{path}: column(s) {', '.join(repr(a) for a in absent)} not in the file "
            f"(mapped in [replay.columns]; the file has {len(header)} columns"
            f"{_encoding_hint(path) or _separator_hint(path, separator, wanted)})"
        )
    # polars pads a short row; reading some columns, a long one
    ragged = _ragged_row(path, separator)
    if ragged is not None:
        raise ReplayError(ragged)
    try:
        raw = pl.read_csv(
            path,
            columns=wanted,
            separator=separator,
            infer_schema_length=0,
            row_index_name=ROW,
            row_index_offset=2,
        )
    except (pl.exceptions.PolarsError, OSError, EOFError) as exc:  # a truncated gzip
        raise ReplayError(_unreadable(path, exc, separator)) from exc
    text = [pl.col(columns[r]).str.strip_chars() for r in roles]
    return raw.select(
        pl.col(ROW).cast(pl.Int64),
        *(
            pl.when(t == "").then(None).otherwise(t).alias(raw_column(r))
            for r, t in zip(roles, text, strict=True)
        ),
        *(
            pl.lit(None, pl.String).alias(raw_column(r))
            for r in OPTIONAL_ROLES
            if r not in columns
        ),
    )


def _header(path: str | Path, separator: str) -> list[str]:
    try:
        return pl.read_csv(
            path, n_rows=0, infer_schema_length=0, separator=separator
        ).columns
    except (pl.exceptions.PolarsError, OSError, EOFError) as exc:
        raise ReplayError(_unreadable(path, exc, separator)) from exc


def _encoding_hint(path: str | Path) -> str:
    """``; it looks UTF-16: save it as UTF-8`` for a file starting with a UTF-16 byte order
    mark or NUL bytes (polars reads UTF-8 only, so no column name matches); else nothing."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
        if head[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as g:
                head = g.read(512)
    except (OSError, EOFError):
        return ""
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in head:
        return "; it looks UTF-16: save it as UTF-8"
    return ""


def _separator_hint(path: str | Path, separator: str, wanted: list[str]) -> str:
    """``; it looks separated by ';': set separator = ";" in [replay]`` when the header
    split by another of ``SEPARATORS`` holds every mapped column; else nothing."""
    try:
        with _open_text(path) as f:
            first = f.readline().lstrip("\ufeff").rstrip("\r\n")
    except (OSError, EOFError, UnicodeDecodeError):
        return ""
    for other in SEPARATORS:
        if other == separator:
            continue
        fields = [c.strip() for c in next(csv.reader([first], delimiter=other), [])]
        if len(fields) > 1 and all(c in fields for c in wanted):
            shown = "\\t" if other == "\t" else other
            return f'; it looks separated by {other!r}: set separator = "{shown}" in [replay]'
    return ""


def _unreadable(path: str | Path, exc: Exception, separator: str) -> str:
    """One line for a file polars cannot read: the first row whose field count differs
    from the header's when that is the cause."""
    ragged = _ragged_row(path, separator)
    if ragged is not None:
        return ragged
    return f"{path}: not a readable CSV ({str(exc).splitlines()[0]})"


def _ragged_row(path: str | Path, separator: str) -> str | None:
    """The first row with more or fewer fields than the header, said in one line (a blank
    line is no row of fields); None when every row fits or the file cannot be read."""
    try:
        with _open_text(path) as f:
            rows = csv.reader(f, delimiter=separator)
            header = next(rows, None)
            if header is None:
                return None
            for number, fields in enumerate(rows, start=2):
                if fields and len(fields) != len(header):
                    return f"{path} row {number}: {len(fields)} fields, the header has {len(header)}"
    except (OSError, EOFError, UnicodeDecodeError, csv.Error):
        return None
    return None


def _open_text(path: str | Path) -> IO[str]:
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"  # as polars: by content, not by name
    if gzipped:
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


# ------------------------------------------------------------------------------ parsing


# a priority value: an integer, also as help desks and ITSM exports write it ("P2",
# "2 - High", "2.0"); its integer is the priority (then clipped to 1..4)
PRIORITY_PATTERN = r"^[Pp]?\s*(-?\d+)(?:\.0+)?(?:$|[\s:(-])"

# chrono's directives of a UTC offset written in the value (polars then returns UTC instants)
_OFFSET_DIRECTIVES = ("%z", "%:z", "%::z", "%:::z", "%#z")


def replay_zone(start: dt.datetime | None) -> str:
    """The replay's time zone as polars names a fixed offset (``-06:00``): ``start``'s
    offset, UTC when it names none (as ``simulations.streams.origin_s`` reads it)."""
    offset = None if start is None else start.utcoffset()
    minutes = 0 if offset is None else round(offset.total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _strptime(text: pl.Expr, fmt: str, zone: str) -> pl.Expr:
    """Date-times on the replay's wall clock; a value written with its UTC offset (``%z``
    in the format, e.g. ``2025-03-09T03:30:00-05:00``) is that instant on the clock of the
    replay's zone, so a file crossing a DST change keeps true elapsed times."""
    when = text.str.strptime(pl.Datetime("us"), fmt, strict=False)
    if not any(d in fmt for d in _OFFSET_DIRECTIVES):
        return when
    return when.dt.convert_time_zone(zone).dt.replace_time_zone(None)


def _parse(raw: pl.DataFrame, options: ReplayOptions) -> pl.DataFrame:
    """Typed columns beside the raw ones: null where a value is empty or does not parse."""
    when = pl.Datetime("us")
    zone = replay_zone(options.start)
    due = pl.col(raw_column("resolution_due"))
    lat = pl.col(raw_column("lat")).cast(pl.Float64, strict=False)
    lon = pl.col(raw_column("lon")).cast(pl.Float64, strict=False)
    parsed = [
        pl.col(raw_column("id")).alias("ticket_id"),
        _strptime(pl.col(raw_column("created")), options.timestamp_format, zone).alias(
            "created_at"
        ),
        pl.coalesce(
            _strptime(due, options.timestamp_format, zone),
            # a date alone: due at the end of that day (00:00 of the next)
            due.str.strptime(pl.Date, options.due_date_format, strict=False).cast(when)
            + pl.duration(days=1),
        ).alias("resolution_due_at"),
        unknown_label("category"),
        unknown_label("skill"),
        pl.when(lat.abs() <= 90.0).then(lat).alias("lat_deg"),
        pl.when(lon.abs() <= 180.0).then(lon).alias("lon_deg"),
    ]
    if options.priority_rule == "column":
        parsed.append(
            pl.col(raw_column("priority"))
            .str.extract(PRIORITY_PATTERN, 1)
            .cast(pl.Int64, strict=False)
            .alias("priority")
        )
    parsed.append(
        _strptime(pl.col(raw_column("closed")), options.timestamp_format, zone).alias(
            "closed_at"
        )
    )
    parsed.append(pl.col(raw_column("source")).alias("source"))
    amount = pl.col(raw_column("work_time")).cast(pl.Float64, strict=False)
    unit_s = WORK_TIME_UNITS_S[options.work_time_unit]
    parsed.append(
        pl.when(amount.is_finite() & (amount > 0))
        .then(amount * unit_s)
        .alias("work_time_s")
    )
    return raw.with_columns(parsed)


# role -> (parsed column, what a value must be)
_TYPED = {
    "created": ("created_at", "a date-time matching {ts!r}"),
    "resolution_due": (
        "resolution_due_at",
        "a date-time matching {ts!r} or a date matching {day!r}",
    ),
    "lat": ("lat_deg", "a latitude in degrees"),
    "lon": ("lon_deg", "a longitude in degrees"),
    "priority": ("priority", "an integer (e.g. 2, P2 or '2 - High')"),
    "work_time": ("work_time_s", "a work time > 0"),
    "closed": ("closed_at", "a date-time matching {ts!r}"),
}


def _refuse_unparseable_columns(
    df: pl.DataFrame, columns: Mapping[str, str], options: ReplayOptions, name: str
) -> None:
    """A typed column with values none of which parse has the wrong format: refuse it,
    naming the first row, rather than skip every row."""
    for role, (parsed, what) in _TYPED.items():
        if parsed not in df.columns:
            continue
        given = df.filter(pl.col(raw_column(role)).is_not_null())
        if given.height and given[parsed].is_null().all():
            row, value = given[ROW][0], given[raw_column(role)][0]
            must = what.format(ts=options.timestamp_format, day=options.due_date_format)
            raise ReplayError(
                f"{name} row {row}, column {columns[role]!r} ({role}): {value!r} is not "
                f"{must}, nor is any value of the column"
            )


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
        unknown_lat_deg=CITY_HALL_LAT_DEG,
        unknown_lon_deg=CITY_HALL_LON_DEG,
        seed=seed,
    )


def iter_ticket_records(df: pl.DataFrame) -> Iterator[dict[str, Any]]:
    """Yield the tickets of a loaded frame one by one, as plain dicts, in creation order."""
    yield from df.iter_rows(named=True)
