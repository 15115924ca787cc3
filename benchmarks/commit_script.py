"""Redis time of the solve loop's commit script (``store.lua.COMMIT_ASSIGNMENTS``): the
current one against a baseline revision's, paired on the same workload, with a check that
both leave the same state and events.

    ./dev bench commit_script [--baseline main] [--per-cycle 70] [--cycles 60]
        [--technicians 100] [--hold 3] [--churn 0.1] [--chaos]

A private valkey-server (AOF off) holds two copies of one region, in tenants ``a`` and
``b``, set up alike (``--technicians`` technicians of capacity 3). Each cycle submits the
same ``--per-cycle`` tickets to both at the same clock, cancels those assigned ``--hold``
cycles ago, and then commits the same decisions to both through
``RedisStateStore.commit_assignments``, once with the baseline revision's script (``git show
REV:dispatcher/store/lua.py``) and once with the current one, alternating which goes first.
The decisions are what a solve typically writes: every new ticket placed with a technician
that has room (CAPACITY when none has), and ``--churn`` of the assigned tickets moved
(a new place in the same queue, another technician, or unassigned); ``--chaos`` adds stale
versions, repeated tickets, unknown and full technicians and swaps between full
technicians (the script's rare paths).

Measured per commit: the Redis time of its EVALSHA (``INFO commandstats``, ``usec`` of
``cmdstat_evalsha`` before and after the call; nothing else runs meanwhile) and the Redis
server's CPU (``INFO cpu``) across the call (with one ``INFO cpu``, alike for both; the
steadier figure on a loaded machine, where the time counts the server's waits for a core). Checked after
every commit: both calls gave the same outcomes and queues, appended the same events (every
field) and left both regions' keys equal (event ids and the trimmed-id mark aside). Prints
usec per call and per decision of both and their ratio; exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

from benchmarks.results import machine, uptime, write_results

ROOT = Path(__file__).resolve().parent.parent
REGION = "region-00"
TENANTS = ("a", "b")
SKILLS = ("electrical", "plumbing", "hvac", "general")


def _baseline_lua(rev: str) -> types.ModuleType:
    """``dispatcher.store.lua`` as of ``rev`` (executed against today's imports)."""
    source = subprocess.run(
        ["git", "show", f"{rev}:dispatcher/store/lua.py"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    module = types.ModuleType("baseline_lua")
    exec(compile(source, f"{rev}:dispatcher/store/lua.py", "exec"), module.__dict__)
    return module


async def _redis_cpu_s(redis: Any) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def _region_state(redis: Any, tenant: str) -> dict[str, Any]:
    """Every key of the region (prefix stripped) and its value; stream entries without
    their ids, the trimmed-id mark as present or not."""
    from dispatcher.store import keys

    prefix = keys.region_prefix(tenant, REGION)
    out: dict[str, Any] = {}
    async for key in redis.scan_iter(match=prefix + "*", count=1000):
        name = str(key)[len(prefix) :]
        kind = await redis.type(key)
        if name == keys.EVENTS_TRIMMED:
            out[name] = "set"
        elif kind == "hash":
            out[name] = await redis.hgetall(key)
        elif kind == "zset":
            out[name] = await redis.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            out[name] = sorted(await redis.smembers(key))
        elif kind == "string":
            out[name] = await redis.get(key)
        elif kind == "stream":
            out[name] = [f for _, f in await redis.xrange(key)]
        else:
            out[name] = kind
    return out


async def _events_between(redis: Any, tenant: str, span: tuple[str, str]) -> list[Any]:
    from dispatcher.store import keys

    if not span[0]:
        return []
    entries = await redis.xrange(keys.events_key(tenant, REGION), span[0], span[1])
    return [f for _, f in entries]


def _typical(snap: Any, rng: Any, churn: float) -> list[Any]:
    """A solve's typical decisions on ``snap``: every QUEUED ticket placed with a
    technician that has room (CAPACITY when none has), ``churn`` of the ASSIGNED ones moved
    (a new place in the same queue, another technician, or unassigned)."""
    from dispatcher.domain import Assignment, TicketStatus, UnassignedReason
    from dispatcher.store.state import Decision

    load = {k.technician_id: len(k.queue_ticket_ids) for k in snap.technicians}
    cap = {k.technician_id: k.capacity for k in snap.technicians}

    def room() -> str:
        free = [k for k, n in load.items() if n < cap[k]]
        return free[int(rng.integers(len(free)))] if free else ""

    def place(ticket_id: str, tech: str, old: str = "") -> Decision:
        if old:
            load[old] -= 1
        load[tech] += 1
        return Decision(ticket_id, tech, Assignment(tech, load[tech] - 1))

    out: list[Decision] = []
    for t in snap.tickets:
        if t.status is TicketStatus.QUEUED:
            tech = room()
            if tech:
                out.append(place(t.ticket_id, tech))
            elif t.unassigned_reason is not UnassignedReason.CAPACITY:
                out.append(Decision(t.ticket_id, "", None, UnassignedReason.CAPACITY))
        elif t.status is TicketStatus.ASSIGNED and rng.random() < churn:
            old = t.assignment.technician_id if t.assignment else ""
            move = rng.integers(3)
            if move == 0 and old:
                out.append(Decision(t.ticket_id, old, Assignment(old, 2)))
            elif move == 1 and (tech := room()) and tech != old:
                out.append(place(t.ticket_id, tech, old))
            else:
                load[old] -= 1
                reason = UnassignedReason.PENALTY_CHEAPER
                out.append(Decision(t.ticket_id, "", None, reason))
    return out


def _chaos(snap: Any, rng: Any, out: list[Any], expected: Any) -> None:
    """Add the script's rare paths to ``out`` / ``expected``: a swap between two
    technicians (a ring when both are full), a repeated ticket, more arrivals at one
    technician than it has places, an unknown ticket, a stale ticket version and an
    unknown technician."""
    from dispatcher.domain import Assignment, TicketStatus, UnassignedReason
    from dispatcher.store.state import Decision

    touched = {d.ticket_id for d in out}
    held = [
        t
        for t in snap.tickets
        if t.status is TicketStatus.ASSIGNED and t.ticket_id not in touched
    ]
    if len(held) >= 2:
        a, b = rng.choice(len(held), 2, replace=False)
        x, y = held[int(a)], held[int(b)]
        tx = x.assignment.technician_id if x.assignment else ""
        ty = y.assignment.technician_id if y.assignment else ""
        if tx and ty and tx != ty:
            out.append(Decision(x.ticket_id, ty, Assignment(ty, 0)))
            out.append(Decision(y.ticket_id, tx, Assignment(tx, 0)))
            touched |= {x.ticket_id, y.ticket_id}
    if out:
        out.append(out[0])
    full = snap.technicians[int(rng.integers(len(snap.technicians)))].technician_id
    queued = [t for t in snap.tickets if t.status is TicketStatus.QUEUED]
    for t in [t for t in queued if t.ticket_id not in touched][:5]:
        out.append(Decision(t.ticket_id, full, Assignment(full, 9)))
    out.append(Decision("nobody-ticket", "", None, UnassignedReason.NO_SKILL))
    expected.tickets["nobody-ticket"] = 1
    if snap.tickets:
        expected.tickets[
            snap.tickets[int(rng.integers(len(snap.tickets)))].ticket_id
        ] += 1
    if len(out) > 2 and out[1].technician_id:
        expected.technicians["ghost"] = 1
        out[1] = Decision(out[1].ticket_id, "ghost", Assignment("ghost", 0))


class _Pair:
    """The two copies of the region, the two scripts, and what was measured."""

    def __init__(self, redis: Any, store: Any, scripts: dict[str, Any]) -> None:
        self.redis, self.store, self.scripts = redis, store, scripts
        self.tokens: dict[str, str] = {}
        self.usec: dict[str, list[float]] = {name: [] for name in scripts}
        self.per_decision: dict[str, list[float]] = {name: [] for name in scripts}
        self.cpu: dict[str, list[float]] = {name: [] for name in scripts}
        self.codes: collections.Counter[str] = collections.Counter()
        self.mismatches: list[str] = []

    async def set_up(self, technicians: int, seed: int) -> None:
        import numpy as np

        from dispatcher.domain import Location, SkillLevel, Technician, TechnicianStatus
        from dispatcher.store.leases import LeaseStore

        for script in self.scripts.values():
            await self.redis.script_load(script.script)  # no NOSCRIPT retry measured
        for tenant in TENANTS:
            rng = np.random.default_rng(seed)
            for k in range(technicians):
                skills = tuple(SkillLevel(s, int(rng.integers(1, 4))) for s in SKILLS)
                await self.store.upsert_technician(
                    tenant,
                    Technician(
                        technician_id=f"k{k:04d}",
                        region=REGION,
                        status=TechnicianStatus.AVAILABLE,
                        capacity=3,
                        skills=skills,
                        location=Location(42.35, -71.07),
                    ),
                )
            lease = LeaseStore(self.redis, on_replication_timeout=lambda: None)
            token = await lease.acquire(tenant, REGION, 3_600_000, "bench")
            self.tokens[tenant] = str(token)

    async def commit(
        self, name: str, tenant: str, decisions: list[Any], expected: Any, c: int
    ) -> Any:
        """One measured commit of ``decisions`` to ``tenant``'s copy with script ``name``."""
        redis, store = self.redis, self.store
        store._commit = self.scripts[name]
        before = (await redis.info("commandstats"))["cmdstat_evalsha"]
        cpu0 = await _redis_cpu_s(redis)
        result = await store.commit_assignments(
            tenant, REGION, self.tokens[tenant], decisions, expected, solve_id=f"s{c}"
        )
        cpu1 = await _redis_cpu_s(redis)
        after = (await redis.info("commandstats"))["cmdstat_evalsha"]
        if after["calls"] - before["calls"] != 1:
            raise RuntimeError("another EVALSHA ran during the measured one")
        return result, after["usec"] - before["usec"], 1e6 * (cpu1 - cpu0)

    def record(self, name: str, result: Any, usec: float, cpu: float, n: int) -> None:
        self.usec[name].append(usec)
        self.per_decision[name].append(usec / max(1, n))
        self.cpu[name].append(cpu)
        if name == "current":
            self.codes.update(o.code.value for o in result.outcomes)

    async def compare(self, c: int, ra: Any, rb: Any, whole: bool) -> None:
        """Both commits answered alike, appended the same events and (``whole``) left the
        same keys."""
        if ra.outcomes != rb.outcomes or dict(ra.queues) != dict(rb.queues):
            self.mismatches.append(f"cycle {c}: outcomes or queues differ")
        ea = await _events_between(self.redis, "a", ra.events)
        if ea != await _events_between(self.redis, "b", rb.events):
            self.mismatches.append(f"cycle {c}: events differ")
        if whole:
            sa = await _region_state(self.redis, "a")
            sb = await _region_state(self.redis, "b")
            if sa != sb:
                diff = sorted(
                    k for k in sa.keys() | sb.keys() if sa.get(k) != sb.get(k)
                )
                self.mismatches.append(f"cycle {c}: keys differ: {diff[:5]}")

    def summary(self) -> dict[str, Any]:
        def one(name: str) -> dict[str, float]:
            usec = self.usec[name]
            return {
                "calls": len(usec),
                "usec_per_call": round(sum(usec) / len(usec), 1),
                "median_usec_per_call": round(statistics.median(usec), 1),
                "usec_per_decision": round(
                    statistics.fmean(self.per_decision[name]), 2
                ),
                "redis_cpu_usec_per_call": round(statistics.fmean(self.cpu[name]), 1),
            }

        usec, cpu = self.usec, self.cpu
        paired = [c / b for b, c in zip(usec["baseline"], usec["current"], strict=True)]
        return {
            "baseline": one("baseline"),
            "current": one("current"),
            "current_over_baseline_total": round(
                sum(usec["current"]) / sum(usec["baseline"]), 3
            ),
            "current_over_baseline_median_pair": round(statistics.median(paired), 3),
            "redis_cpu_current_over_baseline": round(
                sum(cpu["current"]) / sum(cpu["baseline"]), 3
            ),
            "outcomes": dict(self.codes.most_common()),
            "mismatches": self.mismatches,
        }


def _arrivals(c: int, n: int, now_ms: int, rng: Any) -> list[Any]:
    from dispatcher.domain import Location, SkillLevel, SubmitTicket, Ticket

    return [
        SubmitTicket(
            Ticket(
                ticket_id=f"t{c:05d}-{j:03d}",
                region=REGION,
                priority=int(rng.integers(1, 5)),
                work_duration_s=60,
                required_skills=(SkillLevel(SKILLS[j % len(SKILLS)], 1),),
                location=Location(42.35, -71.07),
                response_due_ms=now_ms + 3_600_000 if j % 2 else 0,
            )
        )
        for j in range(n)
    ]


async def _run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    import numpy as np

    from dispatcher.runtime.context import redis_client
    from dispatcher.runtime.metrics import DispatchMetrics
    from dispatcher.store import base
    from dispatcher.store import lua as current_lua
    from dispatcher.store.state import ExpectedVersions, RedisStateStore

    clock = [1_800_000_000_000]
    base.now_ms = lambda: clock[0]  # both copies written at the same instants
    redis = redis_client(url)
    store = RedisStateStore(
        redis, metrics=DispatchMetrics.throwaway(), events_maxlen=args.maxlen
    )
    baseline = _baseline_lua(args.baseline).COMMIT_ASSIGNMENTS
    pair = _Pair(
        redis,
        store,
        {
            "baseline": redis.register_script(baseline),
            "current": redis.register_script(current_lua.COMMIT_ASSIGNMENTS),
        },
    )
    await pair.set_up(args.technicians, args.seed + 1)
    rng = np.random.default_rng(args.seed)
    assigned_at: list[list[str]] = []
    cancelled: set[str] = set()
    for c in range(args.cycles + args.warm_up):
        clock[0] += 35
        batch = _arrivals(c, args.per_cycle, clock[0], rng)
        for tenant in TENANTS:
            await store.submit(tenant, batch)
        for ticket_id in assigned_at.pop(0) if len(assigned_at) >= args.hold else ():
            if ticket_id not in cancelled:  # (assigned again after an unassign)
                cancelled.add(ticket_id)
                for tenant in TENANTS:
                    await store.cancel(tenant, ticket_id)
        snap = await store.snapshot("a", REGION)
        decisions = _typical(snap, rng, args.churn)
        expected = ExpectedVersions(
            {t.ticket_id: t.version for t in snap.tickets},
            {k.technician_id: k.version for k in snap.technicians},
        )
        if args.chaos:
            _chaos(snap, rng, decisions, expected)
        order = ("baseline", "current") if c % 2 == 0 else ("current", "baseline")
        results = {}
        clock[0] += 5
        for name, tenant in zip(order, TENANTS, strict=True):
            result, usec, cpu = await pair.commit(name, tenant, decisions, expected, c)
            results[tenant] = result
            if c >= args.warm_up:
                pair.record(name, result, usec, cpu, len(decisions))
        last = c == args.cycles + args.warm_up - 1
        whole = c % args.check_every == 0 or last
        await pair.compare(c, results["a"], results["b"], whole)
        assigned_at.append(
            [o.ticket_id for o in results["a"].outcomes if o.code.value == "ASSIGNED"]
        )
    await redis.aclose()
    return pair.summary()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="main", help="git revision")
    parser.add_argument("--per-cycle", type=int, default=70)
    parser.add_argument("--cycles", type=int, default=60)
    parser.add_argument("--warm-up", type=int, default=5)
    parser.add_argument("--technicians", type=int, default=100)
    parser.add_argument("--hold", type=int, default=3)
    parser.add_argument("--churn", type=float, default=0.1)
    parser.add_argument("--chaos", action="store_true")
    parser.add_argument("--maxlen", type=int, default=100_000)
    parser.add_argument("--check-every", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from dispatcher.backend.embedded import EmbeddedRedis

    print(uptime())
    with tempfile.TemporaryDirectory(prefix="commit-script-") as tmp:
        redis = EmbeddedRedis(Path(tmp) / "redis", durability="no").start()
        try:
            result = asyncio.run(_run(args, redis.url))
        finally:
            redis.stop()
    print(json.dumps(result, indent=2))
    print(uptime())
    print("load average:", os.getloadavg())
    write_results(
        "commit_script",
        {"benchmark": "commit_script", "args": vars(args), "machine": machine(),
         "result": result},
    )  # fmt: skip
    return 1 if result["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
