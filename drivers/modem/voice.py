"""Outgoing voice calls through ModemManager's Voice interface, and whether a person answered.

``Voice.CreateCall({number})`` then ``Call.Start()``; the call's ``StateChanged`` (and ``PropertiesChanged``) say
dialing → ringing-out → active (answered), or terminated with a reason (refused/busy, error, dropped). A call that
rings past its timeout is hung up. An answered call is kept up for ``hold_s`` (or until the far end hangs up), then
hung up in the background; the caller learns "answered" at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from dbus_fast import Variant

from core.clock import monotonic_ms
from core.phone import CallResult
from drivers.modem import mm
from drivers.modem.link import Link, MMError, ModemGone, race

log = logging.getLogger(__name__)

Watcher = Callable[[str, list[Any]], None]
Watch = Callable[[str, Watcher], Callable[[], None]]  # (object path, watcher) -> unwatch
Spawn = Callable[[Awaitable[Any], str], None]


def _seconds(started_ms: int) -> float:
    return round((monotonic_ms() - started_ms) / 1000, 3)


def _state_change(member: str, body: list[Any]) -> tuple[int, int] | None:
    """(state, reason) from a Call object's signal, or None."""
    if member == "StateChanged":
        return int(body[1]), int(body[2])
    if member == "PropertiesChanged" and str(body[0]) == mm.CALL and "State" in body[1]:
        changed = {k: v.value if isinstance(v, Variant) else v for k, v in body[1].items()}
        return int(changed["State"]), int(changed.get("StateReason", 0))
    return None


class Voice:
    """Places calls on the current modem; ``CallResult.detail`` is ``answered``, ``no_answer`` (rang out, or
    dropped unanswered), ``busy`` (refused or busy), ``failed`` / ``failed: <ModemManager error>``, or
    ``modem_removed``. ``watch`` routes a call object's signals; ``spawn`` runs background work
    (the hold of an answered call, deleting ended calls) under the modem's supervision."""

    def __init__(self, hold_s: float, watch: Watch, spawn: Spawn, count: Callable[[str], None]) -> None:
        self.hold_s = hold_s
        self._watch = watch
        self._spawn = spawn
        self._count = count
        #: Calls the gateway placed that may still be up (hung up when the driver stops).
        self.active: set[str] = set()

    async def place(self, link: Link, modem: str, gone: asyncio.Event, number: str, ring_s: float) -> CallResult:
        try:
            created = await race(
                link.call(modem, mm.VOICE, "CreateCall", "a{sv}", [{"number": Variant("s", number)}]), gone
            )
        except ModemGone:
            return CallResult(False, "modem_removed")
        except MMError as exc:
            return CallResult(False, f"failed: {exc.short}")
        call = str(created[0])
        changes: asyncio.Queue[tuple[int, int]] = asyncio.Queue()

        def on_call(member: str, body: list[Any]) -> None:
            if (change := _state_change(member, body)) is not None:
                changes.put_nowait(change)

        unwatch = self._watch(call, on_call)
        started = monotonic_ms()
        answered = False
        self.active.add(call)
        try:
            await race(link.call(call, mm.CALL, "Start"), gone)
            deadline = asyncio.get_running_loop().time() + ring_s
            while (left := deadline - asyncio.get_running_loop().time()) > 0:
                try:
                    call_state, why = await asyncio.wait_for(race(changes.get(), gone), left)
                except TimeoutError:
                    continue
                if call_state == mm.CALL_ACTIVE:
                    answered = True
                    self._spawn(self._hold(link, modem, call, gone), "modem-call-hold")
                    return CallResult(True, "answered", _seconds(started))
                if call_state == mm.CALL_TERMINATED:
                    return CallResult(False, mm.CALL_END_OUTCOMES.get(why, "no_answer"), _seconds(started))
            await self._hangup(link, call)
            return CallResult(False, "no_answer", _seconds(started))
        except ModemGone:
            return CallResult(False, "modem_removed", _seconds(started))
        except MMError as exc:
            await self._hangup(link, call)
            return CallResult(False, f"failed: {exc.short}", _seconds(started))
        finally:
            unwatch()
            if not answered:
                self.active.discard(call)
                if not gone.is_set():
                    self._spawn(self._delete(link, modem, call), "modem-delete-call")

    async def _hold(self, link: Link, modem: str, call: str, gone: asyncio.Event) -> None:
        """Keep an answered call up for ``hold_s`` (or until the far end hangs up), then hang up and delete it."""
        ended = asyncio.Event()

        def on_call(member: str, body: list[Any]) -> None:
            change = _state_change(member, body)
            if change is not None and change[0] == mm.CALL_TERMINATED:
                ended.set()

        unwatch = self._watch(call, on_call)
        try:
            with contextlib.suppress(TimeoutError, ModemGone):
                await asyncio.wait_for(race(ended.wait(), gone), self.hold_s)
            if not ended.is_set() and not gone.is_set():
                await self._hangup(link, call)
        finally:
            unwatch()
            self.active.discard(call)
        if not gone.is_set():
            await self._delete(link, modem, call)

    async def hangup_all(self, link: Link) -> None:
        """Hang up every call still up (the driver is stopping)."""
        for call in list(self.active):
            with contextlib.suppress(MMError):
                await link.call(call, mm.CALL, "Hangup", timeout_s=2)

    async def _hangup(self, link: Link, call: str) -> None:
        try:
            await link.call(call, mm.CALL, "Hangup")
        except MMError as exc:
            self._count("hangup_failed")
            log.debug("modem: hangup failed: %s", exc)

    async def _delete(self, link: Link, modem: str, call: str) -> None:
        try:
            await link.call(modem, mm.VOICE, "DeleteCall", "o", [call])
        except MMError as exc:
            log.debug("modem: could not delete call %s: %s", call, exc)
