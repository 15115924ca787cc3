"""The gateway's OpenAPI 3 document, generated from the same descriptors as its routes.

``python -m dispatcher.api.openapi`` writes ``dispatcher/api/openapi.json`` (``./dev proto``
runs it after the stubs); ``--check`` exits 1 when the committed file is stale. Schemas
follow protobuf's canonical JSON: lowerCamelCase names, 64-bit integers as strings, enums
as their names, ``FieldMask`` as a comma-separated string.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from google.protobuf import descriptor

from dispatcher.api import http_rules
from dispatcher.api.http_common import HTTP_STATUS

DOCUMENT_PATH = Path(__file__).with_name("openapi.json")
_T = descriptor.FieldDescriptor
_SCALARS: dict[int, dict[str, Any]] = {
    _T.TYPE_DOUBLE: {"type": "number", "format": "double"},
    _T.TYPE_FLOAT: {"type": "number", "format": "float"},
    _T.TYPE_INT64: {"type": "string", "format": "int64"},
    _T.TYPE_UINT64: {"type": "string", "format": "uint64"},
    _T.TYPE_SINT64: {"type": "string", "format": "int64"},
    _T.TYPE_FIXED64: {"type": "string", "format": "uint64"},
    _T.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    _T.TYPE_INT32: {"type": "integer", "format": "int32"},
    _T.TYPE_SINT32: {"type": "integer", "format": "int32"},
    _T.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    _T.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0},
    _T.TYPE_FIXED32: {"type": "integer", "format": "int64", "minimum": 0},
    _T.TYPE_BOOL: {"type": "boolean"},
    _T.TYPE_STRING: {"type": "string"},
    _T.TYPE_BYTES: {"type": "string", "format": "byte"},
}
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.FieldMask": {
        "type": "string",
        "description": "field paths, comma-separated (e.g. priority,title)",
    },
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "additionalProperties": True,
    },
}


class _Schemas:
    """Component schemas, filled on demand as messages and enums are referenced."""

    def __init__(self) -> None:
        self.components: dict[str, dict[str, Any]] = {}

    def ref(self, full_name: str) -> dict[str, Any]:
        return {"$ref": f"#/components/schemas/{full_name}"}

    def enum(self, enum: descriptor.EnumDescriptor) -> dict[str, Any]:
        if enum.full_name not in self.components:
            self.components[enum.full_name] = {
                "type": "string",
                "enum": [v.name for v in enum.values],
            }
        return self.ref(enum.full_name)

    def message(self, message: descriptor.Descriptor) -> dict[str, Any]:
        if message.full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[message.full_name])
        if message.full_name not in self.components:
            self.components[message.full_name] = {}  # placeholder: recursion stops here
            properties = {f.json_name: self.field(f) for f in message.fields}
            self.components[message.full_name] = {
                "type": "object",
                "properties": properties,
            }
        return self.ref(message.full_name)

    def value(self, field: descriptor.FieldDescriptor) -> dict[str, Any]:
        if field.message_type is not None:
            return self.message(field.message_type)
        if field.enum_type is not None:
            return self.enum(field.enum_type)
        return dict(_SCALARS[field.type])

    def field(self, field: descriptor.FieldDescriptor) -> dict[str, Any]:
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            return {
                "type": "object",
                "additionalProperties": self.value(entry.fields_by_name["value"]),
            }
        if field.is_repeated:
            return {"type": "array", "items": self.value(field)}
        return self.value(field)


def _query_parameters(
    schemas: _Schemas, message: descriptor.Descriptor, bound: tuple[str, ...]
) -> list[dict[str, Any]]:
    params = []
    for field in message.fields:
        if field.name in bound or (
            field.message_type is not None
            and field.message_type.full_name not in _WELL_KNOWN
        ):
            continue
        params.append(
            {
                "name": field.json_name,
                "in": "query",
                "required": False,
                "schema": schemas.field(field),
                **({"explode": True} if field.is_repeated else {}),
            }
        )
    return params


def _operation(schemas: _Schemas, route: http_rules.HttpRoute) -> dict[str, Any]:
    method = route.method
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
            "description": f"the request's `{name}`",
        }
        for name in route.variables
    ]
    if not route.body:
        params += _query_parameters(schemas, method.input_type, route.variables)
    params.append(
        {
            "name": "X-Request-Id",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
        }
    )
    if "request_id" in method.input_type.fields_by_name:
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": "the request id (retries with the same key are replayed)",
            }
        )
    if route.server_streaming:
        params.append(
            {
                "name": "Last-Event-ID",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": "resume after this position (region=event_id,...)",
            }
        )
        event = method.output_type.fields_by_name["event"].message_type
        assert event is not None
        ok = {
            "description": f"Server-Sent Events; each data line is one {event.full_name} "
            "(canonical JSON), each id the resume position",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    else:
        ok = {
            "description": "OK",
            "content": {
                "application/json": {"schema": schemas.message(method.output_type)}
            },
        }
    operation: dict[str, Any] = {
        "operationId": f"{method.containing_service.name}_{method.name}",
        "tags": [method.containing_service.name],
        "summary": f"{method.full_name} (gRPC {route.grpc_path})",
        "parameters": params,
        "responses": {
            "200": ok,
            "default": {
                "description": "error: google.rpc.Status; HTTP status from the gRPC code",
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/Status"}
                    }
                },
            },
        },
    }
    if route.body:
        body_schema = (
            schemas.message(method.input_type)
            if route.body == "*"
            else schemas.field(method.input_type.fields_by_name[route.body])
        )
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body_schema}},
        }
    return operation


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every HTTP route."""
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for route in sorted(http_rules.routes(), key=lambda r: (r.template, r.verb)):
        paths.setdefault(route.template, {})[route.verb.lower()] = _operation(
            schemas, route
        )
    schemas.components["Status"] = {
        "type": "object",
        "description": "google.rpc.Status; HTTP status per gRPC code: "
        + ", ".join(f"{c.name}={s}" for c, s in HTTP_STATUS.items()),
        "properties": {
            "code": {"type": "integer", "format": "int32"},
            "message": {"type": "string"},
            "details": {"type": "array", "items": _WELL_KNOWN["google.protobuf.Any"]},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "dispatch.v1 REST/JSON gateway",
            "version": "v1",
            "description": "Generated from the google.api.http options of "
            "dispatch.proto (python -m dispatcher.api.openapi); JSON is protobuf's "
            "canonical mapping. Credentials: Authorization: Bearer <token> or X-Api-Key.",
        },
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            },
        },
        "security": [{"bearer": []}, {"apiKey": []}],
        "paths": paths,
    }


def render() -> str:
    """The document as committed (sorted keys, two-space indent, final newline)."""
    return json.dumps(document(), indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dispatcher.api.openapi")
    parser.add_argument("--check", action="store_true", help="exit 1 when stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = DOCUMENT_PATH.read_text() if DOCUMENT_PATH.exists() else ""
        if current != text:
            print(f"{DOCUMENT_PATH.name} is stale; run ./dev proto", file=sys.stderr)
            return 1
        return 0
    DOCUMENT_PATH.write_text(text)
    print(f"wrote {DOCUMENT_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
