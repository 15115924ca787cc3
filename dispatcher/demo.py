"""``dispatcher demo``: the service on its embedded Redis, fed by a built-in ticket platform.

Starts an embedded valkey-server (temporary directory), the gRPC service with its solve loop
in this process, and a ticket platform that talks to it over gRPC on loopback only:

* it replays the real Boston 311 stream (2015 Q3, shipped in ``simulations/data``; regions =
  city departments, skills = work queues, priorities from the city's own SLA windows) with
  time compressed ``--speed`` times, by batched submits at each ticket's replay time;
* synthetic technicians per region accept (or sometimes decline) what the service assigns
  them, travel, start and complete their queue in order, all on the compressed clock;
* it sets a policy (SLA targets, duplicate window and escalation compressed by ``--speed``)
  through the Policy API first, as an admin would.

The terminal shows queue depth, assignments per second, SLA attainment and solve latency
live (rich), then a summary; it stops everything it started after ``--duration`` seconds.

Caveat, stated honestly: the solver's travel model runs on the wall clock (km at the
technician's speed), while the demo compresses work, SLA windows and the technicians'
simulated travel. Predicted-lateness figures (at-risk flags) are therefore pessimistic in
the demo; the SLA attainment shown is measured by the platform on the compressed clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import sys
import tempfile
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

    import polars as pl

DEFAULT_START = "2015-07-06T07:00:00"  # a Monday morning
SKILL_CHARS = re.compile(r"[^A-Za-z0-9._:/-]+")
MAX_SKILLS = 64
DEPARTMENTS = ("PWDx", "ISD", "BTDT", "PARK", "INFO")
"""Departments that get a region of their own; the rest share region OTHER."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the service on its embedded Redis with a replayed Boston 311 stream",
        description=(
            "Start the service (embedded Redis, gRPC on loopback, solve loop) and a built-in "
            "ticket platform replaying the real Boston 311 stream, show live queue depth, "
            "assignments/s, SLA attainment and solve latency, print a summary and stop."
        ),
    )
    parser.add_argument(
        "--duration", type=float, default=60.0, help="seconds to run (default 60)"
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1800.0,
        help="time compression: replay seconds per wall second (default 1800: 1 s = 30 min)",
    )
    parser.add_argument(
        "--start", default=DEFAULT_START, help=f"replay start (default {DEFAULT_START})"
    )
    parser.add_argument(
        "--technicians",
        type=int,
        default=60,
        help="synthetic technicians in all (default 60)",
    )
    parser.add_argument(
        "--decline-probability",
        type=float,
        default=0.05,
        help="per assignment (default 0.05)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--no-live",
        action="store_true",
        help="print a line per second instead of a live view",
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the summary here"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.duration <= 0 or args.speed <= 0 or args.technicians < 1:
        print(
            "dispatcher demo: --duration, --speed and --technicians must be > 0",
            file=sys.stderr,
        )
        return 2
    import logging

    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        summary = asyncio.run(_main(args))
    except KeyboardInterrupt:
        return 130
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if summary["assigned"] > 0 else 1


# --- the replayed scenario ---------------------------------------------------------------------


def _region(queue: str) -> str:
    dept = queue.split("_", 1)[0]
    if dept.startswith("INFO"):
        dept = "INFO"
    return dept if dept in DEPARTMENTS else "OTHER"


def _skill(queue: str) -> str:
    return SKILL_CHARS.sub("-", queue).strip("-")[:MAX_SKILLS] or "general"


@dataclass(frozen=True, slots=True)
class DemoTicket:
    ticket_id: str
    region: str
    category: str
    priority: int
    skill: str
    lat: float
    lon: float
    at_s: float  # wall seconds after the start of the replay
    work_s: int  # compressed work duration
    resolution_window_s: float  # compressed; inf = none in the source


def load_scenario(args: argparse.Namespace) -> list[DemoTicket]:
    """The Boston 311 tickets of ``duration x speed`` replay seconds from ``--start``."""
    import datetime as dt

    import numpy as np

    from simulations.replay import load_boston311

    start = dt.datetime.fromisoformat(args.start)
    end = start + dt.timedelta(seconds=args.duration * args.speed)
    frame: pl.DataFrame = load_boston311(
        start=start, end=end, unknown_location="sample", seed=args.seed
    )
    rng = np.random.default_rng(args.seed)
    work_real = rng.lognormal(
        math.log(2400.0), 0.5, frame.height
    )  # ~40 min median on site
    out = []
    for i, row in enumerate(frame.iter_rows(named=True)):
        due = row["resolution_due_s"]
        window = (due - row["created_s"]) / args.speed if due == due else math.inf
        out.append(
            DemoTicket(
                ticket_id=str(row["ticket_id"]),
                region=_region(row["skill"]),
                category=str(row["category"])[:64],
                priority=int(row["priority"]),
                skill=_skill(row["skill"]),
                lat=float(row["lat_deg"]),
                lon=float(row["lon_deg"]),
                at_s=float(row["created_s"]) / args.speed,
                work_s=max(1, round(work_real[i] / args.speed)),
                resolution_window_s=max(window, 1.0),
            )
        )
    return out


def technicians_for(
    tickets: list[DemoTicket], total: int, seed: int
) -> list[dict[str, Any]]:
    """Technicians per region in proportion to its volume, with its most common skills."""
    import numpy as np

    rng = np.random.default_rng(seed)
    by_region: dict[str, list[DemoTicket]] = defaultdict(list)
    for t in tickets:
        by_region[t.region].append(t)
    out: list[dict[str, Any]] = []
    for region, items in sorted(by_region.items()):
        n = max(2, round(total * len(items) / max(1, len(tickets))))
        counts: dict[str, int] = defaultdict(int)
        for t in items:
            counts[t.skill] += 1
        skills = sorted(counts, key=lambda s: -counts[s])[:MAX_SKILLS]
        for k in range(n):
            home = items[int(rng.integers(len(items)))]
            out.append(
                {
                    "technician_id": f"{region}-tech-{k:02d}",
                    "region": region,
                    "skills": [(s, int(rng.integers(1, 4))) for s in skills],
                    "lat": home.lat,
                    "lon": home.lon,
                }
            )
    return out


# --- live statistics -----------------------------------------------------------------------


@dataclass
class Stats:
    submitted: int = 0
    assigned: int = 0
    reassigned: int = 0
    declined: int = 0
    started: int = 0
    resolved: int = 0
    duplicates: int = 0
    escalations: int = 0
    breaches: int = 0
    queue_depth: int = 0
    response_met: dict[int, list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0])
    )
    resolution_met: dict[int, list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0])
    )
    latencies_s: list[float] = field(default_factory=list)
    recent_assign: deque[float] = field(default_factory=deque)

    def rate(self, now: float, window_s: float = 5.0) -> float:
        while self.recent_assign and self.recent_assign[0] < now - window_s:
            self.recent_assign.popleft()
        return len(self.recent_assign) / window_s

    @staticmethod
    def pct(table: dict[int, list[int]]) -> float:
        met = sum(v[0] for v in table.values())
        n = sum(v[1] for v in table.values())
        return 100.0 * met / n if n else float("nan")


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _histogram_quantile(registry: Any, name: str, q: float) -> float:
    """Quantile (upper bucket bound) of a histogram summed over its label sets."""
    buckets: dict[float, float] = defaultdict(float)
    for metric in registry.collect():
        for s in metric.samples:
            if s.name == name + "_bucket":
                buckets[float(s.labels["le"])] += s.value
    if not buckets:
        return float("nan")
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return float("nan")
    for b in bounds:
        if buckets[b] >= q * total:
            return b
    return bounds[-1]


# --- the built-in ticket platform ------------------------------------------------------------

TARGETS_S = {1: 3600.0, 2: 4 * 3600.0, 3: 8 * 3600.0, 4: 24 * 3600.0}
"""Response targets (real seconds) per priority; compressed by --speed for the demo."""
ACCEPT_DELAY_S = 0.2
TRAVEL_KMH = 40.0


class Platform:
    """Submits the replayed tickets and plays the technicians, all over gRPC."""

    def __init__(
        self,
        channel: Any,
        args: argparse.Namespace,
        tickets: list[DemoTicket],
        techs: list[dict[str, Any]],
        stats: Stats,
    ) -> None:
        import numpy as np

        from dispatcher.pb import dispatch_pb2 as pb
        from dispatcher.pb import dispatch_pb2_grpc as pb_grpc

        self.pb = pb
        self.tickets_api = pb_grpc.TicketServiceStub(channel)
        self.techs_api = pb_grpc.TechnicianServiceStub(channel)
        self.events_api = pb_grpc.EventServiceStub(channel)
        self.insight_api = pb_grpc.InsightServiceStub(channel)
        self.policy_api = pb_grpc.PolicyServiceStub(channel)
        self.args, self.speed = args, args.speed
        self.tickets, self.techs, self.stats = tickets, techs, stats
        self.by_id = {t.ticket_id: t for t in tickets}
        self.due: dict[
            str, tuple[float, int, int]
        ] = {}  # id -> (submit wall s, resp ms, res ms)
        self.work: dict[str, asyncio.Queue[str]] = {
            t["technician_id"]: asyncio.Queue() for t in techs
        }
        self.where = {t["technician_id"]: (t["lat"], t["lon"]) for t in techs}
        self.rng = np.random.default_rng(args.seed + 1)
        self.pending: set[asyncio.Task[None]] = set()
        self._first_seen: set[str] = set()

    async def setup(self) -> None:
        """Policy (compressed SLA targets and windows), then the technicians."""
        pb, s = self.pb, self.speed
        policy = pb.Policy(
            # The solver's travel model runs on the wall clock while the demo's SLA windows
            # are compressed: predicted lateness is inflated ~speed times, so weigh it less.
            weights=pb.CostWeights(
                travel=1.0,
                lateness=10.0 * 40.0 / s,
                waiting=0.1,
                skill_surplus=60.0,
                balance=300.0,
                preference=600.0,
                tier=0.5,
                stability=900.0,
                unassigned=7200.0,
            ),
            sla_targets=[
                pb.SlaTarget(priority=p, response_s=t / s, resolution_s=3 * t / s)
                for p, t in TARGETS_S.items()
            ],
            escalation_rules=[
                pb.EscalationRule(
                    name="p2-not-started-1h",
                    priority=pb.PRIORITY_P2,
                    condition=pb.ESCALATION_CONDITION_NOT_STARTED,
                    after_s=3600.0 / s,
                    raise_priority=1,
                    notify_supervisor=True,
                )
            ],
            duplicate_rule=pb.DuplicateRule(
                enabled=True, by_asset=True, radius_m=50.0, window_s=3600.0 / s
            ),
            solver=pb.SolverSettings(
                cadence_s=1.0, debounce_ms=20.0, time_limit_s=2.0, candidates_k=16
            ),
            supervisor_stream="supervisor",
            comment="dispatcher demo: SLA targets and windows compressed by --speed",
        )
        await self.policy_api.UpdatePolicy(pb.UpdatePolicyRequest(policy=policy))
        for t in self.techs:
            tech = pb.Technician(
                technician_id=t["technician_id"],
                region=t["region"],
                display_name=t["technician_id"],
                skills=[pb.Skill(skill=k, level=lv) for k, lv in t["skills"]],
                location=pb.Location(latitude_deg=t["lat"], longitude_deg=t["lon"]),
                status=pb.TECHNICIAN_STATUS_AVAILABLE,
                capacity=3,
                travel_speed_kmh=TRAVEL_KMH,
            )
            await self.techs_api.UpsertTechnician(
                pb.UpsertTechnicianRequest(technician=tech)
            )

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def submit_all(self, t0: float) -> None:
        """Batched submits at each ticket's (compressed) replay time."""
        pb, i = self.pb, 0
        while i < len(self.tickets):
            now = time.monotonic() - t0
            batch = []
            while i < len(self.tickets) and self.tickets[i].at_s <= now:
                batch.append(self.tickets[i])
                i += 1
            if batch:
                now_ms = int(time.time() * 1000)
                requests = []
                for t in batch:
                    response_ms = now_ms + int(
                        1000 * TARGETS_S[t.priority] / self.speed
                    )
                    window = t.resolution_window_s
                    if not math.isfinite(window):
                        window = 3 * TARGETS_S[t.priority] / self.speed
                    resolution_ms = max(response_ms, now_ms + int(1000 * window))
                    self.due[t.ticket_id] = (
                        time.monotonic(),
                        response_ms,
                        resolution_ms,
                    )
                    requests.append(
                        pb.SubmitTicketRequest(
                            request_id=f"demo-{t.ticket_id}",
                            ticket=pb.Ticket(
                                ticket_id=t.ticket_id,
                                region=t.region,
                                category=t.category,
                                priority=t.priority,
                                required_skills=[
                                    pb.SkillRequirement(skill=t.skill, min_level=1)
                                ],
                                location=pb.Location(
                                    latitude_deg=t.lat, longitude_deg=t.lon
                                ),
                                work_duration_s=t.work_s,
                                sla=pb.SlaDue(
                                    response_due_ms=response_ms,
                                    resolution_due_ms=resolution_ms,
                                ),
                            ),
                        )
                    )
                reply = await self.tickets_api.BatchSubmitTickets(
                    pb.BatchSubmitTicketsRequest(requests=requests)
                )
                self.stats.submitted += sum(1 for r in reply.results if r.code == 0)
            next_at = self.tickets[i].at_s if i < len(self.tickets) else now
            await asyncio.sleep(min(0.05, max(0.0, next_at - (time.monotonic() - t0))))

    async def watch(self) -> None:
        """Follow the event stream: assignments go to the technicians' apps."""
        pb, st = self.pb, self.stats
        call = self.events_api.WatchEvents(
            pb.WatchEventsRequest(start=pb.START_POSITION_LATEST)
        )
        async for response in call:
            e = response.event
            if e.type in (
                pb.EVENT_TYPE_TICKET_ASSIGNED,
                pb.EVENT_TYPE_TICKET_REASSIGNED,
            ):
                if e.type == pb.EVENT_TYPE_TICKET_ASSIGNED:
                    st.assigned += 1
                    st.recent_assign.append(time.monotonic())
                    due = self.due.get(e.ticket_id)
                    if due is not None and e.ticket_id not in self._first_seen:
                        self._first_seen.add(e.ticket_id)
                        st.latencies_s.append(time.monotonic() - due[0])
                else:
                    st.reassigned += 1
                self._spawn(self._answer(e.ticket_id, e.technician_id))
            elif e.type == pb.EVENT_TYPE_TICKET_DUPLICATE_DETECTED:
                st.duplicates += 1
            elif e.type == pb.EVENT_TYPE_TICKET_ESCALATED:
                st.escalations += 1
            elif e.type == pb.EVENT_TYPE_TICKET_SLA_BREACHED:
                st.breaches += 1

    async def _answer(self, ticket_id: str, technician_id: str) -> None:
        """The technician's app: accept (or decline) shortly after the assignment."""
        import grpc

        pb = self.pb
        await asyncio.sleep(ACCEPT_DELAY_S)
        try:
            if self.rng.random() < self.args.decline_probability:
                await self.tickets_api.DeclineTicket(
                    pb.DeclineTicketRequest(
                        ticket_id=ticket_id,
                        technician_id=technician_id,
                        reason="demo: busy",
                    )
                )
                self.stats.declined += 1
                return
            await self.tickets_api.AcceptTicket(
                pb.AcceptTicketRequest(ticket_id=ticket_id, technician_id=technician_id)
            )
        except grpc.aio.AioRpcError:
            return  # moved to someone else meanwhile: fine
        await self.work[technician_id].put(ticket_id)

    async def technician(self, technician_id: str) -> None:
        """Work the accepted tickets in order: travel, start, work, complete."""
        import grpc

        from dispatcher.duplicates import haversine_m

        pb, queue = self.pb, self.work[technician_id]
        while True:
            ticket_id = await queue.get()
            t = self.by_id[ticket_id]
            lat, lon = self.where[technician_id]
            km = haversine_m(lat, lon, t.lat, t.lon) / 1000.0
            await asyncio.sleep(max(0.05, km / TRAVEL_KMH * 3600.0 / self.speed))
            _, response_ms, resolution_ms = self.due[ticket_id]
            try:
                await self.tickets_api.StartTicket(
                    pb.StartTicketRequest(
                        ticket_id=ticket_id, technician_id=technician_id
                    )
                )
            except grpc.aio.AioRpcError:
                continue
            self.stats.started += 1
            met = self.stats.response_met[t.priority]
            met[0] += int(time.time() * 1000) <= response_ms
            met[1] += 1
            await asyncio.sleep(t.work_s)
            try:
                await self.tickets_api.CompleteTicket(
                    pb.CompleteTicketRequest(
                        ticket_id=ticket_id,
                        technician_id=technician_id,
                        resolution=pb.Resolution(code=pb.RESOLUTION_CODE_FIXED),
                    )
                )
            except grpc.aio.AioRpcError:
                continue
            self.stats.resolved += 1
            res = self.stats.resolution_met[t.priority]
            res[0] += int(time.time() * 1000) <= resolution_ms
            res[1] += 1
            self.where[technician_id] = (t.lat, t.lon)
            with contextlib.suppress(grpc.aio.AioRpcError):
                await self.techs_api.ReportLocation(
                    pb.ReportLocationRequest(
                        technician_id=technician_id,
                        location=pb.Location(latitude_deg=t.lat, longitude_deg=t.lon),
                    )
                )

    async def poll_queues(self) -> None:
        pb = self.pb
        while True:
            reply = await self.insight_api.GetQueueStats(pb.GetQueueStatsRequest())
            self.stats.queue_depth = sum(
                p.queued for r in reply.regions for p in r.priorities
            )
            await asyncio.sleep(1.0)


# --- running it ----------------------------------------------------------------------------


def _view(stats: Stats, registry: Any, elapsed: float, args: argparse.Namespace) -> Any:
    import datetime as dt

    from rich.table import Table

    replay = dt.datetime.fromisoformat(args.start) + dt.timedelta(
        seconds=elapsed * args.speed
    )
    now = time.monotonic()
    table = Table(
        title=f"dispatcher demo — Boston 311 replay at {args.speed:g}x", min_width=60
    )
    table.add_column("", style="bold")
    table.add_column("value", justify="right")
    rows = [
        ("elapsed / replay clock", f"{elapsed:5.1f} s / {replay:%a %d %b %H:%M}"),
        ("tickets submitted", f"{stats.submitted}"),
        ("queue depth (unassigned)", f"{stats.queue_depth}"),
        ("assignments/s (last 5 s)", f"{stats.rate(now):.1f}"),
        (
            "assigned / reassigned / declined",
            f"{stats.assigned} / {stats.reassigned} / {stats.declined}",
        ),
        (
            "in progress / resolved",
            f"{stats.started - stats.resolved} / {stats.resolved}",
        ),
        ("SLA response met", f"{Stats.pct(stats.response_met):.1f} %"),
        ("SLA resolution met", f"{Stats.pct(stats.resolution_met):.1f} %"),
        (
            "submit -> assignment p50 / p99",
            f"{1000 * _quantile(stats.latencies_s, 0.5):.0f} / "
            f"{1000 * _quantile(stats.latencies_s, 0.99):.0f} ms",
        ),
        (
            "solve latency p50 / p95 (bucket)",
            f"<= {1000 * _histogram_quantile(registry, 'dispatch_solve_duration_seconds', 0.5):.0f}"
            f" / <= {1000 * _histogram_quantile(registry, 'dispatch_solve_duration_seconds', 0.95):.0f} ms",
        ),
        (
            "duplicates linked / escalations",
            f"{stats.duplicates} / {stats.escalations}",
        ),
    ]
    for k, v in rows:
        table.add_row(k, v)
    return table


def _summary(
    stats: Stats, registry: Any, elapsed: float, n_techs: int
) -> dict[str, Any]:
    solves = sum(
        s.value
        for m in registry.collect()
        for s in m.samples
        if s.name == "dispatch_solve_duration_seconds_count"
    )
    unassigned: dict[str, float] = defaultdict(float)
    for m in registry.collect():
        for s in m.samples:
            if s.name == "dispatch_solve_unassigned" and s.value:
                unassigned[s.labels["reason"]] += s.value
    by_prio = {
        f"P{p}": {
            "response_met_pct": round(100 * v[0] / v[1], 1) if v[1] else None,
            "started": v[1],
        }
        for p, v in sorted(stats.response_met.items())
    }
    return {
        "elapsed_s": round(elapsed, 1),
        "technicians": n_techs,
        "submitted": stats.submitted,
        "assigned": stats.assigned,
        "reassigned": stats.reassigned,
        "declined": stats.declined,
        "resolved": stats.resolved,
        "queue_depth_at_end": stats.queue_depth,
        "assignments_per_s": round(stats.assigned / elapsed, 2) if elapsed else 0.0,
        "sla_response_met_pct": round(Stats.pct(stats.response_met), 1),
        "sla_resolution_met_pct": round(Stats.pct(stats.resolution_met), 1),
        "sla_by_priority": by_prio,
        "assignment_latency_p50_ms": round(1000 * _quantile(stats.latencies_s, 0.5), 1),
        "assignment_latency_p99_ms": round(
            1000 * _quantile(stats.latencies_s, 0.99), 1
        ),
        "solves": int(solves),
        "solve_p50_le_ms": 1000
        * _histogram_quantile(registry, "dispatch_solve_duration_seconds", 0.5),
        "solve_p95_le_ms": 1000
        * _histogram_quantile(registry, "dispatch_solve_duration_seconds", 0.95),
        "unassigned_by_reason_at_end": dict(unassigned),
        "duplicates_linked": stats.duplicates,
        "escalations": stats.escalations,
        "sla_breach_events": stats.breaches,
    }


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    from rich.console import Console

    from dispatcher.embedded_redis import EmbeddedRedis

    console = Console()
    console.print(
        f"[bold]dispatcher demo[/]: loading the Boston 311 replay from {args.start} ..."
    )
    tickets = await asyncio.to_thread(load_scenario, args)
    techs = technicians_for(tickets, args.technicians, args.seed)
    regions = sorted({t["region"] for t in techs})
    console.print(
        f"{len(tickets)} real tickets over {args.duration:g} s (x{args.speed:g}), "
        f"{len(techs)} technicians in regions {', '.join(regions)}"
    )
    with tempfile.TemporaryDirectory(prefix="dispatch-demo-") as tmp:
        embedded = EmbeddedRedis(Path(tmp) / "redis", durability="no")
        await asyncio.to_thread(embedded.start)
        try:
            return await _serve_and_replay(
                args, embedded.url, Path(tmp), tickets, techs, console
            )
        finally:
            await asyncio.to_thread(embedded.stop)


async def _serve_and_replay(
    args: argparse.Namespace,
    url: str,
    tmp: Path,
    tickets: list[DemoTicket],
    techs: list[dict[str, Any]],
    console: Any,
) -> dict[str, Any]:
    import logging

    import grpc.aio
    from rich.live import Live

    from dispatcher.context import AppContext, connect_redis
    from dispatcher.metrics import DispatchMetrics, new_registry
    from dispatcher.server import create_server
    from dispatcher.settings import Settings
    from dispatcher.solve_loop import install

    logging.getLogger("dispatcher.auth").setLevel(
        logging.ERROR
    )  # dev mode, loopback only
    settings = Settings(
        redis_url=url, grpc_port=0, metrics_port=0, state_dir=tmp, lease_ttl_ms=2000
    )
    registry = new_registry(process_metrics=False)
    ctx = AppContext(
        settings=settings,
        redis=await connect_redis(url),
        metrics=DispatchMetrics(registry),
        registry=registry,
    )
    install(ctx, workers=1)
    server, port = await create_server(ctx, "127.0.0.1:0")
    await server.start()
    ctx.start_background()
    stats = Stats()
    tasks: list[asyncio.Task[Any]] = []
    t0 = time.monotonic()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            platform = Platform(channel, args, tickets, techs, stats)
            await platform.setup()
            tasks.append(asyncio.create_task(platform.watch()))
            await asyncio.sleep(0.2)  # the watch is subscribed before the first submit
            t0 = time.monotonic()
            tasks.append(asyncio.create_task(platform.submit_all(t0)))
            tasks.append(asyncio.create_task(platform.poll_queues()))
            tasks += [
                asyncio.create_task(platform.technician(t["technician_id"]))
                for t in techs
            ]
            live = not args.no_live and console.is_terminal
            deadline = t0 + args.duration
            if live:
                with Live(
                    _view(stats, registry, 0.0, args),
                    console=console,
                    refresh_per_second=4,
                ) as view:
                    while time.monotonic() < deadline:
                        await asyncio.sleep(0.25)
                        view.update(_view(stats, registry, time.monotonic() - t0, args))
            else:
                while time.monotonic() < deadline:
                    await asyncio.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
                    elapsed = time.monotonic() - t0
                    console.print(
                        f"t={elapsed:5.1f}s submitted={stats.submitted} queue={stats.queue_depth} "
                        f"assigned={stats.assigned} ({stats.rate(time.monotonic()):.1f}/s) "
                        f"resolved={stats.resolved} SLA response={Stats.pct(stats.response_met):.1f}%"
                    )
            elapsed = time.monotonic() - t0
            for task in tasks + list(platform.pending):
                task.cancel()
            await asyncio.gather(*tasks, *platform.pending, return_exceptions=True)
    finally:
        ctx.shutdown_event.set()
        await server.stop(1.0)
        await ctx.aclose()
    summary = _summary(stats, registry, elapsed, len(techs))
    _print_summary(console, summary)
    return summary


def _print_summary(console: Any, summary: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="summary")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in summary.items():
        if k != "sla_by_priority":
            table.add_row(k, str(v))
    for p, v in summary["sla_by_priority"].items():
        table.add_row(
            f"SLA response met {p}", f"{v['response_met_pct']} % of {v['started']}"
        )
    console.print(table)
