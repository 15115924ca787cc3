"""Longer runs (marked slow): the optimizer against the baselines on the city scenario."""

from __future__ import annotations

import dataclasses

import pytest

from simulations.cli import quality_verdict
from simulations.runner import kpi_table, run_once, summarize
from simulations.scenario import load_scenario


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_city_morning_optimizer_vs_baselines() -> None:
    """City, first 9 hours, one seed: the optimizer breaches no more SLAs than the best
    baseline and travels no more per ticket."""
    sc = dataclasses.replace(load_scenario("city"), horizon_s=9 * 3600.0)
    runs = [run_once(sc, p, sc.seed) for p in ("optimizer", "nearest", "least_loaded")]
    summary = summarize(kpi_table(runs), ["sla_breaches", "travel_km_per_ticket"])
    verdict = quality_verdict(summary)
    assert verdict is not None
    k = {r.policy: r.kpis for r in runs}
    best = verdict["best_baseline"]
    assert k["optimizer"]["sla_breaches"] <= k[best]["sla_breaches"]
    assert k["optimizer"]["travel_km_per_ticket"] <= k[best]["travel_km_per_ticket"]
