"""Business-hours SLA clocks in the simulator: the policy's calendar sets the due times."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simulations.runner import build_stream
from simulations.scenario import load_scenario
from simulations.streams import SYNTHETIC_ORIGIN, origin_s
from solver.business_time import add_business_seconds

SCENARIOS = Path(__file__).resolve().parents[2] / "simulations" / "scenarios"

DESK = """
[calendars.desk]
time_zone = "Europe/Berlin"
days = [1, 2, 3, 4, 5]
start = "09:00"
end = "17:00"
"""


def test_due_times_follow_the_desk_calendar(tmp_path: Path) -> None:
    """Help desk with every priority on a 09:00-17:00 Berlin calendar: each due time is the
    calendar's business-seconds sum from the ticket's submit instant (virtual t = 0 is
    Monday 5 Jan 2026 00:00 UTC), never the plain elapsed sum."""
    text = (SCENARIOS / "helpdesk.toml").read_text(encoding="utf-8") + DESK
    for p, (resp, res) in {1: (3600, 14400), 2: (14400, 28800)}.items():
        text += f'\n[sla.P{p}]\nresponse_s = {resp}.0\nresolution_s = {res}.0\ncalendar = "desk"\n'
    for p in (3, 4):
        text += f'\n[sla.P{p}]\nresponse_s = 28800.0\nresolution_s = 86400.0\ncalendar = "desk"\n'
    path = tmp_path / "desk.toml"
    path.write_text(text, encoding="utf-8")
    sc = load_scenario(path)
    origin = origin_s(sc)
    assert origin == SYNTHETIC_ORIGIN.timestamp()
    stream = build_stream(sc, np.random.default_rng(1), 1)
    cal = sc.policy.calendars["desk"]
    for i in range(0, stream.count, 37):
        target = sc.policy.sla_for(int(stream.priority[i]))
        want = add_business_seconds(
            cal, origin + stream.created_s[i], target.response_s
        )
        assert stream.response_due_s[i] == want - origin
    # a P3 submitted at 00:30 UTC (01:30 Berlin) is due at 17:00 Berlin = 16:00 UTC
    early = np.flatnonzero((stream.priority == 3) & (stream.created_s < 7 * 3600))
    assert early.size
    assert stream.response_due_s[early[0]] == 16 * 3600.0
