"""ops/grafana/dispatch-dashboard.json: structurally valid, up to date, valid PromQL on real metrics."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import yaml

from .promql_names import (
    DASHBOARD,
    OPS,
    PROMETHEUS_BUILTINS,
    exported_names,
    load_script,
    metric_names,
    recording_rule_names,
    run_promtool,
)

if TYPE_CHECKING:
    from pathlib import Path

REQUIRED_SECTIONS = (
    "API (RED)",
    "Queues",
    "Assignment latency (SLO)",
    "Solves",
    "SLA",
    "Churn",
    "Leases",
    "Redis and events",
)


def _dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text())
    assert isinstance(data, dict)
    return data


def _panels() -> list[dict[str, Any]]:
    return [p for p in _dashboard()["panels"] if p["type"] != "row"]


def _exprs() -> list[str]:
    return [t["expr"] for p in _panels() for t in p["targets"]]


def _grafana_to_promql(expr: str) -> str:
    """Replace Grafana variables by values Prometheus accepts, for a syntax check."""
    expr = (
        expr.replace("$__rate_interval", "5m")
        .replace("$__interval", "1m")
        .replace("$__range", "1h")
    )
    return re.sub(r"\$\{?(\w+)\}?", ".*", expr)


def test_json_matches_its_generator() -> None:
    """The committed JSON is what ops/grafana/build_dashboard.py writes (no hand edits lost)."""
    spec = importlib.util.spec_from_file_location(
        "build_dashboard", OPS / "grafana" / "build_dashboard.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render() == DASHBOARD.read_text(), (
        "run: python ops/grafana/build_dashboard.py"
    )


def test_dashboard_structure() -> None:
    """Grafana essentials: uid, title, schema, unique ids, in-grid non-overlapping panels, targets."""
    dash = _dashboard()
    assert dash["uid"]
    assert dash["title"]
    assert isinstance(dash["schemaVersion"], int)
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in dash["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel"
                cells.add((x, y))
    for panel in _panels():
        assert panel["type"] in ("timeseries", "stat"), panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]


def test_dashboard_has_every_required_section() -> None:
    """Rows for RED, queues, SLO, solves, SLA, churn, leases and Redis (issue 7 item 3)."""
    rows = [p["title"] for p in _dashboard()["panels"] if p["type"] == "row"]
    for section in REQUIRED_SECTIONS:
        assert section in rows


def test_template_variables_are_defined() -> None:
    """Every $variable a query uses is a dashboard variable or a Grafana built-in."""
    defined = {v["name"] for v in _dashboard()["templating"]["list"]}
    for expr in _exprs():
        for name in re.findall(r"\$\{?(\w+)\}?", expr):
            assert name in defined or name.startswith("__"), (name, expr)


def test_every_metric_in_panels_is_exported() -> None:
    """Each series a panel queries is exported by DispatchMetrics or recorded in alerts.yml."""
    known = exported_names() | recording_rule_names() | PROMETHEUS_BUILTINS
    unknown = {name for expr in _exprs() for name in metric_names(expr)} - known
    assert not unknown, (
        f"panels query metrics the service does not export: {sorted(unknown)}"
    )
    used = {name for expr in _exprs() for name in metric_names(expr)}
    assert len(used & exported_names()) >= 25


def test_panel_queries_parse(tmp_path: Path) -> None:
    """Every panel query is valid PromQL: promtool checks them as recording rules."""
    rules = [
        {"record": f"dashboard:panel_query:{i}", "expr": _grafana_to_promql(expr)}
        for i, expr in enumerate(_exprs())
    ]
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run_promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_generator_help_prints_usage_and_writes_nothing() -> None:
    """`build_dashboard.py --help` prints its usage (exit 0) and an unknown option is refused
    (exit 2); neither touches the committed JSON."""
    script = OPS / "grafana" / "build_dashboard.py"
    before = DASHBOARD.stat().st_mtime_ns
    shown = subprocess.run(
        [sys.executable, str(script), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("usage:"), shown.stdout
    assert "--check" in shown.stdout
    refused = subprocess.run(
        [sys.executable, str(script), "--no-such-option"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2, refused.stdout
    assert DASHBOARD.stat().st_mtime_ns == before


def test_generator_links_the_given_runbook(tmp_path: Path) -> None:
    """The committed dashboard links the default runbook URL (the one the alert rules use);
    `--runbook-url URL --out FILE` builds one linking URL, leaving the committed file alone."""
    script = OPS / "grafana" / "build_dashboard.py"
    build_rules = load_script(OPS / "prometheus" / "build_rules.py")
    (link,) = _dashboard()["links"]
    assert link["url"] == build_rules.DEFAULT_RUNBOOK_URL
    before = DASHBOARD.read_text()
    out = tmp_path / "dashboard.json"
    url = "https://wiki.example.com/dispatch/RUNBOOK.md"
    subprocess.run(
        [sys.executable, str(script), "--runbook-url", url, "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    (link,) = json.loads(out.read_text())["links"]
    assert link["url"] == url
    assert DASHBOARD.read_text() == before
