"""``e2e_latency``'s client latency split in legs by the stream ids of a ticket's events:
intended send -> SUBMITTED -> ASSIGNED -> the client has it."""

from __future__ import annotations

import argparse

from benchmarks.e2e_latency import Load, _legs


def test_the_legs_add_up_to_the_client_latency() -> None:
    load = Load(argparse.Namespace(seed=1, regions=2), "", "")
    load.wall_offset = 1_700_000_000.0  # monotonic 0 = this epoch second
    # (intended s, SUBMITTED ms, ASSIGNED ms, arrived s) on the two clocks
    tickets = {
        "a": (10.0, 10.004, 10.054, 10.060),
        "b": (10.1, 10.120, 10.300, 10.310),
        "c": (10.2, 10.203, 10.223, 10.240),
    }
    submitted, assigned = {}, {}
    for tid, (intended, sub, asg, arrived) in tickets.items():
        load.intended[tid] = intended
        load.arrived[tid] = arrived
        load.latency[tid] = arrived - intended
        submitted[tid] = round(1000 * (sub + load.wall_offset))
        assigned[tid] = round(1000 * (asg + load.wall_offset))
    load.intended["lost"] = 10.3  # never arrived: no legs
    submitted["lost"] = round(1000 * (10.301 + load.wall_offset))
    assigned["lost"] = round(1000 * (10.5 + load.wall_offset))
    legs = _legs(load, submitted, assigned)
    assert (legs["send_p50_ms"], legs["send_p99_ms"]) == (4.0, 20.0)
    assert (legs["solve_p50_ms"], legs["solve_p99_ms"]) == (50.0, 180.0)
    assert (legs["deliver_p50_ms"], legs["deliver_p99_ms"]) == (10.0, 17.0)
