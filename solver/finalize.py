"""Turn a technician-per-ticket decision into a full ``Solution``: schedule, terms, reasons.

Everything but the plan-wide sums is computed ticket row by ticket row (:class:`Rows`):
a queue's schedule and terms depend only on its tickets, an unassigned ticket's reason
only on which technicians have a free place. :func:`finalize` computes every row;
:class:`solver.finalize_cache.FinalizeCache` keeps the rows of the previous call and
computes only those a change can move; both sum them by :func:`solution_of`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from solver.cost import (
    PAIR_TERMS,
    TERM_NAMES,
    deferred_cost,
    first_in_queue,
    late_pricing,
    static_terms,
    terms_at,
    unassigned_penalty,
)
from solver.model import (
    Problem,
    Solution,
    SolveParams,
    SolveStats,
    SolveStatus,
    UnassignedReason,
    relative_gap_pct,
)
from solver.reasons import judge
from solver.sequence import sequence_queues

if TYPE_CHECKING:
    import numpy.typing as npt

    from solver.candidates import Candidates
    from solver.certify import Certificate
    from solver.cost import LatePricing, TechState
    from solver.model import CostWeights
    from solver.row_prices import RowPrices

    IntArray = npt.NDArray[np.int64]
    FloatArray = npt.NDArray[np.float64]
    BoolArray = npt.NDArray[np.bool_]

__all__ = ["Rows", "finalize", "solution_of"]


@dataclass(slots=True)
class Rows:
    """What a plan gives each ticket row (every array (n,)); unassigned rows keep the
    defaults of :meth:`empty` but their reason."""

    technician: IntArray  # the decision, pinned rows on their technician
    position: IntArray
    arrival_s: FloatArray
    start_s: FloatArray
    finish_s: FloatArray
    driven: dict[str, FloatArray]  # placement terms as driven (``Solution.row_terms``)
    first: dict[str, FloatArray]  # movable rows: placement terms first-in-queue
    judged: IntArray  # reason (:func:`solver.reasons.judge`)
    witness: IntArray  # of a PENALTY_CHEAPER reason, else -1

    @classmethod
    def empty(cls, technician: IntArray) -> Rows:
        """Rows of ``technician`` with nothing placed or judged yet (all ASSIGNED)."""
        n = technician.size

        def terms() -> dict[str, FloatArray]:
            return {name: np.zeros(n) for name in PAIR_TERMS}

        return cls(
            technician=technician.copy(),
            position=np.full(n, -1, np.int64),
            arrival_s=np.full(n, np.nan),
            start_s=np.full(n, np.nan),
            finish_s=np.full(n, np.nan),
            driven=terms(),
            first=terms(),
            judged=np.full(n, int(UnassignedReason.ASSIGNED), np.int64),
            witness=np.full(n, -1, np.int64),
        )

    def view(self, n: int) -> Rows:
        """The first ``n`` rows, as views (writing them writes these)."""
        return Rows(
            technician=self.technician[:n],
            position=self.position[:n],
            arrival_s=self.arrival_s[:n],
            start_s=self.start_s[:n],
            finish_s=self.finish_s[:n],
            driven={name: a[:n] for name, a in self.driven.items()},
            first={name: a[:n] for name, a in self.first.items()},
            judged=self.judged[:n],
            witness=self.witness[:n],
        )

    def reserve(self, n: int) -> Rows:
        """These rows when they hold ``n`` or more, else a copy with room for at least
        ``n`` (doubling): rows past the current ones are empty."""
        size = self.technician.size
        if n <= size:
            return self
        out = Rows.empty(np.full(max(n, 2 * size), -1, np.int64))
        out.view(size).assign(self)
        return out

    def assign(self, other: Rows) -> None:
        """Copy ``other`` (as many rows) into these."""
        for f in ("technician", "position", "arrival_s", "start_s", "finish_s",
                  "judged", "witness"):  # fmt: skip
            getattr(self, f)[:] = getattr(other, f)
        for name in PAIR_TERMS:
            self.driven[name][:] = other.driven[name]
            self.first[name][:] = other.first[name]

    def clear(self, rows: IntArray) -> None:
        """Forget the placement of ``rows`` (they become as unassigned rows are)."""
        self.position[rows] = -1
        for a in (self.arrival_s, self.start_s, self.finish_s):
            a[rows] = np.nan
        for name in PAIR_TERMS:
            self.driven[name][rows] = 0.0
            self.first[name][rows] = 0.0


def decision(problem: Problem, tech_of: IntArray) -> IntArray:
    """The movable decision ``tech_of`` with the pinned rows on their technician."""
    t = problem.tickets
    out = tech_of.copy()
    pinned = np.flatnonzero(t.pinned)
    out[pinned] = t.current_technician[pinned]
    return out


def place_pinned(
    problem: Problem, weights: CostWeights, lw: LatePricing, rows: Rows
) -> None:
    """Sequence and price the pinned rows: they head their technicians' queues, from
    each technician's location and free time."""
    k = problem.technicians
    pinned = np.flatnonzero(problem.tickets.pinned)
    if pinned.size == 0:  # nothing to sequence or price (most live solves)
        return
    tech = rows.technician[pinned]
    ready0 = np.maximum(np.asarray(k.free_at_s, np.float64), problem.now_s)
    ps = sequence_queues(problem, lw, pinned, tech, k.lat_deg, k.lon_deg, ready0, True)
    rows.position[pinned] = ps.position
    rows.arrival_s[pinned], rows.start_s[pinned] = ps.arrival_s, ps.start_s
    rows.finish_s[pinned] = ps.finish_s
    pt = terms_at(
        problem, weights, pinned, tech, ps.travel_s, ps.start_s, ps.finish_s, late=lw
    )
    for name in PAIR_TERMS:
        rows.driven[name][pinned] = pt[name]


def place_movable(
    problem: Problem,
    params: SolveParams,
    state: TechState,
    lw: LatePricing,
    mov: IntArray,
    rows: Rows,
) -> None:
    """Sequence the movable rows ``mov`` (whole queues) after the pinned work and price
    them as driven and first-in-queue."""
    w = params.weights
    tech = rows.technician[mov]
    ms = sequence_queues(
        problem, lw, mov, tech, state.lat_deg, state.lon_deg, state.ready_s,
        params.allow_overtime,
    )  # fmt: skip
    rows.position[mov] = ms.position + state.load[tech]
    rows.arrival_s[mov], rows.start_s[mov] = ms.arrival_s, ms.start_s
    rows.finish_s[mov] = ms.finish_s
    # the model's terms (first in queue, as evaluate_pairs prices them) and the driven
    # ones share the terms that do not depend on the times
    static = static_terms(problem, w, mov, tech)
    first = terms_at(
        problem, w, mov, tech, *first_in_queue(problem, state, mov, tech), late=lw,
        static=static,
    )  # fmt: skip
    driven = terms_at(
        problem, w, mov, tech, ms.travel_s, ms.start_s, ms.finish_s, late=lw,
        static=static,
    )  # fmt: skip
    for name in PAIR_TERMS:
        rows.driven[name][mov] = driven[name]
        rows.first[name][mov] = first[name]


def fresh_rows(
    problem: Problem,
    params: SolveParams,
    state: TechState,
    technician: IntArray,
    lw: LatePricing | None = None,
) -> Rows:
    """Every row of the decision ``technician`` (pinned rows on theirs) from scratch;
    ``lw``: the problem's :func:`solver.cost.late_pricing` when the caller has it."""
    t = problem.tickets
    rows = Rows.empty(technician)
    if lw is None:
        lw = late_pricing(problem, params.weights)
    place_pinned(problem, params.weights, lw, rows)
    place_movable(
        problem, params, state, lw, np.flatnonzero((technician >= 0) & ~t.pinned), rows
    )
    un = np.flatnonzero(technician < 0)
    j = judge(problem, params, state, technician, un, (rows.position, rows.finish_s))
    rows.judged[un], rows.witness[un] = j.reason, j.witness
    return rows


def _shared_terms(
    problem: Problem, w: CostWeights, tech_of: IntArray, prices: RowPrices | None
) -> dict[str, float]:
    """The terms that do not depend on where a ticket sits in its queue: balance of the
    places taken, unassigned penalties (``prices``: the problem's :class:`RowPrices`
    when the caller has them) and the stability of dropping a held ticket."""
    t = problem.tickets
    count = np.bincount(
        tech_of.compress(tech_of >= 0), minlength=problem.technicians.count
    )
    un = tech_of < 0
    if prices is None:
        base = unassigned_penalty(problem, w) + deferred_cost(problem, w)
    else:
        base = prices.unassigned + prices.deferred
    dropped_held = un & (t.current_technician >= 0) & ~t.pinned
    return {
        "balance": float(w.balance * np.sum(count * (count - 1) / 2)),
        "unassigned": float(np.sum(base.compress(un))),
        "stability": float(w.stability * np.count_nonzero(dropped_held)),
    }


def _plan_terms(
    movable: dict[str, FloatArray],
    mov: IntArray,
    pinned: dict[str, float],
    shared: dict[str, float],
) -> dict[str, float]:
    """A plan's cost by term name: the ``movable`` terms of rows ``mov`` (per row, (n,)
    each), the ``pinned`` rows' sums (:func:`pinned_terms`) and the position-free
    ``shared`` ones."""
    out = dict.fromkeys(TERM_NAMES, 0.0)
    for name in PAIR_TERMS:
        out[name] = float(movable[name].take(mov).sum()) + pinned[name]
    for name, value in shared.items():
        out[name] += value
    return out


def pinned_terms(problem: Problem, rows: Rows) -> dict[str, float]:
    """The placement terms of the pinned rows summed, by term name (the same in the
    plan's cost as driven and in its model cost)."""
    pinned = np.flatnonzero(problem.tickets.pinned)
    return {name: float(rows.driven[name].take(pinned).sum()) for name in PAIR_TERMS}


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What a solve tells about itself beside its plan (for ``Solution.stats``)."""

    status: SolveStatus
    candidate_arcs: int
    phases_s: dict[str, float]  # before finalize
    t0: float  # perf_counter() at the start of the solve
    certificate: Certificate | None = None
    bound_gap: float | None = None  # model cost above the certified optimum


def solution_of(
    problem: Problem,
    params: SolveParams,
    rows: Rows,
    run: RunInfo,
    reasons: IntArray | None = None,
    prices: RowPrices | None = None,
    held: dict[str, float] | None = None,
) -> Solution:
    """The :class:`Solution` of ``rows`` (copied): their sums, the SLA check, the
    reasons (``rows.judged``, or ``reasons`` when given) and the stats. ``prices``: the
    problem's :class:`RowPrices` under ``params.weights``, ``held``: the pinned rows'
    :func:`pinned_terms`, when the caller has them."""
    t = problem.tickets
    tech = rows.technician
    mov = np.flatnonzero((tech >= 0) & ~t.pinned)
    shared = _shared_terms(problem, params.weights, tech, prices)
    if held is None:
        held = pinned_terms(problem, rows)
    terms = _plan_terms(rows.driven, mov, held, shared)
    model = _plan_terms(rows.first, mov, held, shared)
    model_objective = float(sum(model.values()))
    st, fin = rows.start_s, rows.finish_s
    sla = (tech >= 0) & (st <= t.response_due_s) & (fin <= t.resolution_due_s)
    if reasons is None:
        reasons = rows.judged.copy()
    bound = None if run.bound_gap is None else model_objective - run.bound_gap
    wall = time.perf_counter() - run.t0
    stats = SolveStats(
        status=run.status,
        wall_time_s=wall,
        candidate_arcs=run.candidate_arcs,
        n_tickets=t.count,
        n_technicians=problem.technicians.count,
        phases_s={**run.phases_s, "finalize": wall - sum(run.phases_s.values())},
        certificate=run.certificate,
        model_objective=model_objective,
        model_bound=bound,
        model_gap_pct=None
        if bound is None
        else relative_gap_pct(model_objective, bound),
    )
    return Solution(
        technician=tech.copy(),
        position=rows.position.copy(),
        arrival_s=rows.arrival_s.copy(),
        start_s=st.copy(),
        finish_s=fin.copy(),
        sla_met=np.asarray(sla, np.bool_),
        reason=reasons,
        objective=float(sum(terms.values())),
        objective_terms=terms,
        stats=stats,
        row_terms={name: rows.driven[name].copy() for name in PAIR_TERMS},
    )


def finalize(
    problem: Problem,
    params: SolveParams,
    state: TechState,
    cands: Candidates,
    tech_of: IntArray,
    status: SolveStatus,
    phases_s: dict[str, float],
    t0: float,
    certificate: Certificate | None = None,
    bound_gap: float | None = None,
    reasons: IntArray | None = None,
) -> Solution:
    """Build the :class:`Solution` for movable decisions ``tech_of`` plus the pinned tickets.

    Pinned tickets keep their technician and head its queue; movable assigned tickets are
    sequenced after them. The objective is the plan's cost as driven: every ticket's
    placement terms at its sequenced travel (chained stop to stop), start and finish (the
    evaluation of :func:`solver.position.queue_costs`), queue-place balance, stability and
    the unassigned penalties. ``stats.model_objective`` prices the same plan in the exact
    core's first-in-queue model (movable tickets as if each came right after the pinned
    work), the model ``bound_gap`` (model cost above the certified optimum) is about.
    Reasons: :func:`solver.reasons.judge`'s, unless ``reasons`` are given.
    """
    rows = fresh_rows(problem, params, state, decision(problem, tech_of))
    run = RunInfo(status, int(cands.tix.size), phases_s, t0, certificate, bound_gap)
    return solution_of(problem, params, rows, run, reasons)
