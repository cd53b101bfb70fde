"""The page's JSON API: devices, pairing (sim, scripted Zigbee/BLE), live stream, acceptance, bad input."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from core.devices import Device
from core.events import EventDraft, Priority
from tests.support.collector import Collector
from tests.web.conftest import code_of, hdr, sign_in
from tests.web.fakes import FakeBle, FakeZigbee, attach

pytestmark = pytest.mark.timeout(60)


async def wait_until(predicate: Any, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_rename_move_remove(gw, client) -> None:
    csrf = await sign_in(client, code_of(gw))
    resp = await client.patch("/api/devices/door-1", json={"name": "入户门", "room": "hall"}, headers=hdr(csrf))
    assert resp.status == 200
    assert (await resp.json())["device"]["name"] == "入户门"
    resp = await client.patch("/api/devices/door-1", json={"room": "bedroom"}, headers=hdr(csrf))
    assert gw.registry.get("door-1").room == "bedroom"
    resp = await client.delete("/api/devices/door-1", headers=hdr(csrf))
    assert resp.status == 200 and gw.registry.get("door-1") is None
    assert (await client.delete("/api/devices/door-1", headers=hdr(csrf))).status == 404
    devices = (await (await client.get("/api/devices")).json())["devices"]
    assert "door-1" not in {d["id"] for d in devices}


async def test_remove_goes_through_the_devices_radio(gw, client) -> None:
    csrf = await sign_in(client, code_of(gw))
    zb = attach(gw, FakeZigbee)
    await zb.start_pairing(30)
    await wait_until(lambda: gw.registry.get("zb-00124b0001a2b3c4") is not None)
    resp = await client.delete("/api/devices/zb-00124b0001a2b3c4", headers=hdr(csrf))
    assert resp.status == 200
    assert zb.removed == ["zb-00124b0001a2b3c4"]
    del gw.drivers["zigbee"]  # radio gone: a zigbee device cannot be removed from it now
    await zb.start_pairing(30)
    await wait_until(lambda: gw.registry.get("zb-00124b0001a2b3c4") is not None)
    resp = await client.delete("/api/devices/zb-00124b0001a2b3c4", headers=hdr(csrf))
    assert resp.status == 409 and "not running" in (await resp.json())["error"]
    await zb.stop()


BAD_DEVICE_CHANGES: list[tuple[Any, str]] = [
    ({}, "nothing to change"),
    ({"name": ""}, "name"),
    ({"name": "x" * 65}, "name"),
    ({"name": "bad\x00name"}, "control"),
    ({"room": "r" * 33}, "room"),
    ({"room": "a\nb"}, "control"),
    ({"name": 5}, "name"),
    ({"name": "ok", "id": "other"}, "id"),
    ({"name": "ok", "secret": "x"}, "secret"),
    ([1, 2], "object"),
    ("text", "object"),
    (None, "object"),
]


async def test_device_change_bad_input(gw, client) -> None:
    csrf = await sign_in(client, code_of(gw))
    for body, words in BAD_DEVICE_CHANGES:
        resp = await client.patch(
            "/api/devices/btn-1",
            data=json.dumps(body),
            headers={**hdr(csrf), "Content-Type": "application/json"},
        )
        assert resp.status == 400, body
        assert words in (await resp.json())["error"], (body, await resp.json())
    resp = await client.patch(
        "/api/devices/btn-1", data="{not json", headers={**hdr(csrf), "Content-Type": "application/json"}
    )
    assert resp.status == 400 and "JSON" in (await resp.json())["error"]
    resp = await client.patch(
        "/api/devices/btn-1",
        data="name=x",
        headers={**hdr(csrf), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status == 400
    resp = await client.patch("/api/devices/nope", json={"name": "x"}, headers=hdr(csrf))
    assert resp.status == 404
    resp = await client.patch("/api/devices/" + "%2e%2e%2f" * 5, json={"name": "x"}, headers=hdr(csrf))
    assert resp.status == 404
    resp = await client.patch(
        "/api/devices/btn-1",
        data=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        headers={**hdr(csrf), "Content-Type": "application/json"},
    )
    assert resp.status == 413
    assert gw.registry.get("btn-1").name == "btn-1"


async def test_sim_pairing_then_name_and_room(gw, client) -> None:
    csrf = await sign_in(client, code_of(gw))
    resp = await client.post("/api/pairing/sim/start", json={"seconds": 30}, headers=hdr(csrf))
    body = await resp.json()
    assert resp.status == 200 and body["seconds"] == 30 and body["state"]["open"]
    await wait_until(lambda: gw.services.web.pairing["sim"].ready == ["sim-new-1"])
    assert gw.registry.get("sim-new-1") is not None
    state = await (await client.get("/api/pairing/sim")).json()
    assert [e["stage"] for e in state["log"]] == ["open", "joined", "ready"]
    assert state["ready"] == ["sim-new-1"]
    resp = await client.patch(
        "/api/devices/sim-new-1", json={"name": "卫生间按钮", "room": "bathroom"}, headers=hdr(csrf)
    )
    assert resp.status == 200
    assert gw.registry.get("sim-new-1").room == "bathroom"
    assert (await client.post("/api/pairing/sim/stop", headers=hdr(csrf))).status == 200


async def test_pairing_bad_input(gw, client) -> None:
    csrf = await sign_in(client, code_of(gw))
    for seconds in (0, 5, 601, "x", 1.5, True, [30]):
        resp = await client.post("/api/pairing/sim/start", json={"seconds": seconds}, headers=hdr(csrf))
        assert resp.status == 400, seconds
        assert "seconds" in (await resp.json())["error"]
    resp = await client.post("/api/pairing/sim/start", json={"seconds": None}, headers=hdr(csrf))
    assert resp.status == 200 and (await resp.json())["seconds"] == gw.config.web.pairing_s
    resp = await client.post("/api/pairing/zigbee/start", json={}, headers=hdr(csrf))
    assert resp.status == 404 and "running: sim" in (await resp.json())["error"]
    assert (await client.get("/api/pairing/<script>")).status == 404
    resp = await client.post("/api/pairing/sim/adopt", json={"address": "x", "type": "call_button"}, headers=hdr(csrf))
    assert resp.status == 409 and "join by themselves" in (await resp.json())["error"]


async def test_zigbee_progress_and_ble_candidates_and_adopt(gw, client) -> None:
    csrf = await sign_in(client, code_of(gw))
    attach(gw, FakeZigbee)
    attach(gw, FakeBle)
    transports = {t["name"]: t for t in (await (await client.get("/api/transports")).json())["transports"]}
    assert transports["ble"]["adopt"] and not transports["zigbee"]["adopt"]
    assert (await client.post("/api/pairing/zigbee/start", json={"seconds": 60}, headers=hdr(csrf))).status == 200
    await wait_until(lambda: gw.services.web.pairing["zigbee"].ready == ["zb-00124b0001a2b3c4"])
    state = await (await client.get("/api/pairing/zigbee")).json()
    assert [e["stage"] for e in state["log"]] == ["open", "joined", "interview", "enrolled", "ready"]
    assert 55 <= state["remaining_s"] <= 60

    assert (await client.post("/api/pairing/ble/start", json={}, headers=hdr(csrf))).status == 200
    await wait_until(lambda: len(gw.services.web.pairing["ble"].candidates) == 2)
    state = await (await client.get("/api/pairing/ble")).json()
    assert [c["rssi"] for c in state["candidates"]] == [-48, -71]  # strongest first
    bad = [
        ({"address": "A4:C1:38:33:44:55", "type": "mattress", "bindkey": "xyz"}, 400, "bindkey"),
        ({"address": "A4:C1:38:33:44:55", "type": "toaster"}, 400, "type"),
        ({"address": "", "type": "mattress"}, 400, "address"),
        ({"address": "A4:C1:38:33:44:55", "type": "mattress", "extra": 1}, 400, "extra"),
        ({"address": "nonsense", "type": "mattress", "bindkey": "0" * 32}, 422, "MAC"),
        ({"address": "A4:C1:38:33:44:55", "type": "mattress"}, 422, "bindkey"),
    ]
    for body, status, words in bad:
        resp = await client.post("/api/pairing/ble/adopt", json=body, headers=hdr(csrf))
        assert resp.status == status, body
        assert words in (await resp.json())["error"], body
    key = "0123456789abcdef0123456789ABCDEF"
    resp = await client.post(
        "/api/pairing/ble/adopt",
        json={
            "address": "A4:C1:38:33:44:55",
            "type": "mattress",
            "bindkey": key,
            "name": "床垫",
            "room": "bedroom",
        },
        headers=hdr(csrf),
    )
    dev = (await resp.json())["device"]
    assert resp.status == 200 and dev["id"] == "ble-a4c138334455" and dev["has_secret"]
    assert key.lower() not in json.dumps(dev)  # the bindkey never comes back
    assert gw.registry.get("ble-a4c138334455").secret == key.lower()


async def read_sse(resp: Any, done: Any, within: float = 10.0) -> dict[str, list[dict[str, Any]]]:
    got: dict[str, list[dict[str, Any]]] = {}
    kind = ""

    async def loop() -> None:
        nonlocal kind
        async for raw in resp.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                got.setdefault(kind, []).append(json.loads(line[6:]))
                if done(got):
                    return

    await asyncio.wait_for(loop(), within)
    return got


async def test_live_stream_shows_pairing_events_and_delivery(gw, client) -> None:
    csrf = await sign_in(client, code_of(gw))
    resp = await client.get("/api/live")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    await client.post("/api/pairing/sim/start", json={"seconds": 20}, headers=hdr(csrf))
    await gw.drivers["sim"].inject("btn-2", "press", True, trace="live-1")
    got = await read_sse(
        resp,
        lambda g: (
            {"hello", "event", "delivered"} <= set(g) and any(p["stage"] == "ready" for p in g.get("pairing", []))
        ),
    )
    ev = next(e for e in got["event"] if e["device"] == "btn-2")
    assert ev["kind"] == "alarm.emergency_call" and ev["to_outbox_ms"] >= 0
    assert {"open", "joined", "ready"} <= {p["stage"] for p in got["pairing"]}
    resp.close()
    tests = await (await client.get("/api/tests")).json()
    assert tests["tested"]["btn-2"]["to_broker_ms"] is not None
    assert tests["uplink_verified_at"] is not None


async def test_window_close_ends_live_streams(gw, client) -> None:
    await sign_in(client, code_of(gw))
    resp = await client.get("/api/live")
    await asyncio.sleep(0.1)
    gw.services.web.close_install_window()
    body = await asyncio.wait_for(resp.content.read(), 5)  # stream ends: EOF
    assert b"event: hello" in body


async def test_acceptance_checklist_goes_green_and_reaches_the_platform(gw, client, broker) -> None:
    csrf = await sign_in(client, code_of(gw))
    chk = await (await client.get("/api/acceptance")).json()
    assert chk["county"]["id"] == "youxi" and not chk["passed"]
    assert {i["key"]: i["ok"] for i in chk["items"]} == {
        "gateway": False,
        "voice_video": False,
        "call_buttons": False,
        "bed_or_vitals": False,
    }
    async with Collector(broker.host, broker.port) as col:
        for dev_id, cap, value in (
            ("btn-1", "press", True),
            ("btn-2", "press", True),
            ("cord-1", "press", True),
            ("bed-1", "in_bed", True),
        ):
            await gw.drivers["sim"].inject(dev_id, cap, value)
        chk = await (await client.get("/api/acceptance")).json()
        assert chk["items"][2]["ok"] and chk["items"][3]["ok"] and not chk["all_tested"]
        for dev_id, cap, value in (
            ("door-1", "contact", "open"),
            ("pir-1", "motion", True),
            ("smoke-1", "smoke", True),
            ("gas-1", "gas", True),
            ("leak-1", "leak", True),
        ):
            await gw.drivers["sim"].inject(dev_id, cap, value)
        await wait_until(lambda: gw.services.web.tests.uplink_verified_at is not None)
        for body, words in (
            ({"key": "call_buttons", "note": "x"}, "by hand"),
            ({"key": "nope"}, "by hand"),
            ({"key": "voice_video", "note": "n" * 81}, "note"),
            ({"note": "x"}, "key"),
        ):
            resp = await client.post("/api/acceptance/manual", json=body, headers=hdr(csrf))
            assert resp.status == 400 and words in (await resp.json())["error"], body
        resp = await client.post(
            "/api/acceptance/manual", json={"key": "voice_video", "note": "SN 2024-0042"}, headers=hdr(csrf)
        )
        assert resp.status == 400 and (await resp.json())["code"] == "need_name"  # who confirms it?
        resp = await client.post(
            "/api/acceptance/manual",
            json={"key": "voice_video", "note": "SN 2024-0042", "by": "王师傅"},
            headers=hdr(csrf),
        )
        chk = await resp.json()
        assert chk["items"][1]["confirmed"]["by"] == "王师傅"
        assert chk["passed"], chk
        resp = await client.post("/api/acceptance/submit", json={"technician": "王师傅"}, headers=hdr(csrf))
        sent = await resp.json()
        assert resp.status == 200 and sent["passed"]
        await col.wait_for(lambda c: any(e["kind"] == "install.acceptance" for e in c.events))
        ev = next(e for e in col.events if e["kind"] == "install.acceptance")
        assert ev["id"] == sent["event"] and ev["data"]["passed"] and ev["data"]["county"] == "youxi"
        assert ev["data"]["technician"] == "王师傅" and ev["priority"] == "alert"
        assert {d["id"] for d in ev["data"]["devices"]} >= {"btn-1", "bed-1"}
    report = await client.get("/acceptance/report")
    html = await report.text()
    assert report.status == 200 and "验收通过" in html and "SN 2024-0042" in html
    assert (await client.post("/api/acceptance/submit", json={"technician": "\x07"}, headers=hdr(csrf))).status == 400


async def test_only_a_technicians_action_ticks_a_device_off(gw, client) -> None:
    """Periodic telemetry and online/offline are shown live but leave the checklist red; a press turns it green."""
    await sign_in(client, code_of(gw))
    sim = gw.drivers["sim"]
    await sim.inject("btn-1", "battery", 87)
    await sim.inject("bed-1", "heart_rate", 70)
    await sim.inject("bed-1", "breath_rate", 15)
    await gw.intake.availability("door-1", False, "no signal")
    await gw.intake.availability("door-1", True, "back")
    tests = await (await client.get("/api/tests")).json()
    seen = {(r["device"], r["kind"], r["action"]) for r in tests["log"]}
    assert {("btn-1", "telemetry.battery", False), ("bed-1", "telemetry.vitals", False)} <= seen
    assert {("door-1", "device.offline", False), ("door-1", "device.online", False)} <= seen
    assert tests["tested"] == {}
    chk = await (await client.get("/api/acceptance")).json()
    assert not any(d["tested"] for d in chk["devices"])
    page = await (await client.get("/test")).text()
    assert 'data-device="btn-1"' not in page

    await sim.inject("btn-1", "press", True)
    await sim.inject("bed-1", "in_bed", True)
    tests = await (await client.get("/api/tests")).json()
    assert {k: r["kind"] for k, r in tests["tested"].items()} == {
        "btn-1": "alarm.emergency_call",
        "bed-1": "state.bed",
    }
    await sim.inject("btn-1", "battery", 86)  # later telemetry does not replace the test record
    tests = await (await client.get("/api/tests")).json()
    assert tests["tested"]["btn-1"]["kind"] == "alarm.emergency_call"
    chk = await (await client.get("/api/acceptance")).json()
    assert {d["id"] for d in chk["devices"] if d["tested"]} == {"btn-1", "bed-1"}


async def test_every_endpoint_refuses_garbage_with_4xx(gw, client) -> None:
    """Nothing a browser sends makes the server answer 5xx, and nothing lands outside the state dir."""
    csrf = await sign_in(client, code_of(gw))
    attach(gw, FakeBle)
    endpoints = [
        ("PATCH", "/api/devices/btn-1"),
        ("POST", "/api/pairing/sim/start"),
        ("POST", "/api/pairing/ble/adopt"),
        ("POST", "/api/acceptance/manual"),
        ("POST", "/api/acceptance/submit"),
        ("POST", "/api/window"),
    ]
    junk: list[bytes] = [
        b"",
        b"null",
        b"[]",
        b"0",
        b'"s"',
        b"{",
        b'{"a":1}',
        b"\xff\xfe\x00",
        b'{"seconds":1e999}',
        b'{"name":{"$gt":""}}',
        json.dumps({"address": "../../etc/passwd", "type": "door"}).encode(),
        json.dumps({"key": "../x", "note": "<script>"}).encode(),
        b'{"seconds":-1}',
        json.dumps({"name": "\ud800"}).encode(),
    ]
    before = {p for p in gw.state_dir.rglob("*")}
    for method, path in endpoints:
        for body in junk:
            resp = await client.request(
                method, path, data=body, headers={**hdr(csrf), "Content-Type": "application/json"}
            )
            assert 400 <= resp.status < 500, (method, path, body, resp.status)
    for path in (
        "/static/../settings.py",
        "/static/%2e%2e/settings.py",
        "/static/../../../etc/passwd",
        "/acceptance/report/../../x",
        "/api/pairing/%00/start",
    ):
        resp = await client.get(path)
        assert resp.status in (403, 404, 405), path
    after = {p for p in gw.state_dir.rglob("*") if not p.name.startswith("outbox")}
    assert after - before <= set(), after - before
    assert (await client.get("/api/overview")).status == 200  # still serving
    # gateway-made events are still accepted after all that
    await gw.emit([EventDraft("gateway.test", Priority.STATE, None, {})])


async def test_sign_out_ends_the_sessions_live_stream(gw, client) -> None:
    csrf = await sign_in(client, code_of(gw))
    resp = await client.get("/api/live")
    await asyncio.sleep(0.1)
    assert (await client.post("/logout", data={"_csrf": csrf}, allow_redirects=False)).status == 303
    await gw.drivers["sim"].inject("btn-1", "press", True)  # the next message is not sent: the stream ends
    body = await asyncio.wait_for(resp.content.read(), 5)
    assert b"event: hello" in body and b"event: event" not in body


async def test_technician_makes_a_remotes_press_a_call(gw, client) -> None:
    remote = Device(
        id="zb-00158d0000000001",
        type="remote",
        transport="zigbee",
        name="eWeLink WB01",
        capabilities=["press", "battery"],
        address="00:15:8d:00:00:00:00:01",
        params={"model": "WB01", "press_is_call": False},
    )
    await gw.registry.upsert(remote)
    csrf = await sign_in(client, code_of(gw))
    resp = await client.patch(f"/api/devices/{remote.id}", json={"press_is_call": True}, headers=hdr(csrf))
    assert resp.status == 200, await resp.text()
    assert gw.registry.get(remote.id).params == {"model": "WB01", "press_is_call": True}
    resp = await client.patch("/api/devices/btn-1", json={"press_is_call": True}, headers=hdr(csrf))
    assert resp.status == 400 and "only for a remote" in (await resp.json())["error"]
    assert "press_is_call" not in gw.registry.get("btn-1").params
    page = await (await client.get(f"/devices/{remote.id}")).text()
    assert 'id="dev-press-call"' in page and "按下即呼叫" in page and "checked>" in page
    assert 'id="dev-press-call"' not in await (await client.get("/devices/btn-1")).text()  # not a remote
    # the page's form without script: an unticked box sends nothing, the hidden field says it was shown
    form = {"_csrf": csrf, "name": "eWeLink WB01", "press_is_call_shown": "1"}
    resp = await client.post(f"/devices/{remote.id}", data=form, allow_redirects=False)
    assert resp.status == 303 and gw.registry.get(remote.id).params["press_is_call"] is False
    resp = await client.post(f"/devices/{remote.id}", data={**form, "press_is_call": "1"}, allow_redirects=False)
    assert resp.status == 303 and gw.registry.get(remote.id).params["press_is_call"] is True
    resp = await client.post("/devices/btn-1", data={**form, "press_is_call": "1"}, allow_redirects=False)
    assert resp.status == 303 and "press_is_call" not in gw.registry.get("btn-1").params


async def test_test_mode_button_flags_presses_and_ends(gw, client) -> None:
    """The test page's button turns installation test mode on (a press is flagged ``test``) and off."""
    csrf = await sign_in(client, code_of(gw))
    page = await (await client.get("/test")).text()
    assert 'id="test-mode-on"' in page
    assert (await (await client.get("/api/test-mode")).json()) == {"active": False}
    refused = await client.post("/api/test-mode", json={"minutes": 999}, headers=hdr(csrf))
    assert refused.status == 400
    on = await client.post("/api/test-mode", json={"minutes": 30}, headers=hdr(csrf))
    assert on.status == 200 and (await on.json())["active"] is True
    await gw.drivers["sim"].inject("btn-1", "press", True)
    tests = await (await client.get("/api/tests")).json()
    assert tests["tested"]["btn-1"]["kind"] == "alarm.emergency_call"
    assert gw.services.alarms.book.open["alarm.emergency_call|btn-1"].data["test"] is True
    off = await client.post("/api/test-mode", json={"minutes": 0}, headers=hdr(csrf))
    assert (await off.json()) == {"active": False}
    assert not gw.services.alarms.book.open  # the test alarm was resolved with test mode
    no_csrf = await client.post("/api/test-mode", json={"minutes": 30})
    assert no_csrf.status == 403


async def test_test_marks_survive_window_close_and_restart(tmp_path, broker) -> None:
    """Issue 18 item 1: a window that times out, or a gateway that restarts, loses nothing the technician did."""
    from tests.web.conftest import client_for, running_gateway

    state = tmp_path / "state"
    async with running_gateway(state, broker) as gw, client_for(gw) as c:
        csrf = await sign_in(c, code_of(gw))
        await gw.drivers["sim"].inject("btn-1", "press", True)
        await wait_until(lambda: gw.services.web.tests.uplink_verified_at is not None)
        body = {"key": "voice_video", "note": "SN-9", "by": "王师傅"}
        assert (await c.post("/api/acceptance/manual", json=body, headers=hdr(csrf))).status == 200
        body = {"household": "张秀英", "installer": "王师傅"}
        assert (await c.post("/api/acceptance/info", json=body, headers=hdr(csrf))).status == 200
        gw.services.web.close_install_window()
        gw.services.web.open_install_window()
        csrf = await sign_in(c, code_of(gw))
        chk = await (await c.get("/api/acceptance")).json()
        assert chk["items"][1]["ok"] and "btn-1" in chk["items"][2]["devices"] and chk["uplink"]["ok"]
        code = code_of(gw)
    async with running_gateway(state, broker) as gw, client_for(gw) as c:
        gw.services.web.open_install_window()
        csrf = await sign_in(c, code)
        chk = await (await c.get("/api/acceptance")).json()
        assert chk["items"][1]["confirmed"]["note"] == "SN-9" and "btn-1" in chk["items"][2]["devices"]
        assert chk["household"] == "张秀英" and chk["installer"] == "王师傅"
        chk = await (await c.post("/api/acceptance/reset", json={}, headers=hdr(csrf))).json()
        assert not chk["items"][1]["ok"] and not chk["items"][2]["devices"] and not chk["household"]


async def test_pairing_on_an_unplugged_coordinator_fails_with_a_reason(gw, client) -> None:
    csrf = await sign_in(client, code_of(gw))
    zb = attach(gw, FakeZigbee)
    zb.unplugged = True
    resp = await client.post("/api/pairing/zigbee/start", json={}, headers=hdr(csrf))
    body = await resp.json()
    assert resp.status == 409 and body["code"] == "radio_down" and body["params"]["reason"] == "reason.radio_down"
    state = await (await client.get("/api/pairing/zigbee")).json()
    assert not state["open"] and state["remaining_s"] == 0  # no countdown for a radio that cannot hear anyone
    zb.unplugged = False
    resp = await client.post("/api/pairing/zigbee/start", json={}, headers=hdr(csrf))
    assert resp.status == 200
    await wait_until(lambda: gw.registry.get("zb-00124b0001a2b3c4") is not None)
    state = await (await client.get("/api/pairing/zigbee")).json()
    assert all("detail" not in e for e in state["log"])  # the drivers' English never reaches the page
    await zb.stop()


async def test_report_names_devices_never_ids(gw, client) -> None:
    await sign_in(client, code_of(gw))
    html = await (await client.get("/acceptance/report")).text()
    for raw in ("btn-1", "bed-1", "alarm.", "call_button"):
        assert raw not in html, raw
    assert "未命名的呼叫按钮" in html and "卧室" in html


async def test_device_detail_and_identify(gw, client) -> None:
    csrf = await sign_in(client, code_of(gw))
    await gw.drivers["sim"].inject("btn-1", "press", True)
    detail = await (await client.get("/api/devices/btn-1")).json()
    assert detail["device"]["id"] == "btn-1" and detail["tested"]["kind"] == "alarm.emergency_call"
    assert any(h["kind"] == "alarm.emergency_call" for h in detail["history"])
    assert (await client.get("/api/devices/nope")).status == 404
    resp = await client.post("/api/devices/btn-1/identify", headers=hdr(csrf))
    assert resp.status == 409 and (await resp.json())["code"] == "identify_unsupported"  # the sim cannot blink
    zb = attach(gw, FakeZigbee)
    await zb.start_pairing(30)
    await wait_until(lambda: gw.registry.get("zb-00124b0001a2b3c4") is not None)
    resp = await client.post("/api/devices/zb-00124b0001a2b3c4/identify", headers=hdr(csrf))
    assert resp.status == 200 and zb.identified == ["zb-00124b0001a2b3c4"]
    await zb.stop()
