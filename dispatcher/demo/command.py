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
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

    from dispatcher.demo.scenario import DemoTicket


from dispatcher.demo.platform import Platform, Stats
from dispatcher.demo.scenario import DEFAULT_START, load_scenario, technicians_for

PLAIN_INTERVAL_S = 5.0
"""Seconds between progress lines with ``--no-live`` (or when stdout is not a terminal)."""


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
        help=f"print a progress line every {PLAIN_INTERVAL_S:g} s instead of a live view",
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the summary here"
    )
    parser.add_argument(
        "--board-port",
        type=int,
        default=8080,
        help="port of the live dispatch board (http://127.0.0.1:PORT/board); a free one "
        "when taken, 0 = always a free one",
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
            "duplicates linked / escalations / supervisor notices",
            f"{stats.duplicates} / {stats.escalations} / {stats.supervisor_notices}",
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
        "supervisor_notices": stats.supervisor_notices,
        "sla_breach_events": stats.breaches,
    }


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    from rich.console import Console

    from dispatcher.backend.embedded import EmbeddedRedis

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

    from dispatcher.api.server import create_server
    from dispatcher.bootstrap import Services
    from dispatcher.runtime.context import AppContext, connect_redis
    from dispatcher.runtime.metrics import DispatchMetrics, new_registry
    from dispatcher.runtime.settings import Settings

    logging.getLogger("dispatcher.api.auth").setLevel(
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
    services = Services.build(ctx, solver=True, solver_workers=1)
    server, port = await create_server(ctx, services, "127.0.0.1:0")
    await server.start()
    ctx.start_background()
    gateway = await _start_board(ctx, port, args.board_port)
    console.print(f"dispatch board: http://127.0.0.1:{gateway.port}/board")
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
                    await asyncio.sleep(
                        min(PLAIN_INTERVAL_S, max(0.0, deadline - time.monotonic()))
                    )
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
        await gateway.stop()
        await server.stop(1.0)
        await ctx.aclose()
    summary = _summary(stats, registry, elapsed, len(techs))
    _print_summary(console, summary)
    return summary


async def _start_board(ctx: Any, grpc_port: int, board_port: int) -> Any:
    """The REST/JSON gateway (which serves the board) on ``board_port``, else a free one."""
    from dispatcher.api.gateway import start_gateway

    async def on(port: int) -> Any:
        return await start_gateway(
            host="127.0.0.1",
            port=port,
            grpc_target=f"127.0.0.1:{grpc_port}",
            shutdown=ctx.shutdown_event,
            max_message_bytes=ctx.settings.max_message_bytes,
            grace_s=1.0,
        )

    try:
        return await on(board_port)
    except OSError:
        return await on(0)


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
