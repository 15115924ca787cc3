"""The demo's built-in ticket platform: it submits the replayed tickets and plays the
technicians over gRPC through ``dispatcher.client`` (request ids, retries, a resumable event
stream), and keeps the live statistics (see ``dispatcher.demo.command``)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

    from dispatcher.demo.scenario import DemoTicket


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
    supervisor_notices: int = 0
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

        from dispatcher.client import DispatchClient
        from dispatcher.pb import dispatch_pb2 as pb

        self.pb = pb
        self.client = DispatchClient(channel)
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
                    supervisor_target="duty-supervisors",
                )
            ],
            duplicate_rule=pb.DuplicateRule(
                enabled=True, by_asset=True, radius_m=50.0, window_s=3600.0 / s
            ),
            solver=pb.SolverSettings(
                cadence_s=1.0, debounce_ms=20.0, time_limit_s=2.0, candidates_k=16
            ),
            comment="dispatcher demo: SLA targets and windows compressed by --speed",
        )
        await self.client.update_policy(policy)
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
            await self.client.upsert_technician(tech)

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
                reply = await self.client.submit_batch(requests)
                self.stats.submitted += sum(1 for r in reply.results if r.code == 0)
            next_at = self.tickets[i].at_s if i < len(self.tickets) else now
            await asyncio.sleep(min(0.05, max(0.0, next_at - (time.monotonic() - t0))))

    async def watch(self) -> None:
        """Follow the event stream: assignments go to the technicians' apps."""
        pb, st = self.pb, self.stats
        async for e in self.client.events(start=pb.START_POSITION_LATEST):
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
            elif e.type == pb.EVENT_TYPE_SUPERVISOR_NOTIFIED:
                st.supervisor_notices += 1
            elif e.type == pb.EVENT_TYPE_TICKET_SLA_BREACHED:
                st.breaches += 1

    async def _answer(self, ticket_id: str, technician_id: str) -> None:
        """The technician's app: accept (or decline) shortly after the assignment."""
        import grpc

        await asyncio.sleep(ACCEPT_DELAY_S)
        try:
            if self.rng.random() < self.args.decline_probability:
                await self.client.decline(ticket_id, technician_id, "demo: busy")
                self.stats.declined += 1
                return
            await self.client.accept(ticket_id, technician_id)
        except grpc.aio.AioRpcError:
            return  # moved to someone else meanwhile: fine
        await self.work[technician_id].put(ticket_id)

    async def technician(self, technician_id: str) -> None:
        """Work the accepted tickets in order: travel, start, work, complete."""
        import grpc

        from dispatcher.duplicates import haversine_m

        queue = self.work[technician_id]
        while True:
            ticket_id = await queue.get()
            t = self.by_id[ticket_id]
            lat, lon = self.where[technician_id]
            km = haversine_m(lat, lon, t.lat, t.lon) / 1000.0
            await asyncio.sleep(max(0.05, km / TRAVEL_KMH * 3600.0 / self.speed))
            _, response_ms, resolution_ms = self.due[ticket_id]
            try:
                await self.client.start(ticket_id, technician_id)
            except grpc.aio.AioRpcError:
                continue
            self.stats.started += 1
            met = self.stats.response_met[t.priority]
            met[0] += int(time.time() * 1000) <= response_ms
            met[1] += 1
            await asyncio.sleep(t.work_s)
            try:
                await self.client.complete(ticket_id, technician_id)
            except grpc.aio.AioRpcError:
                continue
            self.stats.resolved += 1
            res = self.stats.resolution_met[t.priority]
            res[0] += int(time.time() * 1000) <= resolution_ms
            res[1] += 1
            self.where[technician_id] = (t.lat, t.lon)
            with contextlib.suppress(grpc.aio.AioRpcError):
                await self.client.report_location(technician_id, t.lat, t.lon)

    async def poll_queues(self) -> None:
        while True:
            reply = await self.client.queue_stats()
            self.stats.queue_depth = sum(
                p.queued for r in reply.regions for p in r.priorities
            )
            await asyncio.sleep(1.0)
