"""Form, resume, backups, pairing of every device kind, against the real zigpy-znp over a pty."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.registry import DeviceRegistry
from sims.znp import ZnpSimulator
from sims.znp.nvram import ZSTACK_DEFAULT_KEY
from tests.drivers.zigbee.conftest import Sink, pair, running, wait_for

pytestmark = pytest.mark.timeout(60)


async def test_forms_with_random_settings_resumes_and_writes_backup(
    sim: ZnpSimulator, make_driver, sink: Sink, tmp_path: Path
) -> None:
    driver = await running(make_driver(sim.path))
    assert driver.app is not None
    info = driver.app.state.network_info
    first = (info.pan_id, info.extended_pan_id, info.network_key.key)
    assert bytes(info.network_key.key) != ZSTACK_DEFAULT_KEY
    assert sim.nv.network_key() == bytes(info.network_key.key)  # the stick really holds that key
    backup = tmp_path / "state" / "zigbee" / "network_backup.json"
    await wait_for(backup.exists, 10, "backup file")
    doc = json.loads(backup.read_text())
    assert doc["pan_id"].lower() == f"{info.pan_id:04x}"
    assert backup.stat().st_mode & 0o077 == 0
    await driver.stop()

    again = await running(make_driver(sim.path))
    assert again.app is not None
    info2 = again.app.state.network_info
    assert (info2.pan_id, info2.extended_pan_id, info2.network_key.key) == first
    assert sink.radios == []  # never lost


async def test_two_gateways_get_different_networks(tmp_path: Path, make_driver) -> None:
    keys = []
    for n in range(2):
        async with ZnpSimulator(link=tmp_path / f"tty{n}", latency_s=0.002) as s:
            drv = make_driver(
                s.path,
            )
            drv.state_dir = tmp_path / f"state{n}"
            await running(drv)
            assert drv.app is not None
            keys.append((drv.app.state.network_info.pan_id, bytes(drv.app.state.network_info.network_key.key)))
            await drv.stop()
    assert keys[0][0] != keys[1][0] or keys[0][1] != keys[1][1]
    assert keys[0][1] != keys[1][1]


@pytest.mark.parametrize(
    ("kind", "dev_type", "capability", "on", "off"),
    [
        ("smoke", "smoke", "smoke", True, False),
        ("gas", "gas", "gas", True, False),
        ("leak", "leak", "leak", True, False),
        ("door", "door", "contact", "open", "closed"),
        ("motion", "motion", "motion", True, False),
        ("button", "call_button", "press", True, None),
        ("occupancy", "motion", "motion", True, False),
    ],
)
async def test_pair_each_kind_then_alarm_and_restore(
    sim: ZnpSimulator, make_driver, sink: Sink, registry: DeviceRegistry, kind, dev_type, capability, on, off
) -> None:
    driver = await running(make_driver(sim.path))
    device_id = await pair(driver, sim, sink, kind)
    stages = sink.stages(device_id)
    assert stages[:4] == ["joined", "interview", "enrolled", "ready"]
    assert sink.stages()[0] == "open"
    dev = registry.get(device_id)
    assert dev is not None and dev.type == dev_type and dev.transport == "zigbee"
    assert capability in dev.capabilities
    simdev = sim.devices[f"{kind}-1"]
    assert dev.address.replace(":", "") == simdev.ieee_hex
    assert dev.params["power_source"] == ("mains" if simdev.spec.mains else "battery")
    assert dev.params["zone_type"] == simdev.spec.zone_type
    if simdev.spec.zone_type is not None:
        assert simdev.enrolled and simdev.cie_written

    name = simdev.name
    sim.alarm(name)
    await wait_for(lambda: on in sink.values(device_id, capability), 10, f"{capability}={on}")
    sim.restore(name)
    if off is None:
        sim.alarm(name)  # a button has no release: a second press is a second reading
        await wait_for(lambda: sink.values(device_id, capability).count(on) == 2, 10, "second press")
    else:
        await wait_for(lambda: sink.values(device_id, capability)[-1:] == [off], 10, f"{capability}={off}")
    reading = next(r for r in sink.readings if r.device == device_id and r.capability == capability)
    assert reading.meta["lqi"] is not None


async def test_replaced_stick_is_restored_from_backup_without_repairing(
    sim: ZnpSimulator, make_driver, sink: Sink
) -> None:
    driver = await running(make_driver(sim.path))
    smoke = await pair(driver, sim, sink, "smoke")
    assert driver.app is not None
    before = driver.app.state.network_info
    await driver.stop()

    sim.wipe()  # a brand-new stick: empty NV, default key
    assert not sim.nv.is_formed()
    again = await running(make_driver(sim.path))
    assert again.app is not None
    after = again.app.state.network_info
    assert (after.pan_id, after.extended_pan_id, after.network_key.key) == (
        before.pan_id,
        before.extended_pan_id,
        before.network_key.key,
    )
    assert after.network_key.tx_counter > before.network_key.tx_counter  # restored with a margin
    sim.alarm("smoke-1")
    await wait_for(lambda: True in sink.values(smoke, "smoke"), 10, "paired detector still reports")
