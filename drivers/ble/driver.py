"""The BLE driver: one shared scan, BTHome adverts, kept-alive GATT links, availability and the radio.

Flow of an advert: bleak callback -> bounded queue -> :meth:`BleDriver.handle_advert` -> BTHome parse
with the device's bindkey (:mod:`drivers.ble.bthome`) -> freshness (:mod:`drivers.ble.replay`) ->
availability (:mod:`drivers.ble.availability`) -> capability table -> throttle -> ``ctx.sink.reading``.
Anything wrong with an advert is counted in :meth:`health` and logged (never with a key), never raised.
A failure while handling one advert, reading or device (a bug, or the gateway's intake failing) is logged
with the device, counted, and the loops go on: one bad reading must not stop the radio.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from core.devices import Device
from drivers.base import Driver, DriverConfigError, DriverContext, DriverHealth, PairingUpdate, Reading
from drivers.ble import bthome, capabilities, mibeacon
from drivers.ble.adapter import AdapterUnavailable, AdapterWatch
from drivers.ble.availability import IntervalTracker
from drivers.ble.backoff import Backoff
from drivers.ble.config import (
    GENERIC_CAPABILITIES,
    TYPE_CAPABILITIES,
    BleSettings,
    primary_capabilities,
    type_problem,
)
from drivers.ble.link import GattLink
from drivers.ble.pairing import (
    AdoptOptions,
    PairingWindow,
    RecentSightings,
    Sighting,
    device_id_for,
    kind_from_name,
    normalise_address,
)
from drivers.ble.profiles import PROFILES, profile_for_uuids
from drivers.ble.replay import ReplayGuard
from drivers.ble.scanner import SCAN_ERRORS, SharedScanner, or_patterns
from drivers.ble.throttle import ReportFilter

log = logging.getLogger(__name__)

#: Health counter for each way a BTHome advert can be refused.
REJECT_COUNTERS: Mapping[str, str] = {
    "needs_key": "key_missing",
    "decrypt_failed": "decrypt_failed",
    "downgrade": "downgrade_rejected",
    "invalid": "frames_bad",
    "empty": "beacons",
}

_SIGHTING_FRESH_S = 120.0
_WARN_EVERY_S = 60.0

#: The reading a driver sends when a device must be adopted again (any device may send it, whatever its type).
NEEDS_READOPTION = "needs_readoption"


def _family_of(adv: Advert) -> tuple[str | None, bytes | None]:
    """Which advertising family an advert belongs to, and its payload."""
    for family, uuid in (("bthome", bthome.BTHOME_UUID), ("mibeacon", mibeacon.MIBEACON_UUID)):
        data = adv.service_data.get(uuid)
        if data is not None:
            return family, bytes(data)
    for uuid in bthome.BTHOME_V1_UUIDS:
        data = adv.service_data.get(uuid)
        if data is not None:
            return "bthome_v1", bytes(data)
    return None, None


#: What makes the radio unusable for now (retried with backoff).
RADIO_ERRORS: tuple[type[BaseException], ...] = (AdapterUnavailable, *SCAN_ERRORS)


async def _end(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel tasks and wait for them; one that had died already was reported by its done callback."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@dataclass(slots=True)
class BleHealth(DriverHealth):
    """:class:`DriverHealth` plus, per device, what the technician has to act on.

    ``devices`` maps a device id to its problems: ``replays_refused`` (distinct counters refused since its
    last accepted advert), ``needs_readoption`` (its encryption counter restarted, so every real press is
    refused until it is adopted again), ``reports_other_type`` (what it reports that only another device
    type uses: adopted as the wrong type).
    """

    devices: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Advert:
    """One advert as bleak reported it, stamped with the loop's monotonic time."""

    address: str
    name: str | None
    rssi: int
    service_data: Mapping[str, bytes] = field(default_factory=dict)
    uuids: tuple[str, ...] = ()
    time: float = 0.0


class BleDriver(Driver):
    transport = "ble"

    def __init__(self, settings: BleSettings, ctx: DriverContext) -> None:
        super().__init__(ctx)
        self.settings = settings
        self._health = BleHealth("ble", "starting")
        self._replay = ReplayGuard(ctx.state_dir / "ble" / "replay_counters.json")
        self._counter_save: asyncio.Task[None] | None = None
        self._tracker = IntervalTracker(
            settings.offline_interval_multiple,
            settings.offline_min_s,
            settings.offline_unlearned_s,
            min_gap_s=settings.advert_burst_s,
        )
        self._throttle = ReportFilter(
            {
                "battery": ("on_change", settings.battery_every_s),
                "heart_rate": ("interval", settings.vitals_every_s),
                "breath_rate": ("interval", settings.vitals_every_s),
            }
        )
        self._recent = RecentSightings()
        self._pairing = PairingWindow(ctx.sink.pairing)
        self._waiters: dict[str, list[asyncio.Future[Sighting]]] = {}
        self._links: dict[str, tuple[GattLink, asyncio.Task[None]]] = {}
        self._queue: asyncio.Queue[Advert] = asyncio.Queue(maxsize=2048)
        patterns = or_patterns(
            [bthome.BTHOME_UUID, mibeacon.MIBEACON_UUID, *bthome.BTHOME_V1_UUIDS],
            [p.service_uuid for p in PROFILES.values()],
        )
        self._scanner = SharedScanner(settings.adapter, settings.passive, patterns, self._on_advert)
        self._watch = AdapterWatch(settings.adapter)
        self._tasks: list[asyncio.Task[None]] = []
        self.radio_up: bool | None = None
        self._warned: dict[tuple[str, str], float] = {}
        self._last_payload: dict[str, tuple[bytes, float]] = {}
        self._heard_own: set[str] = set()
        self._mismatch: dict[str, list[str]] = {}

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for device in self.ctx.registry.all("ble"):
            if device.params.get("kind") == "gatt":
                self._start_link(device)
            else:
                self._tracker.watch(device.id, loop.time())
        self._tasks = [
            loop.create_task(self._supervise(), name="ble-radio"),
            loop.create_task(self._work(), name="ble-adverts"),
            loop.create_task(self._sweep(), name="ble-availability"),
        ]
        for task in self._tasks:
            task.add_done_callback(self._task_ended)

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        """A long-lived task must only end by :meth:`stop`; if one dies anyway, say so loudly."""
        if task.cancelled() or task.exception() is None:
            return
        self._count("tasks_failed")
        self._health.state, self._health.detail = "degraded", f"{task.get_name()} stopped: {task.exception()!r}"
        log.error("ble: task %s stopped", task.get_name(), exc_info=task.exception())

    async def stop(self) -> None:
        await self._pairing.aclose()
        tasks = self._tasks + [task for _link, task in self._links.values()]
        await _end(tasks)
        self._tasks.clear()
        self._links.clear()
        await self._scanner.stop()
        await self._watch.close()
        if self._counter_save is not None:
            await self._counter_save
        if self._replay.dirty:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(self._replay.save)
        self._health.state = "stopped"

    def health(self) -> BleHealth:
        """Health and counters; ``devices`` lists devices refused as replaying or adopted as the wrong type."""
        devices: dict[str, dict[str, Any]] = {
            device_id: {"replays_refused": r.counters, "needs_readoption": r.restarted}
            for device_id, r in self._replay.refusals().items()
        }
        for device_id, foreign in self._mismatch.items():
            devices.setdefault(device_id, {})["reports_other_type"] = ", ".join(foreign)
        self._health.devices = devices
        notes = []
        stale = sorted(d for d, problems in devices.items() if problems.get("needs_readoption"))
        if stale:
            notes.append("needs adopting again (encryption counter restarted): " + ", ".join(stale))
        if self._mismatch:
            notes.append("adopted as the wrong type (adopt again): " + ", ".join(sorted(self._mismatch)))
        if not notes:
            return self._health
        # The status page shows ``detail``: name the devices the technician has to act on.
        note = "; ".join(notes)
        return replace(self._health, detail=f"{self._health.detail}; {note}" if self._health.detail else note)

    def _warn(self, device_id: str, what: str, msg: str, *args: Any) -> None:
        """Log a rejected advert, at most once a minute per device and reason (a flood stays counted)."""
        now = asyncio.get_running_loop().time()
        key = (device_id, what)
        if now - self._warned.get(key, -_WARN_EVERY_S) >= _WARN_EVERY_S:
            self._warned[key] = now
            log.warning(
                "ble: %s " + msg + " [%s so far]",
                device_id,
                *args,
                self._health.counters.get(REJECT_COUNTERS.get(what, "replays"), 0),
            )

    def _failed(self, counter: str, subject: str, msg: str, *args: Any) -> None:
        """Count a failure of our own or the intake's (from an ``except``), and log it with its traceback,
        at most once a minute per subject and counter (a failure on every advert must not flood the log)."""
        self._count(counter)
        now = asyncio.get_running_loop().time()
        key = (subject, counter)
        if now - self._warned.get(key, -_WARN_EVERY_S) >= _WARN_EVERY_S:
            self._warned[key] = now
            log.error("ble: " + msg + " [%s: %s so far]", *args, counter, self._health.counters[counter], exc_info=True)

    def _count(self, name: str, n: int = 1) -> None:
        self._health.counters[name] = self._health.counters.get(name, 0) + n

    # -- the radio ----------------------------------------------------------------------------------

    async def _supervise(self) -> None:
        """Scan while the adapter is there; report loss, retry with backoff, report its return."""
        backoff = Backoff(self.settings.adapter_retry_min_s, self.settings.adapter_retry_max_s)
        while True:
            try:
                await self._watch.probe()
                await self._scanner.start()
            except RADIO_ERRORS as exc:
                await self._radio(False, str(exc) or type(exc).__name__)
                await asyncio.sleep(backoff.next())
                continue
            backoff.reset()
            passive_note = " (passive unsupported)" if self._scanner.passive_unsupported else ""
            self._health.state, self._health.detail = "up", f"scanning {self._scanner.mode}{passive_note}"
            await self._radio(True, f"adapter {self.settings.adapter} scanning")
            reason = await self._watch.wait_lost()
            await self._scanner.stop()
            await self._radio(False, reason)

    async def _radio(self, up: bool, reason: str) -> None:
        if not up:
            self._health.state, self._health.detail = "down", reason
        if self.radio_up == up or (up and self.radio_up is None):
            self.radio_up = up
            return
        self.radio_up = up
        self._count("radio_lost" if not up else "radio_restored")
        log.log(logging.INFO if up else logging.ERROR, "ble: radio %s: %s", "back" if up else "lost", reason)
        await self.ctx.sink.radio("ble", up, reason)

    # -- adverts ----------------------------------------------------------------------------------

    def _on_advert(self, device: BLEDevice, adv: AdvertisementData) -> None:
        advert = Advert(
            device.address.upper(),
            adv.local_name,
            adv.rssi,
            dict(adv.service_data),
            tuple(adv.service_uuids),
            asyncio.get_running_loop().time(),
        )
        try:
            self._queue.put_nowait(advert)
        except asyncio.QueueFull:
            self._count("adverts_dropped")

    async def _work(self) -> None:
        while True:
            adv = await self._queue.get()
            try:
                await self.handle_advert(adv)
            except Exception:  # deliberately broad: a bug with one advert must not stop all BLE intake
                self._failed("adverts_failed", adv.address, "advert from %s could not be handled", adv.address)

    async def handle_advert(self, adv: Advert) -> None:
        """Take one advert. Never raises for anything the advert contains."""
        self._count("adverts")
        family, data = _family_of(adv)
        # A MiBeacon frame may carry the device's own MAC: devices on random addresses are known by it.
        address = (mibeacon.real_address(data) if family == "mibeacon" and data else None) or adv.address
        try:
            device_id = device_id_for(address)
        except DriverConfigError:
            self._count("frames_bad")
            return
        device = self.ctx.registry.get(device_id)
        if device is not None and device.transport != "ble":
            device = None
        if family is not None and data is not None:
            sighting = Sighting(address, adv.name or "", adv.rssi, "", False, None, None, adv.time, family, data)
            if family == "bthome":
                sighting.info = bthome.service_info(address, adv.name, adv.rssi, {bthome.BTHOME_UUID: data}, adv.time)
            if device is not None and device.params.get("kind") == family and address not in self._waiters:
                sighting.kind, sighting.encrypted = device.type, bool(device.secret)
                advert = self._parse(sighting, device.secret)
                if advert.status != "empty":  # re-adopting checks the key on the last advert that said something
                    self._recent.put(sighting)
                await self._take(device, advert, adv, data)
            else:
                self._sight(sighting)
        else:
            profile = profile_for_uuids(adv.uuids)
            if profile is not None:
                self._sighted(
                    Sighting(
                        adv.address, adv.name or "", adv.rssi, profile.device_type, False, profile.name, None, adv.time
                    )
                )
        if device is not None and device.id in self._links:
            self._links[device.id][0].advert_seen()

    @staticmethod
    def _parse(sighting: Sighting, key: str | None) -> bthome.BTHomeAdvert:
        """Parse a sighting's payload with ``key``, whatever its family."""
        if sighting.family == "mibeacon":
            return mibeacon.parse(sighting.address, sighting.name, sighting.rssi, sighting.raw, key)
        if sighting.family == "bthome" and sighting.info is not None:
            return bthome.parse(sighting.info, key)
        return bthome.BTHomeAdvert("invalid", detail=f"{sighting.address} {bthome.V1_UNSUPPORTED}")

    def _sight(self, sighting: Sighting) -> None:
        """A device not adopted (or being adopted): offer it as a candidate if it is recognisable."""
        if sighting.family == "bthome_v1":
            sighting.kind, sighting.unsupported = "bthome_v1", bthome.V1_UNSUPPORTED
            self._neighbour_noise("bthome_v1", "%s %s", sighting.address, bthome.V1_UNSUPPORTED)
            self._sighted(sighting)
            return
        preview = self._parse(sighting, None)
        if preview.status == "empty":
            # A keep-alive names the model: offer the device, but adopt checks the key on an advert that says
            # something, so it neither replaces the last one nor answers an adopt that is waiting.
            self._count("beacons")
            if self._recent.get(sighting.address) is None:
                sighting.encrypted, sighting.model = preview.encrypted, preview.model
                sighting.kind, sighting.unsupported = self._xiaomi_kind(preview.model)
                self._pairing.offer(sighting)
            return
        if preview.status == "invalid":
            self._count("frames_bad")
            self._neighbour_noise("invalid", "unreadable advert from %s (%s)", sighting.address, preview.detail)
            return
        sighting.encrypted, sighting.model = preview.encrypted, preview.model
        if sighting.family == "mibeacon":
            sighting.kind, sighting.unsupported = self._xiaomi_kind(preview.model)
        else:
            kind = bthome.kind_of(preview)
            if kind == "bthome":
                kind = kind_from_name(sighting.name) or kind
            sighting.kind = kind
        self._sighted(sighting)

    @staticmethod
    def _xiaomi_kind(model: str | None) -> tuple[str, str]:
        """The device type a Xiaomi model is taken as, and why it cannot be adopted ("" if it can)."""
        entry = mibeacon.XIAOMI_MODELS.get(model or "")
        return (entry.device_type if entry else "xiaomi"), mibeacon.model_problem(model, None) or ""

    def _neighbour_noise(self, what: str, msg: str, *args: Any) -> None:
        """Log something odd about a device that is not ours at most once a minute in all (the counters
        keep the totals): a neighbour's sensors must not fill the journal."""
        now = asyncio.get_running_loop().time()
        key = ("neighbours", what)
        if now - self._warned.get(key, -_WARN_EVERY_S) >= _WARN_EVERY_S:
            self._warned[key] = now
            log.info(
                "ble: " + msg + " [frames_bad: %s so far; logged once a minute]",
                *args,
                self._health.counters.get("frames_bad", 0),
            )

    def _sighted(self, sighting: Sighting) -> None:
        self._recent.put(sighting)
        self._pairing.offer(sighting)
        for fut in self._waiters.pop(sighting.address, []):
            if not fut.done():
                fut.set_result(sighting)

    def _repeat_in_burst(self, device_id: str, data: bytes, now: float) -> bool:
        """The same payload again within ``advert_burst_s``: the device repeating one packet (BlueZ reports
        each copy, and RSSI changes), never a second press, even without a packet id or counter."""
        last = self._last_payload.get(device_id)
        self._last_payload[device_id] = (data, now)
        return last is not None and last[0] == data and now - last[1] <= self.settings.advert_burst_s

    async def _take(self, device: Device, advert: bthome.BTHomeAdvert, adv: Advert, data: bytes) -> None:
        if advert.status == "empty":  # a keep-alive: unauthenticated, so it neither counts nor proves anything
            self._count("beacons")
            return
        if advert.status != "ok":
            self._count(REJECT_COUNTERS[advert.status])
            self._warn(
                device.id,
                advert.status,
                "advert rejected (%s%s)",
                advert.status,
                f": {advert.detail}" if advert.detail else "",
            )
            return
        verdict = self._replay.check(device.id, counter=advert.counter, packet_id=advert.packet_id)
        if verdict == "replay":
            self._count("replays")
            self._warn(device.id, "replay", "replayed advert rejected (counter %s)", advert.counter)
            if advert.counter is not None and self._replay.refuse(device.id, advert.counter):
                await self._counter_restarted(device, advert.counter)
            return
        if self._tracker.seen(device.id, adv.time):
            await self._availability(device.id, True, "advertising again")
        if verdict == "duplicate" or self._repeat_in_burst(device.id, data, adv.time):
            self._count("duplicates")
            return
        self._replay.accept(device.id, counter=advert.counter, packet_id=advert.packet_id)
        self._save_counters()
        mapped = capabilities.to_capabilities(advert.values, device.type)
        self._check_type(device, mapped)
        for m in mapped:
            meta = {"rssi": adv.rssi, "encrypted": advert.encrypted, **m.meta}
            await self._report(device, m.capability, m.value, meta, adv.time)

    async def _counter_restarted(self, device: Device, counter: int) -> None:
        """Tell the platform at once: every press of this device is refused until it is adopted again."""
        self._count("counter_restarts")
        log.error(
            "ble: %s (%s) sends rising counters below the one last accepted (now %s): its encryption "
            "counter restarted (battery change?); its presses are refused until it is adopted again",
            device.id,
            device.address,
            counter,
        )
        now = asyncio.get_running_loop().time()
        meta = {"counter": counter, "reason": "encryption counter restarted (battery change?): adopt it again"}
        await self._report(device, NEEDS_READOPTION, True, meta, now, any_device=True)

    def _check_type(self, device: Device, mapped: list[capabilities.Mapped]) -> None:
        """Flag (once) a device whose adverts carry what matters only to another type: adopted as a call
        button, a door sensor would be deaf forever. Health lists it; the log says what to do."""
        if device.id in self._heard_own or not mapped:
            return
        reported = {m.capability for m in mapped}
        own = primary_capabilities(device.type)
        if reported & own:
            self._heard_own.add(device.id)
            self._mismatch.pop(device.id, None)
            return
        foreign = sorted(reported - GENERIC_CAPABILITIES - set(device.capabilities))
        if not foreign or device.id in self._mismatch:
            return
        self._mismatch[device.id] = foreign
        self._count("type_mismatch")
        log.error(
            "ble: %s (%s) adopted as %s reports %s, never %s: adopt it again with the right type",
            device.id,
            device.address,
            device.type,
            ", ".join(foreign),
            ", ".join(sorted(own)),
        )

    async def _report(
        self, device: Device, capability: str, value: Any, meta: dict[str, Any], now: float, any_device: bool = False
    ) -> None:
        if not any_device and device.capabilities and capability not in device.capabilities:
            self._count("readings_unmapped")
            return
        if not self._throttle.allow(device.id, capability, value, now):
            return
        try:
            await self.ctx.sink.reading(Reading(device.id, capability, value, meta=meta))
        except (LookupError, ValueError) as exc:
            self._count("readings_rejected")
            log.warning("ble: reading %s=%r from %s refused: %s", capability, value, device.id, exc)
        except Exception:  # deliberately broad: the intake failing on one reading must not stop the others
            self._failed(
                "readings_failed",
                device.id,
                "reading %s=%r from %s (%s) failed",
                capability,
                value,
                device.id,
                device.address,
            )
        else:
            self._count("readings")

    async def _availability(self, device_id: str, online: bool, reason: str) -> None:
        self._count("device_online" if online else "device_offline")
        log.log(
            logging.INFO if online else logging.WARNING,
            "ble: %s %s: %s",
            device_id,
            "online" if online else "offline",
            reason,
        )
        try:
            await self.ctx.sink.availability(device_id, online, reason)
        except Exception:  # deliberately broad: called from the advert, sweep and GATT loops, which must go on
            self._failed(
                "availability_failed", device_id, "%s %s not reported", device_id, "online" if online else "offline"
            )

    def _save_counters(self) -> None:
        """Persist changed encryption counters off the event loop, one write at a time."""
        if not self._replay.dirty or (self._counter_save is not None and not self._counter_save.done()):
            return

        async def save() -> None:
            while self._replay.dirty:
                try:
                    await asyncio.to_thread(self._replay.save)
                except OSError as exc:
                    self._count("counter_save_failed")
                    log.error("ble: replay counters not saved: %s", exc)
                    return

        self._counter_save = asyncio.get_running_loop().create_task(save(), name="ble-replay-counters")

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.settings.availability_check_s)
            for device_id, silent in self._tracker.due(loop.time()):
                try:
                    await self._went_silent(device_id, silent)
                except Exception:  # deliberately broad: one device must not stop the watch over the others
                    self._failed("availability_failed", device_id, "offline check of %s failed", device_id)

    async def _went_silent(self, device_id: str, silent: float) -> None:
        if self.ctx.registry.get(device_id) is None:
            self._tracker.forget(device_id)
            return
        interval = self._tracker.interval(device_id)
        learned = f"learned interval {interval:.1f}s" if interval else "interval not learned yet"
        await self._availability(device_id, False, f"no advert for {silent:.0f}s ({learned})")

    # -- GATT devices ---------------------------------------------------------------------------

    def _start_link(self, device: Device) -> None:
        profile_cls = PROFILES.get(str(device.params.get("profile")))
        if profile_cls is None:
            self._count("gatt_profile_unknown")
            log.error("ble: %s has unknown GATT profile %r", device.id, device.params.get("profile"))
            return
        link = GattLink(
            device.id,
            device.address,
            profile_cls(),
            self.settings,
            find_device=self._scanner.devices.get,
            on_values=partial(self._gatt_values, device.id),
            on_availability=partial(self._availability, device.id),
            count=self._count,
        )
        task = asyncio.get_running_loop().create_task(link.run(), name=f"ble-gatt-{device.id}")
        task.add_done_callback(self._task_ended)
        self._links[device.id] = (link, task)

    async def _gatt_values(self, device_id: str, values: list[tuple[str, Any]]) -> None:
        device = self.ctx.registry.get(device_id)
        if device is None:
            return
        now = asyncio.get_running_loop().time()
        for capability, value in values:
            await self._report(device, capability, value, {}, now)

    async def _stop_link(self, device_id: str) -> None:
        entry = self._links.pop(device_id, None)
        if entry is not None:
            await _end([entry[1]])

    def link(self, device_id: str) -> GattLink | None:
        """The GATT link of a device (status pages, tests)."""
        entry = self._links.get(device_id)
        return entry[0] if entry else None

    # -- pairing --------------------------------------------------------------------------------

    async def start_pairing(self, seconds: int) -> None:
        now = asyncio.get_running_loop().time()
        self._pairing.open(seconds, self._recent.since(now - 30))

    async def stop_pairing(self) -> None:
        self._pairing.close()

    async def adopt(self, address: str, options: Mapping[str, Any]) -> Device:
        opts = AdoptOptions.parse(options)
        address = normalise_address(address)
        device_id = device_id_for(address)
        loop = asyncio.get_running_loop()
        sighting = self._recent.get(address)
        if sighting is None or loop.time() - sighting.seen > _SIGHTING_FRESH_S:
            sighting = await self._next_sighting(address)
        key = opts.secret.strip().lower() if opts.secret else None
        if sighting.profile is not None:
            profile = PROFILES[sighting.profile]
            dev_type, params, caps = (
                profile.device_type,
                {"kind": "gatt", "profile": profile.name},
                profile.capabilities,
            )
            key = None
        else:
            dev_type, params, caps = self._confirm(sighting, key, opts.type, device_id)
        device = Device(
            id=device_id,
            type=dev_type,
            transport="ble",
            name=opts.name or sighting.name or device_id,
            room=opts.room,
            capabilities=list(caps),
            address=address,
            params=params,
            secret=key,
        )
        await self._stop_link(device_id)
        self._forget_state(device_id)
        await self.ctx.registry.upsert(device)
        if params["kind"] == "gatt":
            self._start_link(device)
        else:
            self._tracker.forget(device_id)
            self._tracker.seen(device_id, loop.time())
        self.ctx.sink.pairing(
            PairingUpdate(
                "ble",
                "ready",
                device_id,
                info={"address": address, "type": dev_type, "encrypted": key is not None, **params},
            )
        )
        log.info("ble: adopted %s (%s, %s)", device_id, dev_type, "encrypted" if key else "plain")
        return device

    async def _next_sighting(self, address: str) -> Sighting:
        fut: asyncio.Future[Sighting] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(address, []).append(fut)
        try:
            return await asyncio.wait_for(fut, self.settings.adopt_timeout_s)
        except TimeoutError:
            raise DriverConfigError(
                f"ble: nothing heard from {address} within {self.settings.adopt_timeout_s:g}s; "
                "bring it close and press its button"
            ) from None
        finally:
            waiters = self._waiters.get(address, [])
            if fut in waiters:
                waiters.remove(fut)
            if not waiters:
                self._waiters.pop(address, None)

    def _confirm(
        self, sighting: Sighting, key: str | None, wanted_type: str | None, device_id: str
    ) -> tuple[str, dict[str, Any], tuple[str, ...]]:
        """Check the device's latest advert with the given key and type; DriverConfigError saying why not."""
        if sighting.family == "bthome_v1":
            raise DriverConfigError(f"ble: {sighting.address} {bthome.V1_UNSUPPORTED}")
        advert = self._parse(sighting, key)
        name = "MiBeacon" if sighting.family == "mibeacon" else "BTHome"
        problems = {
            "needs_key": f"{sighting.address} sends encrypted {name} adverts: give its bindkey",
            "decrypt_failed": f"the bindkey does not decrypt the adverts of {sighting.address} (wrong key?)",
            "downgrade": f"{sighting.address} sends plain adverts but a bindkey was given; leave it empty",
            "invalid": f"{sighting.address} sent no valid {name} advert ({advert.detail or 'unreadable'})",
            "empty": f"{sighting.address} has sent no reading yet: press its button (or open it, walk past)",
        }
        if advert.status != "ok":
            if advert.status == "decrypt_failed":
                self._count("decrypt_failed")
            raise DriverConfigError(f"ble: {problems[advert.status]}")
        params: dict[str, Any] = {"kind": sighting.family}
        if sighting.family == "mibeacon":
            problem = mibeacon.model_problem(advert.model, wanted_type)
            if problem:
                raise DriverConfigError(f"ble: {sighting.address}: {problem}")
            assert advert.model is not None  # model_problem refuses an unknown model
            dev_type = wanted_type or mibeacon.XIAOMI_MODELS[advert.model].device_type
            params["model"] = advert.model
        else:
            guessed = bthome.kind_of(advert)
            chosen = wanted_type or (guessed if guessed in TYPE_CAPABILITIES else None)
            if chosen is None:
                raise DriverConfigError(f"ble: cannot tell what {sighting.address} is; give its type")
            dev_type = chosen
            # What this advert says that decides a type (a door contact, a press...) must fit the chosen one.
            decisive = {m.capability for m in capabilities.to_capabilities(advert.values, dev_type)}
            decisive -= GENERIC_CAPABILITIES
            problem = type_problem(dev_type, decisive, sighting.address) if decisive else None
            if problem:
                raise DriverConfigError(f"ble: {problem}")
        # The confirming packet was the technician's test press: remember it so it is not an alarm.
        self._replay.forget(device_id)
        self._replay.accept(device_id, counter=advert.counter, packet_id=advert.packet_id)
        self._save_counters()
        return dev_type, params, TYPE_CAPABILITIES[dev_type]

    def _forget_state(self, device_id: str) -> None:
        self._throttle.forget(device_id)
        self._last_payload.pop(device_id, None)
        self._heard_own.discard(device_id)
        self._mismatch.pop(device_id, None)

    async def remove(self, device_id: str) -> None:
        await self._stop_link(device_id)
        self._tracker.forget(device_id)
        self._replay.forget(device_id)
        self._save_counters()
        self._forget_state(device_id)
        await self.ctx.registry.remove(device_id)
