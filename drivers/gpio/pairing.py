"""Which configured inputs are added, and the pairing session that offers the others to the technician.

GPIO devices do not join over the air: they are wired, and every line is declared in ``[drivers.gpio]``. An
input with ``pairing = "auto"`` is added at start; one with ``pairing = "manual"`` leaves its line free until
a technician picks it on the add page and gives it a name and a room. Removing an input on the page releases
its line and keeps it removed across restarts until it is added again. What the technician changed is kept in
``<state_dir>/gpio/inputs.json`` (written atomically), so the config file is never rewritten.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.atomic import write_atomic
from drivers.base import PairingUpdate
from drivers.gpio.config import InputSettings

log = logging.getLogger(__name__)

#: How often an open pairing session offers its lines again (the page forgets a candidate after a minute).
ANNOUNCE_S = 20.0


class InputStates:
    """Per input name: added (True) or not (False), where the technician changed it from the config's default."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._changed: dict[str, bool] = {}

    def load(self) -> None:
        """Read the file (blocking: call it in a thread). A damaged file is logged and ignored: every input
        then follows its config, so a removed pull cord comes back rather than a wired one staying deaf."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            log.error("gpio: %s unreadable, inputs follow the config: %s", self.path, exc)
            return
        added = raw.get("added") if isinstance(raw, dict) else None
        if not isinstance(added, dict):
            log.error("gpio: %s has no 'added' table, inputs follow the config", self.path)
            return
        self._changed = {str(k): v for k, v in added.items() if isinstance(v, bool)}

    def added(self, spec: InputSettings) -> bool:
        return self._changed.get(spec.name, spec.pairing == "auto")

    async def set(self, spec: InputSettings, added: bool) -> None:
        """Remember that ``spec`` is (not) added; returns once it is on disk."""
        self._changed[spec.name] = added
        data = json.dumps({"added": self._changed}, sort_keys=True, indent=1).encode()
        await asyncio.to_thread(write_atomic, self.path, data, 0o600)


def candidate_info(spec: InputSettings) -> dict[str, Any]:
    """What the add page shows for a line that may be added (``address`` is what ``adopt`` takes)."""
    return {
        "address": spec.address,
        "input": spec.name,
        "name": spec.label or spec.name,
        "kind": spec.spec.device_type,
        "room": spec.room,
        "chip": spec.chip,
        "line": str(spec.line),
        "contact": spec.contact,
        "needs_bindkey": False,
    }


class PairingSession:
    """An open pairing window: offers the lines that may be added, again every :data:`ANNOUNCE_S`, then closes."""

    def __init__(self, emit: Callable[[PairingUpdate], None], candidates: Callable[[], list[InputSettings]]) -> None:
        self._emit = emit
        self._candidates = candidates
        self._task: asyncio.Task[None] | None = None

    @property
    def is_open(self) -> bool:
        return self._task is not None and not self._task.done()

    def open(self, seconds: int) -> None:
        self._cancel()
        self._emit(PairingUpdate("gpio", "open", remaining_s=seconds))
        self.announce()
        self._task = asyncio.get_running_loop().create_task(self._run(seconds), name="gpio-pairing")

    def announce(self) -> None:
        for spec in self._candidates():
            self._emit(PairingUpdate("gpio", "candidate", info=candidate_info(spec)))

    async def _run(self, seconds: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            await asyncio.sleep(min(ANNOUNCE_S, left))
            if deadline - loop.time() > 0:
                self.announce()
        self._emit(PairingUpdate("gpio", "closed"))

    def close(self) -> None:
        """Close early (the technician pressed stop)."""
        if self.is_open:
            self._cancel()
            self._emit(PairingUpdate("gpio", "closed"))

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def aclose(self) -> None:
        """Cancel and wait (the driver is stopping)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
