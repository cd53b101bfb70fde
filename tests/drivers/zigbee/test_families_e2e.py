"""Every supported Zigbee family, paired through a real Gateway on the simulated stick: its alarm reaches the
broker as the right event kind, with a button's index and gesture in the event's data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.app import Gateway
from sims.znp import ZnpSimulator
from sims.znp.devices import families
from tests.drivers.zigbee.conftest import wait_for
from tests.support.broker import Mosquitto
from tests.support.collector import Collector
from tests.support.gateway import make_config

pytestmark = pytest.mark.timeout(240)

#: device type -> the event kind its alarm reaches the platform as
KINDS = {
    "smoke": "alarm.smoke",
    "gas": "alarm.gas",
    "leak": "alarm.leak",
    "door": "state.door",
    "motion": "state.motion",
    "call_button": "alarm.emergency_call",
    "remote": "alarm.emergency_call",
}


async def test_every_family_alarm_reaches_the_broker_as_its_kind(tmp_path: Path, broker: Mosquitto) -> None:
    async with ZnpSimulator(link=tmp_path / "ttyZNP", latency_s=0.002) as sim:
        zigbee = {"enabled": True, "port": sim.path, "reconnect_min_s": 0.2, "availability_check_s": 1.0}
        cfg = make_config(tmp_path / "state", broker.url, drivers={"zigbee": zigbee})
        async with Collector(broker.host, broker.port) as col, Gateway(cfg) as gw:
            driver = gw.drivers["zigbee"]
            await wait_for(lambda: driver.health().state == "up", 30, "zigbee network up")
            await driver.start_pairing(254)
            seen: dict[str, str] = {}
            for family in sorted(f for f in families() if "-" in f):
                dev = sim.join(family)
                device_id = f"zb-{dev.ieee_hex}"
                await wait_for(lambda d=device_id: gw.registry.get(d) is not None, 20, f"{family} paired")  # type: ignore[misc]
                device = gw.registry.get(device_id)
                assert device is not None
                if device.type == "siren":
                    continue  # nothing to raise: it is sounded, see test_families
                if device.type == "remote":
                    await gw.registry.update(device_id, params={**device.params, "press_is_call": True})
                sim.alarm(dev.name)
                kind = KINDS[device.type]

                # a door's "closed" is reported from pairing on: its alarm is the "open"
                want = "open" if device.type == "door" else None

                def arrived(c: Any, d: str = device_id, k: str = kind, v: str | None = want) -> bool:
                    return any(
                        e["kind"] == k and e["device"]["id"] == d and (v is None or e["data"].get("value") == v)
                        for e in c.events
                    )

                await col.wait_for(arrived, 20)
                seen[family] = kind
            assert set(seen) >= {
                "tuya-smoke",
                "tuya-gas",
                "tuya-door",
                "tuya-pir",
                "tuya-sos",
                "tuya-leak-ts0601",
                "tuya-leak-wls100z",
                "tuya-sos-ts0601",
                "tuya-sos-nojsjtj2",
                "aqara-door",
                "aqara-leak",
                "aqara-motion",
                "aqara-button",
                "heiman-sos",
                "ikea-motion",
                "hue-motion",
                "sonoff-button",
            }
            button = next(
                e
                for e in col.events
                if e["kind"] == "alarm.emergency_call"
                and e["data"].get("gesture") == "single"
                and e["data"].get("index") == 1
            )
            assert button["data"]["event"] == "press"
