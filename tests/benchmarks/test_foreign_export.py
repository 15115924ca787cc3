"""benchmarks/foreign_export.py: the synthetic foreign export replays through the documented
bring-your-own-data path with exactly the faults it wrote, each reported by its row."""

from __future__ import annotations

import csv
import datetime as dt
from typing import TYPE_CHECKING

from benchmarks.foreign_export import STAMP, write_export
from simulations.scenario import load_scenario
from simulations.streams import read_replay

if TYPE_CHECKING:
    from pathlib import Path


def test_the_export_replays_with_each_written_fault_reported(tmp_path: Path) -> None:
    days = 0.5
    replay = write_export(tmp_path, rows=600, days=days, seed=11)
    with (tmp_path / "export.csv").open() as f:
        rows = list(csv.DictReader(f))
    end = dt.datetime(2023, 11, 4) + dt.timedelta(days=days)
    # spreadsheet row numbers (header = 1) of the rows created in the replay window
    inside = [
        i
        for i, r in enumerate(rows)
        if dt.datetime.strptime(r["Created Date"], STAMP) < end
    ]
    assert len(inside) > 500  # arrivals are random: a few may fall past the window
    no_location = {i + 2 for i in inside if i % 97 == 0}
    due_before = {i + 2 for i in inside if i % 211 == 0} - no_location

    sc = load_scenario("boston311", replay_file=replay)
    replayed = read_replay(sc, sc.seed)
    report = replayed.report
    assert set(report.skipped_rows) == no_location
    clamped = {
        i.row for i in report.issues if i.role == "resolution_due" and not i.skipped
    }
    assert clamped == due_before
    assert replayed.frame.height == len(inside) - len(no_location)
    # a date-only due is the end of that day on the file's clock
    frame = replayed.frame
    first_date_only = next(i for i in inside if i % 5 == 0 and i % 97 and i % 211)
    due = frame.filter(frame["source_row"] == first_date_only + 2)["resolution_due_at"]
    day = dt.datetime.strptime(rows[first_date_only]["Due Date"], "%m/%d/%Y")
    assert due.to_list() == [day + dt.timedelta(days=1)]
