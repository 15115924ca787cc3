"""The ``/metrics`` HTTP endpoint: Prometheus text on its own port, optionally TLS, mTLS and
basic auth.

prometheus_client's ``make_wsgi_app`` renders the registry; its ``start_http_server`` has TLS
but no authentication hook, so the WSGI server is built here: the same threading WSGI server,
the app wrapped by a basic-auth check, the listening socket wrapped by an ``ssl`` context.
The TLS handshake runs in the connection's thread, so a slow client cannot stall accept.

Basic-auth users come from a file (setting ``metrics_basic_auth_file``), one per line::

    prometheus:sha256:<hex SHA-256 of the password>    # preferred: the file holds no secret
    other-scraper:a plain password
    # comments and blank lines are ignored

Passwords are compared by SHA-256 digest in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from dispatcher.runtime.settings import SettingsError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path

    from prometheus_client import CollectorRegistry

    from dispatcher.runtime.settings import Settings

logger = logging.getLogger(__name__)

REALM = "dispatch metrics"
HANDSHAKE_TIMEOUT_S = 10.0
"""A client that has not finished the TLS handshake (or sent its request) by then is dropped."""
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class MetricsAuthError(SettingsError):
    """The basic-auth file is invalid; the message names the file and line."""


def _digest(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """User name -> SHA-256 hex digest of the password."""

    digests: dict[str, str]

    @classmethod
    def from_file(cls, path: Path) -> BasicAuth:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise MetricsAuthError(f"metrics_basic_auth_file {path}: {exc}") from None
        return cls.from_lines(text.splitlines(), source=str(path))

    @classmethod
    def from_lines(cls, lines: Iterable[str], source: str) -> BasicAuth:
        digests: dict[str, str] = {}
        for number, raw in enumerate(lines, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            user, sep, secret = line.partition(":")
            where = f"metrics_basic_auth_file {source} line {number}"
            if not sep or not user or not secret:
                raise MetricsAuthError(f"{where}: expected 'user:password'")
            if user in digests:
                raise MetricsAuthError(f"{where}: user {user!r} appears twice")
            kind, _, value = secret.partition(":")
            if kind == "sha256" and _SHA256_HEX.fullmatch(value.lower()):
                digests[user] = value.lower()
            else:
                digests[user] = _digest(secret)
        if not digests:
            raise MetricsAuthError(f"metrics_basic_auth_file {source}: names no user")
        return cls(digests)

    def allows(self, authorization: str) -> bool:
        """True when an ``Authorization`` header value names a user with its password."""
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, _, password = decoded.partition(":")
        expected = self.digests.get(user, "")
        # compare even for an unknown user: the answer time does not tell which users exist
        matches = hmac.compare_digest(_digest(password), expected or "0" * 64)
        return matches and bool(expected)

    def wrap(self, app: Callable[..., Any]) -> Callable[..., Any]:
        """``app`` behind a basic-auth check: 401 with a challenge unless allowed."""

        def guarded(environ: dict[str, Any], start_response: Any) -> Any:
            if self.allows(environ.get("HTTP_AUTHORIZATION", "")):
                return app(environ, start_response)
            start_response(
                "401 Unauthorized",
                [
                    ("WWW-Authenticate", f'Basic realm="{REALM}", charset="UTF-8"'),
                    ("Content-Type", "text/plain; charset=utf-8"),
                ],
            )
            return [b"401 Unauthorized\n"]

        return guarded


@dataclass(frozen=True, slots=True)
class MetricsTLS:
    """Server certificate and key; with ``ca`` clients must present a certificate it signed."""

    cert: Path
    key: Path
    ca: Path | None = None

    def context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert, self.key)
        if self.ca is not None:
            context.load_verify_locations(cafile=self.ca)
            context.verify_mode = ssl.CERT_REQUIRED
        return context


def metrics_options(settings: Settings) -> tuple[MetricsTLS | None, BasicAuth | None]:
    """TLS and basic auth of /metrics from the settings, loaded once to fail early.

    Raises
    ------
    SettingsError
        Naming the setting, when a certificate, key, CA or the users file cannot be used.
    """
    tls = None
    if settings.metrics_tls_cert is not None and settings.metrics_tls_key is not None:
        tls = MetricsTLS(
            settings.metrics_tls_cert, settings.metrics_tls_key, settings.metrics_tls_ca
        )
        try:
            tls.context()
        except (OSError, ssl.SSLError) as exc:
            raise SettingsError(
                "metrics_tls_cert, metrics_tls_key, metrics_tls_ca: cannot be loaded: "
                f"{exc}"
            ) from None
    auth = None
    if settings.metrics_basic_auth_file is not None:
        auth = BasicAuth.from_file(settings.metrics_basic_auth_file)
    return tls, auth


class _QuietHandler(WSGIRequestHandler):
    """No access log line on stderr per scrape."""

    timeout = HANDSHAKE_TIMEOUT_S

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingWSGIServer):
    """The threading WSGI server; a TLS handshake is finished in the connection's thread."""

    def finish_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, ssl.SSLSocket):
            request.settimeout(HANDSHAKE_TIMEOUT_S)
            try:
                request.do_handshake()
            except (OSError, ssl.SSLError) as exc:
                logger.debug(
                    "metrics: TLS handshake with %s failed: %s", client_address, exc
                )
                return
        super().finish_request(request, client_address)


class MetricsServer:
    """The running endpoint (a daemon thread)."""

    def __init__(self, server: _Server, thread: threading.Thread, scheme: str) -> None:
        self._server = server
        self._thread = thread
        self.scheme = scheme

    @property
    def port(self) -> int:
        """The bound port (useful when started with port 0)."""
        return int(self._server.server_port)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_metrics_server(
    registry: CollectorRegistry,
    host: str,
    port: int,
    *,
    tls: MetricsTLS | None = None,
    basic_auth: BasicAuth | None = None,
) -> MetricsServer:
    """Serve ``registry`` as Prometheus text on ``http(s)://host:port/metrics``.

    Raises
    ------
    OSError
        When the address cannot be bound.
    ssl.SSLError
        When the certificate, key or CA cannot be loaded.
    """
    app = make_wsgi_app(registry)
    if basic_auth is not None:
        app = basic_auth.wrap(app)

    class Server(_Server):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    try:
        server = make_server(host, port, app, Server, handler_class=_QuietHandler)
    except OSError as exc:
        raise OSError(
            exc.errno, f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}"
        ) from None
    if tls is not None:
        try:
            context = tls.context()
        except BaseException:
            server.server_close()
            raise
        server.socket = context.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
    thread = threading.Thread(
        target=server.serve_forever, name="metrics-http", daemon=True
    )
    thread.start()
    metrics_server = MetricsServer(server, thread, "https" if tls else "http")
    logger.info(
        "metrics on %s://%s:%d/metrics%s",
        metrics_server.scheme,
        host,
        metrics_server.port,
        " (basic auth)" if basic_auth else "",
    )
    if basic_auth is not None and tls is None:
        logger.warning(
            "metrics basic auth without TLS: passwords cross the network in clear; "
            "set metrics_tls_cert and metrics_tls_key"
        )
    return metrics_server
