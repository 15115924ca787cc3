"""Warm re-solves of the assignment flow: start from the arcs an earlier optimum priced low.

A solve repeats the flow (:func:`solver.flow.assign_slots`) over nearly the same network:
the certification adds a few arcs, the position rounds re-price them, a polish round
re-solves with repaired capacities. The earlier optimum's node potentials
(:func:`solver.certify.potentials`) say which arcs can matter: an arc whose reduced cost
against them is large stays unused unless the changes reach far.

:func:`warm_assign` solves the flow first over the arcs whose reduced cost against the
hint potentials is at most ``WARM_SLACK``, and only over the tickets those arcs touch
(the others stay unassigned, at their penalties). The sub-solution's own potentials then
price every left-out arc; an arc with a negative reduced cost joins and the sub-network
is solved again (``WARM_ROUNDS`` at most, then the whole network). When none is negative,
the sub-solution's potentials are feasible for the whole network and complementary to
its flow, so it is optimal there too: the result is an optimum of the whole network,
exactly as :func:`solver.flow.assign_slots` would return one.

:func:`sparse_assign` solves a flow with no hint the same way: it starts from each
technician's arcs of largest gain (unassigned penalty less arc cost), as many as a few
times its free places, and each round adds, per technician, its few arcs of most
negative reduced cost against the sub-solution's potentials (while many are negative;
then every arc within ``WARM_SLACK``). The tickets that no technician would take early
stay out of the sub-network, and the flow solver's cost grows with the tickets competing
for the places more than with the arcs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from solver.certify import potentials
from solver.flow import FlowResult, assign_slots
from solver.local import places
from solver.model import SolveStatus
from solver.ordering import distinct

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy.typing as npt

    IntArray = npt.NDArray[np.int64]
    FloatArray = npt.NDArray[np.float64]
    BoolArray = npt.NDArray[np.bool_]
    Potentials = tuple[FloatArray, FloatArray]

WARM_SLACK = 3000
"""Arcs with at most this reduced cost against the hint potentials start in the
sub-network (30 weight units: 30 seconds of travel at the default weights). A small
sub-network takes a few rounds to take in the arcs the changes reach, and each round is
cheap: the flow's cost grows faster than the network (with OR-Tools' min-cost flow, 50k
x 5k, a position round's re-solve after its pricing added 2,126 arcs: 5 rounds of ~22k
arcs, 0.49 s, where at 2,000 units 3 rounds of ~240k arcs took 0.94 s and the whole
network cold 0.75 s)."""

WARM_ROUNDS = 10
"""Most sub-network solves before the whole network is solved instead."""

SPARSE_FROM = 150_000
"""Fewest arcs for which :func:`sparse_assign` starts from a sub-network; a smaller
network is solved whole. At 10k x 1k (90k and 71k arcs) the sub-networks' flows take 50
and 27 ms where the whole networks take 66 and 43, and their rounds' potentials and
pricing as much again (the solve's CPU 0.663 / 0.643 s whole, 0.683 / 0.667 sparse); at
50k x 5k (451k and 374k arcs) 0.43 and 0.30 s against 0.93 and 0.62."""

HINTED_FROM = 50_000
"""``SPARSE_FROM`` of a flow with a hint (a position round's, from the first flow's
potentials): its first sub-network is closer to the optimum. 10k x 1k, the round's flow
of 71k arcs in 4 sub-networks: the round (flow and certification) 186 / 160 ms -> 139 /
141 ms of CPU, the whole network in 41 ms against 18 ms."""

SPARSE_START = 2
"""Arcs per free place of each technician in :func:`sparse_assign`'s first
sub-network, those of largest gain (plus one)."""

SPARSE_GROW = 1
"""Arcs per free place (plus one) each technician adds per round, of its most negative
reduced costs: a round adds few tickets, so the sub-solution's potentials stay close to
the whole network's (from each ticket's cheapest arc, adding every negative arc a round
took in most tickets at once: 10k x 1k, 33k of 90k arcs from the second round, four
rounds 0.09 s where the whole network took 0.07)."""

SPARSE_TAIL = 5000
"""With fewer negative arcs than this left, a round adds every arc within
``WARM_SLACK`` instead: the last rounds add a handful of arcs each, and each re-solves
the whole sub-network (50k x 5k, the first flow: 401,742 negative arcs after the first
round, then 334,490, 40,895, 3,082, 63, 80, 0)."""

SPARSE_ROUNDS = 20
"""Most sub-network solves of :func:`sparse_assign` before the whole network."""


def warm_assign(
    n_tickets: int,
    arc_tix: IntArray,
    arc_tech: IntArray,
    arc_cost: IntArray,
    penalty: IntArray,
    free: IntArray,
    load: IntArray,
    balance_scaled: float,
    hint: Potentials,
) -> tuple[FlowResult, Potentials | None]:
    """The flow of :func:`solver.flow.assign_slots` (places from ``free`` and ``load``,
    :func:`solver.local.places`), solved warm from ``hint``: (ticket, technician)
    potentials of an earlier optimum of a similar network. Any hint gives an optimum;
    a good one gives it faster (module doc).

    Returns
    -------
    tuple
        The :class:`solver.flow.FlowResult` (arcs used, aligned with ``arc_tix``; status;
        optimal cost), and the potentials :func:`solver.certify.potentials` gives for it
        over the whole network when the sub-network proved it (None when the whole network
        was solved). They are equal: the sub-network's potentials are feasible for the
        whole network, so at most its largest ones, which are at most the sub-network's.
    """
    hint_ticket, hint_tech = hint
    reduced = arc_cost + hint_tech[arc_tech] - hint_ticket[arc_tix]
    return _grown(
        n_tickets, arc_tix, arc_tech, arc_cost, penalty, free, load, balance_scaled,
        reduced <= WARM_SLACK, _within_slack, WARM_ROUNDS,
    )  # fmt: skip


def sparse_assign(
    n_tickets: int,
    arc_tix: IntArray,
    arc_tech: IntArray,
    arc_cost: IntArray,
    penalty: IntArray,
    free: IntArray,
    load: IntArray,
    balance_scaled: float,
    hint: Potentials | None = None,
) -> tuple[FlowResult, Potentials | None]:
    """The flow of :func:`warm_assign`, from each technician's arcs of largest gain
    (``hint`` None) or of least reduced cost against ``hint`` (potentials of a similar
    network's optimum, e.g. the first flow's for a position round's re-priced arcs),
    grown a few arcs per technician a round (module doc). The same optimum of the whole
    network; networks under ``SPARSE_FROM`` arcs (``HINTED_FROM`` with a hint) are
    solved whole."""
    if arc_tix.size < (SPARSE_FROM if hint is None else HINTED_FROM):
        slot_tech, slot_cost = places(free, load, balance_scaled)
        whole = assign_slots(
            n_tickets, arc_tix, arc_tech, arc_cost, penalty, slot_tech, slot_cost,
            free.size,
        )  # fmt: skip
        return whole, None
    key: FloatArray | IntArray
    if hint is None:
        key = arc_cost - penalty[arc_tix]  # the gain, negated
    else:  # (a technician of no place and no ticket then: potential inf; here 0)
        tech_pot = np.where(np.isfinite(hint[1]), hint[1], 0.0)
        key = arc_cost + tech_pot[arc_tech] - hint[0][arc_tix]
    start = _first_per_tech(np.arange(arc_tix.size), arc_tech, key, free, SPARSE_START)
    return _grown(
        n_tickets, arc_tix, arc_tech, arc_cost, penalty, free, load, balance_scaled,
        start, _most_negative, SPARSE_ROUNDS,
    )  # fmt: skip


def _first_per_tech(
    arcs: IntArray,
    arc_tech: IntArray,
    key: FloatArray | IntArray,
    free: IntArray,
    per: int,
) -> BoolArray:
    """Of ``arcs`` (increasing), each technician's ``per x free + 1`` first by ``key``
    (per arc, integral values; ties by arc), as a mask of every arc."""
    if arcs.size == 0:
        return np.zeros(arc_tech.size, np.bool_)
    # one sort of distinct int64 keys (technician, key, arc: keys are integers, costs
    # and potentials); a lexsort of the three took 100 ms at 50k x 5k, this 28
    k = np.rint(key[arcs]).astype(np.int64)
    low = int(k.min())
    span = int(k.max()) - low + 1
    if span * (int(arc_tech.max()) + 1) * arc_tech.size < 2**62:
        combined = (arc_tech[arcs] * span + (k - low)) * arc_tech.size + arcs
        order = arcs[np.argsort(combined)]
    else:
        order = arcs[np.lexsort((arcs, k, arc_tech[arcs]))]
    tech = arc_tech[order]
    first = np.flatnonzero(np.r_[True, tech[1:] != tech[:-1]])
    rank = np.arange(tech.size) - np.repeat(first, np.diff(np.r_[first, tech.size]))
    mask = np.zeros(arc_tech.size, np.bool_)
    mask[order[rank < per * free[tech] + 1]] = True
    return mask


def _within_slack(
    keep: BoolArray, reduced: FloatArray, arc_tech: IntArray, free: IntArray
) -> BoolArray:
    """The arcs to add: every one within ``WARM_SLACK``."""
    return reduced <= WARM_SLACK


def _most_negative(
    keep: BoolArray, reduced: FloatArray, arc_tech: IntArray, free: IntArray
) -> BoolArray:
    """The arcs to add: each technician's ``SPARSE_GROW x free + 1`` of most negative
    reduced cost; with fewer than ``SPARSE_TAIL`` negative, every one within
    ``WARM_SLACK``."""
    negative = np.flatnonzero(~keep & (reduced < 0))
    if negative.size < SPARSE_TAIL:
        return _within_slack(keep, reduced, arc_tech, free)
    return _first_per_tech(negative, arc_tech, reduced, free, SPARSE_GROW)


def _grown(
    n_tickets: int,
    arc_tix: IntArray,
    arc_tech: IntArray,
    arc_cost: IntArray,
    penalty: IntArray,
    free: IntArray,
    load: IntArray,
    balance_scaled: float,
    keep: BoolArray,
    grow: Callable[[BoolArray, FloatArray, IntArray, IntArray], BoolArray],
    rounds: int,
) -> tuple[FlowResult, Potentials | None]:
    """The flow over the arcs ``keep``, grown by ``grow`` (the arcs to add, from the
    reduced costs of every arc) until no arc left out has a negative reduced cost
    (:func:`warm_assign`), ``rounds`` sub-network solves at most, then the whole
    network."""
    m = free.size
    slot_tech, slot_cost = places(free, load, balance_scaled)
    keep = keep.copy()
    pen = penalty.astype(np.float64)
    for _ in range(rounds):
        sub = np.flatnonzero(keep)
        rows = distinct(arc_tix[sub], n_tickets)
        local = np.searchsorted(rows, arc_tix[sub])
        res = assign_slots(
            rows.size, local, arc_tech[sub], arc_cost[sub], penalty[rows],
            slot_tech, slot_cost, m,
        )  # fmt: skip
        if res.status is not SolveStatus.OPTIMAL:
            break
        pot = potentials(
            rows.size, local, arc_tech[sub], arc_cost[sub], res.arc_used,
            penalty[rows], free, load, balance_scaled,
        )  # fmt: skip
        if pot is None:
            break
        p_ticket = pen.copy()  # a ticket outside the sub-network is unassigned
        p_ticket[rows] = pot[0]
        reduced = arc_cost + pot[1][arc_tech] - p_ticket[arc_tix]
        if not np.any(~keep & (reduced < 0)):
            used = np.zeros(arc_tix.size, np.bool_)
            used[sub[res.arc_used]] = True
            outside = int(penalty.sum()) - int(penalty[rows].sum())
            return FlowResult(used, res.status, res.cost + outside), (p_ticket, pot[1])
        keep |= grow(keep, reduced, arc_tech, free)
    whole = assign_slots(
        n_tickets, arc_tix, arc_tech, arc_cost, penalty, slot_tech, slot_cost, m
    )
    return whole, None
