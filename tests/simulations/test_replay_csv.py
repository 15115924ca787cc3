"""Your own ticket CSV: column roles, rows skipped or adjusted (row number + reason), date-only
due times, and a bad file or mapping refused with one line naming the column and row."""

from __future__ import annotations

import csv
import datetime as dt
import logging
import math
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulations.replay import (
    ReplayError,
    ReplayOptions,
    load_ticket_csv,
    read_ticket_csv,
)
from simulations.replay_work import expected_work_s
from simulations.runner import run_once
from simulations.scenario import ScenarioError, load_scenario, scenario_from_dict
from simulations.streams import build_stream, read_replay, replay_notes
from tests.simulations.simtest_helpers import REPLAY_COLUMNS as COLS

HEADER = ["key", "opened", "due", "kind", "crew", "y", "x", "prio"]
TS = "%Y-%m-%d %H:%M:%S"
COLUMN = ReplayOptions(timestamp_format=TS, priority_rule="column")


def _write(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def _row(
    key: str,
    opened: str = "2020-01-01 08:00:00",
    due: str = "",
    prio: str = "2",
    y: str = "42.3",
    x: str = "-71.1",
) -> list[str]:
    return [key, opened, due, "leak", "plumb", y, x, prio]


def test_every_skipped_or_adjusted_row_is_reported_with_its_number_and_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Rows are numbered as a spreadsheet shows them (header = 1); one warning line sums up."""
    path = _write(
        tmp_path / "t.csv",
        [
            _row("a"),  # 2 loaded as is
            _row("b", opened="yesterday"),  # 3 skipped
            _row("c", opened=""),  # 4 skipped
            _row("", opened="2020-01-01 09:00:00"),  # 5 skipped
            _row("a", opened="2020-01-01 09:30:00"),  # 6 skipped: repeats row 2
            _row("d", due="2019-12-31 08:00:00"),  # 7 clamped
            _row("e", due="soon"),  # 8 no due time
            _row("f", prio="9"),  # 9 P4
            _row("g", prio="two"),  # 10 P4
            _row("h", y=""),  # 11 skipped (drop is the default)
            _row("i", y="north"),  # 12 skipped
            _row("j", y="123.0"),  # 13 skipped: not a latitude
            _row("k", due="2020-01-02 08:00:00"),  # 14 loaded as is
        ],
    )
    with caplog.at_level(logging.WARNING, logger="simulations.replay"):
        df = load_ticket_csv(path, COLS, timestamp_format=TS, priority_rule="column")
    replayed = read_ticket_csv(path, COLS, COLUMN)
    got = [(i.row, i.role, i.action) for i in replayed.report.issues]
    assert got == [
        (3, "created", "row skipped"),
        (4, "created", "row skipped"),
        (5, "id", "row skipped"),
        (6, "id", "row skipped"),
        (7, "resolution_due", "clamped to created"),
        (8, "resolution_due", "no due time"),
        (9, "priority", "P4"),
        (10, "priority", "P4"),
        (11, "location", "row skipped"),
        (12, "location", "row skipped"),
        (13, "location", "row skipped"),
    ]
    assert replayed.report.skipped_rows == [3, 4, 5, 6, 11, 12, 13]
    assert replayed.report.adjusted_rows == [7, 8, 9, 10]
    assert sorted(df["ticket_id"].to_list()) == ["a", "d", "e", "f", "g", "k"]
    assert df.sort("source_row")["source_row"].to_list() == [2, 7, 8, 9, 10, 14]
    by_id = {r["ticket_id"]: r for r in df.iter_rows(named=True)}
    assert by_id["d"]["resolution_due_at"] == by_id["d"]["created_at"]
    assert by_id["e"]["resolution_due_at"] is None
    assert (by_id["f"]["priority"], by_id["g"]["priority"]) == (4, 4)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    line = warnings[0]
    assert "\n" not in line
    assert line.startswith(
        "replay t.csv: 7 row(s) skipped, 4 adjusted, 6 loaded of 13: "
    )
    assert "1 x created is not a date-time: row skipped (row 3 'yesterday')" in line
    assert "1 x id repeats: row skipped (row 6 'a (first at row 2)')" in line
    assert "1 x resolution_due is before created: clamped to created (row 7" in line
    assert (
        "2 x location is not degrees in range: row skipped "
        "(rows 12 'north,-71.1', 13 '123.0,-71.1')" in line
    )


def test_the_same_report_is_logged_once_per_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Each seed of a run loads the file again: the warning is not repeated."""
    path = _write(tmp_path / "t.csv", [_row("a"), _row("b", opened="never")])
    with caplog.at_level(logging.WARNING, logger="simulations.replay"):
        for _ in range(3):
            load_ticket_csv(path, COLS, timestamp_format=TS, priority_rule="column")
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_many_rows_with_one_reason_show_a_few_examples(tmp_path: Path) -> None:
    """Counts are exact; examples stop at five row numbers."""
    rows = [_row("a")] + [_row(f"b{i}", opened="n/a") for i in range(12)]
    report = read_ticket_csv(_write(tmp_path / "t.csv", rows), COLS, COLUMN).report
    line = report.summary()
    assert line is not None
    assert (
        "12 x created is not a date-time: row skipped (rows 3 'n/a', 4 'n/a', " in line
    )
    assert "7 'n/a', ...)" in line
    assert "8 'n/a'" not in line


def test_a_date_only_due_value_is_due_at_the_end_of_that_day(tmp_path: Path) -> None:
    """``2020-01-05`` = due 2020-01-06 00:00 on the file's clock; the date format defaults to
    the timestamp format's date part, or is given."""
    path = _write(
        tmp_path / "t.csv",
        [
            _row("a", due="2020-01-05"),
            _row("b", due="2020-01-05 10:30:00"),
            _row("c", due="2020-01-01"),
        ],
    )
    df = load_ticket_csv(path, COLS, timestamp_format=TS, priority_rule="column")
    due = dict(zip(df["ticket_id"], df["resolution_due_at"], strict=True))
    assert due["a"] == dt.datetime(2020, 1, 6, 0, 0)
    assert due["b"] == dt.datetime(2020, 1, 5, 10, 30)
    assert due["c"] == dt.datetime(
        2020, 1, 2, 0, 0
    )  # the day it was opened: not clamped
    assert df.filter(pl.col("ticket_id") == "a")["resolution_due_s"][0] == 5 * 86_400.0

    us = _write(
        tmp_path / "us.csv",
        [
            _row("a", opened="01/01/2020 08:00:00 AM", due="01/05/2020"),
            _row("b", opened="01/01/2020 09:00:00 PM", due="01/05/2020 11:00:00 PM"),
        ],
    )
    df = load_ticket_csv(
        us, COLS, timestamp_format="%m/%d/%Y %I:%M:%S %p", priority_rule="column"
    )
    assert df["resolution_due_at"].to_list() == [
        dt.datetime(2020, 1, 6),
        dt.datetime(2020, 1, 5, 23),
    ]
    eu = _write(tmp_path / "eu.csv", [_row("a", due="05.01.2020")])
    df = load_ticket_csv(
        eu, COLS, timestamp_format=TS, date_format="%d.%m.%Y", priority_rule="column"
    )
    assert df["resolution_due_at"].to_list() == [dt.datetime(2020, 1, 6)]


def test_a_start_with_a_zone_reads_the_file_on_that_wall_clock(tmp_path: Path) -> None:
    """A start naming its zone (as a scenario's replay.start may) windows the file's
    wall-clock times; before, polars refused to compare them (a traceback)."""
    path = _write(
        tmp_path / "t.csv",
        [
            _row("a", opened="2020-01-01 08:00:00"),
            _row("b", opened="2020-01-02 08:00:00"),
        ],
    )
    df = load_ticket_csv(
        path,
        COLS,
        timestamp_format=TS,
        priority_rule="column",
        start="2020-01-01T00:00:00-05:00",
        end="2020-01-02T00:00:00-05:00",
    )
    assert df["ticket_id"].to_list() == ["a"]
    assert df["created_s"].to_list() == [8 * 3600.0]
    zone = dt.timezone(dt.timedelta(hours=-5))
    options = ReplayOptions(
        TS,
        priority_rule="column",
        start=dt.datetime(2020, 1, 1, tzinfo=zone),
        end=dt.datetime(2020, 1, 2, tzinfo=zone),
    )
    assert read_ticket_csv(path, COLS, options).frame.equals(df)


def test_keep_and_sample_report_unknown_locations_and_never_invent_a_city(
    tmp_path: Path,
) -> None:
    """Without a no-geocode point, ``keep`` leaves no location (NaN: no travel), and
    ``sample`` draws from known locations of the same skill; both list the rows."""
    path = _write(
        tmp_path / "t.csv",
        [_row("a", y="42.5", x="-71.2"), _row("b", y="", x=""), _row("c", y="x")],
    )
    kept = read_ticket_csv(
        path, COLS, ReplayOptions(TS, priority_rule="column", unknown_location="keep")
    )
    lat = dict(zip(kept.frame["ticket_id"], kept.frame["lat_deg"], strict=True))
    assert lat["a"] == 42.5
    assert math.isnan(lat["b"])
    assert math.isnan(lat["c"])
    assert [(i.row, i.action) for i in kept.report.issues] == [
        (3, "kept without a location (no travel)"),
        (4, "kept without a location (no travel)"),
    ]
    sampled = read_ticket_csv(
        path, COLS, ReplayOptions(TS, priority_rule="column", unknown_location="sample")
    )
    assert sampled.frame["lat_deg"].to_list() == [42.5, 42.5, 42.5]
    assert not sampled.frame["location_known"][1]
    assert sampled.report.adjusted_rows == [3, 4]


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({**COLS, "owner": "x"}, "columns.owner: unknown role (known: id, created,"),
        ({**COLS, "skill": " "}, "columns.skill: must name a column of the file"),
        (
            {k: v for k, v in COLS.items() if k not in ("id", "skill")},
            "columns: missing role(s) id, skill",
        ),
        (
            {k: v for k, v in COLS.items() if k != "lon"},
            "columns: lat and lon go together (a location needs both)",
        ),
        ({**COLS, "skill": "team"}, "column(s) 'team' not in the file"),
    ],
)
def test_a_bad_mapping_is_one_error_naming_the_role(
    tmp_path: Path, columns: dict[str, str], message: str
) -> None:
    path = _write(tmp_path / "t.csv", [_row("a")])
    with pytest.raises(ReplayError) as err:
        read_ticket_csv(path, columns, COLUMN)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [
                _row("a", opened="01/01/2020 08:00"),
                _row("b", opened="01/02/2020 08:00"),
            ],
            "t.csv row 2, column 'opened' (created): '01/01/2020 08:00' is not a "
            "date-time matching '%Y-%m-%d %H:%M:%S', nor is any value of the column",
        ),
        (
            [_row("a", due=""), _row("b", due="next week")],
            "t.csv row 3, column 'due' (resolution_due): 'next week' is not a date-time "
            "matching '%Y-%m-%d %H:%M:%S' or a date matching '%Y-%m-%d'",
        ),
        (
            [_row("a", prio="high"), _row("b", prio="low")],
            "t.csv row 2, column 'prio' (priority): 'high' is not an integer",
        ),
        (
            [_row("a", x="west")],
            "t.csv row 2, column 'x' (lon): 'west' is not a longitude in degrees",
        ),
    ],
)
def test_a_column_none_of_whose_values_parse_is_refused(
    tmp_path: Path, rows: list[list[str]], message: str
) -> None:
    """A wrong format is the file's fault, not each row's: one error, not all rows skipped."""
    path = _write(tmp_path / "t.csv", rows)
    with pytest.raises(ReplayError) as err:
        read_ticket_csv(path, COLS, COLUMN)
    assert message in str(err.value)


def test_a_ragged_row_is_named(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        ",".join(HEADER)
        + "\n"
        + ",".join(_row("a"))
        + "\n"
        + ",".join([*_row("b"), "extra"])
        + "\n"
    )
    with pytest.raises(ReplayError, match=r"t\.csv row 3: 9 fields, the header has 8$"):
        read_ticket_csv(path, COLS, COLUMN)


# ---------------------------------------------------------------------- property

CREATED = st.sampled_from(
    ["2020-01-01 08:00:00", "2020-01-03 23:59:59", "2019-12-31 00:00:00", "", "n/a"]
)
DUE = st.sampled_from(
    ["", "2020-01-02 12:00:00", "2019-06-01 00:00:00", "2020-01-02", "soon"]
)
IDS = st.sampled_from(["a", "b", "c,d", 'q"uote', "", "e"])
LAT = st.sampled_from(["42.3", "", "north", "95", "-33.9"])
PRIO = st.sampled_from(["1", "4", "0", "7", "", "P2"])
KIND = st.sampled_from(["leak", "two\nlines", ""])
UNKNOWN = st.sampled_from(["drop", "keep", "sample"])


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(IDS, CREATED, DUE, KIND, LAT, PRIO), max_size=25),
    unknown=UNKNOWN,
)
def test_every_row_is_loaded_or_reported_as_skipped(
    rows: list[tuple[str, str, str, str, str, str]], unknown: str
) -> None:
    """Over the whole file: each row number is either a loaded ticket's ``source_row`` or
    a skipped row of the report, never both, never neither; adjusted rows are loaded ones;
    every loaded due time is at or after its creation."""
    first = ["first", "2020-01-02 08:00:00", "2020-01-02", "leak", "42.0", "2"]
    body = [first, *(list(r) for r in rows)]
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(
            Path(tmp) / "t.csv",
            [[i, c, d, k, "plumb", lat, "-71.0", p] for i, c, d, k, lat, p in body],
        )
        replayed = read_ticket_csv(
            path,
            COLS,
            ReplayOptions(TS, priority_rule="column", unknown_location=unknown),
        )
    loaded = replayed.frame["source_row"].to_list()
    skipped = replayed.report.skipped_rows
    assert len(set(loaded)) == len(loaded)
    assert len(set(skipped)) == len(skipped)
    assert set(loaded).isdisjoint(skipped)
    assert set(loaded) | set(skipped) == set(range(2, len(body) + 2))
    assert set(replayed.report.adjusted_rows) <= set(loaded)
    assert replayed.report.loaded == replayed.frame.height
    f = replayed.frame.filter(pl.col("resolution_due_at").is_not_null())
    assert (f["resolution_due_at"] >= f["created_at"]).all()
    assert replayed.frame["priority"].is_between(1, 4).all()


def _scenario_replay(tmp_path: Path, **keys: object) -> dict[str, object]:
    _write(tmp_path / "t.csv", [_row("a")])
    return {
        "path": "t.csv",
        "format": "csv",
        "start": "2020-01-01T00:00:00",
        "duration_days": 1.0,
        "duration_mean_s": 1800.0,
        "columns": COLS,
        **keys,
    }


def test_a_csv_scenario_drops_unknown_locations_and_has_no_default_city(
    tmp_path: Path,
) -> None:
    """``format = "csv"``: unknown locations are dropped by default and there is no
    no-geocode point unless one is given (Boston's City Hall is boston311's only)."""
    boston = load_scenario("boston311").replay
    assert boston is not None
    assert (boston.unknown_lat_deg, boston.unknown_lon_deg) == (42.3594, -71.0587)
    doc = {
        "simulation": {"horizon_s": 3600.0},
        "geography": {"center_lat_deg": 42.3, "center_lon_deg": -71.1, "radius_km": 5},
        "technicians": {"auto": {}},
        "replay": _scenario_replay(tmp_path),
    }
    sc = scenario_from_dict(doc, base_dir=tmp_path)
    assert sc.replay is not None
    assert sc.replay.unknown_location == "drop"
    assert sc.replay.unknown_lat_deg is None
    assert sc.replay.unknown_lon_deg is None
    doc["replay"] = _scenario_replay(tmp_path, unknown_lat_deg=0.0)
    with pytest.raises(
        ScenarioError, match=r"^replay\.unknown_lat_deg: needs unknown_lon"
    ):
        scenario_from_dict(doc, base_dir=tmp_path)


def _fenced_after(text: str, marker: str) -> str:
    start = text.index("```", text.index(marker))
    body = text.index("\n", start) + 1
    return text[body : text.index("```", body)]


def test_the_readme_example_replays_as_documented(tmp_path: Path) -> None:
    """simulations/README.md's CSV and replay file, as written there: T-2's date-only due
    is the end of 6 March, T-3 (no location) is skipped, T-4's priority 0 is P1, T-5's
    closed before created gives no work time, all said as the README shows; the work
    times from closed - created and the sources are as the README computes them."""
    readme = (Path(__file__).parents[2] / "simulations" / "README.md").read_text()
    (tmp_path / "tickets.csv").write_text(
        _fenced_after(readme, "A complete example: `tickets.csv`")
    )
    (tmp_path / "tickets.toml").write_text(
        _fenced_after(readme, "and `tickets.toml` beside it")
    )
    sc = load_scenario("boston311", replay_file=tmp_path / "tickets.toml")
    replayed = read_replay(sc, sc.seed)
    frame = replayed.frame
    assert frame["ticket_id"].to_list() == ["T-1", "T-2", "T-4", "T-5"]
    assert frame["resolution_due_at"][1] == dt.datetime(2024, 3, 7)
    assert frame["priority"].to_list() == [1, 2, 1, 3]
    assert frame["source"].to_list() == ["phone", "email", "web", None]
    expected = dict(
        zip(frame["ticket_id"], expected_work_s(frame, 2700.0), strict=True)
    )
    assert expected == {"T-1": 3150.0, "T-2": 5400.0, "T-4": 3150.0, "T-5": 5400.0}
    shown = _fenced_after(readme, "behaviour and SLA policy, and says on stderr")
    said = [replayed.report.summary(), *replay_notes(sc, replayed)]
    assert shown.splitlines() == [f"dispatcher sim: warning: {line}" for line in said]


def test_work_times_from_the_data_set_each_categorys_expected_work(
    tmp_path: Path,
) -> None:
    """A ``work_time`` column (unit ``work_time_unit``): each category's mean is its
    tickets' expected work time; a category without any keeps ``duration_mean_s``; an
    unusable value is reported and left to the category mean."""
    header = [*HEADER, "minutes"]
    rows = [
        [*_row("a"), "30"],
        [*_row("b"), "90"],
        [*_row("c"), "n/a"],  # adjusted: leak's mean (60 min) applies
        [*_row("d"), "-5"],  # adjusted
        ["e", "2020-01-01 08:00:00", "", "light", "elec", "42.3", "-71.1", "2", ""],
    ]
    path = _write(tmp_path / "t.csv", rows, header)
    columns = {**COLS, "work_time": "minutes"}
    replayed = read_ticket_csv(path, columns, COLUMN)
    work = dict(
        zip(replayed.frame["ticket_id"], replayed.frame["work_time_s"], strict=True)
    )
    assert (work["a"], work["b"]) == (1800.0, 5400.0)
    assert all(math.isnan(work[k]) for k in "cde")
    assert [(i.row, i.role, i.action) for i in replayed.report.issues] == [
        (4, "work_time", "category mean used"),
        (5, "work_time", "category mean used"),
    ]
    expected = dict(
        zip(
            replayed.frame["ticket_id"],
            expected_work_s(replayed.frame, fallback_s=999.0),
            strict=True,
        )
    )
    assert expected == {"a": 3600.0, "b": 3600.0, "c": 3600.0, "d": 3600.0, "e": 999.0}
    hours = read_ticket_csv(
        path, columns, ReplayOptions(TS, priority_rule="column", work_time_unit="h")
    )
    assert hours.frame["work_time_s"][0] == 30 * 3600.0
    with pytest.raises(ReplayError, match="work_time_unit: must be one of s, min, h"):
        read_ticket_csv(
            path, columns, ReplayOptions(TS, priority_rule="column", work_time_unit="d")
        )
    bad = _write(tmp_path / "bad.csv", [[*_row("a"), "half an hour"]], header)
    with pytest.raises(
        ReplayError,
        match=r"row 2, column 'minutes' \(work_time\): 'half an hour' is not",
    ):
        read_ticket_csv(bad, columns, COLUMN)


def test_a_replays_work_times_drive_the_simulated_estimates(tmp_path: Path) -> None:
    """Through a scenario: tickets of a category with long recorded work get long estimates."""
    header = [*HEADER, "minutes"]
    rows = [[*_row(f"s{i}"), "10"] for i in range(40)]
    rows += [
        [
            f"l{i}",
            "2020-01-01 09:00:00",
            "",
            "rebuild",
            "plumb",
            "42.3",
            "-71.1",
            "3",
            "600",
        ]
        for i in range(40)
    ]
    doc = {
        "simulation": {"horizon_s": 86_400.0},
        "geography": {"center_lat_deg": 42.3, "center_lon_deg": -71.1, "radius_km": 5},
        "technicians": {"auto": {}},
        "replay": {
            **_scenario_replay(tmp_path, duration_cv=0.0, timestamp_format=TS),
            "columns": {**COLS, "work_time": "minutes"},
        },
    }
    _write(tmp_path / "t.csv", rows, header)  # over _scenario_replay's one-row file
    sc = scenario_from_dict(doc, base_dir=tmp_path)
    stream = build_stream(sc, np.random.default_rng(0), 0)
    by_category = dict(zip(stream.ticket_id, stream.duration_est_s, strict=True))
    assert by_category["s0"] == 600.0
    assert by_category["l0"] == 36_000.0


HELPDESK = {
    "id": "key",
    "created": "opened",
    "category": "kind",
    "skill": "group",
    "priority": "prio",
    "work_time": "minutes",
}


def _helpdesk_csv(path: Path, n: int) -> Path:
    """An IT incident log: no location, no due date, an assignment group, a work time."""
    rows = [
        [
            f"INC{i:04d}",
            f"2020-01-06 {8 + i % 8:02d}:{(7 * i) % 60:02d}:00",
            ["password", "printer", "vpn"][i % 3],
            ["service-desk", "network"][i % 2],
            str(1 + i % 4),
            str(5 + i % 30),
        ]
        for i in range(n)
    ]
    return _write(path, rows, ["key", "opened", "kind", "group", "prio", "minutes"])


def test_a_help_desk_log_without_locations_or_due_dates_replays_without_travel(
    tmp_path: Path,
) -> None:
    """Location and due time are optional roles: unmapped, no ticket has one (no travel;
    the policy's SLA targets give the due times) and no row is reported for lacking them."""
    path = _helpdesk_csv(tmp_path / "incidents.csv", 60)
    replayed = read_ticket_csv(path, HELPDESK, COLUMN)
    assert replayed.frame.height == 60
    assert replayed.report.issues == ()
    assert replayed.frame["lat_deg"].is_nan().all()
    assert not replayed.frame["location_known"].any()
    assert replayed.frame["resolution_due_at"].is_null().all()
    doc = {
        "simulation": {"horizon_s": 86_400.0, "seed": 3},
        "geography": {"center_lat_deg": 0.0, "center_lon_deg": 0.0, "radius_km": 1},
        "technicians": {"auto": {"target_utilization": 0.7}},
        "replay": {
            "path": "incidents.csv",
            "format": "csv",
            "start": "2020-01-06T00:00:00",
            "duration_days": 1.0,
            "timestamp_format": TS,
            "duration_mean_s": 1800.0,
            "columns": HELPDESK,
        },
    }
    sc = scenario_from_dict(doc, base_dir=tmp_path)
    run = run_once(sc, "nearest", sc.seed)
    assert run.kpis["arrived"] == 60
    assert run.kpis["resolved"] > 0
    assert run.kpis["travel_km"] == 0.0


def test_a_csv_scenario_maps_every_required_role_itself(tmp_path: Path) -> None:
    """``format = "csv"`` has no Boston column defaults: a missing role is named."""
    doc = {
        "simulation": {"horizon_s": 3600.0},
        "geography": {"center_lat_deg": 42.3, "center_lon_deg": -71.1, "radius_km": 5},
        "technicians": {"auto": {}},
        "replay": {
            **_scenario_replay(tmp_path),
            "columns": {k: v for k, v in COLS.items() if k != "skill"},
        },
    }
    with pytest.raises(
        ScenarioError, match=r"^replay\.columns: missing role\(s\) skill$"
    ):
        scenario_from_dict(doc, base_dir=tmp_path)


def test_an_empty_skill_or_category_is_reported_as_adjusted(tmp_path: Path) -> None:
    """A row loaded with ``unknown`` for an empty skill or category had a value changed:
    it is reported, not replayed silently under a made-up skill."""
    rows = [_row("a"), _row("b"), _row("c"), _row("d")]
    rows[1][4] = ""  # crew (skill)
    rows[2][3] = ""  # kind (category)
    replayed = read_ticket_csv(_write(tmp_path / "t.csv", rows), COLS, COLUMN)
    got = [(i.row, i.role, i.problem, i.action) for i in replayed.report.issues]
    assert got == [
        (3, "skill", "is empty", "unknown"),
        (4, "category", "is empty", "unknown"),
    ]
    assert replayed.report.adjusted_rows == [3, 4]
    by_id = {r["ticket_id"]: r for r in replayed.frame.iter_rows(named=True)}
    assert (by_id["b"]["skill"], by_id["c"]["category"]) == ("unknown", "unknown")
    line = replayed.report.summary()
    assert line is not None
    assert "1 x skill is empty: unknown (row 3)" in line


# ------------------------------------------------- files from elsewhere (outside verification)


def test_values_written_with_their_offset_are_instants_on_the_replay_clock(
    tmp_path: Path,
) -> None:
    """``%z`` in the format: each value is its instant, read on the clock of the replay's
    zone (its start's offset, UTC when it names none), so a file crossing a DST change keeps
    true elapsed times; a date-only due is the end of that day on that clock. Before, polars
    returned UTC instants that could not meet the wall-clock window (a traceback)."""
    path = _write(
        tmp_path / "t.csv",
        [
            _row("a", opened="2025-03-09T01:30:00-06:00", due="2025-03-09"),
            # 02:00 CST became 03:00 CDT: one hour after "a", not two
            _row("b", opened="2025-03-09T03:30:00-05:00", due="2025-03-09T04:00:00Z"),
        ],
    )
    fmt = "%Y-%m-%dT%H:%M:%S%z"
    df = load_ticket_csv(
        path,
        COLS,
        timestamp_format=fmt,
        date_format="%Y-%m-%d",
        priority_rule="column",
        start="2025-03-09T00:00:00-06:00",
    )
    assert df["created_s"].to_list() == [5400.0, 9000.0]
    assert df["created_at"].to_list() == [
        dt.datetime(2025, 3, 9, 1, 30),
        dt.datetime(2025, 3, 9, 2, 30),
    ]
    # a: end of 9 March on the -06:00 clock; b's Z value is not read by this format
    assert df["resolution_due_s"][0] == 86_400.0
    assert math.isnan(df["resolution_due_s"][1])
    utc = load_ticket_csv(
        path, COLS, timestamp_format=fmt, priority_rule="column", start="2025-03-09"
    )
    assert utc["created_s"].to_list() == [7.5 * 3600, 8.5 * 3600]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("short", "t.csv row 3: 8 fields, the header has 9"),
        ("long", "t.csv row 3: 10 fields, the header has 9"),
    ],
)
def test_a_ragged_row_is_named_also_when_unmapped_columns_absorb_it(
    tmp_path: Path, extra: str, message: str
) -> None:
    """A file with a column nobody maps (here ``note``): polars padded a short row with
    nulls and, reading only the mapped columns, let a long one through; both loaded."""
    rows = [[*_row("a"), "ok"], [*_row("b"), "ok"], [*_row("c"), "ok"]]
    rows[1] = rows[1][:-1] if extra == "short" else [*rows[1], "more"]
    path = _write(tmp_path / "t.csv", rows, header=[*HEADER, "note"])
    with pytest.raises(ReplayError) as err:
        read_ticket_csv(path, COLS, COLUMN)
    assert str(err.value).endswith(message)


def test_a_blank_line_is_no_ragged_row(tmp_path: Path) -> None:
    """A blank line (a trailing one, say) has no fields: reported as a row without a created
    time, as polars reads it, not refused as ragged."""
    path = _write(tmp_path / "t.csv", [_row("a"), _row("b")])
    path.write_text(path.read_text() + "\n")
    replayed = read_ticket_csv(path, COLS, COLUMN)
    assert replayed.frame["ticket_id"].to_list() == ["a", "b"]
    assert [(i.row, i.problem) for i in replayed.report.issues] == [(4, "is empty")]


def test_a_truncated_gzip_is_one_error(tmp_path: Path) -> None:
    """A download cut short: one line, not polars' OSError traceback."""
    import gzip

    plain = _write(tmp_path / "t.csv", [_row(f"k{i}") for i in range(2000)])
    packed = gzip.compress(plain.read_bytes())
    cut = tmp_path / "t.csv.gz"
    cut.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(ReplayError) as err:
        read_ticket_csv(cut, COLS, COLUMN)
    assert "t.csv.gz" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_scenario_replay_reads_offsets_on_its_start_zone(tmp_path: Path) -> None:
    """The same through a scenario's ``[replay]`` (what ``sim run --replay`` loads): the
    start's offset is the clock the values are read on."""
    doc = {
        "simulation": {"horizon_s": 86_400.0},
        "geography": {"center_lat_deg": 42.3, "center_lon_deg": -71.1, "radius_km": 5},
        "technicians": {"auto": {}},
        "replay": _scenario_replay(
            tmp_path,
            start="2025-03-09T00:00:00-06:00",
            timestamp_format="%Y-%m-%dT%H:%M:%S%z",
        ),
    }
    _write(
        tmp_path / "t.csv",
        [
            _row("a", opened="2025-03-09T01:30:00-06:00"),
            _row("b", opened="2025-03-09T03:30:00-05:00"),
            _row("c", opened="2025-03-09T23:30:00-05:00"),  # 22:30 on the start's clock
            _row("d", opened="2025-03-10T00:30:00-05:00"),  # 23:30: in the window
            _row(
                "e", opened="2025-03-10T01:30:00-05:00"
            ),  # 00:30 on 10 March: after it
        ],
    )
    sc = scenario_from_dict(doc, base_dir=tmp_path)
    frame = read_replay(sc, sc.seed).frame
    assert frame["ticket_id"].to_list() == ["a", "b", "c", "d"]
    assert frame["created_s"].to_list() == [5400.0, 9000.0, 81_000.0, 84_600.0]


def test_help_desk_priorities_are_read_as_their_integer(tmp_path: Path) -> None:
    """ITSM exports write priorities as "1 - Critical", "P2", "3 (Moderate)" or "2.0";
    before, a column of them was refused as "not an integer" (or each row made P4)."""
    prios = ["1 - Critical", "P2", "3 (Moderate)", "2.0", "4 - Low", "2.5", "high"]
    path = _write(
        tmp_path / "t.csv",
        [_row(f"k{i}", prio=p) for i, p in enumerate(prios)],
    )
    replayed = read_ticket_csv(path, COLS, COLUMN)
    by_id = dict(
        zip(replayed.frame["ticket_id"], replayed.frame["priority"], strict=True)
    )
    assert [by_id[f"k{i}"] for i in range(len(prios))] == [1, 2, 3, 2, 4, 4, 4]
    assert [(i.row, i.problem) for i in replayed.report.issues] == [
        (7, "is not an integer"),
        (8, "is not an integer"),
    ]
