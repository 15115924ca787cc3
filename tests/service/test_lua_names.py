"""One spelling for Python and Lua: the scripts' key suffixes, event types, commit and reply
codes, statuses and unassigned reasons are generated from ``keys.py`` / the enums of
``domain`` and ``outcomes`` (``store.lua.NAMES``), checked here on a real Redis."""

from __future__ import annotations

import importlib
import pkgutil
import re
from typing import TYPE_CHECKING

import pytest
from redis.exceptions import ResponseError

import dispatcher.store
from dispatcher.domain import (
    EventType,
    TechnicianStatus,
    TicketStatus,
    UnassignedReason,
)
from dispatcher.store import keys, lua
from dispatcher.store.outcomes import CommitCode, ScriptReply

if TYPE_CHECKING:
    import redis.asyncio

pytestmark = pytest.mark.integration

T, R = "acme", "north"


async def _run(client: redis.asyncio.Redis, body: str, *args: str) -> object:
    return await client.eval(lua.NAMES + body, 0, *args)  # type: ignore[misc]


async def test_keys_built_in_lua_equal_the_python_keys(
    redis_client: redis.asyncio.Redis,
) -> None:
    got = await _run(
        redis_client,
        """
        local P, id = ARGV[1], ARGV[2]
        return {P .. K.TICKET .. id, P .. K.TECH .. id, P .. K.TECH_QUEUE .. id,
          P .. K.REQUEST .. id, P .. K.EVENTS, P .. K.EVENTS_TRIMMED, P .. K.LEASE,
          P .. K.LEASE_OWNER, P .. K.LEASE_SEQ, P .. K.SLA_MARKS, P .. K.MOVING, P .. K.LOCATED,
          P .. K.MODEL_READ}
        """,
        keys.region_prefix(T, R),
        "X-1",
    )
    assert got == [
        keys.ticket_key(T, R, "X-1"),
        keys.technician_key(T, R, "X-1"),
        keys.technician_queue_key(T, R, "X-1"),
        keys.request_key(T, R, "X-1"),
        keys.events_key(T, R),
        keys.events_trimmed_key(T, R),
        keys.lease_key(T, R),
        keys.lease_owner_key(T, R),
        keys.lease_counter_key(T, R),
        keys.sla_marks_key(T, R),
        keys.moving_key(T, R),
        keys.located_key(T, R),
        keys.model_read_key(T, R),
    ]


@pytest.mark.parametrize(
    ("table", "python"),
    [
        ("K", keys.REGION_SUFFIXES),
        ("EV", {e.name: e.value for e in EventType}),
        ("C", {c.name: c.value for c in CommitCode}),
        ("ST", {s.name: s.value for s in TicketStatus}),
        ("TS", {s.name: s.value for s in TechnicianStatus}),
        ("UR", {r.name: r.value for r in UnassignedReason if r.value}),
        ("R", {r.name: r.value for r in ScriptReply}),
    ],
)
async def test_lua_tables_hold_the_python_names(
    redis_client: redis.asyncio.Redis, table: str, python: dict[str, str]
) -> None:
    flat = await _run(
        redis_client,
        f"local out = {{}} for k, v in pairs({table}) do out[#out + 1] = k; "
        "out[#out + 1] = v end return out",
    )
    assert isinstance(flat, list)
    assert dict(zip(flat[::2], flat[1::2], strict=True)) == python


@pytest.mark.parametrize(
    "name", ["EV.TICKET_TELEPORTED", "K.TICKETS_TYPO", "C.MAYBE", "ST.QUEUD", "R.MAYBE"]
)
async def test_a_name_lua_does_not_know_is_an_error_not_nil(
    redis_client: redis.asyncio.Redis, name: str
) -> None:
    table, missing = name.split(".")
    with pytest.raises(ResponseError, match=f"{table} has no {missing}"):
        await _run(redis_client, f"return {name}")


async def test_a_script_reads_its_names_as_literals(
    redis_client: redis.asyncio.Redis,
) -> None:
    """``lua.script`` replaces each name a script reads by its value (as in ``NAMES``) and
    leaves the name tables out (Redis would build them on every call); its source stays
    the code as written; a name no table has is an error at once."""
    code = "return {EV.TICKET_ASSIGNED, C.LEASE, C.LEASE, NEW.status}"
    text = lua.script(lua.NAMES + code)
    assert await redis_client.eval(text, 0) == [  # type: ignore[misc]
        EventType.TICKET_ASSIGNED.value,
        CommitCode.LEASE.value,
        CommitCode.LEASE.value,
        TicketStatus.QUEUED.value,
    ]
    assert "strict" not in text
    assert "local EV " not in text
    assert "TICKET_SUBMITTED" not in text
    assert lua.code_of(text).strip() == code
    with pytest.raises(ValueError, match="EV has no TICKET_TELEPORTED"):
        lua.script(lua.NAMES + "return EV.TICKET_TELEPORTED")


@pytest.mark.parametrize(
    "code",
    ["return EV[ARGV[1]]", "for k in pairs(ST) do end", "local t = UR return t.NONE"],
)
def test_a_script_that_reads_a_table_otherwise_is_refused(code: str) -> None:
    with pytest.raises(ValueError, match=r"other than as TABLE\.NAME"):
        lua.script(lua.NAMES + code)


def test_every_store_script_is_cut_to_its_names() -> None:
    """Each script text of the store that has name tables went through ``lua.script``
    (``PRELUDE``, imported where scripts start with it, is a part, not a script)."""
    uncut = [
        where
        for where, text in _lua_sources().items()
        if lua.NAMES in text and text is not lua.PRELUDE
    ]
    assert uncut == []


def _lua_sources() -> dict[str, str]:
    """Every Lua script text of the store, by ``module.NAME``."""
    found = {}
    for info in pkgutil.iter_modules(dispatcher.store.__path__):
        module = importlib.import_module(f"dispatcher.store.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, str) and "redis.call" in value:
                found[f"{info.name}.{name}"] = value
    return found


def test_no_script_spells_a_key_suffix_or_event_type_itself() -> None:
    sources = _lua_sources()
    assert "lua.COMMIT_ASSIGNMENTS" in sources
    assert "moves.MOVE_DONE" in sources
    suffixes = "|".join(re.escape(s) for s in keys.REGION_SUFFIXES.values())
    spelled_key = re.compile(rf"\.\.\s*'({suffixes})'|'({suffixes})'\s*\.\.")
    spelled_event = re.compile("'(" + "|".join(e.value for e in EventType) + ")'")
    for where, text in sources.items():
        body = lua.code_of(text)
        assert not spelled_key.search(body), where
        assert not spelled_event.search(body), where
    commit = lua.code_of(sources["lua.COMMIT_ASSIGNMENTS"])
    codes = "|".join(CommitCode)
    assert not re.search(rf"(code\s*[=~]?=|out\[#out \+ 1\] =)\s*'({codes})'", commit)


def _spelled_names(text: str) -> set[str]:
    """The Python-owned names a script spells itself: as (part of) a string literal, or as a
    bare table key (``{QUEUED = true}``). Comments, the generated tables and the Redis
    command names (``redis.call('EXISTS', ...)``) are not looked at."""
    owned = {
        str(v)
        for kind in (
            TicketStatus,
            TechnicianStatus,
            UnassignedReason,
            EventType,
            CommitCode,
            ScriptReply,
        )
        for v in kind
        if v
    }
    code = re.sub(r"--[^\n]*", "", lua.code_of(text))
    code = re.sub(r"redis\.call\('[A-Z]+'", "redis.call(", code)
    literals = re.findall(r"'([^'\n]*)'", code)
    found = {w for lit in literals for w in re.findall(r"[A-Z][A-Z_]*", lit)} & owned
    bare = re.sub(r"'[^'\n]*'", "''", code)
    found |= set(re.findall(r"(?<![\w.\[])([A-Z][A-Z_]*)\s*=(?!=)", bare)) & owned
    return found


def test_no_script_spells_a_status_reason_or_reply_code_itself() -> None:
    """Ticket/technician statuses (ST, TS), unassigned reasons (UR), commit codes (C) and
    the scripts' reply codes (R) come from their Python enums, so a renamed one cannot
    drift between the two languages."""
    assert _spelled_names("if st == 'QUEUED:' then return {'NOT_FOUND'} end") == {
        "QUEUED",
        "NOT_FOUND",
    }
    assert _spelled_names("local a = {ASSIGNED = true, [ST.ACCEPTED] = true}") == {
        "ASSIGNED"
    }
    assert _spelled_names("redis.call('EXISTS', k) -- 'QUEUED'") == set()
    spelled = {
        where: names
        for where, text in _lua_sources().items()
        if (names := _spelled_names(text))
    }
    assert spelled == {}
