"""Pair a real BLE device through the page: the BLE driver on mocked BlueZ (private D-Bus), Chromium on top.

The encrypted BTHome call button advertises on the mock; the page lists it by signal strength, the
technician enters its bindkey, and its next press shows up live in test mode with its broker latency.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import expect

from drivers.ble.bthome import BTHOME_V1_UUIDS
from sims.bluez import BluezControl, MockBluezProcesses
from sims.bluez import mibeacon as mi
from tests.drivers.ble import vectors as v
from tests.drivers.ble import xiaomi_vectors as xv
from tests.support.broker import Mosquitto
from tests.web.browser import chromium, phone_page, shot
from tests.web.conftest import running_gateway
from tests.web.test_browser import T, sign_in

pytestmark = pytest.mark.timeout(120)

PLAIN_BTN = "3C:2E:F5:00:00:01"
ENC_BTN = "3C:2E:F5:00:00:02"
KEY = "00112233445566778899aabbccddeeff"
BLE_FAST = {
    "enabled": True,
    "offline_min_s": 60,
    "availability_check_s": 0.05,
    "advert_burst_s": 0.02,
    "vitals_every_s": 0,
    "adopt_timeout_s": 5,
    "adapter_retry_min_s": 0.05,
    "adapter_retry_max_s": 0.3,
}


@pytest.fixture
def bluez_bus() -> Iterator[str]:
    procs = MockBluezProcesses()
    procs.start()
    old = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
    os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = procs.address
    try:
        yield procs.address
    finally:
        procs.close()
        if old is None:
            os.environ.pop("DBUS_SYSTEM_BUS_ADDRESS", None)
        else:
            os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = old


async def test_pair_encrypted_bthome_button_through_the_page(tmp_path: Path, broker: Mosquitto, bluez_bus: str) -> None:
    async with (
        BluezControl(bluez_bus) as bluez,
        running_gateway(tmp_path, broker, drivers={"ble": BLE_FAST}) as gw,
        chromium() as browser,
        phone_page(browser, "ble") as page,
    ):
        ble = gw.drivers["ble"]
        for _ in range(500):
            if ble.health().state == "up":
                break
            await asyncio.sleep(0.01)
        assert ble.health().state == "up", ble.health()
        await sign_in(page, gw)
        await page.click("nav.tabs a[href='/add']")
        await page.click("#transports button[data-transport=ble]")
        await page.click("#pair-start")
        await expect(page.locator("#countdown")).to_contain_text("配对剩余")
        await bluez.advertise_bthome(PLAIN_BTN, v.plain(v.packet_id(1), v.button(v.PRESS)), name="SBBT-002C", rssi=-55)
        await bluez.advertise_bthome(
            ENC_BTN,
            v.encrypted(v.packet_id(1), v.button(v.PRESS), mac=ENC_BTN, key=KEY, counter=10),
            name="SBBT-002C",
            rssi=-70,
        )
        await expect(page.locator("#candidates li")).to_have_count(2, timeout=T)
        await expect(page.locator("#candidates li").first).to_have_attribute("data-address", PLAIN_BTN)
        enc = page.locator(f"#candidates li[data-address='{ENC_BTN}']")
        await expect(enc).to_contain_text("需密钥")
        await enc.click()
        await expect(page.locator("#adopt-type")).to_have_value("call_button")
        await page.fill("#adopt-name", "卫生间呼叫")
        await page.select_option("#adopt-room", "bathroom")
        await page.fill("#adopt-bindkey", "ff" * 16)  # wrong key: the driver says so, nothing is added
        await page.click("#adopt-submit")
        await expect(page.locator("#flash")).to_contain_text("绑定密钥不对", timeout=T)  # the reason, in Chinese
        assert gw.registry.get("ble-3c2ef5000002") is None
        await page.fill("#adopt-bindkey", KEY.upper())
        await shot(page, "add-ble-real")
        await page.click("#adopt-submit")
        await expect(page.locator("article.pcard[data-device=ble-3c2ef5000002]")).to_be_visible(timeout=T)
        dev = gw.registry.get("ble-3c2ef5000002")
        assert dev is not None and dev.secret == KEY and dev.room == "bathroom" and dev.name == "卫生间呼叫"

        await page.click("nav.tabs a[href='/test']")
        await asyncio.sleep(0.3)
        await bluez.advertise_bthome(
            ENC_BTN, v.encrypted(v.packet_id(2), v.button(v.PRESS), mac=ENC_BTN, key=KEY, counter=11)
        )
        row = page.locator('#events li[data-device=ble-3c2ef5000002][data-kind="alarm.emergency_call"]')
        await expect(row).to_have_class("delivered", timeout=T)
        await expect(row).to_contain_text("紧急呼叫")  # the event kind in words, never its code
        await expect(row).to_contain_text("卫生间呼叫")


async def test_pair_xiaomi_door_sensor_through_the_page(tmp_path: Path, broker: Mosquitto, bluez_bus: str) -> None:
    """A Xiaomi door sensor (published xiaomi-ble advert, random address, bindkey) is listed with its model and
    adopted like a BTHome device; a Xiaomi thermometer and a BTHome v1 sensor are listed as unsupported."""
    door = xv.DOOR_MCCGQ02HL
    async with (
        BluezControl(bluez_bus) as bluez,
        running_gateway(tmp_path, broker, drivers={"ble": BLE_FAST}) as gw,
        chromium() as browser,
        phone_page(browser, "ble-xiaomi") as page,
    ):
        ble = gw.drivers["ble"]
        for _ in range(500):
            if ble.health().state == "up":
                break
            await asyncio.sleep(0.01)
        assert ble.health().state == "up", ble.health()
        await sign_in(page, gw)
        await page.click("nav.tabs a[href='/add']")
        await page.click("#transports button[data-transport=ble]")
        await page.click("#pair-start")
        await expect(page.locator("#countdown")).to_contain_text("配对剩余")
        await bluez.advertise("5D:00:00:00:21:AE", rssi=-50, service_data={mi.MIBEACON_UUID: door.data})
        thermo = xv.THERMOMETER_LYWSDCGQ
        await bluez.advertise(thermo.address, rssi=-60, service_data={mi.MIBEACON_UUID: thermo.data})
        await bluez.advertise("A4:C1:38:00:00:99", rssi=-70, service_data={BTHOME_V1_UUIDS[0]: bytes([0x02, 0x01, 93])})
        await expect(page.locator("#candidates li")).to_have_count(3, timeout=T)
        item = page.locator(f"#candidates li[data-address='{door.address}']")  # its own MAC, from the frame
        await expect(item).to_contain_text("MCCGQ02HL")
        await expect(item).to_contain_text("需密钥")
        for unsupported in (thermo.address, "A4:C1:38:00:00:99"):
            await expect(page.locator(f"#candidates li[data-address='{unsupported}']")).to_contain_text("不支持")
        await item.click()
        await expect(page.locator("#adopt-type")).to_have_value("door")
        await page.fill("#adopt-name", "大门")
        await page.select_option("#adopt-room", "hall")
        assert door.bindkey is not None
        await page.fill("#adopt-bindkey", door.bindkey)
        await shot(page, "add-ble-xiaomi")
        await page.click("#adopt-submit")
        dev_id = "ble-e4aaec8121ae"
        await expect(page.locator(f"article.pcard[data-device={dev_id}]")).to_be_visible(timeout=T)
        dev = gw.registry.get(dev_id)
        assert dev is not None and dev.type == "door" and dev.params["model"] == "MCCGQ02HL"
        assert dev.secret == door.bindkey and dev.room == "hall"
