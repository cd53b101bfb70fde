"""The simulated Zigbee network around the coordinator: formation, permit-join, joins, leaves, routing.

Everything the radio would carry between the coordinator's host and the end devices goes through here: AF
data requests from the host are delivered to a device (with a data confirm), and what devices say comes back
as ``AF_INCOMING_MSG`` (ZCL) or ``ZDO_MSG_CB_INCOMING`` (ZDO) callbacks.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import random
import time
from collections.abc import Callable
from typing import Any

from sims.znp import nvram
from sims.znp.descriptor import Descriptor
from sims.znp.devices import SimDevice, families
from sims.znp.frames import Subsystem
from sims.znp.wire import Reader, channels_of, short_bytes, u8, u16, u32, u64

log = logging.getLogger(__name__)

ADDR_GROUP, ADDR_NWK, ADDR_IEEE, ADDR_BROADCAST = 0x01, 0x02, 0x03, 0x0F

# MT status codes used on the air side.
SUCCESS = 0x00
MAC_NO_ACK = 0xE9
NWK_INVALID_REQUEST = 0xC2

# AREQ command ids.
AF_DATA_CONFIRM, AF_INCOMING_MSG = 0x80, 0x81
ZDO_STATE_CHANGE_IND, ZDO_END_DEVICE_ANNCE_IND, ZDO_LEAVE_IND, ZDO_TC_DEV_IND = 0xC0, 0xC1, 0xC9, 0xCA
ZDO_MSG_CB_INCOMING, ZDO_MGMT_PERMIT_JOIN_RSP = 0xFF, 0xB6

DEV_STARTING_AS_COORD, DEV_STARTED_AS_COORD = 0x08, 0x09

Send = Callable[[int, int, bytes], None]


class SimError(Exception):
    """A simulator action that cannot be done now (permit closed, unknown device...)."""


class Network:
    """Coordinator-side network state; ``send(subsystem, cmd_id, data)`` emits an AREQ to the host."""

    def __init__(self, nv: nvram.NvStore, send: Send, latency_s: float = 0.005) -> None:
        self.nv = nv
        self.send = send
        self.latency_s = latency_s
        self.devices: dict[str, SimDevice] = {}
        self.started = False
        self.permit_until = 0.0
        self.endpoints: dict[int, bytes] = {}  # endpoint -> simple descriptor registered by the host
        self.primary_channels = 0
        self.counter: dict[str, int] = {}
        self._names: dict[str, int] = {}

    # -- helpers ----------------------------------------------------------------------------------
    def later(self, fn: Callable[[], None], delay: float | None = None) -> None:
        asyncio.get_running_loop().call_later(self.latency_s if delay is None else delay, fn)

    def count(self, what: str) -> None:
        self.counter[what] = self.counter.get(what, 0) + 1

    @property
    def permit_open(self) -> bool:
        return self.started and time.monotonic() < self.permit_until

    def find(self, ref: str) -> SimDevice:
        """A device by name, IEEE (hex, any separators) or NWK (0x....)."""
        if ref in self.devices:
            return self.devices[ref]
        flat = ref.replace(":", "").replace("-", "").lower()
        for dev in self.devices.values():
            if dev.ieee_hex == flat or (flat.startswith("0x") and int(flat, 16) == dev.nwk):
                return dev
        raise SimError(f"no such device: {ref}")

    def by_address(self, mode: int, addr: int) -> SimDevice | None:
        for dev in self.devices.values():
            if (mode == ADDR_IEEE and dev.ieee == addr) or (mode == ADDR_NWK and dev.nwk == addr):
                return dev
        return None

    def reset(self) -> None:
        """Soft reset of the stick: the network stops, host registrations are forgotten."""
        self.started = False
        self.permit_until = 0.0
        self.endpoints.clear()

    # -- formation / start ------------------------------------------------------------------------
    def commission(self) -> None:
        """BDB commissioning as a coordinator: form a network if NV holds none, else resume it."""
        if self.nv.is_formed():
            self.later(lambda: self._started(formed_now=False))
            return
        self.send(Subsystem.ZDO, ZDO_STATE_CHANGE_IND, u8(DEV_STARTING_AS_COORD))
        self.send(Subsystem.APP_CNF, 0x80, bytes([0x01, 0x04, 0x04]))  # in progress, formation, formation left
        self._form()
        self.later(lambda: self._started(formed_now=True), 0.02)

    def _form(self) -> None:
        nv = self.nv
        mask = self.primary_channels or int.from_bytes(nv.osal(nvram.CHANLIST) or b"\x00\x08\x00\x00", "little")
        channels = channels_of(mask) or [11]
        pan = int.from_bytes(nv.osal(nvram.PANID) or b"\xff\xff", "little")
        if pan in (0xFFFF, 0xFFFE, 0):
            pan = random.randint(0x0001, 0xFFF0)
        ext = nv.osal(nvram.APS_USE_EXT_PANID) or bytes(8)
        if ext == bytes(8):
            ext = u64(nv.coordinator_ieee())
        key = nv.osal(nvram.PRECFGKEY) or os.urandom(16)
        nib = nv.nib()
        nib.update(
            nwkLogicalChannel=channels[0],
            nwkPanId=pan,
            extendedPANID=ext,
            nwkKeyLoaded=1,
            nwkDevAddress=0,
            nwkState=8,
            channelList=mask,
            nwkCoordAddress=0,
        )
        nv.set_nib(nib)
        nv.set_osal(nvram.NWK_ACTIVE_KEY_INFO, b"\x00" + key)
        nv.set_osal(nvram.EXTENDED_PAN_ID, ext)
        nv.set_osal(nvram.BDBNODEISONANETWORK, b"\x01")
        nv.items[(nvram.SYS_ZSTACK, nvram.NWK_SEC_MATERIAL_TABLE, 0)] = u32(0) + ext
        log.info("znp_sim: formed network pan=0x%04x channel=%d", pan, channels[0])

    def _started(self, *, formed_now: bool) -> None:
        self.started = True
        self.send(Subsystem.ZDO, ZDO_STATE_CHANGE_IND, u8(DEV_STARTED_AS_COORD))
        status = 0x00 if formed_now else 0x08  # success / "formation failure" = network already there
        self.send(Subsystem.APP_CNF, 0x80, bytes([status, 0x04, 0x00]))

    def permit(self, seconds: int) -> None:
        self.permit_until = time.monotonic() + (10**9 if seconds == 0xFF else seconds)
        log.info("znp_sim: permit join %ss", seconds)

    # -- host -> air ------------------------------------------------------------------------------
    def host_send(self, mode: int, addr: int, dst_ep: int, src_ep: int, cluster: int, tsn: int, data: bytes) -> int:
        """An AF data request from the host. Returns the SRSP status; confirms and replies follow."""
        if not self.started:
            return NWK_INVALID_REQUEST
        if dst_ep == 0:
            self._host_zdo(mode, addr, cluster, data)
            return SUCCESS
        if mode in (ADDR_BROADCAST, ADDR_GROUP):
            return SUCCESS
        dev = self.by_address(mode, addr)
        if dev is None or dev.silent:
            self.later(lambda: self.send(Subsystem.AF, AF_DATA_CONFIRM, bytes([MAC_NO_ACK, src_ep, tsn])))
            return SUCCESS
        self.later(lambda: self.send(Subsystem.AF, AF_DATA_CONFIRM, bytes([SUCCESS, src_ep, tsn])))

        def deliver() -> None:
            if cluster in dev.ignored_clusters:
                self.count("zcl_ignored")
                return
            try:
                replies = dev.handle_zcl(cluster, data)
            except (ValueError, KeyError) as exc:
                self.count("zcl_bad_from_host")
                log.warning("znp_sim: %s could not parse ZCL from host: %s", dev.name, exc)
                return
            for reply in replies:
                self.device_zcl(dev, cluster, reply, dst_ep=src_ep, src_ep=dst_ep)
            self._after_zcl(dev)

        self.later(deliver, self.latency_s * 2)
        return SUCCESS

    def _after_zcl(self, dev: SimDevice) -> None:
        # A zone device asks to be enrolled as soon as it learns its CIE address (as Heiman sensors do).
        if dev.enroll_pending:
            dev.enroll_pending = False
            self.later(lambda: self.device_zcl(dev, *dev.enroll_request()), 0.02)

    def _host_zdo(self, mode: int, addr: int, cluster: int, data: bytes) -> None:
        if not data:
            self.count("zdo_bad_from_host")
            return
        tsn, payload = data[0], data[1:]
        to_coord = (
            mode == ADDR_BROADCAST
            or (mode == ADDR_NWK and addr == 0)
            or (mode == ADDR_IEEE and addr == self.nv.coordinator_ieee())
        )
        if to_coord and cluster == 0x0036 and payload:
            self.permit(payload[0])  # at once, so permit requests keep their order
        if to_coord:
            self.later(lambda: self._coordinator_zdo(cluster, tsn, payload, broadcast=mode == ADDR_BROADCAST))
        if mode == ADDR_BROADCAST:
            if cluster == 0x0000:  # NWK_addr_req by IEEE: the owner answers
                owners = [d for d in self.devices.values() if payload[:8] == u64(d.ieee) and self._answers_zdo(d)]
                for owner in owners:
                    self.later(functools.partial(self._device_zdo, owner, cluster, tsn, payload))
            return
        target = self.by_address(mode, addr)
        if target is not None and self._answers_zdo(target):
            self.later(lambda: self._device_zdo(target, cluster, tsn, payload), self.latency_s * 2)

    @staticmethod
    def _answers_zdo(dev: SimDevice) -> bool:
        return not dev.silent and dev.answers_zdo

    def _device_zdo(self, dev: SimDevice, cluster: int, tsn: int, payload: bytes) -> None:
        try:
            rsp, leaves = dev.handle_zdo(cluster, payload)
        except ValueError:
            self.count("zdo_bad_from_host")
            return
        if rsp is not None:
            self.zdo_to_host(dev.nwk, cluster | 0x8000, tsn, rsp)
        if leaves:
            self.later(lambda: self._leave_quietly(dev.name), 0.02)

    def _leave_quietly(self, name: str) -> None:
        if name in self.devices:
            self.leave(name)

    def _coordinator_zdo(self, cluster: int, tsn: int, payload: bytes, *, broadcast: bool) -> None:
        r = Reader(payload)
        rsp: bytes | None = None
        if cluster == 0x0002:
            desc = bytes([0x00, 0x40, 0x8F]) + u16(0x0000) + u8(0x50) + u16(0x00A0) + u16(0x2C01) + u16(0x00A0) + u8(0)
            rsp = u8(0) + u16(0) + desc
        elif cluster == 0x0005:
            eps = sorted(self.endpoints)
            rsp = u8(0) + u16(0) + u8(len(eps)) + bytes(eps)
        elif cluster == 0x0004:
            r.u16()
            found = self.endpoints.get(r.u8())
            rsp = u8(0) + u16(0) + u8(len(found)) + found if found else u8(0x82) + u16(0) + u8(0)
        elif cluster == 0x0001:
            rsp = u8(0) + u64(self.nv.coordinator_ieee()) + u16(0)
        elif cluster == 0x0036:
            rsp = None if broadcast else u8(0)
        elif cluster == 0x0038:
            rsp = self._energy_scan(r)
        elif cluster == 0x0031:
            rsp = u8(0) + u8(0) + u8(0) + u8(0)
        elif cluster in (0x0000, 0x0013) or cluster & 0x8000:
            rsp = None
        else:
            rsp = u8(0x84)
        if rsp is not None:
            self.zdo_to_host(0x0000, cluster | 0x8000, tsn, rsp)

    def _energy_scan(self, r: Reader) -> bytes | None:
        mask, duration = r.u32(), r.u8()
        if duration > 5:  # channel change or manager update, no scan
            return None
        channels = channels_of(mask)
        energies = bytes(random.randint(5, 60) for _ in channels)
        return u8(0) + u32(mask) + u16(len(channels) * 20) + u16(0) + u8(len(energies)) + energies

    # -- air -> host ------------------------------------------------------------------------------
    def zdo_to_host(self, src: int, cluster: int, tsn: int, payload: bytes, *, broadcast: bool = False) -> None:
        data = u16(src) + u8(1 if broadcast else 0) + u16(cluster) + u8(0) + u8(tsn) + u16(0xFFFF if broadcast else 0)
        self.send(Subsystem.ZDO, ZDO_MSG_CB_INCOMING, data + payload)

    def device_zcl(
        self, dev: SimDevice, cluster: int, data: bytes, *, dst_ep: int = 1, src_ep: int | None = None
    ) -> None:
        """A device sends a ZCL frame to the coordinator (dropped while the device is silent)."""
        if dev.silent or not self.started:
            return
        lqi = random.randint(150, 230)
        msg = (
            u16(0)
            + u16(cluster)
            + u16(dev.nwk)
            + u8(src_ep if src_ep is not None else dev.spec.endpoint_of(cluster))
            + u8(dst_ep or 1)
            + u8(0)
            + u8(lqi)
            + u8(0)
            + u32(int(time.monotonic() * 1000))
            + u8(dev.next_tsn())
            + short_bytes(data)
            + u16(dev.nwk)
            + u8(0)
        )
        self.send(Subsystem.AF, AF_INCOMING_MSG, msg)

    # -- device life ------------------------------------------------------------------------------
    def join(
        self, kind: str, name: str | None = None, ieee: int | None = None, desc: Descriptor | None = None
    ) -> SimDevice:
        if desc is None:
            known = families()
            if kind not in known:
                raise SimError(f"unknown kind {kind!r}; kinds: {', '.join(known)}")
            desc = known[kind]
        if not self.started:
            raise SimError("coordinator network is not running")
        if not self.permit_open:
            raise SimError("permit join is closed")
        if name is None:
            self._names[kind] = self._names.get(kind, 0) + 1
            name = f"{kind}-{self._names[kind]}"
            while name in self.devices:
                self._names[kind] += 1
                name = f"{kind}-{self._names[kind]}"
        if ieee is None:
            ieee = desc.ieee if desc.ieee is not None else 0x000D6F0000000000 | random.getrandbits(40)
        if any(d.ieee == ieee for d in self.devices.values()):
            raise SimError(f"a device with IEEE {ieee:016x} is already on the network")
        used = {d.nwk for d in self.devices.values()}
        nwk = desc.nwk if desc.nwk is not None and desc.nwk not in used else random.randint(0x0001, 0xFFF7)
        while nwk in used:
            nwk = random.randint(0x0001, 0xFFF7)
        dev = SimDevice(name, kind, ieee, nwk, desc=desc)
        self.devices[name] = dev
        self.nv.add_child(ieee, nwk)
        self.send(Subsystem.ZDO, ZDO_TC_DEV_IND, u16(nwk) + u64(ieee) + u16(0))
        self.later(lambda: self.announce(dev), 0.05)
        log.info("znp_sim: %s (%s) joined as 0x%04x", name, dev.ieee_hex, nwk)
        return dev

    def announce(self, dev: SimDevice) -> None:
        if not self.started or dev.silent:
            return
        self.send(
            Subsystem.ZDO,
            ZDO_END_DEVICE_ANNCE_IND,
            u16(dev.nwk) + u16(dev.nwk) + u64(dev.ieee) + u8(dev.mac_capabilities),
        )
        self.zdo_to_host(
            dev.nwk,
            0x0013,
            dev.next_tsn(),
            u16(dev.nwk) + u64(dev.ieee) + u8(dev.mac_capabilities),
            broadcast=True,
        )

    def leave(self, ref: str) -> SimDevice:
        dev = self.find(ref)
        del self.devices[dev.name]
        self.nv.remove_child(dev.ieee)
        if self.started:
            self.send(Subsystem.ZDO, ZDO_LEAVE_IND, u16(dev.nwk) + u64(dev.ieee) + bytes([0, 0, 0]))
        log.info("znp_sim: %s left", dev.name)
        return dev

    def dump(self) -> list[dict[str, Any]]:
        return [d.dump() for d in self.devices.values()]
