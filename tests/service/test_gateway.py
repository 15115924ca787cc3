"""The REST/JSON gateway over loopback with a real HTTP client: every route, errors, auth."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc
import pytest
from google.protobuf import json_format

from dispatcher.api import http_rules
from dispatcher.api.http_common import HTTP_STATUS
from dispatcher.domain import Assignment
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.runtime.metrics import DispatchMetrics
from dispatcher.store.state import Decision, ExpectedVersions, RedisStateStore, keys
from tests.service.conftest import technician, ticket

if TYPE_CHECKING:
    import redis.asyncio

    from tests.service.conftest import Http

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def js(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(message)


async def assign(redis_client: redis.asyncio.Redis, ticket_id: str, tech: str) -> None:
    """Commit an assignment the way a solve would (tenant 'default', region north)."""
    store = RedisStateStore(redis_client, metrics=DispatchMetrics.throwaway())
    await redis_client.set(keys.lease_key("default", "north"), "tok")
    snap = await store.snapshot("default", "north")
    versions = ExpectedVersions(
        {t.ticket_id: t.version for t in snap.tickets},
        {t.technician_id: t.version for t in snap.technicians},
    )
    await store.commit_assignments(
        "default",
        "north",
        "tok",
        [Decision(ticket_id, tech, Assignment(tech))],
        versions,
    )


def test_every_unary_rpc_has_a_route() -> None:
    """Every rpc but the client-streaming one has an HTTP route, and no two routes clash."""
    table = http_rules.routes()
    routed = {r.method.full_name for r in table}
    for service in pb.DESCRIPTOR.services_by_name.values():
        for method in service.methods:
            if not method.client_streaming:
                assert method.full_name in routed, method.full_name
    assert len({(r.verb, r.template) for r in table}) == len(table)


def test_http_status_table_covers_every_grpc_code() -> None:
    """google.rpc's code.proto mapping: every code has a status; a few spot values."""
    assert set(HTTP_STATUS) == set(grpc.StatusCode)
    assert HTTP_STATUS[grpc.StatusCode.NOT_FOUND] == 404
    assert HTTP_STATUS[grpc.StatusCode.FAILED_PRECONDITION] == 400
    assert HTTP_STATUS[grpc.StatusCode.ABORTED] == 409
    assert HTTP_STATUS[grpc.StatusCode.UNAVAILABLE] == 503


async def test_ticket_lifecycle_over_http(
    http: Http, redis_client: redis.asyncio.Redis
) -> None:
    """Upsert, submit, read, list, update, explain, stats, accept, start, complete: each
    route's answer equals what gRPC reads back (canonical JSON)."""
    status, tech, _ = await http.call(
        "PUT", "/v1/technicians/X", {"technician": js(technician("X"))}
    )
    assert status == 200
    assert tech["technicianId"] == "X"
    status, got, _ = await http.call("GET", "/v1/technicians/X")
    grpc_tech = await http.stubs.technicians.GetTechnician(
        pb.GetTechnicianRequest(technician_id="X")
    )
    assert status == 200
    assert got == js(grpc_tech)
    status, listed, _ = await http.call("GET", "/v1/technicians", region="north")
    assert status == 200
    assert [t["technicianId"] for t in listed["technicians"]] == ["X"]

    status, sub, headers = await http.call(
        "POST", "/v1/tickets", {"ticket": js(ticket("T1"))}
    )
    assert status == 200
    assert sub["ticket"]["status"] == "TICKET_STATUS_QUEUED"
    assert headers["X-Request-Id"]
    status, got, _ = await http.call("GET", "/v1/tickets/T1")
    grpc_ticket = await http.stubs.tickets.GetTicket(
        pb.GetTicketRequest(ticket_id="T1")
    )
    assert status == 200
    assert got == js(grpc_ticket)
    status, listed, _ = await http.call(
        "GET", "/v1/tickets", statuses="TICKET_STATUS_QUEUED", pageSize="10"
    )
    assert status == 200
    assert [t["ticketId"] for t in listed["tickets"]] == ["T1"]

    status, updated, _ = await http.call(
        "PATCH",
        "/v1/tickets/T1",
        {"ticket": {"title": "boiler"}, "updateMask": "title", "expectedVersion": "1"},
    )
    assert status == 200
    assert updated["title"] == "boiler"
    assert updated["version"] == "2"

    status, explained, _ = await http.call("GET", "/v1/tickets/T1:explain")
    assert status == 200
    assert explained["ticketId"] == "T1"
    status, stats, _ = await http.call("GET", "/v1/queueStats", regions="north")
    assert status == 200
    assert stats["regions"][0]["region"] == "north"

    await assign(redis_client, "T1", "X")
    for verb, body in (
        ("accept", {"technicianId": "X"}),
        ("start", {"technicianId": "X"}),
        (
            "complete",
            {"technicianId": "X", "resolution": {"code": "RESOLUTION_CODE_FIXED"}},
        ),
    ):
        status, after, _ = await http.call("POST", f"/v1/tickets/T1:{verb}", body)
        assert status == 200, (verb, after)
    assert after["status"] == "TICKET_STATUS_RESOLVED"


async def test_decline_cancel_and_technician_routes(
    http: Http, redis_client: redis.asyncio.Redis
) -> None:
    """Decline, cancel, location, availability, removal and the policy routes."""
    await http.call("PUT", "/v1/technicians/X", {"technician": js(technician("X"))})
    await http.call("POST", "/v1/tickets", {"ticket": js(ticket("T1"))})
    await http.call("POST", "/v1/tickets", {"ticket": js(ticket("T2"))})
    await assign(redis_client, "T1", "X")
    status, declined, _ = await http.call(
        "POST", "/v1/tickets/T1:decline", {"technicianId": "X", "reason": "too far"}
    )
    assert status == 200
    assert declined["status"] == "TICKET_STATUS_QUEUED"
    status, cancelled, _ = await http.call(
        "POST", "/v1/tickets/T2:cancel", {"reason": "dup"}
    )
    assert status == 200
    assert cancelled["status"] == "TICKET_STATUS_CANCELLED"
    status, batch, _ = await http.call(
        "POST",
        "/v1/tickets:batchSubmit",
        {"requests": [{"ticket": js(ticket("T3"))}, {"ticket": js(ticket("T4"))}]},
    )
    assert status == 200
    assert [r["ticketId"] for r in batch["results"]] == ["T3", "T4"]

    status, loc, _ = await http.call(
        "POST",
        "/v1/technicians/X:reportLocation",
        {"location": {"latitudeDeg": 42.4, "longitudeDeg": -71.1}},
    )
    assert status == 200
    assert loc["applied"] is True
    status, avail, _ = await http.call(
        "POST",
        "/v1/technicians/X:setAvailability",
        {"status": "TECHNICIAN_STATUS_ON_BREAK", "updateMask": "status"},
    )
    assert status == 200
    assert avail["status"] == "TECHNICIAN_STATUS_ON_BREAK"
    status, removed, _ = await http.call("DELETE", "/v1/technicians/X")
    assert status == 200
    assert removed.get("requeuedTicketIds", []) == []

    status, policy, _ = await http.call("GET", "/v1/policy")
    assert status == 200
    assert policy.get("version", "0") == "0"
    status, policy, _ = await http.call(
        "PATCH",
        "/v1/policy",
        {
            "policy": {"weights": {**policy["weights"], "travel": 2.0}},
            "updateMask": "weights",
        },
    )
    assert status == 200, policy
    assert policy["version"] == "1"
    status, history, _ = await http.call("GET", "/v1/policy:history")
    assert status == 200
    assert [p["version"] for p in history["policies"]] == ["1"]


@pytest.mark.parametrize(
    ("verb", "path", "body", "code"),
    [
        ("GET", "/v1/tickets/nope", None, grpc.StatusCode.NOT_FOUND),
        (
            "POST",
            "/v1/tickets",
            {"ticket": {"ticketId": "T9"}},
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        ("POST", "/v1/tickets/nope:accept", {}, grpc.StatusCode.NOT_FOUND),
        ("DELETE", "/v1/technicians/nope", None, grpc.StatusCode.NOT_FOUND),
        ("GET", "/v1/tickets", None, None),  # control: the same client succeeds
    ],
)
async def test_errors_carry_the_grpc_code_and_status_body(
    http: Http, verb: str, path: str, body: Any, code: grpc.StatusCode | None
) -> None:
    """A failed call answers code.proto's HTTP status with a google.rpc.Status body whose
    code is the one gRPC answers for the same request."""
    status, payload, _ = await http.call(verb, path, body)
    if code is None:
        assert status == 200
        return
    assert status == HTTP_STATUS[code]
    assert payload["code"] == code.value[0]
    assert payload["message"]


async def test_invalid_argument_names_the_field_like_grpc(http: Http) -> None:
    """The BadRequest detail names the same field path as the gRPC error's."""
    bad = ticket("T1", priority=0)
    status, payload, _ = await http.call("POST", "/v1/tickets", {"ticket": js(bad)})
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await http.stubs.tickets.SubmitTicket(pb.SubmitTicketRequest(ticket=bad))
    assert status == 400
    assert payload["message"] == err.value.details()
    (detail,) = payload["details"]
    assert detail["@type"].endswith("google.rpc.BadRequest")
    assert detail["fieldViolations"][0]["field"] == "ticket.priority"


async def test_conflicts_and_preconditions_map_like_grpc(http: Http) -> None:
    """ALREADY_EXISTS -> 409, ABORTED (stale expected_version) -> 409 with ErrorInfo,
    FAILED_PRECONDITION -> 400."""
    await http.call("POST", "/v1/tickets", {"ticket": js(ticket("T1"))})
    status, payload, _ = await http.call(
        "POST", "/v1/tickets", {"ticket": js(ticket("T1"))}
    )
    assert (status, payload["code"]) == (409, grpc.StatusCode.ALREADY_EXISTS.value[0])
    status, payload, _ = await http.call(
        "POST", "/v1/tickets/T1:cancel", {"expectedVersion": "7"}
    )
    assert (status, payload["code"]) == (409, grpc.StatusCode.ABORTED.value[0])
    assert payload["details"][0]["@type"].endswith("google.rpc.ErrorInfo")
    await http.call("POST", "/v1/tickets/T1:cancel", {})
    status, payload, _ = await http.call("POST", "/v1/tickets/T1:cancel", {})
    assert (status, payload["code"]) == (
        400,
        grpc.StatusCode.FAILED_PRECONDITION.value[0],
    )


async def test_gateway_rejects_malformed_requests(http: Http) -> None:
    """Bad JSON, unknown fields or query parameters, a wrong verb, an unknown path."""
    async with http.session.post(http.base + "/v1/tickets", data=b"{nope") as resp:
        assert resp.status == 400
        assert "JSON" in (await resp.json())["message"]
    status, payload, _ = await http.call("POST", "/v1/tickets", {"tiket": {}})
    assert status == 400
    assert "tiket" in payload["message"]
    status, payload, _ = await http.call("GET", "/v1/tickets", colour="red")
    assert status == 400
    assert "colour" in payload["message"]
    status, _, headers = await http.call("PUT", "/v1/tickets")
    assert status == 501
    assert "GET" in headers["Allow"]
    status, _, _ = await http.call("GET", "/v1/nothing-here")
    assert status == 404


async def test_idempotency_key_is_the_request_id(http: Http) -> None:
    """The same Idempotency-Key twice creates one ticket; the second answer is replayed;
    a different payload under the same key is refused like the gRPC request id."""
    body = {"ticket": js(ticket("T1"))}
    key = {"Idempotency-Key": "req-1"}
    first = await http.call("POST", "/v1/tickets", body, key)
    second = await http.call("POST", "/v1/tickets", body, key)
    assert first[0] == second[0] == 200
    assert "replayed" not in first[1]
    assert second[1]["replayed"] is True
    assert second[1]["ticket"]["ticketId"] == "T1"
    listed = await http.stubs.tickets.ListTickets(pb.ListTicketsRequest())
    assert [t.ticket_id for t in listed.tickets] == ["T1"]
    other = {"ticket": js(ticket("T2"))}
    status, payload, _ = await http.call("POST", "/v1/tickets", other, key)
    assert status == 409
    assert "request_id" in payload["message"]
    status, payload, _ = await http.call("GET", "/v1/tickets/T1", None, key)
    assert status == 400
    assert "Idempotency-Key" in payload["message"]


async def test_ids_with_reserved_characters_are_percent_encoded(http: Http) -> None:
    """A ticket id holding ':' or '/' reaches its route when percent-encoded."""
    await http.call("POST", "/v1/tickets", {"ticket": js(ticket("site/7:a"))})
    async with http.session.get(http.base + "/v1/tickets/site%2F7%3Aa") as resp:
        assert resp.status == 200
        assert (await resp.json())["ticketId"] == "site/7:a"


async def test_auth_is_required_as_over_grpc(auth_http: Http) -> None:
    """No credential: 401; bearer and X-Api-Key work; another tenant sees nothing (404);
    a technician app may not list tickets (403), as over gRPC."""
    status, payload, _ = await auth_http.call("GET", "/v1/tickets")
    assert status == 401
    assert payload["code"] == grpc.StatusCode.UNAUTHENTICATED.value[0]
    status, _, _ = await auth_http.call(
        "GET", "/v1/tickets", headers={"Authorization": "Bearer wrong"}
    )
    assert status == 401
    platform = {"Authorization": "Bearer acme-platform"}
    status, _, _ = await auth_http.call(
        "POST", "/v1/tickets", {"ticket": js(ticket("T1"))}, platform
    )
    assert status == 200
    status, _, _ = await auth_http.call(
        "GET", "/v1/tickets/T1", headers={"X-Api-Key": "acme-platform"}
    )
    assert status == 200
    status, _, _ = await auth_http.call(
        "GET", "/v1/tickets/T1", headers={"Authorization": "Bearer globex-platform"}
    )
    assert status == 404
    status, _, _ = await auth_http.call(
        "GET", "/v1/tickets", headers={"Authorization": "Bearer acme-tech-x"}
    )
    assert status == 403
    async with auth_http.session.get(auth_http.base + "/v1/openapi.json") as resp:
        assert resp.status == 200  # the document is public, like reflection
