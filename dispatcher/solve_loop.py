"""The continuous solve loop: per held region, snapshot -> solve in a worker -> fenced commit.

SPEC §6. One ``SolveLoop`` runs in every process with the solver role. Its ``LeaseManager``
decides which regions this process holds; for each it runs a ``RegionWorker`` task that
wakes up when the region's event stream shows a change (debounced by the policy's
``debounce_ms``), when the cadence tick comes (``cadence_s``: slack shrinks as the clock
moves) or when an SLA clock rule is due, and then:

1. reads the region's policy (a change takes effect here, at the next solve) and a
   consistent snapshot with item versions;
2. runs the SLA clock rules (breaches, escalations; ``dispatcher.sla``);
3. converts the snapshot to a ``solver.Problem`` (``build_problem``, the one place that
   does it) and solves it in a worker process of the shared ``SolverPool``, never on the
   event loop;
4. turns the solution into decisions (assign / reassign / unassign) for the tickets whose
   technician changed and commits them through the store, fenced by the lease token and
   the versions read in step 1; the store appends one event per applied decision;
5. records metrics.

Accepted tickets are pinned in the problem; churn of assigned ones is bounded by the
solver's stability cost.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import json
import logging
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from dispatcher import keys
from dispatcher.duplicates import DuplicateIndex, DuplicateLinker, DuplicateProbe
from dispatcher.leases import DEFAULT_LEASE_TTL_MS, LeaseManager, RegionRef
from dispatcher.policy import PolicyStore
from dispatcher.sla import (
    ClockTicket,
    SlaAction,
    SlaMarks,
    SlaRecorder,
    at_risk_rows,
    breaches,
    due_times,
    escalations,
    next_clock_deadline,
)
from solver.model import NO_TECHNICIAN, Problem, Technicians, Tickets, UnassignedReason

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import numpy.typing as npt
    import redis.asyncio as aioredis

    from dispatcher.context import AppContext
    from dispatcher.domain import Technician, Ticket
    from dispatcher.metrics import DispatchMetrics
    from dispatcher.policy import Policy
    from dispatcher.store import Decision as StoreDecision
    from dispatcher.store import RegionSnapshot
    from solver.model import Solution, SolveParams

logger = logging.getLogger(__name__)

OPEN_FOR_SOLVE = ("QUEUED", "ASSIGNED", "ACCEPTED")
"""Ticket statuses the solver places; IN_PROGRESS work shows in its technician's state."""


# --- the solver's view of a snapshot -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class TicketView:
    """An open ticket as the solver needs it (times in epoch seconds)."""

    ticket_id: str
    version: int
    status: str  # QUEUED | ASSIGNED | ACCEPTED | IN_PROGRESS
    priority: int
    lat_deg: float
    lon_deg: float
    duration_s: float
    created_s: float
    response_due_s: float = float("inf")
    resolution_due_s: float = float("inf")
    window_start_s: float = float("-inf")
    window_end_s: float = float("inf")
    tier: int = 0
    skills: tuple[tuple[str, int], ...] = ()
    technician_id: str = ""  # current holder ("" = none)
    excluded: tuple[str, ...] = ()  # excluded and declined technicians
    preferred: tuple[str, ...] = ()
    started_s: float = float("nan")  # IN_PROGRESS: when work started
    held_back: bool = False  # a linked duplicate: not dispatched


@dataclass(frozen=True, slots=True)
class TechnicianView:
    """A technician as the solver needs it."""

    technician_id: str
    version: int
    available: bool
    lat_deg: float
    lon_deg: float
    capacity: int
    speed_kmh: float = 40.0
    shift_end_s: float = float("inf")
    skills: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class IndexMaps:
    """Row index -> identifier maps of one built problem (identifiers never enter the solver)."""

    ticket_ids: tuple[str, ...]
    technician_ids: tuple[str, ...]
    skills: tuple[str, ...]

    def technician_row(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.technician_ids)}


@dataclass(frozen=True, slots=True)
class ProblemParts:
    """The arrays of a ``solver.Problem`` before construction (validation happens there)."""

    tickets: dict[str, Any]
    technicians: dict[str, Any]
    now_s: float

    def build(self) -> Problem:
        return Problem(
            Tickets(**self.tickets), Technicians(**self.technicians), self.now_s
        )


def build_problem(
    tickets: Sequence[TicketView], technicians: Sequence[TechnicianView], now_s: float
) -> tuple[Problem, IndexMaps, list[TicketView]]:
    """``build_problem_parts`` then the ``solver.Problem`` (validated on construction)."""
    parts, maps, rows = build_problem_parts(tickets, technicians, now_s)
    return parts.build(), maps, rows


def build_problem_parts(
    tickets: Sequence[TicketView], technicians: Sequence[TechnicianView], now_s: float
) -> tuple[ProblemParts, IndexMaps, list[TicketView]]:
    """Convert a region snapshot to the arrays of a ``solver.Problem`` plus its index maps.

    The solve loop ships the parts to a worker process, which constructs (and validates)
    the ``Problem`` there, off the event loop.

    Returns the problem, the maps and the ticket views in row order. QUEUED, ASSIGNED and
    ACCEPTED tickets become rows (ACCEPTED ones pinned; held-back duplicates and accepted
    tickets whose technician is gone are left out). IN_PROGRESS tickets move their
    technician's ``free_at_s`` to the expected end of the work and its location to the
    ticket's, and use one place of its capacity.
    """
    techs = sorted(technicians, key=lambda t: t.technician_id)
    tech_row = {t.technician_id: i for i, t in enumerate(techs)}
    vocab = sorted(
        {name for t in techs for name, _ in t.skills}
        | {name for t in tickets for name, _ in t.skills}
    )
    skill_col = {name: j for j, name in enumerate(vocab)}
    m, n_skills = len(techs), len(vocab)

    free_at = np.full(m, now_s, dtype=np.float64)
    lat = np.array([t.lat_deg for t in techs], dtype=np.float64)
    lon = np.array([t.lon_deg for t in techs], dtype=np.float64)
    busy = np.zeros(m, dtype=np.int64)
    rows: list[TicketView] = []
    for t in sorted(tickets, key=lambda t: t.ticket_id):
        holder = (
            tech_row.get(t.technician_id, NO_TECHNICIAN)
            if t.technician_id
            else NO_TECHNICIAN
        )
        if t.status == "IN_PROGRESS":
            if holder != NO_TECHNICIAN:
                start = t.started_s if np.isfinite(t.started_s) else now_s
                free_at[holder] = max(free_at[holder], start + t.duration_s)
                lat[holder], lon[holder] = t.lat_deg, t.lon_deg
                busy[holder] += 1
            continue
        if t.status not in OPEN_FOR_SOLVE or t.held_back:
            continue
        if t.status == "ACCEPTED" and holder == NO_TECHNICIAN:
            continue  # pinned to a technician that is gone; nothing to decide
        rows.append(t)

    n = len(rows)
    t_skill = np.zeros((n, n_skills), dtype=np.int64)
    current = np.full(n, NO_TECHNICIAN, dtype=np.int64)
    pinned = np.zeros(n, dtype=np.bool_)
    excluded: list[tuple[int, int]] = []
    preferred: list[tuple[int, int]] = []
    for i, t in enumerate(rows):
        for name, level in t.skills:
            t_skill[i, skill_col[name]] = level
        if t.technician_id and t.status in ("ASSIGNED", "ACCEPTED"):
            current[i] = tech_row.get(t.technician_id, NO_TECHNICIAN)
            pinned[i] = t.status == "ACCEPTED"
        excluded += [(i, tech_row[x]) for x in t.excluded if x in tech_row]
        preferred += [(i, tech_row[x]) for x in t.preferred if x in tech_row]
    k_skill = np.zeros((m, n_skills), dtype=np.int64)
    for i, k in enumerate(techs):
        for name, level in k.skills:
            k_skill[i, skill_col[name]] = level

    def col(attr: str, dtype: Any = np.float64) -> Any:
        return np.array([getattr(t, attr) for t in rows], dtype=dtype)

    def pairs(items: list[tuple[int, int]]) -> Any:
        return np.array(items, dtype=np.int64).reshape(-1, 2)

    problem_tickets = {
        "lat_deg": col("lat_deg"),
        "lon_deg": col("lon_deg"),
        "priority": col("priority", np.int64),
        "skill_levels": t_skill,
        "duration_s": col("duration_s"),
        "created_s": col("created_s"),
        "response_due_s": col("response_due_s"),
        "resolution_due_s": col("resolution_due_s"),
        "window_start_s": col("window_start_s"),
        "window_end_s": col("window_end_s"),
        "tier": col("tier", np.int64),
        "current_technician": current,
        "pinned": pinned,
        "excluded": pairs(excluded),
        "preferred": pairs(preferred),
    }
    problem_techs = {
        "lat_deg": lat,
        "lon_deg": lon,
        "skill_levels": k_skill,
        "capacity": np.maximum(
            np.array([t.capacity for t in techs], dtype=np.int64) - busy, 0
        ),
        "free_at_s": free_at,
        "shift_end_s": np.array([t.shift_end_s for t in techs], dtype=np.float64),
        "speed_kmh": np.array([t.speed_kmh for t in techs], dtype=np.float64),
        "available": np.array([t.available for t in techs], dtype=np.bool_),
    }
    maps = IndexMaps(
        ticket_ids=tuple(t.ticket_id for t in rows),
        technician_ids=tuple(t.technician_id for t in techs),
        skills=tuple(vocab),
    )
    return ProblemParts(problem_tickets, problem_techs, now_s), maps, rows


# --- decisions -----------------------------------------------------------------------------


def plan_decisions(
    output: SolveOutput,
    maps: IndexMaps,
    rows: Sequence[TicketView],
    tickets: Mapping[str, Ticket],
    now_ms: int,
    solve_id: str,
) -> list[StoreDecision]:
    """The store decisions a solution calls for (pure).

    Accepted (pinned) rows never produce one. An assigned row produces one when its
    technician or its queue place changed (same technician: a placement refresh, no
    event); an unassigned row when it loses its technician or its reason changed.
    """
    from dispatcher.domain import Assignment, CostTerm
    from dispatcher.domain import UnassignedReason as DomainReason
    from dispatcher.store import Decision as StoreDecision

    sol = output.solution
    decisions: list[StoreDecision] = []
    for i, row in enumerate(rows):
        if row.status == "ACCEPTED":
            continue
        ticket = tickets[row.ticket_id]
        r = int(sol.technician[i])
        old = row.technician_id if row.status == "ASSIGNED" else ""
        if r == NO_TECHNICIAN:
            reason = DomainReason(_REASON_NAMES[int(sol.reason[i])])
            if old or ticket.unassigned_reason != reason:
                decisions.append(StoreDecision(row.ticket_id, "", None, reason))
            continue
        new = maps.technician_ids[r]
        pos = int(sol.position[i])
        prev = ticket.assignment
        if new == old and prev is not None and prev.position == pos:
            continue  # same place in the same queue: nothing to write
        terms = tuple(
            CostTerm(name, float(values[i]))
            for name, values in output.terms.items()
            if values[i] != 0.0
        )
        decisions.append(
            StoreDecision(
                row.ticket_id,
                new,
                Assignment(
                    technician_id=new,
                    position=pos,
                    expected_arrival_ms=_ms(float(sol.arrival_s[i])),
                    expected_start_ms=_ms(float(sol.start_s[i])),
                    expected_finish_ms=_ms(float(sol.finish_s[i])),
                    sla_predicted_met=bool(sol.sla_met[i]),
                    cost_terms=terms,
                    total_cost=float(sum(t.value for t in terms)),
                    solve_id=solve_id,
                    assigned_at_ms=prev.assigned_at_ms
                    if (prev and new == old)
                    else now_ms,
                ),
            )
        )
    return decisions


# --- the worker pool -------------------------------------------------------------------------


def _noop() -> None:
    return None


def _exit_with_parent(parent_pid: int) -> None:
    """A worker outlives a SIGKILLed server otherwise (nothing closes its call queue)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            os._exit(0)


def _warm_up(parent_pid: int) -> None:
    """Import the solver (and OR-Tools) once per worker, at pool start; exit with the parent."""
    import threading

    import solver.cost
    import solver.solve  # noqa: F401

    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()


@dataclass(frozen=True, slots=True)
class SolveOutput:
    """What a worker returns: the solution and, per row, the cost terms of its placement."""

    solution: Solution
    terms: dict[
        str, npt.NDArray[np.float64]
    ]  # term name -> (n,) values (0 when unassigned)


def _solve_job(problem: Problem | ProblemParts, params: SolveParams) -> SolveOutput:
    """Runs in a worker process: solve, then the placement cost terms of each assigned row."""
    from solver.cost import PAIR_TERMS, evaluate_pairs
    from solver.solve import solve, tech_state

    if isinstance(problem, ProblemParts):
        problem = problem.build()
    solution = solve(problem, params)
    n = problem.tickets.count
    terms = {name: np.zeros(n, dtype=np.float64) for name in PAIR_TERMS}
    rows = np.flatnonzero(solution.technician != NO_TECHNICIAN)
    if rows.size:
        # Terms as the exact core priced the placement (right after the pinned queue).
        _, pair_terms = evaluate_pairs(
            problem,
            params.weights,
            tech_state(problem, params.weights),
            rows.astype(np.int64),
            solution.technician[rows].astype(np.int64),
            params.allow_overtime,
            with_terms=True,
        )
        for name, values in pair_terms.items():
            terms[name][rows] = values
    return SolveOutput(solution, terms)


@dataclass
class SolverPool:
    """Worker processes for the CPU-bound solve; created once at startup.

    Workers start with ``spawn`` (a forked copy of a process running grpc and an event
    loop is unsafe) and import the solver up front so the first solve is not slow.
    """

    workers: int = field(default_factory=lambda: max(1, min(2, os.cpu_count() or 1)))
    _pool: concurrent.futures.ProcessPoolExecutor | None = None

    def start(self) -> None:
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_warm_up,
                initargs=(os.getpid(),),
            )
            # Spawn every worker now (the executor starts them lazily otherwise), so the
            # first solves do not pay for process start and the OR-Tools import.
            for _ in range(self.workers):
                self._pool.submit(_noop)

    async def solve(
        self, problem: Problem | ProblemParts, params: SolveParams
    ) -> SolveOutput:
        """Solve in a worker process; the event loop only awaits the future."""
        self.start()
        assert self._pool is not None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, _solve_job, problem, params)

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


# --- snapshot -> views ---------------------------------------------------------------------


def _shift_end_s(tech: Technician, now_ms: int) -> float | None:
    """End of the shift running now (inf without shifts); None when off shift."""
    if not tech.shifts:
        return float("inf")
    for shift in tech.shifts:
        if shift.start_ms <= now_ms < shift.end_ms:
            return shift.end_ms / 1000.0
    return None


@dataclass
class ViewCache:
    """Views of the previous snapshot, reused while the decoded item is the same object
    (``SnapshotReader`` keeps unchanged items' objects) and the policy is the same."""

    tickets: dict[int, tuple[Ticket, Policy, TicketView]] = field(default_factory=dict)
    technicians: dict[int, tuple[Technician, TechnicianView]] = field(
        default_factory=dict
    )


def views_from_snapshot(
    snapshot: RegionSnapshot,
    policy: Policy,
    now_ms: int,
    cache: ViewCache | None = None,
) -> tuple[list[TicketView], list[TechnicianView]]:
    """The solver's view of a store snapshot (domain types -> plain rows)."""
    from dispatcher.sla import due_times

    tickets: list[TicketView] = []
    seen_t: dict[int, tuple[Ticket, Policy, TicketView]] = {}
    for t in snapshot.tickets:
        if cache is not None:
            hit = cache.tickets.get(id(t))
            if hit is not None and hit[0] is t and hit[1] is policy:
                tickets.append(hit[2])
                seen_t[id(t)] = hit
                continue
        if t.location is None:
            continue  # cannot be placed; validation requires a location, so this is rare
        created_s = t.created_at_ms / 1000.0
        response, resolution = due_times(
            policy,
            t.priority,
            created_s,
            t.response_due_ms / 1000.0 if t.response_due_ms else None,
            t.resolution_due_ms / 1000.0 if t.resolution_due_ms else None,
        )
        tickets.append(
            TicketView(
                ticket_id=t.ticket_id,
                version=t.version,
                status=t.status.value,
                priority=t.priority,
                lat_deg=t.location.lat_deg,
                lon_deg=t.location.lon_deg,
                duration_s=float(t.work_duration_s),
                created_s=created_s,
                response_due_s=response,
                resolution_due_s=resolution,
                window_start_s=t.window_start_ms / 1000.0
                if t.window_start_ms
                else float("-inf"),
                window_end_s=t.window_end_ms / 1000.0
                if t.window_end_ms
                else float("inf"),
                tier=t.customer_tier,
                skills=tuple((s.skill, s.level) for s in t.required_skills),
                technician_id=t.assignment.technician_id if t.assignment else "",
                excluded=(*t.excluded_technician_ids, *t.declined_by_technician_ids),
                preferred=t.preferred_technician_ids,
                started_s=t.started_at_ms / 1000.0 if t.started_at_ms else float("nan"),
                held_back=bool(t.duplicate_of_ticket_id) and not t.allow_duplicate,
            )
        )
        seen_t[id(t)] = (t, policy, tickets[-1])
    techs: list[TechnicianView] = []
    seen_k: dict[int, tuple[Technician, TechnicianView]] = {}
    for k in snapshot.technicians:
        if (
            cache is not None and not k.shifts
        ):  # with shifts, the view depends on the clock
            khit = cache.technicians.get(id(k))
            if khit is not None and khit[0] is k:
                techs.append(khit[1])
                seen_k[id(k)] = khit
                continue
        shift_end = _shift_end_s(k, now_ms)
        on_duty = k.status.value in ("AVAILABLE", "BUSY") and shift_end is not None
        loc = k.location
        techs.append(
            TechnicianView(
                technician_id=k.technician_id,
                version=k.version,
                available=on_duty and loc is not None,
                lat_deg=loc.lat_deg if loc else 0.0,
                lon_deg=loc.lon_deg if loc else 0.0,
                capacity=k.capacity,
                speed_kmh=k.travel_speed_kmh or 40.0,
                shift_end_s=shift_end if shift_end is not None else now_ms / 1000.0,
                skills=tuple((s.skill, s.level) for s in k.skills),
            )
        )
        seen_k[id(k)] = (k, techs[-1])
    if cache is not None:
        cache.tickets, cache.technicians = seen_t, seen_k
    return tickets, techs


QUEUED_PER_PLACE = 2
"""A solve considers at most this many QUEUED tickets per free queue place (most urgent
first); the rest wait for a later solve. Bounds the solve under a backlog."""


def limit_queued(
    tickets: list[TicketView], technicians: Sequence[TechnicianView]
) -> list[TicketView]:
    """Keep every held ticket and the most urgent QUEUED ones (priority, then due time)."""
    queued = [t for t in tickets if t.status == "QUEUED"]
    places = sum(k.capacity for k in technicians if k.available)
    held = len(tickets) - len(queued)
    cap = max(64, QUEUED_PER_PLACE * max(0, places - held))
    if len(queued) <= cap:
        return tickets
    urgent = sorted(queued, key=lambda t: (t.priority, t.response_due_s, t.created_s))[
        :cap
    ]
    keep = {t.ticket_id for t in urgent}
    return [t for t in tickets if t.status != "QUEUED" or t.ticket_id in keep]


# --- cached snapshot reads --------------------------------------------------------------------


BOUNDED_SNAPSHOT = r"""
-- ARGV[1] region prefix, ARGV[2] most QUEUED tickets to return. Like the store's SNAPSHOT
-- (same reply shape, plus the total QUEUED count), but of the QUEUED tickets only the most
-- urgent: P1 first, oldest first (the per-status/priority sets are scored by submit time).
local P, maxq = ARGV[1], tonumber(ARGV[2])
local ids = {}
for _, st in ipairs({'ASSIGNED', 'ACCEPTED', 'IN_PROGRESS'}) do
  for p = 1, 4 do
    for _, id in ipairs(redis.call('ZRANGE', P .. 's:' .. st .. ':' .. p, 0, -1)) do
      ids[#ids + 1] = id
    end
  end
end
local total = 0
for p = 1, 4 do total = total + redis.call('ZCARD', P .. 's:QUEUED:' .. p) end
local left = maxq
for p = 1, 4 do
  if left <= 0 then break end
  local q = redis.call('ZRANGE', P .. 's:QUEUED:' .. p, 0, left - 1)
  for _, id in ipairs(q) do ids[#ids + 1] = id end
  left = left - #q
end
local tickets = {}
for i, id in ipairs(ids) do tickets[i] = redis.call('HGETALL', P .. 'ticket:' .. id) end
local tids = redis.call('ZRANGE', P .. 'techs', 0, -1)
local techs = {}
local queues = {}
for i, id in ipairs(tids) do
  techs[i] = redis.call('HGETALL', P .. 'tech:' .. id)
  queues[i] = redis.call('ZRANGE', P .. 'techq:' .. id, 0, -1)
end
return {ids, tickets, tids, techs, queues, redis.call('GET', P .. 'lease') or '', total}
"""


class SnapshotReader:
    """``RedisStateStore.snapshot`` with a parse cache for one region, optionally bounded.

    Runs the store's own snapshot script (or ``BOUNDED_SNAPSHOT``, which reads only the
    most urgent QUEUED tickets so that a backlog does not make every solve read all of it)
    and the store's codec, keeping the decoded tickets and technicians keyed by their raw
    hash contents: most items are unchanged from one solve to the next, and decoding them
    again is most of a snapshot's CPU cost. ``truncated`` tells whether QUEUED tickets
    were left out of the last read.
    """

    def __init__(self, redis: aioredis.Redis) -> None:
        from dispatcher import store_lua

        self._script = redis.register_script(store_lua.SNAPSHOT)
        self._bounded = redis.register_script(BOUNDED_SNAPSHOT)
        self._tickets: dict[tuple[str, ...], Ticket] = {}
        self._techs: dict[tuple[tuple[str, ...], tuple[str, ...]], Technician] = {}
        self.truncated = False

    async def read(
        self, tenant: str, region: str, max_queued: int | None = None
    ) -> RegionSnapshot:
        from dispatcher.store import RegionSnapshot, now_ms
        from dispatcher.store_codec import (
            pairs_to_dict,
            technician_from_hash,
            ticket_from_hash,
        )

        taken = now_ms()
        if max_queued is None:
            reply = await self._script(
                keys=[keys.events_key(tenant, region)],
                args=[keys.region_prefix(tenant, region)],
            )
            _ids, raw_tickets, _tids, raw_techs, queues, lease = reply
            self.truncated = False
        else:
            reply = await self._bounded(
                keys=[keys.events_key(tenant, region)],
                args=[keys.region_prefix(tenant, region), max_queued],
            )
            _ids, raw_tickets, _tids, raw_techs, queues, lease, total = reply
            self.truncated = int(total) > max_queued
        tickets: dict[tuple[str, ...], Ticket] = {}
        for h in raw_tickets:
            if h:
                key = tuple(h)
                hit = self._tickets.get(key)
                tickets[key] = (
                    hit if hit is not None else ticket_from_hash(pairs_to_dict(h))
                )
        techs: dict[tuple[tuple[str, ...], tuple[str, ...]], Technician] = {}
        for h, q in zip(raw_techs, queues, strict=True):
            if h:
                tkey = (tuple(h), tuple(q))
                thit = self._techs.get(tkey)
                techs[tkey] = (
                    thit
                    if thit is not None
                    else technician_from_hash(pairs_to_dict(h), q)
                )
        self._tickets, self._techs = tickets, techs
        return RegionSnapshot(
            tenant=tenant,
            region=region,
            tickets=tuple(tickets.values()),
            technicians=tuple(techs.values()),
            lease_token=str(lease),
            taken_at_ms=taken,
        )


# --- the loop ------------------------------------------------------------------------------

OWN_EVENT_TYPES = frozenset(
    {
        "TICKET_ASSIGNED",
        "TICKET_REASSIGNED",
        "TICKET_UNASSIGNED",
        "TICKET_UNASSIGNABLE",
        "TICKET_ACCEPTED",
        "TICKET_SLA_AT_RISK",
        "TICKET_SLA_BREACHED",
        "TICKET_ESCALATED",
        "TICKET_DUPLICATE_DETECTED",
    }
)
"""Events that do not call for a new solve (the loop's own output, or no effect on it)."""
WATCH_BLOCK_MS = 1000
CLOCK_INTERVAL_S = 0.25
CLOCK_FULL_INTERVAL_S = 2.0
"""Under a backlog (bounded reads), the clock rules read every open ticket this often."""
MIN_QUEUED_READ = 200
"""A bounded snapshot reads at least this many QUEUED tickets."""
"""Clock rules (breaches, escalations) run at most this often unless one is due sooner."""
ERROR_BACKOFF_S = 0.5
SUPERVISOR_MAXLEN = 10_000
HOUSEKEEPING_MAX = 50
"""Most held-back duplicates whose original closed are settled per cycle."""

_REASON_NAMES = {r.value: r.name for r in UnassignedReason}


def supervisor_key(tenant: str, stream: str) -> str:
    """The supervisor notification stream of a tenant (escalations with notify_supervisor)."""
    return keys.tenant_prefix(tenant) + "supervisor:" + stream


def _ms(seconds: float) -> int:
    return int(seconds * 1000) if np.isfinite(seconds) else 0


@dataclass
class RegionWorker:
    """Solves one held region until cancelled (the lease was lost or released)."""

    loop: SolveLoop
    region: RegionRef
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    checked: set[str] = field(default_factory=set)
    solves: int = 0
    reader: SnapshotReader | None = None
    full_reader: SnapshotReader | None = None
    max_queued: int = 1000
    views: ViewCache = field(default_factory=ViewCache)
    last_clock: float = 0.0
    next_clock: float = 0.0
    cadence_s: float = 5.0
    debounce_s: float = 0.005

    async def run(self) -> None:
        self.reader = SnapshotReader(self.loop.redis)
        watcher = asyncio.create_task(self._watch(), name=f"watch:{self.region}")
        self.wake.set()  # solve at once on taking the region over
        next_clock = float("inf")
        try:
            while True:
                timeout = min(self.cadence_s, max(0.0, next_clock - time.time()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=timeout)
                if self.wake.is_set() and self.debounce_s > 0:
                    await asyncio.sleep(self.debounce_s)
                self.wake.clear()
                token = self.loop.leases.token(self.region)
                if token is None:
                    return
                try:
                    next_clock = await self.cycle(str(token))
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("solve cycle of %s failed", self.region)
                    if self.loop.metrics is not None:
                        self.loop.metrics.solves_total.labels(
                            region=self.region.region, status="error"
                        ).inc()
                    await asyncio.sleep(ERROR_BACKOFF_S)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher

    async def _watch(self) -> None:
        """Wake the solve on every change in the region's event stream (not its own output)."""
        key = keys.events_key(self.region.tenant, self.region.region)
        last = "$"
        redis = self.loop.redis
        while True:
            try:
                reply: Any = await redis.xread(
                    {key: last}, count=1000, block=WATCH_BLOCK_MS
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("event watch of %s failed", self.region, exc_info=True)
                await asyncio.sleep(ERROR_BACKOFF_S)
                continue
            for _, entries in reply or ():
                for event_id, fields in entries:
                    last = str(event_id)
                    if fields.get("type") not in OWN_EVENT_TYPES:
                        self.wake.set()

    # -- one cycle ---------------------------------------------------------------------------

    async def cycle(self, token: str) -> float:
        """Clock rules, solve and commit once; return when the clock rules next need a look."""
        t_start = time.perf_counter()
        lp, tenant, region = self.loop, self.region.tenant, self.region.region
        policy = (await lp.policies.effective(tenant, region)).policy
        self.cadence_s = policy.solver.cadence_s
        self.debounce_s = policy.solver.debounce_ms / 1000.0
        snap = await self._snapshot(self.max_queued)
        if snap.lease_token != token:
            return float("inf")
        now_ms = snap.taken_at_ms
        complete = self.reader is not None and not self.reader.truncated
        held = await self._duplicates(snap, policy, token, complete=complete)
        changed, next_clock = False, self.next_clock
        now_s = now_ms / 1000.0
        if now_s >= min(self.next_clock, self.last_clock + CLOCK_INTERVAL_S) and (
            complete or now_s >= self.last_clock + CLOCK_FULL_INTERVAL_S
        ):
            # Under a backlog the solve reads only the most urgent QUEUED tickets; the
            # clock rules need all of them, read at most every CLOCK_FULL_INTERVAL_S.
            full = snap if complete else await self._full_snapshot()
            changed, next_clock = await self._clock_rules(full, policy, token, now_ms)
            self.last_clock, self.next_clock = now_s, next_clock
        if changed:  # escalations changed versions and priorities: read again
            snap = await self._snapshot(self.max_queued)
            now_ms = snap.taken_at_ms
        ticket_views, tech_views = views_from_snapshot(snap, policy, now_ms, self.views)
        if held:
            ticket_views = [
                dataclasses.replace(t, held_back=True) if t.ticket_id in held else t
                for t in ticket_views
            ]
        places = sum(k.capacity for k in tech_views if k.available)
        self.max_queued = max(MIN_QUEUED_READ, QUEUED_PER_PLACE * places)
        ticket_views = limit_queued(ticket_views, tech_views)
        problem, maps, rows = build_problem_parts(
            ticket_views, tech_views, now_ms / 1000.0
        )
        if not rows:
            self._record_empty(len(tech_views))
            return next_clock
        t_built = time.perf_counter()
        output = await lp.pool.solve(problem, policy.solve_params())
        t_solved = time.perf_counter()
        self.solves += 1
        solve_id = f"{lp.leases.owner_id}:{region}:{self.solves}"
        await self._commit(snap, token, output, maps, rows, tech_views, solve_id)
        await self._at_risk(snap, token, output.solution, problem, maps)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "solve %s: %d tickets x %d technicians; read+build %.1f ms, solve %.1f ms "
                "(solver %.1f ms), commit %.1f ms, since snapshot %.1f ms",
                self.region,
                len(rows),
                len(tech_views),
                1000 * (t_built - t_start),
                1000 * (t_solved - t_built),
                1000 * output.solution.stats.wall_time_s,
                1000 * (time.perf_counter() - t_solved),
                time.time() * 1000 - snap.taken_at_ms,
            )
        return next_clock

    async def _snapshot(self, max_queued: int | None = None) -> RegionSnapshot:
        if self.reader is None:
            self.reader = SnapshotReader(self.loop.redis)
        return await self.reader.read(
            self.region.tenant, self.region.region, max_queued
        )

    async def _full_snapshot(self) -> RegionSnapshot:
        """Every open ticket (its own reader, so the two decode caches do not evict)."""
        if self.full_reader is None:
            self.full_reader = SnapshotReader(self.loop.redis)
        return await self.full_reader.read(self.region.tenant, self.region.region)

    def _record_empty(self, n_techs: int) -> None:
        m = self.loop.metrics
        if m is None:
            return
        region = self.region.region
        m.solve_tickets.labels(region=region).set(0)
        m.solve_technicians.labels(region=region).set(n_techs)
        for reason in UnassignedReason:
            if reason is not UnassignedReason.ASSIGNED:
                m.solve_unassigned.labels(
                    region=region, reason=reason.name.lower()
                ).set(0)

    async def _commit(
        self,
        snap: RegionSnapshot,
        token: str,
        output: SolveOutput,
        maps: IndexMaps,
        rows: Sequence[TicketView],
        techs: Sequence[TechnicianView],
        solve_id: str,
    ) -> None:
        from dispatcher.store import ExpectedVersions

        lp, sol = self.loop, output.solution
        by_id = {t.ticket_id: t for t in snap.tickets}
        decisions = plan_decisions(
            output, maps, rows, by_id, snap.taken_at_ms, solve_id
        )
        self._record_solve(sol, maps)
        if not decisions:
            return
        expected = ExpectedVersions(
            tickets={t.ticket_id: t.version for t in rows},
            technicians={k.technician_id: k.version for k in techs},
        )
        result = await lp.store.commit_assignments(
            snap.tenant, snap.region, token, decisions, expected, solve_id=solve_id
        )
        if result.lease_lost:
            logger.warning("commit of %s refused: lease lost", self.region)
            return
        m = lp.metrics
        if m is None:
            return
        done_ms = int(time.time() * 1000)
        for outcome in result.outcomes:
            if outcome.code == "ASSIGNED":
                m.assignments_total.labels(region=snap.region).inc()
                ticket = by_id[outcome.ticket_id]
                if not ticket.declined_by_technician_ids:
                    m.assignment_latency_seconds.observe(
                        max(0.0, (done_ms - ticket.created_at_ms) / 1000.0)
                    )
            elif outcome.code == "REASSIGNED":
                m.reassignments_total.labels(region=snap.region).inc()

    def _record_solve(self, sol: Solution, maps: IndexMaps) -> None:
        m = self.loop.metrics
        if m is None:
            return
        region = self.region.region
        m.solve_duration_seconds.labels(region=region).observe(sol.stats.wall_time_s)
        m.solves_total.labels(region=region, status=sol.stats.status.value).inc()
        m.solve_tickets.labels(region=region).set(len(maps.ticket_ids))
        m.solve_technicians.labels(region=region).set(len(maps.technician_ids))
        m.solve_objective.labels(region=region).set(sol.objective)
        counts = np.bincount(
            sol.reason.astype(np.int64), minlength=len(UnassignedReason)
        )
        for reason in UnassignedReason:
            if reason is not UnassignedReason.ASSIGNED:
                m.solve_unassigned.labels(
                    region=region, reason=reason.name.lower()
                ).set(int(counts[reason.value]))

    # -- SLA -------------------------------------------------------------------------------

    async def _clock_rules(
        self, snap: RegionSnapshot, policy: Policy, token: str, now_ms: int
    ) -> tuple[bool, float]:
        """Breaches and escalations due now; returns (priorities changed, next due time)."""
        lp = self.loop
        marks = await lp.sla.marks(snap.tenant, snap.region)
        open_ids = {t.ticket_id for t in snap.tickets}
        await lp.sla.forget(
            snap.tenant, snap.region, [k for k in marks if k not in open_ids]
        )
        clock: list[ClockTicket] = []
        for t in snap.tickets:
            created_s = t.created_at_ms / 1000.0
            response, resolution = due_times(
                policy,
                t.priority,
                created_s,
                t.response_due_ms / 1000.0 if t.response_due_ms else None,
                t.resolution_due_ms / 1000.0 if t.resolution_due_ms else None,
            )
            clock.append(
                ClockTicket(
                    t.ticket_id,
                    t.priority,
                    t.status.value,
                    created_s,
                    response,
                    resolution,
                    marks.get(t.ticket_id, SlaMarks()),
                )
            )
        now_s = now_ms / 1000.0
        found_breaches = breaches(clock, now_s)
        found_escalations = escalations(policy, clock, now_s)
        actions = [
            SlaAction(
                "breach",
                b.ticket_id,
                b.kind,
                "",
                json.dumps({"due_ms": str(_ms(b.due_s))}),
            )
            for b in found_breaches
        ]
        for e in found_escalations:
            details = {
                "old_priority": f"P{e.old_priority}",
                "condition": e.rule.condition,
            }
            if e.rule.widen_to_neighbours:
                details["widen_to"] = ",".join(policy.neighbours.get(snap.region, ()))
            if e.rule.notify_supervisor:
                details["supervisor_stream"] = policy.supervisor_stream
            actions.append(
                SlaAction(
                    "esc",
                    e.ticket_id,
                    e.rule.name,
                    str(e.new_priority),
                    json.dumps(details),
                )
            )
        applied = await lp.sla.apply(
            snap.tenant, snap.region, token, actions, lp.store.events_maxlen
        )
        if not applied:
            return False, next_clock_deadline(policy, clock, now_s)
        m = lp.metrics
        for b, ok in zip(found_breaches, applied, strict=False):
            if ok and m is not None:
                m.sla_breaches_total.labels(
                    priority=f"P{b.priority}", kind=b.kind
                ).inc()
        esc_applied = applied[len(found_breaches) :]
        changed = False
        for e, ok in zip(found_escalations, esc_applied, strict=True):
            if not ok:
                continue
            changed = changed or e.new_priority != e.old_priority
            if m is not None:
                m.escalations_total.labels(priority=f"P{e.old_priority}").inc()
            if e.rule.notify_supervisor:
                await lp.redis.xadd(
                    supervisor_key(snap.tenant, policy.supervisor_stream),
                    {
                        "type": "TICKET_ESCALATED",
                        "region": snap.region,
                        "ticket_id": e.ticket_id,
                        "rule": e.rule.name,
                        "old_priority": str(e.old_priority),
                        "priority": str(e.new_priority),
                        "widen_to": ",".join(policy.neighbours.get(snap.region, ())),
                        "at_ms": str(now_ms),
                    },
                    maxlen=SUPERVISOR_MAXLEN,
                    approximate=True,
                )
        return changed, next_clock_deadline(policy, clock, now_s)

    async def _at_risk(
        self,
        snap: RegionSnapshot,
        token: str,
        sol: Solution,
        problem: ProblemParts,
        maps: IndexMaps,
    ) -> None:
        """SLA_AT_RISK once per ticket predicted to miss a due time."""
        lp = self.loop
        due = problem.tickets
        rows = at_risk_rows(
            sol,
            due["response_due_s"],
            due["resolution_due_s"],
            due["created_s"],
            problem.now_s,
        )
        m = lp.metrics
        if m is not None:
            m.queue_at_risk.labels(tenant=snap.tenant, region=snap.region).set(
                len(rows)
            )
        if not len(rows):
            return
        marks = await lp.sla.marks(snap.tenant, snap.region)
        actions = [
            SlaAction(
                "risk",
                maps.ticket_ids[i],
                details=json.dumps(
                    {
                        "predicted_start_ms": str(_ms(float(sol.start_s[i]))),
                        "response_due_ms": str(_ms(float(due["response_due_s"][i]))),
                        "reason": _REASON_NAMES[int(sol.reason[i])],
                    }
                ),
            )
            for i in rows
            if not marks.get(maps.ticket_ids[i], SlaMarks()).at_risk
        ]
        applied = await lp.sla.apply(
            snap.tenant, snap.region, token, actions, lp.store.events_maxlen
        )
        if m is not None and applied:
            prio = {t.ticket_id: t.priority for t in snap.tickets}
            for a, ok in zip(actions, applied, strict=True):
                if ok:
                    m.sla_at_risk_total.labels(
                        priority=f"P{prio.get(a.ticket_id, 4)}"
                    ).inc()

    # -- duplicates --------------------------------------------------------------------------

    async def _duplicates(
        self, snap: RegionSnapshot, policy: Policy, token: str, *, complete: bool = True
    ) -> set[str]:
        """Link new tickets that duplicate an open one; settle links whose original closed.

        Returns the ids held back by links made in this cycle (the snapshot predates them).
        """
        lp = self.loop
        open_by_id = {t.ticket_id: t for t in snap.tickets}
        if complete:  # a bounded read does not list every open ticket
            self.checked &= open_by_id.keys()
        held: set[str] = set()
        rule = policy.duplicates
        fresh = sorted(
            (
                t
                for t in snap.tickets
                if t.status.value == "QUEUED"
                and not t.duplicate_of_ticket_id
                and not t.declined_by_technician_ids
                and t.unassigned_reason.value == "NOT_YET_SOLVED"
                and t.ticket_id not in self.checked
            ),
            key=lambda t: (t.created_at_ms, t.ticket_id),
        )

        async def is_open(ticket_id: str) -> tuple[bool, str, str]:
            other = open_by_id.get(ticket_id)
            if other is None and not complete:  # maybe just not in this bounded read
                from dispatcher.errors import DispatchError

                try:
                    other = await lp.store.get_ticket(snap.tenant, ticket_id)
                except DispatchError:
                    other = None
                if other is not None and not other.status.is_open:
                    other = None
            if other is None:
                return False, "", ""
            return True, other.category, other.asset_id

        for t in fresh:
            self.checked.add(t.ticket_id)
            if not rule.enabled or not (t.asset_id or (t.category and t.location)):
                continue  # nothing to match on: no Redis round trip
            probe = DuplicateProbe(
                t.ticket_id,
                t.category,
                t.created_at_ms / 1000.0,
                t.location.lat_deg if t.location else None,
                t.location.lon_deg if t.location else None,
                t.asset_id,
            )
            original = await lp.duplicates.find_duplicate(
                snap.tenant,
                snap.region,
                rule,
                probe,
                is_open,
                allow_duplicate=t.allow_duplicate,
            )
            if original is None:
                continue
            ok = await lp.linker.link(
                snap.tenant,
                snap.region,
                token,
                t.ticket_id,
                original,
                held_back=not t.allow_duplicate,
                maxlen=lp.store.events_maxlen,
            )
            if ok:
                if not t.allow_duplicate:
                    held.add(t.ticket_id)
                if lp.metrics is not None:
                    lp.metrics.duplicates_detected_total.inc()
        if complete:
            await self._settle_links(snap, open_by_id, token)
        return held

    async def _settle_links(
        self, snap: RegionSnapshot, open_by_id: dict[str, Ticket], token: str
    ) -> None:
        """A held-back duplicate whose original is resolved is cancelled; one whose original
        was cancelled is released for dispatch."""
        from dispatcher.errors import DispatchError

        lp = self.loop
        orphans = [
            t
            for t in snap.tickets
            if t.duplicate_of_ticket_id
            and not t.allow_duplicate
            and t.duplicate_of_ticket_id not in open_by_id
        ][:HOUSEKEEPING_MAX]
        for t in orphans:
            original = t.duplicate_of_ticket_id
            try:
                status = (await lp.store.get_ticket(snap.tenant, original)).status.value
            except DispatchError:
                status = "GONE"
            try:
                if status == "RESOLVED":
                    await lp.store.cancel(
                        snap.tenant,
                        t.ticket_id,
                        f"duplicate of {original}, which was resolved",
                    )
                else:  # cancelled or gone: the duplicate is dispatched on its own
                    await lp.linker.link(
                        snap.tenant,
                        snap.region,
                        token,
                        t.ticket_id,
                        "",
                        held_back=False,
                        maxlen=lp.store.events_maxlen,
                    )
            except DispatchError:
                logger.info(
                    "could not settle duplicate %s of %s", t.ticket_id, original
                )


class SolveLoop:
    """Leases plus one ``RegionWorker`` per held region; run it as a background task."""

    def __init__(
        self,
        redis: aioredis.Redis,
        metrics: DispatchMetrics | None = None,
        *,
        pool: SolverPool | None = None,
        lease_ttl_ms: int = DEFAULT_LEASE_TTL_MS,
        owner_id: str | None = None,
    ) -> None:
        from dispatcher.store import RedisStateStore

        self.redis = redis
        self.metrics = metrics
        self.store = RedisStateStore(redis, metrics=metrics)
        self.policies = PolicyStore(redis)
        self.sla = SlaRecorder(redis)
        self.duplicates = DuplicateIndex(redis)
        self.linker = DuplicateLinker(redis)
        self.pool = pool if pool is not None else SolverPool()
        manager_kwargs: dict[str, Any] = {"owner_id": owner_id} if owner_id else {}
        self.leases = LeaseManager(
            redis,
            self._regions,
            ttl_ms=lease_ttl_ms,
            metrics=metrics,
            on_change=self._on_lease,
            **manager_kwargs,
        )
        self.workers: dict[RegionRef, asyncio.Task[None]] = {}
        self._stopping: set[asyncio.Task[None]] = set()

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
        if token is not None:
            if self.metrics is not None:
                self.metrics.init_region(region.tenant, region.region)
            worker = RegionWorker(self, region)
            self.workers[region] = asyncio.create_task(
                worker.run(), name=f"solve:{region}"
            )

    async def run(self) -> None:
        """Hold leases and solve until cancelled; then stop the workers and release."""
        self.pool.start()
        stop = asyncio.Event()
        try:
            await self.leases.run(stop)
        finally:
            tasks = [*self.workers.values(), *self._stopping]
            self.workers.clear()
            for task in tasks:
                task.cancel()
            # Wait for every worker (also those cancelled on a lease change just now), so
            # nothing touches Redis after the loop has stopped.
            await asyncio.gather(*tasks, return_exceptions=True)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.pool.shutdown)


def install(
    ctx: AppContext, *, lease_ttl_ms: int | None = None, workers: int | None = None
) -> SolveLoop:
    """Create the solver pool now (startup) and register the loop as a background task."""
    settings = ctx.settings
    ttl = lease_ttl_ms or int(getattr(settings, "lease_ttl_ms", DEFAULT_LEASE_TTL_MS))
    n = workers or int(getattr(settings, "solver_workers", 0) or 0)
    pool = SolverPool(n) if n > 0 else SolverPool()
    pool.start()
    loop = SolveLoop(ctx.redis, ctx.metrics, pool=pool, lease_ttl_ms=ttl)
    ctx.background.append(loop.run)
    ctx.cleanups.append(loop.aclose)
    return loop
