"""Bad command-line input and bad replay files: one readable line, exit code 2."""

from __future__ import annotations

import gzip
import logging
from typing import TYPE_CHECKING

import pytest

from dispatcher.__main__ import main
from simulations.replay import ReplayError, load_ticket_csv
from simulations.scenario import SCENARIO_DIR

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
            ["tune", "smoke", "--trials", "0", "--out", "t"],
            "--trials: must be at least 1, got 0",
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


COLS = {
    "id": "key",
    "created": "opened",
    "resolution_due": "due",
    "category": "kind",
    "skill": "crew",
    "lat": "y",
    "lon": "x",
    "priority": "prio",
}


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


def test_bad_replay_values_are_counted_in_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Unparseable dates, out-of-range priorities, non-numeric coordinates: counted, kept going."""
    path = _csv(
        tmp_path / "t.csv.gz",
        "key,opened,due,kind,crew,y,x,prio",
        "a,2020-01-01 08:00:00,,k,c,42.3,-71.1,9",
        "b,yesterday,,k,c,42.3,-71.1,2",
        "c,2020-01-01 09:00:00,soon,k,c,north,-71.1,two",
        "d,2020-01-01 10:00:00,,k,c,42.3,-71.1,0",
    )
    with caplog.at_level(logging.WARNING, logger="simulations.replay"):
        df = load_ticket_csv(
            path, COLS, timestamp_format="%Y-%m-%d %H:%M:%S", priority_rule="column"
        )
    assert df["ticket_id"].to_list() == ["a", "c", "d"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    msg = warnings[0]
    assert "1 unparseable created (row dropped)" in msg
    assert "1 unparseable resolution_due" in msg
    assert "1 non-numeric lat/lon" in msg
    assert "1 non-integer priority" in msg
    assert "2 priority outside 1..4 (clipped)" in msg
