"""The simulated ZNP coordinator: a pty speaking MT, an NV store, a network of simulated devices.

Layers, bottom up: :mod:`.port` (pty) -> :mod:`.frames` (MT framing) -> :mod:`.commands` (one handler per
MT command) -> :mod:`.network` / :mod:`.devices` (the simulated air and end devices). This class wires them
together and offers the actions a test, the demo or the HIL rig performs on the simulated world.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sims.znp import devices as d
from sims.znp import stimuli
from sims.znp.commands import TABLE
from sims.znp.commands.sys import VERSION
from sims.znp.descriptor import Descriptor
from sims.znp.devices import SimDevice
from sims.znp.frames import CmdType, Frame, FrameReader, Subsystem
from sims.znp.network import Network, SimError
from sims.znp.nvram import NvStore
from sims.znp.port import PtyPort
from sims.znp.wire import Reader, Truncated, u8

log = logging.getLogger(__name__)

RPC_INVALID_COMMAND_ID, RPC_INVALID_PARAMETER, RPC_INVALID_LENGTH = 0x02, 0x03, 0x04
RESET_REASON_POWER_UP, RESET_REASON_EXTERNAL = 0x00, 0x01

#: Zone status bits a test or operator can set by name.
STATUS_BITS = {
    "alarm": d.ALARM1,
    "alarm2": d.ALARM2,
    "tamper": d.TAMPER,
    "battery_low": d.BATTERY_LOW,
    "trouble": d.TROUBLE,
    "mains_fault": d.AC_MAINS,
}


class ZnpSimulator:
    """A CC2652-class Z-Stack 3.30 coordinator on a pseudo-terminal.

    ``link`` is an optional stable symlink to the pty (survives unplug/replug); ``state_file`` keeps NV and
    joined devices across simulator restarts; ``latency_s`` is the simulated air time per hop.
    """

    def __init__(
        self,
        *,
        link: Path | None = None,
        ieee: int | None = None,
        state_file: Path | None = None,
        latency_s: float = 0.005,
    ) -> None:
        self.state_file = state_file
        self.nv = NvStore(ieee if ieee is not None else 0x00124B0000000000 | random.getrandbits(32))
        self.net = Network(self.nv, self.areq, latency_s)
        self.reader = FrameReader()
        self.port = PtyPort(self._on_bytes, link)
        self.counters: dict[str, int] = {
            "frames_in": 0,
            "frames_out": 0,
            "unknown_commands": 0,
            "bad_payloads": 0,
        }
        self._after: list[Callable[[], None]] = []
        self._load()

    # -- life cycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        self.port.open()

    async def stop(self) -> None:
        self.port.close()
        self.net.reset()
        self.save()

    async def __aenter__(self) -> ZnpSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def path(self) -> str:
        """What the host should open as its serial port."""
        return self.port.path

    def unplug(self) -> None:
        """The stick is pulled out: the host's port dies, the network stops (NV is kept, as in flash)."""
        self.port.close()
        self.net.reset()
        self.reader = FrameReader()
        self.save()

    def replug(self) -> None:
        """The stick is plugged back in (new pty, same symlink); the host must start it again."""
        self.port.open()

    def wipe(self) -> None:
        """Erase NV (a brand-new or replaced stick); joined devices are kept as if still powered nearby."""
        self.nv.factory_reset()
        self.net.reset()

    # -- MT dispatch ------------------------------------------------------------------------------
    def _on_bytes(self, chunk: bytes) -> None:
        for frame in self.reader.feed(chunk):
            self.counters["frames_in"] += 1
            self._dispatch(frame)

    def _dispatch(self, frame: Frame) -> None:
        if frame.type not in (CmdType.SREQ, CmdType.AREQ):
            self.counters["bad_payloads"] += 1
            return
        entry = TABLE.get((frame.subsystem, frame.cmd_id))
        if entry is None:
            self.counters["unknown_commands"] += 1
            log.debug("znp_sim: unknown command %02x/%02x", frame.subsystem, frame.cmd_id)
            if frame.type == CmdType.SREQ:
                self._rpc_error(frame, RPC_INVALID_COMMAND_ID)
            return
        name, handler = entry
        try:
            rsp = handler(self, Reader(frame.data))
        except (Truncated, ValueError) as exc:
            self.counters["bad_payloads"] += 1
            log.warning("znp_sim: bad %s payload: %s", name, exc)
            self._after.clear()
            if frame.type == CmdType.SREQ:
                self._rpc_error(frame, RPC_INVALID_LENGTH)
            return
        if frame.type == CmdType.SREQ:
            self._write(Frame(CmdType.SRSP, frame.subsystem, frame.cmd_id, rsp or b""))
        after, self._after = self._after, []
        loop = asyncio.get_running_loop()
        for fn in after:
            loop.call_soon(fn)

    def _rpc_error(self, frame: Frame, code: int) -> None:
        self._write(Frame(CmdType.SRSP, Subsystem.RPC_ERROR, 0x00, bytes([code, frame.cmd0, frame.cmd_id])))

    def _write(self, frame: Frame) -> None:
        self.counters["frames_out"] += 1
        self.port.write(frame.encode())

    def areq(self, subsystem: int, cmd_id: int, data: bytes) -> None:
        """Send an asynchronous callback to the host."""
        self._write(Frame(CmdType.AREQ, subsystem, cmd_id, data))

    def after_reply(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once the current command's synchronous response is on the wire."""
        self._after.append(fn)

    def reboot(self) -> None:
        """Soft reset: apply the NV startup option, stop the network, announce the reset."""
        self.nv.apply_startup_option()
        self.net.reset()
        self.net.later(lambda: self.areq(Subsystem.SYS, 0x80, u8(RESET_REASON_EXTERNAL) + VERSION), 0.01)

    def inject_garbage(self, data: bytes | None = None, size: int = 64) -> bytes:
        """Put noise on the serial line (a bad cable, a crashing stick)."""
        noise = data if data is not None else os.urandom(size)
        self.port.write(noise)
        return noise

    # -- the simulated world ----------------------------------------------------------------------
    @property
    def devices(self) -> dict[str, SimDevice]:
        return self.net.devices

    @property
    def permit_open(self) -> bool:
        return self.net.permit_open

    @property
    def running(self) -> bool:
        return self.net.started

    def device(self, ref: str) -> SimDevice:
        return self.net.find(ref)

    def join(
        self, kind: str, name: str | None = None, ieee: int | None = None, desc: Descriptor | None = None
    ) -> SimDevice:
        """A device joins: a built-in kind or shipped family by name, or any ``desc`` (a :class:`Descriptor`)."""
        dev = self.net.join(desc.family if desc is not None else kind, name, ieee, desc)
        self.save()
        return dev

    def join_file(self, path: Path, name: str | None = None) -> SimDevice:
        """A device described by a descriptor JSON file joins."""
        return self.join("", name, desc=Descriptor.load(path))

    def send(self, ref: str, frame: dict[str, Any], percent: int | None = None) -> SimDevice:
        """The device sends one FRAME (see :mod:`.descriptor`): any ZCL frame, a Tuya data point, an IAS ACE
        command, a zone status change, a Xiaomi 0xFF01 report..."""
        dev = self.net.find(ref)
        for out in stimuli.build(dev, frame, percent):
            self.net.device_zcl(dev, out.cluster, out.data, src_ep=out.endpoint)
        return dev

    def act(self, ref: str, action: str, percent: int | None = None) -> SimDevice:
        """Run one of the descriptor's scripted actions (alarm, restore, battery, press, press_double...)."""
        dev = self.net.find(ref)
        frames = dev.spec.actions.get(action)
        if frames is None:
            have = ", ".join(dev.spec.actions) or "none"
            raise SimError(f"{dev.name} ({dev.spec.family}) has no action {action!r} (it has: {have})")
        for frame in frames:
            self.send(ref, frame, percent)
        return dev

    def leave(self, ref: str) -> SimDevice:
        dev = self.net.leave(ref)
        self.save()
        return dev

    def set_status(self, ref: str, bit: str, on: bool) -> SimDevice:
        """Set or clear one IAS zone status bit and send a zone status change notification."""
        dev = self.net.find(ref)
        if dev.spec.zone_type is None:
            raise SimError(f"{dev.name} is not an IAS zone device")
        if on:
            dev.zone_status |= STATUS_BITS[bit]
        else:
            dev.zone_status &= ~STATUS_BITS[bit]
        if not dev.enrolled:
            log.warning("znp_sim: %s is not enrolled; a real sensor would not report", dev.name)
            return dev
        self.net.device_zcl(dev, *dev.zone_status_notification())
        return dev

    def alarm(self, ref: str, on: bool = True) -> SimDevice:
        """The sensor's main alarm (smoke, gas, water, door open, motion, SOS pressed) or its restore."""
        dev = self.net.find(ref)
        action = "alarm" if on else "restore"
        if action in dev.spec.actions:
            return self.act(ref, action)
        if dev.spec.zone_type is None:
            dev.attrs[(d.OCCUPANCY, 0x0000)] = (0x18, 1 if on else 0)
            self.net.device_zcl(dev, *dev.attribute_report(d.OCCUPANCY, 0x0000))
            return dev
        return self.set_status(ref, "alarm", on)

    def restore(self, ref: str) -> SimDevice:
        return self.alarm(ref, False)

    def battery(self, ref: str, percent: int) -> SimDevice:
        dev = self.net.find(ref)
        if "battery" in dev.spec.actions:
            return self.act(ref, "battery", max(0, min(100, percent)))
        if (d.POWER_CFG, 0x0021) not in dev.attrs:
            raise SimError(f"{dev.name} has no battery")
        self.net.device_zcl(dev, *dev.set_battery(percent))
        return dev

    def enroll_request(self, ref: str) -> SimDevice:
        """The device asks to be enrolled (sensors do after a power cycle)."""
        dev = self.net.find(ref)
        self.net.device_zcl(dev, *dev.enroll_request())
        return dev

    def silence(self, ref: str, silent: bool = True) -> SimDevice:
        """A device out of range or out of battery: it neither answers nor reports."""
        dev = self.net.find(ref)
        dev.silent = silent
        if not silent:
            self.net.announce(dev)
        return dev

    def bad_frame(self, ref: str) -> SimDevice:
        """A device sends a truncated IAS zone notification (malformed ZCL)."""
        dev = self.net.find(ref)
        self.net.device_zcl(dev, d.IAS_ZONE, bytes([0x19, dev.next_tsn(), 0x00, 0x01]))
        return dev

    # -- persistence ------------------------------------------------------------------------------
    def save(self) -> None:
        if self.state_file is None:
            return
        doc = {"nv": self.nv.dump(), "devices": self.net.dump()}
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc))
        tmp.replace(self.state_file)

    def _load(self) -> None:
        if self.state_file is None or not self.state_file.exists():
            return
        doc: dict[str, Any] = json.loads(self.state_file.read_text())
        self.nv = NvStore.load(doc["nv"])
        self.net = Network(self.nv, self.areq, self.net.latency_s)
        for raw in doc.get("devices", []):
            dev = SimDevice.load(raw)
            self.net.devices[dev.name] = dev
