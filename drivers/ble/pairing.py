"""Pairing: the live list of nearby candidates, and what a technician's pick must contain.

BLE devices do not "join": the gateway hears them. While a pairing window is open every recognisable
advertiser (BTHome, Xiaomi MiBeacon, or a known GATT profile's service) is offered as a candidate; the technician picks
one and gives its bindkey if its adverts are encrypted; :meth:`drivers.ble.driver.BleDriver.adopt`
registers it once a valid packet confirms the key.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from habluetooth import BluetoothServiceInfoBleak
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drivers.base import DriverConfigError, PairingUpdate
from drivers.ble.bthome import valid_bindkey
from drivers.ble.config import TYPE_CAPABILITIES

_MAC = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}$")

#: Candidate kind guessed from the advertised name (Shelly BLU models) when adverts are encrypted.
NAME_KINDS: Mapping[str, str] = {
    "SBBT": "call_button",
    "SBDW": "door",
    "SBMO": "motion",
}


def normalise_address(address: str) -> str:
    """``aa-bb-cc-dd-ee-ff`` / ``aabbccddeeff`` -> ``AA:BB:CC:DD:EE:FF``; DriverConfigError otherwise."""
    raw = address.strip().upper().replace("-", ":")
    if ":" not in raw and len(raw) == 12:
        raw = ":".join(raw[i : i + 2] for i in range(0, 12, 2))
    if not _MAC.match(raw):
        raise DriverConfigError(f"ble: {address!r} is not a Bluetooth address (AA:BB:CC:DD:EE:FF)")
    return raw


def device_id_for(address: str) -> str:
    """The registry id of the device at ``address``: ``ble-`` + 12 lower-case hex digits."""
    return "ble-" + normalise_address(address).replace(":", "").lower()


def kind_from_name(name: str | None) -> str | None:
    for prefix, kind in NAME_KINDS.items():
        if name and name.startswith(prefix):
            return kind
    return None


@dataclass(slots=True)
class Sighting:
    """The latest advert of a recognisable device."""

    address: str
    name: str
    rssi: int
    kind: str
    encrypted: bool
    profile: str | None = None
    info: BluetoothServiceInfoBleak | None = None  # BTHome advert, re-parsed with the bindkey on adopt
    seen: float = 0.0
    family: str = "gatt"  # "bthome", "mibeacon", "bthome_v1" (refused) or "gatt"
    raw: bytes = b""  # the service data payload, re-parsed with the bindkey on adopt
    model: str | None = None  # as the advert names it (Xiaomi)
    unsupported: str = ""  # why it cannot be adopted, shown next to the candidate

    def public(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "name": self.name,
            "rssi": self.rssi,
            "kind": self.kind,
            "encrypted": self.encrypted,
            "needs_bindkey": self.encrypted,
            "profile": self.profile,
            "family": self.family,
            "model": self.model,
            "unsupported": self.unsupported,
        }


class RecentSightings:
    """The last advert per recognisable address (bounded), for the pairing list and for adopt."""

    def __init__(self, limit: int = 256) -> None:
        self.limit = limit
        self._items: OrderedDict[str, Sighting] = OrderedDict()

    def put(self, sighting: Sighting) -> None:
        self._items[sighting.address] = sighting
        self._items.move_to_end(sighting.address)
        while len(self._items) > self.limit:
            self._items.popitem(last=False)

    def get(self, address: str) -> Sighting | None:
        return self._items.get(address)

    def since(self, t: float) -> list[Sighting]:
        """Sightings newer than ``t`` (loop time)."""
        return [s for s in self._items.values() if s.seen >= t]


class AdoptOptions(BaseModel):
    """What the technician gives for a picked device (see :meth:`drivers.base.Driver.adopt`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(default="", max_length=64)
    room: str = Field(default="", max_length=64)
    type: str | None = None
    secret: str | None = None

    @classmethod
    def parse(cls, options: Mapping[str, Any]) -> AdoptOptions:
        try:
            opts = cls.model_validate(dict(options))
        except ValidationError as exc:
            raise DriverConfigError(f"ble: bad pairing options: {exc.errors()[0]['msg']}") from None
        if opts.type is not None and opts.type not in TYPE_CAPABILITIES:
            raise DriverConfigError(f"ble: unknown device type {opts.type!r}; one of {sorted(TYPE_CAPABILITIES)}")
        if opts.secret is not None and not valid_bindkey(opts.secret.strip()):
            raise DriverConfigError("ble: the bindkey must be 32 hexadecimal digits (16 bytes)")
        return opts


class PairingWindow:
    """An open pairing window: announces itself, streams candidates, closes after its time.

    Args:
        emit: where updates go (``ctx.sink.pairing``; never blocks).
        min_repeat_s: a candidate is re-announced at most this often (RSSI changes while walking around).
    """

    def __init__(self, emit: Callable[[PairingUpdate], None], min_repeat_s: float = 2.0) -> None:
        self._emit = emit
        self.min_repeat_s = min_repeat_s
        self._announced: dict[str, tuple[float, str, int]] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def is_open(self) -> bool:
        return self._task is not None and not self._task.done()

    def open(self, seconds: int, recent: list[Sighting]) -> None:
        self.close(announce=False)
        self._announced.clear()
        self._emit(PairingUpdate("ble", "open", remaining_s=seconds))
        self._task = asyncio.get_running_loop().create_task(self._countdown(seconds), name="ble-pairing")
        for sighting in recent:
            self.offer(sighting)

    async def _countdown(self, seconds: int) -> None:
        await asyncio.sleep(seconds)
        self._emit(PairingUpdate("ble", "closed"))

    def close(self, announce: bool = True) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            if announce:
                self._emit(PairingUpdate("ble", "closed"))

    async def aclose(self) -> None:
        task = self._task
        self.close()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def offer(self, sighting: Sighting) -> None:
        """Announce a candidate if new, changed, or not announced for a while."""
        if not self.is_open:
            return
        now = time.monotonic()
        last = self._announced.get(sighting.address)
        if last is not None:
            at, kind, rssi = last
            changed = kind != sighting.kind or abs(rssi - sighting.rssi) >= 6
            if not changed or now - at < self.min_repeat_s:
                return
        self._announced[sighting.address] = (now, sighting.kind, sighting.rssi)
        self._emit(PairingUpdate("ble", "candidate", device=device_id_for(sighting.address), info=sighting.public()))
