"""One evaluator for every policy's plan: drive each technician's queue in the planned order.

Independent of any policy's own cost model (it never calls ``solver.cost``): a plan is only
``technician`` and ``position`` per ticket row of a ``solver.Problem`` (what
``Solution.technician`` / ``Solution.position`` say). Each technician starts at its
location at ``max(now, free_at)`` and takes its tickets in ascending ``position``:

- travel from the previous stop with ``solver.geo.travel_time_s`` at the technician's speed
  (the simulator's travel model; a ticket without a location costs no travel and leaves the
  technician where it was, ``solver.geo.next_location``);
- ``start = max(arrival, window_start)``, ``finish = start + duration`` (the estimate);
- a ticket finishing after its technician's shift end is flagged (``overrun``), still
  driven (policies without overtime should never produce one);
- SLA breach: work starts after ``response_due`` or finishes after ``resolution_due``;
  lateness is the larger of those two overshoots (0 when met).

Unassigned tickets are counted apart: a snapshot does not say whether they will be late.
``missed`` adds to the breaches the unassigned tickets whose response is due before the
snapshot's last shift end (of the available technicians): nobody serves them within this
plan, so they are late unless a later plan finds room. It is the one figure that compares a
policy that leaves late tickets out with one that places them late. ``all_breaches`` is the
same count over either due: the breaches plus the unassigned tickets whose response *or*
resolution is due before that last shift end (``missed`` looks at the response due only, so
a ticket with a resolution due but no response due, left out, escapes it).
``weighted_all_breaches`` counts each of those at its priority factor
(``solver.constants.PRIORITY_FACTOR``: P1 8, P2 4, P3 2, P4 1), the weight every policy
here is given for priority (the optimizer's penalties, VROOM's job priorities): a plan
that saves one P2 where another saves two P3s ties on it and loses on the plain count. Leaving out the
last ticket of an available technician's queue, served late within its shift, never lowers
``all_breaches``: the due it misses passes before that shift ends, so it counts either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from solver.constants import PRIORITY_FACTOR
from solver.geo import next_location, travel_time_s

if TYPE_CHECKING:
    import numpy.typing as npt

    from solver.model import Problem

    FloatArray = npt.NDArray[np.float64]
    IntArray = npt.NDArray[np.int64]
    BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class DrivenPlan:
    """Per ticket row the driven schedule (NaN / False when unassigned)."""

    travel_s: FloatArray  # from the previous stop (or the technician's start)
    arrival_s: FloatArray
    start_s: FloatArray
    finish_s: FloatArray
    overrun: BoolArray  # finishes after the technician's shift end


@dataclass(frozen=True, slots=True)
class PlanKpis:
    """What a plan achieves on its snapshot, by :func:`drive_plan`."""

    tickets: int
    assigned: int
    unassigned: int
    breaches: int  # assigned tickets predicted to miss their response or resolution due
    late_s: float  # summed lateness of the assigned tickets, seconds
    travel_s: float  # summed travel of the assigned tickets, seconds
    overruns: int  # assigned tickets finishing after their technician's shift end
    unassigned_due: (
        int  # unassigned tickets whose response is due before the last shift end
    )
    unassigned_any_due: (
        int  # unassigned tickets whose response or resolution is due before it
    )
    weighted_all_breaches: float  # all_breaches, each at its priority factor

    @property
    def missed(self) -> int:
        """Breaches plus unassigned tickets due within the snapshot's shifts."""
        return self.breaches + self.unassigned_due

    @property
    def all_breaches(self) -> int:
        """Breaches over every ticket: served late, or left out while a due (response or
        resolution) passes within the snapshot's shifts."""
        return self.breaches + self.unassigned_any_due

    @property
    def travel_per_ticket_s(self) -> float:
        """Travel per assigned ticket (0 when none is assigned)."""
        return self.travel_s / self.assigned if self.assigned else 0.0


def drive_plan(
    problem: Problem, technician: IntArray, position: IntArray
) -> DrivenPlan:
    """Drive every technician's queue in ``position`` order (see the module docstring).

    Raises
    ------
    ValueError
        ``technician`` / ``position`` not one entry per ticket row, or a technician row
        out of range.
    """
    t, k = problem.tickets, problem.technicians
    n = t.count
    tech = np.asarray(technician, np.int64)
    pos = np.asarray(position, np.int64)
    if tech.shape != (n,) or pos.shape != (n,):
        raise ValueError(
            f"technician/position: expected {n} entries each, got {tech.shape} and {pos.shape}"
        )
    if (tech >= k.count).any():
        raise ValueError("technician: a row is out of range")
    travel, arrival, start, finish = (np.full(n, np.nan) for _ in range(4))
    overrun = np.zeros(n, np.bool_)
    rows = np.flatnonzero(tech >= 0)
    if rows.size == 0:
        return DrivenPlan(travel, arrival, start, finish, overrun)
    rows = rows[np.lexsort((rows, pos[rows], tech[rows]))]
    who = tech[rows]
    rank = np.arange(rows.size) - np.searchsorted(who, who, side="left")
    lat = np.asarray(k.lat_deg, np.float64).copy()
    lon = np.asarray(k.lon_deg, np.float64).copy()
    ready = np.maximum(np.asarray(k.free_at_s, np.float64), problem.now_s)
    for r in range(int(rank.max()) + 1):
        i, j = rows[rank == r], who[rank == r]  # one ticket per technician
        tt = travel_time_s(lat[j], lon[j], t.lat_deg[i], t.lon_deg[i], k.speed_kmh[j])
        arrival[i] = ready[j] + tt
        start[i] = np.maximum(arrival[i], t.window_start_s[i])
        finish[i] = start[i] + t.duration_s[i]
        travel[i] = tt
        overrun[i] = finish[i] > k.shift_end_s[j]
        ready[j] = finish[i]
        lat[j], lon[j] = next_location(lat[j], lon[j], t.lat_deg[i], t.lon_deg[i])
    return DrivenPlan(travel, arrival, start, finish, overrun)


def lateness_s(problem: Problem, plan: DrivenPlan) -> FloatArray:
    """Per ticket row: seconds past its response or resolution due (the larger; NaN when
    unassigned, 0 when on time)."""
    t = problem.tickets
    late = np.maximum(
        plan.start_s - t.response_due_s, plan.finish_s - t.resolution_due_s
    )
    return np.where(np.isnan(plan.start_s), np.nan, np.maximum(late, 0.0))


def plan_kpis(problem: Problem, technician: IntArray, position: IntArray) -> PlanKpis:
    """Drive the plan (:func:`drive_plan`) and count what it achieves."""
    plan = drive_plan(problem, technician, position)
    assigned = ~np.isnan(plan.start_s)
    late = lateness_s(problem, plan)[assigned]
    k = problem.technicians
    horizon = float(k.shift_end_s[k.available].max(initial=-np.inf))
    t = problem.tickets
    due = t.response_due_s <= horizon
    any_due = np.minimum(t.response_due_s, t.resolution_due_s) <= horizon
    breached = np.zeros(t.count, np.bool_)
    breached[assigned] = late > 0
    breached |= ~assigned & any_due
    return PlanKpis(
        tickets=problem.tickets.count,
        assigned=int(assigned.sum()),
        unassigned=int((~assigned).sum()),
        breaches=int((late > 0).sum()),
        late_s=float(late.sum()),
        travel_s=float(plan.travel_s[assigned].sum()),
        overruns=int(plan.overrun[assigned].sum()),
        unassigned_due=int((~assigned & due).sum()),
        unassigned_any_due=int((~assigned & any_due).sum()),
        weighted_all_breaches=float(PRIORITY_FACTOR[t.priority[breached]].sum()),
    )
