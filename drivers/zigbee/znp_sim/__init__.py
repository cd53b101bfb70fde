"""A Z-Stack ZNP coordinator simulator, written from TI's Monitor and Test (MT) API, on a pseudo-terminal.

Run standalone with ``python -m drivers.zigbee.znp_sim`` (see :mod:`.__main__` and
``drivers/zigbee/README.md``) or in-process::

    async with ZnpSimulator(link=tmp / "ttyZNP") as sim:
        ...  # point zigpy-znp at sim.path
        sim.join("smoke"); sim.alarm("smoke-1")
"""

from drivers.zigbee.znp_sim.devices import KINDS, SimDevice
from drivers.zigbee.znp_sim.network import SimError
from drivers.zigbee.znp_sim.simulator import STATUS_BITS, ZnpSimulator

__all__ = ["KINDS", "STATUS_BITS", "SimDevice", "SimError", "ZnpSimulator"]
