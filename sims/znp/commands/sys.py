"""MT SYS: reset, ping, version, and the NV memory (legacy OSAL items and Z-Stack 3.30 NV items)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sims.znp import nvram
from sims.znp.commands.registry import command
from sims.znp.frames import Subsystem
from sims.znp.wire import Reader, short_bytes, u8, u16, u32, u64

if TYPE_CHECKING:
    from sims.znp.simulator import ZnpSimulator

SYS = Subsystem.SYS
SUCCESS, FAILURE, INVALID_PARAMETER, NV_ITEM_UNINIT, NV_BAD_ITEM_LEN = 0x00, 0x01, 0x02, 0x09, 0x0C
CHUNK = 244  # most NV bytes that fit in one response

#: MT interfaces compiled in: SYS, MAC, NWK, AF, ZDO, SAPI, UTIL, APP, GP, APP_CNF.
CAPABILITIES = 0x0001 | 0x0002 | 0x0004 | 0x0008 | 0x0010 | 0x0020 | 0x0040 | 0x0100 | 0x0200 | 0x0400
# Transport rev 2, product 1 (Z-Stack 3.x), release 2.7.1, build date as code revision.
VERSION = bytes([2, 1, 2, 7, 1])
CODE_REVISION = 20240710


@command(SYS, 0x00, "SYS_RESET_REQ")
def reset_req(sim: ZnpSimulator, r: Reader) -> None:
    r.u8()  # hard or soft: the simulator always reboots the stack, never the USB link
    sim.reboot()


@command(SYS, 0x01, "SYS_PING")
def ping(sim: ZnpSimulator, r: Reader) -> bytes:
    return u16(CAPABILITIES)


@command(SYS, 0x02, "SYS_VERSION")
def version(sim: ZnpSimulator, r: Reader) -> bytes:
    return VERSION + u32(CODE_REVISION) + u8(0) + u32(0xFFFFFFFF)


@command(SYS, 0x04, "SYS_GET_EXTADDR")
def get_ext_addr(sim: ZnpSimulator, r: Reader) -> bytes:
    return u64(sim.nv.coordinator_ieee())


@command(SYS, 0x14, "SYS_SET_TX_POWER")
def set_tx_power(sim: ZnpSimulator, r: Reader) -> bytes:
    r.u8()
    return u8(SUCCESS)


# -- legacy OSAL NV items ------------------------------------------------------------------------
def _read(sim: ZnpSimulator, key: nvram.Key, offset: int) -> bytes:
    value = sim.nv.get(key)
    if value is None:
        return u8(NV_ITEM_UNINIT) + short_bytes(b"")
    if offset > len(value):
        return u8(INVALID_PARAMETER) + short_bytes(b"")
    return u8(SUCCESS) + short_bytes(value[offset : offset + CHUNK])


def _write(sim: ZnpSimulator, key: nvram.Key, offset: int, data: bytes) -> bytes:
    value = sim.nv.get(key)
    if value is None:
        return u8(NV_ITEM_UNINIT)
    if offset + len(data) > len(value):
        return u8(NV_BAD_ITEM_LEN)
    sim.nv.items[key] = value[:offset] + data + value[offset + len(data) :]
    return u8(SUCCESS)


def _create(sim: ZnpSimulator, key: nvram.Key, length: int, init: bytes = b"") -> bytes:
    if key in sim.nv.items:
        return u8(SUCCESS)
    sim.nv.items[key] = (init[:length]).ljust(length, b"\x00")
    return u8(NV_ITEM_UNINIT)  # Z-Stack's way of saying "created, was not there"


def _delete(sim: ZnpSimulator, key: nvram.Key) -> bytes:
    return u8(SUCCESS) if sim.nv.items.pop(key, None) is not None else u8(NV_ITEM_UNINIT)


@command(SYS, 0x07, "SYS_OSAL_NV_ITEM_INIT")
def osal_item_init(sim: ZnpSimulator, r: Reader) -> bytes:
    item, length = r.u16(), r.u16()
    return _create(sim, sim.nv.legacy(item), length, r.short_bytes())


@command(SYS, 0x08, "SYS_OSAL_NV_READ")
def osal_read(sim: ZnpSimulator, r: Reader) -> bytes:
    item = r.u16()
    return _read(sim, sim.nv.legacy(item), r.u8())


@command(SYS, 0x09, "SYS_OSAL_NV_WRITE")
def osal_write(sim: ZnpSimulator, r: Reader) -> bytes:
    item, offset = r.u16(), r.u8()
    return _write(sim, sim.nv.legacy(item), offset, r.short_bytes())


@command(SYS, 0x12, "SYS_OSAL_NV_DELETE")
def osal_delete(sim: ZnpSimulator, r: Reader) -> bytes:
    item = r.u16()
    r.u16()
    return _delete(sim, sim.nv.legacy(item))


@command(SYS, 0x13, "SYS_OSAL_NV_LENGTH")
def osal_length(sim: ZnpSimulator, r: Reader) -> bytes:
    return u16(len(sim.nv.osal(r.u16()) or b""))


@command(SYS, 0x1C, "SYS_OSAL_NV_READ_EXT")
def osal_read_ext(sim: ZnpSimulator, r: Reader) -> bytes:
    item = r.u16()
    return _read(sim, sim.nv.legacy(item), r.u16())


@command(SYS, 0x1D, "SYS_OSAL_NV_WRITE_EXT")
def osal_write_ext(sim: ZnpSimulator, r: Reader) -> bytes:
    item, offset = r.u16(), r.u16()
    return _write(sim, sim.nv.legacy(item), offset, r.long_bytes())


# -- Z-Stack 3.30 NV items: (system id, item id, sub id) -----------------------------------------
def _key(r: Reader) -> nvram.Key:
    return (r.u8(), r.u16(), r.u16())


@command(SYS, 0x30, "SYS_NV_CREATE")
def nv_create(sim: ZnpSimulator, r: Reader) -> bytes:
    key = _key(r)
    return _create(sim, key, r.u32())


@command(SYS, 0x31, "SYS_NV_DELETE")
def nv_delete(sim: ZnpSimulator, r: Reader) -> bytes:
    return _delete(sim, _key(r))


@command(SYS, 0x32, "SYS_NV_LENGTH")
def nv_length(sim: ZnpSimulator, r: Reader) -> bytes:
    return u32(len(sim.nv.get(_key(r)) or b""))


@command(SYS, 0x33, "SYS_NV_READ")
def nv_read(sim: ZnpSimulator, r: Reader) -> bytes:
    key = _key(r)
    offset, length = r.u16(), r.u8()
    value = sim.nv.get(key)
    if value is None:
        return u8(NV_ITEM_UNINIT) + short_bytes(b"")
    return u8(SUCCESS) + short_bytes(value[offset : offset + min(length, CHUNK)])


@command(SYS, 0x34, "SYS_NV_WRITE")
def nv_write(sim: ZnpSimulator, r: Reader) -> bytes:
    key = _key(r)
    offset = r.u16()
    return _write(sim, key, offset, r.short_bytes())
