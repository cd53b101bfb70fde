"""Identify (blink/beep) through the real zigpy-znp to a simulated device, and the cases where it cannot work."""

from __future__ import annotations

import pytest
import zigpy.types as t

from core.devices import Device
from drivers.base import DriverConfigError
from drivers.zigbee.identify import IdentifyError, identify_cluster
from gateway.registry import DeviceRegistry
from sims.znp import ZnpSimulator
from tests.drivers.zigbee.conftest import Sink, pair, running

pytestmark = pytest.mark.timeout(60)


async def test_identify_reaches_the_device_with_its_time(sim: ZnpSimulator, make_driver, sink: Sink) -> None:
    driver = await running(make_driver(sim.path))
    smoke = await pair(driver, sim, sink, "smoke")
    simdev = sim.devices["smoke-1"]
    assert simdev.identify_requests == []
    assert await driver.identify(smoke, 7) is True  # only after the device's default response
    assert simdev.identify_requests == [7]
    assert await driver.identify(smoke) is True  # the platform command gives no time: the driver's default
    assert simdev.identify_requests == [7, 15]

    sim.silence("smoke-1")  # out of range: the frame is never acknowledged
    with pytest.raises(IdentifyError, match="identify failed") as failed:
        await driver.identify(smoke, 5)
    assert isinstance(failed.value, RuntimeError)  # what the command layer reports as "failed"
    assert simdev.identify_requests == [7, 15]
    assert driver.counters["identify_failures"] == 1
    with pytest.raises(ValueError):
        await driver.identify(smoke, 0)  # 0 would mean "stop identifying"


async def test_identify_without_radio_or_for_a_stranger_raises(make_driver, registry: DeviceRegistry, tmp_path) -> None:
    driver = make_driver(str(tmp_path / "no-stick"))
    with pytest.raises(DriverConfigError):
        await driver.identify("zb-0000000000000001")
    await registry.upsert(Device("zb-00124b0000000001", "door", "zigbee", address="00:12:4b:00:00:00:00:01"))
    with pytest.raises(IdentifyError, match="not connected"):
        await driver.identify("zb-00124b0000000001")


async def test_identify_needs_an_identify_server_cluster_and_prefers_the_paired_endpoint(
    sim: ZnpSimulator, make_driver, registry: DeviceRegistry
) -> None:
    driver = await running(make_driver(sim.path))
    assert driver.app is not None
    # A remote that identifies *others* (Identify client only): real zigpy device objects, nothing sent on air.
    ieee = "00:12:4b:00:00:00:00:02"
    remote = driver.app.add_device(t.EUI64.convert(ieee), 0x1234)
    ep = remote.add_endpoint(1)
    ep.add_input_cluster(0x0500)
    ep.add_output_cluster(0x0003)
    await registry.upsert(Device("zb-00124b0000000002", "door", "zigbee", address=ieee, params={"endpoint": 1}))
    assert identify_cluster(remote) is None
    assert await driver.identify("zb-00124b0000000002") is False

    both = driver.app.add_device(t.EUI64.convert("00:12:4b:00:00:00:00:03"), 0x1235)
    first, second = both.add_endpoint(1), both.add_endpoint(2)
    first.add_input_cluster(0x0003)
    second.add_input_cluster(0x0003)
    assert identify_cluster(both) is first.in_clusters[0x0003]
    assert identify_cluster(both, preferred_endpoint=2) is second.in_clusters[0x0003]
