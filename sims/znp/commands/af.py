"""MT AF: endpoint registration and data requests from the host to the air."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sims.znp.commands.registry import command
from sims.znp.frames import Subsystem
from sims.znp.network import ADDR_NWK
from sims.znp.wire import Reader, u8, u16

if TYPE_CHECKING:
    from sims.znp.simulator import ZnpSimulator

AF = Subsystem.AF
DUPLICATE_ENTRY = 0xB8


def _cluster_list(r: Reader) -> list[int]:
    return [r.u16() for _ in range(r.u8())]


@command(AF, 0x00, "AF_REGISTER")
def register(sim: ZnpSimulator, r: Reader) -> bytes:
    ep, profile, device, version = r.u8(), r.u16(), r.u16(), r.u8()
    r.u8()  # latency
    inputs, outputs = _cluster_list(r), _cluster_list(r)
    if ep in sim.net.endpoints:
        return u8(DUPLICATE_ENTRY)
    desc = u8(ep) + u16(profile) + u16(device) + u8(version)
    desc += u8(len(inputs)) + b"".join(u16(c) for c in inputs) + u8(len(outputs)) + b"".join(u16(c) for c in outputs)
    sim.net.endpoints[ep] = desc
    return u8(0)


@command(AF, 0x01, "AF_DATA_REQUEST")
def data_request(sim: ZnpSimulator, r: Reader) -> bytes:
    dst, dst_ep, src_ep, cluster, tsn = r.u16(), r.u8(), r.u8(), r.u16(), r.u8()
    r.u8()  # options
    r.u8()  # radius
    return u8(sim.net.host_send(ADDR_NWK, dst, dst_ep, src_ep, cluster, tsn, r.short_bytes()))


@command(AF, 0x02, "AF_DATA_REQUEST_EXT")
def data_request_ext(sim: ZnpSimulator, r: Reader) -> bytes:
    mode, raw = r.u8(), r.u64()
    addr = raw if mode == 0x03 else raw & 0xFFFF
    dst_ep = r.u8()
    r.u16()  # destination PAN (inter-PAN not simulated)
    src_ep, cluster, tsn = r.u8(), r.u16(), r.u8()
    r.u8()
    r.u8()
    return u8(sim.net.host_send(mode, addr, dst_ep, src_ep, cluster, tsn, r.long_bytes()))


@command(AF, 0x03, "AF_DATA_REQUEST_SRC_RTG")
def data_request_src_rtg(sim: ZnpSimulator, r: Reader) -> bytes:
    dst, dst_ep, src_ep, cluster, tsn = r.u16(), r.u8(), r.u8(), r.u16(), r.u8()
    r.u8()
    r.u8()
    for _ in range(r.u8()):
        r.u16()  # relays: every simulated device is a direct child
    return u8(sim.net.host_send(ADDR_NWK, dst, dst_ep, src_ep, cluster, tsn, r.short_bytes()))
