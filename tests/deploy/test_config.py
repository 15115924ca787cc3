"""deploy/config: the full dispatch.toml, the auth file with every role and the TLS/mTLS
script, each used for real: loaded by the service's loaders, served over mTLS."""

from __future__ import annotations

import base64
import hashlib
import shutil
import ssl
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest

from dispatcher.api.auth import Authenticator, Role
from dispatcher.backend.serve_process import start_serve
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.pb import dispatch_pb2_grpc as pb_grpc
from dispatcher.runtime.settings import load_settings, setting_fields

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "config"
PLATFORM_TOKEN = "example-platform-token"
TECHNICIAN_TOKEN = "example-technician-token"


def test_dispatch_toml_names_every_setting_and_loads() -> None:
    """Every setting is a key of the example (and nothing else); the real loader accepts
    the file and each value reaches Settings."""
    document = tomllib.loads((CONFIG / "dispatch.toml").read_text())
    keys = {f.name for f in setting_fields()} - {"config_file"}
    assert set(document) == keys, (
        f"add to deploy/config/dispatch.toml: {keys - set(document)}"
    )
    settings = load_settings({"config": str(CONFIG / "dispatch.toml")}, env={})
    for key, value in document.items():
        loaded = getattr(settings, key)
        expected = Path(value) if isinstance(loaded, Path) else value
        assert loaded == expected, key
    assert settings.config_file == CONFIG / "dispatch.toml"


def test_auth_file_has_each_role() -> None:
    """The example auth file loads and grants each role once; its sha256 entry matches the
    documented token."""
    authenticator = Authenticator.from_file(CONFIG / "auth.toml")
    principals = list((authenticator.credentials or {}).values())
    assert sorted(p.role.value for p in principals) == sorted(r.value for r in Role)
    technician = authenticator.authenticate([("x-api-key", TECHNICIAN_TOKEN)])
    assert (technician.role, technician.technician_id) == (
        Role.TECHNICIAN_APP,
        "tech-7",
    )


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CA, server and client certificates made by deploy/config/make-certs.sh."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    out = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["bash", str(CONFIG / "make-certs.sh"), str(out), "localhost", "127.0.0.1"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    for key in ("ca.key", "server.key", "client.key"):
        assert (out / key).stat().st_mode & 0o077 == 0, key
    return out


def _queue_stats(
    target: str, certs: Path, *, client_cert: bool, token: str | None
) -> grpc.StatusCode:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=(certs / "ca.crt").read_bytes(),
        private_key=(certs / "client.key").read_bytes() if client_cert else None,
        certificate_chain=(certs / "client.crt").read_bytes() if client_cert else None,
    )
    metadata = [("authorization", f"Bearer {token}")] if token else []
    with grpc.secure_channel(target, credentials) as channel:
        try:
            pb_grpc.InsightServiceStub(channel).GetQueueStats(
                pb.GetQueueStatsRequest(), metadata=metadata, timeout=10
            )
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def test_mtls_with_the_script_certificates_and_the_example_auth_file(
    redis_server: str, tmp_path: Path, certs: Path
) -> None:
    """A server with the script's certificates and tls_ca requires a client certificate;
    with one and a platform token the call succeeds; `dispatcher health` passes over mTLS."""
    proc = start_serve(
        redis_server,
        tmp_path,
        "mtls",
        role="api",
        extra_args=(
            "--tls-cert", str(certs / "server.crt"), "--tls-key", str(certs / "server.key"),
            "--tls-ca", str(certs / "ca.crt"), "--auth-config", str(CONFIG / "auth.toml"),
        ),
    )  # fmt: skip
    try:
        target = proc.target
        assert _queue_stats(target, certs, client_cert=True, token=PLATFORM_TOKEN) == (
            grpc.StatusCode.OK
        )
        assert _queue_stats(target, certs, client_cert=True, token=None) == (
            grpc.StatusCode.UNAUTHENTICATED
        )
        assert _queue_stats(target, certs, client_cert=False, token=PLATFORM_TOKEN) == (
            grpc.StatusCode.UNAVAILABLE
        )
        health = subprocess.run(
            [sys.executable, "-m", "dispatcher", "health", "--target", target,
             "--tls-ca", str(certs / "ca.crt"), "--tls-cert", str(certs / "client.crt"),
             "--tls-key", str(certs / "client.key")],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert health.returncode == 0, health.stderr
        plaintext = subprocess.run(
            [sys.executable, "-m", "dispatcher", "health", "--target", target,
             "--timeout", "2"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert plaintext.returncode == 1
    finally:
        proc.stop()


def test_metrics_over_mtls_with_basic_auth(
    redis_server: str, tmp_path: Path, certs: Path
) -> None:
    """`serve --metrics-tls-* --metrics-basic-auth-file`: /metrics answers over HTTPS to a
    scraper with a client certificate and a listed user (no `_created` series), 401
    without the user, and plain HTTP gets nothing."""
    users = tmp_path / "metrics-users"
    users.write_text(
        f"prometheus:sha256:{hashlib.sha256(b'scrape-secret').hexdigest()}\n"
    )
    proc = start_serve(
        redis_server,
        tmp_path,
        "metrics-mtls",
        role="api",
        extra_args=(
            "--metrics-tls-cert", str(certs / "server.crt"),
            "--metrics-tls-key", str(certs / "server.key"),
            "--metrics-tls-ca", str(certs / "ca.crt"),
            "--metrics-basic-auth-file", str(users),
        ),
    )  # fmt: skip
    try:
        url = f"https://localhost:{proc.metrics_port}/metrics"
        context = ssl.create_default_context(cafile=certs / "ca.crt")
        context.load_cert_chain(certs / "client.crt", certs / "client.key")
        request = urllib.request.Request(url)
        secret = base64.b64encode(b"prometheus:scrape-secret").decode()
        request.add_header("Authorization", f"Basic {secret}")
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            text = response.read().decode()
        assert "dispatch_redis_up 1.0" in text
        assert "_created" not in text
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=10, context=context)
        assert refused.value.code == 401
        refused.value.close()
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(
                f"http://127.0.0.1:{proc.metrics_port}/metrics", timeout=10
            )
    finally:
        proc.stop()


def test_bad_metrics_tls_files_are_a_setting_error(tmp_path: Path) -> None:
    """A certificate that does not load is exit 2 naming the settings, before anything starts."""
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    run = subprocess.run(
        [sys.executable, "-m", "dispatcher", "serve",
         "--metrics-tls-cert", str(junk), "--metrics-tls-key", str(junk)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert "metrics_tls_cert" in run.stderr
