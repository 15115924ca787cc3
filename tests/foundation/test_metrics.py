"""Metrics: every name of the team contract exists with its labels; the endpoint is valid text."""

from __future__ import annotations

import urllib.request

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from dispatcher.runtime.metrics import (
    PRIORITIES,
    RPC_BUCKETS_S,
    SOLVE_BUCKETS_S,
    DispatchMetrics,
    new_registry,
)
from dispatcher.runtime.metrics_http import start_metrics_server
from dispatcher.runtime.settings import load_settings

# The contract in TEAM.md (dashboards and alerts use exactly these): name -> (type, labels).
CONTRACT: dict[str, tuple[str, tuple[str, ...]]] = {
    "dispatch_rpc_duration_seconds": ("histogram", ("method", "code")),
    "dispatch_rpc_in_flight": ("gauge", ()),
    "dispatch_queue_depth": ("gauge", ("tenant", "region", "priority")),
    "dispatch_queue_oldest_age_seconds": ("gauge", ("tenant", "region", "priority")),
    "dispatch_queue_at_risk": ("gauge", ("tenant", "region")),
    "dispatch_solve_duration_seconds": ("histogram", ("region",)),
    "dispatch_solves_total": ("counter", ("region", "status")),
    "dispatch_solve_modes_total": ("counter", ("region", "mode", "reason")),
    "dispatch_solve_tickets": ("gauge", ("region",)),
    "dispatch_solve_technicians": ("gauge", ("region",)),
    "dispatch_solve_objective": ("gauge", ("region",)),
    "dispatch_solve_unassigned": ("gauge", ("region", "reason")),
    "dispatch_assignment_latency_seconds": ("histogram", ()),
    "dispatch_assignments_total": ("counter", ("region",)),
    "dispatch_reassignments_total": ("counter", ("region",)),
    "dispatch_sla_at_risk_total": ("counter", ("priority",)),
    "dispatch_sla_breaches_total": ("counter", ("priority", "kind")),
    "dispatch_escalations_total": ("counter", ("priority",)),
    "dispatch_duplicates_detected_total": ("counter", ()),
    "dispatch_tickets_moved_total": ("counter", ()),
    "dispatch_tickets_purged_total": ("counter", ()),
    "dispatch_lease_changes_total": ("counter", ("event",)),
    "dispatch_leases_held": ("gauge", ()),
    "dispatch_redis_command_duration_seconds": ("histogram", ("command",)),
    "dispatch_redis_errors_total": ("counter", ("kind",)),
    "dispatch_redis_up": ("gauge", ()),
    "dispatch_embedded_redis_restarts_total": ("counter", ()),
    "dispatch_events_published_total": ("counter", ()),
    "dispatch_event_stream_lag_seconds": ("histogram", ()),
    "dispatch_event_subscribers": ("gauge", ()),
    "dispatch_store_conflicts_total": ("counter", ("kind",)),
    "dispatch_rejected_requests_total": ("counter", ("reason",)),
    "dispatch_webhook_delivery_seconds": ("histogram", ()),
    "dispatch_webhook_attempts_total": ("counter", ("outcome",)),
    "dispatch_webhook_dead_letters_total": ("counter", ()),
}


def _families(registry: CollectorRegistry) -> dict[str, tuple[str, tuple[str, ...]]]:
    out = {}
    for family in registry.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        labels = tuple(
            getattr(family, "_labelnames", ())
        )  # not public; fall back below
        out[name] = (family.type, labels)
    return out


def test_every_contract_metric_is_defined_with_its_labels() -> None:
    """Each metric of TEAM.md exists with the agreed type and label names, and nothing else."""
    registry = CollectorRegistry()
    metrics = DispatchMetrics(registry)
    collectors = {
        c._name + ("_total" if c._type == "counter" else ""): (
            c._type,
            tuple(c._labelnames),
        )  # type: ignore[attr-defined]
        for c in vars(metrics).values()
        if hasattr(c, "_labelnames")
    }
    assert collectors == CONTRACT
    assert set(_families(registry)) == set(CONTRACT)


def test_known_label_values_are_preinitialised() -> None:
    """Series with known label values exist at 0 before anything happens."""
    registry = CollectorRegistry()
    DispatchMetrics(registry)
    for priority in PRIORITIES:
        assert (
            registry.get_sample_value(
                "dispatch_sla_at_risk_total", {"priority": priority}
            )
            == 0
        )
        for kind in ("response", "resolution"):
            labels = {"priority": priority, "kind": kind}
            assert registry.get_sample_value("dispatch_sla_breaches_total", labels) == 0
    for event in ("acquired", "lost", "released"):
        assert (
            registry.get_sample_value("dispatch_lease_changes_total", {"event": event})
            == 0
        )
    assert registry.get_sample_value("dispatch_redis_up") == 0


def test_region_series_are_created_on_demand() -> None:
    """init_region creates the queue and solve series of one tenant/region at 0."""
    registry = CollectorRegistry()
    DispatchMetrics(registry).init_region("acme", "north")
    labels = {"tenant": "acme", "region": "north", "priority": "P1"}
    assert registry.get_sample_value("dispatch_queue_depth", labels) == 0
    assert (
        registry.get_sample_value(
            "dispatch_solves_total", {"region": "north", "status": "optimal"}
        )
        == 0
    )


def test_buckets_cover_the_expected_ranges() -> None:
    """RPC latency spans 0.5 ms..5 s; solve duration spans 10 ms..10 s."""
    assert RPC_BUCKETS_S[0] == 0.0005
    assert RPC_BUCKETS_S[-1] == 5.0
    assert SOLVE_BUCKETS_S[0] == 0.01
    assert SOLVE_BUCKETS_S[-1] == 10.0


def test_metrics_endpoint_serves_valid_prometheus_text() -> None:
    """/metrics on its own loopback port parses with the reference parser."""
    registry = new_registry()
    metrics = DispatchMetrics(registry)
    metrics.rpc_duration_seconds.labels(
        method="dispatch.v1.TicketService/GetTicket", code="OK"
    ).observe(0.002)
    server = start_metrics_server(registry, "127.0.0.1", 0)
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{server.port}/metrics", timeout=10
        ) as response:
            text = response.read().decode()
    finally:
        server.stop()
    names = {family.name for family in text_string_to_metric_families(text)}
    assert "dispatch_rpc_duration_seconds" in names
    assert "process_cpu_seconds" in names
    assert (
        'dispatch_rpc_duration_seconds_count{code="OK",method="dispatch.v1.TicketService/GetTicket"} 1.0'
        in text
    )


def test_region_label_values_are_capped() -> None:
    """Beyond max_regions distinct regions, the region label value is 'other'."""
    reg = new_registry(process_metrics=False)
    m = DispatchMetrics(reg, max_regions=2)
    for region in ("a", "b", "c", "d", "a"):
        m.solves_total.labels(region=region, status="optimal").inc()
        m.assignments_total.labels(region).inc()  # positional works too
    value = reg.get_sample_value
    assert value("dispatch_solves_total", {"region": "a", "status": "optimal"}) == 2
    assert value("dispatch_solves_total", {"region": "b", "status": "optimal"}) == 1
    assert value("dispatch_solves_total", {"region": "other", "status": "optimal"}) == 2
    assert value("dispatch_assignments_total", {"region": "c"}) is None
    assert value("dispatch_assignments_total", {"region": "other"}) == 2
    assert load_settings({}, env={}).metrics_max_regions == 200


REGIONS = st.sampled_from(["a", "b", "c", "d", "e"])


@settings(max_examples=200, deadline=None)
@given(
    sets=st.lists(
        st.tuples(REGIONS, st.integers(min_value=0, max_value=1000)), max_size=30
    )
)
def test_overflowed_gauges_show_the_sum_or_the_oldest(
    sets: list[tuple[str, int]],
) -> None:
    """With max_regions=2, a gauge's region="other" series shows the sum over the
    overflowed regions' latest values (the max for the oldest-ticket age), whatever the
    order of the sets; kept regions show their own latest value."""
    reg = new_registry(process_metrics=False)
    m = DispatchMetrics(reg, max_regions=2)
    latest: dict[str, int] = {}
    kept: list[str] = []
    for region, value in sets:
        if region not in kept and len(kept) < 2:
            kept.append(region)
        labels = {"tenant": "t", "region": region, "priority": "P1"}
        m.queue_depth.labels(**labels).set(value)
        m.queue_oldest_age_seconds.labels(**labels).set(value)
        m.solve_tickets.labels(region).set(value)  # positional
        latest[region] = value
    overflowed = [v for r, v in latest.items() if r not in kept]
    sample = reg.get_sample_value
    other = {"tenant": "t", "region": "other", "priority": "P1"}
    if overflowed:
        assert sample("dispatch_queue_depth", other) == sum(overflowed)
        assert sample("dispatch_queue_oldest_age_seconds", other) == max(overflowed)
        assert sample("dispatch_solve_tickets", {"region": "other"}) == sum(overflowed)
    else:
        assert sample("dispatch_queue_depth", other) is None
    for region in kept:
        mine = {"tenant": "t", "region": region, "priority": "P1"}
        assert sample("dispatch_queue_depth", mine) == latest[region]
