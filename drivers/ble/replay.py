"""Per-device freshness of BTHome adverts: replays are rejected, repeats are not alarms twice.

* Encrypted adverts carry a 32-bit counter that is authenticated by the AES-CCM MIC: a counter equal to
  the last accepted one is the device repeating itself (BTHome devices send each packet several times);
  a lower one is a replay (or a device whose counter restarted: re-adopt it to accept the new counter).
* A device whose counter restarted (battery change on some models) keeps counting up from its new start,
  below the kept counter: every real press is refused. Refusals are remembered per device (:meth:`refuse`)
  so that pattern, lower counters rising one after another with nothing accepted in between, is shown as
  :attr:`Refusals.restarted` instead of only a log line. It changes nothing about what is refused.
* Plain adverts carry an (unauthenticated) packet id: the same id as last time is a duplicate.

Only adverts that decrypted (or plain ones from devices without a key) reach this check, so a forged
packet can never move a device's counter forward and lock out the genuine device.

The encryption counters are kept on disk (``path``), so a press recorded before a restart cannot be replayed
after it to raise a false call. Plain packet ids are not kept: they are not authenticated anyway.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from core.atomic import write_atomic

log = logging.getLogger(__name__)

Verdict = Literal["fresh", "duplicate", "replay"]


#: Distinct, rising refused counters in a row after which a device is taken to have restarted its counter
#: (one lower counter alone may be an attacker's replay; a genuine device keeps counting up).
RESTART_AFTER = 2


@dataclass(frozen=True, slots=True)
class Refusals:
    """Replays refused from one device since its last accepted advert.

    ``packets`` counts every refused packet (repeats included), ``counters`` the distinct counters
    (about one per press), ``rising`` how many of those rose one after another, ``last_counter`` the
    latest; ``restarted`` (kept until an advert is accepted) says the device looks like it restarted its
    counter and needs adopting again.
    """

    packets: int = 0
    counters: int = 0
    rising: int = 0
    last_counter: int | None = None
    restarted: bool = False


@dataclass(slots=True)
class _Last:
    counter: int | None = None
    packet_id: int | None = None
    refused: Refusals | None = None


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
        """Record an advert that was taken (the device is in step again: its refusals are cleared)."""
        last = self._last.setdefault(device_id, _Last())
        if counter is not None and counter != last.counter:
            last.counter = counter
            self.dirty = True
        last.packet_id = packet_id
        last.refused = None

    def refuse(self, device_id: str, counter: int) -> bool:
        """Record an advert :meth:`check` called a replay; True when it shows the counter restarted."""
        last = self._last.setdefault(device_id, _Last())
        was = last.refused or Refusals()
        if counter == was.last_counter:  # the same packet repeated: one more packet, not one more press
            last.refused = replace(was, packets=was.packets + 1)
            return False
        rising = was.rising + 1 if was.last_counter is not None and counter > was.last_counter else 1
        restarted = was.restarted or rising >= RESTART_AFTER
        last.refused = Refusals(was.packets + 1, was.counters + 1, rising, counter, restarted)
        return restarted and not was.restarted

    def refusals(self) -> dict[str, Refusals]:
        """Devices with replays refused since their last accepted advert."""
        return {d: last.refused for d, last in self._last.items() if last.refused is not None}

    def forget(self, device_id: str) -> None:
        """Start afresh (device removed or re-adopted)."""
        if self._last.pop(device_id, None) is not None:
            self.dirty = True
