"""Find the coordinator stick when no port is configured: by USB id and product name, then by asking it.

Several sticks share a USB-serial bridge (a CP2102N is in both the Sonoff ZBDongle-P, a TI CC2652P running Z-Stack,
and the Home Assistant SkyConnect/ZBT-1, a Silicon Labs EFR32 running EZSP), so the USB id alone cannot say which
radio library speaks to it. The product string usually does; when it does not, the radio library's own ``probe``
(connect and ask the firmware) decides.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from serial.tools import list_ports

from drivers.zigbee.radio import app_class

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Stick:
    """A coordinator stick: its USB id, the radio library it needs, and text its USB product string contains."""

    vid: int
    pid: int
    radio: str
    name: str
    product: str = ""  # "": any product string


#: Ordered: entries with a product string first, so they win over a bare USB-id match on the same bridge.
KNOWN_STICKS: tuple[Stick, ...] = (
    Stick(0x10C4, 0xEA60, "ezsp", "Home Assistant SkyConnect / Connect ZBT-1 (EFR32MG21)", "skyconnect"),
    Stick(0x10C4, 0xEA60, "ezsp", "Home Assistant Connect ZBT-1 (EFR32MG21)", "zbt-1"),
    Stick(0x10C4, 0xEA60, "znp", "Sonoff ZBDongle-P (CC2652P)", "sonoff zigbee 3.0 usb dongle plus"),
    Stick(0x10C4, 0xEA60, "znp", "CC2652 on a CP210x bridge (Sonoff ZBDongle-P, SMLIGHT...)"),
    Stick(0x10C4, 0xEA60, "ezsp", "EFR32 on a CP210x bridge (SkyConnect, SMLIGHT...)"),
    Stick(0x1A86, 0x55D4, "ezsp", "Sonoff ZBDongle-E (EFR32MG21 on CH9102)"),
    Stick(0x1A86, 0x7523, "znp", "CC2652 on a CH340 bridge"),
    Stick(0x0451, 0x16A8, "znp", "TI CC2652/CC1352 LaunchPad (XDS110)"),
    Stick(0x0451, 0xBEF3, "znp", "TI CC1352P/CC2652 LaunchPad"),
    Stick(0x1CF1, 0x0030, "deconz", "dresden elektronik ConBee II"),
    Stick(0x0403, 0x6015, "deconz", "dresden elektronik ConBee III", "conbee"),
)


def candidates(vid: int | None, pid: int | None, product: str | None) -> list[Stick]:
    """The sticks a port may be, best first: those whose product string matches, else every one with its USB id."""
    if vid is None or pid is None:
        return []
    text = (product or "").lower()
    same_id = [s for s in KNOWN_STICKS if (s.vid, s.pid) == (vid, pid)]
    named = [s for s in same_id if s.product and s.product in text]
    if named:
        return named[:1]
    return [s for s in same_id if not s.product]


def _ports() -> list[Any]:
    return sorted(list_ports.comports(), key=lambda p: p.device)


async def _probe(radio: str, path: str) -> bool:
    """Ask the radio library whether the firmware on ``path`` speaks its protocol."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            return bool(await app_class(radio).probe({"path": path}))
    except Exception as exc:  # a probe that cannot even open the port is a "no"
        log.info("zigbee: probing %s as %s failed: %s", path, radio, exc)
        return False


async def find_stick_async(radio: str) -> str | None:
    """The device path of the first attached stick that speaks ``radio`` ("znp", "ezsp" or "deconz")."""
    for port in await asyncio.to_thread(_ports):
        found = candidates(port.vid, port.pid, port.product or port.description)
        radios = {s.radio for s in found}
        if radio not in radios:
            continue
        stick = next(s for s in found if s.radio == radio)
        if len(radios) > 1 and not await _probe(radio, str(port.device)):
            continue  # the same bridge chip carries another radio
        log.info("zigbee: found %s at %s", stick.name, port.device)
        return str(port.device)
    return None
