"""Finalize a plan again after small changes: only the rows a change can move.

:func:`solver.finalize.finalize` computes every ticket row of a plan. Between two calls
of :class:`solver.incremental.IncrementalSolver` the problem changes only by appended
tickets and new incumbents of unpinned ones (its accepted changes), and the plan in a
few queues. :class:`FinalizeCache` keeps the previous call's rows and computes again:

- the queues whose tickets changed (a ticket in or out, a new ticket, a new incumbent):
  their sequence, times and terms; every other queue depends on its own tickets only;
- the unassigned tickets that changed, and those whose reason a changed set of free
  places or of the queues can move (:mod:`solver.reasons`): a PENALTY_CHEAPER ticket
  whose witness lost its free place or whose witness's queue changed, a SHIFT ticket
  skilled for a technician that lost or gained one or whose queue (with a free place)
  changed, a CAPACITY ticket skilled for one that gained one. Any other reason stays
  true.

The pinned rows and the tickets' own fields are unchanged by those changes; the sums
(objective, terms, model objective) are taken over all rows again, in the same order as
a fresh finalize, so the result is exactly a fresh finalize's (tested by a property).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from solver.finalize import (
    Rows,
    RunInfo,
    decision,
    fresh_rows,
    pinned_terms,
    place_movable,
    solution_of,
)
from solver.model import UnassignedReason
from solver.reasons import free_places, judge, skilled_for_any
from solver.row_prices import RowPrices

if TYPE_CHECKING:
    import numpy.typing as npt

    from solver.cost import TechState
    from solver.model import Problem, Solution, SolveParams

    IntArray = npt.NDArray[np.int64]
    BoolArray = npt.NDArray[np.bool_]

_PENALTY = int(UnassignedReason.PENALTY_CHEAPER)
_SHIFT = int(UnassignedReason.SHIFT)
_CAPACITY = int(UnassignedReason.CAPACITY)


class FinalizeCache:
    """:func:`solver.finalize.finalize` that reuses the previous call's rows.

    Each call's problem must differ from the previous call's only by appended tickets
    and the incumbents (``current_technician``) of unpinned tickets, with the same
    ``params`` and technicians' ``state``; :meth:`reset` before any other change (the
    cheap parts of that contract are checked: otherwise everything is computed again).
    """

    def __init__(self) -> None:
        self._problem: Problem | None = None
        self._params: SolveParams | None = None
        self._state: TechState | None = None
        self._rows: Rows | None = None  # the last call's rows: a view of _store
        self._store: Rows | None = (
            None  # rows kept with room to grow (no copy per call)
        )
        self._room: BoolArray | None = None
        self._prices: RowPrices | None = None
        self._held: dict[str, float] | None = None  # the pinned rows' term sums
        self.fresh = True  # the last call computed every row
        self.rows_placed = 0  # movable rows sequenced and priced by the last call
        self.rows_judged = 0  # unassigned rows judged by the last call

    def reset(self) -> None:
        """Forget the previous call: the next one computes every row."""
        self._problem = self._rows = self._store = None

    def finalize(
        self,
        problem: Problem,
        params: SolveParams,
        state: TechState,
        tech_of: IntArray,
        run: RunInfo,
        prices: RowPrices | None = None,
    ) -> Solution:
        """The :class:`Solution` of the movable decisions ``tech_of`` (as
        :func:`solver.finalize.finalize` gives it). ``prices``: the problem's
        :class:`RowPrices` under ``params.weights`` when the caller has them."""
        tech = decision(problem, tech_of)
        room = free_places(problem, state, tech)
        self.fresh = not self._follows(problem, params, state)
        if not self.fresh:
            assert self._prices is not None
            if prices is None:
                prices = self._prices.grown(problem, params.weights)
            self._prices = prices
            try:
                rows = self._update(problem, params, state, tech, prices, room)
            except BaseException:
                self.reset()  # rows half updated in place
                raise
        else:
            if prices is None:
                prices = RowPrices.of(problem, params.weights)
            self._prices = prices
            rows = self._store = fresh_rows(problem, params, state, tech, prices.late)
            # the pinned rows stay as placed here while the calls follow this one
            self._held = pinned_terms(problem, rows)
            self.rows_placed = int(
                np.count_nonzero((tech >= 0) & ~problem.tickets.pinned)
            )
            self.rows_judged = int(np.count_nonzero(tech < 0))
        self._problem, self._params, self._state, self._rows = (
            problem,
            params,
            state,
            rows,
        )
        self._room = room
        return solution_of(problem, params, rows, run, prices=prices, held=self._held)

    def _follows(self, problem: Problem, params: SolveParams, state: TechState) -> bool:
        old = self._problem
        if old is None or self._rows is None:
            return False
        n0 = old.tickets.count
        return (
            params is self._params
            and state is self._state
            and problem.now_s == old.now_s
            and problem.technicians.count == old.technicians.count
            and problem.tickets.count >= n0
            and np.array_equal(problem.tickets.pinned[:n0], old.tickets.pinned)
            and not problem.tickets.pinned[n0:].any()
        )

    def _update(
        self,
        problem: Problem,
        params: SolveParams,
        state: TechState,
        tech: IntArray,
        prices: RowPrices,
        room: BoolArray,
    ) -> Rows:
        old, prev, room0, store = self._problem, self._rows, self._room, self._store
        assert old is not None
        assert prev is not None
        assert room0 is not None
        assert store is not None
        t = problem.tickets
        n0, n, m = old.tickets.count, t.count, problem.technicians.count
        was = np.full(n, -2, np.int64)  # new rows: changed whatever they are now
        was[:n0] = prev.technician
        # updated in place (rows past the last call's are empty in the store)
        store = self._store = store.reserve(n)
        rows = store.view(n)
        rows.technician[:] = tech
        cur0 = np.full(n, -2, np.int64)
        cur0[:n0] = old.tickets.current_technician
        changed = (tech != was) | (t.current_technician != cur0)
        ch = np.flatnonzero(changed)  # (few: read by index, not by masks of every row)
        was_ch, tech_ch = was.take(ch), tech.take(ch)
        # queues that gained, lost or re-priced a ticket: sequenced again whole
        queues = np.zeros(m, np.bool_)
        queues[was_ch[was_ch >= 0]] = True
        queues[tech_ch[tech_ch >= 0]] = True
        movable = (tech >= 0) & ~t.pinned
        again = np.flatnonzero(movable & queues[np.maximum(tech, 0)])
        rows.clear(ch[~t.pinned.take(ch)])
        rows.clear(again)
        if again.size:  # (none: every queue as it was)
            place_movable(problem, params, state, prices.late, again, rows)
        self.rows_placed = int(again.size)
        unassigned = tech < 0
        assigned = np.flatnonzero(~unassigned)
        rows.judged[assigned], rows.witness[assigned] = UnassignedReason.ASSIGNED, -1
        todo = self._rejudged(problem, rows, unassigned & ~changed, room0, room, queues)
        todo[ch[tech_ch < 0]] = True  # unassigned now, changed
        rj = np.flatnonzero(todo)
        j = judge(
            problem, params, state, tech, rj, (rows.position, rows.finish_s), room
        )
        rows.judged[rj], rows.witness[rj] = j.reason, j.witness
        self.rows_judged = int(rj.size)
        return rows

    @staticmethod
    def _rejudged(
        problem: Problem,
        rows: Rows,
        kept: BoolArray,
        room0: BoolArray,
        room: BoolArray,
        queues: BoolArray,
    ) -> BoolArray:
        """Of the ``kept`` rows (unassigned before and now, unchanged): those whose
        reason the change of free places since ``room0`` (to ``room``), or of the
        ``queues`` (per technician: its queue changed), can move."""
        lost, gained = np.flatnonzero(room0 & ~room), np.flatnonzero(~room0 & room)
        moved = np.flatnonzero(queues & room)  # a ticket may fit there now, or not
        out = np.zeros(kept.size, np.bool_)
        r, wit = rows.judged, rows.witness
        if lost.size or moved.size:
            gone = np.zeros(room.size + 1, np.bool_)
            gone[lost] = True  # (index -1, no witness, is the last: False)
            gone[moved] = True
            out |= kept & (r == _PENALTY) & gone[wit]
            shift = np.flatnonzero(kept & (r == _SHIFT))
            out[shift[skilled_for_any(problem, shift, np.union1d(lost, moved))]] = True
        if gained.size:
            shut = np.flatnonzero(kept & ((r == _SHIFT) | (r == _CAPACITY)))
            out[shut[skilled_for_any(problem, shut, gained)]] = True
        return out
