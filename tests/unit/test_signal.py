"""core.signal.Signal: connect returns the unsubscribe; a failing listener is isolated, logged and counted."""

from __future__ import annotations

import logging

import pytest

from core.signal import Signal


def test_listeners_hear_in_order_and_unsubscribe() -> None:
    heard: list[str] = []
    signal: Signal[int] = Signal("test")
    off_a = signal.connect(lambda v: heard.append(f"a{v}"))
    signal.connect(lambda v: heard.append(f"b{v}"))
    signal.emit(1)
    off_a()
    off_a()  # twice is harmless
    signal.emit(2)
    assert heard == ["a1", "b1", "b2"]
    assert len(signal) == 1


def test_a_failing_listener_is_isolated(caplog: pytest.LogCaptureFixture) -> None:
    heard: list[int] = []
    signal: Signal[int] = Signal("committed")

    def broken(value: int) -> None:
        raise ValueError("bug")

    signal.connect(broken)
    signal.connect(heard.append)
    with caplog.at_level(logging.ERROR):
        signal.emit(7)  # does not raise into the emitter (the outbox writer, the uplink)
    assert heard == [7]
    assert signal.failures == 1
    assert "signal committed: listener" in caplog.text


def test_a_listener_may_unsubscribe_while_being_told() -> None:
    signal: Signal[int] = Signal("test")
    heard: list[int] = []
    off = None

    def once(value: int) -> None:
        heard.append(value)
        assert off is not None
        off()

    off = signal.connect(once)
    signal.emit(1)
    signal.emit(2)
    assert heard == [1]
