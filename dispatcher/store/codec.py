"""The one codec between domain objects and what ``RedisStateStore`` keeps in Redis (JSON).

Ticket / technician hashes hold a JSON ``body`` with the client-given fields plus plain
hash fields for what the Lua scripts read and change (status, version, holder, ...).
Stream entries hold short field names (see ``store.lua``).
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import fields
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import orjson

from dispatcher.domain import (
    SUBMITTED_REASON,
    Assignment,
    CostTerm,
    Event,
    EventType,
    Location,
    MoveReason,
    Resolution,
    ResolutionCode,
    Shift,
    SkillLevel,
    Technician,
    TechnicianStatus,
    Ticket,
    TicketStatus,
    UnassignedReason,
)
from dispatcher.frozen import with_changes
from dispatcher.store.outcomes import CommitCode

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence


def dumps(value: Any) -> str:
    """Compact JSON (UTF-8, no spaces), as the Lua scripts' cjson reads it."""
    return orjson.dumps(value).decode()


_loads = orjson.loads


def pairs_to_dict(flat: Sequence[Any]) -> dict[str, str]:
    """HGETALL's flat ``[k1, v1, k2, v2, ...]`` reply (from Lua) as a dict (the client
    decodes replies: names and values are already strings)."""
    it = iter(flat)
    return dict(zip(it, it, strict=True))


_E = TypeVar("_E", bound=enum.Enum)
K = TypeVar("K")
V = TypeVar("V")


def _member_of(kind: type[_E]) -> Callable[[str], _E]:
    """``kind(value)`` by a dict lookup (an Enum call costs ~1 us, a decode makes several);
    a value that is no member still raises the Enum's own ValueError."""
    members: dict[object, _E] = {m.value: m for m in kind}

    def member(value: str) -> _E:
        hit = members.get(value)
        return hit if hit is not None else kind(value)

    return member


_ticket_status = _member_of(TicketStatus)
commit_code = _member_of(CommitCode)
"""A commit outcome code (``lua.COMMIT_ASSIGNMENTS``'s reply) as its ``CommitCode``."""
_technician_status = _member_of(TechnicianStatus)
_unassigned_reason = _member_of(UnassignedReason)
_event_type = _member_of(EventType)
_move_reason = _member_of(MoveReason)


def location_text(loc: Location | None) -> str:
    """``"lat,lon"`` (exact floats; ``""`` for none): an asset's location, a reservation's."""
    return "" if loc is None else f"{loc.lat_deg!r},{loc.lon_deg!r}"


def location_from_text(text: str) -> Location | None:
    """The inverse of :func:`location_text`."""
    if not text:
        return None
    lat, lon = text.split(",")
    return Location(float(lat), float(lon))


# --- tickets ----------------------------------------------------------------------------


def request_digest(t: Ticket, allow_duplicate: bool = False) -> str:
    """Digest of a submit request's payload, stored with its request-id reservation."""
    body = ticket_body(t, allow_duplicate=allow_duplicate or t.allow_duplicate)
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def ticket_body(
    t: Ticket,
    *,
    response_due_ms: int = 0,
    resolution_due_ms: int = 0,
    allow_duplicate: bool = False,
    location: Location | None = None,
) -> str:
    """JSON of the client-given fields of a ticket (everything Lua never changes).

    The keyword arguments, when set, override the ticket's SLA due times / duplicate flag /
    location (values derived on submit, without copying the ticket).
    """
    body: dict[str, Any] = {
        "id": t.ticket_id,
        "region": t.region,
        "prio": t.priority,
        "dur": t.work_duration_s,
    }
    if t.category:
        body["cat"] = t.category
    if t.title:
        body["title"] = t.title
    if t.description:
        body["desc"] = t.description
    if t.required_skills:
        body["skills"] = [[s.skill, s.level] for s in t.required_skills]
    loc = location or t.location
    if loc is not None:
        body["loc"] = [loc.lat_deg, loc.lon_deg]
    if t.asset_id:
        body["asset"] = t.asset_id
    if t.customer_tier:
        body["tier"] = t.customer_tier
    if t.window_start_ms or t.window_end_ms:
        body["win"] = [t.window_start_ms, t.window_end_ms]
    body["sla"] = [
        response_due_ms or t.response_due_ms,
        resolution_due_ms or t.resolution_due_ms,
    ]
    if t.preferred_technician_ids:
        body["pref"] = list(t.preferred_technician_ids)
    if t.excluded_technician_ids:
        body["excl"] = list(t.excluded_technician_ids)
    if t.attributes:
        body["attrs"] = dict(t.attributes)
    if t.allow_duplicate or allow_duplicate:
        body["allow_dup"] = True
    return dumps(body)


def assignment_json(a: Assignment) -> str:
    body: dict[str, Any] = {
        "tech": a.technician_id,
        "pos": a.position,
        "arr": a.expected_arrival_ms,
        "start": a.expected_start_ms,
        "fin": a.expected_finish_ms,
        "met": a.sla_predicted_met,
        "terms": [[c.name, c.value] for c in a.cost_terms],
        "cost": a.total_cost,
        "sid": a.solve_id,
        "at": a.assigned_at_ms,
    }
    if a.move_reason:
        body["mv"] = [a.move_reason.value, a.move_gain]
    return dumps(body)


def assignment_from_json(text: str) -> Assignment | None:
    if not text:
        return None
    d = _loads(text)
    return Assignment(
        technician_id=d["tech"],
        position=int(d.get("pos", 0)),
        expected_arrival_ms=int(d.get("arr", 0)),
        expected_start_ms=int(d.get("start", 0)),
        expected_finish_ms=int(d.get("fin", 0)),
        sla_predicted_met=bool(d.get("met", False)),
        cost_terms=tuple(CostTerm(str(n), float(v)) for n, v in d.get("terms", ())),
        total_cost=float(d.get("cost", 0.0)),
        solve_id=str(d.get("sid", "")),
        assigned_at_ms=int(d.get("at", 0)),
        move_reason=_move_reason(d["mv"][0]) if "mv" in d else MoveReason.NONE,
        move_gain=float(d["mv"][1]) if "mv" in d else 0.0,
    )


def resolution_json(r: Resolution) -> str:
    return dumps({"code": r.code.value, "notes": r.notes})


def _int(h: Mapping[str, str], key: str) -> int:
    value = h.get(key, "")
    return int(value) if value else 0


_BODY_FIELDS = (
    "ticket_id",
    "region",
    "priority",
    "work_duration_s",
    "category",
    "title",
    "description",
    "required_skills",
    "location",
    "asset_id",
    "customer_tier",
    "window_start_ms",
    "window_end_ms",
    "response_due_ms",
    "resolution_due_ms",
    "preferred_technician_ids",
    "excluded_technician_ids",
    "attributes",
    "allow_duplicate",
)
"""The ``Ticket`` fields a ticket body (:func:`ticket_body`) holds, in ``Ticket``'s order."""
_HASH_FIELDS = (
    "status",
    "version",
    "assignment",
    "declined_by_technician_ids",
    "unassigned_reason",
    "duplicate_of_ticket_id",
    "resolution",
    "cancel_reason",
    "created_at_ms",
    "updated_at_ms",
    "accepted_at_ms",
    "started_at_ms",
    "closed_at_ms",
    "escalation_level",
    "pending_since_ms",
)
"""The ``Ticket`` fields the hash holds beside the body, in ``Ticket``'s order."""
if tuple(f.name for f in fields(Ticket)) != _BODY_FIELDS + _HASH_FIELDS:
    # ticket_from_hash builds a Ticket positionally (a keyword call costs ~25% more)
    raise ImportError("dispatcher.domain.Ticket's fields changed: update store.codec")
_PRIORITY = _BODY_FIELDS.index("priority")


def _body_fields(text: str) -> tuple[Any, ...]:
    """The values of a ticket body's fields (:func:`ticket_body`), in ``_BODY_FIELDS``
    order (the priority: the one it was submitted with)."""
    b = _loads(text)
    get = b.get
    loc = get("loc")
    win = get("win", (0, 0))
    sla = get("sla", (0, 0))
    skills = get("skills")
    return (
        b["id"],
        b["region"],
        int(b["prio"]),
        int(b["dur"]),
        get("cat", ""),
        get("title", ""),
        get("desc", ""),
        tuple(SkillLevel(s, int(lv)) for s, lv in skills) if skills else (),
        Location(float(loc[0]), float(loc[1])) if loc else None,
        get("asset", ""),
        int(get("tier", 0)),
        int(win[0]),
        int(win[1]),
        int(sla[0]),
        int(sla[1]),
        tuple(get("pref", ())),
        tuple(get("excl", ())),
        get("attrs", {}),
        bool(get("allow_dup", False)),
    )


class _Decoded(Generic[K, V]):
    """Decodings by their raw text, at most ``max_entries`` (all forgotten when full: the
    working set of a region is small and refills within a cycle)."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._by_raw: dict[K, V] = {}

    def get(self, raw: K, decode: Callable[[K], V]) -> V:
        """The decoding of ``raw``: remembered, or ``decode(raw)`` remembered."""
        hit = self._by_raw.get(raw)
        if hit is None:
            if len(self._by_raw) >= self.max_entries:
                self._by_raw.clear()
            hit = self._by_raw[raw] = decode(raw)
        return hit


class BodyCache:
    """Decoded ticket bodies by their JSON text. A ticket's body (the client-given
    fields) changes only on an update, while the solve loop re-reads the ticket on every
    change of its live fields (assigned, accepted, ...): the body is then decoded once.
    Holds at most ``max_entries`` (cleared when full)."""

    def __init__(self, max_entries: int = 20_000) -> None:
        self._decoded: _Decoded[str, tuple[Any, ...]] = _Decoded(max_entries)

    def fields(self, text: str) -> tuple[Any, ...]:
        return self._decoded.get(text, _body_fields)


def ticket_from_hash(h: Mapping[str, str], bodies: BodyCache | None = None) -> Ticket:
    """Decode a ticket hash (HGETALL) into the domain ticket (``bodies``: decoded bodies
    to reuse)."""
    get = h.get
    body = _body_fields(h["body"]) if bodies is None else bodies.fields(h["body"])
    prio = get("prio")
    if prio:  # the live priority (an escalation changes it), else the body's
        body = (*body[:_PRIORITY], int(prio), *body[_PRIORITY + 1 :])
    declined_text = get("declined")
    declined = _loads(declined_text) if declined_text else ()
    res_text = get("res")
    res = _loads(res_text) if res_text else None
    asg = get("asg")
    created = int(get("created") or 0)
    live: tuple[Any, ...] = (
        _ticket_status(h["status"]),
        int(get("version") or 0),
        assignment_from_json(asg) if asg else None,
        tuple(declined) if isinstance(declined, list) else (),
        _unassigned_reason(get("ureason", SUBMITTED_REASON)),
        get("dup", ""),
        Resolution(ResolutionCode(res["code"]), res.get("notes", "")) if res else None,
        get("creason", ""),
        created,
        int(get("updated") or 0) or created,
        int(get("accepted") or 0),
        int(get("started") or 0),
        int(get("closed") or 0),
        int(get("esc") or 0),
        int(get("paused") or 0),
    )
    return Ticket(*body, *live)


# --- technicians ------------------------------------------------------------------------


def technician_body(t: Technician) -> str:
    body: dict[str, Any] = {
        "id": t.technician_id,
        "region": t.region,
        "speed": t.travel_speed_kmh,
    }
    if t.display_name:
        body["name"] = t.display_name
    if t.skills:
        body["skills"] = [[s.skill, s.level] for s in t.skills]
    if t.attributes:
        body["attrs"] = dict(t.attributes)
    if t.concurrency != 1:
        body["conc"] = t.concurrency
    return dumps(body)


def shifts_json(shifts: Sequence[Shift]) -> str:
    return dumps([[s.start_ms, s.end_ms] for s in shifts])


def technician_from_hash(h: Mapping[str, str], queue: Sequence[str] = ()) -> Technician:
    b = _loads(h["body"])
    shifts_text = h.get("shifts", "")
    lat, lon = h.get("lat", ""), h.get("lon", "")
    return Technician(
        technician_id=b["id"],
        region=b["region"],
        status=_technician_status(h["status"]),
        capacity=_int(h, "cap"),
        display_name=b.get("name", ""),
        skills=tuple(SkillLevel(s, int(lv)) for s, lv in b.get("skills", ())),
        location=Location(float(lat), float(lon)) if lat and lon else None,
        location_updated_at_ms=_int(h, "loc_ms"),
        shifts=tuple(
            Shift(int(a), int(b_))
            for a, b_ in (_loads(shifts_text) if shifts_text else ())
        ),
        travel_speed_kmh=float(b.get("speed", 40.0)),
        attributes=b.get("attrs", {}),
        concurrency=int(b.get("conc", 1)),
        queue_ticket_ids=tuple(str(q) for q in queue),
        version=_int(h, "version"),
        created_at_ms=_int(h, "created"),
        updated_at_ms=_int(h, "updated") or _int(h, "created"),
    )


class TechnicianCache:
    """Decoded technicians by their raw hash (HGETALL's flat reply). The region feed
    re-reads a technician on every change of its queue (each assignment, each ticket that
    leaves it), which leaves its hash as it was: the technician is then decoded once and
    only its queue replaced. Holds at most ``max_entries`` (cleared when full)."""

    def __init__(self, max_entries: int = 20_000) -> None:
        self._decoded: _Decoded[tuple[str, ...], Technician] = _Decoded(max_entries)

    def technician(self, flat: Sequence[Any], queue: Sequence[Any] = ()) -> Technician:
        """``technician_from_hash(pairs_to_dict(flat), queue)``, reusing a decoding of the
        same hash."""
        hit = self._decoded.get(
            tuple(flat), lambda _: technician_from_hash(pairs_to_dict(flat), queue)
        )
        ids = tuple(str(q) for q in queue)
        if ids == hit.queue_ticket_ids:
            return hit
        return with_changes(hit, queue_ticket_ids=ids)


# --- events -----------------------------------------------------------------------------


def event_from_entry(region: str, event_id: str, f: Mapping[str, str]) -> Event:
    """Decode one stream entry (field names as written by ``store.lua.emit``)."""
    st = f.get("st", "")
    details: dict[str, str] = {}
    if "d" in f:
        details = {str(k): str(v) for k, v in _loads(f["d"]).items()}
    return Event(
        event_id=event_id,
        region=region,
        type=_event_type(f["type"]),
        occurred_at_ms=int(f.get("at", "0")),
        ticket_id=f.get("tk", ""),
        technician_id=f.get("tc", ""),
        previous_technician_id=f.get("ptc", ""),
        ticket_status=_ticket_status(st) if st else None,
        ticket_version=int(f.get("v", "0")),
        technician_version=int(f.get("tv", "0")),
        priority=int(f.get("p", "0")),
        assignment=assignment_from_json(f.get("asg", "")),
        unassigned_reason=_unassigned_reason(f.get("ur", "")),
        reason=f.get("r", ""),
        solve_id=f.get("sid", ""),
        duplicate_of_ticket_id=f.get("dup", ""),
        details=details,
    )
