"""Generalized assignment (GAP): the best plan found by CP-SAT and HiGHS racing on the
machine's cores, a proven bound (CP-SAT's or a Lagrangian one, whichever is tighter) and
the gap; Chu & Beasley's type C/D generator and OR-Library readers.

A GAP is a capacitated assignment where each job uses a different amount of each
agent's capacity, which a flow cannot express. Linear assignment (LAP) instances go
through the min-cost-flow core instead (:func:`solver.lap.solve_lap`).

:func:`solve_gap` runs three searches at once within ``time_limit_s``:

- CP-SAT (``num_workers - 1`` workers, at least 1): plans and its proven bound;
- HiGHS (:mod:`solver.gap_highs`, one thread): plans;
- the Lagrangian bound (:mod:`solver.gap_lagrange`: each agent a 0-1 knapsack solved
  exactly, multipliers by column generation; exact in integers, at least the LP bound,
  above CP-SAT's on some type D instances), which stops when it converges; its thread
  then dives (:mod:`solver.gap_dive`: an LP dive over each agent's near-optimal job sets
  at the converged multipliers, :mod:`solver.gap_pool`) when at least ``DIVE_SHARE`` of
  the limit is left, for a plan whose residual (the jobs the dive left) CP-SAT then
  keeps improving until ``LNS_SHARE`` of the limit before the end, each better plan
  told to the race; then (``lns``, on by default) large-neighbourhood search
  (:mod:`solver.gap_lns`, freeing every job of a few agents per round, drawn by their
  Lagrangian slack) runs from the race's best plan so far until the end, its
  sub-problems pruned by the multipliers and by Lagrangian variable fixing
  (:mod:`solver.gap_fixing`) against that plan's cost.

CP-SAT (:mod:`solver.gap_cpsat`) *yields* (``yield_cp_sat``) once the Lagrangian bound
has converged above CP-SAT's bound so far and CP-SAT, after its first CPU seconds, is
still far from closing its own gap (Chu & Beasley type D): it stops, its plan so far
stays in the race, and its core goes to the dive and HiGHS, who find the better plans
there; and (``lns``) its thread then polishes each fresh plan (the cheapest so far
of HiGHS, the dive and CP-SAT) by large-neighbourhood search around it for
``POLISH_LNS_SHARE`` of the limit, until the end. LNS finds the most in its first
rounds from a new plan (D 20 x 200, seed 4: 12311 to 12257 in 0.5 s), so each of
those plans gets its turn, not only the best one at the end. Where CP-SAT is closing
in (type C: it proves optimality), it keeps searching.

HiGHS runs until its plan is optimal or the limit: MathOpt's HiGHS ignores the
``SolveInterrupter`` (OR-Tools 9.15), so the race waits for it even after a proof. Its
plans reach the race as it finds them (read from its improving-solution file).

The limit is wall time, or (``clock="cpu"``, :mod:`solver.gap_clock`) the process's CPU
time over the cores: the same budget as on a quiet machine, for benchmarks on a loaded
one.

As soon as a plan attains a proven bound (or CP-SAT proves optimality) all stop. Each
plan is then improved by local search (:mod:`solver.gap_local`: shift, swap and
ejection moves, in
the last ``POLISH_SHARE`` of the limit, a few ms in practice), and the cheaper one kept.

HiGHS's plan is checked exactly (one agent per job, capacities kept). The bound is the
tighter of CP-SAT's (exact integer) and the Lagrangian one, or, when neither came in
time, each job at its cheapest agent (``cheapest``: capacities ignored); HiGHS's
floating-point bound is not used, so every reported bound is proven.
``./dev bench gap_chu_beasley`` measures it against CP-SAT alone (the earlier solver) and
a HiGHS MIP baseline in the same run.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from ortools.util.python.solve_interrupter import SolveInterrupter

from solver.gap_clock import WALL_CLOCK, GapClock, race_clock
from solver.gap_cpsat import CpSatRacer
from solver.gap_dive import dive_plan
from solver.gap_fixing import allowed_pairs
from solver.gap_highs import highs_plan
from solver.gap_lagrange import LagrangianBound, lagrangian_bound
from solver.gap_lns import lns_improve
from solver.gap_local import improve
from solver.model import SolveStatus, relative_gap_pct
from solver.validate import validate_count, validate_gap, validate_time_limit

if TYPE_CHECKING:
    from collections.abc import Callable

IntArray = npt.NDArray[np.int64]

POLISH_SHARE = 0.02  # of time_limit_s kept for solver.gap_local on the plans at the end
DIVE_SHARE = 0.25  # of time_limit_s that must be left for the dive to start
LNS_SHARE = 0.1  # of time_limit_s kept after the dive for LNS (lns)
POLISH_LNS_SHARE = 0.03  # of time_limit_s: LNS around each fresh plan once CP-SAT
# yielded (lns)
YIELD_POLL_S = 0.25  # how often the race asks CP-SAT whether it yields (and, on the
# CPU clock, looks at the clock)


@dataclass(frozen=True, slots=True)
class GapInstance:
    """One GAP: assign every job to one agent within the agents' capacities."""

    cost: IntArray  # (m agents, n jobs)
    weight: IntArray  # (m, n) capacity used by job j on agent i
    capacity: IntArray  # (m,)

    def __post_init__(self) -> None:
        validate_gap(self.cost, self.weight, self.capacity)


@dataclass(frozen=True, slots=True)
class GapResult:
    """Best assignment found, the best proven bound and the honest status.

    OPTIMAL only when proven (CP-SAT proved it, or the plan attains the Lagrangian bound;
    then ``bound == objective``); FEASIBLE when a limit stopped the search with a plan,
    ``bound`` and ``gap_pct`` saying how far from optimal it can be; TIMEOUT when no plan
    was found in time; INFEASIBLE when CP-SAT proved none exists.
    """

    agent: IntArray  # (n,) agent of each job, -1 when no solution
    objective: int  # 0 when no solution
    status: SolveStatus
    wall_time_s: float
    bound: int | None  # the tighter proven bound (lower when minimising); None: no plan
    gap_pct: float | None  # solver.model.relative_gap_pct; None without a plan
    num_workers: int  # cores used: CP-SAT's workers, plus HiGHS's thread when it raced
    cp_sat_bound: int | None = None  # CP-SAT's proven bound, None when it had no plan
    lagrangian_bound: int | None = None  # None when not computed (see solve_gap)
    bound_source: str | None = (
        None  # "cp-sat", "lagrangian" or "cheapest": see solve_gap
    )
    plan_source: str | None = None  # "cp-sat", "highs", "dive" or "lns": its finder
    local_moves: int = 0  # shift/swap moves solver.gap_local made on that plan
    cp_sat_yielded_s: float | None = None  # when CP-SAT stopped for the converged
    # Lagrangian bound (seconds from the start); None: it kept searching (solve_gap)


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's total)."""
    return len(os.sched_getaffinity(0))


def solve_gap(
    instance: GapInstance,
    *,
    maximize: bool = False,
    time_limit_s: float = 10.0,
    seed: int = 0,
    num_workers: int | None = None,
    lagrangian: bool = True,
    highs: bool = True,
    local_search: bool = True,
    lns: bool = True,
    dive: bool = True,
    yield_cp_sat: bool = True,
    clock: str = "wall",
) -> GapResult:
    """Solve a GAP: CP-SAT (one Boolean per agent-job pair) and HiGHS race for the plan,
    CP-SAT and a Lagrangian relaxation for the bound (see the module docstring).

    Parameters
    ----------
    instance
        Costs, weights and capacities.
    maximize
        Maximise the total (the OR-Library gap1..gap12 convention) instead of minimising.
    time_limit_s, seed
        Wall-time limit for everything (seconds, > 0) and the solvers' random seed.
    num_workers
        Cores to use; None (default): :func:`available_cores`. CP-SAT gets one worker
        less when HiGHS runs beside it (at least one: with ``num_workers=1`` the two
        share the core).
    lagrangian, highs, local_search, lns, dive
        Compute the Lagrangian bound / race HiGHS / improve the plans by local search /
        search around the race's best plan on the Lagrangian's thread in the last
        ``LNS_SHARE`` of the limit (LNS from the race's best, going on from any
        cheaper plan found meanwhile), and around each fresh plan on CP-SAT's once it
        yields (only with ``lagrangian``; the first takes the dive's
        last part, and the dive starts only when its ``DIVE_SHARE`` is left before
        that. Equal CPU, 30 CPU s per core, load 14-24, gap % without / with it:
        D 20 x 200 seeds 0-2 0.482 / 0.409, 0.612 / 0.466, 0.468 / 0.428; D 10 x 100
        seeds 0-1 0.228 / 0.228, 0.224 / 0.351; C 20 x 100 seeds 0-1 equal. It runs
        to the limit where the race without it could end early (type C);
        ``./dev bench gap_chu_beasley --cpu-budget-s 30 --nolns``) / dive for
        a plan from the converged multipliers (only with ``lagrangian``). All False is
        CP-SAT alone, all workers (the solver before they came): with
        ``num_workers=1`` and a fixed seed, deterministic.
    yield_cp_sat
        Let CP-SAT yield (see the module docstring; only with ``lagrangian``): the
        others then run to the limit; ``GapResult.cp_sat_yielded_s`` says when.
    clock
        ``"wall"`` (default): ``time_limit_s`` is wall time. ``"cpu"``: it is on
        :func:`solver.gap_clock.cpu_clock` (this process's CPU time over
        ``num_workers``), which emulates the limit on a quiet machine with that many
        cores however loaded this one is; for benchmarks: HiGHS cannot be stopped, so
        its thread is left running (to its stretched wall limit) when the race ends,
        its plans up to then kept, and the CPU the process spends outside the race
        counts too (run each solve in a process of its own).

    Returns
    -------
    GapResult
        See :class:`GapResult` for the statuses, bounds and gap.

    Raises
    ------
    ValueError
        ``time_limit_s`` / ``num_workers`` out of range, or CP-SAT calls the model invalid
        (e.g. the objective over all pairs could overflow int64): its reason is quoted.
    """
    t0 = time.perf_counter()
    validate_time_limit(time_limit_s)
    workers = validate_count(
        "num_workers", available_cores() if num_workers is None else num_workers, 1
    )
    timer = race_clock(clock, workers)
    m, n = instance.cost.shape
    sign = -1 if maximize else 1  # everything below minimises sign x cost
    cost = sign * instance.cost
    race = highs and m > 0 and n > 0
    cp_workers = max(1, workers - 1) if race else workers
    race_state = _Race(
        CpSatRacer(
            instance.cost,
            instance.weight,
            instance.capacity,
            maximize,
            cp_workers,
            seed,
        )
    )
    interrupter = SolveInterrupter()
    lag: list[LagrangianBound | None] = [None]
    highs_agent: list[IntArray | None] = [None]
    lns_agent: list[IntArray | None] = [None]
    dive_agent: list[IntArray | None] = [None]
    failures: list[BaseException] = []

    polish_s = POLISH_SHARE * time_limit_s if local_search else 0.0
    race_end = timer.now() + time_limit_s - polish_s  # then local search on each plan

    def left_s() -> float:
        """Wall seconds a solver may take to stop by the race's end."""
        return timer.wall_limit_s(race_end)

    def run_lagrangian() -> None:
        lag[0] = lagrangian_bound(
            cost,
            instance.weight,
            instance.capacity,
            left_s(),
            stop=race_state.done,
            on_bound=race_state.bound_found,
        )
        converged = _converged(lag[0])
        if converged is not None:
            race_state.converged_bound = converged.bound  # for _watch_cp_sat
        lns_s = LNS_SHARE * time_limit_s if lns else 0.0
        if (
            dive
            and converged is not None
            and timer.wall_limit_s(race_end - lns_s) >= DIVE_SHARE * time_limit_s
            and not race_state.done.is_set()
        ):
            plan = dive_plan(
                cost,
                instance.weight,
                instance.capacity,
                converged.scaled_u,
                deadline=race_end - lns_s,
                seed=seed,
                on_plan=partial(_tell_if_fits, race_state, instance, cost),
                stop=race_state.done,
                clock=timer,
            )
            if plan is not None and plan_fits(instance, plan):
                dive_agent[0] = plan
                race_state.plan_found(int(cost[plan, np.arange(n)].sum()), plan)
        start = race_state.best_plan()
        if lns and start is not None and not race_state.done.is_set():
            lns_agent[0] = _search_around(
                instance, cost, start, race_state, race_end, seed, timer
            )

    tell_highs = partial(_tell_if_fits, race_state, instance, cost, keep=highs_agent)

    def run_highs() -> None:
        plan = highs_plan(
            cost,
            instance.weight,
            instance.capacity,
            deadline=race_end,
            seed=seed,
            interrupter=interrupter,
            clock=timer,
            on_plan=tell_highs,
            stop=race_state.done,
        )
        if plan is not None:
            tell_highs(plan)

    def guarded(run: Callable[[], None]) -> Callable[[], None]:
        def body() -> None:
            try:
                run()
            except BaseException as exc:  # re-raised in the caller's thread below
                failures.append(exc)

        return body

    threads = {
        name: threading.Thread(target=guarded(run), daemon=True)
        for name, run, wanted in (
            ("lagrangian", run_lagrangian, lagrangian and m > 0 and n > 0),
            ("highs", run_highs, race),
            (
                "yield",
                partial(_watch_cp_sat, race_state, t0),
                yield_cp_sat and lagrangian,
            ),
            (
                "clock",
                partial(_watch_clock, race_state, timer, race_end),
                timer is not WALL_CLOCK,
            ),
        )
        if wanted
    }
    for thread in threads.values():
        thread.start()
    try:
        cp_status, cp_agent, cp_bound = race_state.cp.solve(
            race_state.plan_found,
            left_s(),
            share_plans=lns,
            budget_s=time_limit_s,
        )
        yielded_lns = _polish_after_yield(
            lns, instance, cost, race_state, race_end, seed, timer, time_limit_s
        )
    finally:
        _end_race(race_state, threads, interrupter, timer)
    if failures:
        raise failures[0]
    return _combine(
        instance,
        sign,
        cp_status,
        {
            "cp-sat": cp_agent,
            "highs": highs_agent[0],
            "dive": dive_agent[0],
            "lns": _cheapest(cost, lns_agent[0], yielded_lns),
        },
        {
            "cp-sat": cp_bound,
            "lagrangian": None if lag[0] is None else lag[0].bound,
            "cheapest": int(cost.min(axis=0).sum()) if m else None,
        },
        workers,
        t0,
        time_limit_s,
        local_search,
        race_state.cp.yielded_s,
    )


def _watch_cp_sat(race: _Race, t0: float) -> None:
    """Until the race ends, ask CP-SAT every ``YIELD_POLL_S`` whether it yields to the
    converged Lagrangian bound (:meth:`solver.gap_cpsat.CpSatRacer.yield_below`)."""
    while not race.done.wait(YIELD_POLL_S) and not race.cp.ended:
        bound = race.converged_bound
        if bound is not None and race.cp.yield_below(bound, t0):
            return


def _watch_clock(race: _Race, timer: GapClock, end: float) -> None:
    """Ends the race (``done``, CP-SAT stopped) once ``timer`` reaches ``end``: on the
    CPU clock the solvers' own wall limits come later (see :mod:`solver.gap_clock`)."""
    while not race.done.wait(YIELD_POLL_S):
        if timer.now() >= end:
            race.done.set()
            race.cp.stop()
            return


def _tell_if_fits(
    race: _Race,
    instance: GapInstance,
    cost: IntArray,
    plan: IntArray,
    keep: list[IntArray | None] | None = None,
) -> None:
    """Tell ``race`` a plan (its minimised ``cost``) when it fits; and put it in
    ``keep[0]`` when given, unless that holds a plan as cheap."""
    if not plan_fits(instance, plan):
        return
    value = int(cost[plan, np.arange(plan.size)].sum())
    if keep is not None:
        kept = keep[0]
        if kept is not None and int(cost[kept, np.arange(plan.size)].sum()) <= value:
            return
        keep[0] = plan
    race.plan_found(value, plan)


def _converged(lag: LagrangianBound | None) -> LagrangianBound | None:
    return lag if lag is not None and lag.converged else None


def _end_race(
    race: _Race,
    threads: dict[str, threading.Thread],
    interrupter: SolveInterrupter,
    timer: GapClock,
) -> None:
    """Once CP-SAT has returned: when it yielded, the searches run on until they end
    (they keep to the race's end) or ``done`` (on the CPU clock: the clock's end, a
    proof); then ``done`` stops whoever still runs, and all are joined but, off the
    wall clock, HiGHS (see ``solve_gap``'s ``clock``)."""
    if race.cp.yielded_s is not None:
        for name in ("lagrangian", "highs"):
            thread = threads.get(name)
            while thread is not None and thread.is_alive() and not race.done.is_set():
                thread.join(YIELD_POLL_S)
    race.done.set()
    interrupter.interrupt()
    for name, thread in threads.items():
        if timer is WALL_CLOCK or name != "highs":
            thread.join()


class _Race:
    """What the racers share (minimised sense): the best plan's cost and the best
    Lagrangian bound so far. A plan that attains the bound is optimal: CP-SAT stops,
    and ``done`` then tells the others."""

    def __init__(self, cp: CpSatRacer) -> None:
        self.cp = cp
        self.converged_bound: int | None = None  # the Lagrangian's, once converged
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._plan: int | None = None
        self._agent: IntArray | None = None
        self._bound: int | None = None
        self._fresh: IntArray | None = None
        self._fresh_cost: int | None = None
        self.multipliers: IntArray | None = None  # the best bound's, x MULTIPLIER_SCALE

    def plan_found(
        self, cost: int, agent: IntArray | None = None, *, fresh: bool = True
    ) -> None:
        """A plan of this (minimised) cost exists; ``agent``: the plan, when given.
        ``fresh``: found by a search of its own (not LNS around a plan): when it is
        the cheapest such so far, it waits for :meth:`take_fresh`."""
        with self._lock:
            if (
                fresh
                and agent is not None
                and (self._fresh_cost is None or cost < self._fresh_cost)
            ):
                self._fresh_cost, self._fresh = cost, agent.copy()
            if self._plan is None or cost < self._plan:
                self._plan = cost
                self._agent = None if agent is None else agent.copy()
        self._stop_if_proven()

    def take_fresh(self) -> IntArray | None:
        """The fresh plan (see :meth:`plan_found`) not taken yet, or None."""
        with self._lock:
            plan, self._fresh = self._fresh, None
            return plan

    def best_plan(self) -> IntArray | None:
        """The cheapest plan so far when it was given (None when it was not)."""
        with self._lock:
            return self._agent

    def cheaper_than(self, cost: int) -> IntArray | None:
        """A copy of the best plan so far when it costs less than ``cost`` and was
        given, else None."""
        with self._lock:
            if self._plan is None or self._plan >= cost or self._agent is None:
                return None
            return self._agent.copy()

    def bound_found(self, bound: int, scaled_u: IntArray | None = None) -> None:
        with self._lock:
            if self._bound is None or bound > self._bound:
                self._bound, self.multipliers = bound, scaled_u
        self._stop_if_proven()

    def _stop_if_proven(self) -> None:
        with self._lock:
            plan, bound = self._plan, self._bound
        if plan is not None and bound is not None and plan <= bound:
            self.cp.stop()
            self.done.set()


def _search_around(
    instance: GapInstance,
    cost: IntArray,
    plan: IntArray,
    race: _Race,
    deadline: float,
    seed: int,
    timer: GapClock,
    *,
    adopt: bool = True,
) -> IntArray | None:
    """Large-neighbourhood search from ``plan`` (minimised ``cost``) until ``deadline``
    (on ``timer``),
    pruned by the race's Lagrangian multipliers when it has some (and the pairs they fix
    against the plan's cost); its plan when it found a cheaper one, else None."""
    n = plan.size
    start = int(cost[plan, np.arange(n)].sum())
    scaled_u = race.multipliers
    allowed = (
        None
        if scaled_u is None
        else allowed_pairs(cost, instance.weight, instance.capacity, scaled_u, start)
    )
    found = lns_improve(
        cost,
        instance.weight,
        instance.capacity,
        plan,
        deadline=deadline,
        seed=seed,
        scaled_u=scaled_u,
        allowed=allowed,
        stop=race.done,
        on_plan=partial(race.plan_found, fresh=False),
        adopt=race.cheaper_than if adopt else None,
        by_agents=True,
        by_slack=scaled_u is not None,
        clock=timer.now,
    )
    better = int(cost[found.agent, np.arange(n)].sum()) < start
    return found.agent if better and plan_fits(instance, found.agent) else None


def _polish_after_yield(
    lns: bool,
    instance: GapInstance,
    cost: IntArray,
    race: _Race,
    deadline: float,
    seed: int,
    timer: GapClock,
    limit_s: float,
) -> IntArray | None:
    """With ``lns``, once CP-SAT has yielded, its thread polishes each fresh plan
    (:meth:`_Race.take_fresh`: HiGHS's, the dive's, CP-SAT's) by LNS around it
    (:func:`_search_around`, for ``POLISH_LNS_SHARE`` of the limit ``limit_s``, another
    seed each) until ``deadline``, and waits while none is fresh; the cheapest plan it
    found (None when none was cheaper than its start)."""
    if not lns or race.cp.yielded_s is None:
        return None
    best: IntArray | None = None
    polished = 0
    while not race.done.is_set() and timer.now() < deadline:
        plan = race.take_fresh()
        if plan is None:
            race.done.wait(YIELD_POLL_S)
            continue
        polished += 1
        found = _search_around(
            instance,
            cost,
            plan,
            race,
            min(timer.now() + POLISH_LNS_SHARE * limit_s, deadline),
            seed + polished,
            timer,
            adopt=False,
        )
        best = _cheapest(cost, best, found)
    return best


def _cheapest(cost: IntArray, *plans: IntArray | None) -> IntArray | None:
    """The plan of least (minimised) ``cost`` among ``plans`` (the first on a tie;
    None when all are None)."""
    given = [plan for plan in plans if plan is not None]
    jobs = np.arange(cost.shape[1])
    return min(given, key=lambda plan: int(cost[plan, jobs].sum()), default=None)


def plan_fits(instance: GapInstance, agent: IntArray) -> bool:
    """Exact check of a plan (one agent per job): agents in range, every agent's load
    within its capacity. The one check of a plan's feasibility (tests use it too)."""
    m, n = instance.cost.shape
    if agent.shape != (n,) or (n and (agent.min() < 0 or agent.max() >= m)):
        return False
    load = np.zeros(m, np.int64)
    np.add.at(load, agent, instance.weight[agent, np.arange(n)])
    return bool(np.all(load <= instance.capacity))


def _combine(
    instance: GapInstance,
    sign: int,
    cp_status: SolveStatus,
    plans: dict[str, IntArray | None],
    bounds: dict[str, int | None],
    workers: int,
    t0: float,
    time_limit_s: float,
    local_search: bool,
    cp_yielded_s: float | None,
) -> GapResult:
    """The cheaper plan, the tighter proven bound (both in the minimised sense inside,
    reported in the instance's own sense) and the status they prove."""
    n = instance.cost.shape[1]
    polish_s = POLISH_SHARE * time_limit_s / len(plans) if local_search else 0.0
    found = {}
    for name, plan in plans.items():
        if plan is not None:
            better, moves = improve(
                sign * instance.cost,
                instance.weight,
                instance.capacity,
                plan,
                time_limit_s=polish_s,
            )
            found[name] = (
                int(sign * instance.cost[better, np.arange(n)].sum()),
                better,
                moves,
            )
    wall = time.perf_counter() - t0
    lag = bounds["lagrangian"]
    cp_bound = bounds["cp-sat"]
    cp_reported = None if cp_bound is None else sign * cp_bound
    lag_reported = None if lag is None else sign * lag
    if not found:
        status = (
            SolveStatus.INFEASIBLE
            if cp_status == SolveStatus.INFEASIBLE
            else SolveStatus.TIMEOUT
        )
        return GapResult(
            np.full(n, -1, np.int64),
            0,
            status,
            wall,
            None,
            None,
            workers,
            cp_reported,
            lag_reported,
        )
    plan_source = min(found, key=lambda name: found[name][0])  # cp-sat first on a tie
    best, agent, moves = found[plan_source]
    proven = {name: b for name, b in bounds.items() if b is not None}
    bound_source = max(proven, key=lambda name: proven[name]) if proven else None
    bound = None if bound_source is None else proven[bound_source]
    if bound is not None and bound > best:
        raise RuntimeError(
            f"GAP: {bound_source} bound {sign * bound} is beyond the checked plan's "
            f"objective {sign * best}"
        )
    optimal = bound == best or (
        cp_status == SolveStatus.OPTIMAL and plan_source == "cp-sat"
    )
    if optimal:
        bound = best
    objective = sign * best
    reported = None if bound is None else sign * bound
    return GapResult(
        agent.copy(),
        objective,
        SolveStatus.OPTIMAL if optimal else SolveStatus.FEASIBLE,
        wall,
        reported,
        None
        if reported is None
        else relative_gap_pct(objective, reported, maximize=sign < 0),
        workers,
        cp_reported,
        lag_reported,
        bound_source,
        plan_source,
        moves,
        cp_yielded_s,
    )


CHU_BEASLEY_TYPES = ("C", "D")


def chu_beasley(kind: str, m: int, n: int, rng: np.random.Generator) -> GapInstance:
    """A random GAP of Chu & Beasley's (1997) type C or D, to be minimised.

    Integers drawn uniformly, bounds included: type C ``a_ij`` in [5, 25], ``c_ij`` in
    [10, 50]; type D ``a_ij`` in [1, 100], ``c_ij = 111 - a_ij + e_ij`` with ``e_ij`` in
    [-10, 10] (costly jobs are light: the harder, correlated family). Both:
    ``b_i = floor(0.8 x sum_j a_ij / m)``. ``m`` agents, ``n`` jobs, each >= 1.
    """
    if kind not in CHU_BEASLEY_TYPES:
        raise ValueError(f"kind: must be one of {CHU_BEASLEY_TYPES}, got {kind!r}")
    validate_count("m", m, 1)
    validate_count("n", n, 1)
    if kind == "C":
        weight = rng.integers(5, 25, (m, n), endpoint=True)
        cost = rng.integers(10, 50, (m, n), endpoint=True)
    else:
        weight = rng.integers(1, 100, (m, n), endpoint=True)
        cost = 111 - weight + rng.integers(-10, 10, (m, n), endpoint=True)
    capacity = 4 * weight.sum(axis=1) // (5 * m)  # floor(0.8 x sum / m), exact in ints
    return GapInstance(cost.astype(np.int64), weight.astype(np.int64), capacity)


def read_orlib_gap(text: str) -> list[GapInstance]:
    """Parse an OR-Library ``gapN.txt`` file: P, then per problem m n, c (m x n), a (m x n), b (m)."""
    nums = np.array(text.split(), dtype=np.int64)
    count, pos = int(nums[0]), 1
    out = []
    for _ in range(count):
        m, n = int(nums[pos]), int(nums[pos + 1])
        pos += 2
        cost = nums[pos : pos + m * n].reshape(m, n)
        pos += m * n
        weight = nums[pos : pos + m * n].reshape(m, n)
        pos += m * n
        cap = nums[pos : pos + m]
        pos += m
        out.append(GapInstance(cost.copy(), weight.copy(), cap.copy()))
    return out


def read_orlib_lap(text: str) -> IntArray:
    """Parse an OR-Library dense ``assignN.txt`` file: n, then the n x n cost matrix."""
    nums = np.array(text.split(), dtype=np.int64)
    n = int(nums[0])
    if nums.size != 1 + n * n:
        raise ValueError(f"assign file: expected {n * n} costs, got {nums.size - 1}")
    return nums[1:].reshape(n, n)
