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
    from collections.abc import Iterator

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
    for path, value in _float_values(message, plan, dot):
        if not math.isfinite(value):
            return path
    for path, child in _child_messages(message, plan, dot):
        found = non_finite_field(child, path)
        if found:
            return found
    return None


def _float_values(
    message: Message, plan: _Plan, dot: str
) -> Iterator[tuple[str, float]]:
    """(path, value) of every float/double held directly by ``message`` (maps included)."""
    for name, repeated in plan.floats:
        value: Any = getattr(message, name)
        if repeated:
            yield from ((f"{dot}{name}[{i}]", v) for i, v in enumerate(value))
        else:
            yield f"{dot}{name}", value
    for name, kind, _ in plan.messages:
        if kind == "map_scalar":
            items = getattr(message, name).items()
            yield from ((f"{dot}{name}[{json.dumps(k)}]", v) for k, v in items)


def _child_messages(
    message: Message, plan: _Plan, dot: str
) -> Iterator[tuple[str, Message]]:
    """(path, message) of every set sub-message that may hold a float/double."""
    for name, kind, _ in plan.messages:
        if kind == "single":
            if message.HasField(name):
                yield f"{dot}{name}", getattr(message, name)
        elif kind == "list":
            items = enumerate(getattr(message, name))
            yield from ((f"{dot}{name}[{i}]", item) for i, item in items)
        elif kind == "map":
            pairs = getattr(message, name).items()
            yield from ((f"{dot}{name}[{json.dumps(k)}]", item) for k, item in pairs)
