"""Every float and double of a request must be finite: ``non_finite_field(message)`` names the
first NaN or infinity, by its field path (``policy.sla_targets[2].resolution_s``).

One check at the gRPC edge for every request message, output-only fields included, so no
later rule has to remember it. A plan per message type (its float fields and the message
fields that may contain one, found once from the descriptors) keeps the walk cheap on the
batch-submit hot path: a ticket costs a few ``HasField`` calls.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from google.protobuf.descriptor import FieldDescriptor

if TYPE_CHECKING:
    from google.protobuf.descriptor import Descriptor
    from google.protobuf.message import Message

_FLOATS = (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT)


@dataclass(frozen=True, slots=True)
class _Plan:
    """The fields of one message type that can hold a non-finite number."""

    floats: tuple[tuple[str, bool], ...]  # (name, repeated)
    messages: tuple[
        tuple[str, str, Descriptor], ...
    ]  # (name, "single"|"list"|"map", type)


def _is_repeated(f: FieldDescriptor) -> bool:
    return bool(f.is_repeated)


def _is_map(f: FieldDescriptor) -> bool:
    t = f.message_type
    return t is not None and bool(t.GetOptions().map_entry)


@cache
def _plan(desc: Descriptor) -> _Plan | None:
    """The plan of ``desc``; None when no float can occur anywhere inside it."""
    return _build(desc, frozenset())


def _build(desc: Descriptor, visiting: frozenset[str]) -> _Plan | None:
    floats: list[tuple[str, bool]] = []
    messages: list[tuple[str, str, Descriptor]] = []
    for f in desc.fields:
        if f.type in _FLOATS:
            floats.append((f.name, _is_repeated(f)))
        elif f.type == FieldDescriptor.TYPE_MESSAGE:
            inner: Any = f.message_type
            kind = "single"
            if _is_map(f):
                value = inner.fields_by_name["value"]
                kind = "map"
                if value.message_type is None:  # a map of scalars
                    if value.type in _FLOATS:
                        messages.append((f.name, "map_scalar", inner))
                    continue
                inner = value.message_type
            elif _is_repeated(f):
                kind = "list"
            # a recursive type is kept (walked lazily): the recursion would not end here
            here = visiting | {desc.full_name}
            if inner.full_name in here or _build(inner, here) is not None:
                messages.append((f.name, kind, inner))
    if not floats and not messages:
        return None
    return _Plan(tuple(floats), tuple(messages))


def non_finite_field(message: Message, prefix: str = "") -> str | None:
    """The path of the first NaN or infinite float/double in ``message`` (None: all finite)."""
    plan = _plan(message.DESCRIPTOR)
    if plan is None:
        return None
    dot = f"{prefix}." if prefix else ""
    for name, repeated in plan.floats:
        value: Any = getattr(message, name)
        if repeated:
            for i, item in enumerate(value):
                if not math.isfinite(item):
                    return f"{dot}{name}[{i}]"
        elif not math.isfinite(value):
            return f"{dot}{name}"
    for name, kind, _ in plan.messages:
        if kind == "single":
            if message.HasField(name):
                found = non_finite_field(getattr(message, name), f"{dot}{name}")
                if found:
                    return found
        elif kind == "list":
            for i, item in enumerate(getattr(message, name)):
                found = non_finite_field(item, f"{dot}{name}[{i}]")
                if found:
                    return found
        elif kind == "map":
            for key, item in getattr(message, name).items():
                found = non_finite_field(item, f"{dot}{name}[{json.dumps(key)}]")
                if found:
                    return found
        else:  # map of floats
            for key, item in getattr(message, name).items():
                if not math.isfinite(item):
                    return f"{dot}{name}[{json.dumps(key)}]"
    return None
