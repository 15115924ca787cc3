"""VROOM (pyvroom) as a dispatch policy: the peer engine the optimizer is measured against.

A development/benchmark dependency only (the ``dev`` extra): the service never imports it.
Two policies:

- ``vroom``: re-plans every open, not accepted ticket from scratch at each solve (VROOM's
  own churn: a queued ticket may move at every decision epoch);
- ``vroom_keep``: keeps every queued ticket on its technician when that technician can still
  take it (the baselines' rule, :func:`solver.baselines.keep_held`) and lets VROOM place
  only the new and released tickets, after the kept ones (low churn).

Mapping of the domain (``solver.Problem``) onto VROOM's model, in whole ticks of
``TICK_S`` after ``now``; each rounding is conservative (travel, work and start times up;
shift ends and due times down, less ``SAFETY_S`` for VROOM's own rounding of speed factors):

- technician -> vehicle, starting where and when its accepted queue ends
  (:func:`solver.solve.tech_state`; a technician without a free place or off duty gets no
  vehicle), with no end location (an open route, as in the field);
- queue places -> ``max_tasks`` (the free places left);
- shift end -> the vehicle's time window end (VROOM requires the last job's work to end
  by it; with ``allow_overtime`` there is none);
- skills at levels -> VROOM skills: a technician holding skill ``s`` at level ``h`` holds
  the VROOM skills ``(s, 1) .. (s, h)``, a ticket needing level ``L`` requires ``(s, L)``;
  a ticket's excluded technicians (declines) lack a skill only that ticket requires;
- travel -> a duration matrix from ``solver.geo.travel_time_s`` (the simulator's travel
  model) at a base speed of 10x the fastest technician's, each vehicle's ``speed_factor``
  its speed over it (VROOM never routes by itself). VROOM multiplies the matrix by
  ``round(100 / speed_factor) / 100``; the factor is chosen so that this integer is
  ``ceil(100 x base / speed)`` (>= 1,000): travel exact to 0.1%, never shorter. A ticket without a location is a matrix point at distance 0 from
  everywhere (approximate: the technician really stays where it was);
- work time -> the job's service (the estimate);
- SLA -> hard job time windows in a first pass: work must start between the window start
  and ``min(response due, resolution due - work, window end - work)``. VROOM maximises
  the summed priorities of the jobs it serves first, then their number, then minimises
  travel, so pass 1 serves as many tickets on time as it can, weighted by priority and
  tier: the job priority is the ticket's lateness weight
  (:func:`solver.cost.lateness_weight`: priority factor x tier) scaled to VROOM's 1..100.
  VROOM has no soft lateness: the tickets pass 1 could not serve on time (already late,
  or no room) go to a second pass that appends them after each pass-1 route (vehicles
  start where and when those routes end, with the places left), with only their window
  start, so late tickets are still served rather than stranded.

The returned ``Solution`` has VROOM's technician and queue order (``position``), with the
schedule driven in that order by :func:`simulations.plan_eval.drive_plan`; the unassigned
reasons and the objective terms are the solver's (:func:`solver.finalize.finalize`), for
comparison only.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from simulations.plan_eval import drive_plan
from solver.baselines import Tails, keep_held
from solver.candidates import Candidates
from solver.cost import TechState, lateness_weight
from solver.finalize import finalize
from solver.geo import travel_time_s
from solver.model import NO_TECHNICIAN, SolveStatus
from solver.solve import tech_state

if TYPE_CHECKING:
    import numpy.typing as npt

    from solver.model import Problem, Solution, SolveParams

    FloatArray = npt.NDArray[np.float64]
    IntArray = npt.NDArray[np.int64]

VROOM_POLICIES = ("vroom", "vroom_keep")
"""Names of the VROOM policies (need pyvroom: ``pip install -e '.[dev]'``)."""


@dataclass(frozen=True, slots=True)
class VroomSettings:
    """How hard VROOM searches: its own default depth, one thread like the optimizer."""

    exploration_level: int = 5  # VROOM's default (1..5)
    threads: int = 1
    timeout_s: float | None = None  # per VROOM solve (a policy call makes one or two)

    def __post_init__(self) -> None:
        if not 1 <= self.exploration_level <= 5:
            raise ValueError(
                f"exploration_level: must be 1..5, got {self.exploration_level}"
            )
        if self.threads < 1:
            raise ValueError(f"threads: must be >= 1, got {self.threads}")
        if self.timeout_s is not None and not self.timeout_s > 0:
            raise ValueError(f"timeout_s: must be > 0, got {self.timeout_s}")


TICK_S = 0.01
"""VROOM's time unit, in seconds (VROOM counts whole units)."""
SAFETY_S = 1.0
"""Shift ends and due times are given to VROOM this much earlier than they are."""
_NO_END = 2**31 - 1  # an open time window end, in ticks
_BASE_OVER_FASTEST = 10.0  # the matrix's speed over the fastest technician's
_VROOM_DURATION_FACTOR = 100  # VROOM's travel: matrix x round(100 / speed factor) / 100
_MATRIX_ROWS = 512  # rows of the duration matrix computed at once


class VroomUnavailableError(RuntimeError):
    """pyvroom is not installed."""


def require_vroom() -> Any:
    """The ``vroom`` module, or a one-line error saying how to install it."""
    try:
        import vroom
    except ImportError as exc:
        raise VroomUnavailableError(
            "the vroom policies need pyvroom (a dev dependency): pip install -e '.[dev]'"
        ) from exc
    return vroom


@dataclass(frozen=True, slots=True)
class _Start:
    """Where, when and with how many places each technician's VROOM route starts."""

    lat: FloatArray
    lon: FloatArray
    ready: FloatArray
    left: IntArray


@dataclass(frozen=True, slots=True)
class _Routes:
    """Per job: technician row (-1: unassigned) and place in its route; route ends."""

    tech: IntArray
    rank: IntArray
    end_s: FloatArray  # per technician: when its route ends (its start when empty)
    end_job: IntArray  # per technician: its route's last job (-1 when empty)


def _speed_factors(speed_kmh: FloatArray) -> tuple[float, FloatArray]:
    """The matrix's base speed and each technician's VROOM speed factor (see module)."""
    base = _BASE_OVER_FASTEST * float(speed_kmh.max())
    scale = np.ceil(_VROOM_DURATION_FACTOR * base / speed_kmh)
    return base, _VROOM_DURATION_FACTOR / scale


def _ticks_up(seconds: FloatArray) -> FloatArray:
    """Seconds after now as whole ticks, rounded up, clipped to ``[0, _NO_END]``."""
    return np.ceil(np.clip(seconds / TICK_S, 0.0, _NO_END))


def _ticks_down(seconds: FloatArray) -> FloatArray:
    """A deadline in seconds after now as whole ticks, less the safety margin, rounded
    down (-1 when already past), clipped to ``_NO_END``."""
    return np.floor(np.clip((seconds - SAFETY_S) / TICK_S, -1.0, _NO_END))


def _durations(
    lat: FloatArray, lon: FloatArray, speed_kmh: float
) -> npt.NDArray[np.uint32]:
    """Travel times in whole ticks (rounded up) between every pair of points."""
    size = lat.size
    out = np.empty((size, size), np.uint32)
    for a in range(0, size, _MATRIX_ROWS):
        b = min(a + _MATRIX_ROWS, size)
        tt = travel_time_s(
            lat[a:b, None], lon[a:b, None], lat[None], lon[None], speed_kmh
        )
        out[a:b] = _ticks_up(tt)
    return out


def _skill_sets(
    problem: Problem, jobs: IntArray, vehicles: IntArray
) -> tuple[list[set[int]], list[set[int]]]:
    """VROOM skills of each job and each vehicle (levels and exclusions, module docstring)."""
    t, k = problem.tickets, problem.technicians
    top = int(max(t.skill_levels.max(initial=0), k.skill_levels.max(initial=0))) + 1
    job_sk = [
        {
            int(s) * top + int(t.skill_levels[i, s])
            for s in np.flatnonzero(t.skill_levels[i])
        }
        for i in jobs.tolist()
    ]
    veh_sk = [
        {int(s) * top + lvl for s in np.flatnonzero(k.skill_levels[j]) for lvl in range(1, int(k.skill_levels[j, s]) + 1)}
        for j in vehicles.tolist()
    ]  # fmt: skip
    ex = t.excluded
    if ex.shape[0]:
        job_at = {int(i): q for q, i in enumerate(jobs.tolist())}
        base = k.skill_levels.shape[1] * top
        for i in np.unique(ex[:, 0]).tolist():
            if i not in job_at:
                continue
            mark = base + int(i)
            job_sk[job_at[i]].add(mark)
            banned = set(ex[ex[:, 0] == i, 1].tolist())
            for v, j in enumerate(vehicles.tolist()):
                if j not in banned:
                    veh_sk[v].add(mark)
    return job_sk, veh_sk


def _priorities(problem: Problem, params: SolveParams, jobs: IntArray) -> list[int]:
    """VROOM job priority (1..100): the ticket's lateness weight over the largest one."""
    w = lateness_weight(problem, params.weights)[jobs]
    top = float(w.max()) if w.size else 0.0
    scaled = np.ceil(100.0 * w / top) if top > 0 else np.ones(jobs.size)
    return np.clip(scaled, 1, 100).astype(np.int64).tolist()


def _on_time_latest(problem: Problem, jobs: IntArray) -> FloatArray:
    """Latest start (absolute seconds) at which each job still meets its SLA and window."""
    t = problem.tickets
    d = t.duration_s[jobs]
    return np.minimum(
        t.response_due_s[jobs],
        np.minimum(t.resolution_due_s[jobs], t.window_end_s[jobs]) - d,
    )


def _route(
    problem: Problem,
    params: SolveParams,
    settings: VroomSettings,
    start: _Start,
    jobs: IntArray,
    latest: FloatArray | None,
) -> _Routes:
    """One VROOM solve of ``jobs`` from ``start``; ``latest``: per-job latest start or None."""
    vroom = require_vroom()
    t, k = problem.tickets, problem.technicians
    now = problem.now_s
    m = k.count
    tech = np.full(jobs.size, NO_TECHNICIAN, np.int64)
    rank = np.full(jobs.size, -1, np.int64)
    ends = _Routes(tech, rank, start.ready.copy(), np.full(m, -1, np.int64))
    begin = _ticks_up(start.ready - now)
    stop = (
        np.full(m, float(_NO_END))
        if params.allow_overtime
        else _ticks_down(k.shift_end_s - now)
    )
    vehicles = np.flatnonzero((start.left > 0) & (stop >= begin)).astype(np.int64)
    if jobs.size == 0 or vehicles.size == 0:
        return ends
    base, factor = _speed_factors(k.speed_kmh[vehicles])
    lat = np.concatenate([start.lat[vehicles], t.lat_deg[jobs]])
    lon = np.concatenate([start.lon[vehicles], t.lon_deg[jobs]])
    inp = vroom.Input()
    inp.set_durations_matrix("car", _durations(lat, lon, base))
    job_sk, veh_sk = _skill_sets(problem, jobs, vehicles)
    inp.add_vehicle(
        [
            vroom.Vehicle(
                v,
                start=v,
                max_tasks=int(start.left[j]),
                skills=veh_sk[v],
                time_window=vroom.TimeWindow(int(begin[j]), int(stop[j])),
                speed_factor=float(factor[v]),
            )
            for v, j in enumerate(vehicles.tolist())
        ]
    )
    earliest = _ticks_up(t.window_start_s[jobs] - now)
    last = (
        np.full(jobs.size, float(_NO_END))
        if latest is None
        else _ticks_down(latest - now)
    )
    service = _ticks_up(t.duration_s[jobs]).astype(np.int64).tolist()
    priority = _priorities(problem, params, jobs)
    open_ = np.flatnonzero(last >= earliest).tolist()  # the others cannot make it
    if not open_:
        return ends  # VROOM refuses an input without a job
    inp.add_job(
        [
            vroom.Job(
                q,
                location=vehicles.size + q,
                default_service=service[q],
                skills=job_sk[q],
                priority=priority[q],
                time_windows=[vroom.TimeWindow(int(earliest[q]), int(last[q]))],
            )
            for q in open_
        ]
    )
    timeout = (
        None if settings.timeout_s is None else timedelta(seconds=settings.timeout_s)
    )
    routes = inp.solve(
        exploration_level=settings.exploration_level,
        nb_threads=settings.threads,
        timeout=timeout,
    ).routes
    if (
        "id" not in routes.columns
    ):  # pyvroom leaves the column out when no job is routed
        return ends
    steps = routes[routes["type"] == "job"]  # in route order, route after route
    veh = vehicles[steps["vehicle_id"].to_numpy(np.int64)]
    q = steps["id"].to_numpy(np.int64)
    by = np.argsort(veh, kind="stable")
    tech[q] = veh
    rank[q[by]] = np.arange(q.size) - np.searchsorted(veh[by], veh[by], side="left")
    last = by[np.r_[veh[by][1:] != veh[by][:-1], True]] if q.size else by
    ends.end_job[veh[last]] = jobs[q[last]]
    done = routes[routes["type"] == "end"]
    dv = vehicles[done["vehicle_id"].to_numpy(np.int64)]
    ends.end_s[dv] = now + TICK_S * done["arrival"].to_numpy(np.float64)
    return ends


def _after(problem: Problem, start: _Start, routes: _Routes) -> _Start:
    """The start of a second pass: where and when each pass-1 route ends, places left."""
    t = problem.tickets
    lat, lon = start.lat.copy(), start.lon.copy()
    has = routes.end_job >= 0
    last = routes.end_job[has]
    located = ~np.isnan(t.lat_deg[last])
    lat[np.flatnonzero(has)[located]] = t.lat_deg[last[located]]
    lon[np.flatnonzero(has)[located]] = t.lon_deg[last[located]]
    used = np.bincount(routes.tech[routes.tech >= 0], minlength=start.left.size)
    return _Start(lat, lon, routes.end_s, start.left - used)


def vroom_plan(
    problem: Problem,
    params: SolveParams,
    settings: VroomSettings,
    start: _Start,
    jobs: IntArray,
) -> tuple[IntArray, IntArray]:
    """Technician row and place (0-based after ``start``) per job: on-time pass, then the rest."""
    latest = _on_time_latest(problem, jobs)
    first = _route(problem, params, settings, start, jobs, latest)
    tech, rank = first.tech.copy(), first.rank.copy()
    rest = np.flatnonzero(tech < 0)
    if rest.size:
        after = _after(problem, start, first)
        second = _route(problem, params, settings, after, jobs[rest], None)
        placed = second.tech >= 0
        tech[rest[placed]] = second.tech[placed]
        used = np.bincount(
            first.tech[first.tech >= 0], minlength=problem.technicians.count
        )
        rank[rest[placed]] = used[second.tech[placed]] + second.rank[placed]
    return tech, rank


class VroomPolicy:
    """``vroom`` (re-plan everything) or ``vroom_keep`` (keep queued tickets), see module."""

    def __init__(
        self, name: str, params: SolveParams, settings: VroomSettings | None = None
    ) -> None:
        if name not in VROOM_POLICIES:
            raise ValueError(
                f"name: unknown VROOM policy {name!r}, expected one of {VROOM_POLICIES}"
            )
        require_vroom()
        self.name = name
        self.params = params
        self.settings = settings or VroomSettings()

    def solve(self, problem: Problem, previous: Solution | None = None) -> Solution:
        """Plan every open ticket of ``problem`` (``previous`` unused)."""
        t0 = time.perf_counter()
        t, k = problem.tickets, problem.technicians
        state = tech_state(problem, self.params.weights)
        tech_of = np.full(t.count, NO_TECHNICIAN, np.int64)
        order = np.full(t.count, -1, np.int64)  # place among the movable tickets
        if self.name == "vroom_keep":
            # Held tickets stay in the order keep_held chains them (technician, created,
            # row); VROOM places the released and new ones after them.
            tails = Tails(state)
            released = keep_held(problem, tails, self.params.allow_overtime, tech_of)
            kept = np.flatnonzero(tech_of >= 0)
            kept = kept[np.lexsort((kept, t.created_s[kept], tech_of[kept]))]
            first = np.searchsorted(tech_of[kept], tech_of[kept], side="left")
            order[kept] = np.arange(kept.size) - first
            start = _Start(tails.lat, tails.lon, tails.ready, tails.left)
            offset = tails.queued - state.load
            new = np.flatnonzero(~t.pinned & (t.current_technician < 0))
            jobs = np.sort(np.concatenate([released, new])).astype(np.int64)
        else:
            start = _Start(
                state.lat_deg, state.lon_deg, state.ready_s, state.free_slots
            )
            offset = np.zeros(k.count, np.int64)
            jobs = np.flatnonzero(~t.pinned).astype(np.int64)
        tech, rank = vroom_plan(problem, self.params, self.settings, start, jobs)
        placed = tech >= 0
        tech_of[jobs[placed]] = tech[placed]
        order[jobs[placed]] = offset[tech[placed]] + rank[placed]
        return self._solution(problem, state, tech_of, order, t0)

    def _solution(
        self,
        problem: Problem,
        state: TechState,
        tech_of: IntArray,
        order: IntArray,
        t0: float,
    ) -> Solution:
        """The solver's ``Solution`` for ``tech_of``, with VROOM's order and its schedule."""
        t = problem.tickets
        phases = {"assignment": time.perf_counter() - t0}
        none = np.zeros(0, np.int64)
        cands = Candidates(none, none, np.zeros(0), np.zeros(t.count, np.bool_))
        sol = finalize(
            problem, self.params, state, cands, tech_of, SolveStatus.FEASIBLE, phases, t0
        )  # fmt: skip
        pos = np.asarray(sol.position, np.int64).copy()
        mov = np.flatnonzero((tech_of >= 0) & ~t.pinned)
        pos[mov] = state.load[tech_of[mov]] + order[mov]
        plan = drive_plan(problem, sol.technician, pos)
        met = (
            (sol.technician >= 0)
            & (plan.start_s <= t.response_due_s)
            & (plan.finish_s <= t.resolution_due_s)
        )
        return dataclasses.replace(
            sol,
            position=pos,
            arrival_s=plan.arrival_s,
            start_s=plan.start_s,
            finish_s=plan.finish_s,
            sla_met=np.asarray(met, np.bool_),
        )


def vroom_version() -> str:
    """The installed pyvroom's version (for benchmark headers)."""
    from importlib.metadata import version

    return version("pyvroom")
