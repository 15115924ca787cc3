"""FinalizeCache: finalizing again after small changes gives exactly a fresh finalize."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from solver import NO_TECHNICIAN, Problem, SolveParams, SolveStatus
from solver.candidates import Candidates
from solver.finalize import RunInfo, finalize
from solver.finalize_cache import FinalizeCache
from solver.solve import tech_state
from solver.synthetic import random_problem

if TYPE_CHECKING:
    from solver.model import Solution

_FIELDS = (
    "technician", "position", "arrival_s", "start_s", "finish_s", "sla_met", "reason",
)  # fmt: skip
_STATS = ("status", "candidate_arcs", "certificate", "model_objective", "model_bound",
          "model_gap_pct", "n_tickets", "n_technicians")  # fmt: skip


def assert_same_solution(got: Solution, want: Solution) -> None:
    """Every field finalize fills, bit for bit (but the timings)."""
    for name in _FIELDS:
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), name)
    assert got.objective == want.objective
    assert got.objective_terms == want.objective_terms
    assert got.row_terms.keys() == want.row_terms.keys()
    for name, values in want.row_terms.items():
        np.testing.assert_array_equal(got.row_terms[name], values, name)
    for name in _STATS:
        assert getattr(got.stats, name) == getattr(want.stats, name), name


def _appended(p: Problem, src: Problem, start: int, count: int) -> Problem:
    """``p`` with tickets ``start:start+count`` of ``src`` appended (unpinned, nobody's),
    their excluded and preferred pairs too."""
    t, s = p.tickets, src.tickets
    rows = slice(start, start + count)
    cols = {
        f.name: np.concatenate([getattr(t, f.name), getattr(s, f.name)[rows]])
        for f in dataclasses.fields(t)
        if f.name not in ("excluded", "preferred")
    }
    cols["current_technician"][t.count :] = NO_TECHNICIAN
    cols["pinned"][t.count :] = False
    for name in ("excluded", "preferred"):
        pairs = getattr(s, name)
        mine = pairs[(pairs[:, 0] >= start) & (pairs[:, 0] < start + count)].copy()
        mine[:, 0] += t.count - start
        cols[name] = np.concatenate([getattr(t, name), mine])
    return dataclasses.replace(p, tickets=dataclasses.replace(t, **cols))


def _committed(p: Problem, tech: np.ndarray) -> Problem:
    t = p.tickets
    cur = np.where(t.pinned, t.current_technician, tech)
    return dataclasses.replace(
        p, tickets=dataclasses.replace(t, current_technician=cur)
    )


def _with_every_reason(p: Problem, nobody: bool) -> Problem:
    """``p`` with an unpinned ticket no technician has the skills for, one every
    technician is excluded from, and (``nobody``) no technician available."""
    t, k = p.tickets, p.technicians
    a, b = np.flatnonzero(~t.pinned)[:2]
    skills = t.skill_levels.copy()
    skills[a] = k.skill_levels.max() + 1
    every = np.stack([np.full(k.count, b), np.arange(k.count)], axis=1)
    tickets = dataclasses.replace(
        t, skill_levels=skills, excluded=np.concatenate([t.excluded, every])
    )
    available = np.zeros(k.count, np.bool_) if nobody else k.available
    return dataclasses.replace(
        p, tickets=tickets, technicians=dataclasses.replace(k, available=available)
    )


step = st.tuples(
    st.integers(0, 3),  # tickets appended
    st.integers(0, 6),  # rows given another technician (or none)
    st.booleans(),  # the caller commits the plan
)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 10_000),
    st.sampled_from([0.75, 2.0, 8.0]),
    st.booleans(),
    st.lists(step, min_size=1, max_size=6),
)
def test_cached_finalize_is_a_fresh_finalize(
    seed: int, shift_h: float, overtime: bool, steps: list[tuple[int, int, bool]]
) -> None:
    """Random appends, plan changes and commits: every call of the cache
    gives what a fresh finalize of the same plan gives, every field."""
    rng = np.random.default_rng(seed)

    def region(n: int, seed: int, pinned: float, held: float) -> Problem:
        return random_problem(
            n, 8, seed, n_skills=3, capacity=2, radius_km=30.0, shift_h=shift_h,
            excluded_frac=0.2, pinned_frac=pinned, assigned_frac=held,
        )  # fmt: skip

    p = region(60, seed, 0.1, 0.2)
    extra = region(20, seed + 1, 0.0, 0.0)
    p = _with_every_reason(p, nobody=seed % 10 == 0)
    params = SolveParams(allow_overtime=overtime)
    state = tech_state(p, params.weights)
    m = p.technicians.count
    tech = np.where(
        rng.random(p.tickets.count) < 0.4, rng.integers(0, m, p.tickets.count), -1
    )
    cache = FinalizeCache()
    cands = Candidates(
        *(np.zeros(5, np.int64) for _ in range(3)), np.zeros(0, np.bool_)
    )
    used = 0
    for call, (new, moves, commit) in enumerate([(0, 0, False), *steps]):
        p = _appended(p, extra, used, new)
        used += new
        tech = np.concatenate([tech, rng.integers(-1, m, new)])
        rows = rng.integers(0, tech.size, moves)
        tech[rows] = rng.integers(-1, m, moves)
        status = SolveStatus.OPTIMAL if call % 2 else SolveStatus.FEASIBLE
        run = RunInfo(status, 5, {}, time.perf_counter(), None, 0.5 * call)
        got = cache.finalize(p, params, state, tech, run)
        want = finalize(p, params, state, cands, tech, status, {},
                        time.perf_counter(), bound_gap=0.5 * call)  # fmt: skip
        assert cache.fresh == (call == 0)
        assert_same_solution(got, want)
        if commit:
            p = _committed(p, got.technician)
