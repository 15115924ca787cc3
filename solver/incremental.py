"""Incremental re-solve: keep the last optimal flow and add small changes to it.

Accepted changes since the previous call (anything else triggers a cold solve):
- tickets appended at the end (new rows, not pinned; their excluded/preferred pairs
  appended after the old ones);
- ``current_technician`` of old, unpinned rows changed (e.g. the caller committed the
  previous decision).
The clock, the technicians and every other ticket field must be unchanged.

**Sparse regions** (more pairs than ``DENSE_PAIRS_MAX``, the certified regime): the
cold solve's certified flow and its node potentials are kept
(:class:`solver.residual.ResidualFlow`). A call then

1. re-prices the arcs of the rows whose incumbent changed (stability, penalty, churn
   rule) and keeps their flow where it is still the cheapest by reduced cost (always so
   when a ticket's new incumbent is its flow technician), else unroutes it;
2. gives each new ticket its candidate arcs and routes every unrouted ticket by one
   shortest augmenting path (successive shortest paths: the flow is again optimal over
   its arcs, with potentials that prove it);
3. certifies it over all pairs like the cold solve (:func:`solver.certify.negative_pairs`)
   but only for the tickets whose potential rose or whose costs changed: any other
   pruned pair's reduced cost can only have grown. Pairs found join the arcs and their
   tickets are re-routed, until none remains. So the flow objective *is* the cold
   solve's flow objective (``flow_cost``), the bound of both plans;
4. turns the new tickets into the plan (:mod:`solver.incremental_plan`): the previous
   plan (what the caller committed, shaped by the position rounds and polish of the
   cold solve) with the new tickets and the tickets their paths moved put where the
   flow put them, then the refill on the queues that changed. Other changes of the flow
   (re-routed rows, pricing rounds) are not copied into the plan: they would undo the
   cold solve's driven-cost work. No position rounds, no polish. The status is OPTIMAL
   only when this plan costs the certified flow optimum in the flow model, else
   FEASIBLE with that optimum as ``stats.model_bound``.

A cold solve runs every ``cold_every`` calls, and whenever the pricing could not finish
(time limit) or needed more than ``PRICING_ROUNDS`` rounds.

**Dense regions** (every useful pair is an arc), or when the cold flow gave no
potentials: the candidate arcs of unchanged rows are re-used and the whole core runs
again from a fresh state (:func:`solver.core.run_core`): the plan *is* the cold solve's
plan there. Both regimes are tested (tests/solver/test_solver_incremental.py).
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from solver.candidates import Candidates, build_candidates, skill_groups
from solver.certify import (
    Certificate,
    PricingGroup,
    negative_pairs,
    potentials,
    pricing_groups,
)
from solver.constants import COST_SCALE
from solver.core import CERTIFY_SLACK, Core, certified_flow, run_core
from solver.cost import (
    clips,
    evaluate_pairs,
    grow_reach_s,
    grow_skill_rows,
    pair_keys,
    to_scaled,
)
from solver.finalize import RunInfo
from solver.finalize_cache import FinalizeCache
from solver.flow import assign_slots
from solver.incremental_plan import plan_step
from solver.local import places
from solver.model import TICKET_ROW_FIELDS, SolveStatus
from solver.residual import UNROUTED, ResidualFlow
from solver.row_prices import RowPrices
from solver.solve import cold_core
from solver.validate import validate_incremental

if TYPE_CHECKING:
    import numpy.typing as npt

    from solver.cost import TechState
    from solver.model import Problem, Solution, SolveParams

    IntArray = npt.NDArray[np.int64]

PRICING_ROUNDS = 8
"""Most pricing rounds of one incremental call before it gives up and solves cold."""

PATHS_MAX = 32
"""Most tickets routed by shortest paths in one go; more (e.g. the first call after a
cold solve, when the committed plan differs from the flow in many rows) and the flow is
solved again by OR-Tools over the kept arcs, then certified over every row."""


def _same(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> bool:
    """``np.array_equal(a, b, equal_nan=True)`` (NaN lat/lon = no location, the same in
    both), first by their bits: the same bits are the same values. Numbers are compared
    as unsigned integers of their size, without copies (a third of the CPU of comparing
    their bytes at 10k rows, and of ``array_equal``'s NaN passes)."""
    if a is b:
        return True
    if a.dtype == b.dtype and a.shape == b.shape:
        size = a.dtype.itemsize
        if a.dtype.kind in "biuf" and size <= 8:
            bits = f"u{size}"
            if bool(np.array_equal(a.view(bits), b.view(bits))):
                return True
        elif a.tobytes() == b.tobytes():
            return True
    return bool(np.array_equal(a, b, equal_nan=True))


class _GiveUp(Exception):
    """The incremental step cannot prove its flow: solve cold."""


class IncrementalSolver:
    """Keeps the working set of the last solve and re-solves small changes locally.

    Parameters
    ----------
    params
        Solver parameters (fixed for the object's life).
    max_new
        Most appended tickets handled incrementally; more trigger a cold solve.
    cold_every
        A cold solve at least every this many calls.
    """

    def __init__(
        self,
        params: SolveParams,
        *,
        max_new: int = 64,
        cold_every: int = 50,
    ) -> None:
        validate_incremental(max_new, cold_every)
        self.params = params
        self.max_new = max_new
        self.cold_every = cold_every
        self.last_mode = "none"  # "cold" or "incremental": what the last call did
        self.flow_cost: int | None = None  # scaled optimum of the last certified flow
        self._problem: Problem | None = None
        self._core: Core | None = None  # dense regime: the last working set
        self._flow: ResidualFlow | None = None  # sparse regime: the kept flow
        # (ticket, technician) potentials at the last completed certification
        self._ref: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None = None
        self._state: TechState | None = None
        self._prices: RowPrices | None = None  # of the last problem
        # the last incremental call's drop penalty (None: none since the cold solve)
        self._pen_w: npt.NDArray[np.float64] | None = None
        self._plan: IntArray | None = None  # the last returned decision (movable rows)
        self._calls_since_cold = 0
        self._finalize = FinalizeCache()  # the last solution's rows
        self.resolved = (
            0  # incremental calls that re-solved the whole flow (many paths)
        )

    def _kept(self) -> ResidualFlow:
        assert self._flow is not None
        return self._flow

    @property
    def flow_kept(self) -> bool:
        """Whether the next compatible call updates a kept flow (the sparse regime)."""
        return self._flow is not None

    def reset(self) -> None:
        """Forget the cached work: the next call solves cold."""
        self._problem = self._core = self._flow = None
        self._finalize.reset()

    def solve(self, problem: Problem) -> Solution:
        """Solve ``problem``, incrementally when only the accepted changes happened.

        Parameters
        ----------
        problem
            The region now.

        Returns
        -------
        Solution
            As :func:`solver.solve`; ``stats.phases_s`` has an ``"incremental"`` entry
            when the incremental path ran.
        """
        t0 = time.perf_counter()
        old = self._problem
        if old is None or not self._compatible(old, problem):
            return self._cold(problem, t0)
        grow_skill_rows(old, problem)  # only the new rows' (read by grow_reach_s)
        grow_reach_s(old, problem)  # only the new rows' (and whether they are savable)
        if self._flow is None:
            return self._rebuild(problem, t0)
        try:
            sol = self._step(problem, t0)
        except _GiveUp:
            sol = None
        return self._cold(problem, time.perf_counter()) if sol is None else sol

    def _cold(self, problem: Problem, t0: float) -> Solution:
        params = self.params
        core, t1 = cold_core(problem, params, t0)
        state = core.state
        res = certified_flow(core)
        self._flow = self._keep_flow(core, res.arc_used, res.status)
        if self._flow is not None:  # the potentials the certificate last held at
            self._ref = (self._flow.pi_t.copy(), self._flow.pi_k.copy())
        self.flow_cost = res.cost if res.status is SolveStatus.OPTIMAL else None
        tech_of, status = run_core(core, res)
        self._core, self._problem, self._state = core, problem, state
        self._prices = RowPrices.of(problem, params.weights)
        self._pen_w = None
        self._plan = tech_of
        self._calls_since_cold = 0
        self.last_mode = "cold"
        phases = {"candidates": t1 - t0, "assignment": time.perf_counter() - t1}
        self._finalize.reset()
        run = RunInfo(status, core.cands.tix.size, phases, t0, core.certificate,
                      core.bound_gap)  # fmt: skip
        return self._finalize.finalize(
            problem, params, state, tech_of, run, self._prices
        )

    def _keep_flow(
        self, core: Core, used: npt.NDArray[np.bool_], status: SolveStatus
    ) -> ResidualFlow | None:
        """The certified sparse flow with its potentials, or None (dense regime,
        all pairs, uncertified, no potentials)."""
        cert = core.certificate
        if (
            status is not SolveStatus.OPTIMAL
            or self.params.all_pairs
            or cert is None
            or not cert.certified
            or cert.rounds == 0  # dense: every useful pair is an arc
        ):
            return None
        c, state = core.cands, core.state
        n = core.problem.tickets.count
        pot = core.hint or potentials(
            n, c.tix, c.tech, core.arc_cost, used, core.penalty, core.free,
            state.load, core.balance_scaled,
        )  # fmt: skip
        if pot is None:
            return None
        return ResidualFlow.from_flow(
            n, c.tix, c.tech, core.arc_cost, used, core.penalty, core.free,
            state.load, core.balance_scaled, pot,
        )  # fmt: skip

    def _rebuild(self, problem: Problem, t0: float) -> Solution:
        """Dense regime: re-used arcs, the whole core again (the cold solve's plan)."""
        core = self._core
        assert core is not None
        old_n = core.problem.tickets.count
        changed = np.flatnonzero(
            problem.tickets.current_technician[:old_n]
            != core.problem.tickets.current_technician
        )
        # New rows and rows whose incumbent changed get their arcs exactly as a cold solve
        # builds them: the incumbent moves their costs (stability), their penalty and
        # which moves are allowed at all (the churn rule).
        rebuilt = np.concatenate(
            [changed, np.arange(old_n, problem.tickets.count, dtype=np.int64)]
        )
        cands = self._rebuilt_candidates(core, problem, rebuilt)
        # The whole flow again, from the state before any shift repair (a fresh Core: the
        # repair's dead arcs and reduced places belong to the previous problem; kept, they
        # made later plans up to 3% worse than a cold solve's).
        core = self._core = Core.build(problem, self.params, core.state, cands)
        core.deadline = t0 + self.params.time_limit_s
        t1 = time.perf_counter()
        res = certified_flow(core)
        self.flow_cost = res.cost if res.status is SolveStatus.OPTIMAL else None
        tech_of, status = run_core(core, res)
        self._problem, self._plan = problem, tech_of
        self._calls_since_cold += 1
        self.last_mode = "incremental"
        phases = {"incremental": t1 - t0, "assignment": time.perf_counter() - t1}
        run = RunInfo(status, core.cands.tix.size, phases, t0, core.certificate,
                      core.bound_gap)  # fmt: skip
        return self._finalize.finalize(problem, self.params, core.state, tech_of, run)

    def _step(self, problem: Problem, t0: float) -> Solution | None:
        """Sparse regime: the kept flow updated by shortest paths, certified locally, and
        the plan changed where the flow changed (see the module docstring). None: give
        up (the caller solves cold)."""
        flow, state, old = self._flow, self._state, self._problem
        assert flow is not None
        assert state is not None
        assert old is not None
        assert self._plan is not None
        params, w = self.params, self.params.weights
        deadline = t0 + params.time_limit_s
        n0, n = old.tickets.count, problem.tickets.count
        assert self._prices is not None  # the sparse regime starts with a cold solve
        prices = self._prices = self._prices.grown(problem, w)
        changed = np.flatnonzero(
            problem.tickets.current_technician[:n0] != old.tickets.current_technician
        )
        # the last call's drop penalty, the rows with a new incumbent and the new rows'
        # computed (elementwise: the flow keeps the other rows' scaled ones)
        pen_w = self._pen_w = prices.drop_penalty(problem, w, self._pen_w, changed)
        clipped = clips(pen_w)
        flow.penalty[changed] = to_scaled(pen_w[changed])
        to_price = set(self._reprice_rows(problem, changed, pen_w).tolist())
        to_price |= self._route(problem)  # the rows whose costs changed first
        new = np.arange(n0, n, dtype=np.int64)
        flow = self._kept()
        if new.size:
            fresh = build_candidates(problem, params, state, new, pen_w)
            clipped |= clips(fresh.cost)
            flow.add_tickets(new.size, to_scaled(pen_w[new]))
            flow.add_arcs(fresh.tix, fresh.tech, to_scaled(fresh.cost))
            for t in new.tolist():
                flow.lower_potential(t)
            to_price.update(new.tolist())
        flow.moved = set()
        to_price |= self._route(problem)
        # the new tickets and those their paths moved (none known after a re-solve)
        path = flow.moved if self._flow is flow else set()
        moved = np.union1d(new, np.asarray(sorted(path), np.int64))
        t1 = time.perf_counter()
        cert = self._certify(problem, to_price, deadline, pen_w)
        if cert is None:
            return None
        flow = self._kept()
        self.flow_cost = flow_cost = flow.cost()
        t2 = time.perf_counter()
        step = plan_step(problem, params, state, flow, self._plan, moved, prices.late)
        plan, cost = step.plan, step.cost
        status = SolveStatus.OPTIMAL if cost == flow_cost else SolveStatus.FEASIBLE
        self._problem, self._plan = problem, plan
        self._calls_since_cold += 1
        self.last_mode = "incremental"
        phases = {
            "incremental": t1 - t0,
            "certificate": t2 - t1,
            "assignment": time.perf_counter() - t2,
        }
        run = RunInfo(
            SolveStatus.OVERFLOW if clipped else status, step.arcs,
            phases, t0, cert, (cost - flow_cost) / COST_SCALE,
        )  # fmt: skip
        return self._finalize.finalize(problem, params, state, plan, run, prices)

    def _reprice_rows(
        self, problem: Problem, rows: IntArray, pen_w: npt.NDArray[np.float64]
    ) -> IntArray:
        """New arcs for ``rows`` (their incumbent changed): their arcs and the pair with
        the new incumbent, re-evaluated (costs, churn rule). A row keeps its flow when it
        is still its cheapest by reduced cost, else it is unrouted. Returns the rows
        whose pruned pairs may now have a negative reduced cost (to price): all but those
        whose new incumbent is their flow technician and that had none before (then
        every cost of the row rose or stayed, and its potential is unchanged)."""
        flow, state, old = self._flow, self._state, self._problem
        assert flow is not None
        assert state is not None
        assert old is not None
        if rows.size == 0:
            return rows
        m = problem.technicians.count
        cur = problem.tickets.current_technician
        arcs = [flow.arcs_of[t] for t in rows.tolist()]
        tix = np.concatenate([flow.arc_tix[a] for a in arcs] + [rows])
        tech = np.concatenate([flow.arc_tech[a] for a in arcs] + [cur[rows]])
        ok = tech >= 0
        _, first = np.unique(pair_keys(tix[ok], tech[ok], m), return_index=True)
        tix, tech = tix[ok][first], tech[ok][first]
        ev, _ = evaluate_pairs(
            problem, self.params.weights, state, tix, tech, self.params.allow_overtime
        )
        keep = ev.feasible & (ev.total < pen_w[tix])
        old_cost = {
            int(t): float(flow.arc_cost[a])
            for t, a in zip(rows, flow.arc_of[rows], strict=False)
            if a >= 0
        }
        idx = flow.add_arcs(tix[keep], tech[keep], to_scaled(ev.total[keep]))
        by_row = dict.fromkeys(rows.tolist(), np.zeros(0, np.int64))
        t_kept = tix[keep]
        order = np.argsort(t_kept, kind="stable")
        r_u, r_first = np.unique(t_kept[order], return_index=True)
        if r_u.size:
            parts = np.split(idx[order], r_first[1:])
            for r, part in zip(r_u.tolist(), parts, strict=True):
                by_row[r] = part
        price = []
        was = old.tickets.current_technician
        for t, a_new in by_row.items():
            flow.set_arcs(t, a_new)
            k = int(flow.tech_of[t])
            if k >= 0:
                own = a_new[flow.arc_tech[a_new] == k]
                flow.arc_of[t] = own[0] if own.size else -1
            same = (
                was[t] < 0
                and cur[t] == k >= 0
                and flow.arc_of[t] >= 0
                and float(flow.arc_cost[flow.arc_of[t]]) == old_cost.get(t)
            )
            if not flow.fits(t):
                flow.unroute(t)
            if not same:
                price.append(t)
        return np.asarray(price, np.int64)

    def _certify(
        self,
        problem: Problem,
        rows: set[int],
        deadline: float,
        pen_w: npt.NDArray[np.float64],
    ) -> Certificate | None:
        """Price the pruned pairs of ``rows`` (new, or their costs changed: every pair)
        and of every ticket whose potential rose (only the pairs whose ticket potential
        rose more than their technician's since the last completed certification,
        ``negative_pairs(since=...)``: any other pair's reduced cost can only have
        grown), add the improving ones, re-route, until none remains. None: not proven
        (time limit or too many rounds)."""
        flow, state, ref = self._flow, self._state, self._ref
        assert flow is not None
        assert state is not None
        assert ref is not None
        m, n = problem.technicians.count, problem.tickets.count
        pinned = problem.tickets.pinned
        rounds = priced = evaluated = added = 0
        since_t = np.full(n, -np.inf)  # a fresh row: all its pairs are priced
        since_t[: ref[0].size] = ref[0]
        since_t[np.asarray(sorted(rows), np.int64)] = -np.inf
        since = (since_t, ref[1])
        rows = rows | flow.raised
        flow.raised = set()
        movable = int(np.count_nonzero(~pinned))
        while True:
            flow = self._kept()
            todo = np.asarray(sorted(rows), np.int64)
            todo = todo[~pinned[todo]]
            if todo.size == 0:
                self._ref = (flow.pi_t.copy(), flow.pi_k.copy())
                return Certificate(rounds, priced, evaluated, added, True)
            rounds += 1
            if rounds > PRICING_ROUNDS:
                return None
            arcs = [flow.arcs_of[t] for t in todo.tolist()]
            live = np.concatenate(arcs) if arcs else np.zeros(0, np.int64)
            keys = np.sort(pair_keys(flow.arc_tix[live], flow.arc_tech[live], m))
            now = (flow.pi_t.copy(), flow.pi_k.copy())
            nt, nk, nc, p, ev, neg = negative_pairs(
                problem, self.params, state, self._groups(problem, todo), keys,
                *now, CERTIFY_SLACK, deadline, since, pen_w,
            )  # fmt: skip
            priced += p
            evaluated += ev
            if neg < 0:
                return None
            if todo.size == movable:
                # Every movable row priced: after this round every pair that is not an
                # arc has a reduced cost of at least the slack at these potentials, so
                # later rounds price from them (as the cold certification's rounds do).
                since = now
            added += nt.size
            if nt.size:
                idx = flow.add_arcs(nt, nk, to_scaled(nc))
                red = flow.arc_cost[idx] + flow.pi_k[nk] - flow.pi_t[nt]
                for t in np.unique(nt[red < 0]).tolist():
                    flow.unroute(t)
            rows = self._route(problem)
            flow = self._kept()
            rows |= flow.raised
            flow.raised = set()

    def _route(self, problem: Problem) -> set[int]:
        """Route the unrouted tickets: one shortest path each when they are few, else
        the whole flow again by OR-Tools over the kept arcs (then every movable row is
        returned, to be priced: all potentials changed)."""
        flow = self._flow
        assert flow is not None
        unrouted = np.flatnonzero(flow.tech_of == UNROUTED)
        if unrouted.size <= PATHS_MAX:
            flow.route_all(unrouted)
            return set()
        live = np.flatnonzero(flow.alive)
        tix, tech, cost = flow.arc_tix[live], flow.arc_tech[live], flow.arc_cost[live]
        n, m = flow.n, flow.free.size
        slot_tech, slot_cost = places(flow.free, flow.load, flow.balance_scaled)
        res = assign_slots(n, tix, tech, cost, flow.penalty, slot_tech, slot_cost, m)
        pot = None
        if res.status is SolveStatus.OPTIMAL:
            pot = potentials(
                n, tix, tech, cost, res.arc_used, flow.penalty, flow.free, flow.load,
                flow.balance_scaled,
            )  # fmt: skip
        if pot is None:
            raise _GiveUp
        self._flow = ResidualFlow.from_flow(
            n, tix, tech, cost, res.arc_used, flow.penalty, flow.free, flow.load,
            flow.balance_scaled, pot,
        )  # fmt: skip
        self.resolved += 1
        return set(np.flatnonzero(~problem.tickets.pinned).tolist())

    def _groups(self, problem: Problem, rows: IntArray) -> list[PricingGroup]:
        """Pricing groups of ``rows``: their skill groups, with the technicians' spatial
        blocks built once per technician set of the last cold solve's state (kept in
        ``TechState.memo``: technicians that moved get a new state and new blocks)."""
        state = self._state
        assert state is not None
        blocks: dict[bytes, PricingGroup] = state.memo.setdefault("pricing_blocks", {})
        out = []
        for r, elig in skill_groups(problem, state, rows):
            if r.size == 0 or elig.size == 0:
                continue
            key = elig.tobytes()
            g = blocks.get(key)
            if g is None:
                g = blocks[key] = pricing_groups(state, [(r, elig)])[0]
            out.append(dataclasses.replace(g, rows=r))
        return out

    def _compatible(self, old: Problem, new: Problem) -> bool:
        """Only appended tickets and incumbent changes on unpinned rows since ``old``."""
        if self._calls_since_cold + 1 >= self.cold_every or new.now_s != old.now_s:
            return False
        n0, n1 = old.tickets.count, new.tickets.count
        if not 0 <= n1 - n0 <= self.max_new:
            return False
        for f in dataclasses.fields(old.technicians):
            if not _same(
                getattr(old.technicians, f.name), getattr(new.technicians, f.name)
            ):
                return False
        ot, nt = old.tickets, new.tickets
        for name in TICKET_ROW_FIELDS:
            if not _same(getattr(ot, name), getattr(nt, name)[:n0]):
                return False
        if nt.pinned[n0:].any():
            return False
        # a pinned row's incumbent unchanged (elementwise: no masked gathers of every row)
        moved = ot.current_technician != nt.current_technician[:n0]
        if np.any(moved & ot.pinned):
            return False
        for name in ("excluded", "preferred"):
            a, b = getattr(ot, name), getattr(nt, name)
            if b.shape[0] < a.shape[0] or not np.array_equal(a, b[: a.shape[0]]):
                return False
            if (b[a.shape[0] :, 0] < n0).any():
                return False
        return True

    def _rebuilt_candidates(
        self, core: Core, problem: Problem, rows: IntArray
    ) -> Candidates:
        """``core``'s arcs with those of ``rows`` replaced by fresh candidates for
        ``problem``, in a cold solve's (ticket, technician) order."""
        c = core.cands
        n, m = problem.tickets.count, problem.technicians.count
        fresh = build_candidates(problem, self.params, core.state, rows)
        is_rebuilt = np.zeros(n, np.bool_)
        is_rebuilt[rows] = True
        keep = ~is_rebuilt[c.tix]
        tix = np.concatenate([c.tix[keep], fresh.tix])
        tech = np.concatenate([c.tech[keep], fresh.tech])
        cost = np.concatenate([c.cost[keep], fresh.cost])
        order = np.argsort(pair_keys(tix, tech, m), kind="stable")
        any_f = np.zeros(n, np.bool_)
        any_f[: c.any_feasible.size] = c.any_feasible
        any_f[rows] = fresh.any_feasible[rows]
        return Candidates(tix[order], tech[order], cost[order], any_f)
