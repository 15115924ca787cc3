"""The shipped real stream (Boston 311, 2015 Q3) loads, maps and replays."""

from __future__ import annotations

import dataclasses
import gzip

import polars as pl
import pytest

from simulations.replay import (
    BOSTON311_PATH,
    CITY_HALL_LAT_DEG,
    CITY_HALL_LON_DEG,
    TICKET_SCHEMA,
    load_boston311,
    load_ticket_csv,
)
from simulations.runner import run_once
from simulations.scenario import load_scenario
from tests.simulations.simtest_helpers import REPLAY_COLUMNS


def test_shipped_file_is_small_and_documented() -> None:
    """The extract stays a few MB and has its SOURCE.md beside it."""
    assert BOSTON311_PATH.stat().st_size < 3_000_000
    assert (BOSTON311_PATH.parent / "SOURCE.md").exists()


def test_load_boston311_maps_every_row() -> None:
    """All 35,844 rows load with the documented schema, priorities 1..4, unknown locations flagged."""
    df = load_boston311()
    assert df.height == 35_844
    assert dict(df.schema) == {
        k: (v() if isinstance(v, type) else v) for k, v in TICKET_SCHEMA.items()
    }
    assert df["created_at"].is_sorted()
    assert set(df["priority"].unique().to_list()) == {1, 2, 3, 4}
    assert int((~df["location_known"]).sum()) == 4_673
    unknown = df.filter(~pl.col("location_known"))
    assert (unknown["lat_deg"] == CITY_HALL_LAT_DEG).all()
    assert (unknown["lon_deg"] == CITY_HALL_LON_DEG).all()
    # P1 = the city's own SLA window of about a day
    p1 = df.filter(pl.col("priority") == 1)
    window_h = (p1["resolution_due_at"] - p1["created_at"]).dt.total_seconds() / 3600
    assert window_h.max() <= 25.0


def test_unknown_location_policies() -> None:
    """drop removes the City Hall rows; sample moves them to known places of the same queue."""
    kept = load_boston311(start="2015-07-06", end="2015-07-08")
    dropped = load_boston311(
        start="2015-07-06", end="2015-07-08", unknown_location="drop"
    )
    sampled = load_boston311(
        start="2015-07-06", end="2015-07-08", unknown_location="sample", seed=1
    )
    n_unknown = int((~kept["location_known"]).sum())
    assert n_unknown > 0
    assert dropped.height == kept.height - n_unknown
    assert sampled.height == kept.height
    moved = sampled.filter(~pl.col("location_known"))
    assert not (
        (moved["lat_deg"] == CITY_HALL_LAT_DEG)
        & (moved["lon_deg"] == CITY_HALL_LON_DEG)
    ).any()
    assert sampled.equals(
        load_boston311(
            start="2015-07-06", end="2015-07-08", unknown_location="sample", seed=1
        )
    )
    assert kept["created_s"].min() >= 0
    assert kept["created_s"].max() < 2 * 86_400


def test_generic_csv_with_a_column_mapping(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Any CSV replays through a mapping; a priority column can be used as is."""
    path = tmp_path / "t.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("key,opened,due,kind,crew,y,x,prio\n")
        f.write("b,2020-01-01 08:30:00,2020-01-01 12:00:00,leak,plumb,42.3,-71.1,2\n")
        f.write("a,2020-01-01 08:00:00,,light,elec,42.31,-71.05,9\n")
    df = load_ticket_csv(
        path,
        REPLAY_COLUMNS,
        timestamp_format="%Y-%m-%d %H:%M:%S",
        priority_rule="column",
    )
    assert df["ticket_id"].to_list() == ["a", "b"]
    assert df["priority"].to_list() == [4, 2]  # above 4: P4
    assert df["created_s"].to_list() == [8 * 3600.0, 8.5 * 3600.0]
    assert df["resolution_due_s"][1] == 12 * 3600.0
    with pytest.raises(ValueError, match="priority"):
        load_ticket_csv(
            path,
            {k: v for k, v in REPLAY_COLUMNS.items() if k != "priority"},
            priority_rule="column",
        )


@pytest.mark.slow
def test_boston311_scenario_replays_one_day() -> None:
    """A bounded slice (first day) of the shipped replay scenario runs with the optimizer."""
    sc = load_scenario("boston311")
    sc = dataclasses.replace(sc, horizon_s=86_400.0)
    run = run_once(sc, "optimizer", sc.seed)
    expected = load_boston311(start="2015-07-06", end="2015-07-07")
    t = run.result.tickets
    assert t.height == expected.height
    assert sorted(t["ticket_id"].to_list()) == sorted(expected["ticket_id"].to_list())
    k = run.kpis
    assert k["resolved"] > 0.5 * k["arrived"]
    assert k["resolved"] + k["cancelled"] + k["open_at_end"] == k["arrived"]
    # resolution due times are the city's TARGET_DT where it gave one
    with_target = expected.filter(pl.col("resolution_due_s").is_not_nan())
    got = dict(
        zip(t["ticket_id"].to_list(), t["resolution_due_s"].to_list(), strict=True)
    )
    assert all(
        got[i] == d
        for i, d in zip(
            with_target["ticket_id"].to_list(),
            with_target["resolution_due_s"].to_list(),
            strict=True,
        )
    )
