"""End to end: an encrypted BTHome button, paired through the driver, pressed; the alarm reaches the broker.

Real parts all the way: bleak's BlueZ backend on the mocked BlueZ (private system bus), bthome-ble,
the gateway (intake, rules, SQLite outbox, MQTT uplink) and a real Mosquitto.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from drivers.ble.driver import BleDriver
from gateway.app import Gateway
from sims.bluez import BluezControl
from sims.bluez import mibeacon as mi
from sims.bluez.packets import SimBTHomeDevice, button
from tests.drivers.ble import xiaomi_vectors as xv
from tests.drivers.ble.conftest import FAST, scanning
from tests.support.broker import Mosquitto
from tests.support.collector import Collector
from tests.support.gateway import make_config

KEY = "5a4b3c2d1e0f11223344556677889900"
MAC = "3C:2E:F5:AB:CD:EF"


@pytest.mark.timeout(60)
async def test_bthome_press_arrives_as_emergency_call(bluez: BluezControl, broker: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", broker.url, drivers={"ble": {"enabled": True, **FAST}})
    btn = SimBTHomeDevice(MAC, KEY)
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        driver = gw.drivers["ble"]
        assert isinstance(driver, BleDriver)
        await scanning(driver)
        await driver.start_pairing(30)
        await bluez.advertise_bthome(MAC, btn.packet_of(button(0x01)), name="SBBT-002C")  # test press
        device = await driver.adopt(MAC, {"name": "Bedside", "room": "bedroom", "secret": KEY})

        await bluez.advertise_bthome(MAC, btn.packet_of(button(0x01)))
        await col.wait_for(lambda c: "alarm.emergency_call" in c.kinds(), timeout=15)

        alarm = next(ev for ev in col.events if ev["kind"] == "alarm.emergency_call")
        topic = next(t for _at, t, ev in col.arrivals if ev is alarm)
        assert topic == f"fbgw/v1/{gw.id}/alarms"
        assert alarm["device"]["id"] == device.id == "ble-3c2ef5abcdef"
        assert alarm["device"]["room"] == "bedroom" and alarm["device"]["transport"] == "ble"
        assert alarm["data"]["event"] == "press"
        assert col.kinds().count("alarm.emergency_call") == 1  # the pairing test press was not an alarm

        # the bindkey is on disk only, mode 0600, and never in what the gateway shows
        assert stat.S_IMODE(gw.registry.path.stat().st_mode) == 0o600
        assert KEY not in json.dumps(gw.status(), default=str)
        assert KEY not in json.dumps([ev for ev in col.events])


@pytest.mark.timeout(60)
async def test_xiaomi_button_burst_and_counter_restart_reach_the_platform(
    bluez: BluezControl, broker: Mosquitto, tmp_path: Path
) -> None:
    """A Xiaomi switch (published advert, bindkey) pressed once in a burst of copies: one call, no cancel
    request; its battery changed (counter restarted): ``device.needs_readoption`` at once, as an alert."""
    vec = xv.SWITCH_XMWXKG01YL
    cfg = make_config(tmp_path / "state", broker.url, drivers={"ble": {"enabled": True, **FAST, "advert_burst_s": 5}})
    sim = mi.SimXiaomiDevice(vec.address, "XMWXKG01YL", vec.bindkey, counter=0x0250)
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        driver = gw.drivers["ble"]
        assert isinstance(driver, BleDriver)
        await scanning(driver)
        await bluez.advertise(vec.address, service_data={mi.MIBEACON_UUID: vec.data})  # the published press
        device = await driver.adopt(vec.address, {"room": "bedroom", "secret": vec.bindkey})

        press = sim.packet_of(mi.switch_press(1))
        for rssi in (-60, -66, -61, -70):
            await bluez.advertise(vec.address, rssi=rssi, service_data={mi.MIBEACON_UUID: press})
        await col.wait_for(lambda c: "alarm.emergency_call" in c.kinds(), timeout=15)
        call = next(ev for ev in col.events if ev["kind"] == "alarm.emergency_call")
        assert (call["data"]["event"], call["data"]["button"]) == ("press", "left")  # which button, which gesture

        sim.restart()  # battery change
        for _ in range(2):
            await bluez.advertise(vec.address, service_data={mi.MIBEACON_UUID: sim.packet_of(mi.switch_press(1))})
        await col.wait_for(lambda c: "device.needs_readoption" in c.kinds(), timeout=15)
        alert = next(ev for ev in col.events if ev["kind"] == "device.needs_readoption")
        assert alert["priority"] == "alert" and alert["device"]["id"] == device.id
        assert "restarted" in alert["data"]["reason"]
        assert col.kinds().count("alarm.emergency_call") == 1
        assert "alarm.cancel_requested" not in col.kinds()
