"""Infrastructure settings: a frozen dataclass built from flags, environment and a TOML file.

Precedence, lowest to highest: defaults < TOML file (``--config`` / ``DISPATCH_CONFIG``)
< environment (``DISPATCH_<NAME>``, plus ``REDIS_URL``) < command-line flags.
Every invalid value raises :class:`SettingsError` whose message is one readable line naming
where the value came from (``--grpc-port: 99999 is not a port (0..65535)``).

To add a setting, add a field ``name: T = field(default=..., metadata=_meta(parse, help))``:
the flag (``--name-with-dashes``), the env var (``DISPATCH_NAME``), the TOML key (the field
name) and the README table all derive from it. Also add it to the example
``deploy/config/dispatch.toml`` (tests/deploy/test_config.py fails naming the missing key).
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

ENV_PREFIX = "DISPATCH_"
CONFIG_ENV = "DISPATCH_CONFIG"
DURABILITY_MODES = ("always", "everysec", "no")
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
ROLES = ("api", "solver", "both")
DEFAULT_LEASE_TTL_MS = 3_000
"""Region lease TTL. Short enough that a solver's death costs no assignment-latency
budget: its regions are taken over within ``loop.leases.takeover_bound_s`` (4/3 TTL = 4 s
plus a few round trips) and solved at once, inside the 5 s of the assignment SLO
(ops/RUNBOOK.md, "SLOs"). Renewed every TTL/3."""


class SettingsError(ValueError):
    """An invalid setting; ``str(error)`` is a single line fit for a terminal."""


# -- value parsers: accept a string (flag/env) or a native TOML value --------------------


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value.strip()


def _int_in(lo: int, hi: int, what: str) -> Callable[[object], int]:
    def parse(value: object) -> int:
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not {what}")
        try:
            number = int(value) if isinstance(value, int) else int(_text(value), 10)
        except ValueError:
            raise ValueError(f"{value!r} is not {what}") from None
        if not lo <= number <= hi:
            raise ValueError(f"{number} is not {what} ({lo}..{hi})")
        return number

    return parse


def _positive_float(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a positive number of seconds")
    try:
        number = float(value) if isinstance(value, int | float) else float(_text(value))
    except ValueError:
        raise ValueError(f"{value!r} is not a number of seconds") from None
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{value!r} is not a positive number of seconds")
    return number


def _seconds_or_off(value: object) -> float:
    """A number of seconds >= 0 (0 = off)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number of seconds")
    try:
        number = float(value) if isinstance(value, int | float) else float(_text(value))
    except ValueError:
        raise ValueError(f"{value!r} is not a number of seconds") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{value!r} is not a number of seconds >= 0")
    return number


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = _text(value).lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not true or false")


def _choice(
    options: tuple[str, ...], *, upper: bool = False
) -> Callable[[object], str]:
    def parse(value: object) -> str:
        text = _text(value)
        text = text.upper() if upper else text.lower()
        if text not in options:
            raise ValueError(f"{value!r} is not one of {', '.join(options)}")
        return text

    return parse


def _host(value: object) -> str:
    text = _text(value)
    if not text or any(c.isspace() for c in text):
        raise ValueError(f"{value!r} is not a host name or address")
    return text


def _redis_url(value: object) -> str | None:
    text = _text(value)
    if not text:
        return None
    from dispatcher.backend.cluster import is_cluster_url, parse_cluster_url

    if is_cluster_url(text):  # redis+cluster://h:p,h:p (Redis Cluster seed nodes; OPS)
        try:
            parse_cluster_url(text)
        except ValueError as exc:
            raise ValueError(_redact(str(exc))) from None
        return text
    parts = urlsplit(text)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ValueError(
            f"{_redact(text)!r} is not a redis://, rediss://, unix:// or "
            "redis+cluster://host:port[,host:port...] URL"
        )
    if parts.scheme != "unix" and not parts.hostname:
        raise ValueError(f"{_redact(text)!r} has no host")
    try:
        _ = parts.port
    except ValueError:
        raise ValueError(f"{_redact(text)!r} has an invalid port") from None
    return text


def _path(value: object) -> Path:
    text = _text(value)
    if not text:
        raise ValueError("empty path")
    return Path(text).expanduser()


def _optional_path(value: object) -> Path | None:
    return None if not _text(value) else _path(value)


def _redact(url: str) -> str:
    """Hide the password of a URL (for logs and error messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{netloc}").geturl()


def redact_url(url: str | None) -> str:
    """``url`` with any password replaced by ``***``; ``"embedded"`` for None."""
    return "embedded" if url is None else _redact(url)


def _meta(
    parse: Callable[[object], Any],
    help: str,
    *,
    env: str | None = None,
    metavar: str | None = None,
) -> dict[str, Any]:
    """Field metadata carrying what flags, env and TOML loading need."""
    return {"parse": parse, "help": help, "env": env, "metavar": metavar}


@dataclass(frozen=True, slots=True)
class Settings:
    """Infrastructure settings of ``dispatcher serve`` (solver knobs live in ``*Params``)."""

    grpc_host: str = field(
        default="127.0.0.1",
        metadata=_meta(
            _host,
            "address the gRPC server binds (0.0.0.0 or :: for all)",
            metavar="HOST",
        ),
    )
    grpc_port: int = field(
        default=50051,
        metadata=_meta(
            _int_in(0, 65535, "a port"), "gRPC port; 0 picks a free one", metavar="PORT"
        ),
    )
    metrics_host: str = field(
        default="127.0.0.1",
        metadata=_meta(
            _host, "address of the Prometheus /metrics endpoint", metavar="HOST"
        ),
    )
    metrics_port: int = field(
        default=9464,
        metadata=_meta(
            _int_in(0, 65535, "a port"),
            "Prometheus /metrics port; 0 picks a free one",
            metavar="PORT",
        ),
    )
    http_gateway: bool = field(
        default=False,
        metadata=_meta(
            _flag,
            "serve the REST/JSON gateway (routes from dispatch.proto, Server-Sent Events, "
            "/v1/openapi.json) beside gRPC; off by default",
            metavar="BOOL",
        ),
    )
    http_host: str = field(
        default="127.0.0.1",
        metadata=_meta(_host, "address the REST/JSON gateway binds", metavar="HOST"),
    )
    http_port: int = field(
        default=8080,
        metadata=_meta(
            _int_in(0, 65535, "a port"),
            "REST/JSON gateway port; 0 picks a free one",
            metavar="PORT",
        ),
    )
    redis_url: str | None = field(
        default=None,
        metadata=_meta(
            _redis_url,
            "Redis URL (redis://[:password@]host:port/db, rediss:// for TLS, redis+cluster://host:port,host:port for a Redis Cluster); unset = start the embedded valkey-server",
            env="REDIS_URL",
            metavar="URL",
        ),
    )
    state_dir: Path = field(
        default=Path("state"),
        metadata=_meta(
            _path,
            "directory of the embedded server's data (AOF) and logs",
            metavar="DIR",
        ),
    )
    durability: str = field(
        default="always",
        metadata=_meta(
            _choice(DURABILITY_MODES),
            "embedded server's AOF fsync mode: always | everysec | no (see README: loss window)",
            metavar="MODE",
        ),
    )
    grace_period_s: float = field(
        default=10.0,
        metadata=_meta(
            _positive_float,
            "seconds to drain in-flight RPCs on SIGTERM/SIGINT",
            metavar="SECONDS",
        ),
    )
    health_interval_s: float = field(
        default=1.0,
        metadata=_meta(
            _positive_float, "seconds between Redis health pings", metavar="SECONDS"
        ),
    )
    redis_timeout_s: float = field(
        default=5.0,
        metadata=_meta(
            _positive_float, "Redis connect and command timeout", metavar="SECONDS"
        ),
    )
    redis_connect_attempts: int = field(
        default=5,
        metadata=_meta(
            _int_in(1, 1000, "a number of attempts"),
            "connection attempts to Redis at start-up before giving up",
            metavar="N",
        ),
    )
    redis_wait_replicas: int = field(
        default=0,
        metadata=_meta(
            _int_in(0, 16, "a number of replicas"),
            "replicas that must hold each acknowledged write (WAIT after every write script; a timeout answers UNAVAILABLE); 0 = no wait (see README: Durability)",
            metavar="N",
        ),
    )
    redis_wait_timeout_ms: int = field(
        default=1000,
        metadata=_meta(
            _int_in(1, 600_000, "a WAIT timeout in milliseconds"),
            "longest wait for --redis-wait-replicas replicas before a write is answered UNAVAILABLE",
            metavar="MS",
        ),
    )
    max_message_bytes: int = field(
        default=8 * 1024 * 1024,
        metadata=_meta(
            _int_in(1024, 1 << 30, "a message size in bytes"),
            "largest gRPC message accepted or sent",
            metavar="BYTES",
        ),
    )
    log_level: str = field(
        default="INFO",
        metadata=_meta(
            _choice(LOG_LEVELS, upper=True),
            "DEBUG | INFO | WARNING | ERROR",
            metavar="LEVEL",
        ),
    )
    log_format: str = field(
        default="text",
        metadata=_meta(
            _choice(LOG_FORMATS),
            "text | json (one JSON object per line)",
            metavar="FORMAT",
        ),
    )
    auth_config: Path | None = field(
        default=None,
        metadata=_meta(
            _optional_path, "API keys / tokens → tenant and role (TOML)", metavar="FILE"
        ),
    )
    tls_cert: Path | None = field(
        default=None,
        metadata=_meta(
            _optional_path,
            "PEM server certificate; enables TLS (with --tls-key)",
            metavar="FILE",
        ),
    )
    tls_key: Path | None = field(
        default=None,
        metadata=_meta(_optional_path, "PEM private key of --tls-cert", metavar="FILE"),
    )
    tls_ca: Path | None = field(
        default=None,
        metadata=_meta(
            _optional_path,
            "PEM CA bundle; when set, clients must present a certificate (mTLS)",
            metavar="FILE",
        ),
    )
    ready_file: Path | None = field(
        default=None,
        metadata=_meta(
            _optional_path,
            "write a JSON file with the bound ports and PIDs once serving",
            metavar="FILE",
        ),
    )
    role: str = field(
        default="both",
        metadata=_meta(
            _choice(ROLES),
            "api: serve RPCs only | solver: also run the solve loop under region leases | both (default)",
            metavar="ROLE",
        ),
    )
    lease_ttl_ms: int = field(
        default=DEFAULT_LEASE_TTL_MS,
        metadata=_meta(
            _int_in(200, 600_000, "a lease TTL in milliseconds"),
            "region lease TTL of the solve loop: a dead solver's regions move to another "
            "process within 4/3 of this (plus a few Redis round trips) after its last "
            "renewal, and are solved at once",
            metavar="MS",
        ),
    )
    solver_workers: int = field(
        default=0,
        metadata=_meta(
            _int_in(0, 256, "a number of worker processes"),
            "solver worker processes (0 = min(2, CPUs))",
            metavar="N",
        ),
    )
    events_maxlen: int = field(
        default=100_000,
        metadata=_meta(
            _int_in(10, 100_000_000, "a number of events"),
            "events kept per region stream; resuming from an older event id is OUT_OF_RANGE",
            metavar="N",
        ),
    )
    region_model_resync_s: float = field(
        default=60.0,
        metadata=_meta(
            _seconds_or_off,
            "the solve loop keeps each held region in memory, reading only what its event "
            "stream says changed, and reads the region in full on taking its lease, on a "
            "gap in the stream and at least this often; 0 reads a full snapshot every cycle",
            metavar="SECONDS",
        ),
    )
    solve_min_interval_s: float = field(
        default=0.0,
        metadata=_meta(
            _seconds_or_off,
            "a held region starts a solve cycle at most this often, and the changes that "
            "arrive while it waits are solved together (fewer, larger solves: less CPU per "
            "ticket, up to this much more latency); 0, the default, solves as soon as a "
            "change arrives (after the policy's debounce)",
            metavar="SECONDS",
        ),
    )
    solve_cold_every: int = field(
        default=20,
        metadata=_meta(
            _int_in(1, 1_000_000, "a number of cycles"),
            "a held region's solve re-plans only its new and changed tickets, keeping the "
            "rest of the last plan (status FEASIBLE), and re-plans the whole region "
            "(certified, cold) on taking the lease, after a resync, a policy or technician "
            "change, and at least every this many cycles; 1 solves cold every cycle",
            metavar="N",
        ),
    )
    solve_incremental_max_changes: int = field(
        default=200,
        metadata=_meta(
            _int_in(0, 1_000_000, "a number of tickets"),
            "a cycle with more new or changed tickets than this re-plans the whole region "
            "(cold) instead of keeping the rest of the last plan",
            metavar="N",
        ),
    )
    closed_ticket_retention_days: int = field(
        default=30,
        metadata=_meta(
            _int_in(0, 36_500, "a number of days"),
            "days a RESOLVED or CANCELLED ticket stays readable before the solve loop "
            "deletes it (its events stay in the stream); 0 keeps closed tickets forever",
            metavar="DAYS",
        ),
    )
    max_in_flight: int = field(
        default=512,
        metadata=_meta(
            _int_in(1, 1_000_000, "a number of calls"),
            "unary calls handled at once; more are answered RESOURCE_EXHAUSTED",
            metavar="N",
        ),
    )
    default_deadline_s: float = field(
        default=8.0,
        metadata=_meta(
            _positive_float,
            "deadline of a unary call whose client set none (then DEADLINE_EXCEEDED); "
            "above redis_timeout_s so one Redis timeout is answered UNAVAILABLE first",
            metavar="SECONDS",
        ),
    )
    metrics_max_regions: int = field(
        default=200,
        metadata=_meta(
            _int_in(1, 100_000, "a number of regions"),
            "distinct region label values in metrics; later regions are labelled 'other'",
            metavar="N",
        ),
    )
    metrics_max_tenants: int = field(
        default=100,
        metadata=_meta(
            _int_in(1, 100_000, "a number of tenants"),
            "distinct tenant label values in metrics; later tenants are labelled 'other'",
            metavar="N",
        ),
    )
    metrics_tls_cert: Path | None = field(
        default=None,
        metadata=_meta(
            _optional_path,
            "PEM server certificate of /metrics; serves HTTPS (with --metrics-tls-key)",
            metavar="FILE",
        ),
    )
    metrics_tls_key: Path | None = field(
        default=None,
        metadata=_meta(
            _optional_path, "PEM private key of --metrics-tls-cert", metavar="FILE"
        ),
    )
    metrics_tls_ca: Path | None = field(
        default=None,
        metadata=_meta(
            _optional_path,
            "PEM CA bundle; when set, scrapers must present a certificate it signed (mTLS)",
            metavar="FILE",
        ),
    )
    metrics_basic_auth_file: Path | None = field(
        default=None,
        metadata=_meta(
            _optional_path,
            "users allowed to scrape /metrics, one 'user:sha256:<hex of the password>' "
            "(or 'user:password') per line; unset = no authentication",
            metavar="FILE",
        ),
    )
    webhook_delivery: bool = field(
        default=True,
        metadata=_meta(
            _flag,
            "deliver outbound webhooks from this process (any number of processes may; "
            "each (stream, subscription) is delivered by one at a time)",
            metavar="BOOL",
        ),
    )
    webhook_timeout_s: float = field(
        default=10.0,
        metadata=_meta(
            _positive_float,
            "longest wait for a webhook receiver's answer, per attempt",
            metavar="SECONDS",
        ),
    )
    webhook_retry_max_s: float = field(
        default=300.0,
        metadata=_meta(
            _positive_float,
            "longest pause between two attempts of a webhook (exponential backoff from "
            "0.25 s, with jitter)",
            metavar="SECONDS",
        ),
    )
    webhook_dead_letter_after_s: float = field(
        default=86_400.0,
        metadata=_meta(
            _positive_float,
            "a webhook still failing this long after its first attempt is dead-lettered "
            "(ReplayWebhookDeadLetters sends it again)",
            metavar="SECONDS",
        ),
    )
    webhook_lease_ttl_ms: int = field(
        default=5000,
        metadata=_meta(
            _int_in(200, 600_000, "a lease TTL in milliseconds"),
            "webhook delivery lease TTL: a dead process's deliveries move to another "
            "(which sends its unacknowledged ones again) after at most this",
            metavar="MS",
        ),
    )
    webhook_allow_loopback: bool = field(
        default=False,
        metadata=_meta(
            _flag,
            "allow webhook receivers on loopback addresses, over http:// too (local "
            "receivers, tests)",
            metavar="BOOL",
        ),
    )
    webhook_allow_private: bool = field(
        default=False,
        metadata=_meta(
            _flag,
            "allow webhook receivers on private networks (10/8, 172.16/12, 192.168/16, "
            "100.64/10, fc00::/7); link-local and metadata addresses stay refused",
            metavar="BOOL",
        ),
    )
    config_file: Path | None = field(default=None, metadata={"internal": True})

    def __post_init__(self) -> None:
        if (
            self.redis_wait_replicas > 0
            and self.redis_wait_timeout_ms >= self.redis_timeout_s * 1000
        ):
            raise SettingsError(
                f"redis_wait_timeout_ms ({self.redis_wait_timeout_ms}) must be shorter than "
                f"redis_timeout_s ({self.redis_timeout_s:g} s), or the socket times out first"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise SettingsError("tls_cert and tls_key must be given together")
        if self.http_gateway and self.tls_cert is not None:
            raise SettingsError(
                "http_gateway proxies over a plaintext loopback gRPC channel: not "
                "available with tls_cert (terminate TLS in front of the gateway instead)"
            )
        if self.tls_ca is not None and self.tls_cert is None:
            raise SettingsError(
                "tls_ca (client certificates) needs tls_cert and tls_key"
            )
        if (self.metrics_tls_cert is None) != (self.metrics_tls_key is None):
            raise SettingsError(
                "metrics_tls_cert and metrics_tls_key must be given together"
            )
        if self.metrics_tls_ca is not None and self.metrics_tls_cert is None:
            raise SettingsError(
                "metrics_tls_ca (client certificates) needs metrics_tls_cert and "
                "metrics_tls_key"
            )

    @property
    def grpc_address(self) -> str:
        """``host:port`` for ``grpc.aio.Server.add_*_port`` (IPv6 hosts bracketed)."""
        return _join_host_port(self.grpc_host, self.grpc_port)

    @property
    def embedded(self) -> bool:
        """True when no Redis URL is configured and the embedded server is used."""
        return self.redis_url is None

    def describe(self) -> dict[str, object]:
        """The settings as a log-safe dict (password redacted)."""
        out: dict[str, object] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "redis_url":
                value = redact_url(value)
            out[f.name] = str(value) if isinstance(value, Path) else value
        return out


def _join_host_port(host: str, port: int) -> str:
    return (
        f"[{host}]:{port}"
        if ":" in host and not host.startswith("[")
        else f"{host}:{port}"
    )


def setting_fields() -> list[dataclasses.Field[Any]]:
    """The user-facing fields of :class:`Settings` (for flags, docs and tests)."""
    return [f for f in dataclasses.fields(Settings) if not f.metadata.get("internal")]


def flag_name(name: str) -> str:
    """``grpc_port`` → ``--grpc-port``."""
    return "--" + name.replace("_", "-")


def env_name(f: dataclasses.Field[Any]) -> str:
    """Environment variable of a setting (``DISPATCH_<NAME>`` unless overridden)."""
    return str(f.metadata.get("env") or ENV_PREFIX + f.name.upper())


def _env_help(f: dataclasses.Field[Any]) -> str:
    # redis_url also reads DISPATCH_REDIS_URL, which wins over REDIS_URL (load_settings)
    if f.name == "redis_url":
        return f"{ENV_PREFIX}REDIS_URL or {env_name(f)}"
    return env_name(f)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--config`` and one flag per setting; values stay strings until :func:`load_settings`."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help=f"TOML file of settings (env {CONFIG_ENV})",
    )
    for f in setting_fields():
        default = f.default
        shown = "unset" if default is None else default
        parser.add_argument(
            flag_name(f.name),
            dest=f.name,
            default=None,
            metavar=f.metadata.get("metavar"),
            help=f"{f.metadata['help']} (env {_env_help(f)}; default {shown})".replace(
                "%", "%%"
            ),
        )


def load_settings(
    flags: Mapping[str, object] | argparse.Namespace | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Build :class:`Settings` from flags (``None`` values ignored), ``env`` and the TOML file.

    Raises
    ------
    SettingsError
        With a one-line message naming the flag, variable or file key at fault.
    """
    env = os.environ if env is None else env
    raw_flags: Mapping[str, object] = (
        {} if flags is None else flags if isinstance(flags, Mapping) else vars(flags)
    )
    given = {k: v for k, v in raw_flags.items() if v is not None}
    fields = {f.name: f for f in setting_fields()}
    values: dict[str, object] = {}

    config_value = given.get("config") or env.get(CONFIG_ENV) or None
    config_path = Path(str(config_value)).expanduser() if config_value else None
    if config_path is not None:
        for key, raw in _read_toml(config_path).items():
            if key not in fields:
                raise SettingsError(
                    f"{config_path}: unknown key {key!r} (known: {', '.join(fields)})"
                )
            values[key] = _parse(fields[key], raw, f"{config_path}: {key}")

    for name, f in fields.items():
        names = [env_name(f)]
        if name == "redis_url":
            names.insert(
                0, "DISPATCH_REDIS_URL"
            )  # the namespaced name wins over REDIS_URL
        for var in names:
            if var in env and env[var].strip() != "":
                values[name] = _parse(f, env[var], var)
                break

    for name, raw in given.items():
        if name in fields:
            values[name] = _parse(fields[name], raw, flag_name(name))

    try:
        return Settings(config_file=config_path, **values)  # type: ignore[arg-type]
    except SettingsError:
        raise
    except (
        TypeError,
        ValueError,
    ) as exc:  # pragma: no cover - parsers produce the right types
        raise SettingsError(str(exc)) from None


def _parse(f: dataclasses.Field[Any], raw: object, source: str) -> object:
    try:
        return f.metadata["parse"](raw)
    except ValueError as exc:
        raise SettingsError(f"{source}: {exc}") from None


def _read_toml(path: Path) -> dict[str, object]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SettingsError(
            f"cannot read config file {path}: {exc.strerror or exc}"
        ) from None
    try:
        parsed = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise SettingsError(f"config file {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    nested = [key for key, value in parsed.items() if isinstance(value, dict)]
    if nested:
        raise SettingsError(
            f"{path}: unexpected table [{nested[0]}]; settings are top-level keys"
        )
    return parsed


def check_files(settings: Settings) -> None:
    """Check that every file a setting names is readable (one-line :class:`SettingsError` if not)."""
    for name in (
        "auth_config",
        "tls_cert",
        "tls_key",
        "tls_ca",
        "metrics_tls_cert",
        "metrics_tls_key",
        "metrics_tls_ca",
        "metrics_basic_auth_file",
    ):
        path: Path | None = getattr(settings, name)
        if path is None:
            continue
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            raise SettingsError(
                f"{flag_name(name)}: cannot read {path}: {exc.strerror or exc}"
            ) from None
