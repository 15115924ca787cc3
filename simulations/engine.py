"""The discrete-event engine: one virtual clock, a heap of events, the live service's loop.

Model (what each event does)
----------------------------
- ``ARRIVAL``: the ticket is QUEUED (open); a solve is requested.
- ``SOLVE`` (debounced ``debounce_s`` after a change, and at least every ``cadence_s``):
  the open tickets (QUEUED and ASSIGNED, i.e. not yet started) and the technicians on shift
  become a ``solver.Problem`` (``simulations.sim_problem``); the policy solves it; the
  decisions are applied. ASSIGNED tickets may move (a churn event, counted per ticket);
  started ones are not in the problem at all -- they show in their technician's
  ``free_at_s``, location and queue places: the problem comes from the service's own
  builder (``solver.build``).
- A technician that is idle and on shift takes the head of its queue (dispatch). With the
  scenario's decline probability it declines: the ticket goes back to QUEUED with that
  technician (every lane of it) excluded, as a decline in the service. A ticket every
  technician able to do it has declined is escalated, never stranded, by the service's
  decision (``solver.declines.stranded_escalation``): the policy's next tier rule whose
  tier somebody can serve (its declines are lifted and only the next tier may take it),
  or without one a supervisor who overrides the declines, once per ticket (declined by
  every able technician again after that, it stays QUEUED, as the service's DECLINED). Otherwise it travels (``solver.geo.travel_time_s``, the one travel model),
  then works for the ticket's *actual* duration (the solver only knows the estimate).
- A ticket drawn to wait on the customer goes PENDING once (``streams.PendingDraws``): as
  its technician takes it up (before work) or after a share of its work (``PAUSE``; the
  technician is free, the work left is kept). While PENDING it is in no queue and no solve
  and its SLA clock stops; at ``RESUME`` it is QUEUED again with its due times moved later
  by the wait (``Policy.resumed_due_times``, the service's rule; ``simulations.clock``).
  The waits and the escalations below are ``simulations.waits``.
- Escalation rules (the policy's ``escalations``) run at every solve, by the service's
  functions (``simulations.clock``), and a solve is scheduled when the next one may fire:
  a priority raise or a tier move (the ticket's requirement of the tier skill rises, so a
  holder below it loses the ticket at that solve).
- ``CANCEL``: a ticket not yet started is cancelled (a started one is finished anyway).
- ``SHIFT_START`` / ``SHIFT_END``: technicians come on at home; at shift end their queued
  tickets return to QUEUED and a job in progress is finished (overtime).
- ``SAMPLE``: the backlog is recorded every ``sample_every_s`` and at the horizon.

Event kinds and ticket states are ``simulations.events``; the tables of a finished run
(the per-ticket log, breaches decided) are ``simulations.result``.

Everything random is drawn up front in ``simulations.streams``; the engine itself is
deterministic, so the same seed gives the same log (the solver is seeded too).
"""

from __future__ import annotations

import math
import time
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from simulations import waits
from simulations.clock import TicketClock
from simulations.events import (
    ARRIVAL,
    ASSIGNED,
    CANCEL,
    CANCELLED,
    EN_ROUTE,
    IN_PROGRESS,
    PAUSE,
    PENDING,
    QUEUED,
    RESOLVED,
    SAMPLE,
    SHIFT_END,
    SHIFT_START,
    SOLVE,
    SOLVE_DEBOUNCED,
    SOLVE_TICK,
    STATUS_NAMES,
    TRAVEL_DONE,
    WORK_DONE,
    EventQueue,
)
from simulations.result import SimResult, sim_result
from simulations.sim_problem import SimulationError, check_decisions, engine_problem
from simulations.streams import origin_s
from solver.declines import SkillRoster
from solver.geo import next_location

if TYPE_CHECKING:
    from collections.abc import Callable

    from simulations.policies import Policy
    from simulations.scenario import Scenario
    from simulations.streams import Roster, TicketStream
    from solver.model import Problem, Solution


class Engine:
    """One simulation run of one policy on one drawn stream and roster.

    Parameters
    ----------
    scenario
        Timing (horizon, debounce, sampling, cadence from ``scenario.policy``) and behaviour.
    stream, roster
        The drawn tickets and technicians (``simulations.streams``).
    policy
        Anything with ``.solve(problem, previous) -> Solution``.
    travel_time_s
        The travel model, ``solver.geo.travel_time_s`` unless a test injects another.
    progress
        Called as ``progress(now_s)`` about every simulated 15 minutes.
    check_decisions
        Verify every decision against the hard constraints (skills, exclusions, capacity)
        and raise :class:`SimulationError` on a violation.
    """

    def __init__(
        self,
        scenario: Scenario,
        stream: TicketStream,
        roster: Roster,
        policy: Policy,
        *,
        travel_time_s: Callable[..., Any] | None = None,
        progress: Callable[[float], None] | None = None,
        check_decisions: bool = True,
        pass_previous: bool = False,
    ) -> None:
        self.geo_travel = travel_time_s is None
        if travel_time_s is None:
            from solver.geo import travel_time_s as _travel

            travel_time_s = _travel
        self.sc = scenario
        self.s = stream
        self.r = roster
        self.policy = policy
        self.travel = travel_time_s
        self.progress = progress
        self.check = check_decisions
        self.pass_previous = pass_previous
        self.horizon_s = scenario.horizon_s
        self.cadence_s = scenario.policy.solver.cadence_s
        self.debounce_s = scenario.debounce_s
        self.decline_p = scenario.behaviour.decline_probability
        self.q = EventQueue()
        self.shift_row, self.shift_from, self.shift_to = roster.shifts(self.horizon_s)
        n, m = stream.count, roster.count
        # tickets
        self.status = np.zeros(n, np.int8)
        self.tech = np.full(n, -1, np.int64)
        self.first_assigned_s = np.full(n, np.nan)
        self.dispatched_s = np.full(n, np.nan)
        self.arrived_s = np.full(n, np.nan)
        self.resolved_s = np.full(n, np.nan)
        self.cancelled_s = np.full(n, np.nan)
        self.n_assign = np.zeros(n, np.int64)
        self.n_moves = np.zeros(n, np.int64)
        self.n_drops = np.zeros(n, np.int64)
        self.n_declines = np.zeros(n, np.int64)
        self.clock = TicketClock(scenario.policy, stream, origin_s(scenario))
        self.skill_roster = SkillRoster(
            tuple(roster.tech_id), tuple(stream.skills), roster.skill_levels
        )
        self.pended = np.zeros(n, bool)
        self.work_left_s = stream.duration_actual_s.copy()
        self.segment_s = np.full(n, np.nan)  # start of the current spell of work
        self.attempts = np.zeros(n, np.int64)
        self.travel_s = np.zeros(n)
        self.travel_km = np.zeros(n)
        self.work_tech = np.full(n, -1, np.int64)
        self.excluded: dict[int, list[int]] = {}
        self.open: set[int] = set()
        # technicians
        self.on_shift = np.zeros(m, bool)
        self.shift_end_s = np.zeros(m)
        self.shift_began_s = np.zeros(m)
        self.lat = roster.home_lat_deg.copy()
        self.lon = roster.home_lon_deg.copy()
        self.current = np.full(m, -1, np.int64)
        self.free_est_s = np.zeros(m)
        self.queue: list[list[int]] = [[] for _ in range(m)]
        self.busy_travel_s = np.zeros(m)
        self.busy_work_s = np.zeros(m)
        self.on_shift_s = np.zeros(m)
        self.completed = np.zeros(m, np.int64)
        self.km = np.zeros(m)
        # bookkeeping
        self.solve_pending = False
        self.wake_s = -math.inf  # a SOLVE_CLOCK event is scheduled then
        self.previous: Solution | None = None
        self.backlog_rows: list[tuple] = []
        self.solve_rows: list[tuple] = []
        self.events = 0
        self.policy_wall_s = 0.0
        self.now = 0.0

    # ------------------------------------------------------------------ scheduling

    def _schedule_initial(self) -> None:
        s, q = self.s, self.q
        for i in range(s.count):
            q.push(float(s.created_s[i]), ARRIVAL, i)
            if s.cancel_at_s[i] < self.horizon_s:
                q.push(float(s.cancel_at_s[i]), CANCEL, i)
        for k, (j, start) in enumerate(
            zip(self.shift_row, self.shift_from, strict=True)
        ):
            q.push(float(start), SHIFT_START, int(j), k)
        t = 0.0
        while t < self.horizon_s:
            q.push(t, SAMPLE)
            t += self.sc.sample_every_s
        # A last sample at the horizon (after every other event there): series end where
        # the KPI table is taken.
        q.push(self.horizon_s, SAMPLE)
        q.push(self.cadence_s, SOLVE, SOLVE_TICK)

    def request_solve(self) -> None:
        if not self.solve_pending:
            self.solve_pending = True
            self.q.push(self.now + self.debounce_s, SOLVE, SOLVE_DEBOUNCED)

    # ------------------------------------------------------------------ run

    def run(self) -> SimResult:
        t_wall = time.perf_counter()
        self._schedule_initial()
        q = self.q
        next_progress = 0.0
        handlers = self.handlers()
        while q:
            t, kind, _seq, a, b = q.pop()
            if t > self.horizon_s:
                break
            self.now = t
            self.events += 1
            handlers[kind](a, b)
            if self.progress is not None and t >= next_progress:
                self.progress(t)
                next_progress = t + 900.0
        self.now = self.horizon_s
        for j in np.flatnonzero(self.on_shift):
            self.on_shift_s[j] += self.horizon_s - self.shift_began_s[j]
        wall = time.perf_counter() - t_wall
        if self.progress is not None:
            self.progress(self.horizon_s)
        return sim_result(self, wall)

    # ------------------------------------------------------------------ handlers

    def handlers(self) -> tuple[Callable[[int, int], None], ...]:
        """The handler of each event kind, in kind order."""
        return (
            self._work_done,
            partial(waits.pause, self),
            self._travel_done,
            self._shift_end,
            self._shift_start,
            self._cancel,
            partial(waits.resume, self),
            self._arrival,
            self._solve_event,
            self._sample,
        )

    def _arrival(self, i: int, _b: int) -> None:
        self.status[i] = QUEUED
        self.open.add(i)
        self.request_solve()

    def _cancel(self, i: int, _b: int) -> None:
        st = self.status[i]
        if st in (QUEUED, ASSIGNED, PENDING):
            if st == ASSIGNED:
                self.queue[self.tech[i]].remove(i)
            self.status[i] = CANCELLED
            self.cancelled_s[i] = self.now
            self.open.discard(i)
            self.request_solve()

    def _shift_start(self, j: int, k: int) -> None:
        """Technician ``j`` comes on for its ``k``-th shift interval (``Roster.shifts``)."""
        self.on_shift[j] = True
        self.shift_began_s[j] = self.now
        end = float(self.shift_to[k])
        self.shift_end_s[j] = end
        if self.current[j] < 0:
            self.lat[j] = self.r.home_lat_deg[j]
            self.lon[j] = self.r.home_lon_deg[j]
            self.free_est_s[j] = self.now
        self.q.push(end, SHIFT_END, j)
        self.request_solve()

    def _shift_end(self, j: int, _b: int) -> None:
        self.on_shift[j] = False
        self.on_shift_s[j] += self.now - self.shift_began_s[j]
        for i in self.queue[j]:
            self.status[i] = QUEUED
            self.tech[i] = -1
            self.n_drops[i] += 1
        self.queue[j] = []
        self.request_solve()

    def dispatch(self, j: int) -> None:
        """Idle technician ``j`` on shift takes the head of its queue (or declines it)."""
        qj = self.queue[j]
        s = self.s
        while qj:
            i = qj.pop(0)
            k = int(self.attempts[i])
            self.attempts[i] = k + 1
            u = s.decline_u[i, min(k, s.decline_u.shape[1] - 1)]
            if u < self.decline_p:
                self.status[i] = QUEUED
                self.tech[i] = -1
                self.n_declines[i] += 1
                self.excluded.setdefault(i, []).extend(self.r.lanes_of(j))
                waits.escalate_if_stranded(self, i)
                self.request_solve()
                continue
            self.open.discard(i)
            if self.check and (self.r.skill_levels[j] < self.clock.required[i]).any():
                raise SimulationError(
                    f"technician {self.r.tech_id[j]} took ticket {s.ticket_id[i]} "
                    "below its required (escalated) skill levels"
                )
            p = s.pending
            if p is not None and waits.waits(self, i) and p.before_work[i]:
                waits.pend(self, i)
                continue
            self.status[i] = EN_ROUTE
            self.dispatched_s[i] = self.now
            self.work_tech[i] = j
            speed = float(self.r.speed_kmh[j])
            tt = float(
                self.travel(self.lat[j], self.lon[j], s.lat_deg[i], s.lon_deg[i], speed)
            )
            self.travel_s[i] = tt
            km = tt * speed / 3_600.0
            self.travel_km[i] = km
            self.km[j] += km
            self.busy_travel_s[j] += tt
            self.current[j] = i
            self.lat[j], self.lon[j] = next_location(
                self.lat[j], self.lon[j], s.lat_deg[i], s.lon_deg[i]
            )
            self.free_est_s[j] = self.now + tt + float(s.duration_est_s[i])
            self.q.push(self.now + tt, TRAVEL_DONE, j, i)
            return

    def _travel_done(self, j: int, i: int) -> None:
        self.status[i] = IN_PROGRESS
        if np.isnan(self.arrived_s[i]):
            self.arrived_s[i] = self.now
        self.segment_s[i] = self.now
        self.free_est_s[j] = self.now + float(self.s.duration_est_s[i])
        left = float(self.work_left_s[i])
        p = self.s.pending
        if p is not None and waits.waits(self, i):
            self.q.push(self.now + float(p.share[i]) * left, PAUSE, j, i)
        else:
            self.q.push(self.now + left, WORK_DONE, j, i)

    def _work_done(self, j: int, i: int) -> None:
        self.status[i] = RESOLVED
        self.resolved_s[i] = self.now
        self.busy_work_s[j] += self.now - self.segment_s[i]
        self.completed[j] += 1
        self.current[j] = -1
        self.free_est_s[j] = self.now
        if self.on_shift[j]:
            self.dispatch(j)
            if self.current[j] < 0:
                self.request_solve()

    def _sample(self, _a: int, _b: int) -> None:
        st = self.status
        counts = np.bincount(st, minlength=len(STATUS_NAMES))
        on = self.on_shift
        busy = int(np.count_nonzero(on & (self.current >= 0)))
        self.backlog_rows.append(
            (
                self.now,
                int(counts[QUEUED]),
                int(counts[ASSIGNED]),
                int(counts[EN_ROUTE] + counts[IN_PROGRESS]),
                int(counts[QUEUED] + counts[ASSIGNED]),
                int(on.sum()),
                busy,
            )
        )
        # Breached-so-far among open tickets is derived later from the ticket log.

    # ------------------------------------------------------------------ solving

    def _solve_event(self, why: int, _b: int) -> None:
        if why == SOLVE_TICK:
            self.q.push(self.now + self.cadence_s, SOLVE, SOLVE_TICK)
            if self.solve_pending:
                return  # a debounced solve is due within debounce_s anyway
        elif why == SOLVE_DEBOUNCED:
            self.solve_pending = False
        self.solve()

    def build_problem(self) -> tuple[Problem, np.ndarray, np.ndarray]:
        """The live snapshot as a solver Problem, plus the row -> ticket / technician maps
        (``simulations.sim_problem.engine_problem``)."""
        return engine_problem(self)

    def solve(self) -> None:
        waits.run_clock_rules(self)
        if not self.open or not self.on_shift.any():
            return
        problem, tickets, techs = self.build_problem()
        t0 = time.perf_counter()
        sol = self.policy.solve(problem, self.previous if self.pass_previous else None)
        wall = time.perf_counter() - t0
        self.policy_wall_s += wall
        self.previous = sol
        rows = np.asarray(sol.technician, np.int64)
        if rows.shape != tickets.shape:
            raise SimulationError(
                f"policy returned {rows.shape} decisions for {tickets.size} tickets"
            )
        if self.check:
            check_decisions(problem, rows)
        if self.clock.watch_risk:
            self.clock.signal_at_risk(problem, sol, tickets)
        new_tech = np.where(rows >= 0, techs[np.maximum(rows, 0)], -1)
        old_tech = self.tech[tickets]
        changed = new_tech != old_tech
        moved = changed & (old_tech >= 0) & (new_tech >= 0)
        dropped = changed & (old_tech >= 0) & (new_tech < 0)
        gained = changed & (new_tech >= 0)
        self.n_moves[tickets[moved]] += 1
        self.n_drops[tickets[dropped]] += 1
        self.n_assign[tickets[gained]] += 1
        first = tickets[gained & np.isnan(self.first_assigned_s[tickets])]
        self.first_assigned_s[first] = self.now
        self.tech[tickets] = new_tech
        self.status[tickets] = np.where(new_tech >= 0, ASSIGNED, QUEUED).astype(np.int8)
        for j in techs.tolist():
            self.queue[j] = []
        pos = np.asarray(sol.position, np.int64)
        order = np.lexsort((pos, new_tech))
        for k in order.tolist():
            j = int(new_tech[k])
            if j >= 0:
                self.queue[j].append(int(tickets[k]))
        n_assigned = int((new_tech >= 0).sum())
        self.solve_rows.append(
            (
                self.now,
                int(tickets.size),
                int(techs.size),
                n_assigned,
                int(moved.sum()),
                wall,
                str(sol.stats.status.value)
                if hasattr(sol.stats.status, "value")
                else str(sol.stats.status),
                float(sol.objective),
            )
        )
        for j in techs.tolist():
            if self.current[j] < 0 and self.queue[j]:
                self.dispatch(j)
