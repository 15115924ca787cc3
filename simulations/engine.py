"""The discrete-event engine: one virtual clock, a heap of events, the live service's loop.

Model (what each event does)
----------------------------
- ``ARRIVAL``: the ticket is QUEUED (open); a solve is requested.
- ``SOLVE`` (debounced ``debounce_s`` after a change, and at least every ``cadence_s``):
  the open tickets (QUEUED and ASSIGNED, i.e. not yet started) and the technicians on shift
  become a ``solver.Problem``; the policy solves it; the decisions are applied. ASSIGNED
  tickets may move (a churn event, counted per ticket); started ones are not in the problem
  at all -- they show in their technician's ``free_at_s``, location and queue places: the
  problem comes from the service's own builder (``solver.build``).
- A technician that is idle and on shift takes the head of its queue (dispatch). With the
  scenario's decline probability it declines: the ticket goes back to QUEUED with that
  technician (every lane of it) excluded, as a decline in the service. A ticket every
  technician able to do it has declined is escalated, never stranded: by the policy's next
  tier rule, as in the service (its declines are lifted and only the next tier may take
  it), or without one by a supervisor who overrides the declines (it can no longer be
  declined). Otherwise it travels (``solver.geo.travel_time_s``, the one travel model),
  then works for the ticket's *actual* duration (the solver only knows the estimate).
- A ticket drawn to wait on the customer goes PENDING once (``streams.PendingDraws``): as
  its technician takes it up (before work) or after a share of its work (``PAUSE``; the
  technician is free, the work left is kept). While PENDING it is in no queue and no solve
  and its SLA clock stops; at ``RESUME`` it is QUEUED again with its due times moved later
  by the wait (``Policy.resumed_due_times``, the service's rule; ``simulations.clock``).
- Escalation rules (the policy's ``escalations``) run at every solve, by the service's
  functions (``simulations.clock``), and a solve is scheduled when the next one may fire:
  a priority raise or a tier move (the ticket's requirement of the tier skill rises, so a
  holder below it loses the ticket at that solve).
- ``CANCEL``: a ticket not yet started is cancelled (a started one is finished anyway).
- ``SHIFT_START`` / ``SHIFT_END``: technicians come on at home; at shift end their queued
  tickets return to QUEUED and a job in progress is finished (overtime).
- ``SAMPLE``: the backlog is recorded every ``sample_every_s`` and at the horizon.

Everything random is drawn up front in ``simulations.streams``; the engine itself is
deterministic, so the same seed gives the same log (the solver is seeded too).
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from simulations.clock import CAUSES, TicketClock
from simulations.reach import unavoidable
from simulations.streams import origin_s
from solver.build import ASSIGNED as B_ASSIGNED
from solver.build import IN_PROGRESS as B_IN_PROGRESS
from solver.build import QUEUED as B_QUEUED
from solver.build import TechnicianState, TicketState, build_problem
from solver.declines import declined_by_every_able
from solver.geo import next_location
from solver.model import NO_TECHNICIAN

if TYPE_CHECKING:
    from collections.abc import Callable

    from simulations.policies import Policy
    from simulations.scenario import Scenario
    from simulations.streams import Roster, TicketStream
    from solver.model import Problem, Solution

# Event kinds; the order breaks ties at equal times (finish work before new arrivals, etc.).
(
    WORK_DONE,
    PAUSE,
    TRAVEL_DONE,
    SHIFT_END,
    SHIFT_START,
    CANCEL,
    RESUME,
    ARRIVAL,
    SOLVE,
    SAMPLE,
) = range(10)
EVENT_NAMES = (
    "work_done",
    "pause",
    "travel_done",
    "shift_end",
    "shift_start",
    "cancel",
    "resume",
    "arrival",
    "solve",
    "sample",
)
SOLVE_DEBOUNCED, SOLVE_TICK, SOLVE_CLOCK = range(3)  # why a SOLVE event runs

# Ticket states.
(
    NOT_ARRIVED,
    QUEUED,
    ASSIGNED,
    EN_ROUTE,
    IN_PROGRESS,
    RESOLVED,
    CANCELLED,
    PENDING,
) = range(8)
STATUS_NAMES = (
    "not_arrived",
    "queued",
    "assigned",
    "en_route",
    "in_progress",
    "resolved",
    "cancelled",
    "pending",
)
SERVICE_STATUS = (
    "",
    "QUEUED",
    "ASSIGNED",
    "ACCEPTED",
    "IN_PROGRESS",
    "",
    "",
    "PENDING",
)
"""The service's status of each live state, for the clock rules (``solver.sla``): a
technician on the way has accepted the ticket; a started one is IN_PROGRESS."""


class SimulationError(RuntimeError):
    """The policy returned a decision that breaks a hard constraint, or the engine broke."""


@dataclass
class SimResult:
    """Everything a run produced (tables are polars DataFrames)."""

    tickets: pl.DataFrame  # the per-ticket log
    technicians: pl.DataFrame
    backlog: pl.DataFrame  # backlog over time
    solves: pl.DataFrame
    horizon_s: float
    events: int
    wall_s: float
    policy_wall_s: float
    meta: dict[str, Any] = field(default_factory=dict)


class EventQueue:
    """A plain binary-heap event queue (the default core)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, int, int, int]] = []
        self._seq = 0

    def push(self, t: float, kind: int, a: int = -1, b: int = -1) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, kind, self._seq, a, b))

    def pop(self) -> tuple[float, int, int, int, int]:
        return heapq.heappop(self._heap)

    def __len__(self) -> int:
        return len(self._heap)

    def peek_time(self) -> float:
        return self._heap[0][0] if self._heap else math.inf


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
        self.overridden = np.zeros(n, bool)  # declines overridden: no more declines
        self.clock = TicketClock(scenario.policy, stream, origin_s(scenario))
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
        return self._result(wall)

    # ------------------------------------------------------------------ handlers

    def handlers(self) -> tuple[Callable[[int, int], None], ...]:
        """The handler of each event kind, in kind order."""
        return (
            self._work_done,
            self._pause,
            self._travel_done,
            self._shift_end,
            self._shift_start,
            self._cancel,
            self._resume,
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

    def _escalate_if_stranded(self, i: int) -> None:
        """Every technician able to do ticket ``i`` has declined it (``solver.declines``, the
        service's rule too): escalate it rather than leave it QUEUED with nobody allowed to
        take it. The policy's next tier rule fires, as in the service; without one a
        supervisor overrides the declines. Either way its declines are lifted."""
        excluded = self.excluded[i]
        if not declined_by_every_able(
            self.clock.required[i], self.r.skill_levels, excluded
        ):
            return
        del self.excluded[i]
        ids = tuple(dict.fromkeys(self.r.tech_id[j] for j in excluded))
        if not self.clock.declined(i, ids, self.now):
            self.overridden[i] = True

    def _pend(self, i: int) -> None:
        """Ticket ``i`` waits on the customer: PENDING (no queue, no solve, clock stopped)
        until its ``RESUME``."""
        self.status[i] = PENDING
        self.tech[i] = -1
        self.pended[i] = True
        self.clock.pause(i, self.now)
        p = self.s.pending
        if p is not None:  # only drawn waits pend
            self.q.push(self.now + float(p.wait_s[i]), RESUME, i)

    def _resume(self, i: int, _b: int) -> None:
        if self.status[i] != PENDING:
            return  # cancelled while it waited
        self.clock.resume(i, self.now)
        self.status[i] = QUEUED
        self.open.add(i)
        self.request_solve()

    def _waits(self, i: int) -> bool:
        """Ticket ``i`` is drawn to wait on the customer and has not yet."""
        p = self.s.pending
        return p is not None and not self.pended[i] and not np.isnan(p.share[i])

    def _dispatch(self, j: int) -> None:
        """Idle technician ``j`` on shift takes the head of its queue (or declines it)."""
        qj = self.queue[j]
        s = self.s
        while qj:
            i = qj.pop(0)
            k = int(self.attempts[i])
            self.attempts[i] = k + 1
            u = s.decline_u[i, min(k, s.decline_u.shape[1] - 1)]
            if u < self.decline_p and not self.overridden[i]:
                self.status[i] = QUEUED
                self.tech[i] = -1
                self.n_declines[i] += 1
                self.excluded.setdefault(i, []).extend(self.r.lanes_of(j))
                self._escalate_if_stranded(i)
                self.request_solve()
                continue
            self.open.discard(i)
            if self.check and (self.r.skill_levels[j] < self.clock.required[i]).any():
                raise SimulationError(
                    f"technician {self.r.tech_id[j]} took ticket {s.ticket_id[i]} "
                    "below its required (escalated) skill levels"
                )
            p = s.pending
            if p is not None and self._waits(i) and p.before_work[i]:
                self._pend(i)
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
        if p is not None and self._waits(i):
            self.q.push(self.now + float(p.share[i]) * left, PAUSE, j, i)
        else:
            self.q.push(self.now + left, WORK_DONE, j, i)

    def _pause(self, j: int, i: int) -> None:
        """Ticket ``i`` goes PENDING during its work: technician ``j`` is free, the work
        left is kept for when it resumes (with whichever technician then takes it)."""
        worked = self.now - float(self.segment_s[i])
        self.work_left_s[i] -= worked
        self.busy_work_s[j] += worked
        self.current[j] = -1
        self.free_est_s[j] = self.now
        self._pend(i)
        if self.on_shift[j]:
            self._dispatch(j)
        self.request_solve()

    def _work_done(self, j: int, i: int) -> None:
        self.status[i] = RESOLVED
        self.resolved_s[i] = self.now
        self.busy_work_s[j] += self.now - self.segment_s[i]
        self.completed[j] += 1
        self.current[j] = -1
        self.free_est_s[j] = self.now
        if self.on_shift[j]:
            self._dispatch(j)
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

    def _run_clock_rules(self) -> None:
        """Escalation rules due now (``simulations.clock``), and a solve when the next one
        may fire (the service's loop wakes up then too)."""
        if not self.clock.rules:
            return
        st = self.status
        live = np.flatnonzero((st >= QUEUED) & (st <= IN_PROGRESS)).astype(np.int64)
        names = [SERVICE_STATUS[v] for v in st[live].tolist()]
        _, wake = self.clock.run_rules(live, names, self.now)
        if math.isfinite(wake) and (wake < self.wake_s or self.wake_s <= self.now):
            self.wake_s = max(wake, self.now)
            self.q.push(self.wake_s, SOLVE, SOLVE_CLOCK)

    def build_problem(self) -> tuple[Problem, np.ndarray, np.ndarray]:
        """The live snapshot as a solver Problem, plus the row -> ticket / technician maps.

        The engine's state as ``solver.build`` arrays, which applies the service's rules:
        the open tickets (QUEUED, ASSIGNED) are rows; each on-shift technician's job
        (EN_ROUTE counts as started: its work starts on arrival) is work in progress,
        which delays it, moves it and takes one of its queue places. Every roster row is
        one lane already (``simulations.streams``), so each has concurrency 1.
        """
        s, r, c = self.s, self.r, self.clock
        open_ = np.fromiter(sorted(self.open), np.int64, len(self.open))
        techs = np.flatnonzero(self.on_shift).astype(np.int64)
        jobs = self.current[techs]
        working = jobs >= 0
        jobs = jobs[working]
        tickets = np.concatenate([open_, jobs])
        index_of_tech = np.full(r.count, NO_TECHNICIAN, np.int64)
        index_of_tech[techs] = np.arange(techs.size)
        held = self.tech[open_]
        started = np.where(
            self.status[jobs] == IN_PROGRESS,
            self.segment_s[jobs],
            self.dispatched_s[jobs] + self.travel_s[jobs],
        )
        n, n_open = tickets.size, open_.size
        state = TicketState(
            status=np.concatenate(
                [
                    np.where(self.status[open_] == ASSIGNED, B_ASSIGNED, B_QUEUED),
                    np.full(jobs.size, B_IN_PROGRESS),
                ]
            ),
            technician=np.concatenate(
                [
                    np.where(held >= 0, index_of_tech[held], NO_TECHNICIAN),
                    np.flatnonzero(working),
                ]
            ),
            held_back=np.zeros(n, bool),
            started_s=np.concatenate([np.full(n_open, np.nan), started]),
            lat_deg=s.lat_deg[tickets],
            lon_deg=s.lon_deg[tickets],
            priority=c.priority[tickets],
            skill_levels=c.required[tickets],
            duration_s=s.duration_est_s[tickets],
            created_s=s.created_s[tickets],
            response_due_s=c.response_due_s[tickets],
            resolution_due_s=c.resolution_due_s[tickets],
            window_start_s=np.full(n, -np.inf),
            window_end_s=np.full(n, np.inf),
            tier=s.tier[tickets],
            excluded=self._excluded_pairs(open_, index_of_tech),
            preferred=np.empty((0, 2), np.int64),
        )
        crew = TechnicianState(
            lat_deg=self.lat[techs],
            lon_deg=self.lon[techs],
            skill_levels=r.skill_levels[techs],
            capacity=r.capacity[techs],
            concurrency=np.ones(techs.size, np.int64),
            shift_end_s=self.shift_end_s[techs],
            speed_kmh=r.speed_kmh[techs],
            available=np.ones(techs.size, bool),
        )
        parts = build_problem(state, crew, self.now)
        return parts.build(), tickets[parts.ticket_index], techs

    def _excluded_pairs(self, open_: np.ndarray, index_of_tech: np.ndarray) -> Any:
        """(ticket index, technician index) of each open ticket's declined technicians."""
        pairs = [
            (int(np.searchsorted(open_, i)), int(index_of_tech[j]))
            for i in sorted(self.excluded)
            if i in self.open
            for j in self.excluded[i]
            if index_of_tech[j] != NO_TECHNICIAN
        ]
        return np.array(pairs, np.int64).reshape(-1, 2)

    def solve(self) -> None:
        self._run_clock_rules()
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
            self._check(problem, rows)
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
                self._dispatch(j)

    def _check(self, problem: Problem, rows: np.ndarray) -> None:
        tk, te = problem.tickets, problem.technicians
        a = np.flatnonzero(rows >= 0)
        if a.size == 0:
            return
        if (rows >= te.count).any():
            raise SimulationError("policy returned a technician row out of range")
        short = (te.skill_levels[rows[a]] < tk.skill_levels[a]).any(axis=1)
        if short.any():
            raise SimulationError(
                f"policy broke a skill constraint on {int(short.sum())} ticket(s)"
            )
        load = np.bincount(rows[a], minlength=te.count)
        if (load > te.capacity).any():
            raise SimulationError(
                "policy put more tickets on a technician than its capacity"
            )
        if tk.excluded.size:
            bad = rows[tk.excluded[:, 0]] == tk.excluded[:, 1]
            if bad.any():
                raise SimulationError("policy assigned an excluded technician")

    # ------------------------------------------------------------------ output

    def _result(self, wall: float) -> SimResult:
        s, r, c = self.s, self.r, self.clock
        h = self.horizon_s
        status = self.status
        waiting = np.flatnonzero(status == PENDING)
        response_due_s, resolution_due_s, pending_s = c.at_horizon(waiting, h)
        arrived = status != NOT_ARRIVED
        # A breach is decided when the due time passed without the event (or the event was late).
        resp_t = np.where(np.isnan(self.arrived_s), np.inf, self.arrived_s)
        reso_t = np.where(np.isnan(self.resolved_s), np.inf, self.resolved_s)
        cancelled = status == CANCELLED
        # due times as moved by waits on the customer: time PENDING is off the clock
        resp_breach = (
            (resp_t > response_due_s)
            & (np.minimum(resp_t, h) >= response_due_s)
            & ~cancelled
        )
        reso_breach = (
            (reso_t > resolution_due_s)
            & (np.minimum(reso_t, h) >= resolution_due_s)
            & ~cancelled
        )
        decided = ~cancelled & ((status == RESOLVED) | resp_breach | reso_breach)
        tickets = pl.DataFrame(
            {
                "ticket_id": s.ticket_id,
                "category": [s.categories[c] for c in s.category.tolist()],
                "skill": [s.skills[k] for k in s.skill.tolist()],
                "priority": s.priority,
                "tier": s.tier,
                "lat_deg": s.lat_deg,
                "lon_deg": s.lon_deg,
                "created_s": s.created_s,
                "response_due_s": response_due_s,
                "resolution_due_s": resolution_due_s,
                "duration_est_s": s.duration_est_s,
                "first_assigned_s": self.first_assigned_s,
                "dispatched_s": self.dispatched_s,
                "arrived_s": self.arrived_s,
                "resolved_s": self.resolved_s,
                "cancelled_s": self.cancelled_s,
                "status": [STATUS_NAMES[v] for v in status.tolist()],
                "technician": [
                    r.tech_id[j] if j >= 0 else None for j in self.work_tech.tolist()
                ],
                "n_assignments": self.n_assign,
                "n_reassignments": self.n_moves,
                "n_unassignments": self.n_drops,
                "n_declines": self.n_declines,
                "n_escalations": c.escalated.sum(axis=1),
                **{f"escalations_{k}": c.escalated[:, x] for x, k in enumerate(CAUSES)},
                "escalated_s": c.escalated_s,
                "escalated_tier": c.tier,
                "pending_s": pending_s,
                "travel_s": self.travel_s,
                "travel_km": self.travel_km,
                "response_breached": resp_breach,
                "resolution_breached": reso_breach,
                "sla_decided": decided,
                "unavoidable": unavoidable(
                    s, r, h, geo_travel=self.geo_travel
                ),  # no policy could meet it
                "unavoidable_in_shift": unavoidable(
                    s, r, h, geo_travel=self.geo_travel, within_shift=True
                ),  # nor any policy that plans no overtime
            },
            nan_to_null=True,
        ).filter(pl.Series(arrived))
        technicians = pl.DataFrame(
            {
                "technician": r.tech_id,
                "group": r.group,
                "on_shift_s": self.on_shift_s,
                "travel_s": self.busy_travel_s,
                "work_s": self.busy_work_s,
                "travel_km": self.km,
                "completed": self.completed,
            }
        )
        backlog = pl.DataFrame(
            self.backlog_rows,
            schema=[
                "t_s",
                "queued",
                "assigned",
                "in_service",
                "open",
                "technicians_on_shift",
                "technicians_busy",
            ],
            orient="row",
        )
        solves = pl.DataFrame(
            self.solve_rows,
            schema={
                "t_s": pl.Float64,
                "n_tickets": pl.Int64,
                "n_technicians": pl.Int64,
                "n_assigned": pl.Int64,
                "n_moved": pl.Int64,
                "wall_s": pl.Float64,
                "status": pl.String,
                "objective": pl.Float64,
            },
            orient="row",
        )
        return SimResult(
            tickets=tickets,
            technicians=technicians,
            backlog=backlog,
            solves=solves,
            horizon_s=h,
            events=self.events,
            wall_s=wall,
            policy_wall_s=self.policy_wall_s,
        )
