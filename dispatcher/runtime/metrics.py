"""Every Prometheus metric of the service, built against an injected registry.

Names and labels are the contract with dashboards and alerts (TEAM.md): change them only
together with ``ops/``. Production builds ``DispatchMetrics(new_registry())``; tests pass a
fresh ``CollectorRegistry()`` and read values with ``registry.get_sample_value(...)``.
Labels carry bounded values only (method, code, region, priority...), never ticket or
technician ids.
"""

from __future__ import annotations

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

from dispatcher.backend.redis_errors import REDIS_ERROR_KINDS
from dispatcher.runtime.label_cap import OTHER, LabelCap, cap_labels

PRIORITIES = ("P1", "P2", "P3", "P4")
"""Values of every ``priority`` label."""
SLA_KINDS = ("response", "resolution")
LEASE_EVENTS = ("acquired", "lost", "released")
CONFLICT_KINDS = ("version", "lease")
SOLVE_STATUSES = ("optimal", "feasible", "infeasible", "timeout", "overflow", "error")
"""Values of ``dispatch_solves_total{status}`` (lower-cased ``solver.SolveStatus`` plus ``error``)."""

RPC_BUCKETS_S = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip
"""RPC latency: 0.5 ms (a cached read on loopback) to 5 s (a batch of 1,000 under load)."""
SOLVE_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
"""Solve duration: around the solver time limit (default ~1 s; 10 s is the upper knob)."""
ASSIGNMENT_LATENCY_BUCKETS_S = (
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
"""Submit → first assignment event: debounce + solve + commit, up to a cadence tick or two."""
REDIS_BUCKETS_S = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.5,
)
"""Redis command round trips on loopback or a LAN: 0.1 ms to 0.5 s."""
STREAM_LAG_BUCKETS_S = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0)
"""Event append → delivery to a subscriber."""
WEBHOOK_DELIVERY_BUCKETS_S = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 300.0, 3600.0
)  # fmt: skip
"""Event append → receiver's 2xx: tens of ms on a healthy receiver; minutes to hours
when it was down and retries caught up."""
WEBHOOK_OUTCOMES = ("delivered", "http_error", "timeout", "network", "refused")
"""Values of ``dispatch_webhook_attempts_total{outcome}``."""


DEFAULT_MAX_REGIONS = 200
"""Distinct ``region`` label values per process (setting ``metrics_max_regions``)."""
DEFAULT_MAX_TENANTS = 100
"""Distinct ``tenant`` label values per process (setting ``metrics_max_tenants``)."""
OTHER_REGION = OTHER
"""The ``region`` (and ``tenant``) label value of every value beyond its cap."""


class DispatchMetrics:
    """All metric objects of the service, registered on ``registry``.

    Parameters
    ----------
    registry
        Where the metrics are registered; one ``DispatchMetrics`` per registry.
    max_regions, max_tenants
        Distinct ``region`` / ``tenant`` label values kept; later ones are labelled
        ``other`` (dispatcher/runtime/label_cap.py). Applies to every metric with that
        label, wherever ``.labels(...)`` is called.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        max_regions: int = DEFAULT_MAX_REGIONS,
        max_tenants: int = DEFAULT_MAX_TENANTS,
    ) -> None:
        self.registry = registry
        self.region_cap = LabelCap("region", max_regions)
        self.tenant_cap = LabelCap("tenant", max_tenants)
        r = registry

        # -- gRPC (dispatcher.api.call_observer) ---------------------------------------------
        self.rpc_duration_seconds = Histogram(
            "dispatch_rpc_duration_seconds",
            "gRPC call latency by method (service/Method) and status code; _count is the request count",
            ["method", "code"],
            buckets=RPC_BUCKETS_S,
            registry=r,
        )
        self.rpc_in_flight = Gauge(
            "dispatch_rpc_in_flight", "gRPC calls being handled now", registry=r
        )

        # -- queues -----------------------------------------------------------------------
        self.queue_depth = Gauge(
            "dispatch_queue_depth",
            "Open unassigned tickets",
            ["tenant", "region", "priority"],
            registry=r,
        )
        self.queue_oldest_age_seconds = Gauge(
            "dispatch_queue_oldest_age_seconds",
            "Age of the oldest open unassigned ticket",
            ["tenant", "region", "priority"],
            registry=r,
        )
        self.queue_at_risk = Gauge(
            "dispatch_queue_at_risk",
            "Open tickets predicted to miss their SLA",
            ["tenant", "region"],
            registry=r,
        )

        # -- solves -----------------------------------------------------------------------
        self.solve_duration_seconds = Histogram(
            "dispatch_solve_duration_seconds",
            "Wall time of one region solve (build costs + assignment + sequencing)",
            ["region"],
            buckets=SOLVE_BUCKETS_S,
            registry=r,
        )
        self.solves_total = Counter(
            "dispatch_solves_total",
            "Region solves by outcome",
            ["region", "status"],
            registry=r,
        )
        self.solve_modes_total = Counter(
            "dispatch_solve_modes_total",
            "Region solves by how they ran: mode incremental (the unchanged part of the"
            " last plan kept) or cold, with the reason of a cold one"
            " (dispatcher.loop.region_solver)",
            ["region", "mode", "reason"],
            registry=r,
        )
        self.solve_tickets = Gauge(
            "dispatch_solve_tickets",
            "Tickets in the last solve",
            ["region"],
            registry=r,
        )
        self.solve_technicians = Gauge(
            "dispatch_solve_technicians",
            "Technicians in the last solve",
            ["region"],
            registry=r,
        )
        self.solve_objective = Gauge(
            "dispatch_solve_objective",
            "Cost of the last solve's plan as its queues run (solver Solution.objective:"
            " chained travel, lateness and waiting at the sequenced starts, balance,"
            " unassigned penalties), policy weight units",
            ["region"],
            registry=r,
        )
        self.solve_unassigned = Gauge(
            "dispatch_solve_unassigned",
            "Tickets left unassigned by the last solve",
            ["region", "reason"],
            registry=r,
        )
        self.assignment_latency_seconds = Histogram(
            "dispatch_assignment_latency_seconds",
            "Time from ticket submit to its first assignment event",
            buckets=ASSIGNMENT_LATENCY_BUCKETS_S,
            registry=r,
        )
        self.assignments_total = Counter(
            "dispatch_assignments_total",
            "Tickets assigned (first assignment)",
            ["region"],
            registry=r,
        )
        self.reassignments_total = Counter(
            "dispatch_reassignments_total",
            "Assigned tickets moved to another technician (churn)",
            ["region"],
            registry=r,
        )

        # -- SLA, escalation, duplicates ----------------------------------------------------
        self.sla_at_risk_total = Counter(
            "dispatch_sla_at_risk_total",
            "Tickets flagged at risk of missing their SLA",
            ["priority"],
            registry=r,
        )
        self.sla_breaches_total = Counter(
            "dispatch_sla_breaches_total",
            "SLA deadlines missed",
            ["priority", "kind"],
            registry=r,
        )
        self.escalations_total = Counter(
            "dispatch_escalations_total", "Escalations fired", ["priority"], registry=r
        )
        self.tickets_moved_total = Counter(
            "dispatch_tickets_moved_total",
            "Tickets moved to a neighbouring region by an escalation (widening)",
            registry=r,
        )
        self.tickets_purged_total = Counter(
            "dispatch_tickets_purged_total",
            "Closed tickets deleted after the retention period (closed_ticket_retention_days)",
            registry=r,
        )
        self.duplicates_detected_total = Counter(
            "dispatch_duplicates_detected_total",
            "Tickets detected as duplicates",
            registry=r,
        )

        # -- leases -------------------------------------------------------------------------
        self.lease_changes_total = Counter(
            "dispatch_lease_changes_total",
            "Region lease transitions of this worker",
            ["event"],
            registry=r,
        )
        self.leases_held = Gauge(
            "dispatch_leases_held", "Region leases held by this worker", registry=r
        )

        # -- Redis --------------------------------------------------------------------------
        self.redis_command_duration_seconds = Histogram(
            "dispatch_redis_command_duration_seconds",
            "Redis round trip by command (or script name)",
            ["command"],
            buckets=REDIS_BUCKETS_S,
            registry=r,
        )
        self.redis_errors_total = Counter(
            "dispatch_redis_errors_total",
            "Redis commands that failed, by kind: oom, readonly, cluster, replication, "
            "timeout, pool_full, connection, response (another error reply), other",
            ["kind"],
            registry=r,
        )
        self.redis_up = Gauge(
            "dispatch_redis_up",
            "1 when the last Redis health ping succeeded, else 0",
            registry=r,
        )
        self.embedded_redis_restarts_total = Counter(
            "dispatch_embedded_redis_restarts",
            "Restarts of the embedded Valkey server after it died (backed off while it "
            "keeps dying)",
            registry=r,
        )

        # -- events -------------------------------------------------------------------------
        self.events_published_total = Counter(
            "dispatch_events_published_total",
            "Events appended to the event streams",
            registry=r,
        )
        self.event_stream_lag_seconds = Histogram(
            "dispatch_event_stream_lag_seconds",
            "Time from an event's append to its delivery to a subscriber",
            buckets=STREAM_LAG_BUCKETS_S,
            registry=r,
        )
        self.event_subscribers = Gauge(
            "dispatch_event_subscribers", "Open event-stream subscriptions", registry=r
        )

        # -- outbound webhooks ------------------------------------------------------------
        self.webhook_delivery_seconds = Histogram(
            "dispatch_webhook_delivery_seconds",
            "Time from an event's append to its acknowledgement (2xx) by a webhook receiver",
            buckets=WEBHOOK_DELIVERY_BUCKETS_S,
            registry=r,
        )
        self.webhook_attempts_total = Counter(
            "dispatch_webhook_attempts_total",
            "Webhook delivery attempts by outcome: delivered, http_error (non-2xx, "
            "redirects included), timeout, network, refused (SSRF guard)",
            ["outcome"],
            registry=r,
        )
        self.webhook_dead_letters_total = Counter(
            "dispatch_webhook_dead_letters_total",
            "Webhook events given up on after webhook_dead_letter_after_s (dead letters)",
            registry=r,
        )

        # -- store and admission ----------------------------------------------------------
        self.store_conflicts_total = Counter(
            "dispatch_store_conflicts_total",
            "Writes rejected by fencing: kind=version (stale item) or lease (lost region lease)",
            ["kind"],
            registry=r,
        )
        self.rejected_requests_total = Counter(
            "dispatch_rejected_requests_total",
            "Requests refused, by reason: overload, unauthenticated, permission_denied, "
            "invalid_argument, deadline_exceeded",
            ["reason"],
            registry=r,
        )

        for metric in list(vars(self).values()):
            if isinstance(metric, (Counter, Gauge, Histogram)):
                # the oldest ticket of the overflowed series: a sum of ages is no age
                oldest = metric is self.queue_oldest_age_seconds
                caps = (self.region_cap, self.tenant_cap)
                cap_labels(metric, caps, max if oldest else sum)
        self._preinitialise()

    @classmethod
    def throwaway(cls) -> DispatchMetrics:
        """Metrics on a registry of their own that nothing scrapes (tools and tests): the
        service's parts always record, to this when nobody watches."""
        return cls(new_registry(process_metrics=False))

    def _preinitialise(self) -> None:
        """Create the known label combinations so their series exist (at 0) from the start."""
        for priority in PRIORITIES:
            self.sla_at_risk_total.labels(priority=priority)
            self.escalations_total.labels(priority=priority)
            for kind in SLA_KINDS:
                self.sla_breaches_total.labels(priority=priority, kind=kind)
        for event in LEASE_EVENTS:
            self.lease_changes_total.labels(event=event)
        for kind in CONFLICT_KINDS:
            self.store_conflicts_total.labels(kind=kind)
        for outcome in WEBHOOK_OUTCOMES:
            self.webhook_attempts_total.labels(outcome=outcome)
        for kind in REDIS_ERROR_KINDS:
            self.redis_errors_total.labels(kind=kind)

    def init_region(self, tenant: str, region: str) -> None:
        """Pre-create the per-region series (called when a region is first seen)."""
        for priority in PRIORITIES:
            self.queue_depth.labels(tenant=tenant, region=region, priority=priority)
            self.queue_oldest_age_seconds.labels(
                tenant=tenant, region=region, priority=priority
            )
        self.queue_at_risk.labels(tenant=tenant, region=region)
        for status in SOLVE_STATUSES:
            self.solves_total.labels(region=region, status=status)
        self.assignments_total.labels(region=region)
        self.reassignments_total.labels(region=region)


def new_registry(*, process_metrics: bool = True) -> CollectorRegistry:
    """A fresh registry, with the process / platform / GC collectors when ``process_metrics``.

    Also turns off the ``_created`` series of counters and histograms (a process-wide switch
    of prometheus_client): a start timestamp per series doubles the series count for
    nothing Prometheus uses (it sees counter resets by itself).
    """
    disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped upstream
    registry = CollectorRegistry()
    if process_metrics:
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            registry.register(collector)
    return registry
