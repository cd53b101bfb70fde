"""MT APP_CNF: Base Device Behaviour commissioning (network formation / resume) and its settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sims.znp.commands.registry import command
from sims.znp.frames import Subsystem
from sims.znp.wire import Reader, u8

if TYPE_CHECKING:
    from sims.znp.simulator import ZnpSimulator

APP_CNF = Subsystem.APP_CNF
BDB_NWK_FORMATION = 0x04


@command(APP_CNF, 0x08, "APP_CNF_BDB_SET_CHANNEL")
def bdb_set_channel(sim: ZnpSimulator, r: Reader) -> bytes:
    primary, mask = r.u8(), r.u32()
    if primary:
        sim.net.primary_channels = mask
    return u8(0)


@command(APP_CNF, 0x05, "APP_CNF_BDB_START_COMMISSIONING")
def bdb_start_commissioning(sim: ZnpSimulator, r: Reader) -> bytes:
    mode = r.u8()
    if mode & BDB_NWK_FORMATION:
        sim.after_reply(sim.net.commission)
    return u8(0)


def _ok(sim: ZnpSimulator, r: Reader) -> bytes:
    r.rest()
    return u8(0)


for _cmd, _name in (
    (0x01, "APP_CNF_SET_DEFAULT_REMOTE_ENDDEVICE_TIMEOUT"),
    (0x02, "APP_CNF_SET_ENDDEVICETIMEOUT"),
    (0x03, "APP_CNF_SET_ALLOWREJOIN_TC_POLICY"),
    (0x04, "APP_CNF_BDB_ADD_INSTALLCODE"),
    (0x06, "APP_CNF_BDB_SET_JOINUSESINSTALLCODEKEY"),
    (0x07, "APP_CNF_BDB_SET_ACTIVE_DEFAULT_CENTRALIZED_KEY"),
    (0x09, "APP_CNF_BDB_SET_TC_REQUIRE_KEY_EXCHANGE"),
):
    command(APP_CNF, _cmd, _name)(_ok)
