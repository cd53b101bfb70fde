"""A Z-Stack ZNP coordinator simulator, written from TI's Monitor and Test (MT) API, on a pseudo-terminal.

Run standalone with ``python -m sims.znp`` (see :mod:`.__main__` and
``drivers/zigbee/README.md``) or in-process::

    async with ZnpSimulator(link=tmp / "ttyZNP") as sim:
        ...  # point zigpy-znp at sim.path
        sim.join("smoke"); sim.alarm("smoke-1")
"""

from sims.znp.devices import KINDS, SimDevice
from sims.znp.network import SimError
from sims.znp.simulator import STATUS_BITS, ZnpSimulator

__all__ = ["KINDS", "STATUS_BITS", "SimDevice", "SimError", "ZnpSimulator"]
