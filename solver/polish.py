"""Polish: relocate and swap tickets between nearby queues, judged by the chained cost.

The exact core prices every ticket as if it came first in its technician's queue
(:mod:`solver.cost`); :mod:`solver.sequence` then orders each queue. Two tickets whose
technicians cross each other's path on the way to their second stops cost nothing extra
in that model. This step looks for such plans after the sequencing and shift repair and
improves them by local search:

- **relocate** a ticket from its technician A to a technician B among the
  ``NEIGHBOURS`` nearest technicians (:func:`solver.spatial.nearest`) to the ticket, or
  holding one of the ``STOP_NEIGHBOURS`` queued tickets nearest it (:func:`route_pairs`:
  a route passing by), at B's best place;
- **swap** a ticket of A with a ticket of such a B (each at its best place in the other
  queue);
- **insert** an unassigned ticket into such a B with a free place, at its best place;
- **replace**: insert an unassigned ticket into such a B, ejecting one of B's tickets
  (unassigned afterwards).

An inserted ticket must be **on time** at its place (checked on the re-sequenced queue):
these moves serve tickets that can still be saved, never one more late one in a place
another could use. The ticket ejected must **breach anyway** where it is, or have a
priority no higher than the ticket it makes room for (at equal priority the cost decides:
the nearer ticket of two on time, the ejected one paying its penalty and the lateness it
risks if deferred, :func:`solver.cost.drop_penalty`); a ticket some technician holds
(ASSIGNED) is never ejected: sending it back is churn no gain of the churn rule certifies.
A later move may not make a ticket polish inserted late. An unassigned ticket may be
inserted outside the exact core's candidate arcs: the flow prices a ticket first in the
queue, so one far from a technician but near its queue's last stop is often no arc
(:func:`solver.core.model_cost` prices such a pair as the flow would). Inserts are on in
batch planning only (``SolveParams.batch``).

**The one evaluation** (:func:`plan_cost`, which is :func:`solver.position.queue_costs` on
the queues as :func:`solver.sequence.sequence_queues` orders them, shift ends checked): a
technician's queue costs the placement terms (``solver.cost.PAIR_TERMS``) of each of its
tickets at the times of its sequenced queue (travel chained stop to stop, lateness and
breach at the real start, waiting), plus the balance of its places; a movable ticket left
unassigned costs its unassigned penalty (:func:`solver.cost.drop_penalty`, as in the exact
core). :func:`driven_cost` is their sum. Candidate moves are screened on insertion orders
driven by :func:`solver.sequence.simulate` (the sequencing's own chained drive); each move
kept is verified on the plan: the queues it touches re-sequenced as the solution will be,
their :func:`plan_cost` plus the penalties it changes lower by at least ``MIN_GAIN``, no
shift overrun (unless overtime is allowed). So polish never makes this cost worse.

Hard rules, as everywhere: skills, exclusions, availability (``solver.cost.evaluate_pairs``),
queue capacity (``TechState.free_slots``), shift ends. Pinned tickets (accepted, in
progress) are not in the decision and never move. **Bounded churn** has one owner,
:attr:`solver.cost.PairEval.churn_ok`: a ticket held by a technician moves to another only
when :func:`solver.cost.move_gain` reaches ``weights.move_min_gain`` (or its holder can no
longer take it), the same test the exact core's arcs pass, so the reason the service
attaches to the move (``MoveReason.GAIN`` and its gain) holds; moving back to its holder
is always allowed. Bounded work: at most ``PASSES`` passes, none started after the solve's
deadline.

**Status**: the flow's certificate proves the assignment optimal *in the flow model*. A
polished plan is better by the chained cost but, in general, above the flow's optimum in
that model: :func:`solver.core.run_core` then reports it as it reports a plan the shift
repair moved: FEASIBLE, with ``bound_gap`` = model cost of the returned plan minus the
proven bound (``SolveStats.model_gap_pct``); ``Solution.objective`` is the chained cost.
"""

from __future__ import annotations

import time
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from solver.compiled import (
    SEQUENTIAL_SUM_MAX,
    claim_slots,
    screen_insertion_drives,
)
from solver.constants import COST_SCALE, DENSE_PAIRS_MAX
from solver.cost import (
    STATIC_TERMS,
    drop_penalty,
    evaluate_pairs,
    late_seconds,
    pair_keys,
    static_terms,
)
from solver.geo import unit_vectors
from solver.model import NO_TECHNICIAN
from solver.ordering import distinct, stable_order
from solver.position import queue_costs
from solver.sequence import (
    Schedule,
    leg_columns,
    legs_to,
    row_legs,
    sequence_queues,
    simulate,
    ticket_stops,
)
from solver.spatial import nearest

if TYPE_CHECKING:
    from collections.abc import Callable

    from solver.cost import LatePricing, TechState
    from solver.model import CostWeights, Problem

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

NEIGHBOURS = 6
"""Nearest technicians (to the ticket) a ticket may be relocated or swapped to."""

STOP_NEIGHBOURS = 12
"""Queued tickets nearest a ticket (in the plan polish starts from) whose technicians it
may also be relocated or swapped to: a ticket near another queue's stop but far from
that technician's start (a route passing by) is no arc of the flow, which prices every
ticket first in its queue, nor one of the ``NEIGHBOURS`` nearest starts. Boston 311
morning backlogs (150-160 tickets, 71-74 technicians; simulations/README.md, "Against
VROOM"): travel of the plan 609 / 564 / 614 -> 595 / 553 / 593 km, breaches unchanged
(without the nearer-stop rule below: 601 / 559 / 602 km at 6, 590 / 553 / 585 at 24);
polish CPU at 10k x 1k 0.21 -> 0.30 s."""

PASSES = 8
"""Most rounds of (screen every move, keep the best disjoint ones that verify). A pass
keeps at most one move per technician, so moves that share a queue wait for later
passes; chained travel keeps improving to about the 8th (static snapshots 3000x300,
seeds 0-2: travel per ticket 8.36 -> 8.12 min from 3 to 10 passes, 8.17 at 6), and the
passes after the first screen only the moves whose queues changed."""

MIN_GAIN = 1.0
"""Least decrease of the plan cost (weight units: one second of travel at the default
weights) for a move to be kept."""

_CELLS = 400_000  # candidate orders x places x queue length driven at once

SHARED_LEGS_FROM = 64
"""Fewest insertions of one queue length screened from their bases' legs
(:func:`screen_insertions`) rather than as orders: on fewer, the legs' set-up costs more
than the drives it saves."""

MEMO_SLOTS_MIN = 1 << 10
"""Slots of a new :class:`_Memo` (it doubles as it fills)."""

SMALL_DRIVE_CELLS = 4_096
"""Screening orders of one queue length but different numbers of places are driven
together, padded, while the drive has at most this many cells (orders x places x
length): below it a drive costs its numpy calls, not its cells (:func:`_drive_groups`)."""


def plan_cost(
    problem: Problem,
    weights: CostWeights,
    pricing: LatePricing,
    state: TechState,
    tech_of: IntArray,
    allow_overtime: bool,
    techs: BoolArray | None = None,
) -> tuple[FloatArray, BoolArray, Schedule, IntArray]:
    """The chained cost of each technician's movable queue in the plan ``tech_of``.

    Parameters
    ----------
    problem, weights, pricing, state
        The instance, weights, lateness pricing of the sequencing, state after the pinned
        queues.
    tech_of
        Technician per ticket row of the movable tickets (NO_TECHNICIAN elsewhere).
    allow_overtime
        As in :func:`solver.sequence.sequence_queues`.
    techs
        Only these technicians' queues (per technician; default all). Others cost 0.

    Returns
    -------
    tuple
        (cost per technician, weight units: :func:`solver.position.queue_costs`; whether
        its queue overruns the shift; the schedule; the rows it covers).
    """
    plan, rows, sch = _sequenced(
        problem, pricing, state, tech_of, allow_overtime, techs
    )
    cost = _queue_cost(problem, weights, state, plan, rows, sch)
    m = problem.technicians.count
    over = np.bincount(plan[rows][sch.overrun], minlength=m) > 0
    return cost, over, sch, rows


def _sequenced(
    problem: Problem,
    pricing: LatePricing,
    state: TechState,
    tech_of: IntArray,
    allow_overtime: bool,
    techs: BoolArray | None = None,
) -> tuple[IntArray, IntArray, Schedule]:
    """The queues :func:`plan_cost` prices, sequenced: (the plan restricted to
    ``techs``, the rows it covers, their schedule)."""
    on = tech_of >= 0
    if techs is not None:
        on &= techs[np.maximum(tech_of, 0)]
    rows = np.flatnonzero(on)
    sch = sequence_queues(
        problem, pricing, rows, tech_of[rows], state.lat_deg, state.lon_deg,
        state.ready_s, allow_overtime,
    )  # fmt: skip
    return np.where(on, tech_of, NO_TECHNICIAN), rows, sch


def _queue_cost(
    problem: Problem,
    weights: CostWeights,
    state: TechState,
    plan: IntArray,
    rows: IntArray,
    sch: Schedule,
) -> FloatArray:
    """:func:`plan_cost`'s cost per technician of the sequenced queues (:func:`_sequenced`)."""
    return queue_costs(
        problem, weights, state, weights.balance * COST_SCALE, plan, (rows, sch)
    )


def driven_cost(
    problem: Problem,
    weights: CostWeights,
    pricing: LatePricing,
    state: TechState,
    tech_of: IntArray,
    allow_overtime: bool,
) -> float:
    """What polish minimises (weight units): the sum of :func:`driven_parts`."""
    queues, unassigned = driven_parts(
        problem, weights, pricing, state, tech_of, allow_overtime
    )
    return queues + unassigned


def driven_parts(
    problem: Problem,
    weights: CostWeights,
    pricing: LatePricing,
    state: TechState,
    tech_of: IntArray,
    allow_overtime: bool,
) -> tuple[float, float]:
    """A plan's cost as driven in its two parts (weight units): :func:`plan_cost` summed
    over technicians, and the unassigned penalty (:func:`solver.cost.drop_penalty`) of
    every movable ticket the plan leaves unassigned."""
    cost = plan_cost(problem, weights, pricing, state, tech_of, allow_overtime)[0]
    left = (tech_of < 0) & ~problem.tickets.pinned
    return float(cost.sum()), float(drop_penalty(problem, weights)[left].sum())


class _Memo:
    """Values already computed, by int64 key: a hash table (open addressing,
    :func:`solver.compiled.claim_slots`) of the keys and their values."""

    def __init__(self, dtype: type, slots: int = MEMO_SLOTS_MIN) -> None:
        """An empty memo of values of ``dtype``, ``slots`` (a power of two) at first:
        it doubles as it fills."""
        self._slots = np.zeros(slots, np.int64)
        self._taken = np.zeros(slots, np.bool_)
        self._values: npt.NDArray[Any] = np.zeros(slots, dtype)
        self._held = 0
        self._min = slots

    @property
    def keys(self) -> IntArray:
        """The keys held, in slot order."""
        return self._slots[self._taken]

    @property
    def values(self) -> npt.NDArray[Any]:
        """Their values, in the order of :attr:`keys`."""
        return self._values[self._taken]

    def get(
        self, keys: IntArray, compute: Callable[[IntArray], npt.NDArray[Any]]
    ) -> npt.NDArray[Any]:
        """The value of each key: known ones from the memo, the others from
        ``compute(rows)`` (``rows``: one position in ``keys`` per distinct new key),
        then kept."""
        if keys.size == 0:
            return np.zeros(0, self._values.dtype)
        keys = np.ascontiguousarray(keys, np.int64)
        self._room(keys.size)
        at = np.empty(keys.size, np.int64)
        fresh = np.zeros(keys.size, np.bool_)
        self._held += claim_slots(self._slots, self._taken, keys, at, fresh)
        new = np.flatnonzero(fresh)
        if new.size:
            self._values[at[new]] = compute(new)
        return self._values[at]

    def _room(self, more: int) -> None:
        """At most half the slots taken once ``more`` keys are put: else the held
        entries put again in a table of twice as many slots (it doubles at least)."""
        if 2 * (self._held + more) <= self._slots.size:
            return
        size = _slots_for(self._held + more, self._min)
        self._rebuilt(self.keys, self.values, size)

    def _rebuilt(self, keys: IntArray, values: npt.NDArray[Any], size: int) -> None:
        """The table of ``size`` slots holding ``keys`` (distinct) and their values."""
        self._slots = np.zeros(size, np.int64)
        self._taken = np.zeros(size, np.bool_)
        self._values = np.zeros(size, self._values.dtype)
        at = np.empty(keys.size, np.int64)
        fresh = np.zeros(keys.size, np.bool_)
        claim_slots(self._slots, self._taken, keys, at, fresh)
        self._values[at] = values
        self._held = keys.size


def _first_and_back(keys: IntArray) -> tuple[IntArray, IntArray]:
    """The first position of each distinct key of ``keys`` (in the order they first
    come) and each key's index among them, by a hash table
    (:func:`solver.compiled.claim_slots`): no sort."""
    size = _slots_for(keys.size, 2)
    at = np.empty(keys.size, np.int64)
    fresh = np.zeros(keys.size, np.bool_)
    taken = np.zeros(size, np.bool_)
    claim_slots(np.zeros(size, np.int64), taken, keys, at, fresh)
    first = np.flatnonzero(fresh)
    rank = np.empty(size, np.int64)
    rank[at[first]] = np.arange(first.size)
    return first, rank[at]


def _slots_for(keys: int, least: int) -> int:
    """Slots of a :class:`_Memo` table for ``keys`` keys: the power of two at least
    twice as many (half of them free), ``least`` at least."""
    return max(least, 1 << max(2 * keys - 1, 0).bit_length())


def _distinct(keys: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """The distinct ``keys`` in order, one position in ``keys`` of each, and each key's
    index among them: :func:`numpy.unique` with ``return_index`` and ``return_inverse``,
    but the position may be any of a key's (the first, by
    :func:`solver.ordering.stable_order`'s radix sort: 2.3 ms where numpy's argsort took
    15 on 50k x 5k, ~4% of a 10k x 1k solve)."""
    order = stable_order(keys)
    ranked = keys[order]
    new = np.empty(ranked.size, np.bool_)
    new[:1] = True
    np.not_equal(ranked[1:], ranked[:-1], out=new[1:])
    back = np.empty(keys.size, np.int64)
    back[order] = np.cumsum(new) - 1
    return ranked[new], order[new], back


def _sorted_keys(keys: IntArray) -> IntArray:
    """The distinct ``keys`` in order: :func:`numpy.unique`, by a sort (numpy's hashed
    ``unique`` sorts its result too, several times slower on int64 keys); its stable
    one, which merges runs (the keys come mostly in order: 2.4 ms where the default
    sort took 11.7 at 50k x 5k)."""
    ranked = np.sort(keys, kind="stable")
    return ranked[np.r_[True, ranked[1:] != ranked[:-1]]] if ranked.size else ranked


def _union(keys: IntArray, more: IntArray) -> IntArray:
    """The sorted distinct ``keys`` with the sorted distinct ``more`` added:
    :func:`numpy.union1d`, without sorting ``keys`` again (the arcs are many, ``more``
    few)."""
    new = more[~_in_sorted(keys, more)]
    return np.insert(keys, np.searchsorted(keys, new), new)


class _Plan:
    """The current plan's queues in sequence order and their screening costs, and memos
    of what does not change while a queue does not (its screening drives) or ever (the
    rules of a pair)."""

    def __init__(
        self,
        problem: Problem,
        weights: CostWeights,
        pricing: LatePricing,
        state: TechState,
        tech_of: IntArray,
        allow_overtime: bool,
        arcs: IntArray | None = None,
    ) -> None:
        self.problem, self.weights, self.pricing, self.state = (
            problem, weights, pricing, state,
        )  # fmt: skip
        self.allow_overtime, self.arcs = allow_overtime, arcs
        self.penalty = drop_penalty(problem, weights)
        self.phi = ticket_stops(problem).phi  # NaN: no location
        self.located = not np.isnan(self.phi).any()  # every ticket
        m = problem.technicians.count
        first, rows, sch = _sequenced(problem, pricing, state, tech_of, allow_overtime)
        # priced when first read (:attr:`cost`): a pass that screens no move never does
        self._cost: FloatArray | None = None
        self._first = (first, rows, sch)
        n = problem.tickets.count
        # screening drives already made, by :meth:`_memo_keys`: of one version of a queue
        # (:meth:`advance` counts a changed queue's versions; a new one finds none)
        self.drives = _Memo(np.float64)
        self.holds = _Memo(np.bool_)  # by pair key: :meth:`may_hold`
        # key = ((version, technician), place dropped + 1, ticket added + 1): a queue
        # never holds more than its free places (a move only fills a free one) or than
        # it held
        longest = np.bincount(tech_of[rows], minlength=m).max(initial=0)
        self._span = (int(max(state.free_slots.max(initial=0), longest)) + 2, n + 1)
        self.version = np.full(m, -1, np.int64)  # changes of each queue (-1: none yet)
        self.qlen = np.zeros(m, np.int64)
        self.queue = np.full((m, 1), -1, np.int64)
        self.place = np.full(n, -1, np.int64)
        self.late = np.zeros(n, np.bool_)  # breaches where it is
        # static terms (:func:`static_cost`) where it is, priced when first read
        # (:meth:`statics`); its technician (-1: in no queue)
        self._held = np.zeros(n)
        self._priced = np.zeros(n, np.bool_)
        self.tech_at = np.full(n, -1, np.int64)
        self.count = state.load.copy()  # places taken, pinned ones included
        self.advance(np.ones(m, np.bool_), rows, tech_of[rows], sch, None)

    @property
    def cost(self) -> FloatArray:
        """Cost per technician of its queue (:func:`plan_cost`)."""
        if self._cost is None:
            first, rows, sch = self._first
            self._cost = _queue_cost(
                self.problem, self.weights, self.state, first, rows, sch
            )
        return self._cost

    def advance(
        self,
        changed: BoolArray,
        rows: IntArray,
        tech: IntArray,
        sch: Schedule,
        cost: FloatArray | None,
    ) -> None:
        """Take the new queues of the technicians ``changed`` (per technician): ``rows``
        with technicians ``tech`` sequenced as ``sch`` (rows of other technicians are
        ignored), ``cost`` per technician (:func:`plan_cost`; None: the first plan's, not
        priced yet). Other queues, and their screening drives, stay as they are."""
        m = self.qlen.size
        ch = np.flatnonzero(changed)
        old = self.queue[ch].reshape(-1)
        old = old[old >= 0]
        self.place[old] = -1
        self.late[old] = False
        self.tech_at[old] = -1
        on = changed[tech]
        rows, tech, pos = rows[on], tech[on], sch.position[on]
        self.qlen[ch] = np.bincount(tech, minlength=m)[ch]
        width = max(int(self.qlen.max(initial=0)), 1)
        if width > self.queue.shape[1]:
            grown = np.full((m, width), -1, np.int64)
            grown[:, : self.queue.shape[1]] = self.queue
            self.queue = grown
        self.queue[ch] = -1
        self.queue[tech, pos] = rows
        self.place[rows] = pos
        self.late[rows] = (
            late_seconds(self.problem, rows, sch.start_s[on], sch.finish_s[on]) > 0
        )
        self.tech_at[rows] = tech
        self._priced[rows] = False
        self.count[ch] = self.qlen[ch] + self.state.load[ch]
        if cost is not None:
            self.cost[ch] = cost[ch]
        self.version[ch] += 1  # its drives so far are of another queue

    @property
    def held(self) -> FloatArray:
        """Per ticket row, the static terms where the plan holds it (0 for a row in no
        queue)."""
        return self.statics(np.zeros(0, np.int64), np.zeros(0, np.int64),
                            np.flatnonzero(self.tech_at >= 0))[1]  # fmt: skip

    def statics(
        self, tix: IntArray, tech: IntArray, rows: IntArray
    ) -> tuple[FloatArray, FloatArray]:
        """:func:`static_cost` of the pairs (``tix``, ``tech``), and :attr:`held` (per
        row, 0 elsewhere) once the rows ``rows`` (each in a queue) are priced where they
        are: in one call, a row priced once while it stays in its queue."""
        todo = distinct(rows[~self._priced[rows]], self._priced.size)
        st = static_cost(
            self.problem, self.weights, np.concatenate([tix, todo]),
            np.concatenate([tech, self.tech_at[todo]]),
        )  # fmt: skip
        self._held[todo] = st[tix.size :]
        self._priced[todo] = True
        return st[: tix.size], np.where(self.tech_at >= 0, self._held, 0.0)

    @property
    def screen(self) -> FloatArray:
        """Screening cost of every technician's queue as it is (0 for an empty one)."""
        return self.screen_of(np.arange(self.qlen.size))

    def screen_of(self, tech: IntArray) -> FloatArray:
        """Screening cost of each technician's queue as it is: its edit that drops and
        adds nothing (:meth:`edited`), driven when first asked for (with the edits
        screened in the same pass, :func:`_screen`)."""
        none = np.full(tech.size, -1, np.int64)
        return self.edited(tech, none, none)

    def _drive(self, orders: IntArray, tech: IntArray) -> FloatArray:
        """:func:`screen_orders` of orders (T, P, q) on technicians ``tech``."""
        return screen_orders(
            self.problem, self.weights, self.pricing, self.state, self.allow_overtime,
            orders, tech,
        )  # fmt: skip

    def _insert(
        self, base: IntArray, new: IntArray, tech: IntArray, drop: IntArray
    ) -> FloatArray:
        """:func:`screen_insertions` of ``new`` into the queues ``base`` of ``tech``
        (each without its ticket at place ``drop``): one base per (technician, drop)."""
        return screen_insertions(
            self.problem, self.weights, self.pricing, self.state, self.allow_overtime,
            base, new, tech, tech * (self.queue.shape[1] + 1) + drop + 1,
        )  # fmt: skip

    def _memo_keys(self, tech: IntArray, drop: IntArray, add: IntArray) -> IntArray:
        places, tickets = self._span
        queue = self.version[tech] * self.qlen.size + tech  # this version of its queue
        return np.asarray((queue * places + drop + 1) * tickets + add + 1, np.int64)

    def edited(self, tech: IntArray, drop: IntArray, add: IntArray) -> FloatArray:
        """Per candidate: screening cost of ``tech``'s queue without its ticket at place
        ``drop`` (-1: none) and with ticket ``add`` (-1: none) at its best place.

        Each distinct edit of a queue is driven once while the queue stays unchanged (a
        swap seen from both its tickets; a move screened again in the next pass): the
        drives of other edits do not change a drive's result."""
        return self.drives.get(
            self._memo_keys(tech, drop, add),
            lambda at: self._edited(tech[at], drop[at], add[at]),
        )

    def may_hold(self, tix: IntArray, tech: IntArray) -> BoolArray:
        """Whether each technician may hold the ticket (:func:`_allowed`) by a pair a
        move may create (``arcs``, :func:`_among`)."""
        m = self.qlen.size
        return self.holds.get(
            pair_keys(tix, tech, m),
            lambda at: self._holds(tix[at], tech[at]),
        )

    def _holds(self, tix: IntArray, tech: IntArray) -> BoolArray:
        """:meth:`may_hold` without the memo: the rules evaluated on the pairs among
        ``arcs`` only (about half of them)."""
        out = _among(self.arcs, tix, tech, self.qlen.size)
        on = np.flatnonzero(out)
        out[on] = _allowed(
            self.problem, self.weights, self.state, tix[on], tech[on],
            self.allow_overtime,
        )[0]  # fmt: skip
        return out

    def _edited(self, tech: IntArray, drop: IntArray, add: IntArray) -> FloatArray:
        """:meth:`edited` without the memo."""
        out = np.zeros(tech.size)
        q0 = self.qlen[tech] - (drop >= 0)
        width = self.queue.shape[1]
        jobs = []  # (positions in out, orders (T, places, length), technicians)
        for q in distinct(q0, width + 1).tolist():
            sel = np.flatnonzero(q0 == q)
            tk = tech[sel]
            idx = np.arange(width)[None, :]
            keep = (idx < self.qlen[tk][:, None]) & (idx != drop[sel][:, None])
            base = self.queue[tk][keep].reshape(sel.size, q)
            new = add[sel]
            plain = new < 0
            if q and plain.any():
                jobs.append((sel[plain], base[plain][:, None, :], tk[plain]))
            if not plain.all():
                ins = ~plain
                if 0 < q < SEQUENTIAL_SUM_MAX and ins.sum() >= SHARED_LEGS_FROM:
                    # located rows: from their base's legs; the others as orders
                    if self.located:
                        ins[:] = False
                    else:
                        ins &= np.isnan(self.phi.take(base)).any(axis=1) | np.isnan(
                            self.phi.take(np.maximum(new, 0))
                        )
                    on = np.flatnonzero(~plain & ~ins)
                    out[sel[on]] = self._insert(
                        base[on], new[on], tk[on], drop[sel[on]]
                    )
                if ins.any():
                    jobs.append((sel[ins], insertions(base[ins], new[ins]), tk[ins]))
        # orders of one shape driven together (a queue of one ticket as it is and a
        # ticket inserted into an empty queue), or of one length (:func:`_drive_groups`);
        # the best place of each
        for at, orders, tk in _drive_groups(jobs):
            out[at] = self._drive(orders, tk).min(axis=1)
        return out


def _drive_groups(
    jobs: list[tuple[IntArray, IntArray, IntArray]],
) -> list[tuple[IntArray, IntArray, IntArray]]:
    """The screening ``jobs`` (positions, orders (T, P, q), technicians) as fewer drives:
    those of one shape together; and, while a drive stays small (``SMALL_DRIVE_CELLS``),
    those of one length q together, each job's orders padded to the most places P by
    repeating its last order (a drive's row is driven by itself, and the best place of a
    row is the same with an order twice). Each drive costs a fixed ~0.1-0.2 ms of numpy
    calls per stop: on a small problem most of its screening."""
    shapes = sorted({orders.shape[1:] for _, orders, _ in jobs})
    out = []
    for q in sorted({q for _, q in shapes}):
        of_q = [shape for shape in shapes if shape[1] == q]
        group = [job for job in jobs if job[1].shape[2] == q]
        places = max(p for p, _ in of_q)
        cells = sum(job[1].shape[0] for job in group) * places * q
        if len(of_q) > 1 and cells <= SMALL_DRIVE_CELLS:
            out.append(_joined([(a, _padded(o, places), t) for a, o, t in group]))
            continue
        for shape in of_q:
            out.append(_joined([job for job in group if job[1].shape[1:] == shape]))
    return out


def _joined(
    jobs: list[tuple[IntArray, IntArray, IntArray]],
) -> tuple[IntArray, IntArray, IntArray]:
    """Jobs of one shape (positions, orders, technicians) as one."""
    at, orders, tk = zip(*jobs, strict=True)
    return np.concatenate(at), np.concatenate(orders), np.concatenate(tk)


def _padded(orders: IntArray, places: int) -> IntArray:
    """Orders (T, P, q) with ``places - P`` copies of each row's last order appended."""
    extra = places - orders.shape[1]
    if extra == 0:
        return orders
    return np.concatenate([orders, np.repeat(orders[:, -1:], extra, axis=1)], axis=1)


def screen_orders(
    problem: Problem,
    weights: CostWeights,
    pricing: LatePricing,
    state: TechState,
    allow_overtime: bool,
    orders: IntArray,
    tech: IntArray,
    on_time: BoolArray | None = None,
) -> FloatArray:
    """Screening cost (T, P) of orders (T, P, q) of technicians ``tech`` (T,): travel,
    lateness, waiting; inf on an overrun when overtime is not allowed, and when a ticket
    marked in ``on_time`` (per ticket row) is late."""
    out = np.empty(orders.shape[:2])
    step = max(1, _CELLS // max(orders.shape[1] * orders.shape[2], 1))
    duration = problem.tickets.duration_s
    for c in range(0, tech.size, step):
        tc, oc = tech[c : c + step], orders[c : c + step]
        drive = simulate(
            problem, pricing, oc, tc, state.lat_deg[tc], state.lon_deg[tc],
            state.ready_s[tc], False, at_risk=False,
        )  # fmt: skip
        cost = _screen_cost(problem, weights, allow_overtime, drive)
        if on_time is not None:
            st = drive[5]
            lost = on_time[oc] & (late_seconds(problem, oc, st, st + duration[oc]) > 0)
            cost = np.where(lost.any(axis=2), np.inf, cost)
        out[c : c + step] = cost
    return out


def _screen_cost(
    problem: Problem,
    weights: CostWeights,
    allow_overtime: bool,
    drive: tuple[FloatArray, ...],
) -> FloatArray:
    """Screening cost (T, P) of a drive (:func:`solver.sequence.simulate`'s returns):
    travel, lateness, waiting; inf on an overrun when overtime is not allowed."""
    ov, late, travel, st = drive[0], drive[1], drive[2], drive[5]
    wait = np.maximum(st - problem.now_s, 0.0).sum(axis=2)
    cost = weights.travel * travel + late + weights.waiting * wait
    if not allow_overtime:
        cost = np.where(ov > 0, np.inf, cost)
    return np.asarray(cost)


def screen_insertions(
    problem: Problem,
    weights: CostWeights,
    pricing: LatePricing,
    state: TechState,
    allow_overtime: bool,
    base: IntArray,
    new: IntArray,
    tech: IntArray,
    base_of: IntArray | None = None,
) -> FloatArray:
    """The least over places of :func:`screen_orders` of ``insertions(base, new)`` (the
    same values bit for bit) for ``base`` (T, q) of 1 <= q < ``SEQUENTIAL_SUM_MAX`` tickets, every ticket
    located, in one compiled loop (:func:`solver.compiled.screen_insertion_drives`).
    Of the (q + 1)^2 legs of a row's orders only the q + 1 to its new ticket are
    computed (:func:`solver.sequence.legs_to`), the others once per distinct base
    (:func:`solver.sequence.row_legs`). ``base_of``: an int64 key per row, equal for
    rows of one base and technician (default: every row its own)."""
    q = base.shape[1]
    out = np.empty(tech.size)
    if tech.size == 0:
        return out
    if base_of is None:
        first = back = np.arange(tech.size)
    else:
        first, back = _first_and_back(base_of)
    lat, lon, ready = state.lat_deg, state.lon_deg, state.ready_s
    tb = tech[first]
    shared = row_legs(problem, base[first], tb, lat[tb], lon[tb])[0]
    from_start, from_each = legs_to(problem, base, new, tech, lat[tech], lon[tech])
    stop = ticket_stops(problem)
    f64 = np.float64
    screen_insertion_drives(
        _insertion_pattern(q), leg_columns(q), shared, back, from_start, from_each,
        np.column_stack([base, new]), np.asarray(ready[tech], f64),
        np.asarray(problem.technicians.shift_end_s[tech], f64), stop.window_start_s,
        stop.duration_s, stop.response_due_s, stop.due_s,
        np.asarray(pricing.per_second, f64), np.asarray(pricing.per_breach, f64),
        float(problem.now_s), float(weights.travel), float(weights.waiting),
        bool(allow_overtime), out,
    )  # fmt: skip
    return out


@cache
def _insertion_pattern(q: int) -> IntArray:
    """(q + 1, q + 1): the orders of :func:`insertions` as columns of a row of q tickets
    with the new one appended (column q): the new one at every place."""
    orders = insertions(np.arange(q, dtype=np.int64)[None, :], np.array([q], np.int64))
    return np.asarray(orders[0], np.int64)


def insertions(base: IntArray, new: IntArray) -> IntArray:
    """(T, q+1, q+1): ``new`` inserted at every place of each order in ``base`` (T, q)."""
    q = base.shape[1]
    slot = np.arange(q + 1)[None, :]
    place = np.arange(q + 1)[:, None]
    src = np.where(slot < place, slot, slot - 1)  # (q+1 places, q+1 slots)
    if q == 0:
        return new[:, None, None]
    orders = base[:, np.clip(src, 0, q - 1)]
    return np.asarray(np.where(slot == place, new[:, None, None], orders), np.int64)


def static_cost(
    problem: Problem, weights: CostWeights, tix: IntArray, tech: IntArray
) -> FloatArray:
    """The placement terms of (ticket, technician) pairs that do not depend on the place,
    summed (:func:`solver.cost.static_terms`): computed afresh, cheaper than a memo."""
    if tix.size == 0:
        return np.zeros(0)
    terms = static_terms(problem, weights, tix, tech)
    return np.asarray(np.sum([terms[n] for n in STATIC_TERMS], axis=0))


def _neighbours(
    problem: Problem, state: TechState, rows: IntArray, usable: IntArray
) -> IntArray:
    """(rows, k): the ``NEIGHBOURS + 1`` technicians of ``usable`` nearest each ticket
    (from where their queues start), by :func:`solver.spatial.nearest`, or by brute force
    in a region of at most ``DENSE_PAIRS_MAX`` pairs (as the candidates are)."""
    t = problem.tickets
    k = min(NEIGHBOURS + 1, usable.size)
    points = unit_vectors(state.lat_deg[usable], state.lon_deg[usable])
    queries = unit_vectors(t.lat_deg[rows], t.lon_deg[rows])
    return usable[_nearest_points(points, queries, k)]


def _nearest_points(points: FloatArray, queries: FloatArray, k: int) -> IntArray:
    """(queries, k): the indices of the ``k`` unit vectors of ``points`` nearest each
    of ``queries``, by :func:`solver.spatial.nearest`, or by brute force when there are
    at most ``DENSE_PAIRS_MAX`` pairs (as the candidates are)."""
    if len(queries) * len(points) > DENSE_PAIRS_MAX:
        return nearest(points, queries, k)
    # larger: nearer (the chord orders like the distance); three multiply-adds, not a
    # BLAS product (OpenBLAS threads are slow on a loaded machine)
    closeness = sum(queries[:, d, None] * points[None, :, d] for d in range(3))
    return np.argsort(-closeness, axis=1, kind="stable")[:, :k]


def _movable(problem: Problem, tech_of: IntArray, inserts: bool) -> IntArray:
    """The tickets polish may move: the assigned ones of the plan ``tech_of``, and with
    ``inserts`` every ticket not pinned."""
    return np.flatnonzero(~problem.tickets.pinned if inserts else tech_of >= 0)


def route_pairs(
    problem: Problem, state: TechState, tech_of: IntArray, rows: IntArray
) -> IntArray:
    """Sorted pair keys (:func:`solver.cost.pair_keys`) of each located ticket of
    ``rows`` and the technicians holding the ``STOP_NEIGHBOURS`` located tickets queued
    nearest it in the plan ``tech_of``, other than its own, with a free place in the
    state, where that stop is nearer the ticket than its own technician's start (an
    unassigned ticket: any): the queues whose route passes by it."""
    t, m = problem.tickets, problem.technicians.count
    located = ~np.isnan(t.lat_deg) & ~np.isnan(t.lon_deg)
    usable = state.free_slots > 0
    held = np.flatnonzero(located & (tech_of >= 0))
    held = held[usable[tech_of[held]]]
    rows = rows[located[rows]]
    k = min(STOP_NEIGHBOURS + 1, held.size)
    if k == 0 or rows.size == 0:
        return np.zeros(0, np.int64)
    points = unit_vectors(t.lat_deg[held], t.lon_deg[held])
    queries = unit_vectors(t.lat_deg[rows], t.lon_deg[rows])
    near = _nearest_points(points, queries, k)
    tix = np.repeat(rows, k)
    stop = near.reshape(-1)
    tech = tech_of[held[stop]]
    # only a stop nearer the ticket than its own technician's start: a route passing
    # farther off than the ticket's first-in-queue leg rarely saves travel (the same
    # morning plans, 10k x 1k polish CPU 0.35 -> 0.30 s); the closeness to its own
    # start once per ticket, to a stop only for another technician's
    other = np.flatnonzero(tech != tech_of[tix])
    row = other // k
    to_stop = np.einsum("ij,ij->i", queries[row], points[stop[other]])
    own = tech_of[rows]
    assigned = own >= 0
    starts = unit_vectors(state.lat_deg, state.lon_deg)
    to_own = np.full(rows.size, -np.inf)
    to_own[assigned] = np.einsum("ij,ij->i", queries[assigned], starts[own[assigned]])
    keep = other[to_stop > to_own[row]]
    return _sorted_keys(pair_keys(tix[keep], tech[keep], m))


def _among(arcs: IntArray | None, tix: IntArray, tech: IntArray, m: int) -> BoolArray:
    """Whether each pair is among the sorted pair keys ``arcs`` (all are when None)."""
    if arcs is None:
        return np.ones(tix.size, np.bool_)
    return _in_sorted(arcs, pair_keys(tix, tech, m))


def _in_sorted(ranked: IntArray, keys: IntArray) -> BoolArray:
    """Whether each of ``keys`` is among the sorted ``ranked``."""
    if ranked.size == 0:
        return np.zeros(keys.size, np.bool_)
    pos = np.minimum(np.searchsorted(ranked, keys), ranked.size - 1)
    return np.asarray(ranked[pos] == keys)


def _allowed(
    problem: Problem,
    weights: CostWeights,
    state: TechState,
    tix: IntArray,
    tech: IntArray,
    allow_overtime: bool,
) -> tuple[BoolArray, BoolArray]:
    """Whether the technician may hold the ticket (skills, exclusion, shift in the first
    place, churn), and whether the ticket is on time there (the earliest start the
    technician can give it: late there, late in any place)."""
    ev, _ = evaluate_pairs(problem, weights, state, tix, tech, allow_overtime)
    late = late_seconds(problem, tix, ev.start_s, ev.finish_s) > 0
    return np.asarray(ev.qualified & ev.churn_ok), np.asarray(~late)


def move_pairs(
    problem: Problem,
    weights: CostWeights,
    state: TechState,
    tech_of: IntArray,
    allow_overtime: bool,
    arcs: IntArray | None,
    inserts: bool,
    route: IntArray | None = None,
) -> tuple[IntArray, IntArray, BoolArray] | None:
    """The (ticket i, neighbour B, i on time in B's first place) triples :func:`polish`
    may move along (arguments as there): every movable ticket (assigned ones, without
    ``inserts``) and each of its ``NEIGHBOURS`` allowed to hold it, plus the pairs of
    ``route`` (sorted pair keys, :func:`route_pairs`) of such a ticket. None when there
    is no ticket to move or no place to move it to. The pair rules do not depend on the
    plan: they are evaluated once."""
    usable = np.flatnonzero(state.free_slots > 0)
    movable = _movable(problem, tech_of, inserts)
    if movable.size == 0 or usable.size == 0:
        return None
    near = _neighbours(problem, state, movable, usable)
    pi, pb = np.repeat(movable, near.shape[1]), near.reshape(-1)
    m = problem.technicians.count
    if route is not None and route.size:
        ri, rb = route // m, route % m
        on = np.isin(ri, movable)
        keys = _sorted_keys(pair_keys(np.r_[pi, ri[on]], np.r_[pb, rb[on]], m))
        pi, pb = keys // m, keys % m
    # the rules only where they matter; an unassigned ticket may go anywhere
    among = np.flatnonzero(_among(arcs, pi, pb, m) | (tech_of[pi] < 0))
    pi, pb = pi[among], pb[among]
    rules = _allowed(problem, weights, state, pi, pb, allow_overtime)
    return pi[rules[0]], pb[rules[0]], rules[1][rules[0]]


def polish(
    problem: Problem,
    weights: CostWeights,
    pricing: LatePricing,
    state: TechState,
    tech_of: IntArray,
    allow_overtime: bool,
    deadline: float = np.inf,
    arcs: IntArray | None = None,
    inserts: bool = False,
) -> IntArray:
    """Relocate, swap (and, with ``inserts``, insert and replace) tickets in nearby queues
    while the cost drops.

    Parameters
    ----------
    problem, weights, pricing, state
        The instance, weights, the sequencing's lateness pricing, state after the pinned
        queues.
    tech_of
        Technician per ticket row of the movable tickets (NO_TECHNICIAN elsewhere), a plan
        that respects every hard rule.
    allow_overtime
        When False, no queue may end after its technician's shift.
    deadline
        ``time.perf_counter()`` time after which no pass starts.
    arcs
        Sorted :func:`solver.cost.pair_keys` of the only (ticket, technician) pairs a
        relocation or swap may create, besides the :func:`route_pairs` of the plan;
        default any pair (what :func:`solver.solve` passes: the exact core's candidate
        arcs depend on the pruning, and its plan would too). An unassigned ticket may
        be inserted anywhere (module doc).
    inserts
        Also insert unassigned tickets and replace queued ones (module doc). On in
        :func:`solver.solve` only with ``SolveParams.batch`` (a one-shot plan): on the
        static snapshots they place more tickets and cut breaches, but in the city
        simulator (82% utilisation, 12 h) they raised SLA breaches (seeds 1-2: 301/294 ->
        318/311; held-out seed 101 with equal-priority replace: 306 -> 311): a ticket
        left out of a rolling plan is planned again a minute later, while a filled place
        commits a technician to a farther ticket (simulations/README.md).

    Returns
    -------
    numpy.ndarray
        The polished plan (a new array). Its :func:`driven_cost` is never higher.
    """
    route = route_pairs(problem, state, tech_of, _movable(problem, tech_of, inserts))
    if arcs is not None:
        arcs = _union(arcs, route)
    pairs = move_pairs(
        problem, weights, state, tech_of, allow_overtime, arcs, inserts, route
    )
    if pairs is None:
        return tech_of
    tried = np.zeros(0, np.int64)  # (ticket, technician) keys of failed moves
    tech_of = tech_of.copy()
    inserted = np.zeros(tech_of.size, np.bool_)  # must stay on time
    live = np.ones(pairs[0].size, np.bool_)  # the pairs the next pass screens
    plan: _Plan | None = None
    for _ in range(PASSES):
        if time.perf_counter() > deadline:
            break
        if plan is None:
            plan = _Plan(
                problem, weights, pricing, state, tech_of, allow_overtime, arcs
            )
        tried, screen_next = _pass(plan, pairs, live, tech_of, tried, inserted)
        if screen_next is None:
            break
        live = screen_next
    return tech_of


def _pass(
    plan: _Plan,
    pairs: tuple[IntArray, IntArray, BoolArray],
    live: BoolArray,
    tech_of: IntArray,
    tried: IntArray,
    inserted: BoolArray,
) -> tuple[IntArray, BoolArray | None]:
    """One pass: screen every move along the ``live`` ones of ``pairs``, verify the best
    disjoint ones, apply those kept to ``tech_of`` and ``inserted`` (in place) and
    advance ``plan`` to the new queues. Returns the keys of the moves tried and failed so
    far and which pairs the next pass screens (None: it would find nothing): those of a
    ticket with a move that screened as an improvement, or whose queue or neighbour's
    queue changed. Any other move would screen as it did in its last screening (both its
    queues are as they were then): no improvement."""
    moves = _candidates(plan, tuple(x[live] for x in pairs), tech_of, tried)  # type: ignore[arg-type]
    if moves.size == 0:
        return tried, None
    chosen = _disjoint(moves)
    kept, failed, trial = _verify(plan, tech_of, chosen, inserted)
    tried = np.concatenate([tried, failed])
    if kept.size == 0 and failed.size == 0:
        return tried, None
    changed = np.zeros(plan.qlen.size, np.bool_)
    for i, b, j in kept.tolist():
        a = tech_of[i]
        inserted[i] |= a < 0
        tech_of[i] = b
        changed[b] = True
        if a >= 0:
            changed[a] = True
        if j >= 0:
            tech_of[j] = a
    # the kept moves' queues are as the verification sequenced them
    plan.advance(changed, *trial)
    i, b, _ = pairs
    again = np.zeros(tech_of.size, np.bool_)
    again[moves[:, 1].astype(np.int64)] = True
    again[kept[:, 2][kept[:, 2] >= 0]] = True  # ejected ones: in no queue now
    a = tech_of[i]  # after the moves: a ticket moved now sits in a changed queue
    return tried, again[i] | changed[b] | ((a >= 0) & changed[np.maximum(a, 0)])


# A move: (estimated delta, ticket i, its new technician B, ticket j of B going to i's
# technician A, or unassigned when A < 0, or -1 for none; technician A (-1: i was
# unassigned), technician B).
_MOVE_COLS = 6


def _candidates(
    plan: _Plan,
    pairs: tuple[IntArray, IntArray, BoolArray],
    tech_of: IntArray,
    tried: IntArray,
) -> FloatArray:
    """Every move among neighbours that screens as an improvement: (n, 6) float rows
    (delta, i, B, j, A, B) (see ``_MOVE_COLS``). ``pairs``: (ticket i, neighbour B, i on
    time in B's first place) for every movable ticket and neighbour allowed to hold it.
    Assigned tickets relocate (j = -1) or swap with a ticket j of B; unassigned ones
    (A = -1), on time in B's first place, are inserted (j = -1) or replace a ticket j of B."""
    p, s = plan.problem, plan.state
    m = p.technicians.count
    i, b, on_time = pairs
    a = tech_of[i]
    ok = (b != a) & ((a >= 0) | on_time) & ~np.isin(pair_keys(i, b, m), tried)
    i, a, b = i[ok], a[ok], b[ok]
    # with j = -1 where B has a free place, and with each j of B
    room = plan.qlen[b] < s.free_slots[b]
    width = plan.queue.shape[1]
    sj = plan.queue[b].reshape(-1)
    si, sa, sb = (np.repeat(x, width) for x in (i, a, b))
    live = np.flatnonzero(sj >= 0)
    si, sa, sb, sj = si[live], sa[live], sb[live], sj[live]
    back = sa >= 0  # j goes to A; else j is ejected (never from its holder)
    ok = np.zeros(sj.size, np.bool_)
    ok[back] = plan.may_hold(sj[back], sa[back])
    out = np.flatnonzero(~back)
    t = p.tickets
    ok[out] = (t.current_technician[sj[out]] < 0) & (
        plan.late[sj[out]] | (t.priority[sj[out]] >= t.priority[si[out]])
    )
    out = out[ok[out]]
    ok[out] = _may_pay(plan, si[out], sb[out], sj[out])
    none = np.full(int(room.sum()), -1, np.int64)
    i = np.concatenate([i[room], si[ok]])
    a = np.concatenate([a[room], sa[ok]])
    b = np.concatenate([b[room], sb[ok]])
    j = np.concatenate([none, sj[ok]])
    if i.size == 0:
        return np.zeros((0, _MOVE_COLS))
    return _screen(plan, i, a, b, j)


def _may_pay(plan: _Plan, i: IntArray, b: IntArray, j: IntArray) -> BoolArray:
    """Whether unassigned ``i`` replacing ``j`` in B's queue can screen as an improvement:
    its screening queue costs are >= 0, so its delta is at least the penalties and static
    terms it changes minus B's whole screening cost now."""
    st = static_cost(
        plan.problem, plan.weights, np.concatenate([i, j]), np.concatenate([b, b])
    )
    n = i.size
    least = st[:n] - st[n:] + plan.penalty[j] - plan.penalty[i] - plan.screen_of(b)
    return np.asarray(least < -MIN_GAIN)


def _screen(
    plan: _Plan, i: IntArray, a: IntArray, b: IntArray, j: IntArray
) -> FloatArray:
    """Estimated delta of each move (:func:`_candidates`) on the screening drives; the
    moves below ``-MIN_GAIN`` as (n, 6) rows."""
    w = plan.weights
    n = i.size
    has_j, has_a = j >= 0, a >= 0
    jj, aa = np.maximum(j, 0), np.maximum(a, 0)
    drop_j = np.where(has_j, plan.place[jj], -1)
    both = np.flatnonzero(has_a)  # A's queue changes only when i leaves it
    # the edited queues, then the queues as they are (:meth:`_Plan.screen_of`): one
    # memo look-up, their drives made together
    ab = np.concatenate([b, a[both]])
    seen = np.zeros(plan.qlen.size, np.bool_)
    seen[ab] = True
    techs = np.flatnonzero(seen)  # each queue as it is once
    none = np.full(techs.size, -1, np.int64)
    queues = plan.edited(
        np.concatenate([ab, techs]),
        np.concatenate([drop_j, plan.place[i[both]], none]),
        np.concatenate([i, j[both], none]),
    )
    by_tech = np.zeros(seen.size)
    by_tech[techs] = queues[ab.size :]
    now: FloatArray = by_tech[ab]
    queue_a = np.zeros(n)
    queue_a[both] = queues[n : ab.size] - now[n:]
    # i and j at their new technicians (of those pairs the move has); at their own,
    # as the plan holds them
    need = np.concatenate([np.ones(n, np.bool_), has_j & has_a])
    st = np.zeros(2 * n)
    st[need], held = plan.statics(
        np.concatenate([i, jj])[need], np.concatenate([b, aa])[need],
        np.concatenate([i[has_a], jj[has_j]]),
    )  # fmt: skip
    static = (
        st[:n]
        - np.where(has_a, held[i], 0.0)
        + np.where(has_j & has_a, st[n:], 0.0)
        - np.where(has_j, held[jj], 0.0)
    )
    balance = np.where(
        has_j, 0.0, w.balance * (plan.count[b] - np.where(has_a, plan.count[aa] - 1, 0))
    )
    # an unassigned i stops paying its penalty; an ejected j starts paying its own
    penalty = np.where(
        has_a, 0.0, np.where(has_j, plan.penalty[jj], 0.0) - plan.penalty[i]
    )
    delta = queues[:n] - now[:n] + queue_a + static + balance + penalty
    moves = np.column_stack([delta, i, b, j, a, b])
    return moves[delta < -MIN_GAIN]


def _disjoint(moves: FloatArray) -> IntArray:
    """Best-first moves whose technicians and tickets are all distinct: (n, 3) int rows
    (i, B, j)."""
    order = np.lexsort((moves[:, 1], moves[:, 0]))
    used: set[int] = set()
    taken: set[int] = set()  # unassigned tickets already inserted by a picked move
    picked = []
    # the rows as Python ints (i, B, j, A, B): a loop over numpy rows reads each field
    # as a numpy scalar, several times slower
    for i, to, j, a, b in moves[order, 1:].astype(np.int64).tolist():
        if a in used or b in used or i in taken:
            continue
        used.update((a, b) if a >= 0 else (b,))
        taken.add(i)
        picked.append((i, to, j))
    return np.asarray(picked, np.int64).reshape(-1, 3)


def _verify(
    plan: _Plan, tech_of: IntArray, chosen: IntArray, inserted: BoolArray
) -> tuple[IntArray, IntArray, tuple[IntArray, IntArray, Schedule, FloatArray]]:
    """Apply the disjoint moves ``chosen`` on a copy, re-sequence the queues they touch and
    keep each move whose queues and penalties cost at least ``MIN_GAIN`` less, without
    overrun, and whose queues have no late ticket that polish inserted (``inserted``, or
    the move's own).

    Returns (kept moves (n, 3), (ticket, technician) keys of the moves rejected, and the
    touched queues as verified: rows, their technicians, schedule, cost per technician)."""
    m = plan.problem.technicians.count
    i, b, j = chosen[:, 0], chosen[:, 1], chosen[:, 2]
    a = tech_of[i]
    has_a, has_j = a >= 0, j >= 0
    trial = tech_of.copy()
    trial[i] = b
    trial[j[has_j]] = a[has_j]  # to A, or unassigned (ejected) when A < 0
    touched = np.zeros(m, np.bool_)
    touched[a[has_a]] = touched[b] = True
    cost, over, sch, rows = plan_cost(
        plan.problem, plan.weights, plan.pricing, plan.state, trial,
        plan.allow_overtime, touched,
    )  # fmt: skip
    late = np.zeros(trial.size, np.bool_)
    late[rows] = late_seconds(plan.problem, rows, sch.start_s, sch.finish_s) > 0
    aa = np.maximum(a, 0)
    jj = np.maximum(j, 0)
    delta = cost[b] - plan.cost[b] + np.where(has_a, cost[aa] - plan.cost[aa], 0.0)
    delta += np.where(
        has_a, 0.0, np.where(has_j, plan.penalty[jj], 0.0) - plan.penalty[i]
    )
    saved = inserted.copy()
    saved[i[~has_a]] = True
    lost = np.bincount(trial[rows], late[rows] & saved[rows], m) > 0
    good = (delta < -MIN_GAIN) & ~lost[b] & ~(has_a & lost[aa])
    if not plan.allow_overtime:
        good &= ~over[b] & ~(has_a & over[aa])
    return (
        chosen[good],
        pair_keys(i[~good], b[~good], m),
        (rows, trial[rows], sch, cost),
    )
