"""Find the coordinator stick by USB vendor/product id when no port is configured."""

from __future__ import annotations

import asyncio
import logging

from serial.tools import list_ports

log = logging.getLogger(__name__)

#: (vid, pid) -> (radio library, what it usually is). Ordered by how common they are in the field.
KNOWN_STICKS: dict[tuple[int, int], tuple[str, str]] = {
    (0x10C4, 0xEA60): ("znp", "Sonoff ZBDongle-P / CC2652P on CP210x"),
    (0x0451, 0x16A8): ("znp", "TI CC2652/CC1352 LaunchPad (XDS110)"),
    (0x0451, 0xBEF3): ("znp", "TI CC1352P/CC2652 LaunchPad"),
    (0x1A86, 0x7523): ("znp", "CC2652 on CH340"),
    (0x1A86, 0x55D4): ("ezsp", "Sonoff ZBDongle-E / EFR32MG21 on CH9102"),
    (0x1CF1, 0x0030): ("ezsp", "dresden elektronik / EFR32"),
}


def find_stick(radio: str) -> str | None:
    """The device path of the first attached stick for ``radio`` (blocking: call in a thread)."""
    ports = sorted(list_ports.comports(), key=lambda p: p.device)
    for port in ports:
        if port.vid is None or port.pid is None:
            continue
        known = KNOWN_STICKS.get((port.vid, port.pid))
        if known is not None and known[0] == radio:
            log.info("zigbee: found %s at %s", known[1], port.device)
            return str(port.device)
    return None


async def find_stick_async(radio: str) -> str | None:
    return await asyncio.to_thread(find_stick, radio)
