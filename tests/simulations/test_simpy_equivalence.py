"""The SimPy-driven engine is the same model: identical logs to the heap core."""

from __future__ import annotations

import dataclasses

import numpy as np

from simulations.engine import Engine
from simulations.policies import make_policy
from simulations.scenario import load_scenario
from simulations.simpy_engine import SimpyEngine
from simulations.streams import build_roster, build_stream


def test_simpy_engine_gives_the_same_log() -> None:
    """Same scenario, seed and policy: the two event cores produce identical per-ticket logs."""
    sc = dataclasses.replace(load_scenario("smoke"), horizon_s=3 * 3600.0)
    logs = []
    for cls in (Engine, SimpyEngine):
        rng = np.random.default_rng(4)
        stream = build_stream(sc, rng)
        roster = build_roster(sc, stream, rng)
        result = cls(
            sc, stream, roster, make_policy("nearest", sc.policy.solve_params())
        ).run()
        logs.append(result)
    a, b = logs
    assert a.events == b.events
    assert a.tickets.equals(b.tickets, null_equal=True)
    assert a.backlog.equals(b.backlog)
