"""The continuous solve loop: per held region, snapshot -> solve in a worker -> fenced commit.

docs/DESIGN.md §6. One ``SolveLoop`` runs in every process with the solver role. Its ``LeaseManager``
decides which regions this process holds; for each it runs a ``RegionWorker`` task that
wakes up when the region's event stream shows a change (debounced by the policy's
``debounce_ms``; a ticket leaving, cancelled or completed, only when a ticket may wait for
the place it frees: ``DEPARTURE_EVENT_TYPES``), when the cadence tick comes (``cadence_s``:
slack shrinks as the clock moves) or when an SLA clock rule is due, and then:

1. reads the region's policy (a change takes effect here, at the next solve) and a
   consistent snapshot with item versions: from the worker's ``RegionModel``
   (``dispatcher.loop.region_model``), which reads only what the region's event stream
   says changed, with a full read on taking the lease, on a gap and every
   ``region_model_resync_s`` (0: a full snapshot read every cycle instead);
2. runs the SLA clock rules (breaches, escalations; ``solver.sla``);
3. converts the snapshot to a ``solver.Problem`` (``dispatcher.loop.problem``, the one
   place that does it) and solves it in the region's home worker process of the shared
   ``SolverPool`` (``dispatcher.loop.pool``), never on the event loop: incrementally
   (re-planning only the new and changed tickets, keeping the rest of the region's last
   plan) or cold (``dispatcher.loop.region_solver`` says when; this loop asks for a cold
   solve on taking the lease, after a resync of the region model and after a failed
   cycle);
4. turns the solution into decisions (assign / reassign / unassign) for the tickets whose
   technician changed and commits them through the store, fenced by the lease token and
   the versions read in step 1; the store appends one event per applied decision;
5. records metrics;
6. at most every minute, deletes the region's tickets closed longer ago than the retention
   (``closed_ticket_retention_days``; ``dispatcher.store.retention``).

Accepted tickets are pinned in the problem; churn of assigned ones is bounded by the
solver's stability cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from redis.exceptions import RedisError

from dispatcher.backend.batched import batched_client
from dispatcher.backend.cluster import is_cluster_url
from dispatcher.domain import EventType
from dispatcher.loop.declines import stranded_by_declines
from dispatcher.loop.duplicate_step import DuplicateStep
from dispatcher.loop.leases import DEFAULT_LEASE_TTL_MS, LeaseManager, RegionRef
from dispatcher.loop.pool import SolveOutput, SolverPool
from dispatcher.loop.problem import (
    IndexMaps,
    TechnicianArrays,
    TechnicianView,
    TicketView,
    build_problem_parts,
    plan_decisions,
)
from dispatcher.loop.region_model import RegionModel
from dispatcher.loop.region_solver import IncrementalSettings
from dispatcher.loop.sla_step import SlaStep
from dispatcher.loop.snapshot import (
    QUEUED_PER_PLACE,
    ViewCache,
    limit_queued,
    views_from_snapshot,
)
from dispatcher.loop.widen import Widening, widen
from dispatcher.store import keys
from dispatcher.store.duplicates import DuplicateIndex, DuplicateLinker
from dispatcher.store.events import event_id_key, watch_client
from dispatcher.store.feed import RegionFeed
from dispatcher.store.moves import TicketMover
from dispatcher.store.outcomes import CommitCode
from dispatcher.store.policy import PolicyStore
from dispatcher.store.retention import SWEEP_INTERVAL_S, ClosedTicketSweeper
from dispatcher.store.sla import SlaRecorder
from dispatcher.store.snapshot import SnapshotReader
from dispatcher.store.state import ExpectedVersions, RedisStateStore
from solver.model import NO_TECHNICIAN, UnassignedReason

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import redis.asyncio as aioredis

    from dispatcher.runtime.metrics import DispatchMetrics
    from dispatcher.store.state import RegionSnapshot
    from solver.build import ProblemParts
    from solver.model import Solution, SolveParams

logger = logging.getLogger(__name__)


# --- the loop ------------------------------------------------------------------------------

OWN_EVENT_TYPES = frozenset(
    {
        EventType.TICKET_ASSIGNED,
        EventType.TICKET_REASSIGNED,
        EventType.TICKET_UNASSIGNED,
        EventType.TICKET_UNASSIGNABLE,
        EventType.TICKET_ACCEPTED,
        EventType.TICKET_SLA_AT_RISK,
        EventType.TICKET_SLA_BREACHED,
        EventType.TICKET_ESCALATED,
        EventType.TICKET_DUPLICATE_DETECTED,
    }
)
"""Events that do not call for a new solve (the loop's own output, or no effect on it)."""


def later_event_id(a: str, b: str) -> str:
    """The later of two stream positions (``$``, before any read: the other)."""
    if a == "$":
        return b
    return b if event_id_key(b) > event_id_key(a) else a


DEPARTURE_EVENT_TYPES = frozenset(
    {EventType.TICKET_CANCELLED, EventType.TICKET_COMPLETED}
)
"""Events of a ticket leaving the region's open tickets: it only frees a place, which calls
for a new solve when a ticket waits for one (``RegionWorker.waiting``); otherwise the next
cycle (a change or the cadence tick) takes the departure in."""
WATCH_BLOCK_MS = 1000
WATCH_COUNT = 1000
"""Entries per read of the event watch."""
LEASE_WAIT_S = 0.05
TECH_REFRESH_S = 1.0
"""Technicians are re-read at least this often (location pings emit no event)."""
CLOCK_INTERVAL_S = 0.25
MIN_QUEUED_READ = 200
"""A bounded snapshot reads at least this many QUEUED tickets."""
"""Clock rules (breaches, escalations) run at most this often unless one is due sooner."""
ERROR_BACKOFF_S = 0.5
MODEL_RESYNC_S = 60.0
"""Default of the ``region_model_resync_s`` setting."""
MIN_INTERVAL_S = 0.0
"""Default of the ``solve_min_interval_s`` setting (0: a cycle as soon as a change arrives).
A cycle has a large fixed cost (read, clock rules, views, the solve's set-up, polish,
commit) whatever the number of new tickets, so cycles of one or two tickets each cost
several times the CPU per ticket of larger ones (``./dev bench e2e_latency`` prints the
solver's CPU per ticket and tickets per solve); an interval makes the changes that arrive
meanwhile one cycle, for up to that much latency. Off by default: on a loaded machine
the cycles are slower than 0.1 s and batch by themselves, and no gain was measured."""


async def _nothing() -> None:
    return None


@dataclass
class RegionSeries:
    """A region's metric series, each looked up once: ``labels()`` passes the region
    through its cap (``runtime.label_cap``), ~20 us a call and about ten a cycle. Kept
    for the worker's life: no series is ever removed, and a region's capped name does not
    change (the cap keeps the first names it saw; later ones stay ``other``)."""

    metrics: DispatchMetrics
    region: str
    _series: dict[tuple[int, tuple[str, ...]], Any] = field(default_factory=dict)
    _unassigned: list[tuple[int, Any]] = field(default_factory=list)

    def of(self, metric: Any, *values: str) -> Any:
        """``metric``'s series of this region and the other label ``values``, in the
        metric's label order after ``region``."""
        key = (id(metric), values)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = metric.labels(self.region, *values)
        return series

    def unassigned(self) -> list[tuple[int, Any]]:
        """(reason code, series) of every unassigned reason."""
        if not self._unassigned:
            self._unassigned = [
                (
                    reason.value,
                    self.of(self.metrics.solve_unassigned, reason.name.lower()),
                )
                for reason in UnassignedReason
                if reason is not UnassignedReason.ASSIGNED
            ]
        return self._unassigned


@dataclass
class RegionWorker:
    """Solves one held region until cancelled (the lease was lost or released)."""

    loop: SolveLoop
    region: RegionRef
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    woken: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a cycle takes the pending wake."""
    cycle_done: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the cycle that took the wake has ended (the watch then reads on)."""
    read_position: str = ""
    """The stream position the region model's read of the current cycle reached ('' =
    none, or the cycle failed): the cycle had every event up to it."""
    own_events: tuple[str, str] = ("", "")
    """Ids of the first and the last event the current cycle's commit appended ('' =
    none): every entry between them is the loop's own output (one atomic script)."""
    checked: set[str] = field(default_factory=set)
    solves: int = 0
    reader: SnapshotReader | None = None
    model: RegionModel | None = None
    """The region's in-memory model (None: read a snapshot every cycle)."""
    techs_dirty: bool = True
    techs_read_at: float = 0.0
    max_queued: int = 1000
    views: ViewCache = field(default_factory=ViewCache)
    tech_arrays: TechnicianArrays = field(default_factory=TechnicianArrays)
    last_clock: float = 0.0
    last_start: float = float("-inf")
    """When the last cycle started (``time.monotonic``): the next one starts no sooner than
    the loop's ``min_interval_s`` after it."""
    next_clock: float = 0.0
    cadence_s: float = 5.0
    debounce_s: float = 0.005
    next_sweep: float = 0.0
    """When the retention sweep of closed tickets is next due (epoch seconds)."""
    stopping: bool = False
    """Set when the worker ends: its event watch stops even if a cancel was swallowed."""
    cold_reason: str = "lease taken"
    """Why the next solve must be cold ('' = none): this worker just took the region."""
    model_resyncs: int = 0
    """The region model's resync count at the last solve (a resync since: solve cold)."""
    slot_wait_s: float = 0.0
    """How long the current cycle waited for a cycle slot (other regions' cycles)."""
    series: RegionSeries = field(init=False)
    waiting: bool = True
    """A ticket may wait for a place: the last cycle left a ticket in view unassigned or
    one out of view (a bounded read, ``limit_queued``), or a decision was not applied, or
    failed, or none ran yet. Only then does a ticket's departure wake the solve."""
    departed: bool = False
    """The watch saw a departure since the current cycle took its wake."""

    def __post_init__(self) -> None:
        self.series = RegionSeries(self.loop.metrics, self.region.region)

    async def run(self) -> None:
        self.reader = SnapshotReader(self.loop.redis)
        if self.loop.model_resync_s > 0:
            self.model = RegionModel(
                self.loop.feed,
                self.region.tenant,
                self.region.region,
                self.loop.model_resync_s,
            )
        watcher = asyncio.create_task(self._watch(), name=f"watch:{self.region}")
        self.wake.set()  # solve at once on taking the region over
        next_clock = float("inf")
        try:
            while self.current:
                timeout = min(self.cadence_s, max(0.0, next_clock - time.time()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=timeout)
                if not self.current:
                    break  # replaced or stopped while it waited (the cancel may be lost)
                if self.wake.is_set() and self.debounce_s > 0:
                    await asyncio.sleep(self.debounce_s)
                # at most one cycle per min_interval_s: what arrives meanwhile is solved
                # together (not holding a cycle slot while waiting)
                wait = self.last_start + self.loop.min_interval_s - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                self.wake.clear()
                self.departed = False
                self.read_position, self.own_events = "", ("", "")
                self.cycle_done.clear()
                self.woken.set()
                token = self.loop.leases.token(self.region)
                if token is None:
                    # Not locally valid right now (a renewal is late): wait for it. If the
                    # lease is really lost, the lease manager cancels this worker.
                    self.wake.set()
                    self.cycle_done.set()
                    await asyncio.sleep(LEASE_WAIT_S)
                    continue
                try:
                    asked = time.monotonic()
                    async with self.loop.cycle_slots:
                        self.last_start = time.monotonic()
                        self.slot_wait_s = self.last_start - asked
                        next_clock = await self.cycle(str(token))
                        await self._sweep_closed()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # the watch reads on from where it was: the events the failed cycle
                    # read wake the next one as they would have
                    self.read_position = ""
                    self.cycle_done.set()
                    logger.exception("solve cycle of %s failed", self.region)
                    self.waiting = True
                    if (
                        self.model is not None
                    ):  # it may have missed what the cycle wrote
                        self.model.invalidate("a solve cycle failed")
                    self.cold_reason = "cycle failed"
                    self.series.of(self.loop.metrics.solves_total, "error").inc()
                    await asyncio.sleep(ERROR_BACKOFF_S)
                finally:
                    self.cycle_done.set()
        finally:
            # redis-py 8.1 may swallow a cancel mid-command: the flag ends the watch loop
            # anyway, so it never reads (opens a connection) after Redis was closed
            self.stopping = True
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher

    @property
    def current(self) -> bool:
        """This is still its region's worker. A worker ends when it is not, also if the
        cancel that should have ended it was lost: Python 3.11's ``asyncio.wait_for``
        returns normally when a cancel lands as the event it waits for is set (a change
        woke the worker as the lease changed hands), and redis-py may swallow a cancel
        mid-command; such a worker would otherwise solve beside its successor, or wait
        forever for a lease that moved, and the loop's shutdown would wait for it."""
        return self.loop.region_workers.get(self.region) is self

    async def _watch(self) -> None:
        """Wake the solve on every change in the region's event stream (not its own output)."""
        key = keys.events_key(self.region.tenant, self.region.region)
        last = "$"
        own = ("", "")  # the last cycle's own events, not to be read (_watch_read)
        while not self.stopping:
            try:
                reply, own, stepped_over = await self._watch_read(key, last, own)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("event watch of %s failed", self.region, exc_info=True)
                await asyncio.sleep(ERROR_BACKOFF_S)
                continue
            if self.stopping:
                # the worker ended during the read, whose cancel redis-py may have lost:
                # no cycle will take a wake, so waiting for one would never end
                break
            woke = False
            for _, entries in reply or ():
                for event_id, fields in entries:
                    last = str(event_id)
                    kind = fields.get("type", "")
                    if kind in DEPARTURE_EVENT_TYPES:
                        self.departed = True
                        woke = woke or self.waiting
                    elif kind not in OWN_EVENT_TYPES:
                        woke = True
                    if kind.startswith("TECHNICIAN_"):
                        self.techs_dirty = True
            if stepped_over:
                last = later_event_id(last, stepped_over)
            if woke:
                # One read per cycle: until the cycle that takes this wake has ended, more
                # events would only wake the next one, which cannot start sooner. Under load
                # this turns a read per few events into one per solve. The next read
                # starts where this one ended, or where that cycle's region model read
                # ended when later: the cycle had every event up to there (a departure
                # among them is in its read), so only later ones call for another cycle,
                # and the events the cycle read are not read twice.
                self.woken.clear()
                self.wake.set()
                await self.woken.wait()
                await self.cycle_done.wait()
                if self.read_position:
                    last = later_event_id(last, self.read_position)
                    own = self.own_events

    async def _watch_read(
        self, key: str, last: str, own: tuple[str, str]
    ) -> tuple[Any, tuple[str, str], str]:
        """One read of the watch after ``last``: XREAD's reply, the own events still to step
        over, and the position after the ones stepped over ('' = none). After a cycle
        (``own``: the first and last id of its commit's events) it reads the events between
        the cycle's read and its commit, then goes on after the commit's own events, which
        are not read: one atomic script appended them, no other writer's event is among
        them."""
        redis = self.loop.redis
        if own[0] and last != "$" and event_id_key(last) < event_id_key(own[0]):
            entries: Any = await redis.xrange(
                key, f"({last}", f"({own[0]}", count=WATCH_COUNT
            )
            if len(entries) < WATCH_COUNT:
                return [(key, entries)], ("", ""), own[1]
            return [(key, entries)], own, ""  # more before the commit's: read on first
        reply = await redis.xread({key: last}, count=WATCH_COUNT, block=WATCH_BLOCK_MS)
        return reply, ("", ""), ""

    # -- one cycle ---------------------------------------------------------------------------

    async def cycle(self, token: str) -> float:
        """Clock rules, solve and commit once; return when the clock rules next need a look."""
        t_start = time.perf_counter()
        lp, tenant, region = self.loop, self.region.tenant, self.region.region
        # One round trip for the policy, the snapshot and (when the clock rules are about
        # due) the SLA marks and the interrupted moves: awaited together, they go to Redis
        # in one pipeline (``backend.batched``; on a cluster, concurrently).
        # Only this worker writes the region's marks and starts its moves, and its
        # previous cycle is done, so they cannot move meanwhile.
        clock_due = time.time() >= min(
            self.next_clock, self.last_clock + CLOCK_INTERVAL_S
        )
        effective, snap, marks, unfinished = await asyncio.gather(
            lp.policies.effective(tenant, region),
            self._snapshot(token, self.max_queued),
            lp.sla.marks(tenant, region) if clock_due else _nothing(),
            lp.mover.unfinished(tenant, region) if clock_due else _nothing(),
        )
        if self.model is not None:
            self.read_position = self.model.position
        policy = effective.policy
        self.cadence_s = policy.solver.cadence_s
        self.debounce_s = policy.solver.debounce_ms / 1000.0
        t_snap = time.perf_counter()
        if snap.lease_token != token:
            return float("inf")
        now_ms = snap.taken_at_ms
        complete = self._complete()
        held = await lp.duplicate_step.link_duplicates(
            self.checked, snap, policy, token, complete=complete
        )
        t_dup = time.perf_counter()
        changed, next_clock = False, self.next_clock
        widen_now: list[Widening] = []
        now_s = now_ms / 1000.0
        if now_s >= min(self.next_clock, self.last_clock + CLOCK_INTERVAL_S):
            # Under a backlog (a bounded read) the clock rules see the tickets in view: the
            # held ones and the most urgent QUEUED ones, which breach and escalate first;
            # the others are checked when they come into view. Reading the whole backlog
            # instead stalls the loop exactly when it is overloaded.
            changed, next_clock, widen_now = await lp.sla_step.run_clock_rules(
                snap, policy, token, now_ms, complete=complete, marks=marks,
                unfinished=unfinished,
            )  # fmt: skip
            self.last_clock, self.next_clock = now_s, next_clock
        # declines that left nobody escalate at once, not on the clock
        read, stranded = snap, stranded_by_declines(snap.tickets, snap.technicians)
        declined_changed, declined_widen = await lp.sla_step.escalate_declined(
            snap, policy, token, stranded
        )
        changed = changed or declined_changed
        widen_now += declined_widen
        if changed or widen_now:  # escalations changed versions: read again
            snap = await self._snapshot(token, self.max_queued)
            now_ms = snap.taken_at_ms
        if widen_now and await widen(
            lp.store, lp.mover, snap, token, widen_now, lp.metrics
        ):
            snap = await self._snapshot(
                token, self.max_queued
            )  # without the moved ones
            now_ms = snap.taken_at_ms
        t_clock = time.perf_counter()
        ticket_views, tech_views = views_from_snapshot(snap, policy, now_ms, self.views)
        if held:
            ticket_views = [
                dataclasses.replace(t, held_back=True) if t.ticket_id in held else t
                for t in ticket_views
            ]
        places = sum(k.capacity for k in tech_views if k.available)
        self.max_queued = max(MIN_QUEUED_READ, QUEUED_PER_PLACE * places)
        in_view = len(ticket_views)
        ticket_views = limit_queued(ticket_views, tech_views)
        out_of_view = len(ticket_views) < in_view or not self._complete()
        problem, maps, rows = build_problem_parts(
            ticket_views, tech_views, now_ms / 1000.0, self.tech_arrays
        )
        if not rows:
            self._record_empty(len(tech_views))
            self._set_waiting(out_of_view)
            return next_clock
        t_built = time.perf_counter()
        output = await self._solve(problem, maps, policy.solve_params())
        t_solved = time.perf_counter()
        self.solves += 1
        solve_id = f"{lp.leases.owner_id}:{region}:{self.solves}"
        if snap is not read:  # escalated or widened since: the rule on the new read
            stranded = stranded_by_declines(snap.tickets, snap.technicians)
        applied = await self._commit(
            snap, token, output, maps, rows, tech_views, solve_id,
            {t.ticket_id for t in stranded},
        )  # fmt: skip
        self._set_waiting(
            out_of_view
            or not applied
            or bool(np.any(output.solution.technician == NO_TECHNICIAN))
        )
        risky = await lp.sla_step.signal_at_risk(
            snap, token, output.solution, problem, maps
        )
        if risky and any(r.condition == "at_risk" for r in policy.escalations):
            # an at_risk escalation rule may fire now: run the clock rules next, at once
            next_clock = self.next_clock = time.time()
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "solve %s: %d tickets x %d technicians; waited %.1f ms for a cycle slot, "
                "read+build %.1f ms (policy+snapshot %.1f, duplicates %.1f, clock %.1f, "
                "views+build %.1f), solve %.1f ms (solver %.1f ms), commit %.1f ms, since "
                "snapshot %.1f ms",
                self.region,
                len(rows),
                len(tech_views),
                1000 * self.slot_wait_s,
                1000 * (t_built - t_start),
                1000 * (t_snap - t_start),
                1000 * (t_dup - t_snap),
                1000 * (t_clock - t_dup),
                1000 * (t_built - t_clock),
                1000 * (t_solved - t_built),
                1000 * output.solution.stats.wall_time_s,
                1000 * (time.perf_counter() - t_solved),
                time.time() * 1000 - snap.taken_at_ms,
            )
        return next_clock

    async def _solve(
        self, problem: ProblemParts, maps: IndexMaps, params: SolveParams
    ) -> SolveOutput:
        """Solve in the region's home worker: cold when this loop knows a reason (the
        worker may find more), else keeping the unchanged part of its last plan."""
        lp = self.loop
        force = self.cold_reason
        if self.model is not None and self.model.resyncs != self.model_resyncs:
            self.model_resyncs = self.model.resyncs
            force = force or "region model resync"
        output = await lp.pool.solve_region(
            str(self.region), problem, maps.ticket_ids, maps.technician_ids, params,
            lp.incremental, force,
        )  # fmt: skip
        self.cold_reason = ""
        self.series.of(lp.metrics.solve_modes_total, output.mode, output.reason).inc()
        return output

    async def _sweep_closed(self) -> None:
        """Delete the region's tickets closed longer ago than the retention (at most every
        ``sweep_interval_s``; see ``dispatcher.store.retention``)."""
        lp = self.loop
        now = time.time()
        if lp.closed_retention_s <= 0 or now < self.next_sweep:
            return
        self.next_sweep = now + lp.sweep_interval_s
        before_ms = int((now - lp.closed_retention_s) * 1000)
        try:
            deleted = await lp.sweeper.sweep(
                self.region.tenant, self.region.region, before_ms
            )
        except RedisError as exc:  # the solve itself went through; retried next sweep
            logger.warning("retention sweep of %s failed: %s", self.region, exc)
            return
        if deleted:
            lp.metrics.tickets_purged_total.inc(deleted)

    def _set_waiting(self, waiting: bool) -> None:
        """After a cycle: whether a ticket may wait for a place; a departure the watch saw
        during the cycle (after its read) then wakes the next one."""
        self.waiting = waiting
        if waiting and self.departed:
            self.wake.set()

    def _complete(self) -> bool:
        """The last snapshot lists every open ticket (not bounded)."""
        if self.model is not None:
            return not self.model.truncated
        return self.reader is not None and not self.reader.truncated

    async def _snapshot(
        self, token: str, max_queued: int | None = None
    ) -> RegionSnapshot:
        if self.model is not None:
            return await self.model.read(token, max_queued)
        if self.reader is None:
            self.reader = SnapshotReader(self.loop.redis)
        # Technicians change with a technician event, or silently with a location ping:
        # re-read them then, or at least every TECH_REFRESH_S.
        now = time.monotonic()
        fresh_techs = self.techs_dirty or now - self.techs_read_at >= TECH_REFRESH_S
        if fresh_techs:
            self.techs_dirty, self.techs_read_at = False, now
        return await self.reader.read(
            self.region.tenant, self.region.region, max_queued, technicians=fresh_techs
        )

    def _record_empty(self, n_techs: int) -> None:
        m, series = self.loop.metrics, self.series
        series.of(m.solve_tickets).set(0)
        series.of(m.solve_technicians).set(n_techs)
        for _, gauge in series.unassigned():
            gauge.set(0)

    async def _commit(
        self,
        snap: RegionSnapshot,
        token: str,
        output: SolveOutput,
        maps: IndexMaps,
        rows: Sequence[TicketView],
        techs: Sequence[TechnicianView],
        solve_id: str,
        stranded: set[str],
    ) -> bool:
        """Commit the solution's decisions; whether every one was applied."""
        lp, sol = self.loop, output.solution
        by_id = {t.ticket_id: t for t in snap.tickets}
        decisions = plan_decisions(
            output, maps, rows, by_id, snap.taken_at_ms, solve_id, stranded
        )
        self._record_solve(sol, maps)
        if not decisions:
            return True
        expected = ExpectedVersions(
            tickets={t.ticket_id: t.version for t in rows},
            technicians={k.technician_id: k.version for k in techs},
        )
        result = await lp.store.commit_assignments(
            snap.tenant, snap.region, token, decisions, expected, solve_id=solve_id
        )
        if result.lease_lost:
            logger.warning("commit of %s refused: lease lost", self.region)
            return False
        self.own_events = result.events
        if self.model is not None:
            self.model.committed(decisions, result, expected)
        m = lp.metrics
        done_ms = int(time.time() * 1000)
        assigned = reassigned = 0
        for outcome in result.outcomes:
            if outcome.code is CommitCode.ASSIGNED:
                assigned += 1
                ticket = by_id[outcome.ticket_id]
                if not ticket.declined_by_technician_ids:
                    m.assignment_latency_seconds.observe(
                        max(0.0, (done_ms - ticket.created_at_ms) / 1000.0)
                    )
            elif outcome.code is CommitCode.REASSIGNED:
                reassigned += 1
        # one increment per commit, not per ticket
        if assigned:
            self.series.of(m.assignments_total).inc(assigned)
        if reassigned:
            self.series.of(m.reassignments_total).inc(reassigned)
        return all(outcome.code.applied for outcome in result.outcomes)

    def _record_solve(self, sol: Solution, maps: IndexMaps) -> None:
        m, series = self.loop.metrics, self.series
        series.of(m.solve_duration_seconds).observe(sol.stats.wall_time_s)
        series.of(m.solves_total, sol.stats.status.value).inc()
        series.of(m.solve_tickets).set(len(maps.ticket_ids))
        series.of(m.solve_technicians).set(len(set(maps.technician_ids)))
        series.of(m.solve_objective).set(sol.objective)
        counts = np.bincount(
            sol.reason.astype(np.int64), minlength=len(UnassignedReason)
        ).tolist()
        for code, gauge in series.unassigned():
            gauge.set(counts[code])


def _renewal_client(
    redis: aioredis.Redis, url: str | None
) -> Callable[[], aioredis.Redis] | None:
    """What builds the lease renewal thread's Redis client: one with its own connection
    pool(s) and ``redis``'s durability mode (``store.events.watch_client`` makes such a
    client); None when there can be none (a Cluster client whose URL is not known): the
    renewals then run on the event loop."""
    if getattr(redis, "connection_pool", None) is None and not (
        url and is_cluster_url(url)
    ):
        return None
    return lambda: watch_client(redis, url)


class SolveLoop:
    """Leases plus one ``RegionWorker`` per held region; run it as a background task."""

    def __init__(
        self,
        redis: aioredis.Redis,
        metrics: DispatchMetrics,
        *,
        pool: SolverPool | None = None,
        lease_ttl_ms: int = DEFAULT_LEASE_TTL_MS,
        owner_id: str | None = None,
        events_maxlen: int = keys.EVENTS_MAXLEN_DEFAULT,
        closed_retention_s: float = 0.0,
        model_resync_s: float = MODEL_RESYNC_S,
        min_interval_s: float = MIN_INTERVAL_S,
        incremental: IncrementalSettings | None = None,
        sweep_interval_s: float = SWEEP_INTERVAL_S,
        stop: asyncio.Event | None = None,
        redis_url: str | None = None,
    ) -> None:
        self.redis = redis
        # set at shutdown (the app's shutdown_event): ``run`` then ends even when redis-py
        # swallowed the cancel of a command in flight (seen: a solver kept renewing its
        # leases after stop_background gave up, and released them after Redis was closed)
        self.stop = stop if stop is not None else asyncio.Event()
        self.metrics = metrics
        self.store = RedisStateStore(
            redis, metrics=metrics, events_maxlen=events_maxlen
        )
        self.sweeper = ClosedTicketSweeper(redis)
        # region models read in full at least this often (0: no model, a snapshot per cycle)
        self.model_resync_s = model_resync_s
        # the cycle's first reads (policy, delta, SLA marks, moves) go in one round trip
        reads = batched_client(redis)
        self.feed = RegionFeed(reads)
        # a region's cycles start at least this far apart (0: as soon as a change arrives)
        self.min_interval_s = min_interval_s
        # when a region's cycle may keep part of its last plan (dispatcher.loop.region_solver)
        self.incremental = (
            incremental if incremental is not None else IncrementalSettings()
        )
        # closed tickets older than this are deleted (0: kept forever; dispatcher.store.retention)
        self.closed_retention_s = closed_retention_s
        self.sweep_interval_s = sweep_interval_s
        self.policies = PolicyStore(reads)
        self.sla = SlaRecorder(reads)
        self.duplicates = DuplicateIndex(redis)
        self.linker = DuplicateLinker(redis)
        self.mover = TicketMover(reads, self.store.events_maxlen)
        self.sla_step = SlaStep(
            self.store, self.sla, self.mover, metrics, self.store.events_maxlen
        )
        self.duplicate_step = DuplicateStep(
            self.store, self.duplicates, self.linker, metrics
        )
        self.pool = pool if pool is not None else SolverPool()
        manager_kwargs: dict[str, Any] = {"owner_id": owner_id} if owner_id else {}
        self.leases = LeaseManager(
            redis,
            self._regions,
            ttl_ms=lease_ttl_ms,
            metrics=metrics,
            on_change=self._on_lease,
            # renewals on a thread with a client of its own (from ``redis``'s pool
            # settings, or on Redis Cluster from ``redis_url``): a busy event loop
            # cannot make them late (docs/DESIGN.md §6)
            renew_client=_renewal_client(redis, redis_url),
            **manager_kwargs,
        )
        self.workers: dict[RegionRef, asyncio.Task[None]] = {}
        self.region_workers: dict[RegionRef, RegionWorker] = {}
        """The worker of each held region (its ``model``: what the loop knows of it)."""
        self._stopping: set[asyncio.Task[None]] = set()
        # At most this many region cycles at once: one per solver worker plus one reading or
        # committing. More only interleaves their CPU on the one event loop, which delays
        # every cycle and the lease renewals alike.
        self.cycle_slots = asyncio.Semaphore(self.pool.workers + 1)

    async def _regions(self) -> list[RegionRef]:
        out: list[RegionRef] = []
        for tenant in await self.store.tenants():
            out += [RegionRef(tenant, r) for r in await self.store.regions(tenant)]
        return out

    def _on_lease(self, region: RegionRef, token: int | None) -> None:
        task = self.workers.pop(region, None)
        if task is not None:
            task.cancel()
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)
        self.region_workers.pop(region, None)
        if token is not None:
            self.metrics.init_region(region.tenant, region.region)
            worker = RegionWorker(self, region)
            self.region_workers[region] = worker
            self.workers[region] = asyncio.create_task(
                worker.run(), name=f"solve:{region}"
            )

    async def run(self) -> None:
        """Hold leases and solve until cancelled or ``stop`` is set; then stop the workers
        and release."""
        self.pool.start()
        try:
            await self.leases.run(self.stop)
        finally:
            tasks = [*self.workers.values(), *self._stopping]
            self.workers.clear()
            self.region_workers.clear()
            for task in tasks:
                task.cancel()
            # Wait for every worker (also those cancelled on a lease change just now), so
            # nothing touches Redis after the loop has stopped.
            await asyncio.gather(*tasks, return_exceptions=True)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.pool.shutdown)
