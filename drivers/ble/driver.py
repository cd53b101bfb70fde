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
from drivers.ble import bthome
from drivers.ble.adapter import AdapterUnavailable, AdapterWatch
from drivers.ble.availability import IntervalTracker
from drivers.ble.backoff import Backoff
from drivers.ble.config import TYPE_CAPABILITIES, BleSettings
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
}

_SIGHTING_FRESH_S = 120.0
_WARN_EVERY_S = 60.0

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

    ``devices`` maps a device id to its problems; today ``replays_refused`` (distinct counters refused
    since its last accepted advert) and ``needs_readoption`` (its encryption counter restarted, so every
    real press is refused until it is adopted again).
    """

    devices: dict[str, dict[str, int | bool]] = field(default_factory=dict)


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
        patterns = or_patterns([bthome.BTHOME_UUID], [p.service_uuid for p in PROFILES.values()])
        self._scanner = SharedScanner(settings.adapter, settings.passive, patterns, self._on_advert)
        self._watch = AdapterWatch(settings.adapter)
        self._tasks: list[asyncio.Task[None]] = []
        self.radio_up: bool | None = None
        self._warned: dict[tuple[str, str], float] = {}

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
        """Health and counters; ``devices`` lists devices whose adverts are being refused as replays."""
        self._health.devices = {
            device_id: {"replays_refused": r.counters, "needs_readoption": r.restarted}
            for device_id, r in self._replay.refusals().items()
        }
        stale = sorted(d for d, problems in self._health.devices.items() if problems["needs_readoption"])
        if not stale:
            return self._health
        # The status page shows ``detail``: name the devices whose presses are refused until adopted again.
        note = "needs adopting again (encryption counter restarted): " + ", ".join(stale)
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
        try:
            device_id = device_id_for(adv.address)
        except DriverConfigError:
            self._count("frames_bad")
            return
        device = self.ctx.registry.get(device_id)
        if device is not None and device.transport != "ble":
            device = None
        data = adv.service_data.get(bthome.BTHOME_UUID)
        profile = profile_for_uuids(adv.uuids)
        if data is not None:
            info = bthome.service_info(adv.address, adv.name, adv.rssi, {bthome.BTHOME_UUID: data}, adv.time)
            if device is not None and device.params.get("kind") == "bthome" and adv.address not in self._waiters:
                self._recent.put(
                    Sighting(
                        adv.address,
                        adv.name or "",
                        adv.rssi,
                        device.type,
                        bool(device.secret),
                        None,
                        info,
                        adv.time,
                    )
                )
                await self._take_bthome(device, info, adv)
            else:
                self._sight_bthome(adv, info)
        elif profile is not None:
            self._sighted(
                Sighting(
                    adv.address,
                    adv.name or "",
                    adv.rssi,
                    profile.device_type,
                    False,
                    profile.name,
                    None,
                    adv.time,
                )
            )
        if device is not None and device.id in self._links:
            self._links[device.id][0].advert_seen()

    def _sight_bthome(self, adv: Advert, info: Any) -> None:
        preview = bthome.parse(info, None)
        if preview.status == "invalid":
            self._count("frames_bad")
            return
        kind = bthome.kind_of(preview)
        if kind == "bthome":
            kind = kind_from_name(adv.name) or kind
        self._sighted(Sighting(adv.address, adv.name or "", adv.rssi, kind, preview.encrypted, None, info, adv.time))

    def _sighted(self, sighting: Sighting) -> None:
        self._recent.put(sighting)
        self._pairing.offer(sighting)
        for fut in self._waiters.pop(sighting.address, []):
            if not fut.done():
                fut.set_result(sighting)

    async def _take_bthome(self, device: Device, info: Any, adv: Advert) -> None:
        advert = bthome.parse(info, device.secret)
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
                self._count("counter_restarts")
                log.error(
                    "ble: %s (%s) sends rising counters below the one last accepted (now %s): its encryption "
                    "counter restarted (battery change?); its presses are refused until it is adopted again",
                    device.id,
                    device.address,
                    advert.counter,
                )
            return
        if self._tracker.seen(device.id, adv.time):
            await self._availability(device.id, True, "advertising again")
        if verdict == "duplicate":
            self._count("duplicates")
            return
        self._replay.accept(device.id, counter=advert.counter, packet_id=advert.packet_id)
        self._save_counters()
        for mapped in bthome.to_capabilities(advert, device.type):
            meta = {"rssi": adv.rssi, "encrypted": advert.encrypted, **mapped.meta}
            await self._report(device, mapped.capability, mapped.value, meta, adv.time)

    async def _report(self, device: Device, capability: str, value: Any, meta: dict[str, Any], now: float) -> None:
        if device.capabilities and capability not in device.capabilities:
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
            dev_type, params, caps = self._confirm_bthome(sighting, key, opts.type, device_id)
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
        self._throttle.forget(device_id)
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
                info={"address": address, "type": dev_type, "encrypted": key is not None},
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

    def _confirm_bthome(
        self, sighting: Sighting, key: str | None, wanted_type: str | None, device_id: str
    ) -> tuple[str, dict[str, Any], tuple[str, ...]]:
        assert sighting.info is not None
        advert = bthome.parse(sighting.info, key)
        problems = {
            "needs_key": f"{sighting.address} sends encrypted BTHome adverts: give its bindkey",
            "decrypt_failed": f"the bindkey does not decrypt the adverts of {sighting.address} (wrong key?)",
            "downgrade": f"{sighting.address} sends plain adverts but a bindkey was given; leave it empty",
            "invalid": f"{sighting.address} sent no valid BTHome v2 advert",
        }
        if advert.status != "ok":
            if advert.status == "decrypt_failed":
                self._count("decrypt_failed")
            raise DriverConfigError(f"ble: {problems[advert.status]}")
        guessed = bthome.kind_of(advert)
        dev_type = wanted_type or (guessed if guessed in TYPE_CAPABILITIES else None)
        if dev_type is None:
            raise DriverConfigError(f"ble: cannot tell what {sighting.address} is; give its type")
        # The confirming packet was the technician's test press: remember it so it is not an alarm.
        self._replay.forget(device_id)
        self._replay.accept(device_id, counter=advert.counter, packet_id=advert.packet_id)
        self._save_counters()
        return dev_type, {"kind": "bthome"}, TYPE_CAPABILITIES[dev_type]

    async def remove(self, device_id: str) -> None:
        await self._stop_link(device_id)
        self._tracker.forget(device_id)
        self._replay.forget(device_id)
        self._save_counters()
        self._throttle.forget(device_id)
        await self.ctx.registry.remove(device_id)
