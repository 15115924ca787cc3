"""A GAP plan from the Lagrangian multipliers: an LP dive over a pool of near-optimal
job sets (:mod:`solver.gap_pool`), the jobs it leaves finished exactly by CP-SAT.

The LP picks at most one set per agent and covers every job once (the Dantzig-Wolfe
master over the pool: at converged multipliers its value is the Lagrangian bound). The
dive fixes the set with the largest LP value, drops the sets it rules out (sharing a job
or its agent) and re-solves (GLOP, warm), until the LP becomes infeasible or every job is
covered; the jobs left go to CP-SAT on the agents still free. When that residual has no
plan the last fixed set is released, up to ``RELEASES`` times, then all of them. Given
``on_plan``, CP-SAT then keeps improving the residual from its plan (a hint) until the
deadline or ``stop``, telling each better plan: on D 10 x 100 (seed 2) the residual
after 2 units of deterministic work gives 6268-6280 (residual seeds 0-2), after 6 units
6258-6264 (bound 6246).

On Chu & Beasley type D, 20 x 100 (seed 1), from the converged multipliers this found
6105 (6107-6112 in earlier versions) in 7-14 s at load 8-15, where HiGHS, CP-SAT and LNS
had not gone below 6124 in 150 s (bound 6084; ``./dev bench gap_chu_beasley``). It is no
help on type C or on D 10 x 200 (HiGHS's plans are better there).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from solver.gap_clock import WALL_CLOCK, GapClock
from solver.gap_glop import GlopLp
from solver.gap_pool import column_pool

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# Sets per agent in the pool: POOL_WORK / m**2. The dive solves about one LP per agent,
# each over the whole pool (m x the budget): the work, LPs x pool, stays near POOL_WORK.
# Type D, seed 1: 4,000 per agent at 10 x 100 (6263; 2,000: 6290), 1,000 at 20 x 100.
POOL_WORK = 400_000
MAX_SETS = 10_000  # per agent, whatever m (memory: sets x jobs booleans)
RELEASES = 3  # fixed sets given back when the residual has no plan
RESIDUAL_LIMIT_S = 3.0  # kept for the residual before the deadline
RESIDUAL_WORK = 2.0  # CP-SAT's deterministic time on the residual's first plan
STOP_POLL_S = 0.1  # how often the improving residual search looks at ``stop``


def dive_plan(
    cost: IntArray,
    weight: IntArray,
    capacity: IntArray,
    scaled_u: IntArray,
    *,
    deadline: float,
    seed: int = 0,
    on_plan: Callable[[IntArray], None] | None = None,
    stop: threading.Event | None = None,
    clock: GapClock = WALL_CLOCK,
) -> IntArray | None:
    """A plan that fits (job j's agent), from the dive over the pool of the multipliers
    ``scaled_u`` (x ``MULTIPLIER_SCALE``), by ``deadline`` (on ``clock``); None when
    none was found in time. With ``on_plan``, the search goes on
    from the first plan until the deadline or ``stop`` is set, ``on_plan`` hearing each
    plan (the first included; a copy), and the best is returned."""
    m, n = cost.shape
    agent_of, sets = column_pool(
        cost, weight, capacity, scaled_u, min(POOL_WORK // max(m, 1) ** 2, MAX_SETS)
    )
    if n == 0 or len(sets) == 0 or clock.now() >= deadline:
        return None
    lp = _PoolLp(agent_of, sets, (sets * cost[agent_of]).sum(axis=1), m)
    fixed: list[int] = []
    while deadline - RESIDUAL_LIMIT_S - clock.now() > 0:
        y = lp.solve(clock.wall_limit_s(deadline - RESIDUAL_LIMIT_S))
        if y is None:
            break
        covered = sets[fixed].any(axis=0)
        if covered.all():
            break
        y[~lp.alive] = -1.0
        y[fixed] = -1.0
        fixed.append(int(np.argmax(y)))
        lp.fix(fixed)
    counts = [max(len(fixed) - r, 0) for r in range(RELEASES + 1)] + [0]
    for count in dict.fromkeys(counts):  # the last try: every job to CP-SAT
        plan = _residual(
            cost,
            weight,
            capacity,
            agent_of,
            sets,
            fixed[:count],
            deadline,
            seed,
            on_plan,
            stop,
            clock,
        )
        if plan is not None or clock.now() >= deadline:
            return plan
    return None


class _PoolLp:
    """The master LP over the pool (:class:`solver.gap_glop.GlopLp`); sets ruled out by
    the fixed ones get upper bound 0."""

    def __init__(
        self, agent_of: IntArray, sets: BoolArray, set_cost: IntArray, m: int
    ) -> None:
        n = sets.shape[1]
        self._lp = GlopLp(
            np.concatenate([np.ones(n), np.full(m, -np.inf)]), np.ones(n + m), dual=True
        )
        job_rows, job_cols = np.nonzero(sets.T)
        self._lp.add_columns(
            set_cost.astype(np.float64),
            np.concatenate([job_rows, n + agent_of]),
            np.concatenate([job_cols, np.arange(len(sets))]),
            upper=1.0,
        )
        self._agent_of, self._sets = agent_of, sets
        self.alive = np.ones(len(sets), np.bool_)

    def solve(self, time_limit_s: float) -> npt.NDArray[np.float64] | None:
        """The LP's set values, None when it has none within ``time_limit_s``."""
        solution = self._lp.solve(time_limit_s)
        return None if solution is None else solution.values

    def fix(self, fixed: list[int]) -> None:
        """Fix the last of ``fixed`` to 1 and close the sets it rules out."""
        last = fixed[-1]
        clash = self._sets[:, self._sets[last]].any(axis=1) | (
            self._agent_of == self._agent_of[last]
        )
        clash[fixed] = False
        self._lp.set_bounds(np.array([last]), 1.0, 1.0)
        self._lp.set_bounds(np.flatnonzero(clash & self.alive), 0.0, 0.0)
        self.alive &= ~clash


def _residual(
    cost: IntArray,
    weight: IntArray,
    capacity: IntArray,
    agent_of: IntArray,
    sets: BoolArray,
    fixed: list[int],
    deadline: float,
    seed: int,
    on_plan: Callable[[IntArray], None] | None = None,
    stop: threading.Event | None = None,
    clock: GapClock = WALL_CLOCK,
) -> IntArray | None:
    """The fixed sets, and the jobs they leave on the free agents by CP-SAT (its best
    plan after ``RESIDUAL_WORK`` of deterministic time, or at the deadline); None when
    it finds none. With ``on_plan``: see :func:`dive_plan`."""
    m, n = cost.shape
    agent = np.full(n, -1, np.int64)
    for k in fixed:
        agent[sets[k]] = agent_of[k]
    jobs = np.flatnonzero(agent < 0)
    if jobs.size == 0:
        return agent
    free = np.setdiff1d(np.arange(m), agent_of[fixed])
    model = cp_model.CpModel()
    x = {
        (i, j): model.new_bool_var("")
        for i in free
        for j in jobs
        if weight[i, j] <= capacity[i]
    }
    for j in jobs:
        options = [x[i, j] for i in free if (i, j) in x]
        if not options:
            return None
        model.add_exactly_one(options)
    for i in free:
        row = [(var, int(weight[i, j])) for (k, j), var in x.items() if k == i]
        if row:
            model.add(
                cp_model.LinearExpr.weighted_sum(
                    [v for v, _ in row], [w for _, w in row]
                )
                <= int(capacity[i])
            )
    model.minimize(
        cp_model.LinearExpr.weighted_sum(
            list(x.values()), [int(cost[i, j]) for i, j in x]
        )
    )
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed % 2**31
    solver.parameters.max_deterministic_time = RESIDUAL_WORK  # same plan at any load
    solver.parameters.max_time_in_seconds = clock.wall_limit_s(deadline)
    with _stopped_by(None, solver, clock, deadline):  # its first plan even on stop
        status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    for (i, j), var in x.items():
        if solver.boolean_value(var):
            agent[j] = i
    if on_plan is None:
        return agent
    on_plan(agent.copy())
    if status == cp_model.OPTIMAL or (stop is not None and stop.is_set()):
        return agent
    better = _TellBetter(x, agent, on_plan, solver.objective_value)
    for (i, j), var in x.items():
        model.add_hint(var, bool(agent[j] == i))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed % 2**31
    solver.parameters.max_time_in_seconds = clock.wall_limit_s(deadline)
    with _stopped_by(stop, solver, clock, deadline):
        solver.solve(model, better)
    return better.agent


class _TellBetter(cp_model.CpSolverSolutionCallback):
    """Each plan CP-SAT finds on the residual that is cheaper than the best so far
    (at first ``agent``, of residual cost ``value``; CP-SAT's first is usually that
    hint again): ``agent`` (the whole plan) updated and a copy told to ``on_plan``."""

    def __init__(
        self,
        x: dict[tuple[Any, Any], cp_model.IntVar],
        agent: IntArray,
        on_plan: Callable[[IntArray], None],
        value: float,
    ) -> None:
        super().__init__()
        self._x, self.agent, self._on_plan = x, agent.copy(), on_plan
        self._best = value

    def on_solution_callback(self) -> None:
        value = self.objective_value
        if value >= self._best - 0.5:
            return
        self._best = value
        for (i, j), var in self._x.items():
            if self.boolean_value(var):
                self.agent[j] = i
        self._on_plan(self.agent.copy())


@contextmanager
def _stopped_by(
    stop: threading.Event | None,
    solver: cp_model.CpSolver,
    clock: GapClock,
    deadline: float,
) -> Iterator[None]:
    """While inside, a thread stops ``solver``'s search once ``stop`` is set or
    ``clock`` passes ``deadline`` (its own wall limit may be later: see
    :mod:`solver.gap_clock`)."""
    finished = threading.Event()

    def watch() -> None:
        while not finished.wait(STOP_POLL_S):
            if (stop is not None and stop.is_set()) or clock.now() >= deadline:
                solver.stop_search()  # again at each poll: a no-op before solve starts

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        finished.set()
        watcher.join()
