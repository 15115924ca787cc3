"""``dispatcher policy apply FILE`` / ``dispatcher policy show``: the policy of a running service.

``apply`` reads a policy file in the simulator's format (what ``dispatcher sim tune``
writes as ``best_policy.toml``) with ``solver.policy.load_policy_file``, converts it
with ``dispatcher.api.convert.policy_to_pb`` and stores it with ``PolicyService.UpdatePolicy``
(every section replaced; the file's name goes into the version's comment), then prints
the stored version. ``show`` prints the current policy (``GetPolicy``) as a policy file
that ``apply`` accepts back.

Exit codes: 0 done; 2 the file is unreadable or invalid (one line naming the field; nothing
is sent); 1 the server refused or could not be reached (one line with the gRPC status).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from solver.policy import Policy

DEFAULT_TARGET = "127.0.0.1:50051"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "policy",
        help="apply a policy file to a running service, or show its policy",
        description=(
            "Load a policy file (e.g. best_policy.toml from `dispatcher sim tune`) into a "
            "running service, or print the service's current policy."
        ),
    )
    actions = parser.add_subparsers(
        dest="policy_command", required=True, metavar="ACTION"
    )
    apply = actions.add_parser(
        "apply",
        help="store FILE as the new policy version (UpdatePolicy)",
        description=(
            "Validate FILE locally, then store it as the new policy version of the tenant "
            "(or of --region). Needs the admin role. Prints the stored version."
        ),
    )
    apply.add_argument("file", metavar="FILE", help="policy file (TOML)")
    apply.add_argument(
        "--expected-version",
        type=int,
        default=0,
        help="refuse (ABORTED) unless this is still the current version (default: no check)",
    )
    apply.add_argument(
        "--comment",
        default="",
        help="kept in the policy history (default: the file name)",
    )
    show = actions.add_parser(
        "show",
        help="print the current policy as a policy file (GetPolicy)",
        description="Print the current policy as TOML that `dispatcher policy apply` accepts.",
    )
    for p in (apply, show):
        p.add_argument(
            "--target",
            default=os.environ.get("DISPATCH_TARGET", DEFAULT_TARGET),
            metavar="HOST:PORT",
            help=f"the service's gRPC address (env DISPATCH_TARGET; default {DEFAULT_TARGET})",
        )
        cred = p.add_mutually_exclusive_group()
        cred.add_argument(
            "--api-key",
            default=os.environ.get("DISPATCH_API_KEY", ""),
            help="credential sent as x-api-key (env DISPATCH_API_KEY)",
        )
        cred.add_argument(
            "--tenant-token",
            default=os.environ.get("DISPATCH_TENANT_TOKEN", ""),
            help="credential sent as 'authorization: Bearer' (env DISPATCH_TENANT_TOKEN)",
        )
        p.add_argument(
            "--region",
            default="",
            help="a region's override instead of the tenant policy",
        )
        p.add_argument(
            "--timeout", type=float, default=10.0, help="seconds per call (default 10)"
        )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio

    return asyncio.run(run_async(args))


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    one_line = " ".join(str(message).split())
    print(
        f"dispatcher policy {args.policy_command}: error: {one_line}", file=sys.stderr
    )
    return code


def _metadata(args: argparse.Namespace) -> Sequence[tuple[str, str]]:
    if args.tenant_token:
        return (("authorization", f"Bearer {args.tenant_token}"),)
    if args.api_key:
        return (("x-api-key", args.api_key),)
    return ()


def _describe(msg: Any) -> str:
    scope = f"region {msg.region}" if msg.region else "tenant policy"
    by = f" by {msg.updated_by}" if msg.updated_by else ""
    return f"policy version {msg.version} ({scope}){by}"


def require_service_settings(policy: Policy) -> None:
    """Refuse the simulator-only solver knobs the live service has no setting for (it
    re-plans continuously, never in batch mode, over ``candidates_k`` candidate pairs with
    seed 0) rather than drop them silently."""
    from solver.policy import PolicyError

    if policy.solver.all_pairs:
        raise PolicyError(
            "solver.all_pairs",
            "the service has no all-pairs mode (it solves over candidates_k candidate "
            "pairs); set it to false or remove it",
        )
    if policy.solver.batch:
        raise PolicyError(
            "solver.batch",
            "the service re-plans continuously and has no batch (one-shot) mode; set it to "
            "false or remove it (batch planning is for solver.solve and the simulator's "
            "static snapshots)",
        )
    if policy.solver.seed != 0:
        raise PolicyError(
            "solver.seed",
            f"the service always solves with seed 0, got {policy.solver.seed}; set it to "
            "0 or remove it",
        )


async def run_async(args: argparse.Namespace) -> int:
    """``run`` for callers that already have an event loop (tests)."""
    import grpc
    import grpc.aio

    from dispatcher.api import convert
    from dispatcher.pb import dispatch_pb2 as pb
    from dispatcher.pb import dispatch_pb2_grpc as pb_grpc
    from solver.policy import (
        PolicyError,
        load_policy_file,
        policy_from_dict,
        policy_to_toml,
    )

    request: Any = None
    if args.policy_command == "apply":
        try:
            policy = load_policy_file(args.file)
            require_service_settings(policy)
        except OSError as exc:
            return _fail(args, f"cannot read {args.file}: {exc.strerror or exc}", 2)
        except PolicyError as exc:
            return _fail(args, f"{args.file}: {exc}", 2)
        except (ValueError, TypeError) as exc:  # solver.model's own validation
            return _fail(args, f"{args.file}: {exc}", 2)
        comment = (
            args.comment or f"dispatcher policy apply {os.path.basename(args.file)}"
        )
        request = pb.UpdatePolicyRequest(
            policy=convert.policy_to_pb(policy, region=args.region, comment=comment),
            expected_version=args.expected_version,
        )
    async with grpc.aio.insecure_channel(args.target) as channel:
        stub = pb_grpc.PolicyServiceStub(channel)
        try:
            if request is not None:
                stored = await stub.UpdatePolicy(
                    request, metadata=_metadata(args), timeout=args.timeout
                )
                print(f"applied {args.file}: {_describe(stored)}")
                return 0
            current = await stub.GetPolicy(
                pb.GetPolicyRequest(region=args.region),
                metadata=_metadata(args),
                timeout=args.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            return _fail(
                args,
                f"{args.target} answered {exc.code().name}: {exc.details() or ''}",
                1,
            )
    shown = policy_from_dict(convert.policy_dict_from_pb(current))
    print(f"# {_describe(current)}")
    if current.comment:
        print(f"# comment: {' '.join(current.comment.split())}")
    sys.stdout.write(policy_to_toml(shown))
    return 0
