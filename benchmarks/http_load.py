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
from pathlib import Path
from typing import Any

from benchmarks.loadgen import closed_loop, submit_request
from dispatcher.backend.serve_process import start_serve


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
                await closed_loop(
                    stub.SubmitTicket,
                    lambda i, r=r: submit_request(f"g{r}", i),
                    args.concurrency,
                    args.duration_s,
                )
            )
            runs["http"].append(
                await closed_loop(
                    over_http,
                    lambda i, r=r: json_format.MessageToDict(
                        submit_request(f"h{r}", i)
                    ),
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
