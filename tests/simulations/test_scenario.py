"""Scenario files: the shipped ones load; a bad one gets an error naming the field."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import pytest
from simtest_helpers import tiny_scenario_doc

from dispatcher.__main__ import main
from simulations.scenario import (
    ScenarioError,
    load_scenario,
    scenario_from_dict,
)
from simulations.scenario_files import SCENARIO_DIR

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize("name", ["smoke", "city", "boston311", "helpdesk"])
def test_shipped_scenarios_load(name: str) -> None:
    """Every shipped scenario validates (by name and by path)."""
    sc = load_scenario(name)
    assert sc.name == name
    assert load_scenario(SCENARIO_DIR / f"{name}.toml") == sc


def test_city_scenario_has_the_advertised_size() -> None:
    """City: about 500 technicians and about 20,000 tickets a day."""
    sc = load_scenario("city")
    assert sum(g.count for g in sc.groups) == 500
    assert sc.arrivals is not None
    assert sc.arrivals.rate_per_day == 20_000


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    node: Any = doc
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if k.isdigit() else node[k]
    last = keys[-1]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return doc


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("simulation.horizon_s", _DELETE, "simulation.horizon_s"),
        ("simulation.horizon_s", -5.0, "simulation.horizon_s"),
        ("simulation.horizon_s", "1 day", "simulation.horizon_s"),
        ("simulation.horizn_s", 1.0, "simulation.horizn_s"),
        ("geography.center_lat_deg", 123.0, "geography.center_lat_deg"),
        ("arrivals.rate_per_day", 0, "arrivals.rate_per_day"),
        ("arrivals.hourly_profile", [1.0] * 23, "arrivals.hourly_profile"),
        (
            "arrivals.categories.fix.priority_mix",
            [1, 1, 1],
            "arrivals.categories.fix.priority_mix",
        ),
        ("arrivals.categories.fix.skill", "welding", "arrivals.categories.fix.skill"),
        ("technicians.groups.1.speed_kmh", 0, "technicians.groups[1].speed_kmh"),
        ("technicians.groups.0.count", 2.5, "technicians.groups[0].count"),
        ("technicians.groups.0.skills", {}, "technicians.groups[0].skills"),
        ("behaviour.decline_probability", 1.5, "behaviour.decline_probability"),
        ("weights.travel", -1.0, "weights.travel"),
        ("solver.candidates_k", 0, "solver.candidates_k"),
        ("sla.P9", {"response_s": 1.0}, "sla.P9"),
    ],
)
def test_bad_field_is_named(path: str, value: Any, field: str) -> None:
    """Each invalid field raises ScenarioError whose message starts with its dotted path."""
    doc = tiny_scenario_doc(weights={}, sla={})
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(_set(doc, path, value))
    assert info.value.field == field, str(info.value)
    assert str(info.value).startswith(f"{field}: ")


def test_replay_with_missing_file_names_the_path(tmp_path: Path) -> None:
    """A replay whose CSV does not exist names replay.path."""
    doc = tiny_scenario_doc()
    del doc["arrivals"]
    doc["replay"] = {
        "path": "nope.csv.gz",
        "start": "2015-07-06",
        "duration_days": 1.0,
        "duration_mean_s": 60.0,
    }
    with pytest.raises(ScenarioError, match=r"^replay\.path: file not found"):
        scenario_from_dict(doc, base_dir=tmp_path)


def test_cli_reports_a_bad_file_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`dispatcher sim run` on a bad file exits 2 with the field in the message, no traceback."""
    bad = tmp_path / "bad.toml"
    text = (
        (SCENARIO_DIR / "smoke.toml")
        .read_text()
        .replace("speed_kmh = 25.0", "speed_kmh = -3.0", 1)
    )
    bad.write_text(text)
    assert main(["sim", "run", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert (
        "technicians.groups[0].speed_kmh: must be a finite number > 0, got -3.0" in err
    )
    assert "Traceback" not in err


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    """A syntax error is a ScenarioError too (with the file name)."""
    bad = tmp_path / "broken.toml"
    bad.write_text("[simulation\nhorizon_s = 1")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(bad)


def test_cli_rejects_an_unknown_policy(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown policy name is a clear error (exit 2) before anything runs."""
    assert main(["sim", "compare", "smoke", "--policies", "optimizer,fastest"]) == 2
    assert "unknown policy 'fastest'" in capsys.readouterr().err
