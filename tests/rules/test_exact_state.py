"""The state that decides whether a reading is a change is committed with the events (see gateway.rules.exact)."""

from __future__ import annotations

from pathlib import Path

from core.clock import Clock
from core.events import Event, EventDraft, Priority, make_event
from gateway.config import OutboxSection
from gateway.outbox import Outbox
from tests.rules.support import FakeClock, Harness, kinds, local_ms, settings


def _event(kind: str = "state.door") -> Event:
    return make_event(EventDraft(kind, Priority.STATE, None, {}), "gw", Clock(assume_synced=True))


async def test_state_goes_with_the_events_and_an_older_version_never_wins(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    async with Outbox(path, OutboxSection()) as ob:
        await ob.put([_event()], [("door-1|contact", '"open"', 2)])
        await ob.put([_event()], [("door-1|contact", '"closed"', 1)])  # committed later, but older
        await ob.put([_event()], [("smoke-1|smoke", "true", 3)])
    async with Outbox(path, OutboxSection()) as ob:
        assert sorted(ob.saved_state) == [("door-1|contact", '"open"', 2), ("smoke-1|smoke", "true", 3)]


async def test_a_restart_believes_the_committed_state_not_the_lagging_file(tmp_path: Path) -> None:
    h = Harness(tmp_path, settings(), FakeClock(local_ms(9)))
    h.read("door-1", "contact", "open")
    h.read("smoke-1", "smoke", True)
    h.save()  # the file: door open, smoke alarm open
    h.read("door-1", "contact", "closed")
    h.read("smoke-1", "smoke", False)
    committed = h.engine.take_exact_state()  # what went into the outbox with the events
    assert {k for k, _, _ in committed} == {"door-1|contact", "smoke-1|smoke"}
    # Crash before the file caught up: the file still says open / smoke, the outbox says closed / cleared.
    again = Harness(tmp_path, settings(), FakeClock(local_ms(9)))
    again.engine.restore_exact(committed)
    assert kinds(again.read("door-1", "contact", "open")) == ["state.door"]
    assert kinds(again.read("smoke-1", "smoke", True)) == ["alarm.smoke"]  # not a "duplicate" of a stale alarm
    later = again.engine.take_exact_state()
    assert all(ver > max(v for _, _, v in committed) for _, _, ver in later)


async def test_first_start_queues_the_files_state_for_the_outbox(tmp_path: Path) -> None:
    h = Harness(tmp_path, settings(), FakeClock(local_ms(9)))
    h.read("door-1", "contact", "open")
    h.read("pir-1", "motion", True)  # every report an event: nothing to remember
    h.save()
    again = Harness(tmp_path, settings(), FakeClock(local_ms(9)))
    again.engine.restore_exact([])
    assert [(k, v) for k, v, _ in again.engine.take_exact_state()] == [("door-1|contact", '"open"')]


async def test_a_failed_commit_gives_its_state_back_unless_newer_is_queued(tmp_path: Path) -> None:
    h = Harness(tmp_path, settings(), FakeClock(local_ms(9)))
    h.read("door-1", "contact", "open")
    h.read("smoke-1", "smoke", True)
    failed = h.engine.take_exact_state()
    h.read("door-1", "contact", "closed")
    h.engine.exact_state_not_committed(failed)
    assert sorted((k, v) for k, v, _ in h.engine.take_exact_state()) == [
        ("door-1|contact", '"closed"'),
        ("smoke-1|smoke", "true"),
    ]
