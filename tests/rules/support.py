"""A fake clock and small builders for rule tests (time in milliseconds, moved by hand)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from core.clock import ClockStamp
from core.devices import Device
from core.events import EventDraft
from drivers.base import Reading
from gateway.rules.engine import RuleEngine
from gateway.rules.settings import RulesSettings

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local_ms(hh: int, mm: int = 0, ss: int = 0, day: int = 2) -> int:
    """Wall ms of 2025-06-<day> hh:mm:ss in Shanghai."""
    return int(datetime(2025, 6, day, hh, mm, ss, tzinfo=SHANGHAI).timestamp() * 1000)


class FakeClock:
    """Implements what core.clock.Clock offers rules: wall_ms, mono_ms, synced, stamp."""

    def __init__(self, wall_ms: int | None = None, *, synced: bool = True, boot: str = "boot-1") -> None:
        self.wall = wall_ms if wall_ms is not None else local_ms(9)
        self.mono = 1_000_000
        self.is_synced = synced
        self.boot_id = boot

    def wall_ms(self) -> int:
        return self.wall

    def mono_ms(self) -> int:
        return self.mono

    def synced(self) -> bool:
        return self.is_synced

    def stamp(self) -> ClockStamp:
        return ClockStamp(self.wall, self.mono, self.is_synced, self.boot_id)

    def advance(self, seconds: float) -> None:
        ms = round(seconds * 1000)
        self.wall += ms
        self.mono += ms


CAPS: dict[str, list[str]] = {
    "call_button": ["press", "battery"],
    "door": ["contact", "battery", "tamper"],
    "motion": ["motion", "battery"],
    "smoke": ["smoke", "battery", "tamper"],
    "mattress": ["in_bed", "heart_rate", "breath_rate"],
    "leak": ["leak", "battery"],
    "wet_pad": ["wet", "battery"],
}

DEVICES: dict[str, Device] = {
    "btn-1": Device("btn-1", "call_button", "sim", room="bedroom", capabilities=CAPS["call_button"]),
    "door-1": Device("door-1", "door", "sim", room="hall", capabilities=CAPS["door"]),
    "pir-1": Device("pir-1", "motion", "sim", room="living", capabilities=CAPS["motion"]),
    "smoke-1": Device("smoke-1", "smoke", "sim", room="kitchen", capabilities=CAPS["smoke"]),
    "bed-1": Device("bed-1", "mattress", "sim", room="bedroom", capabilities=CAPS["mattress"]),
    "leak-1": Device("leak-1", "leak", "sim", room="kitchen", capabilities=CAPS["leak"]),
    "pad-1": Device("pad-1", "wet_pad", "sim", room="bedroom", capabilities=CAPS["wet_pad"]),
}


#: Rule tests look at one rule; escalation (tested on its own) is pushed out of their way.
NO_ESCALATION = {"escalate_after_s": 7 * 24 * 3600}


def settings(**sections: Any) -> RulesSettings:
    return RulesSettings.model_validate({"alarms": NO_ESCALATION, **sections})


class Harness:
    """An engine on a fake clock; ``read``/``tick``/``run`` return the drafts it made."""

    def __init__(self, state_dir: Path, rules: RulesSettings | None = None, clock: FakeClock | None = None) -> None:
        self.state_dir = state_dir
        self.clock = clock or FakeClock()
        self.engine = RuleEngine(rules or RulesSettings(), self.clock, state_dir)
        self.log: list[EventDraft] = []

    def read(self, device: str, capability: str, value: Any, **meta: Any) -> list[EventDraft]:
        out = self.engine.on_reading(Reading(device, capability, value, meta=meta), DEVICES[device])
        self.log += out
        return out

    def tick(self) -> list[EventDraft]:
        out = self.engine.tick()
        self.log += out
        return out

    def run(self, seconds: float, step: float = 1.0) -> list[EventDraft]:
        """Advance time in ``step``-second ticks, collecting what the ticks made."""
        out: list[EventDraft] = []
        steps = round(seconds / step)
        for _ in range(steps):
            self.clock.advance(step)
            out += self.tick()
        return out

    def save(self) -> None:
        self.engine.persist()
        self.engine.state.save_now(self.engine.snapshot())

    def restarted(self, clock: FakeClock | None = None) -> Harness:
        """A new engine on the same state directory (the state saved first)."""
        self.save()
        return Harness(self.state_dir, self.engine.settings, clock or self.clock)


def kinds(drafts: list[EventDraft]) -> list[str]:
    return [d.kind for d in drafts]


def only(drafts: list[EventDraft], *prefixes: str) -> list[str]:
    """The kinds of ``drafts`` that start with one of ``prefixes``."""
    return [d.kind for d in drafts if d.kind.startswith(prefixes)]
