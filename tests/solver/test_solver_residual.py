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


def _arcs(rng: np.random.Generator, rows: np.ndarray, m: int) -> tuple[np.ndarray, ...]:
    """Random arcs of ``rows``: 0-4 distinct technicians each, costs 0-999."""
    tix, tech = [], []
    for r in rows.tolist():
        k = rng.choice(m, size=int(rng.integers(0, min(m, 4) + 1)), replace=False)
        tix += [r] * k.size
        tech += k.tolist()
    t, k = np.asarray(tix, np.int64), np.asarray(tech, np.int64)
    return t, k, rng.integers(0, 1000, t.size).astype(np.int64)


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
    free = rng.integers(0, 4, m).astype(np.int64)
    load = rng.integers(0, 3, m).astype(np.int64)
    balance = float(rng.integers(0, 300))
    tix, tech, cost = _arcs(rng, np.arange(n0), m)
    penalty = rng.integers(0, 1500, n0).astype(np.int64)
    slot_tech, slot_cost = places(free, load, balance)
    res = assign_slots(n0, tix, tech, cost, penalty, slot_tech, slot_cost, m)
    pot = potentials(n0, tix, tech, cost, res.arc_used, penalty, free, load, balance)
    assert pot is not None
    flow = ResidualFlow.from_flow(
        n0, tix, tech, cost, res.arc_used, penalty, free, load, balance, pot
    )
    assert flow.cost() == res.cost
    added = [(tix, tech, cost)]
    for op in ops:
        if op == "append":
            flow.add_tickets(1, rng.integers(0, 1500, 1).astype(np.int64))
            t = flow.n - 1
            arcs = _arcs(rng, np.asarray([t]), m)
            flow.add_arcs(*arcs)
            added.append(arcs)
            flow.lower_potential(t)
        else:
            t = int(rng.integers(0, flow.n))
            flow.penalty[t] = rng.integers(0, 1500)
            a_t, a_k, a_c = _arcs(rng, np.asarray([t]), m)
            k = int(flow.tech_of[t])
            if k >= 0 and rng.random() < 0.5 and k not in a_k.tolist():
                a_t, a_k = np.append(a_t, t), np.append(a_k, k)  # keep its technician
                a_c = np.append(a_c, rng.integers(0, 1000))
            idx = flow.add_arcs(a_t, a_k, a_c)
            added.append((a_t, a_k, a_c))
            flow.set_arcs(t, idx)
            own = idx[a_k == k] if k >= 0 else idx[:0]
            flow.arc_of[t] = own[0] if own.size else -1
            if not flow.fits(t):
                flow.unroute(t)
        for got, want in zip((flow.arc_tix, flow.arc_tech, flow.arc_cost),
                             zip(*added, strict=True), strict=True):  # fmt: skip
            assert np.array_equal(got, np.concatenate(want))
        assert flow.alive.size == flow.arc_tix.size
        flow.route_all()
        assert flow.cost() == _optimum(flow)
        assert flow.min_reduced_cost() >= 0
