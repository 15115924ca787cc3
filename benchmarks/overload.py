"""Overload benchmark: how fast the service refuses the calls above its in-flight limit.

    ./dev bench overload [--burst N] [--max-in-flight N] [--rounds N]

Processes (all on 127.0.0.1): a private valkey-server and ``dispatcher serve --role api``
with ``--max-in-flight`` (default 64). This process fires a burst of ``--burst`` (default
3000) concurrent unary SubmitTickets over 8 channels (10 s deadline each), ``--rounds``
times (default 3), and prints per round the answers by code and the latency (p50, p90,
max) of the accepted (OK) and the refused (RESOURCE_EXHAUSTED) calls, with their p50
ratio: a refusal that does no work should answer much sooner than an accepted call. It
also prints the server's Redis commands per accepted call (from the Redis ``INFO
commandstats`` delta), so work done for refused calls shows. Bounded: one burst at a time,
every process stopped at the end. Prints the machine's load (``os.getloadavg``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import grpc
import grpc.aio
import redis as redis_sync

from dispatcher.backend.embedded import EmbeddedRedis
from dispatcher.backend.serve_process import start_serve
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.pb import dispatch_pb2_grpc as pb_grpc

CHANNELS = 8
REGIONS = ("r0", "r1", "r2", "r3")


def _request(key: str) -> pb.SubmitTicketRequest:
    return pb.SubmitTicketRequest(
        ticket=pb.Ticket(
            ticket_id=key,
            region=REGIONS[hash(key) % len(REGIONS)],
            priority=3,
            location=pb.Location(latitude_deg=42.36, longitude_deg=-71.06),
            work_duration_s=1800,
        ),
        request_id=f"req-{key}",
    )


async def _one(stub: pb_grpc.TicketServiceStub, key: str) -> tuple[str, float]:
    start = time.perf_counter()
    try:
        await stub.SubmitTicket(_request(key), timeout=10)
        code = "OK"
    except grpc.aio.AioRpcError as exc:
        code = exc.code().name
    return code, time.perf_counter() - start


def _quantiles(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p50 = ordered[len(ordered) // 2]
    p90 = ordered[int(len(ordered) * 0.9)]
    return f"p50 {p50 * 1000:7.1f} ms  p90 {p90 * 1000:7.1f} ms  max {ordered[-1] * 1000:7.1f} ms"


def _redis_calls(client: redis_sync.Redis) -> int:
    stats = client.info("commandstats")
    return sum(
        int(v["calls"])
        for k, v in stats.items()
        if k not in ("cmdstat_info", "cmdstat_ping")
    )


async def _burst(target: str, burst: int, tag: str) -> dict[str, list[float]]:
    channels = [grpc.aio.insecure_channel(target) for _ in range(CHANNELS)]
    try:
        stubs = [pb_grpc.TicketServiceStub(c) for c in channels]
        for i, stub in enumerate(stubs):  # connected before the burst
            await _one(stub, f"{tag}-warm{i}")
        answers = await asyncio.gather(
            *(_one(stubs[k % CHANNELS], f"{tag}-{k:06d}") for k in range(burst))
        )
    finally:
        for channel in channels:
            await channel.close()
    by_code: dict[str, list[float]] = {}
    for code, latency in answers:
        by_code.setdefault(code, []).append(latency)
    return by_code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=3000)
    parser.add_argument("--max-in-flight", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()}")
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        redis = EmbeddedRedis(Path(tmp), durability="no").start()
        served = start_serve(
            redis.url,
            Path(tmp),
            "api",
            role="api",
            lease_ttl_ms=None,
            extra_args=("--max-in-flight", str(args.max_in_flight)),
        )
        client = redis_sync.Redis.from_url(redis.url)
        try:
            for n in range(args.rounds):
                before = _redis_calls(client)
                started = time.perf_counter()
                by_code = asyncio.run(_burst(served.target, args.burst, f"b{n}"))
                wall = time.perf_counter() - started
                commands = _redis_calls(client) - before
                counts = Counter({c: len(v) for c, v in by_code.items()})
                ok, refused = (
                    by_code.get("OK", []),
                    by_code.get("RESOURCE_EXHAUSTED", []),
                )
                print(
                    f"round {n}: burst {args.burst} in {wall:.2f} s, {dict(counts)}; "
                    f"Redis commands {commands} ({commands / max(len(ok), 1):.1f} per OK)"
                )
                print(f"  OK                  {_quantiles(ok)}")
                print(f"  RESOURCE_EXHAUSTED  {_quantiles(refused)}")
                if ok and refused:
                    ratio = statistics.median(refused) / statistics.median(ok)
                    ratios.append(ratio)
                    print(f"  refused p50 / OK p50 = {ratio:.3f}")
        finally:
            client.close()
            served.stop()
            redis.stop()
    if ratios:
        print(f"median ratio over rounds: {statistics.median(ratios):.3f}")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
