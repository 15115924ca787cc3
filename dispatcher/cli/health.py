"""``dispatcher health``: one ``grpc.health.v1.Health/Check`` call, for probes and containers.

Exit codes: 0 the service answers SERVING; 1 anything else (NOT_SERVING, an unknown service
name, unreachable, a timeout), with one line on stderr saying which. The same check as
``grpc_health_probe``, with nothing to install beyond this package (container HEALTHCHECK,
systemd ``ExecStartPost``, scripts).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

    import grpc

DEFAULT_TARGET = "127.0.0.1:50051"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "health",
        help="check a running service's gRPC health (exit 0 when SERVING)",
        description=(
            "Call grpc.health.v1.Health/Check once; exit 0 when the answer is SERVING, "
            "1 otherwise."
        ),
    )
    parser.add_argument(
        "--target",
        default=os.environ.get("DISPATCH_TARGET", DEFAULT_TARGET),
        metavar="HOST:PORT",
        help=f"the service's gRPC address (env DISPATCH_TARGET; default {DEFAULT_TARGET})",
    )
    parser.add_argument(
        "--service",
        default="",
        help="health service name ('' = the whole server, the default)",
    )
    parser.add_argument(
        "--timeout", type=float, default=3.0, help="seconds for the call (default 3)"
    )
    parser.add_argument(
        "--tls-ca", type=Path, metavar="FILE", help="PEM CA bundle: connect with TLS"
    )
    parser.add_argument(
        "--tls-cert", type=Path, metavar="FILE", help="PEM client certificate (mTLS)"
    )
    parser.add_argument(
        "--tls-key", type=Path, metavar="FILE", help="PEM key of --tls-cert"
    )
    parser.add_argument(
        "--tls-server-name",
        default="",
        help="name to verify the server certificate against (default: the target host)",
    )
    parser.set_defaults(func=run)


def _channel(args: argparse.Namespace) -> grpc.Channel:
    import grpc

    if args.tls_ca is None:
        return grpc.insecure_channel(args.target)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=args.tls_ca.read_bytes(),
        private_key=args.tls_key.read_bytes() if args.tls_key else None,
        certificate_chain=args.tls_cert.read_bytes() if args.tls_cert else None,
    )
    options = (
        [("grpc.ssl_target_name_override", args.tls_server_name)]
        if args.tls_server_name
        else []
    )
    return grpc.secure_channel(args.target, credentials, options=options)


def run(args: argparse.Namespace) -> int:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    try:
        with _channel(args) as channel:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=args.service),
                timeout=args.timeout,
            )
    except OSError as exc:
        print(f"dispatcher health: error: {exc}", file=sys.stderr)
        return 1
    except grpc.RpcError as exc:  # a sync call's error is also its grpc.Call
        print(
            f"dispatcher health: {args.target} {exc.code().name}: {exc.details()}",
            file=sys.stderr,
        )
        return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    if response.status != health_pb2.HealthCheckResponse.SERVING:
        print(f"dispatcher health: {args.target} {status}", file=sys.stderr)
        return 1
    print(f"{args.target} {status}")
    return 0
