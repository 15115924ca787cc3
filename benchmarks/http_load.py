"""HTTP gateway load: SubmitTicket over REST/JSON beside the same call over gRPC, same run.

    ./dev bench http_load [--rounds N] [--duration-s S] [--concurrency C]

Processes (all on 127.0.0.1): a private valkey-server and ``dispatcher serve --role api
--http-gateway true`` on it (dev-mode auth); this process generates the load. Each round
runs a closed loop of ``--concurrency`` callers for ``--duration-s`` seconds over gRPC (a
``grpc.aio`` stub) and then over HTTP (an aiohttp client posting canonical JSON to
``/v1/tickets``), each with fresh ticket ids; rounds alternate so both see the same
machine load. Reports per target the median round's rate and latency percentiles, and the
ratios HTTP/gRPC (rate, p99): the gateway's overhead is one JSON decode/encode and one
extra loopback gRPC hop per call. Prints JSON; writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from dispatcher.backend.serve_process import start_serve

REGIONS = ("r0", "r1", "r2", "r3")


def _ticket(prefix: str, i: int) -> Any:
    from dispatcher.pb import dispatch_pb2 as pb

    return pb.SubmitTicketRequest(
        request_id=f"{prefix}-{i}",
        ticket=pb.Ticket(
            ticket_id=f"{prefix}-{i}",
            region=REGIONS[i % len(REGIONS)],
            priority=1 + i % 4,
            work_duration_s=1800,
            category="hvac",
            location=pb.Location(
                latitude_deg=42.3 + (i % 100) / 1000,
                longitude_deg=-71.0 - (i % 70) / 1000,
            ),
            required_skills=[pb.SkillRequirement(skill="hvac", min_level=1 + i % 3)],
        ),
    )


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _closed_loop(
    call: Any, make: Any, concurrency: int, duration_s: float
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(10**9))
    stop_at = time.perf_counter() + duration_s

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < stop_at:
            request = make(next(counter))
            t0 = time.perf_counter()
            try:
                await call(request)
            except Exception:
                errors += 1
                continue
            latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    return {
        "rate_per_s": len(latencies) / elapsed,
        "p50_ms": 1000 * _pct(latencies, 0.50),
        "p99_ms": 1000 * _pct(latencies, 0.99),
        "calls": len(latencies),
        "errors": errors,
    }


async def _run(
    grpc_port: int, http_port: int, args: argparse.Namespace
) -> dict[str, Any]:
    import aiohttp
    import grpc.aio
    from google.protobuf import json_format

    from dispatcher.pb import dispatch_pb2_grpc as pb_grpc

    runs: dict[str, list[dict[str, float]]] = {"grpc": [], "http": []}
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel,
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=args.concurrency)
        ) as session,
    ):
        stub = pb_grpc.TicketServiceStub(channel)
        url = f"http://127.0.0.1:{http_port}/v1/tickets"

        async def over_http(body: dict[str, Any]) -> None:
            async with session.post(url, json=body) as resp:
                await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"HTTP {resp.status}")

        for r in range(args.rounds):
            runs["grpc"].append(
                await _closed_loop(
                    stub.SubmitTicket,
                    lambda i, r=r: _ticket(f"g{r}", i),
                    args.concurrency,
                    args.duration_s,
                )
            )
            runs["http"].append(
                await _closed_loop(
                    over_http,
                    lambda i, r=r: json_format.MessageToDict(_ticket(f"h{r}", i)),
                    args.concurrency,
                    args.duration_s,
                )
            )
    out: dict[str, Any] = {"rounds": runs}
    for name, done in runs.items():
        out[name] = {
            key: statistics.median(run[key] for run in done)
            for key in ("rate_per_s", "p50_ms", "p99_ms")
        }
        out[name]["errors"] = sum(run["errors"] for run in done)
    out["http_over_grpc"] = {
        "rate": out["http"]["rate_per_s"] / out["grpc"]["rate_per_s"],
        "p99": out["http"]["p99_ms"] / out["grpc"]["p99_ms"],
    }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev bench http_load", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration-s", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    from dispatcher.backend.embedded import EmbeddedRedis

    with tempfile.TemporaryDirectory() as tmp:
        redis = EmbeddedRedis(Path(tmp) / "redis", durability="everysec").start()
        served = None
        try:
            served = start_serve(
                redis.url,
                Path(tmp),
                "api",
                role="api",
                lease_ttl_ms=None,
                extra_args=("--http-gateway", "true", "--http-port", "0"),
            )
            info = json.loads((Path(tmp) / "api.ready.json").read_text())
            results = asyncio.run(_run(served.grpc_port, int(info["http_port"]), args))
        finally:
            if served is not None:
                served.stop()
            redis.stop()
    results["params"] = vars(args)
    results["uptime"] = os.popen("uptime").read().strip()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
