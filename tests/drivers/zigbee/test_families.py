"""Every supported family, with its published signature, through the real zigpy-znp, the device library and the
mapping table: it pairs as its ``docs/devices.md`` row says, alarms, clears, reports battery, goes offline after
its power class's timeout, and is removed. Unknown devices are refused with a reason naming what they lack.

One simulator and one driver serve the whole module (starting zigpy is the slow part); each family joins once.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from drivers.base import DriverContext, SupportedDevice
from drivers.zigbee import ZigbeeDriver, create_driver
from drivers.zigbee.supported import SUPPORTED
from gateway.registry import DeviceRegistry
from sims.znp import ZnpSimulator
from sims.znp.control import execute
from sims.znp.descriptor import DEVICES_DIR, Descriptor
from sims.znp.devices import SimDevice, families
from tests.drivers.zigbee.conftest import Sink, wait_for

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

MAINS_S, BATTERY_S = 0.5, 1.2
FAMILIES = sorted(f for f in families() if "-" in f)
#: A battery level every encoding carries exactly, Tuya's four-step battery state (0..3 = 100/75/50/25 %) included.
BATTERY = 50

#: device type -> (alarm capability, alarm value, cleared value or None when it has no clear).
ALARMS: dict[str, tuple[str, Any, Any]] = {
    "smoke": ("smoke", True, False),
    "gas": ("gas", True, False),
    "leak": ("leak", True, False),
    "door": ("contact", "open", "closed"),
    "motion": ("motion", True, False),
    "call_button": ("press", True, None),
    "remote": ("press", True, None),
}


@dataclass
class Session:
    sim: ZnpSimulator
    driver: ZigbeeDriver
    sink: Sink
    registry: DeviceRegistry


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def session(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Session]:
    tmp: Path = tmp_path_factory.mktemp("zigbee-families")
    registry = DeviceRegistry(tmp / "state" / "registry.json")
    registry.open()
    sink = Sink()
    async with ZnpSimulator(link=tmp / "ttyZNP", latency_s=0.002) as sim:
        section = {
            "port": sim.path,
            "availability_check_s": 0.1,
            "offline_after_mains_s": MAINS_S,
            "offline_after_battery_s": BATTERY_S,
            "startup_timeout_s": 30,
        }
        driver = create_driver(section, DriverContext("gw-test", tmp / "state", sink, registry))
        await driver.start()
        try:
            await wait_for(lambda: driver.app is not None and driver.health().state == "up", 30, "network up")
            await driver.start_pairing(254)
            yield Session(sim, driver, sink, registry)
        finally:
            await driver.stop()
    registry.close()


def row_of(desc: Descriptor) -> SupportedDevice:
    names = {desc.model, f"{desc.model} {desc.manufacturer}"}
    rows = [r for r in SUPPORTED if any(m.split(" (")[0] in names for m in r.models)]
    assert len(rows) == 1, f"{desc.family}: {len(rows)} rows of docs/devices.md name {names}"
    return rows[0]


async def join(s: Session, family: str | None = None, desc: Descriptor | None = None) -> tuple[SimDevice, str]:
    dev = s.sim.join(family or "", desc=desc)
    device_id = f"zb-{dev.ieee_hex}"
    await wait_for(lambda: {"ready", "failed"} & set(s.sink.stages(device_id)), 20, f"{dev.name} paired or refused")
    return dev, device_id


def failures(s: Session, device_id: str) -> list[str]:
    return [u.detail for u in s.sink.updates if u.device == device_id and u.stage == "failed"]


def readings(s: Session, device_id: str, capability: str) -> list[Any]:
    return s.sink.values(device_id, capability)


@pytest.mark.parametrize("family", FAMILIES)
async def test_family_pairs_alarms_clears_reports_battery_goes_offline_and_is_removed(
    session: Session, family: str
) -> None:
    s = session
    desc = families()[family]
    dev, device_id = await join(s, family)
    assert failures(s, device_id) == []
    device = s.registry.get(device_id)
    assert device is not None
    row = row_of(desc)
    assert (device.type, tuple(device.capabilities)) == (row.device_type, row.reports)
    assert device.params["power_source"] == ("mains" if desc.mains else "battery")

    if device.type == "remote":  # a generic remote's press is a call only where the technician says so
        s.sim.act(dev.name, "press")
        await wait_for(lambda: s.driver.counters.get("presses_ignored", 0) >= 1, 5, "ignored press")
        assert readings(s, device_id, "press") == []
        await s.registry.update(device_id, params={**device.params, "press_is_call": True})
    if device.type == "siren":
        await s.driver.warn(device_id, 30)
        await s.driver.warn(device_id, on=False)
        assert dev.warnings == [(0x36, 30), (0x00, 0)]  # emergency + strobe + high level, then stop
    else:
        capability, on, off = ALARMS[device.type]
        s.sim.alarm(dev.name)
        await wait_for(lambda: readings(s, device_id, capability)[-1:] == [on], 10, f"{capability}={on}")
        if off is not None and ("restore" in desc.actions or "alarm" not in desc.actions):
            s.sim.restore(dev.name)
            await wait_for(lambda: readings(s, device_id, capability)[-1:] == [off], 10, f"{capability}={off}")

    if "battery" in device.capabilities:
        s.sim.battery(dev.name, BATTERY)
        await wait_for(lambda: readings(s, device_id, "battery")[-1:] == [BATTERY], 10, f"battery {BATTERY} %")

    limit = MAINS_S if desc.mains else BATTERY_S
    s.sim.silence(dev.name)
    silent_at = time.monotonic()
    offline = await wait_for(
        lambda: [a for a in s.sink.avail if a[0] == device_id and not a[1]], limit + 5, "offline report"
    )
    assert offline[0][2] == f"not heard for {limit:g} s"
    assert time.monotonic() - silent_at >= limit - 0.3  # its last frame came just before it fell silent
    s.sim.silence(dev.name, False)  # it announces itself: heard again
    await wait_for(lambda: (device_id, True, "heard again") in s.sink.avail, 10, "device back")

    await s.driver.remove(device_id)
    assert s.registry.get(device_id) is None
    await wait_for(lambda: dev.name not in s.sim.devices, 10, "device left the network")


async def test_button_gestures_reach_the_reading(session: Session) -> None:
    s = session
    for family, button in (("aqara-button", 1), ("sonoff-button", "button")):
        dev, device_id = await join(s, family)
        device = s.registry.get(device_id)
        assert device is not None
        if device.type == "remote":
            await s.registry.update(device_id, params={**device.params, "press_is_call": True})
        for action, gesture in (("press", "single"), ("press_double", "double"), ("press_long", "long")):
            s.sim.act(dev.name, action)
            wanted = (device_id, gesture)
            await wait_for(
                lambda w=wanted: any(  # type: ignore[misc]
                    (r.device, r.meta.get("gesture")) == w for r in s.sink.readings
                ),
                5,
                f"{family} {gesture}",
            )
        presses = [r for r in s.sink.readings if r.device == device_id and r.capability == "press"]
        assert [(r.meta.get("index", r.meta.get("button")), r.meta["gesture"]) for r in presses] == [
            (button, "single"),
            (button, "double"),
            (button, "long"),
        ]
        await s.driver.remove(device_id)


async def test_tuya_data_point_device_without_a_quirk_is_refused_naming_the_reason(session: Session) -> None:
    # a Tuya radiator valve: zha-quirks has a quirk for it, but not among the families fbgw loads
    raw = json.loads((DEVICES_DIR / "tuya-leak-ts0601.json").read_text())
    raw.update(family="tuya-trv", manufacturer="_TZE200_ckud7u2l", actions={})
    _, device_id = await join(session, desc=Descriptor.parse(raw))
    (reason,) = failures(session, device_id)
    assert "_TZE200_ckud7u2l TS0601" in reason and "0xEF00" in reason and "no device-library quirk" in reason
    assert session.registry.get(device_id) is None


async def test_tuya_leak_and_sos_quirks_read_their_data_points(session: Session) -> None:
    """fbgw's own Tuya quirks: the Neo leak's "wet" is data point 101 (true = wet), the WLS-100z's is data point
    1 (0 = leak), the SOS button's every data point 23 is one press (it is latched: no release comes), and the
    _TZE200_nojsjtj2 button's every data point 26 or 29 is one."""
    s = session
    neo, neo_id = await join(s, "tuya-leak-ts0601")
    s.sim.send(neo.name, {"dp": {"dp": 101, "type": "bool", "value": 1}})
    await wait_for(lambda: readings(s, neo_id, "leak")[-1:] == [True], 10, "Neo wet")
    s.sim.send(neo.name, {"dp": {"dp": 1, "type": "bool", "value": 0}})  # not its leak data point
    s.sim.send(neo.name, {"dp": {"dp": 102, "type": "enum", "value": 3}})  # battery state "low"
    await wait_for(lambda: readings(s, neo_id, "battery")[-1:] == [25], 10, "Neo battery low = 25 %")
    assert readings(s, neo_id, "leak")[-1:] == [True]
    wls, wls_id = await join(s, "tuya-leak-wls100z")
    s.sim.send(wls.name, {"dp": {"dp": 1, "type": "enum", "value": 1}})
    await wait_for(lambda: readings(s, wls_id, "leak")[-1:] == [False], 10, "WLS-100z dry (1)")
    s.sim.send(wls.name, {"dp": {"dp": 1, "type": "enum", "value": 0}})
    await wait_for(lambda: readings(s, wls_id, "leak")[-1:] == [True], 10, "WLS-100z leak (0)")
    sos, sos_id = await join(s, "tuya-sos-ts0601")
    for n in (1, 2, 3):
        s.sim.alarm(sos.name)
        await wait_for(lambda n=n: readings(s, sos_id, "press") == [True] * n, 10, f"press {n}")  # type: ignore[misc]
    # _TZE200_nojsjtj2: data point 26 ("sos") and 29 ("emergency") are each a press; 23 (another button's) is not
    elder, elder_id = await join(s, "tuya-sos-nojsjtj2")
    s.sim.send(elder.name, {"dp": {"dp": 23, "type": "enum", "value": 0}})
    for n, action in enumerate(("alarm", "emergency", "alarm"), start=1):
        s.sim.act(elder.name, action)
        await wait_for(
            lambda n=n: readings(s, elder_id, "press") == [True] * n,  # type: ignore[misc]
            10,
            f"nojsjtj2 press {n} ({action})",
        )
    for device_id in (neo_id, wls_id, sos_id, elder_id):
        await s.driver.remove(device_id)


async def test_device_with_nothing_to_report_is_refused_naming_what_is_missing(session: Session) -> None:
    bulb = Descriptor.parse(
        {
            "family": "plain-bulb",
            "manufacturer": "ACME",
            "model": "Bulb-1",
            "power": "mains",
            "endpoints": [{"id": 11, "device_type": "0x0100", "in": [0, 3, 4, 5, 6], "out": [25]}],
        }
    )
    _, device_id = await join(session, desc=bulb)
    (reason,) = failures(session, device_id)
    assert reason.startswith("ACME Bulb-1: no supported cluster (device has 0x0000 server")
    assert "needs one of: IAS Zone (0x0500 server)" in reason and "Occupancy Sensing (0x0406 server)" in reason


async def test_control_interface_joins_a_descriptor_file_and_sends_any_frame(session: Session, tmp_path: Path) -> None:
    s = session
    raw = json.loads((DEVICES_DIR / "tuya-door.json").read_text())
    raw.update(family="my-door", ieee="a4c13800000000aa", nwk="0x4321")
    path = tmp_path / "door.json"
    path.write_text(json.dumps(raw))
    assert execute(s.sim, f"join-file {path} hall-door") == "ok joined hall-door ieee=a4c13800000000aa nwk=0x4321"
    device_id = "zb-a4c13800000000aa"
    await wait_for(lambda: "ready" in s.sink.stages(device_id), 20, "descriptor file device paired")
    assert execute(s.sim, 'send hall-door {"dp": {"dp": 1, "type": "bool", "value": 1}}') == "ok sent by hall-door"
    await wait_for(lambda: readings(s, device_id, "contact")[-1:] == ["open"], 10, "open from a raw data point")
    execute(s.sim, 'send hall-door {"dp": {"dp": 2, "type": "value", "value": 55}}')
    await wait_for(lambda: readings(s, device_id, "battery")[-1:] == [55], 10, "battery from a raw data point")
    assert execute(s.sim, "send hall-door {not json").startswith("error frame is not JSON")
    assert execute(s.sim, 'send hall-door {"nope": 1}').startswith("error unknown frame form 'nope'")
    assert execute(s.sim, "act hall-door fly").startswith("error hall-door (my-door) has no action 'fly'")
    assert execute(s.sim, f"join-file {tmp_path / 'missing.json'}").startswith("error ")
    assert "tuya-smoke" in execute(s.sim, "kinds")
    await s.driver.remove(device_id)
