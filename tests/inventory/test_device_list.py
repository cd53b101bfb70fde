"""Device lifecycle on the native protocol: device.* events and the retained device list, on a real broker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiomqtt
import jsonschema

from gateway.app import Gateway
from tests.support.broker import Mosquitto
from tests.support.collector import Collector
from tests.support.gateway import make_config


def retained(col: Collector, topic: str) -> list[bytes]:
    return [payload for t, payload, _ in col.messages if t == topic]


def latest_doc(col: Collector, gw: Gateway) -> dict[str, Any]:
    return json.loads(retained(col, gw.uplink.topics.devices)[-1])


async def test_lifecycle_events_and_retained_list(broker: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", broker.url)
    async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
        topics = gw.uplink.topics
        await col.wait_for(lambda c: bool(retained(c, topics.devices)))
        await col.wait_for(lambda c: c.kinds().count("device.added") == len(gw.registry))
        doc = latest_doc(col, gw)
        schema = json.loads((Path(__file__).parents[2] / "config/schema/devices.schema.json").read_text())
        jsonschema.validate(doc, schema)
        assert doc["gateway"] == gw.id and [d["id"] for d in doc["devices"]] == sorted(d.id for d in gw.registry)
        first = doc["devices"][0]
        assert set(first) >= {"id", "type", "room", "name", "transport", "capabilities", "battery", "availability"}
        assert "secret" not in json.dumps(doc)

        device = next(iter(gw.registry))
        old_name, old_room = device.name, device.room
        await gw.registry.update(device.id, name="床头按钮")
        await gw.registry.update(device.id, room="kitchen")
        await col.wait_for(lambda c: "device.moved" in c.kinds())
        renamed = next(e for e in col.events if e["kind"] == "device.renamed")
        assert renamed["device"]["id"] == device.id and renamed["data"]["name"] == "床头按钮"
        assert renamed["data"]["before"] == {"name": old_name}
        moved = next(e for e in col.events if e["kind"] == "device.moved")
        assert moved["data"]["room"] == "kitchen" and moved["data"]["before"] == {"room": old_room}
        await col.wait_for(
            lambda c: any(d["name"] == "床头按钮" and d["room"] == "kitchen" for d in latest_doc(c, gw)["devices"])
        )

        await gw.drivers["sim"].remove(device.id)
        await col.wait_for(lambda c: "device.removed" in c.kinds())
        await col.wait_for(lambda c: device.id not in [d["id"] for d in latest_doc(c, gw)["devices"]])
        await col.wait_for(lambda c: retained(c, topics.availability(device.id))[-1:] == [b""])


async def test_a_late_subscriber_gets_the_retained_list(broker: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", broker.url)
    async with Gateway(cfg) as gw:
        async with Collector(broker.host, broker.port) as early:
            await early.wait_for(lambda c: bool(retained(c, gw.uplink.topics.devices)))
        got: list[aiomqtt.Message] = []
        async with aiomqtt.Client(broker.host, broker.port) as client:
            await client.subscribe(gw.uplink.topics.devices, qos=1)
            async for message in client.messages:
                got.append(message)
                break
        assert got and got[0].retain
        doc = json.loads(bytes(got[0].payload))  # type: ignore[arg-type]
        assert len(doc["devices"]) == len(gw.registry)
        one = next(iter(gw.registry))
        async with aiomqtt.Client(broker.host, broker.port) as client:
            await client.subscribe(gw.uplink.topics.availability(one.id), qos=1)
            async for message in client.messages:
                assert message.retain and bytes(message.payload) in (b"online", b"offline", b"unknown")  # type: ignore[arg-type]
                break


async def test_a_restart_repeats_nothing_and_reports_what_changed_while_stopped(
    broker: Mosquitto, tmp_path: Path
) -> None:
    cfg = make_config(tmp_path / "state", broker.url)
    registry = tmp_path / "state" / "devices.json"
    zigbee = {"id": "zb-00124b0001a2b3c4", "type": "smoke", "transport": "zigbee", "room": "kitchen"}

    def edit(add: bool) -> None:  # what a technician's tool might do to the file while the gateway is stopped
        doc = json.loads(registry.read_text())
        rows = {k: v for k, v in doc["devices"].items() if v["id"] != zigbee["id"]}
        if add:
            rows["999"] = {**zigbee, "name": "", "capabilities": ["smoke"], "address": "00:12:4b:00:01:a2:b3:c4"}
        doc["devices"] = rows
        registry.write_text(json.dumps(doc))

    def about(c: Collector, kind: str) -> list[str]:
        return [e["device"]["id"] for e in c.events if e["kind"] == kind]

    async with Collector(broker.host, broker.port) as col:
        async with Gateway(cfg) as gw:
            n = len(gw.registry)
            await col.wait_for(lambda c: c.kinds().count("device.added") == n)
        edit(add=True)
        async with Gateway(cfg):
            await col.wait_for(lambda c: zigbee["id"] in about(c, "device.added"))
        edit(add=False)
        async with Gateway(cfg):
            await col.wait_for(lambda c: "device.removed" in c.kinds())
        assert col.kinds().count("device.added") == n + 1  # nothing repeated across three starts
        assert about(col, "device.removed") == [zigbee["id"]]
