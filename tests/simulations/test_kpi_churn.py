"""Churn KPIs: reassignments per ticket and moves per technician, counted by the policy itself."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pytest

from simulations.engine import Engine
from simulations.kpi import run_kpis, technician_kpis
from simulations.paired import floor_lines, paired_ratios
from simulations.runner import build_roster, build_stream
from simulations.scenario import load_scenario
from solver import NO_TECHNICIAN, Problem, Solution, SolveParams
from solver.baselines import baseline_solve


class RotatingPolicy:
    """Nearest baseline, then every held (not pinned) ticket moves to another technician that
    can take it; the policy counts the moves it makes (an independent tally)."""

    def __init__(self) -> None:
        self.moves = 0

    def solve(self, problem: Problem, previous: Solution | None) -> Solution:
        sol, _ = baseline_solve(problem, SolveParams(), "nearest")
        t, k = problem.tickets, problem.technicians
        tech = sol.technician.copy()
        load = np.bincount(tech[tech >= 0], minlength=k.count)
        for i in np.flatnonzero(~t.pinned & (t.current_technician >= 0) & (tech >= 0)):
            cur = int(t.current_technician[i])
            for j in range(k.count):
                ok = (
                    j != cur
                    and k.available[j]
                    and load[j] < k.capacity[j]
                    and (k.skill_levels[j] >= t.skill_levels[i]).all()
                    and not any((a == i and b == j) for a, b in t.excluded)
                )
                if ok:
                    load[tech[i]] -= 1
                    load[j] += 1
                    tech[i] = j
                    self.moves += 1
                    break
        tech[tech < 0] = NO_TECHNICIAN
        return dataclasses.replace(sol, technician=tech)


def test_reassignments_and_moves_per_technician_match_the_policys_own_count() -> None:
    sc = load_scenario("smoke")
    rng = np.random.default_rng(3)
    stream = build_stream(sc, rng, 3)
    roster = build_roster(sc, stream, rng)
    policy = RotatingPolicy()
    result = Engine(sc, stream, roster, policy).run()
    k = run_kpis(result)
    assert policy.moves > 0
    assert k["reassignments"] == policy.moves
    ever = int((result.tickets["n_assignments"] > 0).sum())
    assert k["churn_per_ticket"] == policy.moves / ever
    on_shift = int((result.technicians["on_shift_s"] > 0).sum())
    assert k["moves_per_technician"] == policy.moves / on_shift


def test_utilization_splits_into_work_and_travel() -> None:
    """Two technicians on shift 100 s: (work, travel) = (50, 20) and (10, 0)."""
    techs = pl.DataFrame(
        {
            "on_shift_s": [100.0, 100.0, 0.0],
            "work_s": [50.0, 10.0, 0.0],
            "travel_s": [20.0, 0.0, 0.0],
        }
    )
    k = technician_kpis(techs)
    assert k["utilization_work_mean"] == pytest.approx(0.30)
    assert k["utilization_travel_mean"] == pytest.approx(0.10)
    assert k["utilization_mean"] == pytest.approx(0.40)
    assert k["on_shift_technicians"] == 2


def test_paired_ratios_per_seed_and_interval() -> None:
    """Ratios pair by seed (rows out of order); a seed with 0 baseline breaches is left out."""
    kpis = pl.DataFrame(
        {
            "policy": ["optimizer"] * 3 + ["nearest"] * 3,
            "seed": [1, 2, 3, 3, 1, 2],
            "sla_breaches": [10, 20, 5, 0, 20, 40],
        }
    )
    (row,) = paired_ratios(kpis, "sla_breaches")
    assert row["baseline"] == "nearest"
    assert row["per_seed"] == {1: 0.5, 2: 0.5}
    assert (row["n"], row["mean"], row["ci95"]) == (2, 0.5, 0.0)


def test_floor_is_the_unavoidable_breaches_over_the_best_baselines() -> None:
    """The floor pairs the (policy-independent) unavoidable count with the named best
    baseline's breaches per seed, and says which baseline and which bound."""
    kpis = pl.DataFrame(
        {
            "policy": ["optimizer"] * 2 + ["nearest"] * 2 + ["regret"] * 2,
            "seed": [1, 2, 2, 1, 1, 2],
            "sla_breaches": [12, 14, 40, 20, 16, 20],
            "breaches_unavoidable": [8, 10, 10, 8, 8, 10],
            "breaches_unavoidable_in_shift": [12, 12, 12, 12, 12, 12],
        }
    )
    lines = floor_lines(kpis, "regret")
    assert lines[1] == (
        "  floor (any policy): unavoidable / regret breaches x0.50 ± 0.00 "
        "(2 seeds: 0.50 0.50)"
    )
    assert "floor (no overtime): unavoidable / regret breaches x0.68" in lines[2]
    assert "(2 seeds: 0.75 0.60)" in lines[2]
    assert len(lines) == 3
