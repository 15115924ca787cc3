"""The certificate's node potentials (solver.certify.potentials) are the residual network's
distances to the sink.

Random networks and random feasible assignments (optimal or not) against a plain
Bellman-Ford over the residual arcs written out one by one: the same potentials, and None
exactly when the assignment leaves a negative cycle (it is not optimal).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from solver.certify import potentials
from solver.constants import COST_SCALE
from solver.flow import assign_slots
from solver.local import places

BALANCE = 0.5 * COST_SCALE


def _network(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 25)), int(rng.integers(1, 8))
    tix, tech = np.nonzero(rng.random((n, m)) < rng.uniform(0.2, 1.0))
    scale = int(rng.choice([10, 1_000, 10 * COST_SCALE]))
    return {
        "n": n,
        "tix": tix.astype(np.int64),
        "tech": tech.astype(np.int64),
        "cost": rng.integers(-scale // 10, scale, tix.size).astype(np.int64),
        "penalty": rng.integers(0, scale, n).astype(np.int64),
        "free": rng.integers(0, 4, m).astype(np.int64),
        "load": rng.integers(0, 2, m).astype(np.int64),
    }


def _random_assignment(net: dict, seed: int) -> np.ndarray:
    """Each ticket on one of its arcs or none, no technician past its free places."""
    rng = np.random.default_rng(seed)
    used = np.zeros(net["tix"].size, np.bool_)
    room = net["free"].copy()
    for t in rng.permutation(net["n"]):
        arcs = np.flatnonzero(net["tix"] == t)
        if arcs.size == 0 or rng.random() < 0.3:
            continue
        a = int(rng.choice(arcs))
        if room[net["tech"][a]] > 0:
            room[net["tech"][a]] -= 1
            used[a] = True
    return used


def _reference(net: dict, used: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Distances to the sink by Bellman-Ford over the residual arcs, one by one."""
    n, m = net["n"], net["free"].size
    tix, tech, cost, penalty = net["tix"], net["tech"], net["cost"], net["penalty"]
    count = np.bincount(tech[used], minlength=m)
    slot_tech, slot_cost = places(net["free"], net["load"], BALANCE)
    sink = n + m
    arcs: list[tuple[int, int, int]] = []  # residual arc (from, to, cost)
    for k in range(m):
        if count[k] < net["free"][k]:  # its first free place
            arcs.append((n + k, sink, int(slot_cost[slot_tech == k][count[k]])))
    assigned = set(tix[used].tolist())
    for a in range(tix.size):
        t, k, c = int(tix[a]), int(tech[a]), int(cost[a])
        if used[a]:
            arcs.append((n + k, t, -c))  # back through the ticket it holds
        elif t in assigned:
            arcs.append((t, n + k, c))
    arcs += [(t, sink, int(penalty[t])) for t in assigned]
    dist = [math.inf] * (sink + 1)
    dist[sink] = 0
    for _ in range(sink + 1):
        changed = False
        for u, v, c in arcs:
            if dist[v] + c < dist[u]:
                dist[u] = dist[v] + c
                changed = True
        if not changed:
            break
    else:
        return None  # still falling after as many passes as nodes: a negative cycle
    d_tech = np.array(dist[n:sink], np.float64)
    d_ticket = penalty.astype(np.float64)
    d_ticket[tix[used]] = cost[used] + d_tech[tech[used]]
    return d_ticket, d_tech


def _potentials(net: dict, used: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    return potentials(
        net["n"], net["tix"], net["tech"], net["cost"], used, net["penalty"],
        net["free"], net["load"], BALANCE,
    )  # fmt: skip


def _same(
    got: tuple[np.ndarray, np.ndarray] | None,
    want: tuple[np.ndarray, np.ndarray] | None,
) -> bool:
    if got is None or want is None:
        return got is None and want is None
    return np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_potentials_of_any_assignment_are_the_residual_distances(
    net_seed: int, seed: int
) -> None:
    net = _network(net_seed)
    used = _random_assignment(net, seed)
    assert _same(_potentials(net, used), _reference(net, used))


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_potentials_of_the_optimal_flow_are_the_residual_distances(seed: int) -> None:
    net = _network(seed)
    slot_tech, slot_cost = places(net["free"], net["load"], BALANCE)
    res = assign_slots(
        net["n"], net["tix"], net["tech"], net["cost"], net["penalty"],
        slot_tech, slot_cost, net["free"].size,
    )  # fmt: skip
    want = _reference(net, res.arc_used)
    assert want is not None  # an optimum leaves no negative cycle
    assert _same(_potentials(net, res.arc_used), want)
