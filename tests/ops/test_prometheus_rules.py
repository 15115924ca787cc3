"""ops/prometheus/alerts.yml: valid for promtool, behaves as its unit tests say, names real metrics."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
import yaml
from prometheus_client import CollectorRegistry

from dispatcher.runtime.metrics import DispatchMetrics

from .promql_names import (
    OPS,
    PROMETHEUS_BUILTINS,
    RULE_TESTS,
    RULES,
    RUNBOOK,
    exported_names,
    load_rules,
    load_script,
    metric_names,
    recording_rule_names,
    run_promtool,
)

if TYPE_CHECKING:
    from pathlib import Path

BUILD_RULES = OPS / "prometheus" / "build_rules.py"
SCRAPE_EXAMPLE = OPS / "prometheus" / "scrape.yml"
TEAM_RUNBOOK = "https://wiki.example.com/dispatch/RUNBOOK.md"
build_rules = load_script(BUILD_RULES)


def _rules() -> list[dict[str, object]]:
    groups = load_rules()["groups"]
    assert isinstance(groups, list)
    return [rule for group in groups for rule in group["rules"]]


def _alerts() -> list[dict[str, object]]:
    return [rule for rule in _rules() if "alert" in rule]


def test_promtool_check_rules() -> None:
    """`promtool check rules` accepts the rule file."""
    result = run_promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow  # ~11 s: promtool over every rule test; CI runs it in the slow step
def test_promtool_rule_unit_tests() -> None:
    """`promtool test rules` passes: burn-rate and symptom alerts fire (and stay quiet) as designed."""
    result = run_promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_metric_in_rules_is_exported() -> None:
    """Each series a rule selects is exported by DispatchMetrics, recorded by a rule, or `up`."""
    known = exported_names() | recording_rule_names() | PROMETHEUS_BUILTINS
    missing = {}
    for rule in _rules():
        unknown = metric_names(str(rule["expr"])) - known
        if unknown:
            missing[rule.get("alert") or rule.get("record")] = sorted(unknown)
    assert not missing, f"rules name metrics the service does not export: {missing}"


def test_rules_use_service_metrics_at_all() -> None:
    """The name check is not vacuous: the rules name many exported metrics."""
    used = set().union(*(metric_names(str(r["expr"])) for r in _rules()))
    assert len(used & exported_names()) >= 15


def test_slo_bucket_boundary_exists() -> None:
    """The 5 s SLO threshold is a bucket boundary of dispatch_assignment_latency_seconds."""
    registry = CollectorRegistry()
    DispatchMetrics(registry)
    value = registry.get_sample_value(
        "dispatch_assignment_latency_seconds_bucket", {"le": "5.0"}
    )
    assert value is not None
    assert 'le=~"5|5\\\\.0"' in RULES.read_text()


def test_multi_window_burn_rates_follow_the_workbook() -> None:
    """Page on 14.4x (1h & 5m) or 6x (6h & 30m); ticket on 3x (1d & 2h) or 1x (3d & 6h)."""
    alerts = {str(a["alert"]): a for a in _alerts()}
    for slo in ("AssignmentLatency", "SLABreach"):
        fast = str(alerts[f"Dispatch{slo}BudgetBurnFast"]["expr"])
        slow = str(alerts[f"Dispatch{slo}BudgetBurnSlow"]["expr"])
        for window, factor in (
            ("1h", "14.4"),
            ("5m", "14.4"),
            ("6h", "6"),
            ("30m", "6"),
        ):
            assert re.search(rf"ratio_rate{window} > \({factor} \* 0\.01\)", fast), (
                slo,
                window,
            )
        for window, factor in (("1d", "3"), ("2h", "3"), ("3d", "1"), ("6h", "1")):
            assert re.search(rf"ratio_rate{window} > \({factor} \* 0\.01\)", slow), (
                slo,
                window,
            )
        assert alerts[f"Dispatch{slo}BudgetBurnFast"]["labels"]["severity"] == "page"  # type: ignore[index]
        assert alerts[f"Dispatch{slo}BudgetBurnSlow"]["labels"]["severity"] == "ticket"  # type: ignore[index]


@pytest.mark.parametrize(
    "name",
    [
        "DispatchRedisDown",
        "DispatchNoLeaseHolder",
        "DispatchSolveFailures",
        "DispatchBacklogGrowing",
    ],
)
def test_required_symptom_alerts_exist(name: str) -> None:
    """Redis down, no lease holder, solve failures and backlog growth each have an alert."""
    assert name in {a["alert"] for a in _alerts()}


def _github_anchor(heading: str) -> str:
    slug = heading.strip().lower()
    slug = re.sub(r"[^\w\- ]", "", slug)
    return slug.replace(" ", "-")


def test_every_alert_has_annotations_and_a_runbook_section() -> None:
    """summary, description and runbook_url on every alert; the URL's anchor is a RUNBOOK heading."""
    headings = {
        _github_anchor(line.lstrip("#"))
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("#")
    }
    for alert in _alerts():
        annotations = alert.get("annotations")
        assert isinstance(annotations, dict), alert["alert"]
        assert {"summary", "description", "runbook_url"} <= set(annotations), alert[
            "alert"
        ]
        labels = alert.get("labels")
        assert isinstance(labels, dict)
        assert labels.get("severity") in ("page", "ticket")
        url = str(annotations["runbook_url"])
        path, _, anchor = url.partition("#")
        assert path == build_rules.DEFAULT_RUNBOOK_URL, (
            url
        )  # absolute, rebased at build
        assert anchor == str(alert["alert"]).lower(), url
        assert anchor in headings, f"no RUNBOOK section for {alert['alert']}"


def test_metric_name_extraction() -> None:
    """The PromQL name extractor ignores functions, labels, strings, durations and keywords."""
    expr = (
        'histogram_quantile(0.99, sum by (le, method) (rate(foo_bucket{code=~"A|b_c"}[5m])))'
        " / on () group_left () bar:ratio offset 1h > 0.5 and up{job='x'} unless baz"
    )
    assert metric_names(expr) == {"foo_bucket", "bar:ratio", "up", "baz"}


def _without_runbook_urls(rules: dict[str, object]) -> dict[str, object]:
    groups = rules["groups"]
    assert isinstance(groups, list)
    for group in groups:
        for rule in group["rules"]:
            rule.get("annotations", {}).pop("runbook_url", None)
    return rules


def test_build_rules_links_every_alert_to_the_given_runbook(tmp_path: Path) -> None:
    """`build_rules.py --runbook-url URL --out FILE` writes the rules with every alert's
    runbook_url = URL#<alert>, nothing else changed, valid for promtool."""
    out = tmp_path / "dispatch-rules.yml"
    subprocess.run(
        [
            sys.executable,
            str(BUILD_RULES),
            "--runbook-url",
            TEAM_RUNBOOK,
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    built = yaml.safe_load(out.read_text())
    alerts = [r for g in built["groups"] for r in g["rules"] if "alert" in r]
    assert len(alerts) == len(_alerts())
    for alert in alerts:
        assert alert["annotations"]["runbook_url"] == (
            f"{TEAM_RUNBOOK}#{alert['alert'].lower()}"
        )
    assert _without_runbook_urls(built) == _without_runbook_urls(load_rules())
    result = run_promtool("check", "rules", str(out))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "url", ["ops/RUNBOOK.md", "https://wiki.example.com/RUNBOOK.md#top", "ftp://x/y"]
)
def test_build_rules_refuses_a_url_alerts_cannot_link(url: str) -> None:
    """A relative URL (what Alertmanager cannot open), a fragment or another scheme: exit 2."""
    run = subprocess.run(
        [sys.executable, str(BUILD_RULES), "--runbook-url", url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "--runbook-url" in run.stderr


def test_rule_unit_tests_expect_the_committed_links() -> None:
    """alerts_test.yml expects the same runbook links as alerts.yml (both on the default)."""
    expected = build_rules.runbook_urls(RULE_TESTS.read_text())
    assert expected
    assert set(expected) <= set(build_rules.runbook_urls(RULES.read_text()))


def test_example_scrape_config_passes_promtool(tmp_path: Path) -> None:
    """ops/prometheus/scrape.yml is a valid Prometheus configuration (its rule file, TLS
    files and password file put in place), scraping plain and HTTPS + basic auth."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    text = SCRAPE_EXAMPLE.read_text().replace(
        "/etc/prometheus/dispatch/", f"{secrets}/"
    )
    for name in ("ca.crt", "client.crt", "client.key", "metrics-password"):
        (secrets / name).write_text("placeholder\n")
    (tmp_path / "scrape.yml").write_text(text)
    shutil.copy(RULES, tmp_path / "alerts.yml")
    result = run_promtool("check", "config", str(tmp_path / "scrape.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = {job["job_name"]: job for job in yaml.safe_load(text)["scrape_configs"]}
    assert jobs["dispatcher-tls"]["scheme"] == "https"
    assert "password_file" in jobs["dispatcher-tls"]["basic_auth"]
