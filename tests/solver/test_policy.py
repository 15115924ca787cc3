"""The one policy model (solver.policy): validation naming the field, dict/JSON/TOML round
trips over arbitrary policies, and files of both schema versions."""

from __future__ import annotations

import dataclasses
import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.business_time import BusinessCalendar
from solver.model import CostWeights
from solver.policy import (
    DEFAULT_SLA,
    ESCALATION_CONDITIONS,
    LEGACY_SOLVER_DEFAULTS,
    SUPERVISOR_OVERRIDE,
    DuplicateRule,
    EscalationRule,
    Policy,
    PolicyError,
    SlaTarget,
    SolverSettings,
    load_policy_file,
    policy_from_dict,
    policy_from_json,
    policy_from_toml,
    policy_to_dict,
    policy_to_json,
    policy_to_toml,
    write_policy_file,
)
from solver.validate import MAX_WEIGHT

if TYPE_CHECKING:
    from pathlib import Path

# Any text a TOML file can hold: every code point but lone surrogates (not encodable).
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
names = texts.filter(bool)
amounts = st.floats(min_value=0.0, max_value=1e9, allow_nan=False)
weight_values = st.floats(min_value=0.0, max_value=MAX_WEIGHT, allow_nan=False)
durations = st.floats(min_value=1e-3, max_value=1e8, allow_nan=False)


@st.composite
def sla_targets(draw: st.DrawFn) -> SlaTarget:
    response = draw(durations)
    return SlaTarget(response, response + draw(amounts))


supervisor_targets = st.one_of(
    st.from_regex(r"[A-Za-z0-9._:/-]{1,128}", fullmatch=True),
    st.builds(
        "{}@{}.{}".format,
        st.from_regex(r"[a-z0-9.+_-]{1,20}", fullmatch=True),
        st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True),
        st.from_regex(r"[a-z]{2,6}", fullmatch=True),
    ),
)


@st.composite
def escalation_rule(draw: st.DrawFn, name: str) -> EscalationRule:
    notify = draw(st.booleans())
    target = draw(supervisor_targets if notify else st.just(""))
    return EscalationRule(
        name=name,
        priority=draw(st.integers(0, 4)),
        condition=draw(st.sampled_from(ESCALATION_CONDITIONS)),
        after_s=draw(amounts),
        raise_priority=draw(st.integers(0, 3)),
        widen_to_neighbours=draw(st.booleans()),
        notify_supervisor=notify,
        supervisor_target=target,
    )


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    weights = CostWeights(
        **{f.name: draw(weight_values) for f in dataclasses.fields(CostWeights)}
    )
    rule_names = draw(st.lists(names, max_size=3, unique=True))
    rules = tuple(draw(escalation_rule(n)) for n in rule_names)
    return Policy(
        weights=weights,
        sla=draw(st.dictionaries(st.integers(1, 4), sla_targets(), min_size=1)),
        escalations=rules,
        duplicates=DuplicateRule(
            draw(st.booleans()), draw(st.booleans()), draw(amounts), draw(amounts)
        ),
        solver=SolverSettings(
            cadence_s=draw(durations),
            debounce_ms=draw(st.floats(0.0, 10_000.0)),
            time_limit_s=draw(durations),
            candidates_k=draw(st.integers(1, 10_000)),
            allow_overtime=draw(st.booleans()),
            all_pairs=draw(st.booleans()),
            seed=draw(st.integers(0, 2**31)),
            batch=draw(st.booleans()),
        ),
        neighbours=draw(
            st.dictionaries(names, st.lists(names, max_size=3).map(tuple), max_size=3)
        ),
        name=draw(texts),
        description=draw(texts),
    )


# big composite examples: their generation is timed on the wall clock (too_slow at load 20)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies())
def test_every_policy_survives_dict_json_and_toml(policy: Policy) -> None:
    """Names with quotes, control characters, spaces or dots included (the hand-rolled
    TOML writer this replaced broke on them)."""
    assert policy_from_dict(policy_to_dict(policy)) == policy
    assert policy_from_json(policy_to_json(policy)) == policy
    assert policy_from_toml(policy_to_toml(policy)) == policy


def test_round_trip_through_a_file(tmp_path: Path) -> None:
    policy = Policy(name='tuned "city"\n', neighbours={"north.east": ("south",)})
    path = tmp_path / "p" / "policy.toml"
    write_policy_file(path, policy)
    assert load_policy_file(path) == policy


def test_empty_documents_give_the_defaults() -> None:
    """Version 2: the model's defaults. Version 1: the older solver defaults, all four SLA
    priorities."""
    assert policy_from_toml("schema_version = 2\n") == Policy()
    legacy = policy_from_toml("schema_version = 1\n")
    assert legacy.sla == dict(DEFAULT_SLA)
    for key, value in LEGACY_SOLVER_DEFAULTS.items():
        assert getattr(legacy.solver, key) == value


def test_version_1_file_loads_unchanged() -> None:
    """What the tuner wrote before the model was unified: service sections under [extra],
    one SLA priority given (the others keep their defaults, partial tables merge)."""
    text = """schema_version = 1
name = "tuned"
[weights]
travel = 2.5
[solver]
candidates_k = 8
all_pairs = false
time_limit_s = 10.0
allow_overtime = false
seed = 0
cadence_s = 30.0
[sla.P1]
response_s = 600.0
[extra]
debounce_ms = 50
supervisor_stream = "ops"
escalations = [{ name = "p2-slow", priority = 2, after_s = 900.0 }]
neighbours = { north = ["south"] }
"""
    policy = policy_from_toml(text)
    assert policy.name == "tuned"
    assert policy.weights.travel == 2.5
    assert (policy.solver.candidates_k, policy.solver.cadence_s) == (8, 30.0)
    assert policy.solver.debounce_ms == 50
    assert policy.sla[1] == SlaTarget(600.0, DEFAULT_SLA[1].resolution_s)
    assert policy.sla[4] == DEFAULT_SLA[4]
    # supervisor_stream (notices went to a Redis stream then) is accepted and ignored
    assert policy.escalations == (EscalationRule("p2-slow", priority=2, after_s=900.0),)
    assert policy.neighbours == {"north": ("south",)}


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("schema_version = 3", "schema_version"),
        ("[weights]\ntravel = 1.0", "schema_version"),
        ("schema_version = 2\n[weights]\ntravle = 1.0", "weights.travle"),
        ("schema_version = 2\n[weights]\ntravel = -1.0", "weights.travel"),
        ("schema_version = 2\n[weights]\nbreach = -1.0", "weights.breach"),
        ("schema_version = 2\n[weights]\nbreach = inf", "weights.breach"),
        ("schema_version = 1\n[weights]\ntravel = 'x'", "weights.travel"),
        ("schema_version = 2\n[solver]\ncandidates_k = 0", "solver.candidates_k"),
        ("schema_version = 2\n[solver]\ncandidates_k = 2.5", "solver.candidates_k"),
        ("schema_version = 1\n[solver]\ntime_limit_s = 0", "solver.time_limit_s"),
        ("schema_version = 2\n[solver]\nall_pairs = 1", "solver.all_pairs"),
        ("schema_version = 2\n[solver]\nbatch = 1", "solver.batch"),
        ("schema_version = 1\n[sla.P5]\nresponse_s = 1.0", "sla.P5"),
        (
            "schema_version = 2\n[sla.P1]\nresponse_s = 100.0\nresolution_s = 50.0",
            "sla.P1.resolution_s",
        ),
        ("schema_version = 1\n[extra]\nbogus = 1", "extra.bogus"),
        (
            'schema_version = 2\n[[escalations]]\nname = "x"\ncondition = "never"',
            "escalations[0].condition",
        ),
        ("schema_version = 2\n[neighbours]\nnorth = 'south'", "neighbours.north"),
        ("schema_version = 2\nfoo = 1", "foo"),
        ("schema_version = ", "(file)"),
    ],
)
def test_bad_field_is_named(text: str, field: str) -> None:
    with pytest.raises(PolicyError) as info:
        policy_from_toml(text)
    assert info.value.field == field
    assert str(info.value).startswith(field + ":")


def test_breach_weight_round_trips_and_defaults() -> None:
    """The per-breach weight (issue 13 item 6) is a policy weight like the others: it
    survives dict/JSON/TOML, a file without it takes the default, one with it keeps it."""
    policy = Policy(weights=CostWeights(breach=1234.5))
    assert policy_from_dict(policy_to_dict(policy)) == policy
    assert policy_from_json(policy_to_json(policy)) == policy
    assert policy_from_toml(policy_to_toml(policy)) == policy
    assert "\nbreach = 1234.5\n" in policy_to_toml(policy)
    loaded = policy_from_toml("schema_version = 2\n[weights]\nbreach = 0.0\n")
    assert loaded.weights.breach == 0.0
    assert loaded.weights.lateness == CostWeights().lateness
    assert (
        policy_from_toml("schema_version = 2\n").weights.breach == CostWeights().breach
    )


def test_written_file_lists_every_weight() -> None:
    """The written file lists every CostWeights field, so a reader sees the full policy."""
    text = policy_to_toml(Policy())
    for f in dataclasses.fields(CostWeights):
        assert f"\n{f.name} = " in text


def test_escalation_rule_names_are_unique() -> None:
    rule = EscalationRule(name="a")
    with pytest.raises(PolicyError, match="escalations"):
        Policy(escalations=(rule, rule))


@pytest.mark.parametrize(
    ("target", "notify", "error"),
    [
        ("lead@example.com", True, None),
        ("supervisors:north", True, None),
        ("", False, None),
        ("", True, "is required when notify_supervisor is set"),
        ("lead@localhost", True, "not an email address"),
        ("a@b@example.com", True, "not an email address"),
        ("night shift", True, "neither an email address nor a group id"),
        ("x" * 129, True, "neither an email address nor a group id"),
    ],
)
def test_supervisor_target_is_an_email_or_a_group(
    target: str, notify: bool, error: str | None
) -> None:
    """A rule's supervisor target is an email address or a group id; a rule that notifies
    must name one; errors name the rule's field."""
    rule = EscalationRule(name="r", notify_supervisor=notify, supervisor_target=target)
    if error is None:
        assert Policy(escalations=(rule,)).escalations[0].supervisor_target == target
        return
    with pytest.raises(PolicyError, match=error) as info:
        Policy(escalations=(rule,))
    assert info.value.field == "escalations[0].supervisor_target"


def test_stored_policy_with_a_supervisor_stream_still_loads() -> None:
    """A policy stored before notices became events (a ``supervisor_stream`` key, rules
    without a target) loads, its rules notifying the default group."""
    text = policy_to_json(Policy()).replace(
        '"solver"', '"supervisor_stream": "supervisor", "solver"'
    )
    legacy = text.replace(', "supervisor_target": "supervisors"', "")
    assert "supervisor_target" not in legacy
    loaded = policy_from_json(legacy)
    assert loaded == Policy()
    assert loaded.escalations[0].supervisor_target == "supervisors"


def test_business_hours_targets_round_trip_and_set_due_times() -> None:
    """A P3 target counted in a desk calendar: Fri 16:00 + 8 h response = Mon 16:00
    (Berlin), P1 without a calendar keeps elapsed seconds; dict, JSON and TOML keep it."""
    desk = BusinessCalendar(time_zone="Europe/Berlin", holidays=("2026-12-25",))
    policy = Policy(
        sla={
            1: SlaTarget(3600.0, 7200.0),
            3: SlaTarget(8 * 3600.0, 16 * 3600.0, calendar="desk"),
        },
        calendars={"desk": desk},
    )
    assert policy_from_toml(policy_to_toml(policy)) == policy
    assert policy_from_json(policy_to_json(policy)) == policy
    berlin = ZoneInfo("Europe/Berlin")
    fri = datetime.datetime(2026, 3, 6, 16, tzinfo=berlin).timestamp()
    mon16 = datetime.datetime(2026, 3, 9, 16, tzinfo=berlin).timestamp()
    tue16 = datetime.datetime(2026, 3, 10, 16, tzinfo=berlin).timestamp()
    assert policy.due_times(3, fri) == (mon16, tue16)
    assert policy.due_times(3, fri * 1000, per_second=1000.0) == (
        mon16 * 1000,
        tue16 * 1000,
    )
    assert policy.due_times(1, fri) == (fri + 3600.0, fri + 7200.0)
    # a clock counted from a virtual origin (the simulator): created = 0 at Friday 16:00
    assert policy.due_times(3, 0.0, origin_s=fri) == (mon16 - fri, tue16 - fri)


def test_an_undefined_or_bad_calendar_is_named() -> None:
    with pytest.raises(PolicyError) as err:
        Policy(sla={1: SlaTarget(1.0, 2.0, calendar="nope")})
    assert err.value.field == "sla.P1.calendar"
    with pytest.raises(PolicyError) as err:
        policy_from_dict({"calendars": {"desk": {"time_zone": "Mars/Base"}}})
    assert err.value.field == "calendars.desk.time_zone"


def test_a_pause_moves_due_times_by_the_clock_it_took() -> None:
    """Pause rule: elapsed clock moves by the wait; a desk clock counts on the working time
    left at the pause (Fri 16:00 pause, due Mon 16:00 = 8 h left; resumed Mon 10:00 ->
    7 h on Monday + 1 h on Tuesday = Tue 10:00); overdue and unset due times stay."""
    berlin = ZoneInfo("Europe/Berlin")

    def at(d: int, h: int) -> float:
        return datetime.datetime(2026, 3, d, h, tzinfo=berlin).timestamp()

    desk = BusinessCalendar(time_zone="Europe/Berlin")
    policy = Policy(
        sla={1: SlaTarget(60.0, 120.0), 3: SlaTarget(60.0, 120.0, calendar="desk")},
        calendars={"desk": desk},
    )
    assert policy.resumed_due_times(1, (1000.0, 0.0), 100.0, 400.0) == (1300.0, 0.0)
    assert policy.resumed_due_times(1, (50.0, 2000.0), 100.0, 400.0) == (50.0, 2300.0)
    got = policy.resumed_due_times(3, (at(9, 16), at(9, 16)), at(6, 16), at(9, 10))
    assert got == (at(10, 10), at(10, 10))
    ms = policy.resumed_due_times(
        3,
        (at(9, 16) * 1000, 0.0),
        at(6, 16) * 1000,
        at(9, 10) * 1000,
        per_second=1000.0,
    )
    assert ms == (at(10, 10) * 1000, 0.0)


def test_tier_escalation_fields_are_checked() -> None:
    """tier_level needs tier_skill and lies in 1..10; both survive TOML."""
    ok = Policy(
        escalations=(EscalationRule(name="l2", tier_skill="desk", tier_level=2),)
    )
    assert policy_from_toml(policy_to_toml(ok)) == ok
    for kw, field in (
        ({"tier_level": 2}, "escalations[0].tier_level"),
        ({"tier_skill": "desk", "tier_level": 0}, "escalations[0].tier_level"),
        ({"tier_skill": "desk", "tier_level": 11}, "escalations[0].tier_level"),
        ({"tier_skill": "no spaces", "tier_level": 1}, "escalations[0].tier_skill"),
        # the supervisor override's name is reserved: its mark must stay its own
        ({"name": SUPERVISOR_OVERRIDE}, "escalations[0].name"),
    ):
        with pytest.raises(PolicyError) as err:
            Policy(escalations=(EscalationRule(**{"name": "x", **kw}),))  # type: ignore[arg-type]
        assert err.value.field == field


def test_batch_planning_is_off_unless_the_policy_sets_it() -> None:
    """The live loop and the simulator solve with the default policy's parameters: no
    batch planning; a policy file's ``[solver] batch = true`` reaches the solver."""
    assert Policy().solve_params().batch is False
    on = policy_from_toml("schema_version = 2\n[solver]\nbatch = true\n")
    assert on.solver.batch is True
    assert on.solve_params().batch is True
