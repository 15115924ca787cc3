"""A kept optimal flow of the exact core, changed by successive shortest paths.

The network is the one of :mod:`solver.flow`: ticket -> technician (candidate arcs,
capacity 1), ticket -> sink (the unassigned penalty), technician -> sink once per free
place (non-decreasing place costs). :class:`ResidualFlow` keeps an optimal flow of it
with node potentials ``pi`` (ticket, technician, sink) such that every residual arc has
a reduced cost ``cost + pi[head] - pi[tail] >= 0`` (:func:`solver.certify.potentials`
gives them for a flow from OR-Tools).

Changes keep that invariant:

- a ticket is *unrouted* (:meth:`ResidualFlow.unroute`): its unit of flow leaves its
  arc, so it has an excess of one and the node it fed (a technician, or the sink) a
  deficit of one; its potential drops to the lowest of its arcs' (no arc enters it now);
- an unrouted ticket is routed again (:meth:`ResidualFlow.route`) along a shortest path,
  by reduced costs, to the nearest node with a deficit (Dijkstra: all reduced costs are
  >= 0); the potentials of the nodes settled before that node rise by ``D - d``.

By the theory of successive shortest paths, once no ticket is unrouted the flow is again
optimal over its arcs (the potentials prove it). A new ticket is an unrouted ticket that
also raised the sink's demand by one. Only potentials rise, so a pair that is not an arc
can only get a negative reduced cost when its ticket's potential rose: those tickets are
in :attr:`ResidualFlow.raised`, to be priced (:func:`solver.certify.negative_pairs`).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

import numpy as np
import numpy.typing as npt

from solver.local import places_total

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

UNASSIGNED = -1
"""``tech_of`` of a ticket whose unit of flow takes the unassigned arc."""
UNROUTED = -2
"""``tech_of`` of a ticket with no flow yet (an excess to route)."""

BATCH_ARCS = 32
"""A ticket node with at least this many arcs is relaxed by arrays, not arc by arc
(:meth:`ResidualFlow._relax`): the same search either way."""

SINK = -1
"""Node id of the sink; technician ``k`` is node ``-2 - k`` (and node ``v < -1`` is
technician ``-2 - v``: the map is its own inverse); ticket ``t`` is node ``t``."""


@dataclass(frozen=True, slots=True)
class _SinkFan:
    """Technicians reached past the sink, nearest first (see ``ResidualFlow._sink_fan``)."""

    nodes: IntArray  # technician node ids
    dist: FloatArray
    via_ticket: IntArray  # the unassigned ticket passed through, or -1 (a place back)
    via_arc: IntArray  # its arc into the technician, or -1
    tickets: IntArray  # every unassigned ticket, with its distance through the sink
    ticket_dist: FloatArray


@dataclass(slots=True)
class _Search:
    """State of one shortest-path search of :meth:`ResidualFlow.route`."""

    source: int
    dist: dict[int, float] = field(default_factory=dict)
    pred: dict[int, tuple[int, int]] = field(default_factory=dict)  # (previous, arc)
    done: dict[int, float] = field(default_factory=dict)  # settled nodes
    # (d, 0 for a deficit node else 1, seq, node, it): deficit nodes first on ties;
    # it > 0: the (it-1)-th technician of the sink's fan-out, not a node; it < 0: the
    # node's entry is the next of bundle -1 - it
    heap: list[tuple[float, int, int, int, int]] = field(default_factory=list)
    fan: _SinkFan | None = None
    seq: int = 0
    bundles: list[_Bundle] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.dist[self.source] = 0.0
        self.push(0.0, 1, self.source, 0)

    def push(self, d: float, rank: int, node: int, it: int) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (d, rank, self.seq, node, it))

    def push_many(self, d: FloatArray, rank: IntArray, node: IntArray) -> None:
        """``push`` of each node in order (the same keys: ``seq`` numbers in order),
        made lazily: the entries sorted by key, only the least not yet popped in the
        heap (``next_of`` queues the one after it when it is popped). The heap pops
        the same entries in the same order."""
        order = np.lexsort((rank, d))  # stable: ties in seq (push) order
        seq = np.arange(self.seq + 1, self.seq + 1 + d.size)
        self.seq += d.size
        lists = [x[order].tolist() for x in (d, rank, seq, node)]
        self.bundles.append(_Bundle(*lists))
        self.next_of(len(self.bundles) - 1)

    def next_of(self, b: int) -> None:
        """Queue the next entry of bundle ``b``, if any."""
        bundle = self.bundles[b]
        i = bundle.at
        if i < len(bundle.d):
            bundle.at += 1
            entry = (bundle.d[i], bundle.rank[i], bundle.seq[i], bundle.node[i], -1 - b)
            heapq.heappush(self.heap, entry)


@dataclass(slots=True)
class _Bundle:
    """Heap entries pushed at once (:meth:`_Search.push_many`), sorted by their keys."""

    d: list[float]
    rank: list[int]
    seq: list[int]
    node: list[int]
    at: int = 0  # the next one to queue


@dataclass(slots=True)
class ResidualFlow:
    """An optimal flow with feasible potentials; see the module docstring."""

    arc_tix: IntArray  # per arc (dead arcs stay, out of ``arcs_of``)
    arc_tech: IntArray
    arc_cost: IntArray  # scaled
    arcs_of: list[IntArray]  # per ticket: its live arcs
    alive: npt.NDArray[np.bool_]  # per arc: live (in ``arcs_of``)
    penalty: IntArray  # scaled unassigned penalty per ticket
    free: IntArray  # places per technician
    load: IntArray  # pinned tickets per technician (place costs start after them)
    balance_scaled: float
    tech_of: IntArray  # per ticket: technician, UNASSIGNED or UNROUTED
    arc_of: IntArray  # per ticket: the arc carrying its flow, or -1
    places_used: IntArray  # per technician: place arcs carrying flow
    n_in: IntArray  # per technician: tickets routed to it
    holders: list[set[int]]  # per technician: its tickets
    pi_t: FloatArray
    pi_k: FloatArray
    pi_s: float = 0.0
    sink_deficit: int = 0
    raised: set[int] = field(default_factory=set)  # tickets whose potential rose
    settled: int = 0  # nodes settled by the shortest paths (work done)
    moved: set[int] = field(default_factory=set)  # tickets the paths re-routed
    batch_arcs: int = BATCH_ARCS  # see :meth:`_relax`
    # per arc array (by name): the buffer it is the start of, with room to append
    _room: dict[str, npt.NDArray[Any]] = field(default_factory=dict)

    @classmethod
    def from_flow(
        cls,
        n: int,
        arc_tix: IntArray,
        arc_tech: IntArray,
        arc_cost: IntArray,
        used: npt.NDArray[np.bool_],
        penalty: IntArray,
        free: IntArray,
        load: IntArray,
        balance_scaled: float,
        pot: tuple[FloatArray, FloatArray],
    ) -> ResidualFlow:
        """Keep an optimal flow (``used`` arcs) and its potentials ``pot``."""
        m = free.size
        tech_of = np.full(n, UNASSIGNED, np.int64)
        arc_of = np.full(n, -1, np.int64)
        on = np.flatnonzero(used)
        tech_of[arc_tix[on]] = arc_tech[on]
        arc_of[arc_tix[on]] = on
        n_in = np.bincount(arc_tech[on], minlength=m).astype(np.int64)
        holders: list[set[int]] = [set() for _ in range(m)]
        for t, k in zip(arc_tix[on].tolist(), arc_tech[on].tolist(), strict=True):
            holders[k].add(t)
        order = np.argsort(arc_tix, kind="stable")
        cut = np.searchsorted(arc_tix[order], np.arange(n + 1))
        arcs_of = [order[cut[i] : cut[i + 1]] for i in range(n)]
        return cls(
            arc_tix.copy(), arc_tech.copy(), arc_cost.copy(), arcs_of,
            np.ones(arc_tix.size, np.bool_),
            penalty.copy(), free.copy(), load.copy(), balance_scaled, tech_of, arc_of,
            n_in.copy(), n_in, holders, pot[0].copy(), pot[1].copy(),
        )  # fmt: skip

    @property
    def n(self) -> int:
        """Ticket rows."""
        return self.tech_of.size

    def place_cost(self, k: int, j: int) -> int:
        """Scaled cost of technician ``k``'s ``j``-th free place (:func:`solver.local.places`)."""
        return int(np.rint(self.balance_scaled * (self.load[k] + j)))

    def cost(self) -> int:
        """Scaled cost of the flow (every ticket routed): arcs, places, unassigned penalties.
        Summed over index arrays, not boolean masks (a masked gather over every ticket
        costs several times as much here)."""
        on = np.flatnonzero(self.arc_of >= 0)
        arcs = int(self.arc_cost.take(self.arc_of.take(on)).sum())
        places = places_total(self.places_used, self.load, self.balance_scaled)
        dropped = np.flatnonzero(self.tech_of == UNASSIGNED)
        return arcs + places + int(self.penalty.take(dropped).sum())

    def add_tickets(self, count: int, penalty: IntArray) -> None:
        """Append ``count`` tickets without arcs (unrouted: excesses, and the sink's
        demand grows by as many); ``penalty``: theirs (scaled)."""
        self.tech_of = np.concatenate(
            [self.tech_of, np.full(count, UNROUTED, np.int64)]
        )
        self.arc_of = np.concatenate([self.arc_of, np.full(count, -1, np.int64)])
        self.pi_t = np.concatenate([self.pi_t, np.zeros(count)])
        self.arcs_of.extend(np.zeros(0, np.int64) for _ in range(count))
        self.penalty = np.concatenate([self.penalty, penalty])
        self.sink_deficit += count
        for t in range(self.n - count, self.n):
            self.lower_potential(t)

    def add_arcs(self, tix: IntArray, tech: IntArray, cost: IntArray) -> IntArray:
        """New arcs (no flow); returns their indices. Potentials are not checked here."""
        start = self.arc_tix.size
        self.arc_tix = self._appended("arc_tix", tix)
        self.arc_tech = self._appended("arc_tech", tech)
        self.arc_cost = self._appended("arc_cost", cost)
        self.alive = self._appended("alive", np.ones(tix.size, np.bool_))
        idx = np.arange(start, start + tix.size, dtype=np.int64)
        if tix.size == 0:
            return idx
        if int(tix.min()) == int(tix.max()):  # one ticket's arcs (a new ticket's)
            one = int(tix[0])
            self.arcs_of[one] = np.concatenate([self.arcs_of[one], idx])
            return idx
        order = np.argsort(tix, kind="stable")
        rows, first = np.unique(tix[order], return_index=True)
        for r, part in zip(rows.tolist(), np.split(idx[order], first[1:]), strict=True):
            self.arcs_of[r] = np.concatenate([self.arcs_of[r], part])
        return idx

    def _appended(self, name: str, extra: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """The arc array ``name`` with ``extra`` after it: a view of a buffer with room
        for more (doubled when full), so that appending a few arcs copies only those.
        Rows past the array's end are written only here, before any view shows them."""
        now: npt.NDArray[Any] = getattr(self, name)
        end = now.size + extra.size
        buf = self._room.get(name)
        if buf is None or now.base is not buf or buf.size < end:
            buf = np.empty(max(end, 2 * now.size), now.dtype)
            buf[: now.size] = now
            self._room[name] = buf
        buf[now.size : end] = extra
        return buf[:end]

    def set_arcs(self, t: int, arcs: IntArray) -> None:
        """Replace ticket ``t``'s live arcs (the one carrying its flow must stay, or ``t``
        be unrouted first)."""
        self.alive[self.arcs_of[t]] = False
        self.alive[arcs] = True
        self.arcs_of[t] = arcs

    def live_arcs(self) -> IntArray:
        """The live arcs, ticket by ticket (each ticket's in index order, as ``arcs_of``)."""
        live = np.flatnonzero(self.alive)
        return live[np.argsort(self.arc_tix[live], kind="stable")]

    def fits(self, t: int) -> bool:
        """Whether routed ticket ``t`` can keep its flow after its costs changed: its
        potential made tight on its own arc leaves every other arc >= 0. Sets it."""
        k, a = int(self.tech_of[t]), int(self.arc_of[t])
        if k == UNROUTED or (k >= 0 and a < 0):
            return False
        own = (
            self.penalty[t] + self.pi_s
            if k == UNASSIGNED
            else self.arc_cost[a] + self.pi_k[k]
        )
        arcs = self.arcs_of[t]
        if k >= 0 and not np.any(arcs == a):
            return False
        alt = self.arc_cost[arcs] + self.pi_k[self.arc_tech[arcs]]
        if k >= 0:
            alt = alt[arcs != a]
            alt = np.append(alt, self.penalty[t] + self.pi_s)
        if alt.size and float(alt.min()) < own:
            return False
        if own > self.pi_t[t]:
            self.raised.add(t)
        self.pi_t[t] = own
        return True

    def unroute(self, t: int) -> None:
        """Take ticket ``t``'s unit of flow off its arc (see the module docstring)."""
        k = int(self.tech_of[t])
        if k == UNROUTED:
            return
        if k >= 0:
            self.holders[k].discard(t)
            self.n_in[k] -= 1
        else:
            self.sink_deficit += 1
        self.tech_of[t] = UNROUTED
        self.arc_of[t] = -1
        self.lower_potential(t)

    def lower_potential(self, t: int) -> None:
        """An unrouted ticket's potential: the least over its arcs (all then >= 0)."""
        a = self.arcs_of[t]
        best = float(self.penalty[t]) + self.pi_s
        if a.size:
            best = min(
                best, float((self.arc_cost[a] + self.pi_k[self.arc_tech[a]]).min())
            )
        self.pi_t[t] = best

    def route_all(self, unrouted: IntArray | None = None) -> None:
        """Route every unrouted ticket (lowest row first; ``unrouted``: they, ascending,
        when the caller has them). A path re-routes routed tickets only."""
        if unrouted is None:
            unrouted = np.flatnonzero(self.tech_of == UNROUTED)
        for t in unrouted.tolist():
            self.route(t)

    def _deficit(self, v: int) -> bool:
        if v == SINK:
            return self.sink_deficit > 0
        if v < 0:
            return bool(self._techs_in_deficit(-2 - v))
        return False

    def _techs_in_deficit(self, k: Any) -> Any:
        """Whether technician(s) ``k`` (an index or an array) hold more places than
        flow comes in."""
        return self.places_used[k] > self.n_in[k]

    def route(self, s: int) -> None:
        """Send unrouted ticket ``s``'s unit along a shortest path to a deficit node."""
        search = _Search(s)
        target = None
        while search.heap and target is None:
            d, _, _, v, it = heapq.heappop(search.heap)
            if it > 0:  # the it-th nearest technician past the sink (lazy: many)
                self._fan_next(search, d, it - 1)
                continue
            if it < 0:  # an entry of a bundle: queue its next
                search.next_of(-1 - it)
            if v in search.done:
                continue
            search.done[v] = d
            if self._deficit(v):
                target = v
            elif v == SINK:
                search.fan = self._sink_fan(d)
                if search.fan.nodes.size:
                    search.push(float(search.fan.dist[0]), 1, SINK, 1)
            else:
                target = self._relax(search, v, d)
        if target is None:  # cannot happen: the sink reaches every deficit node
            raise RuntimeError("residual flow: no deficit node reachable")
        self._augment(s, target, search.pred)
        self._raise(search.done, search.done[target], search.fan)

    def _ticket_arcs(
        self, v: int
    ) -> tuple[float | None, IntArray, IntArray, FloatArray]:
        """Ticket ``v``'s residual arcs: the reduced cost of its arc to the sink (None
        when it is unassigned: it has none), then its arcs to technicians other than
        the one it uses (arc ids, technicians, reduced costs)."""
        k = int(self.tech_of[v])
        sink = (
            None
            if k == UNASSIGNED
            else float(self.penalty[v] + self.pi_s - self.pi_t[v])
        )
        arcs = self.arcs_of[v]
        if k >= 0:
            arcs = arcs[arcs != self.arc_of[v]]
        heads = self.arc_tech[arcs]
        return sink, arcs, heads, self.arc_cost[arcs] + self.pi_k[heads] - self.pi_t[v]

    def _out(self, v: int) -> list[tuple[int, float, int]]:
        """Residual arcs out of ticket or technician node ``v``: (head, reduced cost, arc)."""
        pi_t, pi_k = self.pi_t, self.pi_k
        out: list[tuple[int, float, int]] = []
        if v >= 0:
            sink, arcs, heads, red = self._ticket_arcs(v)
            if sink is not None:
                out.append((SINK, sink, -1))
            out += zip((-2 - heads).tolist(), red.tolist(), arcs.tolist(), strict=True)
            return out
        k = -2 - v
        for t in self.holders[k]:
            r = -float(self.arc_cost[self.arc_of[t]]) + pi_t[t] - pi_k[k]
            out.append((t, r, -1))
        if self.places_used[k] < self.free[k]:
            r = self.place_cost(k, int(self.places_used[k])) + self.pi_s - pi_k[k]
            out.append((SINK, float(r), -1))
        return out

    def _relax(self, search: _Search, v: int, d: float) -> int | None:
        """Relax the arcs out of ``v`` (settled at ``d``); a deficit node reached at ``d``
        itself is the target (returned: nothing can be nearer). A ticket with at least
        ``batch_arcs`` arcs is relaxed by arrays (:meth:`_relax_ticket`)."""
        if v >= 0 and self.arcs_of[v].size >= self.batch_arcs:
            return self._relax_ticket(search, v, d)
        for w, r, a in self._out(v):
            hit = self._reach(search, v, d, w, r, a)
            if hit is not None:
                return hit
        return None

    def _reach(
        self, search: _Search, v: int, d: float, w: int, r: float, a: int
    ) -> int | None:
        """Relax one arc ``v -> w`` (reduced cost ``r``, arc ``a``) of :meth:`_relax`:
        ``w`` when it is the target."""
        nd = d + max(r, 0.0)
        if w in search.done or nd >= search.dist.get(w, np.inf):
            return None
        search.dist[w] = nd
        search.pred[w] = (v, a)
        deficit = self._deficit(w)
        if deficit and nd <= d:
            search.done[w] = nd
            return w
        search.push(nd, 0 if deficit else 1, w, 0)
        return None

    def _relax_ticket(self, search: _Search, v: int, d: float) -> int | None:
        """:meth:`_relax` of ticket ``v``, its technician arcs by arrays: the same
        distances, predecessors and heap entries (in the same order: the same ``seq``
        numbers) as arc by arc, with the target at the same arc. A new ticket has
        hundreds of arcs; arc by arc, one path cost ~1.5 ms."""
        sink, arcs, heads, red = self._ticket_arcs(v)
        if sink is not None:  # its arc to the sink, first (as in :meth:`_out`)
            hit = self._reach(search, v, d, SINK, sink, -1)
            if hit is not None:
                return hit
        m = self.free.size
        if np.bincount(heads, minlength=m).max(initial=0) > 1:  # one twice: arc by arc
            for w, r, a in zip((-2 - heads).tolist(), red.tolist(), arcs.tolist(),
                               strict=True):  # fmt: skip
                hit = self._reach(search, v, d, w, r, a)
                if hit is not None:
                    return hit
            return None
        nd = d + np.maximum(red, 0.0)
        # what the search knows of these technicians: settled, or reached at a distance
        seen = np.full(m, np.inf)
        settled = np.zeros(m, np.bool_)
        for w, x in search.dist.items():
            if w < SINK:
                seen[-2 - w] = x
        for w in search.done:
            if w < SINK:
                settled[-2 - w] = True
        at = np.flatnonzero(~settled[heads] & ~(nd >= seen[heads]))  # pushed, in order
        heads, nd, arcs = heads[at], nd[at], arcs[at]
        deficit = self._techs_in_deficit(heads)
        first = np.flatnonzero(deficit & (nd <= d))
        if first.size:  # the first deficit reached at d ends the search there
            i = int(first[0])
            w, x = -2 - int(heads[i]), float(nd[i])
            search.dist[w] = search.done[w] = x
            search.pred[w] = (v, int(arcs[i]))
            return w
        nodes = -2 - heads
        search.dist.update(zip(nodes.tolist(), nd.tolist(), strict=True))
        search.pred.update(
            zip(nodes.tolist(), zip(repeat(v), arcs.tolist()), strict=True)
        )
        search.push_many(nd, np.where(deficit, 0, 1), nodes)
        return None

    def _fan_next(self, search: _Search, d: float, i: int) -> None:
        """Reach the ``i``-th technician of the sink's fan-out, queue the next one."""
        fan = search.fan
        assert fan is not None
        w, u = int(fan.nodes[i]), int(fan.via_ticket[i])
        if w not in search.done and d < search.dist.get(w, np.inf):
            search.dist[w] = d
            search.pred[w] = (SINK, -1) if u < 0 else (u, int(fan.via_arc[i]))
            if u >= 0:
                search.pred[u] = (SINK, -1)
            search.push(d, 0 if self._deficit(w) else 1, w, 0)
        if i + 1 < fan.nodes.size:
            search.push(float(fan.dist[i + 1]), 1, SINK, i + 2)

    def _sink_fan(self, d: float) -> _SinkFan:
        """What the sink, settled at distance ``d``, reaches: every technician, by its
        last used place given back or through an unassigned ticket taking one of its arcs
        (those tickets are passed through, never settled one by one: there may be
        thousands), nearest first."""
        un = np.flatnonzero(self.tech_of == UNASSIGNED)
        d_un = np.full(self.n, np.inf)
        d_un[un] = d + np.maximum(self.pi_t[un] - self.penalty[un] - self.pi_s, 0.0)
        a = np.flatnonzero(self.alive & (self.tech_of[self.arc_tix] == UNASSIGNED))
        tix, tech = self.arc_tix[a], self.arc_tech[a]
        red = self.arc_cost[a] + self.pi_k[tech] - self.pi_t[tix]
        via = d_un[tix] + np.maximum(red, 0.0)
        m = self.free.size
        best = np.full(m, np.inf)
        best_arc = np.full(m, -1, np.int64)
        order = np.lexsort((via, tech))
        first = (
            np.r_[True, tech[order][1:] != tech[order][:-1]] if order.size else order
        )
        pick = order[first] if order.size else order
        best[tech[pick]] = via[pick]
        best_arc[tech[pick]] = a[pick]
        ks = np.flatnonzero(self.places_used > 0)
        top = np.rint(self.balance_scaled * (self.load[ks] + self.places_used[ks] - 1))
        back = np.full(m, np.inf)
        back[ks] = d + np.maximum(self.pi_k[ks] - top - self.pi_s, 0.0)
        use_back = back <= best
        dist = np.where(use_back, back, best)
        reach = np.flatnonzero(np.isfinite(dist))
        reach = reach[np.argsort(dist[reach], kind="stable")]
        arc = np.where(use_back[reach], -1, best_arc[reach])
        u = np.where(arc >= 0, self.arc_tix[np.maximum(arc, 0)], -1)
        return _SinkFan(-2 - reach, dist[reach], u, arc, un, d_un[un])

    def _augment(self, s: int, target: int, pred: dict[int, tuple[int, int]]) -> None:
        """Move one unit along the path from ``s`` to ``target`` found by :meth:`route`."""
        v = target
        while v != s:
            u, a = pred[v]
            if u >= 0:  # ticket u now leaves by (u -> v)
                self.moved.add(u)
                old = int(self.tech_of[u])
                if old >= 0:
                    self.holders[old].discard(u)
                    self.n_in[old] -= 1
                if v == SINK:
                    self.tech_of[u], self.arc_of[u] = UNASSIGNED, -1
                else:
                    k = -2 - v
                    self.tech_of[u], self.arc_of[u] = k, a
                    self.holders[k].add(u)
                    self.n_in[k] += 1
            elif u == SINK and v < -1:  # a place of v given back
                self.places_used[-2 - v] -= 1
            elif u < -1 and v == SINK:  # a place of u taken
                self.places_used[-2 - u] += 1
            v = u
        if target == SINK:
            self.sink_deficit -= 1

    def _raise(self, done: dict[int, float], top: float, fan: _SinkFan | None) -> None:
        """Potentials of the nodes settled closer than the target rise by the difference
        (the unassigned tickets passed through from the sink too)."""
        if fan is not None:
            near = fan.ticket_dist < top
            rows = fan.tickets[near]
            self.pi_t[rows] += top - fan.ticket_dist[near]
            self.raised.update(rows.tolist())
        for v, d in done.items():
            up = top - d
            if up <= 0:
                continue
            if v >= 0:
                self.pi_t[v] += up
                self.raised.add(v)
            elif v == SINK:
                self.pi_s += up
            else:
                self.pi_k[-2 - v] += up
        self.settled += len(done)

    def min_reduced_cost(self) -> float:
        """Least reduced cost over every residual arc (>= 0 when the potentials are
        valid): a check, O(arcs)."""
        live = np.concatenate(
            [a for a in self.arcs_of if a.size] or [np.zeros(0, np.int64)]
        )
        used = np.zeros(self.arc_tix.size, np.bool_)
        used[self.arc_of[self.arc_of >= 0]] = True
        red = (
            self.arc_cost[live]
            + self.pi_k[self.arc_tech[live]]
            - self.pi_t[self.arc_tix[live]]
        )
        red = np.where(used[live], -red, red)
        un = self.tech_of == UNASSIGNED
        r_pen = self.penalty + self.pi_s - self.pi_t
        r_pen = np.where(un, -r_pen, r_pen)
        ks = np.arange(self.free.size)
        j = self.places_used
        nxt = np.rint(self.balance_scaled * (self.load + j)) + self.pi_s - self.pi_k
        nxt = np.where(j < self.free, nxt, np.inf)
        top = self.pi_k - np.rint(self.balance_scaled * (self.load + j - 1)) - self.pi_s
        top = np.where(j > 0, top, np.inf)
        del ks
        values = [red, r_pen[self.tech_of != UNROUTED], nxt, top]
        return float(min((x.min() for x in values if x.size), default=0.0))
