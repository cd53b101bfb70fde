"""MT UTIL: the few utility commands a host uses at start-up (struct alignment probe, LEDs)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sims.znp import nvram
from sims.znp.commands.registry import command
from sims.znp.frames import Subsystem
from sims.znp.wire import Reader, u8, u16

if TYPE_CHECKING:
    from sims.znp.simulator import ZnpSimulator

UTIL = Subsystem.UTIL


@command(UTIL, 0x49, "UTIL_ASSOC_FIND_DEVICE")
def assoc_find_device(sim: ZnpSimulator, r: Reader) -> bytes:
    r.u8()
    # associated_devices_t copied raw from RAM: an unused slot, padded as the ARM compiler lays it out.
    return (u16(0xFFFE) + u16(0xFFFF) + u8(0xFF)).ljust(nvram.ASSOC_DEVICE_SIZE, b"\x00")


@command(UTIL, 0x0A, "UTIL_LED_CONTROL")
def led_control(sim: ZnpSimulator, r: Reader) -> bytes:
    r.u8()
    r.u8()
    return u8(0)
