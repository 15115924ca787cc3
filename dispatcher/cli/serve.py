"""``dispatcher serve``: run the gRPC service (embedded valkey-server unless a Redis URL is set).

Start-up: settings → logging → embedded Redis (if no URL) → Redis client (bounded retries)
→ metrics endpoint → gRPC server → background tasks. Shutdown on SIGTERM/SIGINT: health goes
NOT_SERVING, new calls are refused, in-flight calls get ``grace_period_s`` to finish (a second
signal cuts that short), then background tasks stop, Redis closes and the embedded server
stops. Exit codes: 0 clean stop, 1 start-up failure, 2 invalid settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import secrets
import signal
import sys
from typing import TYPE_CHECKING, Any

from dispatcher.runtime.settings import (
    Settings,
    SettingsError,
    add_arguments,
    check_files,
    load_settings,
)

if TYPE_CHECKING:
    import argparse


logger = logging.getLogger("dispatcher.serve")


def register(subparsers: Any) -> None:
    """Add the ``serve`` subcommand (cheap: heavy imports happen in ``run``)."""
    parser = subparsers.add_parser(
        "serve",
        help="run the gRPC dispatch service",
        description=(
            "Run the gRPC dispatch service. Settings come from flags, then DISPATCH_* environment "
            "variables (and REDIS_URL), then the --config TOML file, then defaults. Without a Redis "
            "URL an embedded valkey-server is started with its data under --state-dir."
        ),
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``dispatcher serve``; returns the process exit code."""
    try:
        settings = load_settings(args)
        check_files(settings)
        if settings.redis_url is None:
            check_state_dir(settings)
        # LIVE-STATE: a bad credentials file is one readable line, not a traceback
        if settings.auth_config is not None:
            from dispatcher.api.auth import Authenticator

            Authenticator.from_file(settings.auth_config)
        from dispatcher.runtime.metrics_http import metrics_options

        metrics_options(settings)
    except SettingsError as exc:
        print(f"dispatcher serve: error: {exc}", file=sys.stderr)
        return 2

    from dispatcher.runtime.logging_setup import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    from dispatcher.api.server import ServerBindError
    from dispatcher.backend.embedded import EmbeddedRedisError
    from dispatcher.runtime.context import RedisUnavailableError

    try:
        return asyncio.run(serve(settings))
    except (EmbeddedRedisError, RedisUnavailableError, ServerBindError) as exc:
        logger.error("%s", exc)
        return 1
    except OSError as exc:  # e.g. the metrics port is in use
        logger.error("start-up failed: %s", exc)
        return 1


def check_state_dir(settings: Settings) -> None:
    """``SettingsError`` naming the setting when the embedded server's ``--state-dir``
    cannot be created or written (instead of an OS error naming a path inside it)."""
    path = settings.state_dir
    try:
        (path / "redis").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingsError(
            f"--state-dir (DISPATCH_STATE_DIR) {str(path)!r} is not usable: "
            f"{exc.strerror or exc}"
        ) from None
    if not os.access(path / "redis", os.W_OK | os.X_OK):
        raise SettingsError(
            f"--state-dir (DISPATCH_STATE_DIR) {str(path)!r} is not writable"
        )


async def serve(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT, then shut down gracefully; return 0."""
    from dispatcher.api.gateway import loopback_target, start_gateway
    from dispatcher.api.server import ServerBindError, create_server
    from dispatcher.backend.embedded import EmbeddedRedis
    from dispatcher.bootstrap import Services
    from dispatcher.runtime.context import AppContext, connect_redis
    from dispatcher.runtime.metrics import DispatchMetrics, new_registry
    from dispatcher.runtime.metrics_http import metrics_options, start_metrics_server
    from dispatcher.runtime.settings import redact_url

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    force = asyncio.Event()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            logger.warning(
                "second %s: stopping now without waiting for calls",
                signal.Signals(signum).name,
            )
            force.set()
        else:
            logger.info("%s received: shutting down", signal.Signals(signum).name)
            stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)

    logger.info("settings: %s", json.dumps(settings.describe(), default=str))
    async with contextlib.AsyncExitStack() as stack:
        embedded: EmbeddedRedis | None = None
        url = settings.redis_url
        if url is None:
            # A fresh random password per run: loopback is open to every local process.
            embedded = EmbeddedRedis(
                settings.state_dir / "redis",
                durability=settings.durability,
                password=secrets.token_urlsafe(24),
            )
            stack.callback(embedded.stop)
            await asyncio.to_thread(embedded.start)
            url = embedded.url
        elif settings.durability != Settings().durability:
            logger.warning(
                "--durability applies to the embedded server only; %s keeps its own",
                redact_url(url),
            )

        redis = await connect_redis(
            url,
            attempts=settings.redis_connect_attempts,
            timeout_s=settings.redis_timeout_s,
        )
        registry = new_registry()
        ctx = AppContext(
            settings=settings,
            redis=redis,
            metrics=DispatchMetrics(
                registry,
                max_regions=settings.metrics_max_regions,
                max_tenants=settings.metrics_max_tenants,
            ),
            registry=registry,
            embedded=embedded,
        )
        stack.push_async_callback(ctx.aclose)

        metrics_tls, metrics_auth = metrics_options(settings)
        metrics_server = start_metrics_server(
            registry,
            settings.metrics_host,
            settings.metrics_port,
            tls=metrics_tls,
            basic_auth=metrics_auth,
        )
        stack.callback(metrics_server.stop)

        services = Services.build(
            ctx,
            solver=settings.role in ("solver", "both"),
            webhooks=settings.webhook_delivery,
        )
        server, port = await create_server(ctx, services, settings.grpc_address)
        await server.start()
        # Everything allocated so far (modules, grpc, OR-Tools, numpy) lives as long as
        # the process: keep it out of the cyclic collector's full passes, which otherwise
        # scan it all and pause the event loop for tens of ms under load (measured: the
        # longest gen-2 pause of a loaded API process halved).
        gc.collect()
        gc.freeze()
        ctx.start_background()
        gateway = None
        if settings.http_gateway:
            try:
                gateway = await start_gateway(
                    host=settings.http_host,
                    port=settings.http_port,
                    grpc_target=loopback_target(settings.grpc_host, port),
                    shutdown=ctx.shutdown_event,
                    max_message_bytes=settings.max_message_bytes,
                    grace_s=settings.grace_period_s,
                )
            except OSError as exc:
                await server.stop(None)
                raise ServerBindError(
                    f"cannot bind HTTP gateway address {settings.http_host}:"
                    f"{settings.http_port}: {exc.strerror or exc}"
                ) from None
            logger.info(
                "REST/JSON gateway on http://%s:%d/v1 (OpenAPI: /v1/openapi.json)",
                settings.http_host,
                gateway.port,
            )
        logger.info(
            "dispatcher serving gRPC on %s:%d (services: %s), metrics on %s://%s:%d, Redis %s",
            settings.grpc_host,
            port,
            ", ".join(ctx.service_names) or "health only",
            metrics_server.scheme,
            settings.metrics_host,
            metrics_server.port,
            ("embedded " if embedded else "") + redact_url(url),
        )
        if settings.ready_file is not None:
            _write_ready_file(
                settings,
                port,
                metrics_server.port,
                url,
                embedded,
                http_port=gateway.port if gateway is not None else None,
            )
            stack.callback(settings.ready_file.unlink, missing_ok=True)

        try:
            await stop.wait()
        finally:
            # Health first, so Watch streams deliver NOT_SERVING before they are ended.
            if ctx.health is not None:
                await ctx.health.enter_graceful_shutdown()
            ctx.shutdown_event.set()
            logger.info(
                "draining in-flight calls for up to %.1fs", settings.grace_period_s
            )
            if gateway is not None:
                # first: its in-flight requests are gRPC calls to the server below
                await gateway.stop()
            await _stop_server(server, settings.grace_period_s, force)
            logger.info("gRPC server stopped")
    logger.info("shutdown complete")
    return 0


async def _stop_server(server: Any, grace_s: float, force: asyncio.Event) -> None:
    drain = asyncio.create_task(server.stop(grace_s))
    forced = asyncio.create_task(force.wait())
    done, _ = await asyncio.wait({drain, forced}, return_when=asyncio.FIRST_COMPLETED)
    forced.cancel()
    if drain not in done:
        await server.stop(0)
        await drain


def _write_ready_file(
    settings: Settings,
    grpc_port: int,
    metrics_port: int,
    url: str,
    embedded: Any,
    *,
    http_port: int | None,
) -> None:
    """Write the bound ports and PIDs as JSON, atomically (scripts and tests wait for it).

    The file is private (mode 0600): for the embedded server ``redis_url`` includes its
    per-run password so local tools can connect; an external URL's password is redacted.
    """
    from dispatcher.runtime.settings import redact_url

    assert settings.ready_file is not None
    info = {
        "pid": os.getpid(),
        "grpc_host": settings.grpc_host,
        "grpc_port": grpc_port,
        "metrics_host": settings.metrics_host,
        "metrics_port": metrics_port,
        "http_host": settings.http_host if http_port is not None else None,
        "http_port": http_port,
        "redis_url": url if embedded is not None else redact_url(url),
        "embedded_redis_pid": embedded.pid if embedded is not None else None,
        "state_dir": str(settings.state_dir.resolve()),
    }
    path = settings.ready_file
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps(info, indent=2) + "\n")
    tmp.replace(path)
