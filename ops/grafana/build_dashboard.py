"""Write ops/grafana/dispatch-dashboard.json: the Grafana dashboard of the dispatch optimizer.

The JSON is generated so that every panel has the same shape (datasource variable, units,
grid position); edit the panel list below, then run ``python ops/grafana/build_dashboard.py``.
tests/ops checks that the committed JSON equals this script's output, that every expression
parses (promtool), and that every metric it names is exported by dispatcher/runtime/metrics.py.

Queue gauges are exported by several processes reading the same store, so they are combined
with ``max`` across instances, never ``sum``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import ModuleType

OUT = Path(__file__).with_name("dispatch-dashboard.json")


def _build_rules() -> ModuleType:
    """ops/prometheus/build_rules.py, the owner of the runbook URL default and checks."""
    path = Path(__file__).resolve().parents[1] / "prometheus" / "build_rules.py"
    spec = importlib.util.spec_from_file_location("build_rules", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_rules = _build_rules()

DS = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"
TR = 'tenant=~"$tenant", region=~"$region"'
R = 'region=~"$region"'

Panel = dict[str, Any]


def target(expr: str, legend: str, ref: str = "A") -> dict[str, Any]:
    """One Prometheus query of a panel."""
    return {
        "datasource": DS,
        "expr": expr,
        "legendFormat": legend,
        "refId": ref,
        "range": True,
    }


def timeseries(
    title: str, unit: str, *targets: tuple[str, str], desc: str = ""
) -> Panel:
    """A time-series panel; ``targets`` are (expr, legend) pairs."""
    return {
        "type": "timeseries",
        "title": title,
        "description": desc,
        "datasource": DS,
        "fieldConfig": {
            "defaults": {"unit": unit, "custom": {"lineWidth": 1, "fillOpacity": 10}},
            "overrides": [],
        },
        "options": {
            "legend": {
                "displayMode": "table",
                "placement": "bottom",
                "calcs": ["lastNotNull", "max"],
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": [
            target(e, leg, chr(ord("A") + i)) for i, (e, leg) in enumerate(targets)
        ],
    }


def stat(
    title: str,
    unit: str,
    expr: str,
    thresholds: list[tuple[float | None, str]],
    desc: str = "",
) -> Panel:
    """A single-value panel with colour thresholds [(value or None for base, colour)]."""
    return {
        "type": "stat",
        "title": title,
        "description": desc,
        "datasource": DS,
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "thresholds": {
                    "mode": "absolute",
                    "steps": [{"value": v, "color": c} for v, c in thresholds],
                },
            },
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
        },
        "targets": [target(expr, title)],
    }


def quantiles(metric: str, by: str, selector: str = "") -> list[tuple[str, str]]:
    """p50 and p99 of a histogram, per ``by`` label (or overall when empty)."""
    group = f"le, {by}" if by else "le"
    label = f"{{{{{by}}}}} " if by else ""
    return [
        (
            f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{{{selector}}}[{RATE}])))",
            f"{label}p{int(q * 100)}",
        )
        for q in (0.5, 0.99)
    ]


SERVER_ERRORS = 'code=~"INTERNAL|UNKNOWN|UNAVAILABLE|DATA_LOSS|DEADLINE_EXCEEDED"'

ROWS: list[tuple[str, list[Panel]]] = [
    (
        "Overview",
        [
            stat(
                "Assignments within 5 s (1 h)",
                "percentunit",
                "1 - dispatch:assignment_latency_slo_errors:ratio_rate1h",
                [(None, "red"), (0.99, "green")],
                desc="Share of tickets whose first assignment came within 5 s of submit; SLO 99%.",
            ),
            stat(
                "Latency budget burn (1 h)",
                "x",
                "dispatch:assignment_latency_slo_errors:ratio_rate1h / 0.01",
                [(None, "green"), (1, "yellow"), (14.4, "red")],
                desc="Error-budget burn rate: 1 = spending the 30-day budget exactly; 14.4 pages.",
            ),
            stat(
                "Open tickets",
                "short",
                f"sum(max by (tenant, region, priority) (dispatch_queue_depth{{{TR}}}))",
                [(None, "green"), (1000, "yellow"), (10000, "red")],
            ),
            stat(
                "Redis up (worst process)",
                "bool_yes_no",
                "min(dispatch_redis_up)",
                [(None, "red"), (1, "green")],
            ),
            stat(
                "Region leases held",
                "short",
                "sum(dispatch_leases_held)",
                [(None, "red"), (1, "green")],
                desc="Sum over solver processes; should equal the number of active regions.",
            ),
            stat(
                "SLA breaches (1 h)",
                "short",
                "sum(increase(dispatch_sla_breaches_total[1h]))",
                [(None, "green"), (1, "yellow"), (10, "red")],
            ),
        ],
    ),
    (
        "API (RED)",
        [
            timeseries(
                "Request rate by method",
                "reqps",
                (
                    f"sum by (method) (rate(dispatch_rpc_duration_seconds_count[{RATE}]))",
                    "{{method}}",
                ),
            ),
            timeseries(
                "Errors by method and code",
                "reqps",
                (
                    f'sum by (method, code) (rate(dispatch_rpc_duration_seconds_count{{code!="OK"}}[{RATE}]))',
                    "{{method}} {{code}}",
                ),
                desc="Client errors (INVALID_ARGUMENT, NOT_FOUND, ...) and server errors; the alert counts server errors only.",
            ),
            timeseries(
                "Server error ratio by method",
                "percentunit",
                (
                    f"sum by (method) (rate(dispatch_rpc_duration_seconds_count{{{SERVER_ERRORS}}}[{RATE}]))"
                    f" / sum by (method) (rate(dispatch_rpc_duration_seconds_count[{RATE}]))",
                    "{{method}}",
                ),
            ),
            timeseries(
                "Latency by method",
                "s",
                *quantiles("dispatch_rpc_duration_seconds", "method"),
            ),
            timeseries(
                "In flight and rejected",
                "short",
                ("sum(dispatch_rpc_in_flight)", "in flight"),
                (
                    f"sum by (reason) (rate(dispatch_rejected_requests_total[{RATE}]))",
                    "rejected/s {{reason}}",
                ),
            ),
        ],
    ),
    (
        "Queues",
        [
            timeseries(
                "Queue depth by region",
                "short",
                (
                    f"sum by (tenant, region) (max by (tenant, region, priority) (dispatch_queue_depth{{{TR}}}))",
                    "{{tenant}}/{{region}}",
                ),
            ),
            timeseries(
                "Queue depth by priority",
                "short",
                (
                    f"sum by (priority) (max by (tenant, region, priority) (dispatch_queue_depth{{{TR}}}))",
                    "{{priority}}",
                ),
            ),
            timeseries(
                "Oldest unassigned ticket",
                "s",
                (
                    f"max by (region, priority) (dispatch_queue_oldest_age_seconds{{{TR}}})",
                    "{{region}} {{priority}}",
                ),
            ),
            timeseries(
                "Tickets at risk of SLA breach",
                "short",
                (
                    f"max by (tenant, region) (dispatch_queue_at_risk{{{TR}}})",
                    "{{tenant}}/{{region}}",
                ),
            ),
        ],
    ),
    (
        "Assignment latency (SLO)",
        [
            timeseries(
                "Submit to first assignment",
                "s",
                *(
                    (
                        f"histogram_quantile({q}, sum by (le) (rate(dispatch_assignment_latency_seconds_bucket[{RATE}])))",
                        f"p{int(q * 100)}",
                    )
                    for q in (0.5, 0.9, 0.99)
                ),
            ),
            timeseries(
                "Burn rate by window",
                "x",
                *(
                    (f"dispatch:assignment_latency_slo_errors:ratio_rate{w} / 0.01", w)
                    for w in ("5m", "1h", "6h", "1d")
                ),
                desc="Multiples of the budget rate (1% over 30 days). Pages at 14.4x (1h and 5m) and 6x (6h and 30m).",
            ),
            timeseries(
                "Assignments per second",
                "ops",
                (
                    f"sum(rate(dispatch_assignment_latency_seconds_count[{RATE}]))",
                    "first assignments/s",
                ),
            ),
        ],
    ),
    (
        "Solves",
        [
            timeseries(
                "Solve duration by region",
                "s",
                *quantiles("dispatch_solve_duration_seconds", "region", R),
            ),
            timeseries(
                "Solves by status",
                "ops",
                (
                    f"sum by (status) (rate(dispatch_solves_total{{{R}}}[{RATE}]))",
                    "{{status}}",
                ),
            ),
            timeseries(
                "Solve size",
                "short",
                (
                    f"max by (region) (dispatch_solve_tickets{{{R}}})",
                    "tickets {{region}}",
                ),
                (
                    f"max by (region) (dispatch_solve_technicians{{{R}}})",
                    "technicians {{region}}",
                ),
            ),
            timeseries(
                "Unassigned by reason",
                "short",
                (
                    f"sum by (reason) (max by (region, reason) (dispatch_solve_unassigned{{{R}}}))",
                    "{{reason}}",
                ),
            ),
            timeseries(
                "Plan cost as driven by region",
                "short",
                (f"max by (region) (dispatch_solve_objective{{{R}}})", "{{region}}"),
                desc="The last solve's plan as its queues run (chained travel, real "
                "starts), policy weight units, unassigned penalties included.",
            ),
        ],
    ),
    (
        "SLA",
        [
            timeseries(
                "At-risk flags by priority",
                "ops",
                (
                    f"sum by (priority) (rate(dispatch_sla_at_risk_total[{RATE}]))",
                    "{{priority}}",
                ),
            ),
            timeseries(
                "Breaches by priority and kind",
                "ops",
                (
                    f"sum by (priority, kind) (rate(dispatch_sla_breaches_total[{RATE}]))",
                    "{{priority}} {{kind}}",
                ),
            ),
            timeseries(
                "Breach ratio (SLO 1%)",
                "percentunit",
                *(
                    (f"dispatch:sla_breaches:ratio_rate{w}", f"{{{{kind}}}} {w}")
                    for w in ("5m", "1h", "1d")
                ),
            ),
            timeseries(
                "Escalations and duplicates",
                "ops",
                (
                    f"sum by (priority) (rate(dispatch_escalations_total[{RATE}]))",
                    "escalations {{priority}}",
                ),
                (
                    f"sum(rate(dispatch_duplicates_detected_total[{RATE}]))",
                    "duplicates",
                ),
                (
                    f"sum(rate(dispatch_tickets_moved_total[{RATE}]))",
                    "moved to a neighbouring region",
                ),
            ),
        ],
    ),
    (
        "Churn",
        [
            timeseries(
                "Assignments and reassignments",
                "ops",
                (
                    f"sum by (region) (rate(dispatch_assignments_total{{{R}}}[{RATE}]))",
                    "assigned {{region}}",
                ),
                (
                    f"sum by (region) (rate(dispatch_reassignments_total{{{R}}}[{RATE}]))",
                    "moved {{region}}",
                ),
            ),
            timeseries(
                "Churn ratio",
                "percentunit",
                (
                    f"sum by (region) (rate(dispatch_reassignments_total{{{R}}}[{RATE}]))"
                    f" / sum by (region) (rate(dispatch_assignments_total{{{R}}}[{RATE}]))",
                    "{{region}}",
                ),
                desc="Reassignments per first assignment; bounded by the stability cost of the policy.",
            ),
        ],
    ),
    (
        "Leases",
        [
            timeseries(
                "Leases held by process",
                "short",
                ("sum by (instance) (dispatch_leases_held)", "{{instance}}"),
                desc="Region ownership: which solver process holds how many regions.",
            ),
            timeseries(
                "Lease changes",
                "short",
                (
                    f"sum by (instance, event) (increase(dispatch_lease_changes_total[{RATE}]))",
                    "{{instance}} {{event}}",
                ),
            ),
            timeseries(
                "Fencing conflicts",
                "ops",
                (
                    f"sum by (kind) (rate(dispatch_store_conflicts_total[{RATE}]))",
                    "{{kind}}",
                ),
            ),
        ],
    ),
    (
        "Redis and events",
        [
            timeseries(
                "Redis up by process",
                "short",
                ("min by (instance) (dispatch_redis_up)", "{{instance}}"),
            ),
            timeseries(
                "Redis latency by command",
                "s",
                *quantiles("dispatch_redis_command_duration_seconds", "command"),
            ),
            timeseries(
                "Redis errors",
                "ops",
                (
                    f"sum by (instance) (rate(dispatch_redis_errors_total[{RATE}]))",
                    "{{instance}}",
                ),
            ),
            timeseries(
                "Events published and subscribers",
                "short",
                (f"sum(rate(dispatch_events_published_total[{RATE}]))", "events/s"),
                ("sum(dispatch_event_subscribers)", "subscribers"),
            ),
            timeseries(
                "Closed tickets deleted (retention)",
                "ops",
                (
                    f"sum(rate(dispatch_tickets_purged_total[{RATE}]))",
                    "deleted/s",
                ),
            ),
            timeseries(
                "Event stream lag",
                "s",
                *quantiles("dispatch_event_stream_lag_seconds", ""),
            ),
        ],
    ),
    (
        "Webhooks",
        [
            timeseries(
                "Webhook delivery latency (event to receiver's 2xx)",
                "s",
                *quantiles("dispatch_webhook_delivery_seconds", ""),
                desc="Tens of ms on healthy receivers; grows while a receiver is down and "
                "retries catch up.",
            ),
            timeseries(
                "Webhook attempts by outcome",
                "ops",
                (
                    f"sum by (outcome) (rate(dispatch_webhook_attempts_total[{RATE}]))",
                    "{{outcome}}",
                ),
                desc="delivered, http_error (non-2xx, redirects included), timeout, network, "
                "refused (SSRF guard).",
            ),
            timeseries(
                "Webhook dead letters",
                "short",
                (
                    f"sum(increase(dispatch_webhook_dead_letters_total[{RATE}]))",
                    "dead-lettered",
                ),
                desc="Events given up on after webhook_dead_letter_after_s; "
                "ListWebhookDeadLetters shows them, ReplayWebhookDeadLetters resends them.",
            ),
        ],
    ),
]


def variable(name: str, label: str, query: str) -> dict[str, Any]:
    """A multi-value query variable with an "All" option matching everything."""
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": {"query": query, "refId": f"{name}-var"},
        "definition": query,
        "refresh": 2,
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


def build(runbook_url: str = build_rules.DEFAULT_RUNBOOK_URL) -> dict[str, Any]:
    """The dashboard as a dict (Grafana schema version 39), linking the runbook at ``runbook_url``."""
    panels: list[Panel] = []
    next_id = 1
    y = 0
    for title, row_panels in ROWS:
        panels.append(
            {"type": "row", "title": title, "id": next_id, "collapsed": False, "panels": [],
             "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}}
        )  # fmt: skip
        next_id += 1
        y += 1
        width = 4 if all(p["type"] == "stat" for p in row_panels) else 8
        height = 4 if width == 4 else 8
        for index, panel in enumerate(row_panels):
            x = (index * width) % 24
            if index and x == 0:
                y += height
            panel = {
                **panel,
                "id": next_id,
                "gridPos": {"x": x, "y": y, "w": width, "h": height},
            }
            panels.append(panel)
            next_id += 1
        y += height
    return {
        "uid": "dispatch-optimizer",
        "title": "Dispatch optimizer",
        "description": "RED for the gRPC API, queues, assignment-latency SLO, solves, SLA, churn, leases, Redis. Runbook: the Runbook link above.",
        "tags": ["dispatch", "slo"],
        "timezone": "utc",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "links": [
            {
                "title": "Runbook",
                "type": "link",
                "url": runbook_url,
                "icon": "doc",
                "tooltip": "ops/RUNBOOK.md: deploy, size, upgrade, one section per alert",
                "targetBlank": True,
            }
        ],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                },
                variable(
                    "tenant", "Tenant", "label_values(dispatch_queue_depth, tenant)"
                ),
                variable(
                    "region",
                    "Region",
                    'label_values(dispatch_queue_depth{tenant=~"$tenant"}, region)',
                ),
            ]
        },
        "panels": panels,
    }


def render(runbook_url: str = build_rules.DEFAULT_RUNBOOK_URL) -> str:
    """The dashboard JSON text (exactly as committed with the default runbook URL)."""
    return json.dumps(build(runbook_url), indent=2, sort_keys=False) + "\n"


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line; unknown arguments and ``--help`` exit before anything is written."""
    parser = argparse.ArgumentParser(
        description=f"Write the Grafana dashboard of the dispatch optimizer to {OUT.name}."
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when the committed file differs from the output",
    )
    parser.add_argument(
        "--runbook-url",
        type=build_rules.url_argument,
        default=build_rules.DEFAULT_RUNBOOK_URL,
        help="URL of RUNBOOK.md as your team reads it, the dashboard's Runbook link "
        "(default: the placeholder the committed file uses)",
    )
    parser.add_argument(
        "--out", type=Path, default=OUT, help=f"where to write (default {OUT.name})"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Write the JSON file (or, with --check, exit 1 when the committed file is stale)."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    text = render(args.runbook_url)
    if args.check:
        return 0 if args.out.read_text() == text else 1
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
