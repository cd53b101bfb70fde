"""Property tests: random reading sequences never crash a rule and never produce an alarm without a cause.

The cause of each alarm kind is checked against an independent model of what happened (what was read, when,
and what time of day it was), not against the rules' own state.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.events import EventDraft, Priority
from gateway.rules.settings import RulesSettings
from gateway.rules.windows import Window
from tests.rules.support import SHANGHAI, FakeClock, Harness, local_ms

pytestmark = pytest.mark.timeout(120)

RULES = RulesSettings.model_validate(
    {
        "night_window": "22:00-06:00",
        "inactivity": {"after_s": 900, "day_windows": ["06:00-12:00", "13:00-21:00"], "away_after_s": 300},
        "door": {"open_max_s": 120, "night_alert": True},
        "bed_exit": {"return_within_s": 180},
        "vitals": {
            "for_s": 30,
            "no_breath_s": 20,
            "heart_min": 40,
            "heart_max": 120,
            "breath_min": 8,
            "breath_max": 30,
        },
        "alarms": {"escalate_after_s": 240, "cancel_window_s": 10},
    }
)
NIGHT = Window.parse("22:00-06:00")
KIND_RE = re.compile(r"^(alarm|alert|state|telemetry|device|gateway|install)(\.[a-z0-9_]+)+$")

VALUES: dict[str, st.SearchStrategy[Any]] = {
    "press": st.just(True),
    "motion": st.just(True),
    "contact": st.sampled_from(["open", "closed"]),
    "smoke": st.booleans(),
    "leak": st.booleans(),
    "wet": st.booleans(),
    "tamper": st.booleans(),
    "in_bed": st.booleans(),
    "heart_rate": st.one_of(st.integers(0, 300), st.integers(125, 135)),
    "breath_rate": st.one_of(st.just(0), st.integers(0, 120), st.integers(31, 35)),
    "battery": st.integers(0, 100),
}
DEVICE_CAPS = {
    "btn-1": ["press", "battery"],
    "door-1": ["contact", "battery", "tamper"],
    "pir-1": ["motion", "battery"],
    "smoke-1": ["smoke", "battery", "tamper"],
    "bed-1": ["in_bed", "heart_rate", "breath_rate"],
    "leak-1": ["leak", "battery"],
    "pad-1": ["wet", "battery"],
}


#: (device, capability) pairs to read, the timed rules' inputs several times over so they actually fire.
PAIRS = [(dev, cap) for dev, caps in DEVICE_CAPS.items() for cap in caps] + [
    ("door-1", "contact"),
    ("door-1", "contact"),
    ("bed-1", "in_bed"),
    ("bed-1", "in_bed"),
    ("bed-1", "heart_rate"),
    ("bed-1", "breath_rate"),
    ("pir-1", "motion"),
]


@st.composite
def reading(draw: st.DrawFn) -> tuple[str, str, Any]:
    device, capability = draw(st.sampled_from(PAIRS))
    return ("read", device, (capability, draw(VALUES[capability])))


@st.composite
def series(draw: st.DrawFn) -> tuple[str, str, Any]:
    """A sensor reporting steadily: the same vital sign ``count`` times, ``every`` seconds apart."""
    capability = draw(st.sampled_from(["heart_rate", "breath_rate"]))
    value = draw(VALUES[capability])
    return ("series", "bed-1", (capability, value, draw(st.integers(2, 12)), draw(st.floats(1, 10))))


step = st.one_of(
    reading(),
    reading(),
    series(),
    st.tuples(st.just("wait"), st.just(""), st.one_of(st.floats(0.1, 40), st.floats(60, 1200))),
    st.tuples(st.just("sync"), st.just(""), st.sampled_from([True, True, True, False])),
)


@dataclass
class Model:
    """What happened, kept independently of the rules."""

    last_activity: float | None = None
    contact: dict[str, tuple[str, float]] = field(default_factory=dict)
    bed: dict[str, tuple[bool, float, bool]] = field(default_factory=dict)  # in_bed, since, exit at night
    open: set[str] = field(default_factory=set)
    runs: dict[str, float] = field(default_factory=dict)  # "device|measure" -> start of an out-of-range run

    def vitals(self, device: str, cap: str, value: Any, now: float) -> None:
        """Out-of-range runs as the spec defines them (0 breathing is its own run; out of bed ends all)."""
        if cap == "in_bed" and value is False:
            self.runs = {k: v for k, v in self.runs.items() if not k.startswith(device + "|")}
        if cap not in ("heart_rate", "breath_rate") or self.bed.get(device, (True, 0, False))[0] is False:
            return
        low, high = (40, 120) if cap == "heart_rate" else (8, 30)
        zero = cap == "breath_rate" and value == 0
        if cap == "breath_rate":
            self._run(f"{device}|no_breath", zero, now)
        if not zero:
            self._run(f"{device}|{cap}", not low <= value <= high, now)

    def _run(self, k: str, bad: bool, now: float) -> None:
        if bad:
            self.runs.setdefault(k, now)
        else:
            self.runs.pop(k, None)


def key(kind: str, draft: EventDraft) -> str:
    return f"{kind}|{draft.device.id if draft.device else '-'}"


def check_cause(d: EventDraft, m: Model, now: float, cause: tuple[str, str, Any] | None) -> None:
    """Every alarm-priority draft must be explained by what happened."""
    device = d.device.id if d.device else None
    cap: str | None = cause[1] if cause else None
    value: Any = cause[2] if cause else None
    reader = cause[0] if cause else None
    k = d.kind
    if k in ("alarm.escalated", "alarm.cancel_requested", "alarm.repeated"):
        assert key(d.data["kind"], d) in m.open, f"{k} for an alarm that is not open"
        if k != "alarm.escalated":
            assert cap == "press" and reader == device
        return
    assert key(k, d) not in m.open, f"{k} raised twice while open"
    if k == "alarm.emergency_call":
        assert cap == "press" and reader == device
    elif k in ("alarm.smoke", "alarm.leak"):
        assert cap == k.split(".")[1] and value is True and reader == device
    elif k == "alarm.door_left_open":
        state, since = m.contact[device or ""]
        assert state == "open" and now - since >= 120 - 1e-6
    elif k == "alarm.bed_exit":
        in_bed, since, at_night = m.bed[device or ""]
        assert not in_bed and at_night and now - since >= 180 - 1e-6
    elif k in ("alarm.heart_rate_abnormal", "alarm.breath_rate_abnormal"):
        low, high = (40, 120) if k.startswith("alarm.heart") else (8, 30)
        assert reader == device and cap == d.data["measure"] and not low <= value <= high
        assert m.bed.get(device or "", (True, 0, False))[0] is not False
        assert now - m.runs[f"{device}|{cap}"] >= 30 - 1e-6
    elif k == "alarm.no_breathing":
        assert reader == device and cap == "breath_rate" and value == 0
        assert now - m.runs[f"{device}|no_breath"] >= 20 - 1e-6
    elif k == "alarm.inactivity":
        assert m.last_activity is not None and now - m.last_activity >= 900 - 1e-6
    else:
        raise AssertionError(f"unexpected alarm kind {k}")


def follow(drafts: list[EventDraft], m: Model, now: float, cause: tuple[str, str, Any] | None) -> None:
    for d in drafts:
        assert KIND_RE.match(d.kind), d.kind
        if d.priority == Priority.ALARM:
            check_cause(d, m, now, cause)
            if d.kind not in ("alarm.escalated", "alarm.cancel_requested", "alarm.repeated"):
                m.open.add(key(d.kind, d))
        if d.kind == "alarm.resolved":
            m.open.discard(key(d.data["kind"], d))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start_hour=st.one_of(st.integers(0, 23), st.sampled_from([22, 23, 0, 3, 8, 14])),
    steps=st.lists(step, min_size=5, max_size=80),
)
def test_random_sequences_never_crash_or_alarm_without_cause(start_hour: int, steps: list[Any]) -> None:
    clock = FakeClock(local_ms(start_hour))
    with tempfile.TemporaryDirectory() as tmp:
        h = Harness(Path(tmp), RULES, clock)
        m = Model()
        now = 0.0

        def wait(seconds: float) -> None:
            nonlocal now
            remaining = seconds
            while remaining > 0:
                dt = min(1.0, remaining)
                clock.advance(dt)
                now += round(dt * 1000) / 1000
                remaining -= dt
                follow(h.tick(), m, now, None)

        def read(device: str, cap: str, value: Any) -> None:
            m.vitals(device, cap, value, now)  # a run includes the reading that extends it
            follow(h.read(device, cap, value), m, now, (device, cap, value))
            # then the model moves on (the drafts were caused by the state before and this reading)
            if cap == "motion":
                m.last_activity = now
            elif cap == "contact" and m.contact.get(device, ("", 0))[0] != value:
                m.contact[device] = (value, now)
                m.last_activity = now
            elif cap == "in_bed" and m.bed.get(device, (None, 0, False))[0] != value:
                local = h.engine.now().local
                m.bed[device] = (value, now, local is not None and NIGHT.contains(local))
                m.last_activity = now

        for what, device, arg in steps:
            if what == "wait":
                wait(arg)
            elif what == "sync":
                clock.is_synced = arg
            elif what == "series":
                cap, value, count, every = arg
                for i in range(count):
                    if i:
                        wait(every)
                    read(device, cap, value)
            else:
                read(device, *arg)
        assert h.engine.errors == 0
        h.engine.snapshot()  # the state can always be saved


def test_local_time_helper_is_shanghai() -> None:
    assert FakeClock(local_ms(0)).wall % (24 * 3600 * 1000) == 16 * 3600 * 1000  # 00:00 +08:00 = 16:00 UTC
    assert SHANGHAI.key == "Asia/Shanghai"
