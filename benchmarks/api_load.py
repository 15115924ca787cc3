"""API load benchmark: open-loop submit load against the real service vs a bare grpc.aio echo.

    ./dev bench api_load [--quick] [--rounds N] [--durability everysec|always|no]

Processes (all on 127.0.0.1): a private valkey-server, the product as it is deployed
(``dispatcher serve --role api`` on that Redis, dev-mode auth), a bare grpc.aio echo
server answering the same RPCs without doing anything, and a separate load-generator
process. The generator first finds each target's maximum rate (closed loop, fixed
concurrency) in alternating rounds (echo, service, echo, ...; ``--rounds``, default 5; the
ratio is the median of the rounds' ratios, each pairing two measurements seconds apart on
this shared machine), then runs an open loop at a fixed arrival rate (80% of the target's
median maximum, unary in 3 rounds with the median p99 kept; unary also at 60% and 70%, a
load curve): every request has an intended send time on a fixed schedule, and latency is
measured from that intended time, so a stalled server is charged for the queueing it causes
(no coordinated omission). Each open loop also reports the server's CPU in cores and the
generator's own CPU per call. Figures are reported as ratios to the echo server measured in
the same run.

Prints a table and writes JSON to benchmarks/results/api_load-<utc>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.loadgen import REGIONS, closed_loop, percentile, submit_request
from benchmarks.results import machine, write_results
from dispatcher.backend.serve_process import start_serve

ROOT = Path(__file__).resolve().parent.parent

BATCH = 1000
OPEN_LOAD_PCTS = (60, 70, 80)
"""Unary open loops, in percent of each target's maximum rate (the target is at 80)."""
TARGET_ROUNDS = 3
"""Unary open loops at 80% per target; the round with the median p99 is reported."""


# --- servers --------------------------------------------------------------------------------


async def _serve_echo() -> None:
    import grpc.aio

    from dispatcher.pb import dispatch_pb2 as pb
    from dispatcher.pb import dispatch_pb2_grpc as pb_grpc

    class Echo(pb_grpc.TicketServiceServicer):  # type: ignore[misc]
        async def SubmitTicket(self, request: Any, context: Any) -> Any:
            return pb.SubmitTicketResponse(ticket=request.ticket)

        async def BatchSubmitTickets(self, request: Any, context: Any) -> Any:
            return pb.BatchSubmitTicketsResponse()

    server = grpc.aio.server(
        options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)]
    )
    pb_grpc.add_TicketServiceServicer_to_server(Echo(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"PORT {port}", flush=True)
    await server.wait_for_termination()


def _spawn(args: list[str]) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.api_load", *args],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"{args[0]} did not start: {line!r}")
    return proc, int(line.split()[1])


# --- load generator (its own process) -----------------------------------------------------


def _requests(prefix: str, start: int, n: int) -> list[Any]:
    return [submit_request(prefix, i) for i in range(start, start + n)]


async def _open_loop(
    call: Any, make: Any, rate: float, duration_s: float, max_outstanding: int = 20000
) -> dict[str, float]:
    """Fixed arrival rate; latency from each request's intended send time."""
    n = int(rate * duration_s)
    latencies: list[float] = []
    errors = 0
    dropped = 0
    t0 = time.perf_counter() + 0.05

    async def one(i: int, intended: float) -> None:
        nonlocal errors
        try:
            await call(make(i))
            latencies.append(time.perf_counter() - intended)
        except Exception:
            errors += 1

    # Only the calls still running are awaited at the end: gathering all n tasks there would
    # stall this loop for tens of ms while the last calls' answers wait (charged to them).
    running: set[asyncio.Task[None]] = set()
    for i in range(n):
        intended = t0 + i / rate
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(running) >= max_outstanding:
            dropped += 1
            continue
        task = asyncio.create_task(one(i, intended))
        running.add(task)
        task.add_done_callback(running.discard)
    if running:
        await asyncio.wait(running)
    elapsed = time.perf_counter() - t0
    return {
        "offered_per_s": rate,
        "achieved_per_s": len(latencies) / elapsed,
        "p50_ms": 1000 * percentile(latencies, 0.50),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "max_ms": 1000 * max(latencies, default=float("nan")),
        "errors": errors,
        "dropped": dropped,
        "calls": len(latencies),
    }


async def _loadgen(
    target: str, mode: str, tag: str, seconds: float, rate: float, concurrency: int
) -> dict[str, Any]:
    import grpc.aio

    from dispatcher.pb import dispatch_pb2 as pb
    from dispatcher.pb import dispatch_pb2_grpc as pb_grpc

    opts = [
        ("grpc.max_send_message_length", 64 * 1024 * 1024),
        ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ]
    async with grpc.aio.insecure_channel(target, options=opts) as channel:
        await channel.channel_ready()
        stub = pb_grpc.TicketServiceStub(channel)
        if mode.startswith("unary"):
            pool = _requests(
                tag, 0, 200_000 if not mode.endswith("closed") else 100_000
            )

            def make(i: int) -> Any:
                return pool[i % len(pool)] if i < len(pool) else _requests(tag, i, 1)[0]

            call = stub.SubmitTicket
        else:
            reqs = _requests(tag, 0, BATCH * 64)
            batches = [
                pb.BatchSubmitTicketsRequest(requests=reqs[k * BATCH : (k + 1) * BATCH])
                for k in range(64)
            ]

            def make(i: int) -> Any:
                if i < len(batches):
                    return batches[i]
                return pb.BatchSubmitTicketsRequest(
                    requests=_requests(f"{tag}-{i}", 0, BATCH)
                )

            call = stub.BatchSubmitTickets
        await call(make(0))  # warm-up: connection, first script loads
        # The pre-built requests live to the end: keep them out of the collector's full
        # passes, whose pauses would otherwise show up as server latency (of either target).
        gc.collect()
        gc.freeze()
        cpu0 = time.process_time()
        if mode.endswith("closed"):
            result = await closed_loop(
                call, lambda i: make(i + 1), concurrency, seconds
            )
        else:
            result = await _open_loop(call, lambda i: make(i + 1), rate, seconds)
        # The generator's own CPU (all its threads): shows when it, not the target, is busy.
        result["loadgen_cpu_us_per_call"] = (
            1e6 * (time.process_time() - cpu0) / max(1, int(result["calls"]))
        )
        return result


def _median_round(runs: list[dict[str, Any]], field: str) -> dict[str, Any]:
    """The run with the median ``field``, plus ``rounds_<field>``: every run's value."""
    median = sorted(runs, key=lambda x: x[field])[len(runs) // 2]
    return {**median, f"rounds_{field}": [x[field] for x in runs]}


def _cores(phase: dict[str, Any]) -> float:
    """CPU of the server process over an open-loop phase, in cores (1.0 = one core busy)."""
    return float(phase["cpu_us_per_ticket_server"] * phase["achieved_per_s"] / 1e6)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run_loadgen(
    target: str,
    mode: str,
    tag: str,
    seconds: float,
    rate: float = 0.0,
    concurrency: int = 32,
    pids: dict[str, int] | None = None,
) -> dict[str, Any]:
    before = {name: _cpu_s(pid) for name, pid in (pids or {}).items()}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.api_load",
            "loadgen",
            target,
            mode,
            tag,
            str(seconds),
            str(rate),
            str(concurrency),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    result = dict(json.loads(out.stdout.strip().splitlines()[-1]))
    calls = max(1, int(result.get("calls", 0)) + 1)  # + the warm-up call
    per = BATCH if mode.startswith("batch") else 1
    for name, pid in (pids or {}).items():
        # CPU per ticket of each server process: robust to other load on the machine
        result[f"cpu_us_per_ticket_{name}"] = (
            1e6 * (_cpu_s(pid) - before[name]) / (calls * per)
        )
    return result


# --- orchestration ------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="shorter phases (smoke run, ~40 s)"
    )
    parser.add_argument(
        "--durability", default="everysec", choices=("always", "everysec", "no")
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="alternating echo/service rounds of each max-rate phase (median reported)",
    )
    args = parser.parse_args(argv)
    scale = 0.4 if args.quick else 1.0

    from dispatcher.backend.embedded import EmbeddedRedis

    results: dict[str, Any] = {
        "benchmark": "api_load",
        "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "params": {
            "batch_size": BATCH,
            "regions": len(REGIONS),
            "durability": args.durability,
            "scale": scale,
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        redis = EmbeddedRedis(Path(tmp), durability=args.durability).start()
        # the product as deployed: dispatcher serve --role api
        served = start_serve(redis.url, Path(tmp), "api", role="api", lease_ttl_ms=None)
        product, product_port = served.proc, served.grpc_port
        echo, echo_port = _spawn(["serve-echo"])
        try:
            import redis as redis_sync

            client = redis_sync.Redis.from_url(redis.url)
            targets = {
                "echo": f"127.0.0.1:{echo_port}",
                "service": f"127.0.0.1:{product_port}",
            }
            redis_pid = redis.pid or 0
            pid_sets = {
                "echo": {"server": echo.pid},
                "service": {"server": product.pid, "redis": redis_pid},
            }
            phases: dict[str, dict[str, Any]] = {name: {} for name in targets}
            # Max rates in alternating rounds (echo, service, echo, ...): each round's
            # ratio pairs two measurements taken seconds apart, so drifting load on the
            # shared machine cancels; the median round is reported.
            for kind, concurrency, open_s in (("unary", 64, 8), ("batch", 4, 6)):
                rounds: dict[str, list[dict[str, Any]]] = {n: [] for n in targets}
                for r in range(args.rounds):
                    for name, target in targets.items():
                        client.flushall()
                        rounds[name].append(
                            _run_loadgen(
                                target,
                                f"{kind}-closed",
                                f"{name}-{kind}{r}",
                                3 * scale,
                                concurrency=concurrency,
                                pids=pid_sets[name],
                            )
                        )
                ratios = [
                    s["rate_per_s"] / e["rate_per_s"]
                    for e, s in zip(rounds["echo"], rounds["service"], strict=True)
                ]
                for name in targets:
                    phases[name][f"{kind}_max"] = _median_round(
                        rounds[name], "rate_per_s"
                    )
                # Open loops at fractions of each target's own maximum (unary: a load
                # curve, the target at 80%), echo and service alternating at each load.
                # The target load (80%) is run TARGET_ROUNDS times and its median-p99 round
                # kept: one 8 s run's p99 is one stall episode of this shared machine or not.
                loads = [
                    *(p for p in OPEN_LOAD_PCTS if kind == "unary" and p != 80),
                    *[80] * (TARGET_ROUNDS if kind == "unary" else 1),
                ]
                runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
                for r, pct in enumerate(loads):
                    for name, target in targets.items():
                        client.flushall()
                        rate = pct / 100 * phases[name][f"{kind}_max"]["rate_per_s"]
                        runs.setdefault((name, pct), []).append(
                            _run_loadgen(
                                target,
                                f"{kind}-open",
                                f"{name}-{kind}o{r}",
                                open_s * scale,
                                rate=rate,
                                pids=pid_sets[name],
                            )
                        )
                for (name, pct), done in runs.items():
                    phases[name][f"{kind}_open_{pct}pct"] = _median_round(
                        done, "p99_ms"
                    )
                phases["service"][f"{kind}_round_ratios"] = ratios
            client.flushall()
            client.close()
        finally:
            for proc in (product, echo):
                proc.terminate()
                proc.wait(timeout=10)
            redis.stop()
    results["phases"] = phases
    e, s = phases["echo"], phases["service"]
    summary = {
        "batched_tickets_per_s": s["batch_max"]["rate_per_s"] * BATCH,
        "batched_tickets_per_s_open_80pct": s["batch_open_80pct"]["achieved_per_s"]
        * BATCH,
        "batched_ratio_to_echo": statistics.median(s["batch_round_ratios"]),
        "unary_max_per_s": s["unary_max"]["rate_per_s"],
        "echo_unary_max_per_s": e["unary_max"]["rate_per_s"],
        "unary_ratio_to_echo": statistics.median(s["unary_round_ratios"]),
        "unary_round_ratios": s["unary_round_ratios"],
        "unary_p50_ms_at_80pct": s["unary_open_80pct"]["p50_ms"],
        "unary_p99_ms_at_80pct": s["unary_open_80pct"]["p99_ms"],
        "echo_p99_ms_at_80pct": e["unary_open_80pct"]["p99_ms"],
        "unary_p99_ms_at_80pct_rounds": s["unary_open_80pct"]["rounds_p99_ms"],
        "echo_p99_ms_at_80pct_rounds": e["unary_open_80pct"]["rounds_p99_ms"],
        # The load curve: p99 and the server process's CPU (in cores) at each open-loop load.
        # Per-call cost is higher at an open loop's few calls in flight than at the closed
        # loop's 64, so "80% of the maximum" keeps a Python gRPC server busier than 80%.
        "unary_load_curve": {
            f"{pct}%": {
                name: {
                    "p99_ms": phases[name][f"unary_open_{pct}pct"]["p99_ms"],
                    "server_cpu_cores": _cores(phases[name][f"unary_open_{pct}pct"]),
                }
                for name in ("echo", "service")
            }
            for pct in OPEN_LOAD_PCTS
        },
        "unary_loadgen_cpu_us_per_call_at_80pct": s["unary_open_80pct"][
            "loadgen_cpu_us_per_call"
        ],
        # CPU cost per ticket of each process: less sensitive to other load on the machine
        # than rates. Capacity if the server process had one core to itself (Redis its own).
        "batched_cpu_us_per_ticket_server": s["batch_max"]["cpu_us_per_ticket_server"],
        "batched_cpu_us_per_ticket_redis": s["batch_max"]["cpu_us_per_ticket_redis"],
        "batched_tickets_per_s_per_server_core": 1e6
        / s["batch_max"]["cpu_us_per_ticket_server"],
        "unary_cpu_us_per_call_server": s["unary_max"]["cpu_us_per_ticket_server"],
        "unary_cpu_us_per_call_redis": s["unary_max"]["cpu_us_per_ticket_redis"],
        "echo_cpu_us_per_call": e["unary_max"]["cpu_us_per_ticket_server"],
        "unary_cpu_ratio_to_echo": e["unary_max"]["cpu_us_per_ticket_server"]
        / s["unary_max"]["cpu_us_per_ticket_server"],
        "load_average_1m_at_end": os.getloadavg()[0],
        "targets": {
            "batched_tickets_per_s": 20000,
            "unary_ratio_to_echo": 0.5,
            "unary_p99_ms_at_80pct": 20,
        },
    }
    summary["targets_met"] = {
        "batched_tickets_per_s": summary["batched_tickets_per_s"] >= 20000,
        "unary_ratio_to_echo": summary["unary_ratio_to_echo"] >= 0.5,
        "unary_p99_ms_at_80pct": summary["unary_p99_ms_at_80pct"] < 20,
    }
    results["summary"] = summary

    rows = [
        (
            "unary max rate (req/s, 64 in flight)",
            e["unary_max"]["rate_per_s"],
            s["unary_max"]["rate_per_s"],
        ),
        (
            "unary open loop offered (req/s)",
            e["unary_open_80pct"]["offered_per_s"],
            s["unary_open_80pct"]["offered_per_s"],
        ),
        (
            "unary open loop achieved (req/s)",
            e["unary_open_80pct"]["achieved_per_s"],
            s["unary_open_80pct"]["achieved_per_s"],
        ),
        (
            "unary p50 at 80% (ms)",
            e["unary_open_80pct"]["p50_ms"],
            s["unary_open_80pct"]["p50_ms"],
        ),
        (
            "unary p99 at 80% (ms)",
            e["unary_open_80pct"]["p99_ms"],
            s["unary_open_80pct"]["p99_ms"],
        ),
        (
            "batch max (tickets/s, 4 in flight)",
            e["batch_max"]["rate_per_s"] * BATCH,
            s["batch_max"]["rate_per_s"] * BATCH,
        ),
        (
            "batch open loop achieved (tickets/s)",
            e["batch_open_80pct"]["achieved_per_s"] * BATCH,
            s["batch_open_80pct"]["achieved_per_s"] * BATCH,
        ),
        (
            "batch p50 at 80% (ms)",
            e["batch_open_80pct"]["p50_ms"],
            s["batch_open_80pct"]["p50_ms"],
        ),
        (
            "batch p99 at 80% (ms)",
            e["batch_open_80pct"]["p99_ms"],
            s["batch_open_80pct"]["p99_ms"],
        ),
        (
            "server CPU per unary call (us)",
            e["unary_max"]["cpu_us_per_ticket_server"],
            s["unary_max"]["cpu_us_per_ticket_server"],
        ),
        (
            "server CPU per batched ticket (us)",
            e["batch_max"]["cpu_us_per_ticket_server"],
            s["batch_max"]["cpu_us_per_ticket_server"],
        ),
    ]
    print(f"\n{'metric':42} {'echo':>12} {'service':>12} {'ratio':>8}")
    for label, ev, sv in rows:
        ratio = sv / ev if ev else float("nan")
        print(f"{label:42} {ev:12.1f} {sv:12.1f} {ratio:8.2f}")
    print(
        f"\n{'unary open loop at % of own max':32} {'echo p99 ms (cores)':>22} {'service p99 ms (cores)':>24}"
    )
    for pct, row in summary["unary_load_curve"].items():
        e_, s_ = row["echo"], row["service"]
        print(
            f"{pct:32} {e_['p99_ms']:14.1f} ({e_['server_cpu_cores']:.2f}) "
            f"{s_['p99_ms']:16.1f} ({s_['server_cpu_cores']:.2f})"
        )
    print(
        "unary p99 at 80% per round (ms): service "
        + ", ".join(f"{x:.1f}" for x in summary["unary_p99_ms_at_80pct_rounds"])
        + "; echo "
        + ", ".join(f"{x:.1f}" for x in summary["echo_p99_ms_at_80pct_rounds"])
        + " (median reported)"
    )
    print(
        "unary max-rate ratio per round: "
        + ", ".join(f"{r:.2f}" for r in summary["unary_round_ratios"])
        + f" (median {summary['unary_ratio_to_echo']:.2f})"
    )
    print(
        f"CPU-normalised: {summary['batched_tickets_per_s_per_server_core']:.0f} batched tickets/s "
        f"per server core; unary {summary['unary_cpu_ratio_to_echo']:.2f} x echo per core"
    )
    print(
        f"redis CPU per ticket (us): unary {s['unary_max']['cpu_us_per_ticket_redis']:.1f}, "
        f"batched {s['batch_max']['cpu_us_per_ticket_redis']:.1f}; load average before: {os.getloadavg()[0]:.2f}"
    )
    print(
        f"\nbatched: {summary['batched_tickets_per_s']:.0f} tickets/s (target >= 20000: "
        f"{'met' if summary['targets_met']['batched_tickets_per_s'] else 'NOT met'}); "
        f"unary: {summary['unary_ratio_to_echo']:.2f} x echo (target >= 0.5: "
        f"{'met' if summary['targets_met']['unary_ratio_to_echo'] else 'NOT met'}), "
        f"p99 {summary['unary_p99_ms_at_80pct']:.1f} ms at 80% (target < 20: "
        f"{'met' if summary['targets_met']['unary_p99_ms_at_80pct'] else 'NOT met'})"
    )
    write_results("api_load", results)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve-echo":
        asyncio.run(_serve_echo())
    elif len(sys.argv) > 1 and sys.argv[1] == "loadgen":
        _, _, target, mode, tag, seconds, rate, conc = sys.argv
        res = asyncio.run(
            _loadgen(target, mode, tag, float(seconds), float(rate), int(conc))
        )
        print(json.dumps(res))
    else:
        sys.exit(main())
