"""Regression tests for the QA review's findings (request-id reuse, Redis metrics, errors)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import TYPE_CHECKING

import grpc
import pytest
import redis.asyncio
import redis.exceptions

from dispatcher.cli.serve import check_state_dir
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.runtime.metrics import DispatchMetrics, new_registry
from dispatcher.runtime.settings import SettingsError, add_arguments, load_settings
from dispatcher.store.state import RedisStateStore
from tests.service.conftest import Stubs, ticket

if TYPE_CHECKING:
    from pathlib import Path

    from dispatcher.runtime.context import AppContext

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def _error(coro: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await coro  # type: ignore[misc]
    return err.value


async def test_reused_request_id_with_other_ticket_is_refused(stubs: Stubs) -> None:
    """Same request_id, different ticket: ALREADY_EXISTS naming request_id, nothing written;
    the same request again still replays the original."""
    await stubs.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=ticket("T1"), request_id="r1")
    )
    err = await _error(
        stubs.tickets.SubmitTicket(
            pb.SubmitTicketRequest(ticket=ticket("T1x"), request_id="r1")
        )
    )
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "request_id" in (err.details() or "")
    # the same ticket id with a changed payload is a different request too
    err = await _error(
        stubs.tickets.SubmitTicket(
            pb.SubmitTicketRequest(ticket=ticket("T1", priority=1), request_id="r1")
        )
    )
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert (
        await _error(stubs.tickets.GetTicket(pb.GetTicketRequest(ticket_id="T1x")))
    ).code() == grpc.StatusCode.NOT_FOUND
    again = await stubs.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=ticket("T1"), request_id="r1")
    )
    assert again.replayed
    assert again.ticket.ticket_id == "T1"
    assert again.ticket.priority == 3


async def test_batch_reused_request_id_with_other_ticket_fails_per_item(
    stubs: Stubs,
) -> None:
    first = [
        pb.SubmitTicketRequest(ticket=ticket(f"B{i}"), request_id=f"q{i}")
        for i in range(3)
    ]
    await stubs.tickets.BatchSubmitTickets(pb.BatchSubmitTicketsRequest(requests=first))
    second = [
        first[0],
        pb.SubmitTicketRequest(ticket=ticket("B1x"), request_id="q1"),
        pb.SubmitTicketRequest(ticket=ticket("B9"), request_id="q9"),
    ]
    resp = await stubs.tickets.BatchSubmitTickets(
        pb.BatchSubmitTicketsRequest(requests=second)
    )
    r0, r1, r2 = resp.results
    assert r0.code == 0
    assert r0.replayed
    assert r0.ticket_id == "B0"
    assert r1.code == grpc.StatusCode.ALREADY_EXISTS.value[0]
    assert "request_id" in r1.message
    assert not r1.replayed
    assert r2.code == 0
    assert not r2.replayed
    assert (
        await _error(stubs.tickets.GetTicket(pb.GetTicketRequest(ticket_id="B1x")))
    ).code() == grpc.StatusCode.NOT_FOUND


async def test_redis_command_latency_and_errors_are_recorded(
    stubs: Stubs, app_context: AppContext
) -> None:
    """Script calls and direct commands observe dispatch_redis_command_duration_seconds;
    a failing Redis round trip counts in dispatch_redis_errors_total."""
    reg = app_context.registry
    await stubs.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=ticket("M1"), request_id="m1")
    )
    await stubs.tickets.GetTicket(pb.GetTicketRequest(ticket_id="M1"))
    submits = reg.get_sample_value(
        "dispatch_redis_command_duration_seconds_count", {"command": "submit"}
    )
    assert submits is not None
    assert submits >= 1
    commands = {
        s.labels["command"]
        for m in reg.collect()
        if m.name == "dispatch_redis_command_duration_seconds"
        for s in m.samples
        if s.name.endswith("_count") and s.value > 0
    }
    assert len(commands) >= 2  # the script and at least one direct command (a read)

    fresh = new_registry(process_metrics=False)
    metrics = DispatchMetrics(fresh)
    dead = redis.asyncio.Redis.from_url("redis://127.0.0.1:1", socket_connect_timeout=1)
    try:
        store = RedisStateStore(dead, metrics=metrics)
        with pytest.raises(redis.exceptions.ConnectionError):
            await store.tenants()
    finally:
        await dead.aclose()
    assert fresh.get_sample_value("dispatch_redis_errors_total") == 1
    assert (
        fresh.get_sample_value(
            "dispatch_redis_command_duration_seconds_count", {"command": "smembers"}
        )
        == 1
    )


def test_serve_unreachable_cluster_is_one_line_exit_1(tmp_path: Path) -> None:
    """An unreachable redis+cluster:// seed: a readable error line, no traceback, exit 1."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dispatcher",
            "serve",
            "--redis-url",
            "redis+cluster://127.0.0.1:1",
            "--redis-connect-attempts",
            "1",
            "--grpc-port",
            "0",
            "--metrics-port",
            "0",
            "--state-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    assert "cannot reach Redis at redis+cluster://127.0.0.1:1" in out


async def test_missing_ticket_and_empty_mask_errors_name_the_real_field(
    stubs: Stubs,
) -> None:
    err = await _error(
        stubs.tickets.SubmitTicket(pb.SubmitTicketRequest(request_id="x"))
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (err.details() or "").startswith("ticket: is required")
    err = await _error(
        stubs.tickets.BatchSubmitTickets(
            pb.BatchSubmitTicketsRequest(
                requests=[
                    pb.SubmitTicketRequest(ticket=ticket("A")),
                    pb.SubmitTicketRequest(),
                ]
            )
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (err.details() or "").startswith("requests[1].ticket: is required")
    await stubs.tickets.SubmitTicket(pb.SubmitTicketRequest(ticket=ticket("U1")))
    err = await _error(
        stubs.tickets.UpdateTicket(
            pb.UpdateTicketRequest(ticket=pb.Ticket(ticket_id="U1", title="new"))
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (err.details() or "").startswith("update_mask: is empty")
    got = await stubs.tickets.GetTicket(pb.GetTicketRequest(ticket_id="U1"))
    assert got.title == ""


def test_settings_errors_and_help_name_the_setting(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"redis\+cluster://"):
        load_settings({"redis_url": "http://x"}, env={})
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    help_text = " ".join(parser.format_help().split())
    assert "DISPATCH_REDIS_URL or REDIS_URL" in help_text
    blocker = tmp_path / "file"
    blocker.write_text("")
    settings = load_settings({"state_dir": str(blocker / "sub")}, env={})
    with pytest.raises(SettingsError, match=r"--state-dir \(DISPATCH_STATE_DIR\)"):
        check_state_dir(settings)


def test_region_label_values_are_capped() -> None:
    """Beyond max_regions distinct regions, the region label value is 'other'."""
    reg = new_registry(process_metrics=False)
    m = DispatchMetrics(reg, max_regions=2)
    for region in ("a", "b", "c", "d", "a"):
        m.solves_total.labels(region=region, status="optimal").inc()
        m.assignments_total.labels(region).inc()  # positional works too
    value = reg.get_sample_value
    assert value("dispatch_solves_total", {"region": "a", "status": "optimal"}) == 2
    assert value("dispatch_solves_total", {"region": "b", "status": "optimal"}) == 1
    assert value("dispatch_solves_total", {"region": "other", "status": "optimal"}) == 2
    assert value("dispatch_assignments_total", {"region": "c"}) is None
    assert value("dispatch_assignments_total", {"region": "other"}) == 2
    assert load_settings({}, env={}).metrics_max_regions == 200


async def test_queue_metrics_over_grpc_cap_regions(
    stubs: Stubs, app_context: AppContext
) -> None:
    app_context.metrics.region_cap.limit = 1
    for i, region in enumerate(("r1", "r2", "r3")):
        await stubs.tickets.SubmitTicket(
            pb.SubmitTicketRequest(ticket=ticket(f"Q{i}", region=region))
        )
    await stubs.insight.GetQueueStats(pb.GetQueueStatsRequest())
    labels = {
        s.labels["region"]
        for m in app_context.registry.collect()
        if m.name == "dispatch_queue_at_risk"
        for s in m.samples
    }
    # one region keeps its name (whichever was seen first), the rest share "other"
    assert len(labels) == 2
    assert "other" in labels


def test_proto_declares_package_options_for_other_languages() -> None:
    """go/java/csharp/php/ruby/objc generators get a package of their own (not protoc's
    defaults from the proto package); the generated Python carries them."""
    opts = pb.DESCRIPTOR.GetOptions()
    assert opts.go_package.endswith("/dispatch/v1;dispatchv1")
    assert opts.java_package == "com.dispatch.v1"
    assert opts.java_multiple_files
    assert opts.java_outer_classname == "DispatchProto"
    assert opts.csharp_namespace == "Dispatch.V1"
    assert opts.php_namespace == "Dispatch\\V1"
    assert opts.ruby_package == "Dispatch::V1"
    assert opts.objc_class_prefix == "DXX"
