"""deploy/kubernetes: schema-valid offline (kubernetes-validate, strict), and consistent with
the service: probes, drain time, settings, scrape target, rules."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from dispatcher.api.health import LIVENESS_SERVICE
from dispatcher.runtime.settings import ROLES, load_settings

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy" / "kubernetes"
CRD_KINDS = {"PodMonitor", "PrometheusRule"}  # Prometheus Operator: no bundled schema


def _documents() -> list[tuple[Path, dict[str, Any]]]:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    return [
        (BASE / name, doc)
        for name in kustomization["resources"]
        for doc in yaml.safe_load_all((BASE / name).read_text())
        if doc
    ]


def _by_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in _documents() if doc["kind"] == kind]


def _validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    tool = Path(sys.executable).parent / "kubernetes-validate"
    assert tool.exists(), "kubernetes-validate (dev extra) missing"
    return subprocess.run(
        [str(tool), "--strict", "--quiet", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_kustomization_lists_every_manifest() -> None:
    """Every YAML file beside kustomization.yaml is one of its resources, and back."""
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    on_disk = {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == on_disk


def test_core_manifests_are_schema_valid(tmp_path: Path) -> None:
    """kubernetes-validate --strict passes every core manifest (and rejects a typo)."""
    core = sorted({path for path, doc in _documents() if doc["kind"] not in CRD_KINDS})
    result = _validate(*core)
    assert result.returncode == 0, result.stdout + result.stderr
    deployment = yaml.safe_load((BASE / "api-deployment.yaml").read_text())
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(deployment))
    assert _validate(bad).returncode != 0


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kustomize_builds_the_base() -> None:
    """`kubectl kustomize` renders the base (when kubectl is installed)."""
    result = subprocess.run(
        ["kubectl", "kustomize", str(BASE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    kinds = [doc["kind"] for doc in yaml.safe_load_all(result.stdout) if doc]
    assert kinds.count("Deployment") == 2


def _config_settings(tmp_path: Path) -> Any:
    (configmap,) = _by_kind("ConfigMap")
    path = tmp_path / "dispatch.toml"
    path.write_text(configmap["data"]["dispatch.toml"])
    return load_settings({"config": str(path)}, env={})


def test_deployments_run_the_roles_with_grpc_probes_and_room_to_drain(
    tmp_path: Path,
) -> None:
    """Each role's pod: readiness on health "" (follows Redis), liveness and startup on
    "liveness" (served without following Redis), SIGKILL only after preStop + the drain period,
    requests set, non-root with a read-only root, settings from the ConfigMap/Secret."""
    settings = _config_settings(tmp_path)
    roles = set()
    for deployment in _by_kind("Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        args = container["args"]
        assert args[:2] == ["serve", "--role"]
        roles.add(args[2])
        assert container["readinessProbe"]["grpc"] == {"port": settings.grpc_port}
        for probe in ("livenessProbe", "startupProbe"):
            assert container[probe]["grpc"] == {
                "port": settings.grpc_port,
                "service": LIVENESS_SERVICE,  # the name the server keeps SERVING
            }
        pre_stop_s = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert (
            pod["terminationGracePeriodSeconds"] > pre_stop_s + settings.grace_period_s
        )
        requests = container["resources"]["requests"]
        assert {"cpu", "memory"} <= set(requests)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {"grpc": settings.grpc_port, "metrics": settings.metrics_port}
        env = {e["name"]: e for e in container["env"]}
        assert env["DISPATCH_REDIS_URL"]["valueFrom"]["secretKeyRef"]["name"] == (
            "dispatcher-secret"
        )
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert env["DISPATCH_CONFIG"]["value"].startswith(mounts["config"] + "/")
        assert str(settings.auth_config).startswith(mounts["secret"] + "/")
    assert roles == {"api", "solver"}
    assert roles <= set(ROLES)


def test_secret_carries_a_loadable_auth_file_and_the_redis_url() -> None:
    """The Secret's placeholder auth.toml loads with the service's loader."""
    from dispatcher.api.auth import Authenticator

    (secret,) = _by_kind("Secret")
    data = secret["stringData"]
    assert data["DISPATCH_REDIS_URL"].startswith("redis://")
    authenticator = Authenticator.from_dict(tomllib.loads(data["auth.toml"]))
    assert not authenticator.dev_mode


def test_services_and_disruption_budgets_select_the_role_pods() -> None:
    """The API Service and each PodDisruptionBudget select exactly one role's pods."""
    pod_labels = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
        for d in _by_kind("Deployment")
    }

    def selected(selector: dict[str, str]) -> set[str]:
        return {
            name
            for name, labels in pod_labels.items()
            if selector.items() <= labels.items()
        }

    (service,) = _by_kind("Service")
    assert selected(service["spec"]["selector"]) == {"dispatcher-api"}
    budgets = {
        frozenset(selected(p["spec"]["selector"]["matchLabels"]))
        for p in _by_kind("PodDisruptionBudget")
    }
    assert budgets == {frozenset({"dispatcher-api"}), frozenset({"dispatcher-solver"})}


def test_podmonitor_scrapes_both_roles() -> None:
    """PodMonitor selects every role's pods on their `metrics` port, job "dispatcher"; the
    alerts in ops/prometheus/alerts.yml do not depend on that job name."""
    (monitor,) = _by_kind("PodMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    for deployment in _by_kind("Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items()
        assert labels[monitor["spec"]["jobLabel"]] == "dispatcher"
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        port_names = {p["name"] for p in container["ports"]}
        assert {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]} <= port_names
    rules = yaml.safe_load((ROOT / "ops" / "prometheus" / "alerts.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    assert not [expr for expr in exprs if "job=" in expr]


def test_prometheusrule_is_generated_from_the_ops_rules() -> None:
    """prometheusrule.yaml is what make_prometheusrule.py writes from ops/prometheus/alerts.yml."""
    spec = importlib.util.spec_from_file_location(
        "make_prometheusrule", BASE / "make_prometheusrule.py"
    )
    assert spec is not None
    assert spec.loader is not None
    make_prometheusrule = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_prometheusrule)
    committed = (BASE / "prometheusrule.yaml").read_text()
    assert committed == make_prometheusrule.render(), (
        "stale: ./dev run python deploy/kubernetes/make_prometheusrule.py"
    )
    rules = yaml.safe_load((ROOT / "ops" / "prometheus" / "alerts.yml").read_text())
    assert yaml.safe_load(committed)["spec"] == rules
