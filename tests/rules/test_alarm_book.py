"""The alarm book on a fake clock: one alarm per condition, presses, escalation, ack, close, restart."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from core.clock import Clock
from core.events import Event, EventDraft, Priority, make_event
from tests.rules.support import FakeClock, Harness, kinds, local_ms, only, settings

pytestmark = pytest.mark.timeout(20)

LIFE = ("alarm.",)


def harness(tmp_path: Path, clock: FakeClock | None = None, **alarms: object) -> Harness:
    cfg = {"escalate_after_s": 300, "cancel_window_s": 10, "call_close_after_ack_s": 600, **alarms}
    return Harness(tmp_path, settings(alarms=cfg, inactivity={"enabled": False}), clock or FakeClock(local_ms(10)))


def commit(h: Harness, drafts: list[EventDraft]) -> list[Event]:
    """What the gateway does after the engine: stamp, commit, tell the book (the service's job)."""
    events = [make_event(d, "gw", cast(Clock, h.clock)) for d in drafts]
    for e in events:
        h.engine.book.bind(e)
    return events


def test_duplicate_burst_raises_one_alarm(tmp_path: Path) -> None:
    h = harness(tmp_path)
    out = [k for _ in range(50) for k in kinds(h.read("smoke-1", "smoke", True))]
    assert out == ["alarm.smoke"]
    assert kinds(h.read("smoke-1", "smoke", False)) == ["alarm.smoke.cleared", "alarm.resolved"]
    assert [k for _ in range(5) for k in kinds(h.read("smoke-1", "smoke", False))] == []
    assert kinds(h.read("smoke-1", "smoke", True)) == ["alarm.smoke"]  # cleared: re-armed


def test_an_active_alarm_survives_restart(tmp_path: Path) -> None:
    h = harness(tmp_path)
    [ev] = commit(h, h.read("smoke-1", "smoke", True))
    h2 = h.restarted()
    assert h2.read("smoke-1", "smoke", True) == []  # still active: not a new alarm
    assert h2.engine.book.find(ev.id) is not None
    out = h2.read("smoke-1", "smoke", False)
    assert kinds(out) == ["alarm.smoke.cleared", "alarm.resolved"] and out[1].data["alarm"] == ev.id


def test_second_press_asks_to_cancel_never_delays(tmp_path: Path) -> None:
    h = harness(tmp_path)
    [call] = commit(h, h.read("btn-1", "press", True))
    assert call.kind == "alarm.emergency_call"  # out at once, not held for a second press
    h.clock.advance(9.9)
    cancel = h.read("btn-1", "press", True)
    assert kinds(cancel) == ["alarm.cancel_requested"] and cancel[0].data["alarm"] == call.id
    again = h.read("btn-1", "press", True)
    assert kinds(again) == ["alarm.repeated"] and again[0].data["repeats"] == 1
    h.clock.advance(60)
    assert kinds(h.read("btn-1", "press", True)) == ["alarm.repeated"]  # no second alarm while open
    h.engine.book.ack(call.id, "close", "op", "", h.engine.now())
    assert kinds(h.read("btn-1", "press", True)) == ["alarm.emergency_call"]  # closed: a new call


def test_holding_the_cord_is_never_a_cancel(tmp_path: Path) -> None:
    """A long press is the first press still held (the GPIO driver reports it while the cord is down): it is a
    repeat of the open call, never a request to cancel it, and a later plain press can still cancel."""
    h = harness(tmp_path)
    [call] = commit(h, h.read("btn-1", "press", True, event="press"))
    h.clock.advance(3)
    held = h.read("btn-1", "press", True, event="long_press")
    assert kinds(held) == ["alarm.repeated"] and held[0].data["event"] == "long_press"
    assert held[0].data["alarm"] == call.id and held[0].priority == Priority.ALARM
    assert not h.engine.book.find(call.id).cancel_requested  # type: ignore[union-attr]
    h.clock.advance(1)
    assert kinds(h.read("btn-1", "press", True, event="double_press")) == ["alarm.repeated"]
    assert kinds(h.read("btn-1", "press", True, event="press")) == ["alarm.cancel_requested"]


def test_letting_go_is_a_state_and_never_clears_the_call(tmp_path: Path) -> None:
    h = harness(tmp_path)
    [call] = commit(h, h.read("btn-1", "press", True, event="press"))
    released = h.read("btn-1", "release", True, event="release", held_ms=850)
    assert kinds(released) == ["state.button_released"] and released[0].priority == Priority.STATE
    assert released[0].data["held_ms"] == 850
    assert h.engine.book.find(call.id) is not None  # the call stays open until the platform closes it


def test_press_after_the_cancel_window_is_not_a_cancel(tmp_path: Path) -> None:
    h = harness(tmp_path)
    commit(h, h.read("btn-1", "press", True))
    h.clock.advance(10)
    assert kinds(h.read("btn-1", "press", True)) == ["alarm.repeated"]


def test_cancel_window_off(tmp_path: Path) -> None:
    h = harness(tmp_path, cancel_window_s=0)
    commit(h, h.read("btn-1", "press", True))
    assert kinds(h.read("btn-1", "press", True)) == ["alarm.repeated"]


def test_escalates_once_per_interval_until_acknowledged(tmp_path: Path) -> None:
    h = harness(tmp_path)
    [ev] = commit(h, h.read("leak-1", "leak", True))
    assert h.run(299) == []
    first = h.run(1)
    assert kinds(first) == ["alarm.escalated"]
    assert (
        first[0].data["alarm"] == ev.id and first[0].data["escalation"] == 1 and first[0].data["kind"] == "alarm.leak"
    )
    [esc] = commit(h, first)
    assert h.run(299) == []
    assert [d.data["escalation"] for d in h.run(1)] == [2]
    state, acked = h.engine.book.ack(esc.id, "ack", "op-7", "on the way", h.engine.now())  # by an escalation id
    assert state == "acknowledged" and kinds(acked) == ["alarm.acknowledged"]
    assert acked[0].data["alarm"] == ev.id and acked[0].data["by"] == "op-7"
    assert h.run(3600, step=10) == []  # no more escalation
    assert h.engine.book.ack(ev.id, "ack", "op-7", "", h.engine.now()) == ("acknowledged", [])  # repeat: nothing
    out = h.read("leak-1", "leak", False)
    assert kinds(out) == ["alarm.leak.cleared", "alarm.resolved"] and out[1].data["reason"] == "cleared"
    assert h.engine.book.ack(ev.id, "close", "op-7", "", h.engine.now()) == ("resolved", [])  # late close
    with pytest.raises(LookupError):
        h.engine.book.ack("0190-nope", "ack", "op", "", h.engine.now())


def test_escalate_max(tmp_path: Path) -> None:
    h = harness(tmp_path, escalate_max=2)
    commit(h, h.read("leak-1", "leak", True))
    assert kinds(h.run(3000, step=10)) == ["alarm.escalated", "alarm.escalated"]


def test_close_resolves_but_the_source_must_clear_to_rearm(tmp_path: Path) -> None:
    h = harness(tmp_path)
    [ev] = commit(h, h.read("smoke-1", "smoke", True))
    state, out = h.engine.book.ack(ev.id, "close", "op", "false alarm", h.engine.now())
    assert state == "resolved" and kinds(out) == ["alarm.resolved"] and out[0].data["reason"] == "closed"
    assert h.run(900) == []  # closed: no escalation
    assert h.read("smoke-1", "smoke", True) == []  # still smoky: the same condition, not a new alarm
    assert kinds(h.read("smoke-1", "smoke", False)) == ["alarm.smoke.cleared"]
    assert kinds(h.read("smoke-1", "smoke", True)) == ["alarm.smoke"]


def test_acknowledged_call_is_closed_after_a_while(tmp_path: Path) -> None:
    h = harness(tmp_path)
    [call] = commit(h, h.read("btn-1", "press", True))
    h.engine.book.ack(call.id, "ack", "op", "", h.engine.now())
    assert h.run(599) == []
    out = h.run(1)
    assert kinds(out) == ["alarm.resolved"] and out[0].data["reason"] == "expired"


def test_restart_in_the_middle_keeps_the_escalation_schedule(tmp_path: Path) -> None:
    h = harness(tmp_path)
    [ev] = commit(h, h.read("leak-1", "leak", True))
    h.run(200)
    h2 = h.restarted()
    assert h2.run(99) == []
    assert kinds(h2.run(1)) == ["alarm.escalated"]  # 300 s after it was raised, across the restart
    h3 = h2.restarted()
    assert h3.engine.book.ack(ev.id, "ack", "op", "", h3.engine.now())[0] == "acknowledged"
    assert h3.run(900) == []


def test_after_a_reboot_escalation_waits_one_interval(tmp_path: Path) -> None:
    h = harness(tmp_path)
    commit(h, h.read("leak-1", "leak", True))
    h.run(250)
    rebooted = FakeClock(h.clock.wall + 60_000, boot="boot-2")
    rebooted.mono = 1_000
    h2 = h.restarted(rebooted)
    assert h2.run(299) == []
    assert kinds(h2.run(1)) == ["alarm.escalated"]


def test_delivered_marks_sent_once_and_rebinds_a_lost_id(tmp_path: Path) -> None:
    h = harness(tmp_path)
    drafts = h.read("smoke-1", "smoke", True)
    book = h.engine.book
    [ev] = [make_event(d, "gw", cast(Clock, h.clock)) for d in drafts]  # committed, but the book never heard (a crash)
    assert book.delivered(ev.id) is None
    opened = book.delivered(ev.id, ev.kind, "smoke-1")
    assert opened is not None and opened.event_id == ev.id and opened.state() == "sent"
    assert book.delivered(ev.id) is None  # once


def test_lifecycle_events_never_open_alarms(tmp_path: Path) -> None:
    h = harness(tmp_path)
    commit(h, h.read("leak-1", "leak", True))
    escalations = h.run(900)
    commit(h, escalations)
    assert list(h.engine.book.open) == ["alarm.leak|leak-1"]
    assert only(escalations, *LIFE) == ["alarm.escalated"] * 3


def test_a_remote_button_and_its_gesture_reach_the_call_data(tmp_path: Path) -> None:
    h = harness(tmp_path)
    [call] = h.read("btn-1", "press", True, event="press", index=2, gesture="single", manufacturer="not copied")
    assert call.kind == "alarm.emergency_call"
    assert call.data["index"] == 2 and call.data["gesture"] == "single" and "manufacturer" not in call.data
