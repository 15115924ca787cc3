"""The HTTP routes of dispatch.v1, read from the ``google.api.http`` options in the descriptors.

One ``HttpRoute`` per annotated rpc (``dispatch.proto`` is the only place a route is written):
its verb, path template (``/v1/tickets/{ticket_id}:accept``), body rule (``"*"``, a field
name, or none) and the request/response message classes. ``match`` finds the route of a
request path; ``request_dict`` turns path variables and query parameters into the request
message's JSON form, so ``json_format.ParseDict`` does every conversion (protobuf's
canonical JSON mapping, camelCase or proto field names).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from google.api import annotations_pb2
from google.protobuf import descriptor, message_factory

from dispatcher.errors import InvalidArgument
from dispatcher.pb import dispatch_pb2 as pb

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from google.protobuf.message import Message

_VARIABLE = re.compile(r"\{([a-z_][a-z0-9_.]*)\}")
_VERBS = ("get", "put", "post", "delete", "patch")


@dataclass(frozen=True, slots=True)
class HttpRoute:
    """One rpc's HTTP binding."""

    method: descriptor.MethodDescriptor
    verb: str  # upper case: GET, POST...
    template: str  # e.g. /v1/tickets/{ticket_id}:accept
    body: str  # "*" = the whole request, a field name, or "" (query parameters)
    pattern: re.Pattern[str]
    variables: tuple[str, ...]  # field paths bound by the template, in order

    @property
    def grpc_path(self) -> str:
        """``/dispatch.v1.TicketService/SubmitTicket``: the method's gRPC path."""
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def server_streaming(self) -> bool:
        return bool(self.method.server_streaming)

    @property
    def request_class(self) -> type[Message]:
        return message_factory.GetMessageClass(self.method.input_type)

    @property
    def response_class(self) -> type[Message]:
        return message_factory.GetMessageClass(self.method.output_type)


def _compile(template: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    variables: list[str] = []
    regex, last = "", 0
    for m in _VARIABLE.finditer(template):
        regex += re.escape(template[last : m.start()])
        # one path segment, matched on the raw (still percent-encoded) path: an id holding
        # '/' or ':' is sent as %2F / %3A
        regex += f"(?P<v{len(variables)}>[^/]+?)"
        variables.append(m.group(1))
        last = m.end()
    regex += re.escape(template[last:])
    return re.compile(f"^{regex}$"), tuple(variables)


def routes(
    files: Iterable[descriptor.FileDescriptor] = (pb.DESCRIPTOR,),
) -> list[HttpRoute]:
    """Every annotated rpc of ``files``, most specific template first (literal suffixes
    such as ``:explain`` are tried before a bare ``{ticket_id}``)."""
    found: list[HttpRoute] = []
    for file in files:
        for service in file.services_by_name.values():
            for method in service.methods:
                options = method.GetOptions()
                if not options.HasExtension(annotations_pb2.http):
                    continue
                rule = options.Extensions[annotations_pb2.http]
                verb = rule.WhichOneof("pattern")
                if verb not in _VERBS:
                    raise ValueError(
                        f"{method.full_name}: unsupported http rule {verb!r}"
                    )
                template = getattr(rule, verb)
                pattern, variables = _compile(template)
                found.append(
                    HttpRoute(
                        method, verb.upper(), template, rule.body, pattern, variables
                    )
                )
    return sorted(found, key=lambda r: -len(_VARIABLE.sub("", r.template)))


def match(
    table: Iterable[HttpRoute], verb: str, raw_path: str
) -> tuple[HttpRoute, dict[str, str]] | list[str] | None:
    """The route and decoded path variables for ``verb raw_path``; the allowed verbs
    (a list) when only the verb differs; ``None`` when no template matches."""
    allowed: list[str] = []
    for route in table:
        m = route.pattern.match(raw_path)
        if m is None:
            continue
        if route.verb != verb:
            allowed.append(route.verb)
            continue
        values = {
            name: unquote(m.group(f"v{i}")) for i, name in enumerate(route.variables)
        }
        return route, values
    return allowed or None


def _field(message: descriptor.Descriptor, name: str) -> descriptor.FieldDescriptor:
    field = message.fields_by_name.get(name) or next(
        (f for f in message.fields if f.json_name == name), None
    )
    if field is None:
        raise InvalidArgument(name, f"no field {name!r} in {message.name}")
    return field


def _scalar(field: descriptor.FieldDescriptor, value: str, path: str) -> Any:
    if field.type == descriptor.FieldDescriptor.TYPE_BOOL:
        if value not in ("true", "false", "1", "0"):
            raise InvalidArgument(path, f"{value!r} is not true or false")
        return value in ("true", "1")
    # ParseDict converts strings to numbers and enum names itself, naming the field
    return value


def _put(
    target: dict[str, Any], message: descriptor.Descriptor, path: str, values: list[str]
) -> None:
    head, _, rest = path.partition(".")
    field = _field(message, head)
    if rest:
        if field.message_type is None or field.is_repeated:
            raise InvalidArgument(path, f"{head!r} is not a message field")
        _put(target.setdefault(field.name, {}), field.message_type, rest, values)
        return
    if field.message_type is not None and not field.message_type.full_name.startswith(
        "google.protobuf."
    ):
        raise InvalidArgument(path, "a message field cannot be a query parameter")
    converted = [_scalar(field, v, path) for v in values]
    if field.is_repeated:
        target[field.name] = converted
    elif len(converted) > 1:
        raise InvalidArgument(path, "given more than once")
    else:
        target[field.name] = converted[0]


def request_dict(
    route: HttpRoute,
    path_values: Mapping[str, str],
    query: Mapping[str, list[str]],
    body: Any,
) -> dict[str, Any]:
    """The request message as a JSON dict: body (per the rule), then query parameters,
    then path variables (which win: they name the resource)."""
    message = route.method.input_type
    out: dict[str, Any] = {}
    if route.body == "*":
        if not isinstance(body, dict):
            raise InvalidArgument("body", "the request body must be a JSON object")
        out = dict(body)
    elif route.body:
        out[route.body] = body
    for name, values in query.items():
        if route.body == "*":
            raise InvalidArgument(name, "this route takes its fields in the JSON body")
        _put(out, message, name, values)
    for name, value in path_values.items():
        _put_path(out, message, name, value)
    return out


def _put_path(
    target: dict[str, Any], message: descriptor.Descriptor, path: str, value: str
) -> None:
    head, _, rest = path.partition(".")
    field = _field(message, head)
    key = head if head in target or field.json_name not in target else field.json_name
    if rest:
        inner = target.setdefault(key, {})
        if not isinstance(inner, dict):
            raise InvalidArgument(head, "must be a JSON object")
        if field.message_type is None:
            raise InvalidArgument(head, "is not a message field")
        _put_path(inner, field.message_type, rest, value)
    else:
        target.pop(field.json_name, None)
        target[head] = value
