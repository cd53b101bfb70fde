"""The Zigbee driver: zigpy on a coordinator stick, IAS devices mapped to fbgw readings.

Lifetime: ``start()`` returns at once; a supervisor task connects the radio, forms or resumes the network,
and reconnects with backoff when the stick is lost (reported through ``sink.radio``). Received packets are
tapped before zigpy routes them: that is where last-seen, IAS zone status, enroll requests, battery and
occupancy become readings. Devices are enrolled once interviewed and then added to the registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import zigpy.application
import zigpy.backups
import zigpy.device
import zigpy.exceptions
import zigpy.types as t

from core.atomic import make_dirs
from core.devices import Device
from drivers.base import Driver, DriverConfigError, DriverContext, DriverHealth, Reading
from drivers.zigbee import enroll, ias, identify, inbound, listen, mapping, quirks, warning
from drivers.zigbee.availability import Availability
from drivers.zigbee.backup import BackupWriter
from drivers.zigbee.config import ZigbeeSection, zigpy_config
from drivers.zigbee.pairing import Deadlines, PairingWindow, clamp_seconds
from drivers.zigbee.ports import find_stick_async
from drivers.zigbee.radio import app_class
from drivers.zigbee.radiolog import RadioLogCounter

log = logging.getLogger(__name__)

HA_PROFILE = 0x0104
LEAVE_TIMEOUT_S = 10.0
SHUTDOWN_TIMEOUT_S = 10.0
IDENTIFY_S = 15
#: Button gestures -> the ``event`` meta every button driver uses (the alarm book reads it).
GESTURE_EVENTS = {
    "single": "press",
    "double": "double_press",
    "long": "long_press",
}  # long enough to walk to the bed and see which sensor blinks


def device_id_of(ieee: t.EUI64) -> str:
    return "zb-" + str(ieee).replace(":", "").lower()


class RadioUnavailable(Exception):
    """No stick to talk to (absent, unplugged, not found by USB id)."""


#: What a missing, busy or slow stick raises while starting; anything else is logged with its traceback.
EXPECTED_CONNECT_ERRORS = (
    RadioUnavailable,
    OSError,
    TimeoutError,
    zigpy.exceptions.ZigbeeException,
    RuntimeError,
    ValueError,
    KeyError,
)


class ZigbeeDriver(Driver):
    """IAS Zone sensors and buttons through a zigpy coordinator (ZNP or EZSP)."""

    transport = "zigbee"

    def __init__(self, settings: ZigbeeSection, ctx: DriverContext) -> None:
        super().__init__(ctx)
        self.settings = settings
        self.state_dir = ctx.state_dir / "zigbee"
        self.app: zigpy.application.ControllerApplication | None = None
        self.availability = Availability(settings.offline_after_mains_s, settings.offline_after_battery_s)
        self.pairing = PairingWindow(ctx.sink.pairing)
        self.counters: dict[str, int] = {}
        self._health = DriverHealth("zigbee", "starting")
        self._radio_up: bool | None = None
        self._lost: asyncio.Future[str] | None = None
        self._readings: asyncio.Queue[Reading] = asyncio.Queue()
        self._zone_status: dict[str, int] = {}
        self._adopting: set[str] = set()
        #: Enroll Responses in flight per device (answers to its own Zone Enroll Requests), see _answers_settled.
        self._enroll_answers: dict[str, set[asyncio.Task[None]]] = {}
        self._interviews = Deadlines()
        self._main_tasks: list[asyncio.Task[None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._events = _AppEvents(self)
        self._backups = BackupWriter(self.state_dir / "network_backup.json", self._spawn)
        self._radio_log = RadioLogCounter(self.count)
        self._detach: dict[str, Callable[[], None]] = {}
        self._link: dict[str, dict[str, Any]] = {}
        self._battery: dict[str, tuple[int, bool, dict[str, Any]]] = {}

    @classmethod
    def from_section(cls, section: dict[str, Any], ctx: DriverContext) -> ZigbeeDriver:
        return cls(ZigbeeSection.parse(section), ctx)

    # -- life cycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(make_dirs, self.state_dir)
        self._radio_log.attach()
        for dev in self.ctx.registry.all("zigbee"):
            self.availability.track(dev.id, mains=dev.params.get("power_source") == "mains")
        self._main_tasks = [
            asyncio.create_task(self._supervise(), name="zigbee-supervisor"),
            asyncio.create_task(self._pump(), name="zigbee-readings"),
            asyncio.create_task(self._watch_availability(), name="zigbee-availability"),
        ]

    async def stop(self) -> None:
        for task in self._main_tasks:
            task.cancel()
        for task in self._main_tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._main_tasks.clear()
        await self.pairing.aclose()
        self._interviews.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._teardown()
        self._radio_log.detach()
        self._health.state = "stopped"

    def health(self) -> DriverHealth:
        self._health.counters = dict(self.counters)
        return self._health

    def count(self, what: str, n: int = 1) -> None:
        self.counters[what] = self.counters.get(what, 0) + n

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> None:
        self._start(coro, name)

    def _start(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        """A background task the driver keeps (and cancels on stop); returned for those who wait on it."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- radio supervision -----------------------------------------------------------------------------
    async def _supervise(self) -> None:
        delay = self.settings.reconnect_min_s
        while True:
            try:
                self.app = await self._connect()
            except Exception as exc:
                # Deliberately broad: the radio libraries raise their own Exception subclasses from startup
                # (zigpy-znp's CommandNotRecognized and SecurityError, bellows' EZSP errors...). Whatever
                # the stack throws, the stick must be retried, never left down with the supervisor dead.
                # CancelledError is a BaseException, so stop() still ends this loop.
                await self._connect_failed(exc, delay)
                delay = min(delay * 2, self.settings.reconnect_max_s)
                continue
            delay = self.settings.reconnect_min_s
            self.availability.rebase()
            self._listen_all()
            await self._set_radio(True, "coordinator running")
            assert self._lost is not None
            reason = await self._lost
            self.count("radio_lost")
            await self._teardown()
            await self._set_radio(False, reason)

    async def _connect_failed(self, exc: Exception, delay: float) -> None:
        """Log, count and report one failed start of the radio, then wait ``delay`` before the next try."""
        self.count("connect_failures")
        reason = f"coordinator not available: {type(exc).__name__}: {exc}"
        if isinstance(exc, EXPECTED_CONNECT_ERRORS):
            log.info("zigbee: %s; retrying in %g s", reason, delay)
        else:  # a stack or firmware problem rather than a missing stick: keep the traceback
            log.warning("zigbee: %s; retrying in %g s", reason, delay, exc_info=exc)
        await self._set_radio(False, reason)
        await asyncio.sleep(delay)

    async def _connect(self) -> zigpy.application.ControllerApplication:
        port = self.settings.port or await find_stick_async(self.settings.radio)
        if port is None:
            raise RadioUnavailable("no Zigbee stick found by USB id; set drivers.zigbee.port")
        config = zigpy_config(self.settings, self.state_dir, port)
        library = quirks.library()  # the quirks of the vendors paired here (the others when pairing opens)
        await asyncio.to_thread(
            library.load_for, [d.params.get("manufacturer") for d in self.ctx.registry.all("zigbee")]
        )
        app = await app_class(self.settings.radio).new(config, start_radio=False, device_resolver=library.resolve)
        app.packet_tap = self._on_packet  # type: ignore[attr-defined]
        app.add_listener(self._events)
        app.backups.add_listener(self._backups)
        self._lost = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(self.settings.startup_timeout_s):
                await app.startup(auto_form=True)
        except BaseException:
            await self._shutdown(app)
            raise
        log.info(
            "zigbee: network up on %s (pan 0x%04x, channel %s)",
            port,
            app.state.network_info.pan_id,
            app.state.network_info.channel,
        )
        return app

    async def _teardown(self) -> None:
        app, self.app = self.app, None
        for detach in self._detach.values():
            detach()
        self._detach.clear()
        if app is not None:
            await self._shutdown(app)

    async def _shutdown(self, app: zigpy.application.ControllerApplication) -> None:
        try:
            async with asyncio.timeout(SHUTDOWN_TIMEOUT_S):
                await app.shutdown()
        except Exception as exc:
            # Deliberately broad, as in _supervise: a lost stick may fail its shutdown with any radio
            # library error, and that must not stop the reconnect loop or the driver's stop().
            log.warning("zigbee: radio shutdown incomplete: %s: %s", type(exc).__name__, exc)

    def radio_lost(self, exc: BaseException | None) -> None:
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(f"coordinator lost: {exc!r}" if exc else "coordinator lost")

    async def _set_radio(self, up: bool, reason: str) -> None:
        self._health.state = "up" if up else "down"
        self._health.detail = reason
        if self._radio_up == up or (up and self._radio_up is None):
            self._radio_up = up
            return
        self._radio_up = up
        log.log(logging.INFO if up else logging.WARNING, "zigbee: %s", reason)
        await self.ctx.sink.radio("zigbee", up, reason)

    # -- readings --------------------------------------------------------------------------------------
    def emit(self, device_id: str, capability: str, value: Any, meta: dict[str, Any]) -> None:
        self.count("readings")
        self._readings.put_nowait(Reading(device_id, capability, value, meta=meta))

    async def _pump(self) -> None:
        while True:
            reading = await self._readings.get()
            try:
                await self.ctx.sink.reading(reading)
            except Exception:  # the sink is the gateway; its failure must not stop the radio
                self.count("sink_errors")
                log.exception("zigbee: sink refused %s %s", reading.device, reading.capability)

    async def _watch_availability(self) -> None:
        while True:
            await asyncio.sleep(self.settings.availability_check_s)
            if self.app is None:
                continue  # the stick is gone: silence proves nothing about the devices
            for device_id in self.availability.expired():
                limit = self.availability.timeout_of(device_id)
                try:
                    await self.ctx.sink.availability(device_id, False, f"not heard for {limit:g} s")
                except Exception:  # the sink is the gateway; one failed report must not end the watch
                    self.count("sink_errors")
                    log.exception("zigbee: offline report for %s failed", device_id)

    def _on_packet(self, packet: t.ZigbeePacket) -> None:
        """Every received packet, before zigpy routes it. Must never raise into the radio library."""
        try:
            self._handle_packet(packet)
        except Exception:  # a bug here must not take the radio down with it
            self.count("packet_errors")
            log.exception("zigbee: could not handle %r", packet)

    def _handle_packet(self, packet: t.ZigbeePacket) -> None:
        app = self.app
        if app is None or packet.src is None or packet.src.addr_mode != t.AddrMode.NWK:
            return
        try:
            nwk = int(packet.src.address)  # type: ignore[arg-type]
            zdev: Any = app.get_device(nwk=nwk)
        except KeyError:
            return
        device_id = device_id_of(zdev.ieee)
        self.count("frames_rx")
        self._link[device_id] = {"lqi": packet.lqi, "rssi": packet.rssi, "nwk": f"0x{nwk:04x}"}
        if self.availability.seen(device_id):
            self._spawn(self.ctx.sink.availability(device_id, True, "heard again"))
        if packet.dst_ep == 0 or packet.src_ep == 0 or packet.profile_id != HA_PROFILE:
            return
        data = packet.data.serialize()
        try:
            msg = inbound.decode(packet.cluster_id, data)
        except inbound.MalformedFrame as exc:
            self.count("frames_bad")
            log.warning("zigbee: malformed frame from %s cluster 0x%04x: %s", device_id, packet.cluster_id, exc)
            return
        if msg is None:
            return
        if isinstance(msg, inbound.EnrollRequest):
            self.count("enroll_requests")
            task = self._start(self._answer_enroll(zdev, int(packet.src_ep or 0)))
            self._enroll_answers.setdefault(device_id, set()).add(task)
            task.add_done_callback(functools.partial(self._answer_done, device_id))
            return

    # -- what the (quirked) clusters say -> readings ---------------------------------------------------------
    def _listen(self, zdev: zigpy.device.Device) -> None:
        """(Re)attach the mapping table's listeners to ``zdev`` (zigpy replaces the object on a rejoin)."""
        device_id = device_id_of(zdev.ieee)
        old = self._detach.pop(device_id, None)
        if old is not None:
            old()
        self._detach[device_id] = listen.attach(zdev, functools.partial(self._on_said, zdev))

    def _listen_all(self) -> None:
        app = self.app
        if app is None:
            return
        for device in self.ctx.registry.all("zigbee"):
            zdev = app.devices.get(t.EUI64.convert(device.address))
            if isinstance(zdev, zigpy.device.Device):
                self._listen(zdev)

    def _on_said(self, zdev: Any, said: listen.Said) -> None:
        """Called by zigpy while it routes a packet: must never raise into it."""
        device_id = device_id_of(zdev.ieee)
        try:
            self._readings_from(zdev, device_id, said)
        except Exception:  # a bug or an odd value here must not break zigpy's routing
            self.count("packet_errors")
            log.exception("zigbee: could not map %r from %s", said, device_id)

    def _readings_from(self, zdev: Any, device_id: str, said: listen.Said) -> None:
        device = self.ctx.registry.get(device_id)
        if device is None:
            return
        sources = device.params.get("sources")
        if sources is not None and mapping.source_name(said.key) not in sources:
            return  # another cluster of this device reports the same thing (Aqara motion: IAS Zone + Occupancy)
        meta: dict[str, Any] = dict(self._link.get(device_id, {}))
        cluster, _side = said.key
        if cluster == mapping.IAS_ZONE:
            status = self._zone_status_of(said)
            if status is None:
                return
            meta["zone_status"] = status
            previous = self._zone_status.get(device_id)
            self._zone_status[device_id] = status
            for capability, value in ias.zone_readings(device.params.get("zone_type"), status, previous):
                self.emit(
                    device_id,
                    capability,
                    value,
                    {**meta, "index": said.endpoint} if value is True and capability == "press" else meta,
                )
            return
        if said.what == "attribute":
            found = mapping.attribute_reading(said.key, int(said.id), said.value)
            if found is None or found[0] not in device.capabilities:
                return
            if found[0] == "battery":
                self._battery_reading(device_id, int(said.id), int(found[1]), said.value, meta)
            else:
                self.emit(device_id, found[0], found[1], meta)
            return
        if said.what == "event":
            gesture = mapping.event_gesture(said.key, str(said.id))
            if gesture is not None:
                self._press(device, said.endpoint, gesture, meta)
            return
        command = mapping.command_reading(said.key, int(said.id))
        if command is None:
            return
        capability, value, gesture = command
        if capability == "press":
            button: int | str = said.endpoint
            if cluster == mapping.ON_OFF:
                found = quirks.gesture_of(zdev, mapping.ON_OFF_COMMANDS.get(int(said.id), ""), said.endpoint)
                if found is not None:
                    gesture, button = found
            self._press(device, button, gesture, meta, cluster=cluster)
        elif capability in device.capabilities:
            self.emit(device_id, capability, value, meta)

    def _report_zone_read_at_pairing(self, device: Device, status: int) -> None:
        """An alarm the zone status read while enrolling shows, reported once: a leak sensor fitted in a wet spot,
        a detector already sounding or a tamper switch left open is reported now, not at its next change (many
        devices send nothing until then). Alarms during the interview (a test while pairing) come to the driver
        before the device is known; this is where they are not lost. Only conditions that are on are reported:
        "no alarm" is what a new device is taken to be, a door's open or closed is its next change's to tell, and
        a button's alarm bit, which a press may have left set, is not a press now."""
        zone_type = device.params.get("zone_type")
        kind = ias.zone_kind(zone_type)
        meta = {**self._link.get(device.id, {}), "zone_status": status}
        for capability, value in ias.zone_readings(zone_type, status, None):
            if value is not True or (kind is not None and capability == kind.capability and kind.off is None):
                continue
            self.emit(device.id, capability, value, meta)

    @staticmethod
    def _zone_status_of(said: listen.Said) -> int | None:
        if said.what == "attribute" and said.id == mapping.ZONE_STATUS:
            return int(said.value)
        if said.what == "command" and said.id == 0x00 and said.value:  # zone status change notification
            return int(said.value[0])
        return None

    def _battery_reading(self, device_id: str, attr: int, value: int, raw: Any, meta: dict[str, Any]) -> None:
        """Battery percent wins over voltage; both often come in one report, so they are merged per report."""
        preferred = attr == mapping.BATTERY_PERCENT
        extra = {} if preferred else {"battery_voltage": int(raw) / 10}
        pending = self._battery.get(device_id)
        if pending is None:
            asyncio.get_running_loop().call_soon(self._flush_battery, device_id)
        elif pending[1] and not preferred:
            self._battery[device_id] = (pending[0], True, {**pending[2], **extra})
            return
        merged = {**meta, **(pending[2] if pending else {}), **extra}
        self._battery[device_id] = (value, preferred, merged)

    def _flush_battery(self, device_id: str) -> None:
        pending = self._battery.pop(device_id, None)
        if pending is not None:
            self.emit(device_id, "battery", pending[0], pending[2])

    def _press(
        self,
        device: Device,
        button: int | str,
        gesture: str | None,
        meta: dict[str, Any],
        *,
        cluster: int | None = None,
    ) -> None:
        """A button press, with which button (``index``: the endpoint; ``button``: the quirk's name for it) and its
        gesture; a remote's press is a call only if configured."""
        if cluster == mapping.ON_OFF and "press" not in device.capabilities:
            return  # a motion or contact sensor's plain on/off commands are not presses
        if device.type == "remote" and not device.params.get("press_is_call", False):
            self.count("presses_ignored")
            log.info("zigbee: %s pressed; not a call (set press_is_call on the device to make it one)", device.id)
            return
        meta = {**meta, "index" if isinstance(button, int) else "button": button}
        if gesture is not None:
            meta["gesture"] = gesture
            if gesture in GESTURE_EVENTS:  # what the alarm book knows from other buttons (long press...)
                meta["event"] = GESTURE_EVENTS[gesture]
        self.emit(device.id, "press", True, meta)

    async def _answer_enroll(self, zdev: zigpy.device.Device, endpoint: int) -> None:
        ep = zdev.endpoints.get(endpoint)
        cluster = getattr(ep, "in_clusters", {}).get(mapping.IAS_ZONE) if ep is not None else None
        if cluster is None:
            return
        try:
            zone_id = self._zone_id_for(device_id_of(zdev.ieee))
            async with asyncio.timeout(self.settings.enroll_step_timeout_s):
                await enroll.send_enroll_response(cluster, zone_id)
        except enroll.EnrollError as exc:
            self.count("enroll_failures")
            log.warning("zigbee: cannot enroll %s: %s", zdev.ieee, exc)
        except enroll.RADIO_ERRORS as exc:
            self.count("enroll_failures")
            log.warning("zigbee: enroll response to %s failed: %s", zdev.ieee, exc)

    async def _answers_settled(self, device_id: str) -> None:
        """Return once no Enroll Response to ``device_id`` is in flight (each is bounded by the step timeout).

        zigpy takes any frame from a device whose ZCL sequence number (and endpoint, cluster, direction) match
        a request it still holds as that request's reply, and routes it no further, even right after the real
        reply came. A device reported ready with our answer to its Zone Enroll Request still in flight could
        so lose its first alarm: the detector asks to be enrolled while we enrol it ourselves, and its next
        frame may carry the answer's number.
        """
        while pending := {task for task in self._enroll_answers.get(device_id, ()) if not task.done()}:
            await asyncio.wait(pending)

    def _answer_done(self, device_id: str, task: asyncio.Task[None]) -> None:
        answers = self._enroll_answers.get(device_id)
        if answers is not None:
            answers.discard(task)
            if not answers:
                del self._enroll_answers[device_id]

    def _zone_id_for(self, device_id: str) -> int:
        """The zone id ``device_id`` has, or a free one; :class:`enroll.EnrollError` when none is left."""
        device = self.ctx.registry.get(device_id)
        if device is not None and "zone_id" in device.params:
            return int(device.params["zone_id"])
        return enroll.free_zone_id({int(d.params.get("zone_id", -1)) for d in self.ctx.registry.all("zigbee")})

    # -- pairing -----------------------------------------------------------------------------------------
    async def start_pairing(self, seconds: int = 120) -> None:
        seconds = clamp_seconds(seconds)
        app = self.app
        if app is None:
            self.pairing.post("failed", detail="Zigbee coordinator is not connected")
            return
        await asyncio.to_thread(quirks.library().load_all)  # any supported family may join
        try:
            await app.permit(seconds)
        except (TimeoutError, zigpy.exceptions.ZigbeeException, RuntimeError) as exc:
            self.pairing.post("failed", detail=f"could not open the network: {exc}")
            return
        self.pairing.opened(seconds)

    async def stop_pairing(self) -> None:
        app = self.app
        if app is not None:
            with contextlib.suppress(TimeoutError, zigpy.exceptions.ZigbeeException, RuntimeError):
                await app.permit(0)
        self.pairing.closed()

    def device_joined(self, zdev: zigpy.device.Device) -> None:
        device_id = device_id_of(zdev.ieee)
        self.count("joins")
        info = {"address": str(zdev.ieee), "nwk": f"0x{zdev.nwk:04x}"}
        self.pairing.post("joined", device_id, "device joined the network", info)
        self.pairing.post("interview", device_id, "reading descriptors and model", info)
        expired = functools.partial(self._interview_expired, zdev)
        self._interviews.arm(device_id, self.settings.interview_timeout_s, expired)

    def device_initialized(self, zdev: zigpy.device.Device) -> None:
        device_id = device_id_of(zdev.ieee)
        self._interviews.disarm(device_id)
        if self.ctx.registry.get(device_id) is not None:
            self._listen(zdev)  # a paired device that rejoined: zigpy made a new object for it
            return
        if device_id in self._adopting:
            return
        self._adopting.add(device_id)
        self._spawn(self._adopt(zdev), name=f"zigbee-adopt-{device_id}")

    def device_init_failed(self, zdev: zigpy.device.Device) -> None:
        device_id = device_id_of(zdev.ieee)
        self._interviews.disarm(device_id)
        self.count("interview_failures")
        self.pairing.post("failed", device_id, "interview failed (device did not answer)")

    def _interview_expired(self, zdev: zigpy.device.Device) -> None:
        """zigpy would go on retrying the interview for minutes; give up so the technician hears now."""
        zdev.cancel_initialization()
        self.count("interview_failures")
        if self.app is None:
            detail = "interview failed: the Zigbee coordinator was lost"
        else:
            detail = (
                f"interview failed: no answer within {self.settings.interview_timeout_s:g} s"
                " (wake the device or bring it closer, then pair again)"
            )
        self.pairing.post("failed", device_id_of(zdev.ieee), detail)

    async def _adopt(self, zdev: zigpy.device.Device) -> None:
        device_id = device_id_of(zdev.ieee)
        try:
            app = self.app
            if app is None:
                return  # still starting: zigpy reports the coordinator itself initialized before startup ends
            try:
                zone_id = self._zone_id_for(device_id)
                cie = app.state.node_info.ieee
                profile = await enroll.configure(zdev, cie, zone_id, self.settings.enroll_step_timeout_s)
            except enroll.EnrollError as exc:
                self.count("enroll_failures")
                self.pairing.post("failed", device_id, str(exc))
                return
            mains = bool(zdev.node_desc is not None and zdev.node_desc.is_mains_powered)
            caps = list(profile.kind.capabilities)
            dev_type = profile.kind.device_type
            params: dict[str, Any] = {
                "zone_type": profile.zone_type,
                "zone_id": zone_id,
                "power_source": "mains" if mains else "battery",
                "manufacturer": zdev.manufacturer,
                "model": zdev.model,
                "endpoint": profile.endpoint,
                "quirk": quirks.quirk_name(zdev),
                "sources": [mapping.source_name(k) for k in profile.kind.sources],
            }
            if warning.find_wd(zdev) is not None:
                params["warning_device"] = True
            if dev_type == "remote":
                params["press_is_call"] = False
            info = {
                "address": str(zdev.ieee),
                "kind": dev_type,
                "model": zdev.model,
                "warnings": profile.warnings,
            }
            await self._answers_settled(device_id)  # before "ready": see there
            self.pairing.post("enrolled", device_id, "enrolled with the gateway", info)
            device = Device(
                id=device_id,
                type=dev_type,
                transport="zigbee",
                name=f"{zdev.manufacturer} {zdev.model}",
                capabilities=list(dict.fromkeys(caps)),
                address=str(zdev.ieee),
                params=params,
            )
            self._listen(zdev)  # before the registry has it: a reading right after is not lost
            await self.ctx.registry.upsert(device)
            if profile.zone_status is not None:
                self._zone_status[device_id] = profile.zone_status
                self._report_zone_read_at_pairing(device, profile.zone_status)
            self.availability.track(device_id, mains=mains)
            self.pairing.post("ready", device_id, f"{device.name} ready", info)
            self._spawn(self._backups.refresh(app))
        except Exception as exc:
            # Deliberately broad: this runs as a background task, and however it breaks (a radio library
            # error outside RADIO_ERRORS, the registry's disk) the technician must see "failed", not silence.
            self.count("enroll_failures")
            log.exception("zigbee: pairing %s failed", device_id)
            self.pairing.post("failed", device_id, f"pairing failed: {type(exc).__name__}: {exc}")
        finally:
            self._adopting.discard(device_id)

    def device_left(self, zdev: zigpy.device.Device) -> None:
        device_id = device_id_of(zdev.ieee)
        self._interviews.disarm(device_id)
        if self.ctx.registry.get(device_id) is not None:
            self._spawn(self.ctx.sink.availability(device_id, False, "device left the network"))

    # -- identify ------------------------------------------------------------------------------------------
    async def identify(self, device_id: str, seconds: int = IDENTIFY_S) -> bool:
        """Make a paired device blink/beep for ``seconds`` (ZCL Identify); False when it has no Identify server.

        Raises :class:`DriverConfigError` for a device this driver did not pair, ``ValueError`` for a time
        outside 1..65535 s and :class:`identify.IdentifyError` (a ``RuntimeError``) when the coordinator is
        down or the device does not confirm within ``identify_timeout_s``.
        """
        device = self.ctx.registry.get(device_id)
        if device is None or device.transport != "zigbee":
            raise DriverConfigError(f"zigbee: no paired device {device_id!r}")
        app = self.app
        if app is None:
            raise identify.IdentifyError("Zigbee coordinator is not connected")
        zdev = app.devices.get(t.EUI64.convert(device.address))
        if not isinstance(zdev, zigpy.device.Device):
            raise identify.IdentifyError(f"{device_id} is not in the coordinator's device table")
        endpoint = device.params.get("endpoint")
        cluster = identify.identify_cluster(zdev, int(endpoint) if endpoint is not None else None)
        if cluster is None:
            return False
        try:
            done = await identify.identify(cluster, seconds, self.settings.identify_timeout_s)
        except identify.IdentifyError as exc:
            self.count("identify_failures")
            raise identify.IdentifyError(f"{device_id}: identify failed: {exc}") from exc
        log.info("zigbee: %s %s", device_id, f"identifying for {seconds} s" if done else "refused identify")
        return done

    # -- removal -------------------------------------------------------------------------------------------
    async def remove(self, device_id: str) -> None:
        device = self.ctx.registry.get(device_id)
        if device is None or device.transport != "zigbee":
            raise DriverConfigError(f"zigbee: no paired device {device_id!r}")
        # Forget it first, so its leave indication is not mistaken for a paired device going missing.
        await self.ctx.registry.remove(device_id)
        app = self.app
        ieee = t.EUI64.convert(device.address)
        if app is not None and ieee in app.devices:
            try:
                async with asyncio.timeout(LEAVE_TIMEOUT_S):
                    await app.remove(ieee)
            except (TimeoutError, zigpy.exceptions.ZigbeeException) as exc:
                log.warning("zigbee: %s did not confirm leaving: %s", device_id, exc)
        self.availability.forget(device_id)
        self._zone_status.pop(device_id, None)
        detach = self._detach.pop(device_id, None)
        if detach is not None:
            detach()

    # -- local feedback ------------------------------------------------------------------------------------
    async def warn(self, device_id: str, seconds: int = warning.DEFAULT_S, *, on: bool = True) -> None:
        """Sound (``on``) or stop a paired siren (IAS WD, e.g. Heiman HS2WD-E) so the elder hears the alarm.

        Raises :class:`DriverConfigError` for a device this driver did not pair or that has no IAS WD cluster,
        and :class:`warning.WarningError` (a ``RuntimeError``) when the siren does not confirm.
        """
        device = self.ctx.registry.get(device_id)
        if device is None or device.transport != "zigbee":
            raise DriverConfigError(f"zigbee: no paired device {device_id!r}")
        app = self.app
        if app is None:
            raise warning.WarningError("Zigbee coordinator is not connected")
        zdev = app.devices.get(t.EUI64.convert(device.address))
        cluster = warning.find_wd(zdev) if isinstance(zdev, zigpy.device.Device) else None
        if cluster is None:
            raise DriverConfigError(f"zigbee: {device_id} has no siren (IAS WD cluster)")
        await warning.sound(cluster, seconds if on else 0, self.settings.identify_timeout_s)
        log.info("zigbee: siren %s %s", device_id, f"sounding for {seconds} s" if on else "stopped")


class _AppEvents:
    """zigpy application listener; only the events the driver cares about (names are zigpy's)."""

    def __init__(self, driver: ZigbeeDriver) -> None:
        self._driver = driver

    def device_joined(self, zdev: zigpy.device.Device) -> None:
        self._driver.device_joined(zdev)

    def device_initialized(self, zdev: zigpy.device.Device, *_: Any) -> None:
        self._driver.device_initialized(zdev)

    def device_init_failure(self, zdev: zigpy.device.Device) -> None:
        self._driver.device_init_failed(zdev)

    def device_left(self, zdev: zigpy.device.Device) -> None:
        self._driver.device_left(zdev)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._driver.radio_lost(exc)
