"""Plots: they say which seeds they show, and every plot (churn included) is written."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import polars as pl
import pytest

from simulations.plots import seeds_label, write_plots
from simulations.runner import kpi_table, run_once, write_outputs
from simulations.scenario import load_scenario

if TYPE_CHECKING:
    from pathlib import Path


def test_seeds_label_names_the_seeds() -> None:
    assert seeds_label(pl.DataFrame({"seed": [3, 3]})) == "seed 3"
    assert seeds_label(pl.DataFrame({"seed": [2, 1, 3, 2]})) == "seeds 1-3"
    assert seeds_label(pl.DataFrame({"seed": [9, 1, 4]})) == "seeds 1, 4, 9"


@pytest.mark.slow  # two simulated seeds and every plot rendered: the slow step's
def test_write_plots_from_a_two_seed_run(tmp_path: Path) -> None:
    sc = dataclasses.replace(load_scenario("smoke"), horizon_s=2 * 3600.0)
    runs = [run_once(sc, p, s) for p in ("nearest", "regret") for s in (1, 2)]
    tables = write_outputs(tmp_path, runs)
    paths = write_plots(
        tmp_path,
        tables["tickets"],
        tables["technicians"],
        tables["backlog"],
        kpi_table(runs),
    )
    assert [p.name for p in paths] == [
        "sla_backlog.png",
        "response_times.png",
        "utilization.png",
        "churn.png",
    ]
    assert all(p.stat().st_size > 1000 for p in paths)
