"""The contract's input rules over a real server and Redis: expected_version, names inside a
policy, non-finite numbers in any request field, error details naming real .proto paths."""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.field_mask_pb2 import FieldMask

from dispatcher.pb import dispatch_pb2 as pb
from tests.service.conftest import Stubs, technician, ticket

if TYPE_CHECKING:
    from collections.abc import Iterator

    from google.protobuf.descriptor import Descriptor
    from google.protobuf.message import Message

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SERVICES = list(pb.DESCRIPTOR.services_by_name.values())
_SEGMENT = re.compile(r'^([a-z_][a-z0-9_]*)((?:\[(?:\d+|"[^"]*")\])*)$')


def field_path_exists(desc: Descriptor, path: str) -> bool:
    """True when ``path`` (``a.b[2].c``, ``m["key"].x``) names a field of ``desc``."""
    for segment in path.split("."):
        match = _SEGMENT.match(segment)
        if match is None or desc is None:
            return False
        field = desc.fields_by_name.get(match.group(1))
        if field is None:
            return False
        subscripts = re.findall(r"\[([^\]]*)\]", match.group(2))
        entry = field.message_type
        is_map = entry is not None and entry.GetOptions().map_entry
        if subscripts:
            if not field.is_repeated or len(subscripts) > 1:
                return False
            if is_map != subscripts[0].startswith('"'):
                return False
        elif field.is_repeated and segment != path.split(".")[-1]:
            return False  # a list or map must be subscripted before going deeper
        desc = entry.fields_by_name["value"].message_type if is_map else entry
    return True


def float_paths(desc: Descriptor, prefix: str = "") -> Iterator[str]:
    """Every float/double field path inside ``desc`` (lists at [0], maps at ["k"])."""
    for f in desc.fields:
        name = f"{prefix}{f.name}"
        if f.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            yield f"{name}[0]" if f.is_repeated else name
        elif f.type == FieldDescriptor.TYPE_MESSAGE:
            entry = f.message_type
            if entry.GetOptions().map_entry:
                value = entry.fields_by_name["value"]
                if value.message_type is not None:
                    yield from float_paths(value.message_type, f'{name}["k"].')
                elif value.type in (
                    FieldDescriptor.TYPE_DOUBLE,
                    FieldDescriptor.TYPE_FLOAT,
                ):
                    yield f'{name}["k"]'
            elif f.is_repeated:
                yield from float_paths(entry, f"{name}[0].")
            else:
                yield from float_paths(entry, f"{name}.")


def set_path(msg: Message, path: str, value: float) -> None:
    """Set the float at ``path`` (as ``float_paths`` spells it), creating what leads to it."""
    *parents, last = path.split(".")
    for segment in parents:
        name, _, sub = segment.partition("[")
        if not sub:
            msg = getattr(msg, name)
        elif sub.startswith('"'):
            msg = getattr(msg, name)[json.loads(sub[:-1])]
        else:
            container = getattr(msg, name)
            msg = container[0] if len(container) else container.add()
    name, _, sub = last.partition("[")
    if not sub:
        setattr(msg, name, value)
    elif sub.startswith('"'):
        getattr(msg, name)[json.loads(sub[:-1])] = value
    else:
        getattr(msg, name).append(value)


def bad_request_of(err: grpc.aio.AioRpcError) -> list[tuple[str, str]]:
    """The google.rpc.BadRequest field violations in a status's details."""
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    status = rpc_status.from_call(err)
    assert status is not None, "no google.rpc.Status in the trailing metadata"
    out = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            info = error_details_pb2.BadRequest()
            detail.Unpack(info)
            out += [(v.field, v.description) for v in info.field_violations]
    return out


def input_of(method: str) -> Descriptor:
    """The request message of a dispatch.v1 method, by its bare name."""
    for service in SERVICES:
        if method in service.methods_by_name:
            return service.methods_by_name[method].input_type
    raise KeyError(method)


async def invalid_field(call: Any, method: str) -> str:
    """The field an INVALID_ARGUMENT names in its google.rpc.BadRequest, checked to be a
    real field path of ``method``'s request message."""
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    violations = bad_request_of(err.value)
    assert len(violations) == 1, violations
    field, description = violations[0]
    assert description
    assert description in str(err.value.details())
    assert field_path_exists(input_of(method), field), (method, field)
    return field


# --- item 1: expected_version -----------------------------------------------------------


async def test_negative_expected_version_is_invalid_everywhere(stubs: Stubs) -> None:
    """Every request with an expected_version refuses a negative one (INVALID_ARGUMENT
    naming it) and changes nothing; 0 still means "no check"."""
    await stubs.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=technician("A"))
    )
    await stubs.tickets.SubmitTicket(pb.SubmitTicketRequest(ticket=ticket("T1")))
    t, p = stubs.tickets, stubs.policy
    calls = {
        "UpdateTicket": lambda v: t.UpdateTicket(
            pb.UpdateTicketRequest(
                ticket=ticket("T1", title="x"),
                update_mask=FieldMask(paths=["title"]),
                expected_version=v,
            )
        ),
        "CancelTicket": lambda v: t.CancelTicket(
            pb.CancelTicketRequest(ticket_id="T1", expected_version=v)
        ),
        "AcceptTicket": lambda v: t.AcceptTicket(
            pb.AcceptTicketRequest(
                ticket_id="T1", technician_id="A", expected_version=v
            )
        ),
        "DeclineTicket": lambda v: t.DeclineTicket(
            pb.DeclineTicketRequest(
                ticket_id="T1", technician_id="A", reason="busy", expected_version=v
            )
        ),
        "StartTicket": lambda v: t.StartTicket(
            pb.StartTicketRequest(ticket_id="T1", technician_id="A", expected_version=v)
        ),
        "PendTicket": lambda v: t.PendTicket(
            pb.PendTicketRequest(ticket_id="T1", expected_version=v)
        ),
        "ResumeTicket": lambda v: t.ResumeTicket(
            pb.ResumeTicketRequest(ticket_id="T1", expected_version=v)
        ),
        "CompleteTicket": lambda v: t.CompleteTicket(
            pb.CompleteTicketRequest(
                ticket_id="T1",
                technician_id="A",
                resolution=pb.Resolution(code=pb.RESOLUTION_CODE_FIXED),
                expected_version=v,
            )
        ),
        "UpsertTechnician": lambda v: stubs.technicians.UpsertTechnician(
            pb.UpsertTechnicianRequest(
                technician=technician("A", capacity=5), expected_version=v
            )
        ),
        "SetAvailability": lambda v: stubs.technicians.SetAvailability(
            pb.SetAvailabilityRequest(
                technician_id="A",
                status=pb.TECHNICIAN_STATUS_ON_BREAK,
                update_mask=FieldMask(paths=["status"]),
                expected_version=v,
            )
        ),
        "RemoveTechnician": lambda v: stubs.technicians.RemoveTechnician(
            pb.RemoveTechnicianRequest(technician_id="A", expected_version=v)
        ),
        "UpdatePolicy": lambda v: p.UpdatePolicy(
            pb.UpdatePolicyRequest(
                policy=pb.Policy(
                    neighbours={"north": pb.NeighbourRegions(regions=["south"])}
                ),
                update_mask=FieldMask(paths=["neighbours"]),
                expected_version=v,
            )
        ),
    }
    with_field = {
        m.name
        for s in SERVICES
        for m in s.methods
        if "expected_version" in m.input_type.fields_by_name
    }
    assert with_field == set(calls), "a request with expected_version is not covered"
    for method, call in calls.items():
        for value in (-1, -5):
            assert await invalid_field(call(value), method) == "expected_version"
    got = await t.GetTicket(pb.GetTicketRequest(ticket_id="T1"))
    assert (got.status, got.version) == (pb.TICKET_STATUS_QUEUED, 1)
    tech = await stubs.technicians.GetTechnician(
        pb.GetTechnicianRequest(technician_id="A")
    )
    assert (tech.version, tech.capacity, tech.status) == (
        1,
        3,
        pb.TECHNICIAN_STATUS_AVAILABLE,
    )
    assert (await p.GetPolicy(pb.GetPolicyRequest())).version == 0
    await calls["CancelTicket"](0)  # 0 = no check
    got = await t.GetTicket(pb.GetTicketRequest(ticket_id="T1"))
    assert got.status == pb.TICKET_STATUS_CANCELLED


# --- item 2: names inside a policy -----------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        (
            pb.Policy(
                neighbours={"north": pb.NeighbourRegions(regions=["south", "}{x"])}
            ),
            'policy.neighbours["north"].regions[1]',
        ),
        (
            pb.Policy(neighbours={"north": pb.NeighbourRegions(regions=["*"])}),
            'policy.neighbours["north"].regions[0]',
        ),
        (
            pb.Policy(neighbours={"a:b": pb.NeighbourRegions(regions=["south"])}),
            'policy.neighbours["a:b"]',
        ),
        (
            pb.Policy(neighbours={"north": pb.NeighbourRegions(regions=[""])}),
            'policy.neighbours["north"].regions[0]',
        ),
        (
            pb.Policy(
                escalation_rules=[
                    pb.EscalationRule(
                        name="r",
                        condition=pb.ESCALATION_CONDITION_NOT_ACCEPTED,
                        notify_supervisor=True,
                        supervisor_target="a{b}",
                    )
                ]
            ),
            "policy.escalation_rules[0].supervisor_target",
        ),
    ],
)
async def test_policy_names_follow_the_name_rule(
    stubs: Stubs, policy: pb.Policy, field: str
) -> None:
    """Region and stream names inside a policy follow the rule of every region name
    (INVALID_ARGUMENT naming the .proto path; nothing stored)."""
    paths = ["neighbours"] if policy.neighbours else ["escalation_rules"]
    request = pb.UpdatePolicyRequest(policy=policy, update_mask=FieldMask(paths=paths))
    assert (
        await invalid_field(stubs.policy.UpdatePolicy(request), "UpdatePolicy") == field
    )
    assert (await stubs.policy.GetPolicy(pb.GetPolicyRequest())).version == 0


async def test_valid_policy_names_are_stored(stubs: Stubs) -> None:
    """The same shapes with valid names are accepted (the rule is not over-strict)."""
    request = pb.UpdatePolicyRequest(
        policy=pb.Policy(
            neighbours={"north-1": pb.NeighbourRegions(regions=["south.2", "east_3"])},
        ),
        update_mask=FieldMask(paths=["neighbours"]),
    )
    stored = await stubs.policy.UpdatePolicy(request)
    assert list(stored.neighbours["north-1"].regions) == ["south.2", "east_3"]


async def test_a_whole_policy_without_solver_weights_or_duplicates_takes_their_defaults(
    stubs: Stubs,
) -> None:
    """An empty update_mask replaces everything, "unset parts = defaults" (dispatch.proto):
    a help-desk policy giving only calendars, SLA targets and a tier rule is stored with
    the default solver settings, weights and duplicate rule, not refused for an unset
    ``solver.cadence_s`` (nor given all-zero weights)."""
    defaults = await stubs.policy.GetPolicy(pb.GetPolicyRequest())
    assert defaults.version == 0
    desk = pb.Policy(
        calendars={"desk": pb.BusinessCalendar(time_zone="Europe/Berlin")},
        sla_targets=[
            pb.SlaTarget(
                priority=pb.PRIORITY_P3,
                response_s=28800,
                resolution_s=57600,
                calendar="desk",
            )
        ],
        escalation_rules=[
            pb.EscalationRule(
                name="to-l2",
                condition=pb.ESCALATION_CONDITION_NOT_STARTED,
                after_s=7200,
                tier_skill="desk",
                tier_level=2,
            )
        ],
    )
    stored = await stubs.policy.UpdatePolicy(pb.UpdatePolicyRequest(policy=desk))
    assert stored.version == 1
    assert stored.solver == defaults.solver
    assert stored.weights == defaults.weights
    assert stored.duplicate_rule == defaults.duplicate_rule
    assert [t.calendar for t in stored.sla_targets if t.priority == pb.PRIORITY_P3] == [
        "desk"
    ]
    assert [r.tier_skill for r in stored.escalation_rules] == ["desk"]


# --- item 3: non-finite numbers ----------------------------------------------------------


def _float_cases() -> list[tuple[str, str, str]]:
    cases = []
    for service in SERVICES:
        for method in service.methods:
            request = method.input_type
            cases += [
                (service.full_name, method.name, path) for path in float_paths(request)
            ]
    return cases


FLOAT_CASES = _float_cases()


def test_float_walk_finds_the_known_fields() -> None:
    """The descriptor walk sees the float fields the issue named (it is not vacuous)."""
    paths = {(m, p) for _, m, p in FLOAT_CASES}
    assert ("ReportLocation", "accuracy_m") in paths
    assert ("StreamLocations", "accuracy_m") in paths
    assert ("UpdatePolicy", "policy.sla_targets[0].resolution_s") in paths
    assert ("BatchSubmitTickets", "requests[0].ticket.location.latitude_deg") in paths
    assert len(paths) > 30


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
async def test_every_float_field_refuses_non_finite(stubs: Stubs, value: float) -> None:
    """NaN, +Inf and -Inf in any float/double field of any request (found through the
    descriptors, output-only fields included) answer INVALID_ARGUMENT naming that field."""
    channel = stubs.channel
    for service, method_name, path in FLOAT_CASES:
        method = pb.DESCRIPTOR.services_by_name[service.split(".")[-1]].methods_by_name[
            method_name
        ]
        request_cls = _message_class(method.input_type)
        response_cls = _message_class(method.output_type)
        request = request_cls()
        streaming = method.client_streaming
        set_path(request, path, value)
        full = f"/{service}/{method_name}"
        if streaming:
            call = channel.stream_unary(
                full,
                request_serializer=request_cls.SerializeToString,
                response_deserializer=response_cls.FromString,
            )(iter([request]))
        else:
            call = channel.unary_unary(
                full,
                request_serializer=request_cls.SerializeToString,
                response_deserializer=response_cls.FromString,
            )(request)
        assert await invalid_field(call, method_name) == path, (method_name, value)


def _message_class(desc: Descriptor) -> Any:
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(desc)


# --- item 4: error details name real fields ------------------------------------------------


def _bad_requests(s: Stubs) -> list[tuple[str, Any, str]]:
    """(method, call, expected field path) for one invalid request of each kind."""
    sla = [
        pb.SlaTarget(priority=pb.PRIORITY_P1, response_s=60, resolution_s=120),
        pb.SlaTarget(priority=pb.PRIORITY_P2, response_s=60, resolution_s=120),
        pb.SlaTarget(priority=pb.PRIORITY_P3, response_s=600, resolution_s=60),
    ]
    rule = pb.EscalationRule(name="r", condition=pb.ESCALATION_CONDITION_NOT_ACCEPTED)
    t, tc, p = s.tickets, s.technicians, s.policy
    return [
        (
            "UpdatePolicy",
            p.UpdatePolicy(
                pb.UpdatePolicyRequest(
                    policy=pb.Policy(sla_targets=sla),
                    update_mask=FieldMask(paths=["sla_targets"]),
                )
            ),
            "policy.sla_targets[2].resolution_s",
        ),
        (
            "UpdatePolicy",
            p.UpdatePolicy(
                pb.UpdatePolicyRequest(
                    policy=pb.Policy(
                        escalation_rules=[
                            rule,
                            pb.EscalationRule(
                                name="s",
                                condition=pb.ESCALATION_CONDITION_NOT_ACCEPTED,
                                raise_priority=7,
                            ),
                        ]
                    ),
                    update_mask=FieldMask(paths=["escalation_rules"]),
                )
            ),
            "policy.escalation_rules[1].raise_priority",
        ),
        (
            "UpdatePolicy",
            p.UpdatePolicy(
                pb.UpdatePolicyRequest(
                    policy=pb.Policy(duplicate_rule=pb.DuplicateRule(radius_m=-1)),
                    update_mask=FieldMask(paths=["duplicate_rule"]),
                )
            ),
            "policy.duplicate_rule.radius_m",
        ),
        (
            "UpdatePolicy",
            p.UpdatePolicy(
                pb.UpdatePolicyRequest(
                    policy=pb.Policy(weights=pb.CostWeights(travel=-1)),
                    update_mask=FieldMask(paths=["weights"]),
                )
            ),
            "policy.weights.travel",
        ),
        (
            "UpdatePolicy",
            p.UpdatePolicy(
                pb.UpdatePolicyRequest(
                    policy=pb.Policy(solver=pb.SolverSettings(cadence_s=-1)),
                    update_mask=FieldMask(paths=["solver"]),
                )
            ),
            "policy.solver.cadence_s",
        ),
        (
            "UpdatePolicy",
            p.UpdatePolicy(
                pb.UpdatePolicyRequest(update_mask=FieldMask(paths=["nope"]))
            ),
            "update_mask.paths[0]",
        ),
        (
            "SubmitTicket",
            t.SubmitTicket(
                pb.SubmitTicketRequest(ticket=ticket("T1", attributes={"": "x"}))
            ),
            'ticket.attributes[""]',
        ),
        (
            "SubmitTicket",
            t.SubmitTicket(
                pb.SubmitTicketRequest(
                    ticket=ticket(
                        "T1",
                        sla=pb.SlaDue(
                            response_due_ms=1_800_000_000_000,
                            resolution_due_ms=1_700_000_000_000,
                        ),
                    )
                )
            ),
            "ticket.sla.resolution_due_ms",
        ),
        (
            "SubmitTicket",
            t.SubmitTicket(
                pb.SubmitTicketRequest(
                    ticket=ticket(
                        "T1",
                        required_skills=[pb.SkillRequirement(skill="a b", min_level=1)],
                    )
                )
            ),
            "ticket.required_skills[0].skill",
        ),
        (
            "SubmitTicket",
            t.SubmitTicket(
                pb.SubmitTicketRequest(ticket=ticket("T1"), request_id="a b")
            ),
            "request_id",
        ),
        (
            "BatchSubmitTickets",
            t.BatchSubmitTickets(
                pb.BatchSubmitTicketsRequest(
                    requests=[
                        pb.SubmitTicketRequest(ticket=ticket("T1")),
                        pb.SubmitTicketRequest(ticket=ticket("T2", region="a:b")),
                    ]
                )
            ),
            "requests[1].ticket.region",
        ),
        (
            "UpdateTicket",
            t.UpdateTicket(
                pb.UpdateTicketRequest(
                    ticket=ticket("T1"), update_mask=FieldMask(paths=["status"])
                )
            ),
            "update_mask.paths[0]",
        ),
        (
            "DeclineTicket",
            t.DeclineTicket(pb.DeclineTicketRequest(ticket_id="T1", technician_id="A")),
            "reason",
        ),
        (
            "CompleteTicket",
            t.CompleteTicket(
                pb.CompleteTicketRequest(ticket_id="T1", technician_id="A")
            ),
            "resolution.code",
        ),
        ("GetTicket", t.GetTicket(pb.GetTicketRequest()), "ticket_id"),
        (
            "ListTickets",
            t.ListTickets(
                pb.ListTicketsRequest(statuses=[pb.TICKET_STATUS_QUEUED, 99])
            ),
            "statuses[1]",
        ),
        (
            "UpsertTechnician",
            tc.UpsertTechnician(
                pb.UpsertTechnicianRequest(
                    technician=technician(
                        "A",
                        shifts=[
                            pb.Shift(
                                start_ms=1_800_000_000_000, end_ms=1_800_000_100_000
                            ),
                            pb.Shift(
                                start_ms=1_800_000_050_000, end_ms=1_800_000_200_000
                            ),
                        ],
                    )
                )
            ),
            "technician.shifts[1]",
        ),
        (
            "ReportLocation",
            tc.ReportLocation(
                pb.ReportLocationRequest(
                    technician_id="A",
                    location=pb.Location(latitude_deg=91, longitude_deg=0),
                )
            ),
            "location.latitude_deg",
        ),
        (
            "StreamLocations",
            tc.StreamLocations(
                iter(
                    [
                        pb.ReportLocationRequest(
                            technician_id="A",
                            location=pb.Location(latitude_deg=1, longitude_deg=1),
                        ),
                        pb.ReportLocationRequest(technician_id="A"),
                    ]
                )
            ),
            "location",
        ),
        (
            "StreamLocations",
            tc.StreamLocations(
                iter(
                    [
                        pb.ReportLocationRequest(
                            technician_id="A b",
                            location=pb.Location(latitude_deg=1, longitude_deg=1),
                        ),
                    ]
                )
            ),
            "technician_id",
        ),
        (
            "SetAvailability",
            tc.SetAvailability(
                pb.SetAvailabilityRequest(
                    technician_id="A", update_mask=FieldMask(paths=["skills"])
                )
            ),
            "update_mask.paths",
        ),
        (
            "GetQueueStats",
            s.insight.GetQueueStats(pb.GetQueueStatsRequest(regions=["ok", "}{"])),
            "regions[1]",
        ),
        (
            "ExplainAssignment",
            s.insight.ExplainAssignment(
                pb.ExplainAssignmentRequest(ticket_id="T1", max_alternatives=99)
            ),
            "max_alternatives",
        ),
        (
            "ListPolicyHistory",
            p.ListPolicyHistory(pb.ListPolicyHistoryRequest(page_token="x")),
            "page_token",
        ),
    ]


async def test_invalid_argument_names_a_real_field_with_bad_request_details(
    stubs: Stubs,
) -> None:
    """Each INVALID_ARGUMENT carries one google.rpc.BadRequest field violation whose field
    is a path that exists in the request message (policy errors included: the SLA target
    is named by its index in sla_targets, not by its priority)."""
    for method, call, expected in _bad_requests(stubs):
        assert await invalid_field(call, method) == expected, method


async def test_watch_errors_name_real_fields(stubs: Stubs) -> None:
    """WatchEvents' refusals (a server stream) carry the same details."""
    cases = [
        (pb.WatchEventsRequest(regions=["ok", "*"]), "regions[1]"),
        (
            pb.WatchEventsRequest(after_event_ids={"north": "x"}),
            'after_event_ids["north"]',
        ),
        (
            pb.WatchEventsRequest(after_event_ids={"a b": "1-0"}),
            'after_event_ids["a b"]',
        ),
        (pb.WatchEventsRequest(max_batch=5000), "max_batch"),
        (pb.WatchEventsRequest(types=[99]), "types[0]"),
    ]
    for request, expected in cases:

        async def first(request: pb.WatchEventsRequest = request) -> None:
            async for _ in stubs.events.WatchEvents(request):
                break

        assert await invalid_field(first(), "WatchEvents") == expected


def error_info_of(err: grpc.aio.AioRpcError) -> tuple[str, str]:
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    status = rpc_status.from_call(err)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason, info.domain
    raise AssertionError("no ErrorInfo in the status details")


async def test_failed_precondition_and_aborted_carry_error_info(stubs: Stubs) -> None:
    """FAILED_PRECONDITION and ABORTED carry a google.rpc.ErrorInfo with a stable reason;
    the x-request-id echo survives in the trailers of a failed call."""
    await stubs.tickets.SubmitTicket(pb.SubmitTicketRequest(ticket=ticket("T1")))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stubs.tickets.CancelTicket(
            pb.CancelTicketRequest(ticket_id="T1", expected_version=7),
            metadata=(("x-request-id", "req-abc"),),
        )
    assert err.value.code() == grpc.StatusCode.ABORTED
    assert error_info_of(err.value) == ("STALE_VERSION", "dispatch.v1")
    assert ("x-request-id", "req-abc") in tuple(err.value.trailing_metadata() or ())
    await stubs.tickets.CancelTicket(pb.CancelTicketRequest(ticket_id="T1"))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stubs.tickets.CancelTicket(pb.CancelTicketRequest(ticket_id="T1"))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info_of(err.value) == ("ILLEGAL_TRANSITION", "dispatch.v1")


# --- item 5: a replayed submit answers the original response ----------------------------


async def test_replayed_submit_returns_the_original_response(
    stubs: Stubs, redis_client: Any
) -> None:
    """Submit, let the ticket move on (assigned, accepted: version 3), then retry the same
    request: the answer is the first one (version 1, QUEUED, same due times and clock),
    unary and in a batch; the stored ticket is untouched."""
    from tests.service.test_api_tickets import assign

    request = pb.SubmitTicketRequest(ticket=ticket("T1", priority=2), request_id="r-1")
    first = await stubs.tickets.SubmitTicket(request)
    assert (first.replayed, first.ticket.version) == (False, 1)
    await stubs.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=technician("A"))
    )
    await assign(redis_client, "T1", "A")
    await stubs.tickets.AcceptTicket(
        pb.AcceptTicketRequest(ticket_id="T1", technician_id="A")
    )
    now = await stubs.tickets.GetTicket(pb.GetTicketRequest(ticket_id="T1"))
    assert (now.version, now.status) == (3, pb.TICKET_STATUS_ACCEPTED)

    again = await stubs.tickets.SubmitTicket(request)
    assert again.replayed
    assert again.ticket == first.ticket
    batch = await stubs.tickets.BatchSubmitTickets(
        pb.BatchSubmitTicketsRequest(requests=[request])
    )
    (result,) = batch.results
    assert (result.replayed, result.version, result.status, result.code) == (
        True,
        1,
        pb.TICKET_STATUS_QUEUED,
        0,
    )
    after = await stubs.tickets.GetTicket(pb.GetTicketRequest(ticket_id="T1"))
    assert after == now


async def test_list_tickets_by_technician_lists_its_open_queue_only(
    stubs: Stubs, redis_client: Any
) -> None:
    """ListTicketsRequest.technician_id: the open tickets the technician holds now; one it
    completed is not listed (the .proto says so)."""
    from tests.service.test_api_tickets import assign

    await stubs.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=technician("A"))
    )
    for tid in ("T1", "T2"):
        await stubs.tickets.SubmitTicket(pb.SubmitTicketRequest(ticket=ticket(tid)))
        await assign(redis_client, tid, "A")
    for call, request in (
        (stubs.tickets.AcceptTicket, pb.AcceptTicketRequest),
        (stubs.tickets.StartTicket, pb.StartTicketRequest),
    ):
        await call(request(ticket_id="T1", technician_id="A"))
    await stubs.tickets.CompleteTicket(
        pb.CompleteTicketRequest(
            ticket_id="T1",
            technician_id="A",
            resolution=pb.Resolution(code=pb.RESOLUTION_CODE_FIXED),
        )
    )
    listed = await stubs.tickets.ListTickets(pb.ListTicketsRequest(technician_id="A"))
    assert [t.ticket_id for t in listed.tickets] == ["T2"]


def test_finite_walk_handles_maps_lists_and_recursive_types() -> None:
    """The walk reaches floats through maps, lists and a recursive type (google.protobuf.
    Struct: Value -> Struct -> Value), naming the path; finite values pass."""
    from google.protobuf import struct_pb2

    from dispatcher.api.finite import non_finite_field

    doc = struct_pb2.Struct()
    doc.update({"a": {"b": [1.0, {"c": 2.0}]}, "d": 3.0})
    assert non_finite_field(doc) is None
    doc["a"]["b"][1]["c"] = math.nan
    assert non_finite_field(doc) == (
        'fields["a"].struct_value.fields["b"].list_value.values[1]'
        '.struct_value.fields["c"].number_value'
    )
