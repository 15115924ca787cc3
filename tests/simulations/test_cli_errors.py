"""Bad command-line input and bad replay files: one readable line, exit code 2."""

from __future__ import annotations

import gzip
import json
from typing import TYPE_CHECKING

import polars as pl
import pytest

from dispatcher.__main__ import main
from simulations.replay import ReplayError, load_ticket_csv
from simulations.scenario_files import SCENARIO_DIR
from tests.simulations.simtest_helpers import REPLAY_COLUMNS as COLS

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["compare", "smoke", "--policies", "nearest", "--seeds", "0"],
            "--seeds: must be at least 1, got 0",
        ),
        (
            ["run", "smoke", "--policy", "nearest", "--seeds", "-1", "--out", "o"],
            "--seeds: must be at least 1, got -1",
        ),
        (
            ["compare", "smoke", "--policies", "nearest", "--horizon-s", "-5"],
            "--horizon-s: must be a positive",
        ),
        (
            ["compare", "smoke", "--policies", "nearest", "--horizon-s", "0"],
            "--horizon-s: must be a positive",
        ),
        (
            ["compare", "smoke", "--policies", "nearest", "--jobs", "0"],
            "--jobs: must be at least 1",
        ),
        (["compare", "smoke", "--policies", "nearest,bogus"], "unknown policy 'bogus'"),
        (
            ["compare", "smoke", "--policies", "nearest", "--seed-offset", "-1"],
            "--seed-offset: must be 0 or more, got -1",
        ),
        (
            ["compare", "smoke", "--replay", "nowhere.toml"],
            "no replay file 'nowhere.toml'",
        ),
        (
            ["tune", "smoke", "--trials", "0", "--out", "t"],
            "--trials: must be at least 1, got 0",
        ),
        (
            ["tune", "smoke", "--trials", "2", "--holdout-seeds", "0", "--out", "t"],
            "--holdout-seeds: must be at least 1, got 0",
        ),
        (
            ["tune", "smoke", "--trials", "1", "--seed-offset", "-1", "--out", "t"],
            "--seed-offset: must be 0 or more, got -1",
        ),
        (
            [
                "tune",
                "smoke",
                "--trials",
                "1",
                "--replay",
                "nowhere.toml",
                "--out",
                "t",
            ],
            "no replay file 'nowhere.toml'",
        ),
    ],
)
def test_cli_refuses_bad_values_up_front(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2 with one line on stderr, nothing run (no progress bar, no table)."""
    assert main(["sim", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["run", "smoke", "--seeds", "x", "--out", "o"],
            "dispatcher sim run: error: argument --seeds: invalid int value: 'x'",
        ),
        (
            ["compare", "smoke", "--seed-offset", "1.5"],
            "dispatcher sim compare: error: argument --seed-offset: invalid int value",
        ),
        (
            ["run", "smoke"],
            "dispatcher sim run: error: the following arguments are required: --out",
        ),
        (["tune", "smoke", "--trials"], "argument --trials: expected one argument"),
    ],
)
def test_cli_usage_errors_are_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A value argparse cannot read is refused like the others: exit 2, one line (not the
    usage block first)."""
    with pytest.raises(SystemExit) as exited:
        main(["sim", *argv])
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1, err
    assert message in err


@pytest.mark.parametrize("command", ["run", "compare", "tune"])
def test_help_names_every_shipped_scenario(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The SCENARIO help lists the scenario files shipped (the help desk was missing)."""
    with pytest.raises(SystemExit) as exited:
        main(["sim", command, "--help"])
    assert exited.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    names = sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))
    assert "helpdesk" in names
    assert f"shipped name ({', '.join(names)})" in help_text


def _csv(path: Path, header: str, *rows: str) -> Path:
    with gzip.open(path, "wt") as f:
        f.write(header + "\n" + "".join(r + "\n" for r in rows))
    return path


def test_replay_with_missing_columns_names_them(tmp_path: Path) -> None:
    """A mapping naming columns the file lacks: one message listing them."""
    path = _csv(
        tmp_path / "t.csv.gz",
        "key,opened,kind,crew,lat,x",
        "a,2020-01-01 08:00:00,k,c,1,2",
    )
    with pytest.raises(ReplayError, match="'due', 'y', 'prio' not in the file"):
        load_ticket_csv(path, COLS, priority_rule="column")


def test_cli_replay_scenario_with_missing_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same through ``sim run`` on a csv-format scenario: exit 2, one line."""
    _csv(
        tmp_path / "t.csv",
        "key,opened,kind,crew,y,x",
        "a,2015-07-06 08:00:00,k,c,42.3,-71.1",
    )
    text = (SCENARIO_DIR / "boston311.toml").read_text()
    text = text.replace('path = "../data/boston311_2015Q3.csv.gz"', 'path = "t.csv"')
    text = text.replace('format = "boston311"', 'format = "csv"')
    text = text.replace(
        'timestamp_format = "%m/%d/%Y %I:%M:%S %p"',
        'timestamp_format = "%Y-%m-%d %H:%M:%S"',
    )
    start = text.index("[replay.columns]")
    end = text.index("[technicians.auto]")
    cols = "".join(f'{k} = "{v}"\n' for k, v in COLS.items())
    text = text[:start] + "[replay.columns]\n" + cols + "\n" + text[end:]
    (tmp_path / "s.toml").write_text(text)
    rc = main(
        [
            "sim",
            "run",
            str(tmp_path / "s.toml"),
            "--policy",
            "nearest",
            "--out",
            str(tmp_path / "o"),
            "--no-plots",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1
    assert "'due', 'prio' not in the file" in err


def _replay_file(tmp_path: Path, csv_rows: list[str], **overrides: str) -> Path:
    """A replay TOML (one [replay] table) for ``--replay``, over a small CSV beside it."""
    _csv(tmp_path / "mine.csv", "key,opened,due,kind,crew,y,x,prio", *csv_rows)
    replay = {
        "path": '"mine.csv"',
        "format": '"csv"',
        "start": '"2015-07-06T00:00:00"',
        "duration_days": "1.0",
        "timestamp_format": '"%Y-%m-%d %H:%M:%S"',
        "duration_mean_s": "1800.0",
        **overrides,
    }
    text = "[replay]\n" + "".join(f"{k} = {v}\n" for k, v in replay.items())
    text += "[replay.columns]\n" + "".join(f'{k} = "{v}"\n' for k, v in COLS.items())
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return path


GOOD_ROWS = [
    "a,2015-07-06 08:00:00,2015-07-06,leak,plumb,42.35,-71.06,1",
    "b,2015-07-06 09:00:00,,light,elec,42.31,-71.08,3",
    "c,2015-07-06 10:00:00,2015-07-07 10:00:00,leak,plumb,,,2",
    "d,2015-07-06 11:00:00,2015-07-08,light,elec,42.33,-71.05,4",
]


def _sim_run(tmp_path: Path, replay: Path, *extra: str) -> int:
    argv = ["sim", "run", "boston311", "--replay", str(replay), "--policy", "nearest"]
    return main([*argv, "--out", str(tmp_path / "o"), "--no-plots", *extra])


def test_cli_replays_your_csv_and_reports_its_skipped_rows_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--replay FILE`` replaces the scenario's stream; a row without a location is skipped
    (the default) and said once on stderr with its row number, not once per seed."""
    replay = _replay_file(tmp_path, GOOD_ROWS)
    assert _sim_run(tmp_path, replay, "--seeds", "2") == 0
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "dispatcher sim: warning: replay mine.csv: 1 row(s) skipped, 0 adjusted, 3 loaded of 4: "
        "1 x location is empty: row skipped (row 4)"
    ]
    tickets = pl.read_csv(tmp_path / "o" / "tickets.csv")
    assert sorted(set(tickets["ticket_id"].to_list())) == ["a", "b", "d"]
    assert sorted(set(tickets["seed"].to_list())) == [1, 2]


@pytest.mark.parametrize(
    ("rows", "overrides", "message"),
    [
        (
            GOOD_ROWS,
            {"start": '"2016-01-01T00:00:00"'},
            "replay.start: no ticket of mine.csv is created in [2016-01-01 00:00, "
            "2016-01-02 00:00) (its tickets are created 2015-07-06 08:00 .. "
            "2015-07-06 11:00)",
        ),
        (
            [r.replace("2015-07-06 ", "06/07/2015 ", 1) for r in GOOD_ROWS],
            {},
            "mine.csv row 2, column 'opened' (created): '06/07/2015 08:00:00' is not a "
            "date-time matching '%Y-%m-%d %H:%M:%S', nor is any value of the column",
        ),
        (
            [*GOOD_ROWS, "e,2015-07-06 12:00:00,,k,c,1,2,3,4"],
            {},
            "mine.csv row 6: 9 fields, the header has 8",
        ),
        (
            GOOD_ROWS,
            {"unknown_location": '"city_hall"'},
            "mine.toml: replay.unknown_location: must be one of drop, keep, sample",
        ),
        (
            GOOD_ROWS,
            {"path": '"missing.csv"'},
            "mine.toml: replay.path: file not found",
        ),
    ],
)
@pytest.mark.parametrize("command", ["run", "tune"])
def test_cli_refuses_an_unusable_replay_in_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    rows: list[str],
    overrides: dict[str, str],
    message: str,
    command: str,
) -> None:
    """Exit 2, one line naming the field, column or row, nothing run, no traceback; the
    same for ``sim tune --replay`` (no study is created)."""
    replay = _replay_file(tmp_path, rows, **overrides)
    if command == "run":
        assert _sim_run(tmp_path, replay) == 2
    else:
        out_dir = tmp_path / "t"
        argv = ["sim", "tune", "boston311", "--replay", str(replay), "--trials", "1"]
        assert main([*argv, "--out", str(out_dir)]) == 2
        assert not out_dir.exists()
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in err


def test_cli_refuses_a_bad_column_role_in_the_replay_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    replay = _replay_file(tmp_path, GOOD_ROWS)
    replay.write_text(replay.read_text() + 'owner = "key"\n')
    assert _sim_run(tmp_path, replay) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "mine.toml: replay.columns.owner: unknown column role (known: id," in err


def test_cli_refuses_a_replay_file_with_other_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    replay = _replay_file(tmp_path, GOOD_ROWS)
    replay.write_text(replay.read_text() + "[simulation]\nhorizon_s = 1.0\n")
    assert _sim_run(tmp_path, replay) == 2
    err = capsys.readouterr().err
    assert "must hold one [replay] table and nothing else (found simulation)" in err


def test_seed_offset_starts_later_seeds(capsys: pytest.CaptureFixture[str]) -> None:
    """``--seeds 2 --seed-offset 3`` on a scenario with seed 1 runs seeds 4 and 5."""
    argv = ["sim", "compare", "smoke", "--policies", "nearest", "--seeds", "2"]
    assert main([*argv, "--seed-offset", "3", "--horizon-s", "1800"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if " done: " in ln]
    assert [ln.split(" done:")[0] for ln in lines] == [
        "[1/2] nearest seed 4",
        "[2/2] nearest seed 5",
    ]


def test_tune_replays_your_csv_from_a_seed_offset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``sim tune --replay FILE --seed-offset 3`` (the flags of run/compare): every run is
    on the replayed tickets (3 loaded of 4, the skipped row said once), the tuning seed is
    4 and the held-out seed 5, and the study is named after the replay too."""
    replay = _replay_file(tmp_path, GOOD_ROWS)
    out = tmp_path / "t"
    argv = ["sim", "tune", "boston311", "--replay", str(replay), "--seed-offset", "3"]
    argv += ["--trials", "1", "--seeds", "1", "--holdout-seeds", "1"]
    assert main([*argv, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.count("replay mine.csv: 1 row(s) skipped, 0 adjusted, 3 loaded") == 1
    report = json.loads((out / "report.json").read_text())
    assert (report["tuning_seeds"], report["holdout_seeds"]) == ([4], [5])
    assert report["study"] == "tune-boston311-mine"
    runs = pl.read_csv(out / "evaluation.csv")
    assert sorted(set(runs["seed"].to_list())) == [4, 5]
    assert set(runs["arrived"].to_list()) == {3}


def test_cli_warns_of_replayed_tickets_whose_skill_no_technician_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A replay on a scenario's own crews (here the help desk's agents) whose skills none of
    them holds: those tickets can never be assigned; said once, with counts per skill,
    before the runs, instead of a silent 0% utilisation."""
    replay = _replay_file(tmp_path, GOOD_ROWS)
    argv = ["sim", "run", "helpdesk", "--replay", str(replay), "--policy", "nearest"]
    argv += ["--horizon-s", "86400", "--out", str(tmp_path / "o"), "--no-plots"]
    assert main(argv) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == (
        "dispatcher sim: warning: replay mine.csv: 3 ticket(s) need a skill no "
        "technician holds at the level asked, so nobody can take them (each a miss): "
        "2 x 'elec', 1 x 'plumb'"
    )


def test_cli_says_nothing_of_skills_when_the_crews_hold_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    replay = _replay_file(tmp_path, GOOD_ROWS)
    assert _sim_run(tmp_path, replay) == 0
    assert "no technician holds" not in capsys.readouterr().err
