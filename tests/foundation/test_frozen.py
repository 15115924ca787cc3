"""``dispatcher.frozen.quick_init``: the quicker ``__init__`` builds what the dataclass's
own ``__init__`` builds, takes the same arguments, and refuses a class it cannot describe."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher import domain
from dispatcher.frozen import quick_init, with_changes
from dispatcher.loop import problem

QUICK = [
    domain.Assignment,
    domain.Ticket,
    domain.Technician,
    domain.SubmitTicket,
    domain.Event,
    problem.TicketView,
    problem.TechnicianView,
]


def _plain_twin(cls: type) -> type:
    """The same fields in a dataclass with the dataclass's own frozen ``__init__``."""
    spec = [
        (
            f.name,
            f.type,
            dataclasses.field(default=f.default, default_factory=f.default_factory),
        )
        for f in dataclasses.fields(cls)
    ]
    return dataclasses.make_dataclass(cls.__name__, spec, frozen=True, slots=True)


def _values(obj: Any) -> list[Any]:
    return [getattr(obj, f.name) for f in dataclasses.fields(obj)]


@pytest.mark.parametrize("cls", QUICK, ids=lambda c: c.__name__)
def test_the_quick_init_is_in_place_with_the_dataclass_signature(cls: type) -> None:
    assert cls.__init__.__code__.co_filename != dataclasses.__file__  # type: ignore[misc]
    assert str(inspect.signature(cls)) == str(inspect.signature(_plain_twin(cls)))
    assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"  # type: ignore[misc]


_ANY = st.one_of(
    st.integers(), st.text(max_size=5), st.none(), st.tuples(st.integers())
)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(QUICK), st.data())
def test_a_quick_init_builds_what_the_dataclass_init_builds(
    cls: type, data: st.DataObject
) -> None:
    fields = dataclasses.fields(cls)
    required = sum(
        f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        for f in fields
    )
    positional = data.draw(st.integers(required, len(fields)), label="positional")
    rest = fields[positional:]
    keywords = data.draw(
        st.lists(st.sampled_from(rest), unique=True) if rest else st.just([]),
        label="keywords",
    )
    args = [data.draw(_ANY) for _ in range(positional)]
    kwargs = {f.name: data.draw(_ANY) for f in keywords}
    twin = _plain_twin(cls)

    built, expected = cls(*args, **kwargs), twin(*args, **kwargs)
    assert type(built) is cls
    assert _values(built) == _values(expected)
    assert built == cls(*_values(expected))
    try:
        assert hash(built) == hash(tuple(_values(expected)))
    except TypeError:  # an unhashable value (a default dict): the twin's hash fails too
        with pytest.raises(TypeError):
            hash(expected)
    copy = pickle.loads(pickle.dumps(built))
    assert type(copy) is cls
    assert all(  # a default nan is itself only before pickling
        a == b or (a != a and b != b)
        for a, b in zip(_values(copy), _values(built), strict=True)
    )
    name = data.draw(st.sampled_from(fields)).name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(built, name, 1)
    assert _values(dataclasses.replace(built, **{name: "x"})) == [
        "x" if f.name == name else v
        for f, v in zip(fields, _values(built), strict=True)
    ]
    first, second = cls(*args[:required]), cls(*args[:required])
    for f in fields:  # a default factory makes a new value per instance
        if f.default_factory is not dataclasses.MISSING:
            assert getattr(first, f.name) == f.default_factory()
            assert getattr(first, f.name) is not getattr(second, f.name)


@pytest.mark.parametrize("cls", QUICK, ids=lambda c: c.__name__)
def test_a_wrong_call_is_refused_as_the_dataclass_refuses_it(cls: type) -> None:
    fields = dataclasses.fields(cls)
    twin = _plain_twin(cls)
    for args, kwargs in (
        ((), {}),
        ((0,) * (len(fields) + 1), {}),
        ((0,) * len(fields), {"no_such_field": 1}),
        ((0,) * len(fields), {fields[0].name: 1}),
    ):
        with pytest.raises(TypeError):
            twin(*args, **kwargs)
        with pytest.raises(TypeError):
            cls(*args, **kwargs)


def test_a_class_the_quick_init_cannot_describe_is_refused() -> None:
    @dataclasses.dataclass(slots=True)
    class Mutable:
        a: int

    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class PostInit:
        a: int

        def __post_init__(self) -> None:
            pass

    @dataclasses.dataclass(frozen=True, slots=True)
    class KeywordOnly:
        a: int = dataclasses.field(kw_only=True)

    @dataclasses.dataclass(frozen=True, slots=True)
    class NotInInit:
        a: int = dataclasses.field(init=False, default=0)

    @dataclasses.dataclass(frozen=True, slots=True)
    class Base:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Derived(Base):
        b: int

    for cls in (Mutable, NoSlots, PostInit, KeywordOnly, NotInInit, Derived):
        with pytest.raises(TypeError, match="quick_init"):
            quick_init(cls)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(QUICK), st.data())
def test_with_changes_is_the_dataclass_replace(cls: type, data: st.DataObject) -> None:
    fields = dataclasses.fields(cls)
    item = cls(*(data.draw(_ANY) for _ in fields))
    changed = data.draw(st.lists(st.sampled_from(fields), unique=True), label="changed")
    changes = {f.name: data.draw(_ANY) for f in changed}

    after = with_changes(item, **changes)
    assert type(after) is cls
    assert _values(after) == _values(dataclasses.replace(item, **changes))
    assert _values(item) == [getattr(item, f.name) for f in fields]  # itself unchanged
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(after, fields[0].name, 1)


def test_with_changes_refuses_what_replace_refuses_and_other_classes() -> None:
    ticket = domain.Ticket("t", "r", 1, 60)
    with pytest.raises(TypeError, match="no field 'no_such_field'"):
        with_changes(ticket, no_such_field=1)
    with pytest.raises(TypeError, match="not a quick_init class"):
        with_changes(domain.CostTerm("x", 1.0), value=2.0)


@pytest.mark.parametrize("cls", QUICK, ids=lambda c: c.__name__)
def test_a_quick_init_class_cannot_be_subclassed(cls: type) -> None:
    # its __init__ would turn the subclass's instance into one of the class itself
    with pytest.raises(TypeError, match="cannot be subclassed"):
        type("Sub", (cls,), {"__slots__": ()})
