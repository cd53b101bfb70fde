"""``Signal[T]``: one way for a part of the gateway to tell others that something happened.

``connect`` returns the function that disconnects, so a service that subscribes in ``start`` unsubscribes in
``stop`` with no bookkeeping of who it listened to. ``emit`` calls every listener in the order they connected;
a listener that raises is logged and counted and never stops the others, nor the code that emitted (the outbox
writer, the uplink): one bad listener must not delay an alarm.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

Unsubscribe = Callable[[], None]


class Signal[T]:
    """Listeners of one kind of news, each called with the value emitted."""

    __slots__ = ("_listeners", "failures", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._listeners: list[Callable[[T], object]] = []
        #: Listener calls that raised since start (reported in health).
        self.failures = 0

    def connect(self, listener: Callable[[T], object]) -> Unsubscribe:
        """Call ``listener(value)`` on every ``emit``; the returned function stops that (calling it twice is fine)."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            try:
                self._listeners.remove(listener)
            except ValueError:
                pass

        return unsubscribe

    def emit(self, value: T) -> None:
        """Tell every listener; a failing listener is logged and counted, the rest still hear it."""
        for listener in tuple(self._listeners):
            try:
                listener(value)
            except Exception:
                self.failures += 1
                log.exception("signal %s: listener %s failed", self.name, getattr(listener, "__qualname__", listener))

    def __len__(self) -> int:
        return len(self._listeners)
