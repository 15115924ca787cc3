"""Help desks in the simulator: agents and tickets without location never travel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulations.runner import build_roster, build_stream, run_once
from simulations.scenario import ScenarioError, load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "simulations" / "scenarios"


def test_the_help_desk_scenario_has_no_locations() -> None:
    """Every ticket and every agent of the shipped help desk has no location (NaN)."""
    sc = load_scenario("helpdesk")
    rng = np.random.default_rng(1)
    stream = build_stream(sc, rng, 1)
    roster = build_roster(sc, stream, rng)
    for coords in (
        stream.lat_deg,
        stream.lon_deg,
        roster.home_lat_deg,
        roster.home_lon_deg,
    ):
        assert np.isnan(coords).all()


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["optimizer", "regret", "nearest"])
def test_nobody_travels_at_a_help_desk(policy: str) -> None:
    """A short help desk run: work gets done, zero travel, no NaN in the KPIs."""
    sc = load_scenario("helpdesk")
    run = run_once(sc, policy, 1)
    k = run.kpis
    assert k["resolved"] > 100
    assert k["travel_km"] == 0.0
    assert k["utilization_travel_mean"] == 0.0
    assert k["utilization_work_mean"] > 0.5
    assert not any(
        isinstance(v, float) and np.isnan(v) for v in k.values() if v is not None
    )


def test_mixed_town_remote_tickets_cost_no_travel(tmp_path: Path) -> None:
    """Smoke with one category remote: those tickets have no travel, the others do."""
    text = (SCENARIOS / "smoke.toml").read_text(encoding="utf-8")
    text = text.replace(
        "priority_mix = [0.05, 0.25, 0.4, 0.3]\n",
        'priority_mix = [0.05, 0.25, 0.4, 0.3]\nlocation = "none"\n',
    )
    path = tmp_path / "mixed.toml"
    path.write_text(text, encoding="utf-8")
    run = run_once(load_scenario(path), "optimizer", 2)
    t = run.result.tickets
    done = t.filter(t["travel_km"].is_not_null() & t["travel_km"].is_not_nan())
    remote = done.filter(done["category"] == "hvac")
    onsite = done.filter(done["category"] != "hvac")
    assert remote.height > 0
    assert onsite.height > 0
    assert float(remote["travel_km"].sum()) == 0.0
    assert float(onsite["travel_km"].sum()) > 0.0


def test_a_bad_location_kind_names_the_key(tmp_path: Path) -> None:
    """location must be site or none; the error names the key."""
    text = (SCENARIOS / "helpdesk.toml").read_text(encoding="utf-8")
    path = tmp_path / "bad.toml"
    path.write_text(
        text.replace('\nlocation = "none"', '\nlocation = "moon"', 1), "utf-8"
    )
    with pytest.raises(ScenarioError, match="location"):
        load_scenario(path)
