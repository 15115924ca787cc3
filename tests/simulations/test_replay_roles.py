"""Replay roles beyond the basics (issue 13, Must 4): ``closed`` (work times from closed -
created when the file has none), ``source`` (carried to the ticket log), the file's
separator, priority 0, a directory as path, and a horizon shorter than the replay window."""

from __future__ import annotations

import csv
import subprocess
import sys
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pytest

from dispatcher.__main__ import main
from simulations.kpi import ticket_kpis_by
from simulations.replay import ReplayError, ReplayOptions, read_ticket_csv
from simulations.replay_rows import NO_CLOSED_TIME, PRIORITY_BELOW_1
from simulations.replay_work import (
    FROM_CLOSED,
    FROM_DEFAULT,
    FROM_WORK_TIME,
    CategoryWork,
    category_work,
    expected_work_s,
    work_time_note,
)
from simulations.runner import run_once
from simulations.scenario import load_scenario, scenario_from_dict
from simulations.streams import build_stream, read_replay, replay_notes

if TYPE_CHECKING:
    from pathlib import Path

TS = "%Y-%m-%d %H:%M:%S"
COLUMN = ReplayOptions(timestamp_format=TS, priority_rule="column")
INCIDENT_HEADER = [
    "number",
    "opened_at",
    "closed_at",
    "category",
    "group",
    "prio",
    "via",
]
INCIDENTS = {
    "id": "number",
    "created": "opened_at",
    "closed": "closed_at",
    "category": "category",
    "skill": "group",
    "priority": "prio",
    "source": "via",
}
# An IT incident log with closing times and no work times. closed - created, by category:
#   password: 600, 1200, 2400, 6000 s (INC10 closed at its creation: none)
#     25th percentile, linear: 600 + 0.75 x (1200 - 600) = 1050 s; median 1800 s
#   vpn: 1800, 5400 s (INC7 closed before its creation: none)
#     25th percentile: 1800 + 0.25 x 3600 = 2700 s; median 3600 s
#   printer: no usable closing time (empty; 'n/a'): duration_mean_s
INCIDENT_ROWS = [
    ["INC1", "2024-03-04 08:00:00", "2024-03-04 08:10:00", "password", "desk", "3", "phone"],
    ["INC2", "2024-03-04 09:00:00", "2024-03-04 09:20:00", "password", "desk", "3", "email"],
    ["INC3", "2024-03-04 10:00:00", "2024-03-04 10:40:00", "password", "desk", "2", "web"],
    ["INC4", "2024-03-04 11:00:00", "2024-03-04 12:40:00", "password", "desk", "4", "phone"],
    ["INC5", "2024-03-04 08:30:00", "2024-03-04 09:00:00", "vpn", "network", "2", "email"],
    ["INC6", "2024-03-04 09:30:00", "2024-03-04 11:00:00", "vpn", "network", "1", "phone"],
    ["INC7", "2024-03-04 10:00:00", "2024-03-04 09:00:00", "vpn", "network", "3", "web"],
    ["INC8", "2024-03-04 10:30:00", "", "printer", "desk", "4", ""],
    ["INC9", "2024-03-04 11:30:00", "n/a", "printer", "desk", "4", "phone"],
    ["INC10", "2024-03-04 12:00:00", "2024-03-04 12:00:00", "password", "desk", "3", "web"],
]  # fmt: skip
EXPECTED_WORK_S = {"password": 1050.0, "vpn": 2700.0, "printer": 1800.0}


def _write(
    path: Path, rows: list[list[str]], header: list[str], delimiter: str = ","
) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(header)
        w.writerows(rows)
    return path


def _incidents(tmp_path: Path) -> Path:
    return _write(tmp_path / "incidents.csv", INCIDENT_ROWS, INCIDENT_HEADER)


def _replay_toml(tmp_path: Path, csv_name: str, **extra: str) -> Path:
    """A ``--replay`` file for the incident log (no location: a help desk)."""
    replay = {
        "path": f'"{csv_name}"',
        "format": '"csv"',
        "start": '"2024-03-04T00:00:00"',
        "duration_days": "1.0",
        "timestamp_format": f'"{TS}"',
        "duration_mean_s": "1800.0",
        "duration_cv": "0.0",
        **extra,
    }
    text = "[replay]\n" + "".join(f"{k} = {v}\n" for k, v in replay.items())
    text += "[replay.columns]\n"
    text += "".join(f'{k} = "{v}"\n' for k, v in INCIDENTS.items())
    path = tmp_path / "incidents.toml"
    path.write_text(text)
    return path


def test_a_closed_only_log_gets_each_categorys_work_time_from_closed_minus_created(
    tmp_path: Path,
) -> None:
    """No work-time column: per category the 25th percentile of closed - created (hand
    computed above); closed times that are unparseable or not after the creation give
    none and are reported as adjusted; a category without any keeps duration_mean_s."""
    replayed = read_ticket_csv(_incidents(tmp_path), INCIDENTS, COLUMN)
    assert replayed.frame.height == 10  # a bad closed time skips no row
    assert [(i.row, i.role, i.problem, i.action) for i in replayed.report.issues] == [
        (8, "closed", "is not after created", NO_CLOSED_TIME),
        (10, "closed", "is not a date-time", NO_CLOSED_TIME),
        (11, "closed", "is not after created", NO_CLOSED_TIME),
    ]
    assert category_work(replayed.frame, fallback_s=1800.0) == [
        CategoryWork("password", 1050.0, FROM_CLOSED, 4),
        CategoryWork("printer", 1800.0, FROM_DEFAULT, 0),
        CategoryWork("vpn", 2700.0, FROM_CLOSED, 2),
    ]
    per_ticket = dict(
        zip(
            replayed.frame["ticket_id"],
            expected_work_s(replayed.frame, fallback_s=1800.0),
            strict=True,
        )
    )
    categories = dict(
        zip(replayed.frame["ticket_id"], replayed.frame["category"], strict=True)
    )
    assert per_ticket == {t: EXPECTED_WORK_S[c] for t, c in categories.items()}
    assert work_time_note(category_work(replayed.frame, 1800.0), "incidents.csv") == (
        "replay incidents.csv: expected work time per category: 2 categories from the "
        "25th percentile of closed - created (6 rows: 'password' 1,050 s (4 rows), "
        "'vpn' 2,700 s (2 rows)); 1 without either keeps duration_mean_s 1,800 s ('printer')"
    )
    by_id = {r["ticket_id"]: r for r in replayed.frame.iter_rows(named=True)}
    assert by_id["INC1"]["closed_s"] == 8 * 3600.0 + 600.0  # since the day's midnight
    assert by_id["INC7"]["closed_at"] is None
    assert by_id["INC9"]["closed_at"] is None
    assert np.isnan(by_id["INC8"]["closed_s"])


def test_work_time_wins_over_closed_per_category(tmp_path: Path) -> None:
    """Both columns mapped: a category with work times takes their mean (closed ignored);
    one without any takes the quantile of closed - created."""
    rows = [
        [*r, m] for r, m in zip(INCIDENT_ROWS, ["30", "60"] + [""] * 8, strict=True)
    ]
    path = _write(tmp_path / "both.csv", rows, [*INCIDENT_HEADER, "minutes"])
    columns = {**INCIDENTS, "work_time": "minutes"}
    frame = read_ticket_csv(path, columns, COLUMN).frame
    estimates = category_work(frame, fallback_s=1800.0)
    assert estimates == [
        CategoryWork("password", 2700.0, FROM_WORK_TIME, 2),  # (30 + 60) / 2 min
        CategoryWork("printer", 1800.0, FROM_DEFAULT, 0),
        CategoryWork("vpn", 2700.0, FROM_CLOSED, 2),
    ]
    assert work_time_note(estimates, "both.csv") == (
        "replay both.csv: expected work time per category: 1 category from the mean of "
        "work_time (2 rows: 'password' 2,700 s (2 rows)); 1 category from the 25th "
        "percentile of closed - created (2 rows: 'vpn' 2,700 s (2 rows)); 1 without "
        "either keeps duration_mean_s 1,800 s ('printer')"
    )


def test_closed_quantile_sets_the_estimate_and_the_run_uses_it(tmp_path: Path) -> None:
    """``closed_quantile = 0.5`` (the median) through a scenario: the simulated estimates
    (duration_cv 0) are the hand-computed medians, and the note says which estimate."""
    _incidents(tmp_path)
    doc = {
        "simulation": {"horizon_s": 86_400.0},
        "geography": {"center_lat_deg": 0.0, "center_lon_deg": 0.0, "radius_km": 1},
        "technicians": {"auto": {}},
        "replay": {
            "path": "incidents.csv",
            "format": "csv",
            "start": "2024-03-04T00:00:00",
            "duration_days": 1.0,
            "timestamp_format": TS,
            "duration_mean_s": 900.0,
            "duration_cv": 0.0,
            "closed_quantile": 0.5,
            "columns": INCIDENTS,
        },
    }
    sc = scenario_from_dict(doc, base_dir=tmp_path)
    stream = build_stream(sc, np.random.default_rng(0), 0)
    est = dict(zip(stream.ticket_id, stream.duration_est_s, strict=True))
    assert (est["INC1"], est["INC5"], est["INC8"]) == (1800.0, 3600.0, 900.0)
    notes = replay_notes(sc, read_replay(sc, sc.seed))
    assert notes == [
        "replay incidents.csv: expected work time per category: 2 categories from the "
        "50th percentile of closed - created (6 rows: 'password' 1,800 s (4 rows), "
        "'vpn' 3,600 s (2 rows)); 1 without either keeps duration_mean_s 900 s ('printer')"
    ]


def test_source_is_carried_to_the_ticket_log(tmp_path: Path) -> None:
    """The ``source`` role's value is each ticket's ``source`` in the run's ticket log
    (null where the file has none); a stream without the role logs nulls."""
    _incidents(tmp_path)
    sc = load_scenario("boston311", replay_file=_replay_toml(tmp_path, "incidents.csv"))
    run = run_once(sc, "nearest", sc.seed)
    log = dict(run.result.tickets.select("ticket_id", "source").iter_rows())
    assert log == {r[0]: r[6] or None for r in INCIDENT_ROWS}
    smoke = load_scenario("smoke")
    plain = run_once(smoke, "nearest", smoke.seed).result.tickets
    assert plain.schema["source"] == pl.String
    assert plain["source"].is_null().all()
    assert ticket_kpis_by(plain, "source").height == 0  # no kpis_by_source table
    per_source = ticket_kpis_by(run.result.tickets, "source")
    assert per_source["source"].to_list() == ["email", "phone", "web", None]
    assert per_source["arrived"].to_list() == [2, 4, 3, 1]
    assert per_source["sla_breaches"].sum() == run.kpis["sla_breaches"]


def test_a_closed_column_none_of_whose_values_parse_is_refused(tmp_path: Path) -> None:
    rows = [[*r[:2], "04/03/2024 09:00", *r[3:]] for r in INCIDENT_ROWS]
    path = _write(tmp_path / "bad.csv", rows, INCIDENT_HEADER)
    with pytest.raises(
        ReplayError,
        match=r"^bad.csv row 2, column 'closed_at' \(closed\): '04/03/2024 09:00' is not "
        r"a date-time matching",
    ):
        read_ticket_csv(path, INCIDENTS, COLUMN)


def test_priority_0_reads_as_p1_and_is_reported(tmp_path: Path) -> None:
    """P0 is the most urgent level of many trackers: 0 is P1, above 4 is P4, each a
    counted adjustment naming the mapping."""
    rows = [r[:] for r in INCIDENT_ROWS[:3]]
    rows[0][5], rows[1][5] = "0", "7"
    replayed = read_ticket_csv(
        _write(tmp_path / "p.csv", rows, INCIDENT_HEADER), INCIDENTS, COLUMN
    )
    assert replayed.frame.sort("source_row")["priority"].to_list() == [1, 4, 2]
    assert [(i.row, i.problem, i.action) for i in replayed.report.issues] == [
        (2, "is below 1", PRIORITY_BELOW_1),
        (3, "is above 4", "P4"),
    ]
    summary = replayed.report.summary()
    assert summary is not None
    assert (
        "1 x priority is below 1: P1 (the most urgent, as a P0) (row 2 '0')" in summary
    )


def test_a_semicolon_file_is_read_with_its_separator_and_hinted_without(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path / "semi.csv", INCIDENT_ROWS, INCIDENT_HEADER, ";")
    with pytest.raises(
        ReplayError,
        match=r"the file has 1 columns; it looks separated by ';': set separator = \";\"",
    ):
        read_ticket_csv(path, INCIDENTS, COLUMN)
    semi = ReplayOptions(timestamp_format=TS, priority_rule="column", separator=";")
    frame = read_ticket_csv(path, INCIDENTS, semi).frame
    assert frame.height == 10
    with pytest.raises(ReplayError, match=r"^separator: must be one of ',', ';'"):
        read_ticket_csv(
            path, INCIDENTS, ReplayOptions(TS, priority_rule="column", separator=":")
        )


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_a_utf16_file_is_named_as_such(tmp_path: Path, encoding: str) -> None:
    """polars reads UTF-8 only: a UTF-16 file's columns are not found, and the message
    says why (with or without a byte order mark) instead of only listing them."""
    path = tmp_path / "u16.csv"
    with path.open("w", newline="", encoding=encoding) as f:
        csv.writer(f).writerows([INCIDENT_HEADER, *INCIDENT_ROWS])
    with pytest.raises(ReplayError, match=r"; it looks UTF-16: save it as UTF-8\)$"):
        read_ticket_csv(path, INCIDENTS, COLUMN)


def test_a_directory_as_path_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match=r"is a directory, not a CSV file$"):
        read_ticket_csv(tmp_path, INCIDENTS, COLUMN)


def _sim_run(tmp_path: Path, scenario: str, replay: Path, *extra: str) -> int:
    argv = ["sim", "run", scenario, "--replay", str(replay), "--policy", "nearest"]
    return main([*argv, "--out", str(tmp_path / "o"), "--no-plots", *extra])


def test_cli_says_the_work_time_estimate_and_logs_the_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``sim run --replay`` on the closed-only log: the adjusted rows and the estimate
    used, once each on stderr before the runs (two seeds); tickets.csv has the source."""
    _incidents(tmp_path)
    replay = _replay_toml(tmp_path, "incidents.csv")
    assert _sim_run(tmp_path, "boston311", replay, "--seeds", "2") == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "dispatcher sim: warning: replay incidents.csv: 0 row(s) skipped, 3 adjusted, "
        "10 loaded of 10: 2 x closed is not after created: no closed time (no work time "
        "from it) (rows 8 '2024-03-04 09:00:00', 11 '2024-03-04 12:00:00'); 1 x closed is "
        "not a date-time: no closed time (no work time from it) (row 10 'n/a')",
        "dispatcher sim: warning: replay incidents.csv: expected work time per category: "
        "2 categories from the 25th percentile of closed - created (6 rows: 'password' "
        "1,050 s (4 rows), 'vpn' 2,700 s (2 rows)); 1 without either keeps "
        "duration_mean_s 1,800 s ('printer')",
    ]
    tickets = pl.read_csv(tmp_path / "o" / "tickets.csv")
    got = set(tickets.select("seed", "ticket_id", "source").iter_rows())
    assert got == {(s, r[0], r[6] or None) for s in (1, 2) for r in INCIDENT_ROWS}
    by_source = pl.read_csv(tmp_path / "o" / "kpis_by_source.csv")
    arrived = {
        (s, src): n
        for s, src, n in by_source.select("seed", "source", "arrived").iter_rows()
    }
    # phone: INC1, INC4, INC6, INC9; email: INC2, INC5; web: INC3, INC7, INC10; none: INC8
    counts = {"phone": 4, "email": 2, "web": 3, None: 1}
    assert arrived == {(s, src): n for s in (1, 2) for src, n in counts.items()}
    total = pl.read_csv(tmp_path / "o" / "kpis.csv")
    assert (
        by_source.group_by("seed")
        .agg(pl.col("sla_breaches").sum())
        .sort("seed")["sla_breaches"]
        .to_list()
        == total.sort("seed")["sla_breaches"].to_list()
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({}, "it looks separated by ';': set separator = \";\" in [replay]"),
        (
            {"separator": '"::"'},
            "replay.separator: must be one of ',', ';', '\\t', '|', got '::'",
        ),
        ({"closed_quantile": "1.5"}, "replay.closed_quantile: must be <= 1, got 1.5"),
        (
            {"closed_quantile": "0"},
            "replay.closed_quantile: must be a finite number > 0",
        ),
    ],
)
def test_cli_refuses_a_bad_separator_or_quantile_in_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: dict[str, str],
    message: str,
) -> None:
    _write(tmp_path / "semi.csv", INCIDENT_ROWS, INCIDENT_HEADER, ";")
    assert (
        _sim_run(tmp_path, "boston311", _replay_toml(tmp_path, "semi.csv", **extra))
        == 2
    )
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in err


def test_cli_reads_a_semicolon_file_with_its_separator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path / "semi.csv", INCIDENT_ROWS, INCIDENT_HEADER, ";")
    replay = _replay_toml(tmp_path, "semi.csv", separator='";"')
    assert _sim_run(tmp_path, "boston311", replay) == 0
    assert pl.read_csv(tmp_path / "o" / "tickets.csv").height == 10
    capsys.readouterr()


def test_cli_refuses_a_directory_as_replay_path_in_one_line(tmp_path: Path) -> None:
    """Through the installed entry point (a real process): exit 2, one line naming the
    directory, not polars' text."""
    (tmp_path / "data").mkdir()
    replay = _replay_toml(tmp_path, "data")
    argv = ["sim", "run", "boston311", "--replay", str(replay), "--policy", "nearest"]
    done = subprocess.run(
        [sys.executable, "-m", "dispatcher", *argv, "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr == (
        f"dispatcher sim: error: {replay}: replay.path: is a directory, not a CSV file: "
        f"{tmp_path / 'data'}\n"
    )


def test_cli_warns_of_replayed_rows_beyond_a_shorter_horizon(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The help desk's 10 h horizon on a one-day replay: the rows created after it are
    counted and said, with the horizon that covers the window (before: left out silently)."""
    _incidents(tmp_path)
    replay = _replay_toml(tmp_path, "incidents.csv")
    assert _sim_run(tmp_path, "helpdesk", replay) == 0
    err = capsys.readouterr().err
    # INC3, INC7 (10:00), INC8, INC4, INC9, INC10 are created at or after 10:00
    assert (
        "dispatcher sim: warning: replay incidents.csv: 6 row(s) created after the "
        "horizon (36000 s after start: 2024-03-04 10:00) and before the end of the replay "
        "window (2024-03-05 00:00, duration_days 1) are not replayed; --horizon-s 86400 "
        "covers the window\n"
    ) in err
    assert pl.read_csv(tmp_path / "o" / "tickets.csv").height == 4
    assert _sim_run(tmp_path, "helpdesk", replay, "--horizon-s", "86400") == 0
    assert "after the horizon" not in capsys.readouterr().err


@pytest.mark.parametrize(("days", "auto"), [(3.0, True), (1.0, True), (3.0, False)])
def test_auto_crews_sized_over_days_without_tickets_are_said(
    tmp_path: Path, days: float, auto: bool
) -> None:
    """Tickets of one morning in a 3-day window: auto crews are sized over 3 days (a third
    of the file's rate), said once; not for a 1-day window nor for the scenario's own crews."""
    _incidents(tmp_path)
    crews = (
        {"auto": {}}
        if auto
        else {"groups": [{"name": "desk", "count": 2, "skills": {"desk": 1}}]}
    )
    doc = {
        "simulation": {"horizon_s": days * 86_400.0},
        "geography": {"center_lat_deg": 0.0, "center_lon_deg": 0.0, "radius_km": 1},
        "technicians": crews,
        "replay": {
            "path": "incidents.csv",
            "format": "csv",
            "start": "2024-03-04T00:00:00",
            "duration_days": days,
            "timestamp_format": TS,
            "duration_mean_s": 900.0,
            "columns": INCIDENTS,
        },
    }
    sc = scenario_from_dict(doc, base_dir=tmp_path)
    notes = [n for n in replay_notes(sc, read_replay(sc, sc.seed)) if "sized" in n]
    if days == 1.0 or not auto:
        assert notes == []
        return
    assert notes == [
        "replay incidents.csv: the last ticket is created 2024-03-04 12:00, 2.5 day(s) "
        "before the end of the replay window (2024-03-07 00:00): auto crews are sized "
        "over the whole window (3 days), for fewer tickets a day than arrive over the "
        "file's 0.5 days; set duration_days to the file's span to size them on it"
    ]
