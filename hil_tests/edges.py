"""Stimuli at the rig's edges: one small class per edge, each able to make a device raise and clear.

- ``sim``: the simulated home, through the gateway's loopback inject hook (``POST /api/sim/readings``);
- ``zigbee``: the ZNP coordinator simulator's control port (the real Zigbee driver hears a real frame);
- ``ble``: the mocked BlueZ's control port (bleak hears a real, encrypted BTHome advert);
- ``gpio``: the contacts of a wired input moved: a real output line through a relay (a real rig), or the
  gpio driver's pipe-backed fake line (the simulated rig, :mod:`hil_tests.fake_gpio`);
- ``rf433``: the 433 MHz receiver simulator's control port (the real rf433 driver reads the code frames of a
  press, repeated as a real pendant repeats them, on a pty through pyserial).

Tables, not chains of ifs: what each device kind reports when it raises, and what each edge sends for it.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol, runtime_checkable

import aiohttp

from drivers.gpio.config import InputSettings
from gateway.tools.sim_control import send_line
from hil_tests.fake_gpio import FakeWiring
from hil_tests.rig import DeviceSpec

#: What a device kind reports when it raises, as (capability, value), and the event kind the platform sees.
RAISE: dict[str, tuple[str, Any, str]] = {
    "call_button": ("press", True, "alarm.emergency_call"),
    "pull_cord": ("press", True, "alarm.emergency_call"),
    "smoke": ("smoke", True, "alarm.smoke"),
    "gas": ("gas", True, "alarm.gas"),
    "leak": ("leak", True, "alarm.leak"),
    "door": ("contact", "open", "state.door"),
    "motion": ("motion", True, "state.motion"),
    "wet_pad": ("wet", True, "alert.wet"),
    "mattress": ("in_bed", False, "state.bed"),
    "heart_rate": ("heart_rate", 72, "telemetry.vitals"),
}
#: How a latched condition is cleared again, so the next sample is a new alarm; and the event that says so.
CLEAR: dict[str, tuple[str, Any, str]] = {
    "smoke": ("smoke", False, "alarm.smoke.cleared"),
    "gas": ("gas", False, "alarm.gas.cleared"),
    "leak": ("leak", False, "alarm.leak.cleared"),
    "door": ("contact", "closed", "state.door"),
    "wet_pad": ("wet", False, "alert.wet.cleared"),
    "mattress": ("in_bed", True, "state.bed"),
}
#: Kinds whose raise is a call the platform must close before the next press opens a new one.
CALLS = frozenset({"call_button", "pull_cord"})
#: Kinds whose heart rate the vitals rule judges, and kinds that say whether the elder is in bed.
VITALS = frozenset({"mattress", "heart_rate"})
BEDS = frozenset({"mattress"})
#: The ZNP simulator's device kinds for each rig kind.
ZIGBEE_KINDS = {
    "smoke": "smoke",
    "gas": "gas",
    "leak": "leak",
    "door": "door",
    "motion": "motion",
    "call_button": "button",
}
#: Mocked BlueZ commands for each advertising family and kind: (raise, clear or None). BTHome objects, or
#: Xiaomi MiBeacon frames of the simulator's models (door MCCGQ02HL, motion RTCGQ02LM, flood SJWS01LM,
#: switch XMWXKG01LM).
BLE_COMMANDS: dict[tuple[str, str], tuple[str, str | None]] = {
    ("bthome", "call_button"): ("press {mac} press", None),
    ("bthome", "leak"): ("leak {mac} wet", "leak {mac} dry"),
    ("bthome", "door"): ("door {mac} open", "door {mac} closed"),
    ("bthome", "motion"): ("motion {mac}", None),
    ("mibeacon", "call_button"): ("xbutton {mac}", None),
    ("mibeacon", "leak"): ("xleak {mac} wet", "xleak {mac} dry"),
    ("mibeacon", "door"): ("xdoor {mac} open", "xdoor {mac} closed"),
    ("mibeacon", "motion"): ("xmotion {mac}", None),
}


#: Kinds whose BTHome adverts may carry the tamper object (0x2B) the gateway maps to ``tamper``.
BLE_TAMPER_KINDS = frozenset({"door", "pull_cord", "smoke"})


def kind_absent(device: DeviceSpec) -> str | None:
    """Why the suite has no stimulus at all for the device's kind, or None."""
    return None if device.kind in RAISE else f"the suite has no stimulus for a {device.kind} device"


class Edge(Protocol):
    """How the rig makes a device speak. ``stimulus_absent`` says why this edge cannot make a device raise,
    ``tamper_absent`` why it cannot open a device's tamper switch."""

    name: str

    def stimulus_absent(self, device: DeviceSpec) -> str | None: ...

    async def trigger(self, device: DeviceSpec, trace: str) -> None: ...

    async def clear(self, device: DeviceSpec, trace: str) -> None: ...

    def tamper_absent(self, device: DeviceSpec) -> str | None: ...

    async def tamper(self, device: DeviceSpec, on: bool, trace: str) -> float:
        """Open (or restore) the device's tamper switch; returns the seconds the gateway needs to see it."""
        ...


@runtime_checkable
class Radio(Protocol):
    """A radio the rig can take away and give back (a coordinator stick, a Bluetooth adapter)."""

    async def unplug(self) -> None: ...

    async def replug(self) -> None: ...


control = send_line  # one command to a simulator's control port


class SimEdge:
    name = "sim"
    TAMPER_KINDS = frozenset({"pull_cord", "door", "smoke", "gas"})  # sim device types with a tamper switch

    def __init__(self, gateway_url: str, device_ids: dict[str, str]) -> None:
        self.url = gateway_url + "/api/sim/readings"
        self.ids = device_ids

    async def reading(self, device: DeviceSpec, capability: str, value: Any, trace: str) -> list[str]:
        """Inject one reading; returns the ids of the events the gateway committed for it (answered 200)."""
        body = {"device": self.ids[device.name], "capability": capability, "value": value, "trace": trace}
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as http, http.post(self.url, json=body) as resp:
            if resp.status != 200:
                raise RuntimeError(f"inject refused: {resp.status} {await resp.text()}")
            return [e["id"] for e in (await resp.json())["events"]]

    async def press(self, device: DeviceSpec, trace: str) -> list[str]:
        """A press whose committed events are known: the ids the gateway answered with."""
        return await self.reading(device, "press", True, trace)

    def stimulus_absent(self, device: DeviceSpec) -> str | None:
        return kind_absent(device)  # the simulated home has every device type, each reading injectable

    async def trigger(self, device: DeviceSpec, trace: str) -> None:
        capability, value, _ = RAISE[device.kind]
        await self.reading(device, capability, value, trace)

    async def clear(self, device: DeviceSpec, trace: str) -> None:
        if device.kind in CLEAR:
            capability, value, _ = CLEAR[device.kind]
            await self.reading(device, capability, value, trace)

    def tamper_absent(self, device: DeviceSpec) -> str | None:
        return None if device.kind in self.TAMPER_KINDS else f"a simulated {device.kind} has no tamper switch"

    async def tamper(self, device: DeviceSpec, on: bool, trace: str) -> float:
        await self.reading(device, "tamper", on, trace)
        return 0.0


class ZigbeeSimEdge:
    """Simulated IAS devices; names are the simulator's (``smoke-1``...), mapped from rig names on joining."""

    name = "zigbee"

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self.sim_names: dict[str, str] = {}

    async def send(self, command: str) -> str:
        return await control(self.address, command)

    def stimulus_absent(self, device: DeviceSpec) -> str | None:
        if device.kind not in ZIGBEE_KINDS:
            have = ", ".join(sorted(ZIGBEE_KINDS))
            return f"no stimulus for a {device.kind} on the zigbee edge: the ZNP simulator has none (it has: {have})"
        return kind_absent(device)

    async def trigger(self, device: DeviceSpec, trace: str) -> None:
        await self.send(f"alarm {self.sim_names[device.name]}")

    async def clear(self, device: DeviceSpec, trace: str) -> None:
        await self.send(f"restore {self.sim_names[device.name]}")

    def tamper_absent(self, device: DeviceSpec) -> str | None:
        family = device.zigbee_family
        if family is not None and not family.startswith("heiman-"):
            return f"a simulated {family} has no tamper switch in its signature"
        return None  # every built-in simulated IAS zone has the tamper bit

    async def tamper(self, device: DeviceSpec, on: bool, trace: str) -> float:
        await self.send(f"tamper {self.sim_names[device.name]} {'on' if on else 'off'}")
        return 0.0

    async def unplug(self) -> None:
        await self.send("unplug")

    async def replug(self) -> None:
        await self.send("replug")


class BleSimEdge:
    """BTHome or MiBeacon adverts sent by the mocked BlueZ (encrypted with the device's bindkey when it has
    one)."""

    name = "ble"

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address

    def stimulus_absent(self, device: DeviceSpec) -> str | None:
        if (device.family, device.kind) not in BLE_COMMANDS:
            have = ", ".join(sorted(kind for family, kind in BLE_COMMANDS if family == device.family))
            return (
                f"no stimulus for a {device.kind} on the ble edge: the suite sends {device.family} adverts only "
                f"for: {have}"
            )
        return kind_absent(device)

    async def _send(self, template: str, device: DeviceSpec) -> None:
        key = f" key={device.bindkey}" if device.bindkey else ""
        await control(self.address, template.format(mac=device.mac) + key)

    async def trigger(self, device: DeviceSpec, trace: str) -> None:
        await self._send(BLE_COMMANDS[(device.family, device.kind)][0], device)

    async def clear(self, device: DeviceSpec, trace: str) -> None:
        if (command := BLE_COMMANDS[(device.family, device.kind)][1]) is not None:
            await self._send(command, device)

    def tamper_absent(self, device: DeviceSpec) -> str | None:
        if device.family != "bthome":
            return f"a {device.family} {device.kind} on this rig reports no tamper"
        if device.kind not in BLE_TAMPER_KINDS:
            return f"a BTHome {device.kind} on this rig reports no tamper (BTHome object 0x2B)"
        return None

    async def tamper(self, device: DeviceSpec, on: bool, trace: str) -> float:
        await self._send(f"tamper {{mac}} {'on' if on else 'off'}", device)
        return 0.0

    async def unplug(self) -> None:
        await control(self.address, "adapter remove")

    async def replug(self) -> None:
        await control(self.address, "adapter add")


class Rf433SimEdge:
    """A 433 MHz pendant or pull cord pressed: its code burst printed by the simulated receiver module."""

    name = "rf433"
    #: Kinds the suite can make raise on this edge: a press is momentary, so nothing needs clearing.
    KINDS = frozenset({"call_button", "pull_cord"})

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address

    def stimulus_absent(self, device: DeviceSpec) -> str | None:
        if device.kind not in self.KINDS:
            have = ", ".join(sorted(self.KINDS))
            return f"no stimulus for a {device.kind} on the rf433 edge: the suite presses only: {have}"
        return kind_absent(device)

    #: Silence after a burst before the next press counts as a new one: the rig's ``burst_gap_ms`` and a margin.
    AFTER_BURST_S = 0.4

    async def trigger(self, device: DeviceSpec, trace: str) -> None:
        """One press: ten frames 50 ms apart (the simulator answers once they are all sent), then the silence
        that ends the burst, so the next trigger is a new press and not a repeat of this one."""
        await control(self.address, f"press {device.code} 10 50")
        await asyncio.sleep(self.AFTER_BURST_S)

    async def clear(self, device: DeviceSpec, trace: str) -> None:
        return None

    def tamper_absent(self, device: DeviceSpec) -> str | None:
        return "a 433 MHz code carries no tamper state"

    async def tamper(self, device: DeviceSpec, on: bool, trace: str) -> float:
        raise AssertionError("433 MHz devices have no tamper switch")

    async def unplug(self) -> None:
        await control(self.address, "unplug")

    async def replug(self) -> None:
        await control(self.address, "plug")


class Contacts(Protocol):
    """What moves a wired input's contacts: a relay on a real output line, or a fake line's pipe."""

    async def set(self, device: DeviceSpec, spec: InputSettings, asserted: bool) -> None: ...

    def close(self) -> None: ...


class FakeContacts:
    def __init__(self, wiring: FakeWiring) -> None:
        self.wiring = wiring

    async def set(self, device: DeviceSpec, spec: InputSettings, asserted: bool) -> None:
        await self.wiring.set(spec.name, asserted)

    def close(self) -> None:
        return None


class RelayContacts:
    """Real output lines (libgpiod v2), each driving a relay across the contacts of one input."""

    def __init__(self) -> None:
        self._requests: dict[str, Any] = {}

    def _set(self, device: DeviceSpec, asserted: bool) -> None:
        import gpiod
        from gpiod.line import Direction, Value

        assert device.chip is not None and device.line is not None
        request = self._requests.get(device.name)
        if request is None:
            settings = gpiod.LineSettings(direction=Direction.OUTPUT, output_value=Value.INACTIVE)
            request = gpiod.request_lines(device.chip, consumer="fbgw-hil", config={device.line: settings})
            self._requests[device.name] = request
        request.set_value(device.line, Value.ACTIVE if asserted else Value.INACTIVE)

    async def set(self, device: DeviceSpec, spec: InputSettings, asserted: bool) -> None:
        await asyncio.to_thread(self._set, device, asserted)

    def close(self) -> None:
        for request in self._requests.values():
            request.release()
        self._requests.clear()


class GpioEdge:
    """A wired input: a press is the contacts moved for ``pulse_ms`` and back; a state input is held."""

    name = "gpio"

    def __init__(self, contacts: Contacts, inputs: dict[str, InputSettings]) -> None:
        self.contacts = contacts
        self.inputs = inputs  # rig device name -> the gateway input it is wired to

    def stimulus_absent(self, device: DeviceSpec) -> str | None:
        if (why := kind_absent(device)) is not None:
            return why
        spec = self.inputs[device.name]
        capability, value, _ = RAISE[device.kind]
        if (spec.spec.capability, spec.spec.asserted) != (capability, value):
            return (
                f"no stimulus for a {device.kind} on the gpio edge: gpio input {spec.name} is a {spec.kind} input "
                f"(asserted it reports {spec.spec.capability} = {spec.spec.asserted!r}); a {device.kind} raises "
                f"{capability} = {value!r}"
            )
        return None

    async def trigger(self, device: DeviceSpec, trace: str) -> None:
        spec = self.inputs[device.name]
        await self.contacts.set(device, spec, True)
        if spec.spec.momentary:
            await asyncio.sleep(device.pulse_ms / 1000)
            await self.contacts.set(device, spec, False)

    async def clear(self, device: DeviceSpec, trace: str) -> None:
        spec = self.inputs[device.name]
        if not spec.spec.momentary:
            await self.contacts.set(device, spec, False)

    def tamper_absent(self, device: DeviceSpec) -> str | None:
        spec = self.inputs[device.name]
        if spec.supervision_ms == 0:
            return f"gpio input {spec.name} is not a supervised normally-closed loop (contact nc, cut_after_ms > 0)"
        return None

    async def tamper(self, device: DeviceSpec, on: bool, trace: str) -> float:
        """A cut loop: the contacts held open past the supervision window (and closed again)."""
        spec = self.inputs[device.name]
        await self.contacts.set(device, spec, on)
        return spec.supervision_ms / 1000 if on else 0.0

    def close(self) -> None:
        self.contacts.close()
