"""A line-based command language for the mocked BlueZ (stdin or the loopback control port).

One command per line, one reply line: ``ok ...`` or ``error ...``. MAC addresses as AA:BB:CC:DD:EE:FF;
an optional trailing ``key=<32 hex>`` makes a BTHome device encrypted (remembered per MAC).

    press MAC [EVENT] [key=HEX]                    button EVENT press|double|triple|long|long_double|long_triple|hold
    door MAC open|closed [key=HEX]                 BTHome door contact
    window MAC open|closed [key=HEX]
    motion MAC [key=HEX]                           BTHome motion detected
    leak MAC wet|dry [key=HEX]                     BTHome moisture
    occupancy MAC on|off [key=HEX]
    tamper MAC on|off [key=HEX]                    BTHome tamper (enclosure opened)
    battery MAC PERCENT [key=HEX]
    raw MAC HEX                                    arbitrary BTHome service data
    hr-device MAC | bed-device MAC                 add a heart-rate strap / bed pad (GATT)
    hr MAC BPM                                     heart-rate notification
    bed MAC in|out [HR [BR]]                       bed status notification
    reachable MAC yes|no                           GATT device in/out of range
    adapter remove|add                             unplug / plug the adapter hci0
    bluez stop|start                               kill / restart the mocked bluetoothd
    reset | address | help
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from drivers.ble.profiles.mattress import encode_status
from sims.bluez import packets as pk
from sims.bluez.control import BluezControl, ControlError, device_path
from sims.bluez.devices import SimGattDevice, add_bed_sensor, add_heart_rate_sensor, heart_rate_measurement
from sims.bluez.harness import HarnessError, MockBluezProcesses

Handler = Callable[["Console", list[str]], Awaitable[str]]

_ON = {
    "open": True,
    "closed": False,
    "wet": True,
    "dry": False,
    "on": True,
    "off": False,
    "yes": True,
    "no": False,
    "in": True,
    "out": False,
}


class CommandError(ValueError):
    """A malformed command; the message is the reply."""


class Console:
    """Executes commands against one mocked BlueZ.

    Args:
        procs: the processes (for ``bluez stop|start`` and ``address``).
        ctl: a connected control client.
    """

    def __init__(self, procs: MockBluezProcesses, ctl: BluezControl) -> None:
        self.procs = procs
        self.ctl = ctl
        self.bthome: dict[str, pk.SimBTHomeDevice] = {}
        self.gatt: dict[str, SimGattDevice] = {}
        self._bed_seq = 0

    async def execute(self, line: str) -> str:
        """Run one command line; never raises for a bad command."""
        words = line.split()
        if not words:
            return "ok"
        handler = COMMANDS.get(words[0].lower())
        if handler is None:
            return f"error unknown command {words[0]!r}; try 'help'"
        try:
            return await handler(self, words[1:])
        except (CommandError, ControlError, HarnessError, ValueError, IndexError, KeyError) as exc:
            return f"error {exc}"

    def _device(self, args: list[str]) -> tuple[pk.SimBTHomeDevice, list[str]]:
        if not args:
            raise CommandError("missing MAC address")
        mac = args[0].upper()
        rest = [a for a in args[1:] if not a.startswith("key=")]
        keys = [a[4:] for a in args[1:] if a.startswith("key=")]
        dev = self.bthome.get(mac)
        if dev is None or (keys and dev.key != keys[0].lower()):
            dev = self.bthome[mac] = pk.SimBTHomeDevice(mac, keys[0].lower() if keys else None)
        return dev, rest

    async def _send(self, dev: pk.SimBTHomeDevice, *objects: bytes) -> str:
        data = dev.packet_of(*objects)
        await self.ctl.advertise_bthome(dev.mac, data)
        return f"ok {dev.mac} {data.hex()}"

    def _gatt(self, mac: str) -> SimGattDevice:
        sim = self.gatt.get(mac.upper())
        if sim is None:
            raise CommandError(f"no GATT device {mac}; add it with hr-device/bed-device")
        return sim


def _flag(word: str) -> bool:
    if word not in _ON:
        raise CommandError(f"expected one of {sorted(_ON)}, got {word!r}")
    return _ON[word]


async def _press(c: Console, args: list[str]) -> str:
    dev, rest = c._device(args)
    event = rest[0] if rest else "press"
    if event not in pk.BUTTON_EVENTS:
        raise CommandError(f"button event one of {sorted(pk.BUTTON_EVENTS)}")
    return await c._send(dev, pk.button(pk.BUTTON_EVENTS[event]))


def _binary(build: Callable[[bool], bytes], default: str | None = None) -> Handler:
    async def handler(c: Console, args: list[str]) -> str:
        dev, rest = c._device(args)
        word = rest[0] if rest else default
        if word is None:
            raise CommandError("missing state")
        return await c._send(dev, build(_flag(word)))

    return handler


async def _battery(c: Console, args: list[str]) -> str:
    dev, rest = c._device(args)
    return await c._send(dev, pk.battery(int(rest[0])))


async def _raw(c: Console, args: list[str]) -> str:
    await c.ctl.advertise_bthome(args[0].upper(), bytes.fromhex(args[1]))
    return "ok"


async def _hr_device(c: Console, args: list[str]) -> str:
    c.gatt[args[0].upper()] = await add_heart_rate_sensor(c.ctl, args[0].upper())
    return f"ok {device_path(args[0])}"


async def _bed_device(c: Console, args: list[str]) -> str:
    c.gatt[args[0].upper()] = await add_bed_sensor(c.ctl, args[0].upper())
    return f"ok {device_path(args[0])}"


async def _hr(c: Console, args: list[str]) -> str:
    bpm = int(args[1])
    delivered = await c.ctl.notify(c._gatt(args[0]).characteristic, heart_rate_measurement(bpm, wide=bpm > 255))
    return "ok" if delivered else "error not subscribed (is the gateway connected?)"


async def _bed(c: Console, args: list[str]) -> str:
    in_bed = _flag(args[1])
    hr = int(args[2]) if len(args) > 2 else None
    br = int(args[3]) if len(args) > 3 else None
    c._bed_seq += 1
    delivered = await c.ctl.notify(c._gatt(args[0]).characteristic, encode_status(in_bed, hr, br, c._bed_seq))
    return "ok" if delivered else "error not subscribed (is the gateway connected?)"


async def _reachable(c: Console, args: list[str]) -> str:
    await c.ctl.set_reachable(c._gatt(args[0]).path, _flag(args[1]))
    return "ok"


async def _adapter(c: Console, args: list[str]) -> str:
    if args[0] == "remove":
        await c.ctl.remove_adapter("hci0")
    elif args[0] == "add":
        await c.ctl.add_adapter("hci0")
    else:
        raise CommandError("adapter remove|add")
    return "ok"


async def _bluez(c: Console, args: list[str]) -> str:
    if args[0] == "stop":
        await asyncio.to_thread(c.procs.stop_bluez)
    elif args[0] == "start":
        await asyncio.to_thread(c.procs.start_bluez)
    else:
        raise CommandError("bluez stop|start")
    return "ok"


async def _reset(c: Console, args: list[str]) -> str:
    await c.ctl.reset()
    c.bthome.clear()
    c.gatt.clear()
    return "ok"


async def _address(c: Console, args: list[str]) -> str:
    return f"ok {c.procs.address}"


async def _help(c: Console, args: list[str]) -> str:
    assert __doc__ is not None
    lines = [" ".join(ln.split()) for ln in __doc__.splitlines() if ln.startswith("    ")]
    return "ok " + " | ".join(lines)


COMMANDS: Mapping[str, Handler] = {
    "press": _press,
    "door": _binary(pk.door),
    "window": _binary(pk.window),
    "motion": _binary(pk.motion, default="on"),
    "leak": _binary(pk.moisture),
    "occupancy": _binary(pk.occupancy),
    "tamper": _binary(pk.tamper),
    "battery": _battery,
    "raw": _raw,
    "hr-device": _hr_device,
    "bed-device": _bed_device,
    "hr": _hr,
    "bed": _bed,
    "reachable": _reachable,
    "adapter": _adapter,
    "bluez": _bluez,
    "reset": _reset,
    "address": _address,
    "help": _help,
}
