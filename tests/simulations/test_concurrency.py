"""Concurrency in the simulator: an agent with concurrency N works up to N tickets at once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulations.runner import build_roster, build_stream, run_once
from simulations.scenario import ScenarioError, load_scenario
from solver.lanes import MAX_CONCURRENCY, lane_capacities

SCENARIOS = Path(__file__).resolve().parents[2] / "simulations" / "scenarios"


def _helpdesk(tmp_path: Path, concurrency: int, capacity: int = 4) -> Path:
    text = (SCENARIOS / "helpdesk.toml").read_text(encoding="utf-8")
    text = text.replace(
        "capacity = 3\n", f"capacity = {capacity}\nconcurrency = {concurrency}\n"
    )
    path = tmp_path / f"desk-{concurrency}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_lane_capacities_split_the_queue() -> None:
    """Capacity is spread over lanes, first lanes first; sums to the capacity."""
    assert lane_capacities(5, 1) == [5]
    assert lane_capacities(5, 2) == [3, 2]
    assert lane_capacities(4, 3) == [2, 1, 1]
    assert lane_capacities(1, 3) == [1, 0, 0]
    with pytest.raises(ValueError, match="concurrency"):
        lane_capacities(3, 0)
    with pytest.raises(ValueError, match="concurrency"):
        lane_capacities(3, MAX_CONCURRENCY + 1)


def test_roster_has_lanes_sharing_an_agent(tmp_path: Path) -> None:
    """Concurrency 2: two lanes per agent, queue places split, same home and skills."""
    sc = load_scenario(_helpdesk(tmp_path, 2))
    rng = np.random.default_rng(1)
    roster = build_roster(sc, build_stream(sc, rng, 1), rng)
    assert roster.count == 40
    assert roster.tech_id[:2] == ["first-line-0000", "first-line-0000/1"]
    assert roster.capacity.tolist() == [2] * 40
    np.testing.assert_array_equal(roster.skill_levels[0], roster.skill_levels[1])


@pytest.mark.slow
def test_an_agent_works_two_tickets_at_once(tmp_path: Path) -> None:
    """With concurrency 2 some agent has two tickets in work at the same time, and the
    desk resolves more than with concurrency 1 (same arrivals)."""
    one = run_once(load_scenario(_helpdesk(tmp_path, 1)), "optimizer", 1)
    two = run_once(load_scenario(_helpdesk(tmp_path, 2)), "optimizer", 1)
    t = two.result.tickets.filter(two.result.tickets["resolved_s"].is_not_nan())
    agent = [str(x).split("/")[0] for x in t["technician"].to_list()]
    start, end = t["arrived_s"].to_numpy(), t["resolved_s"].to_numpy()
    overlap = any(
        agent[i] == agent[j] and start[i] < end[j] and start[j] < end[i]
        for i in range(len(agent))
        for j in range(i + 1, len(agent))
    )
    assert overlap
    assert two.kpis["resolved"] > one.kpis["resolved"]


def test_concurrency_is_bounded(tmp_path: Path) -> None:
    """concurrency above the maximum is refused naming the key."""
    with pytest.raises(ScenarioError, match="concurrency"):
        load_scenario(_helpdesk(tmp_path, MAX_CONCURRENCY + 1))
