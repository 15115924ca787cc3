"""Helpers for the ops tests: metric names named by PromQL, names exported by the service, promtool."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from prometheus_client import CollectorRegistry

from dispatcher.runtime.metrics import DispatchMetrics

if TYPE_CHECKING:
    from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
OPS = ROOT / "ops"
RULES = OPS / "prometheus" / "alerts.yml"
RULE_TESTS = OPS / "prometheus" / "alerts_test.yml"
DASHBOARD = OPS / "grafana" / "dispatch-dashboard.json"
RUNBOOK = OPS / "RUNBOOK.md"

PROMETHEUS_BUILTINS = frozenset({"up"})
"""Series that Prometheus itself writes for every scrape target."""

_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
     "bool", "offset", "inf", "nan", "atan2"}
)  # fmt: skip
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w.$:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")


def metric_names(expr: str) -> set[str]:
    """Metric (or recording-rule) names that a PromQL expression selects.

    Strips strings, label matchers, grouping clauses, range/offset brackets, function names
    and keywords; what is left are series names.
    """
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = _GROUPING.sub("", text)
    names = set()
    for match in _IDENT.finditer(text):
        name = match.group(1)
        if name.lower() in _KEYWORDS or re.fullmatch(r"\d+[smhdwy]", name):
            continue
        names.add(name)
    return names


def exported_names() -> set[str]:
    """Every series name the service exports: counters as *_total, histograms with suffixes."""
    registry = CollectorRegistry()
    DispatchMetrics(registry)
    names: set[str] = set()
    for family in registry.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names.update(f"{family.name}{s}" for s in ("_bucket", "_count", "_sum"))
        else:
            names.add(family.name)
    return names


def load_rules() -> dict[str, object]:
    """The parsed alerts.yml."""
    data = yaml.safe_load(RULES.read_text())
    assert isinstance(data, dict)
    return data


def recording_rule_names() -> set[str]:
    """Names defined by ``record:`` in alerts.yml."""
    groups = load_rules()["groups"]
    assert isinstance(groups, list)
    return {r["record"] for g in groups for r in g["rules"] if "record" in r}


def promtool() -> str:
    """Path of promtool (Debian package ``prometheus``); skips the test when it is missing.

    With DISPATCH_REQUIRE_PROMTOOL=1 (set by .ci/run after installing it) a missing promtool
    fails instead of skipping.
    """
    path = shutil.which("promtool")
    if path is None:
        message = "promtool not installed (apt-get install prometheus)"
        if os.environ.get("DISPATCH_REQUIRE_PROMTOOL") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run promtool with ``args``; returns the completed process (check=False)."""
    return subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=60, check=False
    )


def load_script(path: Path) -> ModuleType:
    """Import a standalone script of ops/ or deploy/ (not a package) by its path."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
