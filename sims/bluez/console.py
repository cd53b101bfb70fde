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
    xdoor MAC open|closed [key=HEX] [via=MAC]      Xiaomi MiBeacon door sensor (MCCGQ02HL); via= sends
                                                   from another (random) address, the MAC in the frame
    xmotion MAC [key=HEX] [via=MAC]                Xiaomi motion sensor (RTCGQ02LM)
    xleak MAC wet|dry [key=HEX] [via=MAC]          Xiaomi flood detector (SJWS01LM)
    xbutton MAC [key=HEX] [via=MAC]                Xiaomi wireless switch (XMWXKG01LM) press
    xbattery MAC PERCENT                           battery of a Xiaomi device already used above
    xrestart MAC                                   battery change: the Xiaomi device counts from 0 again
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
from sims.bluez import mibeacon as mi
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
        self.xiaomi: dict[str, mi.SimXiaomiDevice] = {}
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

    def _xiaomi(self, args: list[str], model: str | None) -> tuple[mi.SimXiaomiDevice, list[str], str]:
        """The Xiaomi device at args[0] (created as ``model``), the other words, the address to send from."""
        if not args:
            raise CommandError("missing MAC address")
        mac = args[0].upper()
        opts = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in args[1:] if "=" in a}
        rest = [a for a in args[1:] if "=" not in a]
        dev = self.xiaomi.get(mac)
        key = opts["key"].lower() if "key" in opts else None
        if dev is None or (model is not None and dev.model != model) or ("key" in opts and dev.key != key):
            if model is None:
                raise CommandError(f"no Xiaomi device {mac} yet")
            dev = self.xiaomi[mac] = mi.SimXiaomiDevice(mac, model, key)
        return dev, rest, opts.get("via", mac).upper()

    async def _send_xiaomi(self, dev: mi.SimXiaomiDevice, via: str, *objects: bytes) -> str:
        data = dev.packet_of(*objects)
        await self.ctl.advertise(via, service_data={mi.MIBEACON_UUID: data})
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


def _xiaomi_cmd(model: str, build: Callable[[list[str]], bytes]) -> Handler:
    async def handler(c: Console, args: list[str]) -> str:
        dev, rest, via = c._xiaomi(args, model)
        return await c._send_xiaomi(dev, via, build(rest))

    return handler


async def _xbattery(c: Console, args: list[str]) -> str:
    dev, rest, via = c._xiaomi(args, None)
    return await c._send_xiaomi(dev, via, mi.battery(int(rest[0])))


async def _xrestart(c: Console, args: list[str]) -> str:
    dev, _rest, _via = c._xiaomi(args, None)
    dev.restart()
    return f"ok {dev.mac}"


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
    c.xiaomi.clear()
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
    "xdoor": _xiaomi_cmd("MCCGQ02HL", lambda rest: mi.door(_flag(rest[0]))),
    "xmotion": _xiaomi_cmd("RTCGQ02LM", lambda rest: mi.motion()),
    "xleak": _xiaomi_cmd("SJWS01LM", lambda rest: mi.moisture(_flag(rest[0]))),
    "xbutton": _xiaomi_cmd("XMWXKG01LM", lambda rest: mi.button_press()),
    "xbattery": _xbattery,
    "xrestart": _xrestart,
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
