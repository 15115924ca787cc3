"""Incremental re-solve: reuse candidates, costs and the previous decision after a small change.

Accepted changes since the previous call (anything else triggers a cold solve):
- tickets appended at the end (new rows, not pinned; their excluded/preferred pairs
  appended after the old ones);
- ``current_technician`` of old, unpinned rows changed (e.g. the caller committed the
  previous decision).
The clock, the technicians and every other ticket field must be unchanged. What is re-used
is the candidate arcs and their costs of the unchanged rows; new rows and rows whose
incumbent changed get their arcs exactly as a cold solve builds them (the incumbent sets
their stability costs, their penalty and which moves the churn rule allows). The flow is
then solved, certified over all pairs and shift-repaired exactly as in a cold solve
(:func:`solver.core.run_core`), from the state before any repair, over arcs in a cold
solve's order. So:

- in a region where every feasible pair is an arc (``DENSE_PAIRS_MAX``) the plan *is* the
  cold solve's plan;
- beyond it the arcs differ, but both flows are optimal over all pairs of the same model:
  the same bound (``stats.model_bound``); the plans may differ where the flow has several optima
  and the shift repair then starts elsewhere (measured at 3,000 x 150: equal in 15 of 18
  re-solves, the others 0.01-0.04% *below* cold; at 10k x 1k, ``./dev bench
  solver_scaling``: 0.01-0.11% above cold, 22-28 of 10k tickets placed differently).

Both properties are tested (tests/solver/test_solver_incremental.py). A cold solve runs
every ``cold_every`` calls.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

import numpy as np

from solver.candidates import Candidates, build_candidates
from solver.core import Core, run_core
from solver.cost import pair_keys
from solver.finalize import finalize
from solver.solve import tech_state
from solver.validate import validate_incremental

if TYPE_CHECKING:
    import numpy.typing as npt

    from solver.model import Problem, Solution, SolveParams

    IntArray = npt.NDArray[np.int64]

_SAME_TICKET_FIELDS = (
    "lat_deg", "lon_deg", "priority", "skill_levels", "duration_s", "created_s",
    "response_due_s", "resolution_due_s", "window_start_s", "window_end_s", "tier", "pinned",
)  # fmt: skip


class IncrementalSolver:
    """Keeps the working set of the last solve and re-solves small changes locally.

    Parameters
    ----------
    params
        Solver parameters (fixed for the object's life).
    max_new
        Most appended tickets handled incrementally; more trigger a cold solve.
    cold_every
        A cold solve at least every this many calls.
    """

    def __init__(
        self,
        params: SolveParams,
        *,
        max_new: int = 64,
        cold_every: int = 50,
    ) -> None:
        validate_incremental(max_new, cold_every)
        self.params = params
        self.max_new = max_new
        self.cold_every = cold_every
        self.last_mode = "none"  # "cold" or "incremental": what the last call did
        self._core: Core | None = None
        self._calls_since_cold = 0

    def reset(self) -> None:
        """Forget the cached work: the next call solves cold."""
        self._core = None

    def solve(self, problem: Problem) -> Solution:
        """Solve ``problem``, incrementally when only the accepted changes happened.

        Parameters
        ----------
        problem
            The region now.

        Returns
        -------
        Solution
            As :func:`solver.solve`; ``stats.phases_s`` has an ``"incremental"`` entry
            when the incremental path ran.
        """
        t0 = time.perf_counter()
        core = self._core
        if core is None or not self._compatible(core.problem, problem):
            return self._cold(problem, t0)
        old_n = core.problem.tickets.count
        changed = np.flatnonzero(
            problem.tickets.current_technician[:old_n]
            != core.problem.tickets.current_technician
        )
        # New rows and rows whose incumbent changed get their arcs exactly as a cold solve
        # builds them: the incumbent moves their costs (stability), their penalty and
        # which moves are allowed at all (the churn rule).
        rebuilt = np.concatenate(
            [changed, np.arange(old_n, problem.tickets.count, dtype=np.int64)]
        )
        cands = self._rebuilt_candidates(core, problem, rebuilt)
        # The whole flow again, from the state before any shift repair (a fresh Core: the
        # repair's dead arcs and reduced places belong to the previous problem; kept, they
        # made later plans up to 3% worse than a cold solve's).
        core = self._core = Core.build(problem, self.params, core.state, cands)
        t1 = time.perf_counter()
        tech_of, status, dropped = run_core(core)
        self._calls_since_cold += 1
        self.last_mode = "incremental"
        phases = {"incremental": t1 - t0, "assignment": time.perf_counter() - t1}
        return finalize(
            problem, self.params, core.state, core.cands, tech_of, status, dropped,
            phases, t0, core.alive, core.free, core.certificate, core.bound_gap,
        )  # fmt: skip

    def _cold(self, problem: Problem, t0: float) -> Solution:
        state = tech_state(problem, self.params.weights)
        movable = np.flatnonzero(~problem.tickets.pinned)
        cands = build_candidates(problem, self.params, state, movable)
        t1 = time.perf_counter()
        core = Core.build(problem, self.params, state, cands)
        tech_of, status, dropped = run_core(core)
        self._core = core
        self._calls_since_cold = 0
        self.last_mode = "cold"
        phases = {"candidates": t1 - t0, "assignment": time.perf_counter() - t1}
        return finalize(
            problem, self.params, state, core.cands, tech_of, status, dropped, phases,
            t0, core.alive, core.free, core.certificate, core.bound_gap,
        )  # fmt: skip

    def _compatible(self, old: Problem, new: Problem) -> bool:
        """Only appended tickets and incumbent changes on unpinned rows since ``old``."""
        if self._calls_since_cold + 1 >= self.cold_every or new.now_s != old.now_s:
            return False
        n0, n1 = old.tickets.count, new.tickets.count
        if not 0 <= n1 - n0 <= self.max_new:
            return False
        for f in dataclasses.fields(old.technicians):
            if not np.array_equal(
                getattr(old.technicians, f.name), getattr(new.technicians, f.name)
            ):
                return False
        ot, nt = old.tickets, new.tickets
        for name in _SAME_TICKET_FIELDS:
            if not np.array_equal(getattr(ot, name), getattr(nt, name)[:n0]):
                return False
        if nt.pinned[n0:].any():
            return False
        pinned = ot.pinned
        if not np.array_equal(
            ot.current_technician[pinned], nt.current_technician[:n0][pinned]
        ):
            return False
        for name in ("excluded", "preferred"):
            a, b = getattr(ot, name), getattr(nt, name)
            if b.shape[0] < a.shape[0] or not np.array_equal(a, b[: a.shape[0]]):
                return False
            if (b[a.shape[0] :, 0] < n0).any():
                return False
        return True

    def _rebuilt_candidates(
        self, core: Core, problem: Problem, rows: IntArray
    ) -> Candidates:
        """``core``'s arcs with those of ``rows`` replaced by fresh candidates for
        ``problem``, in a cold solve's (ticket, technician) order."""
        c = core.cands
        n, m = problem.tickets.count, problem.technicians.count
        fresh = build_candidates(problem, self.params, core.state, rows)
        is_rebuilt = np.zeros(n, np.bool_)
        is_rebuilt[rows] = True
        keep = ~is_rebuilt[c.tix]
        tix = np.concatenate([c.tix[keep], fresh.tix])
        tech = np.concatenate([c.tech[keep], fresh.tech])
        cost = np.concatenate([c.cost[keep], fresh.cost])
        order = np.argsort(pair_keys(tix, tech, m), kind="stable")
        any_f = np.zeros(n, np.bool_)
        any_f[: c.any_feasible.size] = c.any_feasible
        any_f[rows] = fresh.any_feasible[rows]
        return Candidates(tix[order], tech[order], cost[order], any_f)
