"""The contract's input rules over a real server and Redis: expected_version, names inside a
policy, non-finite numbers in any request field, error details naming real .proto paths."""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from google.protobuf import descriptor_pb2  # noqa: F401  (registers descriptor types)
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


async def invalid_field(call: Any) -> str:
    """The field an INVALID_ARGUMENT names (its message starts with it)."""
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    return str(err.value.details()).split(": ", 1)[0]


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
            assert await invalid_field(call(value)) == "expected_version", method
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
    assert await invalid_field(stubs.policy.UpdatePolicy(request)) == field
    assert field_path_exists(pb.UpdatePolicyRequest.DESCRIPTOR, field)
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


# --- item 3: non-finite numbers ----------------------------------------------------------


def _float_cases() -> list[tuple[str, str, str]]:
    cases = []
    for service in SERVICES:
        for method in service.methods:
            request = method.input_type
            prefix = "pings[0]." if method.client_streaming else ""
            cases += [
                (service.full_name, method.name, prefix + path)
                for path in float_paths(request)
            ]
    return cases


FLOAT_CASES = _float_cases()


def test_float_walk_finds_the_known_fields() -> None:
    """The descriptor walk sees the float fields the issue named (it is not vacuous)."""
    paths = {(m, p) for _, m, p in FLOAT_CASES}
    assert ("ReportLocation", "accuracy_m") in paths
    assert ("StreamLocations", "pings[0].accuracy_m") in paths
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
        set_path(request, path.removeprefix("pings[0]."), value)
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
        assert await invalid_field(call) == path, (method_name, path, value)


def _message_class(desc: Descriptor) -> Any:
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(desc)
