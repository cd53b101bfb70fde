"""MT ZDO: permit join, ZDO callback registration, route checks and leave requests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sims.znp.commands.registry import command
from sims.znp.frames import Subsystem
from sims.znp.network import ADDR_BROADCAST, ZDO_MGMT_PERMIT_JOIN_RSP, SimError
from sims.znp.wire import Reader, u8, u16

if TYPE_CHECKING:
    from sims.znp.simulator import ZnpSimulator

ZDO = Subsystem.ZDO
ROUTE_SUCCESS, ROUTE_FAILURE = 0x00, 0x01


@command(ZDO, 0x36, "ZDO_MGMT_PERMIT_JOIN_REQ")
def mgmt_permit_join(sim: ZnpSimulator, r: Reader) -> bytes:
    mode, dst, duration = r.u8(), r.u16(), r.u8()
    r.u8()
    if not sim.net.started:
        return u8(0xC2)
    if mode == ADDR_BROADCAST or dst == 0x0000:
        sim.net.permit(duration)
    src = 0x0000 if mode == ADDR_BROADCAST else dst
    sim.after_reply(lambda: sim.areq(ZDO, ZDO_MGMT_PERMIT_JOIN_RSP, u16(src) + u8(0)))
    return u8(0)


@command(ZDO, 0x3E, "ZDO_MSG_CB_REGISTER")
def msg_cb_register(sim: ZnpSimulator, r: Reader) -> bytes:
    r.u16()
    return u8(0)


@command(ZDO, 0x3F, "ZDO_MSG_CB_REMOVE")
def msg_cb_remove(sim: ZnpSimulator, r: Reader) -> bytes:
    r.u16()
    return u8(0)


@command(ZDO, 0x45, "ZDO_EXT_ROUTE_DISC")
def ext_route_disc(sim: ZnpSimulator, r: Reader) -> bytes:
    r.u16()
    r.u8()
    r.u8()
    return u8(0)


@command(ZDO, 0x46, "ZDO_EXT_ROUTE_CHECK")
def ext_route_check(sim: ZnpSimulator, r: Reader) -> bytes:
    dst = r.u16()
    r.u8()
    r.u8()
    dev = sim.net.by_address(0x02, dst)
    return u8(ROUTE_SUCCESS if dev is not None and not dev.silent else ROUTE_FAILURE)


@command(ZDO, 0x37, "ZDO_MGMT_NWK_UPDATE_REQ")
def mgmt_nwk_update(sim: ZnpSimulator, r: Reader) -> bytes:
    r.rest()
    return u8(0)


@command(ZDO, 0x34, "ZDO_MGMT_LEAVE_REQ")
def mgmt_leave(sim: ZnpSimulator, r: Reader) -> bytes:
    dst = r.u16()
    r.rest()
    dev = sim.net.by_address(0x02, dst)
    if dev is None:
        return u8(0x01)
    name = dev.name

    def go() -> None:
        try:
            sim.net.leave(name)
        except SimError:
            pass

    sim.after_reply(go)
    return u8(0)
