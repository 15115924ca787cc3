"""A quicker ``__init__`` for the frozen, slotted dataclasses built once or more per ticket.

A frozen dataclass's generated ``__init__`` sets each field with ``object.__setattr__``
(its own ``__setattr__`` refuses): ~0.25 us a field on this project's 2-core machine, so
a ``Ticket`` (34 fields) cost ~9-10 us to build and the solve loop, the API and the
region feed build several per ticket. ``quick_init`` replaces that ``__init__`` with one
that takes the same arguments, turns the new instance for the time of the assignments into
a plain slotted twin of its class (same slots, so the same memory layout: a supported
``__class__`` assignment), sets the fields as plain attributes, and turns it back: ~2.3 us
for a ``Ticket``. Everything else is the dataclass's own (frozen ``__setattr__``, ``__eq__``,
``__hash__``, ``__repr__``, ``dataclasses.replace``, pickling, the signature).

``with_changes(item, **changes)`` is ``dataclasses.replace`` for such a class at about
half its cost: the fields are copied onto a new twin, the changed ones set, and the class
restored (~2.0 us for a ``Ticket``, ~4.3 us through its ``__init__``); the solve loop
applies one per ticket and technician its commit wrote and per technician read again with
another queue.

Only a class the generated ``__init__`` describes completely is accepted: a frozen,
slotted dataclass deriving from ``object`` alone, every field in ``__init__`` and
positional, no ``__post_init__``. Anything else raises ``TypeError`` at import. Such a
class cannot be subclassed (``TypeError`` at the subclass's definition): its ``__init__``
would turn an instance of the subclass into one of the class.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

_C = TypeVar("_C", bound=type)
_T = TypeVar("_T")

_REPLACE: dict[type, Callable[[Any, dict[str, Any]], Any]] = {}
"""Per ``quick_init`` class: its replace (``with_changes``)."""


class _Factory:
    """The default of a field with a ``default_factory`` (shown as ``<factory>`` in the
    signature, as the dataclass's own ``__init__`` shows it)."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


def _refuse(cls: type, why: str) -> TypeError:
    return TypeError(f"quick_init({cls.__qualname__}): {why}")


def quick_init(cls: _C) -> _C:
    """Give the frozen, slotted dataclass ``cls`` the quicker ``__init__`` (module doc)."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not (params.frozen and params.init):
        raise _refuse(cls, "not a frozen dataclass with an __init__")
    if "__slots__" not in cls.__dict__ or cls.__bases__ != (object,):
        raise _refuse(cls, "not slotted, or derives from another class")
    if hasattr(cls, "__post_init__"):
        raise _refuse(cls, "has a __post_init__")
    fields = dataclasses.fields(cls)
    for f in fields:
        if not f.init or f.kw_only:
            raise _refuse(
                cls, f"field {f.name!r} is not a positional __init__ argument"
            )
    twin = type(f"{cls.__name__}Fields", (), {"__slots__": cls.__dict__["__slots__"]})
    scope: dict[str, Any] = {
        "_cls": cls,
        "_twin": twin,
        "_set": object.__setattr__,
        "_FACTORY": _FACTORY,
    }
    arguments, made = [], []
    for i, f in enumerate(fields):
        if f.default is not dataclasses.MISSING:
            scope[f"_d{i}"] = f.default
            arguments.append(f"{f.name}=_d{i}")
        elif f.default_factory is not dataclasses.MISSING:
            scope[f"_f{i}"] = f.default_factory
            arguments.append(f"{f.name}=_FACTORY")
            made.append(f"    if {f.name} is _FACTORY:\n        {f.name} = _f{i}()\n")
        else:
            arguments.append(f.name)
    text = (
        f"def __init__(self, {', '.join(arguments)}):\n"
        + "".join(made)  # before the class changes: a factory that raises leaves none
        + "    _set(self, '__class__', _twin)\n"
        + "".join(f"    self.{f.name} = {f.name}\n" for f in fields)
        + "    self.__class__ = _cls\n"
    )
    replace_text = (
        "def replace(item, changes):\n"
        "    new = _new(_twin)\n"
        + "".join(f"    new.{f.name} = item.{f.name}\n" for f in fields)
        + "    for name, value in changes.items():\n"
        "        if name not in _names:\n"
        "            raise TypeError(f'{_cls.__qualname__} has no field {name!r}')\n"
        "        setattr(new, name, value)\n"
        "    new.__class__ = _cls\n"
        "    return new\n"
    )
    scope["_new"] = object.__new__
    scope["_names"] = frozenset(f.name for f in fields)
    # the texts are made of the class's own field names
    exec(text, scope)
    exec(replace_text, scope)
    _REPLACE[cls] = scope["replace"]
    init = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__annotations__ = {f.name: f.type for f in fields} | {"return": None}
    setattr(cls, "__init__", init)  # noqa: B010 - mypy refuses assigning a method
    setattr(cls, "__init_subclass__", classmethod(_no_subclass))  # noqa: B010
    return cls


def _no_subclass(cls: type, /, **kwargs: Any) -> None:
    raise TypeError(
        f"{cls.__qualname__}: a quick_init class cannot be subclassed (dispatcher.frozen)"
    )


def with_changes(item: _T, **changes: Any) -> _T:
    """``dataclasses.replace(item, **changes)`` for an instance of a ``quick_init`` class
    (module doc); a name that is no field raises ``TypeError``, as there."""
    replace = _REPLACE.get(type(item))
    if replace is None:
        raise TypeError(
            f"with_changes: {type(item).__qualname__} is not a quick_init class"
        )
    result: _T = replace(item, changes)
    return result
