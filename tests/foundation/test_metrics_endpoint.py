"""The /metrics endpoint over a real HTTP(S) server: TLS, mTLS, basic auth, no ``_created``
series, the tenant label capped."""

from __future__ import annotations

import base64
import hashlib
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dispatcher.runtime.metrics import DispatchMetrics, new_registry
from dispatcher.runtime.metrics_http import (
    BasicAuth,
    MetricsAuthError,
    MetricsTLS,
    start_metrics_server,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from dispatcher.runtime.metrics_http import MetricsServer

MAKE_CERTS = Path(__file__).resolve().parents[2] / "deploy" / "config" / "make-certs.sh"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CA, server (localhost, 127.0.0.1) and client certificates from deploy/config/make-certs.sh."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    out = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["bash", str(MAKE_CERTS), str(out), "localhost", "127.0.0.1"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return out


@pytest.fixture
def metrics() -> DispatchMetrics:
    return DispatchMetrics(new_registry(process_metrics=False), max_tenants=2)


@contextmanager
def _serving(metrics: DispatchMetrics, **options: object) -> Iterator[MetricsServer]:
    server = start_metrics_server(metrics.registry, "127.0.0.1", 0, **options)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


def _get(
    url: str,
    *,
    context: ssl.SSLContext | None = None,
    user: str | None = None,
    password: str = PASSWORD,
) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers.get("WWW-Authenticate", "")


def _client_context(certs: Path, *, with_cert: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=certs / "ca.crt")
    if with_cert:
        context.load_cert_chain(certs / "client.crt", certs / "client.key")
    return context


def test_tls_with_client_certificates(certs: Path, metrics: DispatchMetrics) -> None:
    """With a certificate, key and CA the endpoint speaks HTTPS only and requires a client
    certificate signed by the CA."""
    tls = MetricsTLS(certs / "server.crt", certs / "server.key", certs / "ca.crt")
    with _serving(metrics, tls=tls) as server:
        url = f"https://localhost:{server.port}/metrics"
        status, text = _get(url, context=_client_context(certs, with_cert=True))
        assert status == 200
        assert "dispatch_rpc_in_flight" in text
        with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
            _get(url, context=_client_context(certs, with_cert=False))
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            _get(f"http://localhost:{server.port}/metrics")
        # the failed clients did not stop the server
        status, _ = _get(url, context=_client_context(certs, with_cert=True))
        assert status == 200


def test_tls_without_client_ca_takes_any_client(
    certs: Path, metrics: DispatchMetrics
) -> None:
    tls = MetricsTLS(certs / "server.crt", certs / "server.key")
    with _serving(metrics, tls=tls) as server:
        url = f"https://127.0.0.1:{server.port}/metrics"
        assert _get(url, context=_client_context(certs, with_cert=False))[0] == 200


def test_basic_auth_needs_a_listed_user_and_password(
    tmp_path: Path, metrics: DispatchMetrics
) -> None:
    """401 with a Basic challenge without credentials, for a wrong password and for an
    unknown user; 200 for a listed user, whether the file holds the password or its digest."""
    users = tmp_path / "metrics-users"
    digest = hashlib.sha256(PASSWORD.encode()).hexdigest()
    users.write_text(
        f"# scrapers\nprometheus:sha256:{digest}\n\nlegacy:{PASSWORD}\n",
        encoding="utf-8",
    )
    with _serving(metrics, basic_auth=BasicAuth.from_file(users)) as server:
        url = f"http://127.0.0.1:{server.port}/metrics"
        status, challenge = _get(url)
        assert status == 401
        assert challenge.startswith("Basic realm=")
        assert _get(url, user="prometheus", password="wrong")[0] == 401
        assert _get(url, user="nobody")[0] == 401
        status, text = _get(url, user="prometheus")
        assert status == 200
        assert "dispatch_rpc_in_flight" in text
        assert _get(url, user="legacy")[0] == 200


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "names no user"),
        ("prometheus\n", "line 1: expected 'user:password'"),
        ("a:x\na:y\n", "line 2: user 'a' appears twice"),
    ],
)
def test_bad_basic_auth_file_names_the_line(
    tmp_path: Path, content: str, message: str
) -> None:
    users = tmp_path / "users"
    users.write_text(content, encoding="utf-8")
    with pytest.raises(MetricsAuthError, match=message):
        BasicAuth.from_file(users)


def test_no_created_series(metrics: DispatchMetrics) -> None:
    """Counters and histograms are exposed without their ``_created`` series."""
    metrics.solves_total.labels(region="north", status="optimal").inc()
    metrics.solve_duration_seconds.labels(region="north").observe(0.2)
    with _serving(metrics) as server:
        _, text = _get(f"http://127.0.0.1:{server.port}/metrics")
    names = {
        sample.name
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert "dispatch_solves_total" in names
    assert "dispatch_solve_duration_seconds_count" in names
    assert not [name for name in names if name.endswith("_created")]


def test_tenant_label_is_capped(metrics: DispatchMetrics) -> None:
    """Beyond max_tenants (2 here) tenants are exposed as tenant="other", gauges summed."""
    for tenant, depth in (("a", 1), ("b", 2), ("c", 3), ("d", 4), ("c", 5)):
        metrics.queue_depth.labels(tenant=tenant, region="r", priority="P1").set(depth)
    with _serving(metrics) as server:
        _, text = _get(f"http://127.0.0.1:{server.port}/metrics")
    depth = {
        sample.labels["tenant"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "dispatch_queue_depth"
    }
    assert depth == {"a": 1, "b": 2, "other": 5 + 4}
