"""A cellular modem owned by ModemManager, spoken to over D-Bus: the :class:`core.cellular.Cellular` of the gateway.

ModemManager owns the serial/QMI/MBIM ports of the module (Quectel EC2x, SIMCom...): this class never writes an AT
command. It follows the modem's presence (ObjectManager ``InterfacesAdded``/``InterfacesRemoved`` and ModemManager's
name owner), its SIM, registration, access technology and signal (``PropertiesChanged``), sends SMS through
``Messaging.Create`` + ``Sms.Send`` (ModemManager encodes UCS-2 and splits long texts), reads incoming SMS from
``Messaging.Added`` once their state is *received*, and dials through ``Voice.CreateCall`` + ``Call.Start``,
following the call's state to learn whether it was answered.

Nothing here raises for a modem fault: an absent modem, a locked or missing SIM, no registration, a send that fails
or a modem unplugged mid-send all come back as results (and in :meth:`health`). Phone numbers are registered as
secrets and never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

from dbus_fast import Message, Variant

from core.cellular import CallResult, CellularHealth, IncomingSms, SmsResult
from core.clock import monotonic_ms
from core.secrets import add_secret
from core.signal import Signal
from drivers.modem import mm
from drivers.modem.config import ModemSection
from drivers.modem.link import Link, MMError

log = logging.getLogger(__name__)

T = TypeVar("T")
Watcher = Callable[[str, list[Any]], None]  # (member, body) of a signal about one SMS or call object


class ModemGone(Exception):
    """The modem (or ModemManager, or the bus) went away while an operation was waiting on it."""


def _short(error: MMError) -> str:
    """``org.freedesktop.ModemManager1.Error.MessageError.NetworkTimeout`` -> ``MessageError.NetworkTimeout``."""
    return ".".join(error.name.split(".")[-2:]) if "." in error.name else error.name


class ModemManagerModem:
    """See the module docstring. ``await start()`` once (returns at once; the modem is found in the background),
    ``await stop()`` once."""

    def __init__(self, settings: ModemSection) -> None:
        self.settings = settings
        self.incoming: Signal[IncomingSms] = Signal("modem.incoming")
        self.changed: Signal[CellularHealth] = Signal("modem.changed")
        self.counters: dict[str, int] = {}
        self._link: Link | None = None
        self._path: str | None = None
        self._props: dict[str, dict[str, Any]] = {}
        self._sim: dict[str, Any] = {}
        self._gone = asyncio.Event()
        self._gone.set()
        self._watchers: dict[str, list[Watcher]] = {}
        self._seen_incoming: set[str] = set()
        self._send_lock = asyncio.Lock()
        self._call_lock = asyncio.Lock()
        self._scan_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._last_sms: SmsResult | None = None
        self._active_calls: set[str] = set()  # calls the gateway placed that may still be up
        self._bus_error = ""
        self._reported: tuple[Any, ...] | None = None
        self._stopping = False
        #: False until the first look for a modem has finished (connected and listed, or the bus unreachable).
        self.settled = False

    # ------------------------------------------------------------------ lifetime

    async def start(self) -> None:
        self._runner = asyncio.create_task(self._run(), name="modem-link")

    async def stop(self) -> None:
        self._stopping = True
        link = self._link
        if link is not None:  # never leave a line open: a call kept up by a stopped gateway costs and blocks
            for call_path in list(self._active_calls):
                with contextlib.suppress(MMError):
                    await link.call(call_path, mm.CALL, "Hangup", timeout_s=2)
        tasks = [t for t in (self._runner, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._link is not None:
            self._link.close()
            self._link = None
        self._lose("stopped")

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        if self._stopping:
            if asyncio.iscoroutine(coro):
                coro.close()
            return
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._count("internal_errors")
            log.error("modem: %s failed: %r", task.get_name(), task.exception())

    async def _run(self) -> None:
        """Keep a bus connection; on loss, forget the modem and reconnect with backoff."""
        delay = self.settings.retry_min_s
        while True:
            link = Link(self.settings.bus_address, self._on_signal, self.settings.call_timeout_s)
            try:
                await link.connect()
            except (OSError, MMError, ValueError) as exc:
                self._bus_error = f"system bus unreachable: {exc}"[:200]
                self.settled = True
                self._count("bus_errors")
                log.warning("modem: %s; retrying in %.0f s", self._bus_error, delay)
                self._publish()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.retry_max_s)
                continue
            self._bus_error = ""
            self._link = link
            delay = self.settings.retry_min_s
            await self._rescan()
            if not self.settled:
                self.settled = True
                self._reported = None
                self._publish()
            await link.wait_closed()
            self._link = None
            if self._path is not None:
                self._count("bus_errors")
            self._lose("system bus connection lost")
            await asyncio.sleep(delay)

    # ------------------------------------------------------------------ which modem

    def _wanted(self, paths: list[str]) -> str | None:
        """The modem the settings select among ``paths`` (ModemManager modem object paths)."""

        def index(path: str) -> int:
            tail = path.rsplit("/", 1)[-1]
            return int(tail) if tail.isdigit() else 1 << 30

        ordered = sorted(paths, key=index)
        want = self.settings.modem.strip()
        if not want:
            return ordered[0] if ordered else None
        if want.isdigit():
            return next((p for p in ordered if index(p) == int(want)), None)
        return None  # IMEI: resolved by the caller, which has the properties

    async def _rescan(self) -> None:
        """Ask ModemManager which modems exist and adopt the selected one (or none)."""
        async with self._scan_lock:
            link = self._link
            if link is None:
                return
            try:
                objects = await link.managed_objects()
            except MMError as exc:
                if exc.name not in (
                    "org.freedesktop.DBus.Error.ServiceUnknown",
                    "org.freedesktop.DBus.Error.NameHasNoOwner",
                ):
                    self._count("bus_errors")
                    log.warning("modem: listing modems failed: %s", exc)
                self._lose("ModemManager not running")
                return
            modems = {p: i for p, i in objects.items() if p.startswith(mm.MODEM_PREFIX) and mm.MODEM in i}
            want = self.settings.modem.strip()
            if want and not want.isdigit():
                chosen = next((p for p, i in modems.items() if i[mm.MODEM].get("EquipmentIdentifier") == want), None)
            else:
                chosen = self._wanted(list(modems))
            if chosen is None:
                self._lose("no modem")
                return
            if chosen == self._path:
                return
            self._lose("another modem selected")
            await self._adopt(link, chosen, modems[chosen])

    async def _adopt(self, link: Link, path: str, interfaces: dict[str, dict[str, Any]]) -> None:
        self._path, self._props, self._gone = path, {k: dict(v) for k, v in interfaces.items()}, asyncio.Event()
        modem = self._props.get(mm.MODEM, {})
        log.info("modem: %s %s at %s", modem.get("Manufacturer", ""), modem.get("Model", ""), path)
        await self._load_sim()
        if self.settings.enable and modem.get("State") == mm.STATE_DISABLED:
            try:
                await link.call(path, mm.MODEM, "Enable", "b", [True], timeout_s=60)
                log.info("modem: enabled it")
            except MMError as exc:
                self._count("enable_failed")
                log.warning("modem: could not enable: %s", exc)
        self._publish()
        if mm.MESSAGING in self._props:
            self._spawn(self._read_stored(), "modem-stored-sms")

    def _lose(self, why: str) -> None:
        """Forget the current modem; operations waiting on it end with ``modem_removed``."""
        if self._path is not None:
            log.warning("modem: %s lost (%s)", self._path, why)
            self._count("modem_lost")
        self._path, self._props, self._sim = None, {}, {}
        self._gone.set()
        self._publish()

    async def _load_sim(self) -> None:
        sim_path = self._props.get(mm.MODEM, {}).get("Sim", "/")
        self._sim = {}
        if self._link is None or not sim_path or sim_path == "/":
            return
        try:
            self._sim = await self._link.get_all(sim_path, mm.SIM)
        except MMError as exc:
            log.warning("modem: SIM properties unreadable: %s", exc)

    # ------------------------------------------------------------------ signals

    def _on_signal(self, msg: Message) -> None:
        try:
            self._dispatch(msg)
        except (ValueError, TypeError, IndexError, KeyError) as exc:  # a malformed signal: count, keep going
            self._count("bad_signals")
            log.warning("modem: ignored malformed %s.%s: %s", msg.interface, msg.member, exc)

    def _dispatch(self, msg: Message) -> None:
        body = list(msg.body)
        if msg.member == "NameOwnerChanged":
            if body[2]:
                self._spawn(self._rescan(), "modem-rescan")
            else:
                self._lose("ModemManager stopped")
            return
        if msg.interface == mm.OBJECT_MANAGER and msg.path == mm.ROOT:
            path = str(body[0])
            if msg.member == "InterfacesRemoved" and path == self._path:
                self._lose("modem removed")
                self._spawn(self._rescan(), "modem-rescan")
            elif msg.member == "InterfacesAdded" and path.startswith(mm.MODEM_PREFIX) and self._path is None:
                self._spawn(self._rescan(), "modem-rescan")
            return
        if msg.path == self._path and self._path is not None:
            self._modem_signal(msg.interface or "", msg.member or "", body)
            return
        for watcher in tuple(self._watchers.get(msg.path or "", ())):
            watcher(msg.member or "", body)

    def _modem_signal(self, interface: str, member: str, body: list[Any]) -> None:
        if interface == mm.PROPERTIES and member == "PropertiesChanged":
            iface, changed = str(body[0]), body[1]
            props = self._props.setdefault(iface, {})
            for name, value in changed.items():
                props[name] = value.value if isinstance(value, Variant) else value
            if iface == mm.MODEM and "Sim" in changed:
                self._spawn(self._sim_changed(), "modem-sim")
            self._publish()
        elif interface == mm.MESSAGING and member == "Added" and bool(body[1]):
            self._spawn(self._read_incoming(str(body[0])), "modem-incoming-sms")

    async def _sim_changed(self) -> None:
        await self._load_sim()
        self._publish()

    def _watch(self, path: str, watcher: Watcher) -> Callable[[], None]:
        self._watchers.setdefault(path, []).append(watcher)

        def unwatch() -> None:
            watchers = self._watchers.get(path, [])
            with contextlib.suppress(ValueError):
                watchers.remove(watcher)
            if not watchers:
                self._watchers.pop(path, None)

        return unwatch

    # ------------------------------------------------------------------ health

    def not_ready(self) -> str:
        """Why nothing can be sent now ("" = ready); one of ``core.cellular.NOT_READY_REASONS``."""
        if self._path is None:
            return "no_modem"
        modem = self._props.get(mm.MODEM, {})
        state = int(modem.get("State", 0))
        if state == mm.STATE_FAILED:
            return mm.FAILED_REASONS.get(int(modem.get("StateFailedReason", 1)), "modem_failed")
        lock = int(modem.get("UnlockRequired", mm.LOCK_UNKNOWN))
        if state == mm.STATE_LOCKED or lock not in (mm.LOCK_NONE, mm.LOCK_UNKNOWN):
            return "sim_locked"
        if modem.get("Sim", "/") in ("", "/"):
            return "sim_missing"
        if not self._registration()[1]:
            return "not_registered"
        return ""

    def _registration(self) -> tuple[str, bool, bool]:
        raw = self._props.get(mm.MODEM_3GPP, {}).get("RegistrationState")
        if raw is None:  # a CDMA-only or not-yet-enabled modem: fall back on the modem state
            registered = int(self._props.get(mm.MODEM, {}).get("State", 0)) >= mm.STATE_REGISTERED
            return ("home" if registered else "unknown", registered, False)
        return mm.REGISTRATION.get(int(raw), ("unknown", False, False))

    def _sim_state(self) -> str:
        modem = self._props.get(mm.MODEM, {})
        reason = self.not_ready()
        if reason in ("sim_missing", "sim_error"):
            return reason.removeprefix("sim_")
        lock = int(modem.get("UnlockRequired", mm.LOCK_UNKNOWN))
        if reason == "sim_locked":
            return "locked:" + mm.LOCKS.get(lock, str(lock))
        return "ok" if self._path is not None and modem.get("Sim", "/") not in ("", "/") else "unknown"

    def health(self) -> CellularHealth:
        if self._path is None:
            return CellularHealth(not_ready="no_modem", last_sms=self._last_sms, counters=dict(self.counters))
        modem = self._props.get(mm.MODEM, {})
        quality = modem.get("SignalQuality") or [None, False]
        registration, registered, roaming = self._registration()
        reason = self.not_ready()
        return CellularHealth(
            present=True,
            ready=not reason,
            not_ready=reason,
            model=" ".join(str(modem.get(k, "")) for k in ("Manufacturer", "Model")).strip(),
            state=mm.MODEM_STATES.get(int(modem.get("State", 0)), "unknown"),
            sim=self._sim_state(),
            registration=registration,
            registered=registered,
            roaming=roaming,
            technology=mm.technology(int(modem.get("AccessTechnologies", 0))),
            signal_pct=int(quality[0]) if quality[0] is not None else None,
            operator=str(
                self._props.get(mm.MODEM_3GPP, {}).get("OperatorName", "") or self._sim.get("OperatorName", "")
            ),
            last_sms=self._last_sms,
            counters=dict(self.counters),
        )

    @property
    def bus_error(self) -> str:
        """Why the system bus is unreachable ("" when connected)."""
        return self._bus_error

    def _publish(self) -> None:
        """Emit ``changed`` when something other than the signal level changed."""
        health = self.health()
        key = (
            health.present,
            health.ready,
            health.not_ready,
            health.sim,
            health.registration,
            health.state,
            health.technology,
            self._bus_error,
        )
        if key != self._reported:
            self._reported = key
            self.changed.emit(health)

    def _count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    # ------------------------------------------------------------------ SMS out

    async def send_sms(self, number: str, text: str) -> SmsResult:
        """See :meth:`core.cellular.Cellular.send_sms`."""
        add_secret(number)
        started = monotonic_ms()
        async with self._send_lock:
            result = await self._send(number, text)
        result = replace(result, elapsed_ms=monotonic_ms() - started)
        self._last_sms = result
        self._count("sms_sent" if result.ok else ("sms_not_sent" if result.state == "not_sent" else "sms_failed"))
        if result.ok:
            log.info("modem: SMS sent (%d chars, %d ms)", len(text), result.elapsed_ms)
        else:
            log.warning("modem: SMS %s: %s", result.state.replace("_", " "), result.error)
        self._publish()
        return result

    async def _send(self, number: str, text: str) -> SmsResult:
        reason, link, path, gone = self.not_ready(), self._link, self._path, self._gone
        if reason or link is None or path is None:
            return SmsResult("not_sent", reason or "no_modem")
        args = {"number": Variant("s", number), "text": Variant("s", text)}
        try:
            (sms_path,) = await self._race(link.call(path, mm.MESSAGING, "Create", "a{sv}", [args]), gone)
        except ModemGone:
            return SmsResult("not_sent", "modem_removed")
        except MMError as exc:
            return SmsResult("not_sent", _short(exc))
        try:
            send = link.call(str(sms_path), mm.SMS, "Send", timeout_s=self.settings.send_timeout_s)
            await self._race(send, gone)
            return SmsResult("sent")
        except ModemGone:
            return SmsResult("failed", "modem_removed")
        except MMError as exc:
            return SmsResult("failed", _short(exc))
        finally:
            if not gone.is_set():
                self._spawn(self._delete_sms(link, path, str(sms_path)), "modem-delete-sms")

    async def _delete_sms(self, link: Link, modem_path: str, sms_path: str) -> None:
        try:
            await link.call(modem_path, mm.MESSAGING, "Delete", "o", [sms_path])
        except MMError as exc:
            self._count("sms_delete_failed")
            log.debug("modem: could not delete %s: %s", sms_path, exc)

    async def _race(self, op: Awaitable[T], gone: asyncio.Event) -> T:
        """Await ``op`` unless the modem goes away first (then :class:`ModemGone`)."""
        if gone.is_set():
            if asyncio.iscoroutine(op):
                op.close()
            raise ModemGone
        task = asyncio.ensure_future(op)
        lost = asyncio.ensure_future(gone.wait())
        try:
            await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, MMError):
            await task
        raise ModemGone

    # ------------------------------------------------------------------ SMS in

    async def _read_stored(self) -> None:
        """Messages received while the gateway was not running are still on the modem/SIM: read them too."""
        link, path = self._link, self._path
        if link is None or path is None:
            return
        try:
            (paths,) = await link.call(path, mm.MESSAGING, "List")
        except MMError as exc:
            log.warning("modem: could not list stored SMS: %s", exc)
            return
        for sms_path in paths:
            try:
                state = await link.get(str(sms_path), mm.SMS, "State")
            except MMError:
                continue
            if int(state) in (mm.SMS_RECEIVED, 2):  # received, or still receiving
                await self._read_incoming(str(sms_path))

    async def _read_incoming(self, sms_path: str) -> None:
        if sms_path in self._seen_incoming:
            return
        self._seen_incoming.add(sms_path)
        link, modem_path, gone = self._link, self._path, self._gone
        if link is None or modem_path is None:
            return
        changed = asyncio.Event()
        unwatch = self._watch(sms_path, lambda _member, _body: changed.set())
        try:
            props = await link.get_all(sms_path, mm.SMS)
            deadline = asyncio.get_running_loop().time() + self.settings.receive_timeout_s
            while int(props.get("State", 0)) != mm.SMS_RECEIVED:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    self._count("sms_incomplete")
                    log.warning("modem: an incoming SMS stayed incomplete; reading what arrived")
                    break
                changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._race(changed.wait(), gone), left)
                props = await link.get_all(sms_path, mm.SMS)
        except (MMError, ModemGone) as exc:
            self._count("sms_read_failed")
            log.warning("modem: could not read an incoming SMS: %s", exc)
            return
        finally:
            unwatch()
        number, text = str(props.get("Number", "")), str(props.get("Text", ""))
        add_secret(number)
        self._count("sms_received")
        log.info("modem: SMS received (%d chars)", len(text))
        self.incoming.emit(IncomingSms(number, text, str(props.get("Timestamp", "")), monotonic_ms()))
        if self.settings.delete_received:
            await self._delete_sms(link, modem_path, sms_path)
        self._seen_incoming.discard(sms_path)

    # ------------------------------------------------------------------ calls

    async def call(self, number: str, ring_timeout_s: float | None = None) -> CallResult:
        """See :meth:`core.cellular.Cellular.call` (``None``: the configured ``ring_timeout_s``)."""
        add_secret(number)
        ring = min(ring_timeout_s or self.settings.ring_timeout_s, self.settings.ring_timeout_s * 4)
        async with self._call_lock:
            result = await self._call(number, ring)
        self._count("calls_answered" if result.answered else f"calls_{result.outcome}")
        log.info("modem: call %s (%s) after %d ms", result.outcome, result.reason or "-", result.ring_ms)
        return result

    async def _call(self, number: str, ring_s: float) -> CallResult:
        reason, link, path, gone = self.not_ready(), self._link, self._path, self._gone
        if reason or link is None or path is None:
            return CallResult(False, "not_placed", reason or "no_modem")
        try:
            (call_path,) = await self._race(
                link.call(path, mm.VOICE, "CreateCall", "a{sv}", [{"number": Variant("s", number)}]), gone
            )
        except ModemGone:
            return CallResult(False, "not_placed", "modem_removed")
        except MMError as exc:
            return CallResult(False, "not_placed", _short(exc))
        call_path = str(call_path)
        states: asyncio.Queue[tuple[int, int]] = asyncio.Queue()

        def on_call(member: str, body: list[Any]) -> None:
            if member == "StateChanged":
                states.put_nowait((int(body[1]), int(body[2])))
            elif member == "PropertiesChanged" and str(body[0]) == mm.CALL and "State" in body[1]:
                changed = {k: v.value if isinstance(v, Variant) else v for k, v in body[1].items()}
                states.put_nowait((int(changed["State"]), int(changed.get("StateReason", 0))))

        unwatch = self._watch(call_path, on_call)
        started = monotonic_ms()
        answered = False
        self._active_calls.add(call_path)
        self._count("calls_placed")
        try:
            await self._race(link.call(call_path, mm.CALL, "Start"), gone)
            deadline = asyncio.get_running_loop().time() + ring_s
            while True:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    await self._hangup(link, call_path)
                    return CallResult(False, "no_answer", "ring timeout", monotonic_ms() - started)
                try:
                    state, why = await asyncio.wait_for(self._race(states.get(), gone), left)
                except TimeoutError:
                    continue
                if state == mm.CALL_ACTIVE:
                    answered = True
                    self._spawn(self._hold(link, path, call_path, gone), "modem-call-hold")
                    return CallResult(True, "answered", "", monotonic_ms() - started)
                if state == mm.CALL_TERMINATED:
                    outcome = mm.CALL_END_OUTCOMES.get(why, "no_answer")
                    return CallResult(False, outcome, f"state reason {why}", monotonic_ms() - started)  # type: ignore[arg-type]
        except ModemGone:
            return CallResult(False, "failed", "modem_removed", monotonic_ms() - started)
        except MMError as exc:
            await self._hangup(link, call_path)
            return CallResult(False, "failed", _short(exc), monotonic_ms() - started)
        finally:
            unwatch()
            if not answered:
                self._active_calls.discard(call_path)
                if not gone.is_set():
                    self._spawn(self._delete_call(link, path, call_path), "modem-delete-call")

    async def _hold(self, link: Link, modem_path: str, call_path: str, gone: asyncio.Event) -> None:
        """Keep an answered call up for ``hold_s`` (or until the far end hangs up), then hang up and delete it."""
        ended = asyncio.Event()

        def on_call(member: str, body: list[Any]) -> None:
            if member == "StateChanged" and int(body[1]) == mm.CALL_TERMINATED:
                ended.set()

        unwatch = self._watch(call_path, on_call)
        try:
            with contextlib.suppress(TimeoutError, ModemGone):
                await asyncio.wait_for(self._race(ended.wait(), gone), self.settings.hold_s)
            if not ended.is_set() and not gone.is_set():
                await self._hangup(link, call_path)
        finally:
            unwatch()
            self._active_calls.discard(call_path)
        if not gone.is_set():
            await self._delete_call(link, modem_path, call_path)

    async def _hangup(self, link: Link, call_path: str) -> None:
        try:
            await link.call(call_path, mm.CALL, "Hangup")
        except MMError as exc:
            self._count("hangup_failed")
            log.debug("modem: hangup failed: %s", exc)

    async def _delete_call(self, link: Link, modem_path: str, call_path: str) -> None:
        try:
            await link.call(modem_path, mm.VOICE, "DeleteCall", "o", [call_path])
        except MMError as exc:
            log.debug("modem: could not delete call %s: %s", call_path, exc)
