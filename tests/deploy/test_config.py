"""deploy/config: the full dispatch.toml, the auth file with every role and the TLS/mTLS
script, each used for real: loaded by the service's loaders, served over mTLS."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
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
