"""The kept flow (solver.residual): shortest augmenting paths keep it optimal, as OR-Tools."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from solver.certify import potentials
from solver.flow import assign_slots
from solver.local import places
from solver.model import SolveStatus
from solver.residual import ResidualFlow


def _arcs(
    rng: np.random.Generator,
    rows: np.ndarray,
    m: int,
    most: int = 4,
    repeats: bool = False,
    scale: int = 1000,
) -> tuple[np.ndarray, ...]:
    """Random arcs of ``rows``: 0-``most`` technicians each (distinct, or drawn with
    ``repeats``), costs below ``scale``."""
    tix, tech = [], []
    for r in rows.tolist():
        size = int(rng.integers(0, (most if repeats else min(m, most)) + 1))
        k = rng.choice(m, size=size, replace=repeats)
        tix += [r] * k.size
        tech += k.tolist()
    t, k = np.asarray(tix, np.int64), np.asarray(tech, np.int64)
    return t, k, rng.integers(0, scale, t.size).astype(np.int64)


def _optimum(flow: ResidualFlow) -> int:
    """OR-Tools' optimum over the flow's live arcs, from scratch."""
    live = np.flatnonzero(flow.alive)
    slot_tech, slot_cost = places(flow.free, flow.load, flow.balance_scaled)
    res = assign_slots(
        flow.n, flow.arc_tix[live], flow.arc_tech[live], flow.arc_cost[live],
        flow.penalty, slot_tech, slot_cost, flow.free.size,
    )  # fmt: skip
    assert res.status is SolveStatus.OPTIMAL
    return res.cost


def _kept_flow(
    rng: np.random.Generator, n0: int, m: int, scale: int = 1000
) -> tuple[ResidualFlow, int]:
    """A random network's optimal flow kept (and OR-Tools' optimum of it); arc costs
    below ``scale``, penalties below 1.5 x, place steps below 0.3 x."""
    free = rng.integers(0, 4, m).astype(np.int64)
    load = rng.integers(0, 3, m).astype(np.int64)
    balance = float(rng.integers(0, max(1, 3 * scale // 10)))
    tix, tech, cost = _arcs(rng, np.arange(n0), m, scale=scale)
    penalty = rng.integers(0, 3 * scale // 2, n0).astype(np.int64)
    slot_tech, slot_cost = places(free, load, balance)
    res = assign_slots(n0, tix, tech, cost, penalty, slot_tech, slot_cost, m)
    pot = potentials(n0, tix, tech, cost, res.arc_used, penalty, free, load, balance)
    assert pot is not None
    flow = ResidualFlow.from_flow(
        n0, tix, tech, cost, res.arc_used, penalty, free, load, balance, pot
    )
    return flow, res.cost


def _change(
    flow: ResidualFlow,
    op: str,
    rng: np.random.Generator,
    most: int = 4,
    scale: int = 1000,
) -> tuple[np.ndarray, ...]:
    """Append a ticket with up to ``most`` arcs (above 4, a technician may have two),
    or re-price a row (its arcs replaced by others with other costs, its penalty
    changed); costs as :func:`_kept_flow`'s; the arcs added."""
    m = flow.free.size
    if op == "append":
        flow.add_tickets(1, rng.integers(0, 3 * scale // 2, 1).astype(np.int64))
        t = flow.n - 1
        repeats = most > 4 and rng.random() < 0.3
        arcs = _arcs(rng, np.asarray([t]), m, most, repeats, scale)
        flow.add_arcs(*arcs)
        flow.lower_potential(t)
        return arcs
    t = int(rng.integers(0, flow.n))
    flow.penalty[t] = rng.integers(0, 3 * scale // 2)
    a_t, a_k, a_c = _arcs(rng, np.asarray([t]), m, scale=scale)
    k = int(flow.tech_of[t])
    if k >= 0 and rng.random() < 0.5 and k not in a_k.tolist():
        a_t, a_k = np.append(a_t, t), np.append(a_k, k)  # keep its technician
        a_c = np.append(a_c, rng.integers(0, scale))
    idx = flow.add_arcs(a_t, a_k, a_c)
    flow.set_arcs(t, idx)
    own = idx[a_k == k] if k >= 0 else idx[:0]
    flow.arc_of[t] = own[0] if own.size else -1
    if not flow.fits(t):
        flow.unroute(t)
    return a_t, a_k, a_c


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 30), st.integers(1, 6), st.integers(1, 3))
def test_added_arcs_join_their_tickets_arcs(
    seed: int, n0: int, m: int, tickets: int
) -> None:
    """Arcs added to a kept flow (of one ticket, as a new ticket's or a priced row's,
    or of several) are appended to each ticket's arcs after the ones it had, in the
    order given; every other ticket's arcs are unchanged."""
    rng = np.random.default_rng(seed)
    flow, _ = _kept_flow(rng, n0, m)
    before = [a.tolist() for a in flow.arcs_of]
    rows = rng.choice(n0, size=min(tickets, n0), replace=False)
    tix, tech, cost = _arcs(rng, rows, m, most=5, repeats=True)
    idx = flow.add_arcs(tix, tech, cost)
    for t in range(n0):
        assert flow.arcs_of[t].tolist() == before[t] + idx[tix == t].tolist()


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 10**6),
    st.integers(1, 30),
    st.integers(1, 6),
    st.lists(st.sampled_from(["append", "reprice"]), min_size=1, max_size=8),
)
def test_paths_keep_the_flow_optimal(
    seed: int, n0: int, m: int, ops: list[str]
) -> None:
    """Random networks, then random appended tickets and re-priced rows (a row's arcs
    replaced by others with other costs, its penalty changed): after routing, the kept
    flow costs exactly OR-Tools' optimum from scratch and every residual arc has a
    reduced cost >= 0 (the potentials prove it). The arcs appended in place (buffers
    with room) are every arc added, in order."""
    rng = np.random.default_rng(seed)
    flow, cost = _kept_flow(rng, n0, m)
    assert flow.cost() == cost
    added = [(flow.arc_tix.copy(), flow.arc_tech.copy(), flow.arc_cost.copy())]
    for op in ops:
        added.append(_change(flow, op, rng))
        for got, want in zip((flow.arc_tix, flow.arc_tech, flow.arc_cost),
                             zip(*added, strict=True), strict=True):  # fmt: skip
            assert np.array_equal(got, np.concatenate(want))
        assert flow.alive.size == flow.arc_tix.size
        flow.route_all()
        assert flow.cost() == _optimum(flow)
        assert flow.min_reduced_cost() >= 0


@settings(max_examples=80, deadline=None)
@given(
    st.integers(0, 10**6),
    st.integers(1, 30),
    st.integers(1, 12),
    st.lists(st.sampled_from(["append", "reprice"]), min_size=1, max_size=8),
    st.sampled_from([4, 1000]),
)
def test_relaxing_by_arrays_is_the_same_search(
    seed: int, n0: int, m: int, ops: list[str], scale: int
) -> None:
    """The same random changes to two copies of a kept flow, one relaxing every ticket
    node by arrays (``batch_arcs=0``), the other arc by arc: after each routing both
    have the same flow, potentials, moved and raised tickets (the same paths, the same
    ties broken the same way). Appended tickets have up to 12 arcs, some to a
    technician twice; costs below 4 make many ties."""
    flows = []
    for batch in (0, 10**9):
        rng = np.random.default_rng(seed)
        flow, _ = _kept_flow(rng, n0, m, scale)
        flow.batch_arcs = batch
        flows.append((flow, rng))
    for op in ops:
        for flow, rng in flows:
            _change(flow, op, rng, 12, scale)
            flow.route_all()
        (a, _), (b, _) = flows
        for name in ("tech_of", "arc_of", "pi_t", "pi_k", "places_used", "n_in"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
        assert (a.pi_s, a.sink_deficit) == (b.pi_s, b.sink_deficit)
        assert (a.moved, a.raised, a.settled) == (b.moved, b.raised, b.settled)
