"""Baselines ticket platforms use today: round robin, least-loaded, nearest-available FIFO.

Same interface and output as :func:`solver.solve`: hard constraints hold (skills and levels,
exclusions, availability, capacity, shift end unless overtime is allowed, pinned tickets
stay), and queues are sequenced and costed by the same code (:func:`solver.finalize`), so
objectives and KPIs compare like for like. They are myopic greedy rules, not optimizers:

1. **Keep**: an already assigned (not pinned) ticket stays with its technician when that
   technician can still take it (checked per technician in FIFO order, appended to its
   queue); otherwise it joins the dispatch queue below.
2. **Dispatch**: the queue (new tickets plus the ones step 1 released) is served first come,
   first served (``created_s``, then row). Each ticket goes to one technician that can take
   it *now* (skills, not excluded, a free place, and, unless overtime is allowed, work
   appended after the technician's queue ends before its shift does), chosen by the rule;
   the technician's queue tail (place, time) moves to that ticket.

How it is fast (the rule is the same as a ticket-by-ticket loop over every technician):
feasibility only ever shrinks during a solve (places fill, queue tails only get later; by
the triangle inequality the finish of any later placement cannot move earlier), so a ticket
that no open technician can take now is never placeable in this solve and is skipped at
once. Every queued ticket's current choice is kept in a (tickets x open technicians)
matrix evaluated once with numpy; after each placement only the chosen technician's column
is re-evaluated and only the tickets whose choice it was (or could now be) re-pick.
Cost per solve: one tickets x open-technicians evaluation (in a backlogged region few
technicians are open) plus, per placement, O(queued tickets) work. Memory: that matrix
(about 9 bytes a cell: 5,000 x 500 is ~23 MB; 50,000 x 5,000 would be ~2 GB, too big).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from solver.candidates import Candidates, skill_patterns
from solver.cost import TechState, in_pairs
from solver.finalize import finalize
from solver.geo import next_location, travel_time_s
from solver.greedy_reasons import greedy_reasons
from solver.model import NO_TECHNICIAN, Problem, Solution, SolveParams, SolveStatus
from solver.solve import tech_state
from solver.strong_baselines import STRONG_BASELINES, priority_edd, regret_insertion

if TYPE_CHECKING:
    import numpy.typing as npt

    IntArray = npt.NDArray[np.int64]
    FloatArray = npt.NDArray[np.float64]
    BoolArray = npt.NDArray[np.bool_]

SIMPLE_BASELINES = ("round_robin", "least_loaded", "nearest")
"""First-come-first-served rules ticket platforms use today."""
BASELINES = SIMPLE_BASELINES + STRONG_BASELINES
"""Names accepted by :func:`baseline_solve` (strong ones: :mod:`solver.strong_baselines`)."""

_BIG = np.iinfo(np.int64).max


class Tails:
    """Mutable queue tails: where and when each technician's queue ends, places left."""

    def __init__(self, state: TechState) -> None:
        self.lat = state.lat_deg.copy()
        self.lon = state.lon_deg.copy()
        self.ready = state.ready_s.copy()
        self.left = state.free_slots.copy()
        self.queued = state.load.copy()  # pinned tickets count as load too

    def finish(
        self, problem: Problem, rows: IntArray, techs: IntArray
    ) -> tuple[FloatArray, FloatArray]:
        """Travel and finish of ``rows`` appended to the queues of ``techs`` (broadcast)."""
        t, k = problem.tickets, problem.technicians
        tt = travel_time_s(
            self.lat[techs],
            self.lon[techs],
            t.lat_deg[rows],
            t.lon_deg[rows],
            k.speed_kmh[techs],
        )
        start = np.maximum(self.ready[techs] + tt, t.window_start_s[rows])
        return tt, start + t.duration_s[rows]

    def place(self, problem: Problem, row: int, tech: int, finish_s: float) -> None:
        t = problem.tickets
        self.lat[tech], self.lon[tech] = next_location(
            self.lat[tech], self.lon[tech], t.lat_deg[row], t.lon_deg[row]
        )
        self.ready[tech] = finish_s
        self.left[tech] -= 1
        self.queued[tech] += 1


def keep_held(
    problem: Problem, tails: Tails, allow_overtime: bool, tech_of: IntArray
) -> IntArray:
    """Step 1: held tickets stay when their technician can still take them; returns the rest."""
    t, k = problem.tickets, problem.technicians
    held = np.flatnonzero(~t.pinned & (t.current_technician >= 0))
    if held.size == 0:
        return held
    cur = t.current_technician[held]
    order = np.lexsort((held, t.created_s[held], cur))
    held, cur = held[order], cur[order]
    first = np.searchsorted(cur, cur, side="left")
    rank = np.arange(held.size) - first
    released: list[IntArray] = []
    for r in range(int(rank.max()) + 1):
        rows, js = held[rank == r], cur[rank == r]  # one ticket per technician
        _, fin = tails.finish(problem, rows, js)
        ok = (
            (k.skill_levels[js] >= t.skill_levels[rows]).all(axis=1)
            & ~in_pairs(t.excluded, rows, js, k.count)
            & (tails.left[js] > 0)
        )
        if not allow_overtime:
            ok &= fin <= k.shift_end_s[js]
        tech_of[rows[ok]] = js[ok]
        rs, jj, ff = rows[ok], js[ok], fin[ok]
        tails.lat[jj], tails.lon[jj] = next_location(
            tails.lat[jj], tails.lon[jj], t.lat_deg[rs], t.lon_deg[rs]
        )
        tails.ready[jj] = ff
        tails.left[jj] -= 1
        tails.queued[jj] += 1
        released.append(rows[~ok])
    return np.concatenate(released)


class _Dispatch:
    """Step 2: FIFO dispatch of ``queue`` over the open technicians ``cols``."""

    def __init__(
        self,
        problem: Problem,
        tails: Tails,
        allow_overtime: bool,
        name: str,
        queue: IntArray,
        cols: IntArray,
    ) -> None:
        t, k = problem.tickets, problem.technicians
        self.problem, self.tails, self.name = problem, tails, name
        self.allow_overtime = allow_overtime
        self.queue, self.cols = queue, cols
        q, c = queue.size, cols.size
        # Static part: skills (per requirement pattern) and exclusions.
        pats, inv = skill_patterns(np.asarray(t.skill_levels[queue], np.int64))
        held = k.skill_levels[cols]
        skilled: BoolArray = np.asarray(
            (held[None, :, :] >= pats[:, None, :]).all(axis=2)
        )  # (P, c)
        ok = skilled[inv]  # (q, c), a copy
        ex = t.excluded
        if ex.shape[0]:
            qpos = np.full(t.count, -1, np.int64)
            qpos[queue] = np.arange(q)
            cpos = np.full(k.count, -1, np.int64)
            cpos[cols] = np.arange(c)
            hit = (qpos[ex[:, 0]] >= 0) & (cpos[ex[:, 1]] >= 0)
            ok[qpos[ex[hit, 0]], cpos[ex[hit, 1]]] = False
        # Travel and shift only where skills and exclusions allow (inf elsewhere).
        self.travel = np.full((q, c), np.inf)
        qi, ci = np.nonzero(ok)
        tt, fin = tails.finish(problem, queue[qi], cols[ci])
        self.travel[qi, ci] = tt
        if not allow_overtime:
            ok[qi, ci] = fin <= k.shift_end_s[cols[ci]]
        self.ok = ok
        self.open = np.ones(c, np.bool_)
        self.best = self._best(np.arange(q))

    def _best(self, r: IntArray) -> IntArray:
        """Column of the rule's choice for queue positions ``r`` (-1: none can take it).

        nearest: least travel, then fewest queued, then lowest row; least_loaded: fewest
        queued, then least travel, then lowest row; round_robin: any open feasible column
        (the actual pick, next in turn after the cursor, is made when the ticket is served).
        """
        ok = self.ok[r] & self.open[None, :]
        has = ok.any(axis=1)
        if self.name == "round_robin":
            return np.where(has, np.argmax(ok, axis=1), -1).astype(np.int64)
        queued = self.tails.queued[self.cols][None, :]
        travel = np.where(ok, self.travel[r], np.inf)
        load = np.where(ok, queued, _BIG)
        first, second = (travel, load) if self.name == "nearest" else (load, travel)
        tie = ok & (first == first.min(axis=1, keepdims=True))
        second = np.where(tie, second, np.inf)
        tie &= second == second.min(axis=1, keepdims=True)
        return np.where(has, np.argmax(tie, axis=1), -1).astype(np.int64)

    def run(self, tech_of: IntArray, cursor: int) -> int:
        """Serve the queue in order; returns the next round-robin cursor."""
        problem, tails, cols = self.problem, self.tails, self.cols
        m = problem.technicians.count
        ptr, q = 0, self.queue.size
        while ptr < q:
            live = np.flatnonzero(self.best[ptr:] >= 0)
            if live.size == 0:
                break
            i = ptr + int(live[0])
            ptr = i + 1
            row = int(self.queue[i])
            if self.name == "round_robin":
                cand = np.flatnonzero(self.ok[i] & self.open)
                c = int(cand[np.argmin((cols[cand] - cursor) % m)])
                cursor = (int(cols[c]) + 1) % m
            else:
                c = int(self.best[i])
            j = int(cols[c])
            _, fin = tails.finish(
                problem, np.array([row], np.int64), np.array([j], np.int64)
            )
            tails.place(problem, row, j, float(fin[0]))
            tech_of[row] = j
            if tails.left[j] <= 0:
                self.open[c] = False
            rest = ptr + np.flatnonzero(self.best[ptr:] >= 0)
            if rest.size == 0:
                break
            # Re-evaluate technician j's column where it was feasible (an infeasible entry
            # stays so); also when j just filled up: its column then says why (reasons).
            sub = rest[self.ok[rest, c]]
            tt, f = tails.finish(problem, self.queue[sub], np.full(sub.size, j))
            self.travel[sub, c] = tt
            if not self.allow_overtime:
                self.ok[sub, c] = f <= problem.technicians.shift_end_s[j]
            redo = self.best[rest] == c
            if self.name == "nearest" and self.open[c]:
                b = self.best[rest]
                redo |= self.ok[rest, c] & (
                    self.travel[rest, c] <= self.travel[rest, b]
                )
            if redo.any():
                self.best[rest[redo]] = self._best(rest[redo])
        return cursor

    def capacity_bound(self, tech_of: IntArray) -> tuple[IntArray, IntArray]:
        """Unassigned queued tickets that a now full technician could have taken (one arc each).

        A ticket left out whose feasible technicians all filled up is CAPACITY-bound; one
        whose open technicians all ran out of shift time gets no arc (SHIFT). Entries of a
        column stop changing once its ticket or technician is done, and feasibility only
        shrinks, so this is the state at the ticket's turn.
        """
        un = np.flatnonzero(tech_of[self.queue] < 0)
        full_ok = self.ok[un] & ~self.open[None, :]
        hit = full_ok.any(axis=1)
        return self.queue[un[hit]], self.cols[np.argmax(full_ok[hit], axis=1)]


def _full_skilled(
    problem: Problem, tails: Tails, rows: IntArray
) -> tuple[IntArray, IntArray]:
    """Left-out ``rows`` that a now full, skilled, not excluded technician holds (one arc each).

    Those are CAPACITY-bound for ``finalize``'s reasons; the rest get no arc (SHIFT).
    """
    t, k = problem.tickets, problem.technicians
    full = np.flatnonzero(tails.left <= 0)
    if rows.size == 0 or full.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    qi, ki = np.repeat(rows, full.size), np.tile(full, rows.size)
    ok = (k.skill_levels[ki] >= t.skill_levels[qi]).all(axis=1) & ~in_pairs(
        t.excluded, qi, ki, k.count
    )
    ok = ok.reshape(rows.size, full.size)
    hit = ok.any(axis=1)
    return rows[hit].astype(np.int64), full[np.argmax(ok[hit], axis=1)].astype(np.int64)


def baseline_solve(
    problem: Problem, params: SolveParams, name: str, cursor: int = 0
) -> tuple[Solution, int]:
    """Dispatch with one baseline rule.

    Parameters
    ----------
    problem, params
        As for :func:`solver.solve` (weights are used only to cost the result).
    name
        ``"round_robin"`` (next technician in row order at or after ``cursor`` that can
        take it), ``"least_loaded"`` (fewest tickets queued; ties: least travel) or
        ``"nearest"`` (least travel from where the technician's queue ends; ties: fewest
        queued). Remaining ties: lowest technician row. ``"priority_edd"`` and
        ``"regret"``: the strong baselines of :mod:`solver.strong_baselines`.
    cursor
        Round-robin position (technician row to try first); ignored by the others.

    Returns
    -------
    tuple
        (the solution, the next round-robin cursor).

    Raises
    ------
    ValueError
        For an unknown ``name``.
    """
    if name not in BASELINES:
        raise ValueError(
            f"name: unknown baseline {name!r}, expected one of {BASELINES}"
        )
    t0 = time.perf_counter()
    t, k = problem.tickets, problem.technicians
    n = t.count
    state = tech_state(problem, params.weights)
    tails = Tails(state)
    tech_of = np.full(n, NO_TECHNICIAN, np.int64)
    released = keep_held(problem, tails, params.allow_overtime, tech_of)
    new = np.flatnonzero(~t.pinned & (t.current_technician < 0))
    queue = np.concatenate([released, new]).astype(np.int64)
    queue = queue[np.lexsort((queue, t.created_s[queue]))]
    cols = np.flatnonzero(tails.left > 0).astype(np.int64)
    any_feasible = np.zeros(n, np.bool_)
    arc_t = arc_k = np.zeros(0, np.int64)
    # Places left after step 1: a ticket no open technician could take is CAPACITY-bound
    # when every skilled one is full, else SHIFT-bound (``finalize`` reasons).
    reason_state = TechState(
        state.lat_deg, state.lon_deg, state.ready_s, state.load, tails.left.copy()
    )
    if queue.size and cols.size and name in STRONG_BASELINES:
        rule = priority_edd if name == "priority_edd" else regret_insertion
        chosen = rule(problem, params, tails, queue)
        tech_of[queue[chosen >= 0]] = chosen[chosen >= 0]
        arc_t, arc_k = _full_skilled(problem, tails, queue[chosen < 0])
        any_feasible[arc_t] = True
    elif queue.size and cols.size:
        d = _Dispatch(problem, tails, params.allow_overtime, name, queue, cols)
        cursor = d.run(tech_of, cursor)
        arc_t, arc_k = d.capacity_bound(tech_of)
        any_feasible[arc_t] = True
    cands = Candidates(arc_t, arc_k, np.zeros(arc_t.size), any_feasible)
    phases = {"assignment": time.perf_counter() - t0}
    held = np.where(t.pinned, t.current_technician, tech_of)
    sol = finalize(
        problem,
        params,
        reason_state,
        cands,
        tech_of,
        SolveStatus.FEASIBLE,
        phases,
        t0,
        reasons=greedy_reasons(
            problem, reason_state, cands, held, None,
            np.zeros(k.count, np.int64),  # every technician counts as full
        ),
    )  # fmt: skip
    return sol, cursor
