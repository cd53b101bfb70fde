"""Simulated non-volatile memory of a Z-Stack 3.30 coordinator (CC2652-class, aligned structs).

Z-Stack 3.30 keeps everything in one NV store addressed by ``(system id, item id, sub id)``. The old
OSAL NV items (``SYS_OSAL_NV_*`` commands) are the sub ids of the LEGACY item of the ZSTACK system; the
tables (address manager, link keys, security material) are items with one sub id per row. The store is a
plain dict so it can be dumped to JSON for the standalone simulator.

Struct layouts follow the C structs of Z-Stack with natural alignment (ARM): each scalar aligned to its
size, byte arrays to 1, the whole struct padded to its largest member.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Any

SYS_ZSTACK = 0x01
ITEM_LEGACY = 0x0000

# OSAL (legacy) item ids used by the coordinator itself.
EXTADDR = 0x0001
STARTUP_OPTION = 0x0003
NIB = 0x0021
EXTENDED_PAN_ID = 0x002D
BCAST_DELIVERY_TIME = 0x0030
CONCENTRATOR_ENABLE = 0x0032
CONCENTRATOR_DISCOVERY = 0x0033
CONCENTRATOR_RC = 0x0036
SRC_RTG_EXPIRY_TIME = 0x0038
NWK_ACTIVE_KEY_INFO = 0x003A
NWK_ALTERN_KEY_INFO = 0x003B
NWK_CHILD_AGE_ENABLE = 0x003E
APS_USE_EXT_PANID = 0x0047
APS_LINK_KEY_TABLE = 0x004C
BDBNODEISONANETWORK = 0x0055
PRECFGKEY = 0x0062
PRECFGKEYS_ENABLE = 0x0063
PANID = 0x0083
CHANLIST = 0x0084
LOGICAL_TYPE = 0x0087
ZDO_DIRECT_CB = 0x008F
TCLK_SEED = 0x0101

# Table items (one sub id per row) and their row count.
ADDRMGR = 0x0001
TCLK_TABLE = 0x0004
APS_KEY_DATA_TABLE = 0x0006
NWK_SEC_MATERIAL_TABLE = 0x0007

STARTUP_CLEAR_CONFIG = 0x01
STARTUP_CLEAR_STATE = 0x02

#: The key TI ships in every ZNP image; a network must never keep it.
ZSTACK_DEFAULT_KEY = bytes([1, 3, 5, 7, 9, 11, 13, 15, 0, 2, 4, 6, 8, 10, 12, 13])

Key = tuple[int, int, int]


def _layout(fields: list[tuple[str, str]]) -> tuple[list[tuple[str, str, int]], int]:
    """Offsets of C struct fields with natural alignment; returns (name, fmt, offset) rows and size."""
    rows: list[tuple[str, str, int]] = []
    offset = 0
    biggest = 1
    for name, fmt in fields:
        size = struct.calcsize("<" + fmt)
        align = 1 if fmt.endswith("s") else size
        biggest = max(biggest, align)
        offset += -offset % align
        rows.append((name, fmt, offset))
        offset += size
    offset += -offset % biggest
    return rows, offset


@dataclass(frozen=True)
class StructLayout:
    """Pack/unpack a C struct to/from a dict of fields, zero padding."""

    rows: list[tuple[str, str, int]]
    size: int

    @classmethod
    def of(cls, fields: list[tuple[str, str]]) -> StructLayout:
        rows, size = _layout(fields)
        return cls(rows, size)

    def unpack(self, raw: bytes) -> dict[str, Any]:
        if len(raw) != self.size:
            raise ValueError(f"struct is {self.size} bytes, got {len(raw)}")
        return {name: struct.unpack_from("<" + fmt, raw, off)[0] for name, fmt, off in self.rows}

    def pack(self, values: dict[str, Any]) -> bytes:
        out = bytearray(self.size)
        for name, fmt, off in self.rows:
            struct.pack_into("<" + fmt, out, off, values[name])
        return bytes(out)


# nwkIB_t, the network information base.
NIB_LAYOUT = StructLayout.of(
    [
        (n, "B")
        for n in (
            "SequenceNum",
            "PassiveAckTimeout",
            "MaxBroadcastRetries",
            "MaxChildren",
            "MaxDepth",
            "MaxRouters",
            "dummyNeighborTable",
            "BroadcastDeliveryTime",
            "ReportConstantCost",
            "RouteDiscRetries",
            "dummyRoutingTable",
            "SecureAllFrames",
            "SecurityLevel",
            "SymLink",
            "CapabilityFlags",
        )
    ]
    + [
        ("TransactionPersistenceTime", "H"),
        ("nwkProtocolVersion", "B"),
        ("RouteDiscoveryTime", "B"),
        ("RouteExpiryTime", "B"),
        ("nwkDevAddress", "H"),
        ("nwkLogicalChannel", "B"),
        ("nwkCoordAddress", "H"),
        ("nwkCoordExtAddress", "8s"),
        ("nwkPanId", "H"),
        ("nwkState", "H"),
        ("channelList", "I"),
        ("beaconOrder", "B"),
        ("superFrameOrder", "B"),
        ("scanDuration", "B"),
        ("battLifeExt", "B"),
        ("allocatedRouterAddresses", "I"),
        ("allocatedEndDeviceAddresses", "I"),
        ("nodeDepth", "B"),
        ("extendedPANID", "8s"),
        ("nwkKeyLoaded", "B"),
        ("spare1", "17s"),
        ("spare2", "17s"),
        ("spare3", "B"),
        ("spare4", "B"),
        ("nwkLinkStatusPeriod", "B"),
        ("nwkRouterAgeLimit", "B"),
        ("nwkUseMultiCast", "B"),
        ("nwkIsConcentrator", "B"),
        ("nwkConcentratorDiscoveryTime", "B"),
        ("nwkConcentratorRadius", "B"),
        ("nwkAllFresh", "B"),
        ("nwkManagerAddr", "H"),
        ("nwkTotalTransmissions", "H"),
        ("nwkUpdateId", "B"),
    ]
)
ADDRMGR_LAYOUT = StructLayout.of([("type", "B"), ("nwkAddr", "H"), ("extAddr", "8s")])
TCLK_LAYOUT = StructLayout.of(
    [
        ("txFrmCntr", "I"),
        ("rxFrmCntr", "I"),
        ("extAddr", "8s"),
        ("keyAttributes", "B"),
        ("keyType", "B"),
        ("SeedShift_IcIndex", "B"),
    ]
)
SEC_MATERIAL_LAYOUT = StructLayout.of([("FrameCounter", "I"), ("ExtendedPanID", "8s")])
APS_KEY_DATA_SIZE = 24  # key[16], tx counter, rx counter
ASSOC_DEVICE_SIZE = 36  # associated_devices_t as Z-Stack 3.30 on ARM writes it

TABLE_ROWS = {ADDRMGR: 16, TCLK_TABLE: 8, APS_KEY_DATA_TABLE: 8, NWK_SEC_MATERIAL_TABLE: 4}
ADDRMGR_EMPTY = b"\xff" * ADDRMGR_LAYOUT.size
ADDRMGR_ASSOC = 0x01


def default_nib() -> dict[str, Any]:
    """The NIB of a coordinator that has never formed a network."""
    nib: dict[str, Any] = {name: 0 for name, _, _ in NIB_LAYOUT.rows}
    nib.update(
        SequenceNum=0x02,
        PassiveAckTimeout=5,
        MaxBroadcastRetries=2,
        MaxChildren=20,
        MaxDepth=15,
        MaxRouters=20,
        BroadcastDeliveryTime=30,
        ReportConstantCost=0,
        RouteDiscRetries=0,
        SecurityLevel=5,
        SymLink=1,
        CapabilityFlags=0x8F,
        TransactionPersistenceTime=7,
        nwkProtocolVersion=2,
        RouteDiscoveryTime=5,
        RouteExpiryTime=30,
        nwkDevAddress=0xFFFE,
        nwkLogicalChannel=0,
        nwkCoordAddress=0,
        nwkCoordExtAddress=bytes(8),
        nwkPanId=0xFFFF,
        nwkState=0,
        channelList=0x00000800,
        beaconOrder=15,
        superFrameOrder=15,
        extendedPANID=bytes(8),
        nwkKeyLoaded=0,
        spare1=bytes(17),
        spare2=bytes(17),
        nwkLinkStatusPeriod=15,
        nwkRouterAgeLimit=3,
        nwkIsConcentrator=1,
        nwkConcentratorDiscoveryTime=120,
        nwkConcentratorRadius=10,
        nwkAllFresh=1,
        nwkManagerAddr=0,
        nwkUpdateId=0,
    )
    return nib


class NvStore:
    """The NV items of one simulated stick. Survives soft resets and unplugging; wiped only on request."""

    def __init__(self, ieee: int) -> None:
        self.ieee = ieee
        self.items: dict[Key, bytes] = {}
        self.factory_reset()

    # -- addressing -------------------------------------------------------------------------------
    @staticmethod
    def legacy(item: int) -> Key:
        return (SYS_ZSTACK, ITEM_LEGACY, item)

    def get(self, key: Key) -> bytes | None:
        return self.items.get(key)

    def osal(self, item: int) -> bytes | None:
        return self.items.get(self.legacy(item))

    def set_osal(self, item: int, value: bytes) -> None:
        self.items[self.legacy(item)] = bytes(value)

    # -- life cycle -------------------------------------------------------------------------------
    def factory_reset(self) -> None:
        """NV as flashed: no network, default key, every table empty (keeps the hardware address)."""
        self.items.clear()
        osal = {
            EXTADDR: struct.pack("<Q", self.ieee),
            STARTUP_OPTION: b"\x00",
            NIB: NIB_LAYOUT.pack(default_nib()),
            PANID: b"\xff\xff",
            CHANLIST: struct.pack("<I", 0x00000800),
            APS_USE_EXT_PANID: bytes(8),
            EXTENDED_PAN_ID: bytes(8),
            PRECFGKEY: ZSTACK_DEFAULT_KEY,
            PRECFGKEYS_ENABLE: b"\x01",
            NWK_ACTIVE_KEY_INFO: bytes(17),
            NWK_ALTERN_KEY_INFO: bytes(17),
            LOGICAL_TYPE: b"\x00",
            TCLK_SEED: os.urandom(16),
            APS_LINK_KEY_TABLE: bytes(2 + 6 * TABLE_ROWS[APS_KEY_DATA_TABLE]),
            CONCENTRATOR_ENABLE: b"\x00",
            CONCENTRATOR_DISCOVERY: b"\x78",
            CONCENTRATOR_RC: b"\x00",
            SRC_RTG_EXPIRY_TIME: b"\x0a",
            NWK_CHILD_AGE_ENABLE: b"\x01",
            BCAST_DELIVERY_TIME: b"\x1e",
            ZDO_DIRECT_CB: b"\x00",
        }
        for item, value in osal.items():
            self.set_osal(item, value)
        self._reset_tables()

    def _reset_tables(self) -> None:
        tclk_empty = TCLK_LAYOUT.pack(
            {
                "txFrmCntr": 0,
                "rxFrmCntr": 0,
                "extAddr": bytes(8),
                "keyAttributes": 0xFF,
                "keyType": 0,
                "SeedShift_IcIndex": 0,
            }
        )
        fill = {
            ADDRMGR: ADDRMGR_EMPTY,
            TCLK_TABLE: tclk_empty,
            APS_KEY_DATA_TABLE: bytes(APS_KEY_DATA_SIZE),
            NWK_SEC_MATERIAL_TABLE: bytes(SEC_MATERIAL_LAYOUT.size),
        }
        for item, rows in TABLE_ROWS.items():
            for sub in range(rows):
                self.items[(SYS_ZSTACK, item, sub)] = fill[item]

    def apply_startup_option(self) -> None:
        """What Z-Stack does at boot with ``ZCD_NV_STARTUP_OPTION``: clear config and/or network state."""
        raw = self.osal(STARTUP_OPTION) or b"\x00"
        option = raw[0]
        if option & STARTUP_CLEAR_CONFIG:
            self.factory_reset()
        elif option & STARTUP_CLEAR_STATE:
            self.set_osal(NIB, NIB_LAYOUT.pack(default_nib()))
            self.set_osal(NWK_ACTIVE_KEY_INFO, bytes(17))
            self.items.pop(self.legacy(BDBNODEISONANETWORK), None)
            self._reset_tables()
        self.set_osal(STARTUP_OPTION, b"\x00")
        if self.osal(EXTADDR) is None:
            self.set_osal(EXTADDR, struct.pack("<Q", self.ieee))

    # -- network view -----------------------------------------------------------------------------
    def nib(self) -> dict[str, Any]:
        raw = self.osal(NIB)
        return NIB_LAYOUT.unpack(raw) if raw is not None else default_nib()

    def set_nib(self, nib: dict[str, Any]) -> None:
        self.set_osal(NIB, NIB_LAYOUT.pack(nib))

    def is_formed(self) -> bool:
        nib = self.nib()
        return (
            bool(nib["nwkLogicalChannel"]) and bool(nib["nwkKeyLoaded"]) and self.osal(BDBNODEISONANETWORK) == b"\x01"
        )

    def coordinator_ieee(self) -> int:
        raw = self.osal(EXTADDR)
        return int(struct.unpack("<Q", raw)[0]) if raw and len(raw) == 8 else self.ieee

    def network_key(self) -> bytes:
        raw = self.osal(NWK_ACTIVE_KEY_INFO) or bytes(17)
        return raw[1:17]

    def add_child(self, ieee: int, nwk: int) -> None:
        """Record a joined device in the address manager, as Z-Stack does on association."""
        free = None
        for sub in range(TABLE_ROWS[ADDRMGR]):
            row = self.items.get((SYS_ZSTACK, ADDRMGR, sub), ADDRMGR_EMPTY)
            if row == ADDRMGR_EMPTY:
                free = sub if free is None else free
                continue
            if ADDRMGR_LAYOUT.unpack(row)["extAddr"] == struct.pack("<Q", ieee):
                free = sub
                break
        if free is not None:
            self.items[(SYS_ZSTACK, ADDRMGR, free)] = ADDRMGR_LAYOUT.pack(
                {"type": ADDRMGR_ASSOC, "nwkAddr": nwk, "extAddr": struct.pack("<Q", ieee)}
            )

    def remove_child(self, ieee: int) -> None:
        for sub in range(TABLE_ROWS[ADDRMGR]):
            row = self.items.get((SYS_ZSTACK, ADDRMGR, sub), ADDRMGR_EMPTY)
            if row != ADDRMGR_EMPTY and ADDRMGR_LAYOUT.unpack(row)["extAddr"] == struct.pack("<Q", ieee):
                self.items[(SYS_ZSTACK, ADDRMGR, sub)] = ADDRMGR_EMPTY

    # -- persistence ------------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        return {
            "ieee": f"{self.ieee:016x}",
            "items": {f"{s}:{i}:{u}": v.hex() for (s, i, u), v in self.items.items()},
        }

    @classmethod
    def load(cls, raw: dict[str, Any]) -> NvStore:
        store = cls(int(raw["ieee"], 16))
        store.items = {}
        for key, value in raw["items"].items():
            s, i, u = (int(x) for x in key.split(":"))
            store.items[(s, i, u)] = bytes.fromhex(value)
        return store
