"""Per-device freshness of BTHome adverts: replays are rejected, repeats are not alarms twice.

* Encrypted adverts carry a 32-bit counter that is authenticated by the AES-CCM MIC: a counter equal to
  the last accepted one is the device repeating itself (BTHome devices send each packet several times);
  a lower one is a replay (or a device whose counter restarted: re-adopt it to accept the new counter).
* Plain adverts carry an (unauthenticated) packet id: the same id as last time is a duplicate.

Only adverts that decrypted (or plain ones from devices without a key) reach this check, so a forged
packet can never move a device's counter forward and lock out the genuine device.

The encryption counters are kept on disk (``path``), so a press recorded before a restart cannot be replayed
after it to raise a false call. Plain packet ids are not kept: they are not authenticated anyway.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gateway.atomic import write_atomic

log = logging.getLogger(__name__)

Verdict = Literal["fresh", "duplicate", "replay"]


@dataclass(slots=True)
class _Last:
    counter: int | None = None
    packet_id: int | None = None


class ReplayGuard:
    """Remembers, per device, the last accepted encryption counter (on disk) and packet id (in memory)."""

    def __init__(self, path: Path | None = None) -> None:
        self._last: dict[str, _Last] = {}
        self.path = path
        #: True when a counter changed since the last :meth:`save`.
        self.dirty = False
        if path is not None:
            self._load(path)

    def _load(self, path: Path) -> None:
        try:
            raw = json.loads(path.read_text())
            counters = {str(k): int(v) for k, v in raw.items()}
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError, AttributeError) as exc:  # damaged: start afresh, say so
            log.error("ble: replay counters in %s unreadable (%s); starting afresh", path, exc)
            return
        for device_id, counter in counters.items():
            self._last[device_id] = _Last(counter=counter)

    def save(self) -> None:
        """Write the encryption counters atomically (blocking: run it in a thread)."""
        if self.path is None:
            return
        self.dirty = False
        counters = {d: last.counter for d, last in self._last.items() if last.counter is not None}
        write_atomic(self.path, json.dumps(counters, sort_keys=True).encode(), mode=0o600)

    def check(self, device_id: str, *, counter: int | None, packet_id: int | None) -> Verdict:
        """Classify an authenticated advert; does not record it (see :meth:`accept`)."""
        last = self._last.get(device_id)
        if last is None:
            return "fresh"
        if counter is not None and last.counter is not None:
            if counter == last.counter:
                return "duplicate"
            if counter < last.counter:
                return "replay"
            return "fresh"
        if packet_id is not None and packet_id == last.packet_id:
            return "duplicate"
        return "fresh"

    def accept(self, device_id: str, *, counter: int | None, packet_id: int | None) -> None:
        """Record an advert that was taken."""
        last = self._last.setdefault(device_id, _Last())
        if counter is not None and counter != last.counter:
            last.counter = counter
            self.dirty = True
        last.packet_id = packet_id

    def forget(self, device_id: str) -> None:
        """Start afresh (device removed or re-adopted)."""
        if self._last.pop(device_id, None) is not None:
            self.dirty = True
