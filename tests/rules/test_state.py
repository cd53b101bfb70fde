"""Rule state on disk: written off the loop and rarely, survives restarts, a corrupt file is moved aside."""

from __future__ import annotations

import asyncio
import json
import stat
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st

from gateway.rules.state import STATE_FILE, since_after_restart
from tests.rules.support import FakeClock, Harness, kinds, local_ms, settings

pytestmark = pytest.mark.timeout(20)


async def test_routine_activity_does_not_wear_the_card(tmp_path: Path) -> None:
    h = Harness(tmp_path, settings(), FakeClock(local_ms(9)))
    h.read("pir-1", "motion", True)
    await h.engine.flush()
    writes = h.engine.state.writes
    assert writes == 1
    for _ in range(200):  # someone pottering about: motion every few seconds
        h.clock.advance(3)
        h.read("pir-1", "motion", True)
        h.tick()
        await asyncio.sleep(0)
    await h.engine.flush()
    assert h.engine.state.writes == writes  # nothing a restart would need changed
    h.read("smoke-1", "smoke", True)
    await h.engine.flush()
    assert h.engine.state.writes == writes + 1  # an alarm is saved
    path = tmp_path / STATE_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert doc["version"] == 1 and doc["alarms"]["open"][0]["kind"] == "alarm.smoke"


async def test_background_writes_coalesce(tmp_path: Path) -> None:
    h = Harness(tmp_path, settings(), FakeClock(local_ms(9)))
    for i in range(50):
        h.read("door-1", "contact", "open" if i % 2 else "closed")  # every one a change worth saving
    await h.engine.flush()
    assert 1 <= h.engine.state.writes <= 3
    assert Harness(tmp_path, settings(), h.clock).engine.door.doors["door-1"].state == "open"


def test_corrupt_state_is_moved_aside(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text("{not json")
    h = Harness(tmp_path, settings(), FakeClock(local_ms(9)))
    assert (tmp_path / (STATE_FILE + ".corrupt")).exists()
    assert kinds(h.read("smoke-1", "smoke", True)) == ["alarm.smoke"]  # starts fresh and works


def test_state_of_another_version_or_shape_is_not_trusted(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text(json.dumps({"version": 99, "alarms": {"open": [{"key": "x"}]}}))
    assert Harness(tmp_path, settings(), FakeClock()).engine.book.open == {}
    (tmp_path / STATE_FILE).write_text(
        json.dumps({"version": 1, "boot": "b", "rules": {"door": {"d": 5}, "vitals": []}, "alarms": {"open": [{}]}})
    )
    h = Harness(tmp_path, settings(), FakeClock())
    assert h.engine.book.open == {} and h.engine.door.doors == {}


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
BOOK_KEYS = st.sampled_from(["open", "recent", "key", "kind", "device", "data", "raised_mono", "event_id"])


@pytest.mark.timeout(120)
@settings_(max_examples=40, deadline=None)
@given(
    alarms=st.dictionaries(BOOK_KEYS, JSON | st.lists(st.dictionaries(BOOK_KEYS, JSON, max_size=8), max_size=3)),
    rules=st.dictionaries(st.sampled_from(["door", "vitals", "inactivity", "bed_exit", "x"]), JSON, max_size=5),
)
def test_any_saved_state_lets_the_gateway_start(alarms: dict[str, Any], rules: dict[str, Any]) -> None:
    """A state file of the right version but any content (a bug, a bad edit, a half-understood old format)
    never stops the rules from being built, and an alarm still raises."""
    with tempfile.TemporaryDirectory() as tmp:
        state_dir = Path(tmp)
        doc = {"version": 1, "boot": "b", "rules": rules, "alarms": alarms}
        (state_dir / STATE_FILE).write_text(json.dumps(doc))
        h = Harness(state_dir, settings(), FakeClock(local_ms(9)))
        out = h.read("leak-1", "leak", True)
        assert "alarm.leak" in kinds(out) or h.engine.book.open  # raised now, or already open from the file


def test_since_after_restart() -> None:
    assert since_after_restart(None, "a", 100, "a") is None
    assert since_after_restart(50, "a", 100, "a") == 50  # same boot: exact
    assert since_after_restart(50, "a", 100, "b") == 100  # reboot: from now
    assert since_after_restart(500, "a", 100, "a") == 100  # impossible (clock went back): from now


async def test_a_change_is_written_after_it_settles_and_at_once_on_flush(tmp_path: Path) -> None:
    """The write waits ``settle_s`` (the alarm's own outbox commit goes first), or not at all on flush."""
    h = Harness(tmp_path, settings(), FakeClock(local_ms(9)))
    state = h.engine.state
    h.read("smoke-1", "smoke", True)
    await asyncio.sleep(state.settle_s / 4)
    assert state.writes == 0 and state.dirty
    for _ in range(100):
        if state.writes:
            break
        await asyncio.sleep(state.settle_s / 10)
    assert state.writes == 1
    h.read("smoke-1", "smoke", False)
    await asyncio.wait_for(h.engine.flush(), state.settle_s / 2)  # no settling when asked to flush
    assert state.writes == 2 and not state.dirty
