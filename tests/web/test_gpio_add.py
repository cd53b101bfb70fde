"""Adding and removing wired (GPIO) inputs through the page's API, on pipe-backed lines in a whole gateway."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from tests.drivers.gpio.conftest import CHIP
from tests.drivers.gpio.fakes import FakeLines
from tests.support.broker import Mosquitto
from tests.web.conftest import GPIO_SPARE, client_for, code_of, gpio_gateway, hdr, sign_in

pytestmark = pytest.mark.timeout(60)


async def wait_until(predicate: Any, within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_add_page_offers_gpio_lines_and_adopting_one_names_it(
    tmp_path: Path, broker: Mosquitto, gpio_lines: FakeLines
) -> None:
    async with gpio_gateway(tmp_path / "s", broker) as gw, client_for(gw) as c:
        csrf = await sign_in(c, code_of(gw))
        html = await (await c.get("/add")).text()
        button = re.search(r'<button[^>]*data-transport="gpio"[^>]*>', html)
        assert button and 'data-adopt="1"' in button.group(0) and 'data-keyed="0"' in button.group(0)
        transports = {t["name"]: t for t in (await (await c.get("/api/transports")).json())["transports"]}
        assert transports["gpio"]["adopt"] and transports["gpio"]["health"] == "up"
        assert gw.registry.get("gpio-spare") is None and gw.registry.get("gpio-bath-cord") is not None

        resp = await c.post("/api/pairing/gpio/start", json={"seconds": 60}, headers=hdr(csrf))
        assert resp.status == 200
        state = await (await c.get("/api/pairing/gpio")).json()
        assert state["open"]
        offered = {x["address"]: x for x in state["candidates"]}
        assert set(offered) == {GPIO_SPARE, f"{CHIP}:4"}  # not the added cord, not the install button
        assert (offered[GPIO_SPARE]["kind"], offered[GPIO_SPARE]["line"]) == ("call_button", "5")

        bad = [
            ({"address": GPIO_SPARE, "type": "door"}, 422, "type is call_button"),
            ({"address": f"{CHIP}:17", "type": "pull_cord"}, 422, "already added"),
            ({"address": f"{CHIP}:99", "type": "call_button"}, 422, "lines that can be added"),
            ({"address": GPIO_SPARE, "type": "call_button", "bindkey": "0" * 32}, 422, "no bindkey"),
            ({"address": GPIO_SPARE, "type": "toaster"}, 400, "type"),
            ({"address": GPIO_SPARE, "type": "call_button", "room": "a\nb"}, 400, "control"),
            ({"address": GPIO_SPARE}, 400, "type"),
        ]
        for body, status, words in bad:
            resp = await c.post("/api/pairing/gpio/adopt", json=body, headers=hdr(csrf))
            assert resp.status == status, body
            assert words in (await resp.json())["error"], body
        assert gw.registry.get("gpio-spare") is None

        resp = await c.post(
            "/api/pairing/gpio/adopt",
            json={"address": GPIO_SPARE, "type": "call_button", "name": "床头按钮", "room": "bedroom"},
            headers=hdr(csrf),
        )
        assert resp.status == 200
        dev = (await resp.json())["device"]
        assert (dev["id"], dev["name"], dev["room"], dev["transport"]) == ("gpio-spare", "床头按钮", "bedroom", "gpio")
        state = await (await c.get("/api/pairing/gpio")).json()
        assert [x["address"] for x in state["candidates"]] == [f"{CHIP}:4"] and state["ready"] == ["gpio-spare"]

        gpio_lines.lines[(CHIP, "5")].edge(True)  # the technician presses the new button
        await wait_until(lambda: "gpio-spare" in gw.services.web.tests.tested)
        assert gw.services.web.tests.tested["gpio-spare"].kind == "alarm.emergency_call"
        assert "gpio-spare" in {d["id"] for d in (await (await c.get("/api/devices")).json())["devices"]}

        # the door reports its state as it is added: that is not the technician opening it
        resp = await c.post(
            "/api/pairing/gpio/adopt", json={"address": "spare-door", "type": "door"}, headers=hdr(csrf)
        )
        assert resp.status == 200 and (await resp.json())["device"]["room"] == "hall"
        tests = gw.services.web.tests
        await wait_until(lambda: any(r.device == "gpio-spare-door" and r.kind == "state.door" for r in tests.log))
        at_start = next(r for r in tests.log if r.device == "gpio-spare-door" and r.kind == "state.door")
        assert not at_start.action
        assert "gpio-spare-door" not in tests.tested
        gpio_lines.lines[(CHIP, "4")].edge(False)  # now the technician opens the door
        await wait_until(lambda: "gpio-spare-door" in tests.tested)


async def test_removing_a_gpio_device_frees_its_line_and_it_stays_removed(
    tmp_path: Path, broker: Mosquitto, gpio_lines: FakeLines
) -> None:
    state = tmp_path / "s"
    async with gpio_gateway(state, broker) as gw, client_for(gw) as c:
        code = code_of(gw)
        csrf = await sign_in(c, code)
        cord_line = gpio_lines.lines[(CHIP, "17")]
        resp = await c.delete("/api/devices/gpio-bath-cord", headers=hdr(csrf))
        assert resp.status == 200
        assert cord_line.closed and gw.registry.get("gpio-bath-cord") is None
        resp = await c.delete("/api/devices/gpio-install", headers=hdr(csrf))
        assert resp.status == 409 and "installer's button" in (await resp.json())["error"]
        assert gw.registry.get("gpio-install") is not None
    requests_before = len(gpio_lines.requests)
    async with gpio_gateway(state, broker) as gw, client_for(gw) as c:  # after a restart
        assert gw.registry.get("gpio-bath-cord") is None
        assert (CHIP, "17") not in {(chip, line) for chip, line, _ in gpio_lines.requests[requests_before:]}
        gw.services.web.open_install_window(600)  # a box in service: the window opens on request
        csrf = await sign_in(c, code)
        await c.post("/api/pairing/gpio/start", json={}, headers=hdr(csrf))
        state_json = await (await c.get("/api/pairing/gpio")).json()
        assert f"{CHIP}:17" in {x["address"] for x in state_json["candidates"]}
        resp = await c.post(
            "/api/pairing/gpio/adopt",
            json={"address": f"{CHIP}:17", "type": "pull_cord", "name": "卫生间拉绳", "room": "bathroom"},
            headers=hdr(csrf),
        )
        assert resp.status == 200 and gw.registry.get("gpio-bath-cord") is not None
