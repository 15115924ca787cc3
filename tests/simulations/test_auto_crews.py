"""Auto crew sizing (replay): the crew total matches the target utilization."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from simulations.scenario import load_scenario, scenario_from_dict
from simulations.streams import auto_crew_plan, build_roster, build_stream

if TYPE_CHECKING:
    from pathlib import Path

    from simulations.scenario import Scenario


def test_plan_packs_remainders_onto_shared_technicians() -> None:
    """Floor per skill dedicated, fractions packed first-fit decreasing, every skill held."""
    dedicated, shared = auto_crew_plan(
        ["a", "b", "c", "d"], [2.5, 0.2, 0.6, 0.3], min_per_skill=1, max_per_skill=50
    )
    assert dedicated == {"a": 2, "b": 0, "c": 0, "d": 0}
    assert shared == [("c", "d"), ("a", "b")]  # 0.6+0.3 | 0.5+0.2
    assert auto_crew_plan(["a"], [7.5], max_per_skill=3) == ({"a": 3}, [])
    # min_per_skill counts holders of the skill, shared or dedicated
    dedicated, shared = auto_crew_plan(["a", "b"], [0.1, 0.1], min_per_skill=2)
    assert dedicated == {"a": 1, "b": 1}
    assert shared == [("a", "b")]


def test_boston311_crews_hit_the_target_utilization() -> None:
    """Planned work per crew-hour is the scenario's target (0.6), deterministically."""
    sc = load_scenario("boston311")
    a = sc.auto_crews
    assert a is not None
    stream = build_stream(sc, np.random.default_rng(sc.seed), sc.seed)
    assert stream.skill.size == 2359  # the week's rows, as the description says
    assert "2,359" in sc.description
    roster = build_roster(sc, stream, np.random.default_rng(sc.seed))
    work_h = float((stream.duration_est_s + a.travel_allowance_s).sum()) / 3600.0
    capacity_h = len(roster.tech_id) * a.shift_hours * sc.horizon_s / 86_400.0
    assert 0.55 <= work_h / capacity_h <= 0.6 + 1e-9
    # every skill with work is held by someone
    held = roster.skill_levels.sum(axis=0) > 0
    used = np.bincount(stream.skill, minlength=len(stream.skills)) > 0
    assert (held >= used).all()
    again = build_roster(sc, stream, np.random.default_rng(sc.seed))
    assert again.tech_id == roster.tech_id
    assert np.array_equal(again.home_lat_deg, roster.home_lat_deg)


def test_crews_are_sized_from_the_arrival_span_not_the_horizon() -> None:
    """A horizon running on after the replay's last day adds no work: the same crews (it
    used to spread the week's work over the longer horizon and halve the crews)."""
    week = load_scenario("boston311")
    longer = dataclasses.replace(week, horizon_s=2 * week.horizon_s)
    crews = []
    for sc in (week, longer):
        stream = build_stream(sc, np.random.default_rng(sc.seed), sc.seed)
        crews.append(build_roster(sc, stream, np.random.default_rng(sc.seed)).tech_id)
    assert crews[0] == crews[1]
    assert len(crews[0]) > 40


def _desk_scenario(tmp_path: Path, allowance_s: float, located: bool) -> Scenario:
    """A replayed help-desk day (200 tickets, one queue), with or without locations."""
    with (tmp_path / "desk.csv").open("w", encoding="utf-8") as f:
        f.write("id,opened,group,prio,lat,lon\n")
        for i in range(200):
            f.write(
                f"I{i},2020-01-06 {i // 10:02d}:{i % 10 * 6:02d}:00,desk,3,42.3,-71.1\n"
            )
    columns = {"id": "id", "created": "opened", "category": "group", "skill": "group"}
    columns["priority"] = "prio"
    if located:
        columns |= {"lat": "lat", "lon": "lon"}
    doc = {
        "simulation": {"horizon_s": 86_400.0, "seed": 3},
        "geography": {"center_lat_deg": 42.3, "center_lon_deg": -71.1, "radius_km": 1},
        "technicians": {
            "auto": {"target_utilization": 0.8, "travel_allowance_s": allowance_s}
        },
        "replay": {
            "path": "desk.csv",
            "format": "csv",
            "start": "2020-01-06T00:00:00",
            "duration_days": 1.0,
            "timestamp_format": "%Y-%m-%d %H:%M:%S",
            "duration_mean_s": 1800.0,
            "columns": columns,
        },
    }
    return scenario_from_dict(doc, base_dir=tmp_path)


def _crew(sc: Scenario) -> list[str]:
    stream = build_stream(sc, np.random.default_rng(sc.seed), sc.seed)
    return build_roster(sc, stream, np.random.default_rng(sc.seed)).tech_id


def test_tickets_without_location_add_no_travel_allowance(tmp_path: Path) -> None:
    """Nobody travels to a ticket without location (a help desk): sizing its crew with the
    travel allowance would staff it for travel that never happens (0.6 instead of 0.8
    utilisation here). Located tickets keep the allowance."""
    assert _crew(_desk_scenario(tmp_path, 900.0, False)) == _crew(
        _desk_scenario(tmp_path, 0.0, False)
    )
    assert len(_crew(_desk_scenario(tmp_path, 900.0, True))) > len(
        _crew(_desk_scenario(tmp_path, 0.0, True))
    )
