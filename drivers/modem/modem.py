"""A cellular modem owned by ModemManager, spoken to over D-Bus: what the ``Cellular`` port of the gateway needs.

ModemManager owns the serial/QMI/MBIM ports of the module (Quectel EC2x, SIMCom...): this class never writes an AT
command. It follows the modem's presence (ObjectManager ``InterfacesAdded``/``InterfacesRemoved`` and ModemManager's
name owner), its SIM, registration, access technology and signal (``PropertiesChanged``), sends SMS through
``Messaging.Create`` + ``Sms.Send`` (ModemManager encodes UCS-2 and splits long texts), reads incoming SMS from
``Messaging.Added`` once their state is *received*, and dials through ``Voice.CreateCall`` + ``Call.Start``,
following the call's state to learn whether it was answered.

Nothing here raises for a modem fault: an absent modem, a locked or missing SIM, no registration, a send that fails
or a modem unplugged mid-send all come back as results (and in :meth:`health`). Phone numbers are registered as
secrets and never logged.

``SmsResult.detail``: ``sent``; not tried (the modem is not ready): ``no_modem``, ``sim_missing``, ``sim_locked``,
``sim_error``, ``not_registered``, ``modem_failed``; tried and failed: ``timeout`` (no answer within
``send_timeout_s``: it may still have left), ``modem_removed`` (unplugged mid-send), ``send_failed: <ModemManager
error>`` (e.g. ``send_failed: MessageError.NetworkTimeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from dbus_fast import Message, Variant

from core.clock import monotonic_ms
from core.phone import CallResult, IncomingSms, SmsResult, same_number
from core.secrets import add_secret
from core.signal import Signal
from drivers.modem import mm, state
from drivers.modem.config import ModemSection
from drivers.modem.link import Link, MMError, ModemGone, race
from drivers.modem.state import NOT_READY_REASONS, CellularHealth
from drivers.modem.voice import Voice

log = logging.getLogger(__name__)

Watcher = Callable[[str, list[Any]], None]  # (member, body) of a signal about one SMS or call object


class ModemManagerModem:
    """See the module docstring. ``await start()`` once (returns at once; the modem is found in the background),
    ``await stop()`` once."""

    def __init__(self, settings: ModemSection) -> None:
        self.settings = settings
        #: Every SMS received from any number, once complete. Listeners must not block.
        self.incoming_sms: Signal[IncomingSms] = Signal("modem.incoming_sms")
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
        self._voice = Voice(settings.hold_s, self._watch, self._spawn, self._count)
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
            await self._voice.hangup_all(link)
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
        """Why nothing can be sent now ("" = ready); one of :data:`~drivers.modem.state.NOT_READY_REASONS`."""
        return state.not_ready(self._props if self._path is not None else None)

    def health(self) -> CellularHealth:
        props = self._props if self._path is not None else None
        return state.health(props, self._sim, self._last_sms, self.counters)

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

    def sms_blocked(self) -> str | None:
        """None if an SMS can be sent now; else why not (one of ``NOT_READY_REASONS``)."""
        return self.not_ready() or None

    async def send_sms(self, number: str, text: str) -> SmsResult:
        """Send ``text`` (any length, any script: ModemManager splits and encodes it) to ``number``; returns when the
        network accepted or refused it, after ``send_timeout_s``, or as soon as the modem vanishes. Serialised."""
        add_secret(number)
        started = monotonic_ms()
        async with self._send_lock:
            result = await self._send(number, text)
        elapsed = monotonic_ms() - started
        self._last_sms = result
        self._count("sms_sent" if result.ok else "sms_not_sent" if result.detail in NOT_READY_REASONS else "sms_failed")
        if result.ok:
            log.info("modem: SMS sent (%d chars, %d ms)", len(text), elapsed)
        else:
            log.warning("modem: SMS not sent (%s, %d ms)", result.detail, elapsed)
        self._publish()
        return result

    async def _send(self, number: str, text: str) -> SmsResult:
        reason, link, path, gone = self.not_ready(), self._link, self._path, self._gone
        if reason or link is None or path is None:
            return SmsResult(False, reason or "no_modem")
        args = {"number": Variant("s", number), "text": Variant("s", text)}
        try:
            (sms_path,) = await race(link.call(path, mm.MESSAGING, "Create", "a{sv}", [args]), gone)
        except ModemGone:
            return SmsResult(False, "modem_removed")
        except MMError as exc:
            return SmsResult(False, "timeout" if exc.name == "timeout" else f"send_failed: {exc.short}")
        try:
            send = link.call(str(sms_path), mm.SMS, "Send", timeout_s=self.settings.send_timeout_s)
            await race(send, gone)
            return SmsResult(True, "sent")
        except ModemGone:
            return SmsResult(False, "modem_removed")
        except MMError as exc:
            return SmsResult(False, "timeout" if exc.name == "timeout" else f"send_failed: {exc.short}")
        finally:
            if not gone.is_set():
                self._spawn(self._delete_sms(link, path, str(sms_path)), "modem-delete-sms")

    async def was_sent(self, number: str, text: str) -> bool | None:
        """Whether the modem holds a sent SMS to ``number`` with exactly ``text`` (None: it cannot tell).

        After a restart in the middle of a send: a send the gateway started is finished by ModemManager on its own,
        and the SMS object stays (the gateway deletes it only after a send it saw end). One still sending is waited
        for, up to ``send_timeout_s``. ModemManager restarted meanwhile: it is gone, and the answer is False."""
        link, path, gone = self._link, self._path, self._gone
        if link is None or path is None:
            return None
        try:
            (paths,) = await race(link.call(path, mm.MESSAGING, "List"), gone)
            for sms_path in paths:
                props = await race(link.get_all(str(sms_path), mm.SMS), gone)
                if props.get("Text") != text or not same_number(str(props.get("Number", "")), number):
                    continue
                deadline = asyncio.get_running_loop().time() + self.settings.send_timeout_s
                while int(props.get("State", 0)) == mm.SMS_SENDING and asyncio.get_running_loop().time() < deadline:
                    await asyncio.sleep(0.2)
                    props = await race(link.get_all(str(sms_path), mm.SMS), gone)
                if int(props.get("State", 0)) == mm.SMS_SENT:
                    return True
        except (MMError, ModemGone) as exc:
            log.warning("modem: could not look for a sent SMS: %s", exc)
            return None
        return False

    async def _delete_sms(self, link: Link, modem_path: str, sms_path: str) -> None:
        try:
            await link.call(modem_path, mm.MESSAGING, "Delete", "o", [sms_path])
        except MMError as exc:
            self._count("sms_delete_failed")
            log.debug("modem: could not delete %s: %s", sms_path, exc)

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
            if int(state) in (mm.SMS_RECEIVED, mm.SMS_RECEIVING):
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
                    await asyncio.wait_for(race(changed.wait(), gone), left)
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
        meta = {"timestamp": str(props.get("Timestamp", ""))} if props.get("Timestamp") else {}
        self.incoming_sms.emit(IncomingSms(number, text, monotonic_ms(), meta))
        if self.settings.delete_received:
            await self._delete_sms(link, modem_path, sms_path)
        self._seen_incoming.discard(sms_path)

    # ------------------------------------------------------------------ calls

    async def call(self, number: str, ring_timeout_s: float | None = None) -> CallResult:
        """Dial ``number`` and let it ring up to ``ring_timeout_s`` (None: the configured one); returns as soon as
        it is answered, refused or given up (then hung up). An answered call is hung up after ``hold_s``."""
        add_secret(number)
        ring = min(ring_timeout_s or self.settings.ring_timeout_s, self.settings.ring_timeout_s * 4)
        async with self._call_lock:
            reason, link, path = self.not_ready(), self._link, self._path
            if reason or link is None or path is None:
                result = CallResult(False, reason or "no_modem")
            else:
                self._count("calls_placed")
                result = await self._voice.place(link, path, self._gone, number, ring)
        self._count("calls_answered" if result.answered else "calls_" + result.detail.split(":")[0])
        log.info("modem: call %s after %.1f s", result.detail, result.ring_s)
        return result
