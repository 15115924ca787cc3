"""What the load benchmarks share: the submitted ticket, percentiles and the closed loop."""

from __future__ import annotations

import asyncio
import time
from typing import Any

REGIONS = ("r0", "r1", "r2", "r3")


def submit_request(prefix: str, i: int) -> Any:
    """The ``i``-th SubmitTicketRequest of a run: id ``{prefix}-{i}``, spread over regions,
    priorities, skill levels and a few hundred Boston-area points."""
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


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by rank; NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def closed_loop(
    call: Any, make: Any, concurrency: int, duration_s: float
) -> dict[str, float]:
    """Max rate: ``concurrency`` callers back to back for ``duration_s``, each awaiting
    ``call(make(i))`` with a fresh ``i``; rate, latency percentiles and errors."""
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
        "p50_ms": 1000 * percentile(latencies, 0.50),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "calls": len(latencies),
        "errors": errors,
    }
