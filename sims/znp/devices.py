"""Simulated Zigbee end devices: how each kind describes itself, answers ZDO and ZCL, and raises alarms.

The kinds mirror the Heiman-style IAS Zone sensors sold for home care (smoke, gas, water leak, door
contact, PIR motion, SOS button) plus an occupancy-cluster motion sensor. A device knows nothing of MT: it
takes ZDO/ZCL requests as bytes and returns the frames it sends back; :mod:`.network` carries them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from sims.znp import zcl
from sims.znp.wire import Reader, u8, u16, u64

HA_PROFILE = 0x0104
BASIC, POWER_CFG, IDENTIFY, ON_OFF, IAS_ZONE, IAS_WD, OCCUPANCY = (
    0x0000,
    0x0001,
    0x0003,
    0x0006,
    0x0500,
    0x0502,
    0x0406,
)

# IAS Zone status bits (ZCL 8.2.2.2.1.3).
ALARM1, ALARM2, TAMPER, BATTERY_LOW, SUPERVISION, RESTORE, TROUBLE, AC_MAINS = (1 << i for i in range(8))

ZDO_STATUS_SUCCESS = 0x00
ZDO_INVALID_EP = 0x82
ZDO_NOT_SUPPORTED = 0x84


@dataclass(frozen=True)
class Kind:
    """What a family of device is: its descriptors and the Basic cluster strings it reports."""

    manufacturer: str
    model: str
    manufacturer_code: int
    device_type: int
    in_clusters: tuple[int, ...]
    out_clusters: tuple[int, ...] = ()
    zone_type: int | None = None
    mains: bool = False


KINDS: dict[str, Kind] = {
    "smoke": Kind(
        "HEIMAN",
        "SmokeSensor-EM",
        0x120B,
        0x0402,
        (BASIC, POWER_CFG, IDENTIFY, IAS_ZONE, IAS_WD),
        (IDENTIFY,),
        zone_type=0x0028,
    ),
    "gas": Kind(
        "HEIMAN",
        "GASSensor-EM",
        0x120B,
        0x0402,
        (BASIC, IDENTIFY, IAS_ZONE, IAS_WD),
        (IDENTIFY,),
        zone_type=0x002B,
        mains=True,
    ),
    "leak": Kind(
        "HEIMAN",
        "WaterSensor-EM",
        0x120B,
        0x0402,
        (BASIC, POWER_CFG, IDENTIFY, IAS_ZONE),
        (IDENTIFY,),
        zone_type=0x002A,
    ),
    "door": Kind(
        "HEIMAN",
        "DoorSensor-EM",
        0x120B,
        0x0402,
        (BASIC, POWER_CFG, IDENTIFY, IAS_ZONE),
        (IDENTIFY,),
        zone_type=0x0015,
    ),
    "motion": Kind(
        "HEIMAN",
        "PIRSensor-EM",
        0x120B,
        0x0402,
        (BASIC, POWER_CFG, IDENTIFY, IAS_ZONE),
        (IDENTIFY,),
        zone_type=0x000D,
    ),
    "button": Kind(
        "HEIMAN",
        "SOS-EM",
        0x120B,
        0x0402,
        (BASIC, POWER_CFG, IDENTIFY, IAS_ZONE),
        (IDENTIFY,),
        zone_type=0x002C,
    ),
    "occupancy": Kind(
        "Signify Netherlands B.V.",
        "SML001",
        0x100B,
        0x0107,
        (BASIC, POWER_CFG, IDENTIFY, OCCUPANCY),
        (ON_OFF,),
    ),
}


@dataclass
class SimDevice:
    """One simulated end device and its ZCL attribute store."""

    name: str
    kind: str
    ieee: int
    nwk: int
    attrs: dict[tuple[int, int], tuple[int, Any]] = field(default_factory=dict)
    zone_status: int = 0
    enrolled: bool = False
    zone_id: int = 0xFF
    silent: bool = False
    bindings: set[int] = field(default_factory=set)
    tsn: int = 0
    enroll_pending: bool = False
    #: False: ZDO requests (the descriptor reads of an interview) go unanswered, as from a sensor that fell
    #: asleep right after joining. ZCL is still answered.
    answers_zdo: bool = True
    #: ZCL clusters whose requests are acknowledged on the air but never answered (a device that ignores the
    #: CIE address write, say): the host only learns of it by timing out.
    ignored_clusters: set[int] = field(default_factory=set)
    #: identify_time of every Identify command received, oldest first.
    identify_requests: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.attrs:
            self._default_attrs()

    @property
    def spec(self) -> Kind:
        return KINDS[self.kind]

    @property
    def ieee_hex(self) -> str:
        return f"{self.ieee:016x}"

    def _default_attrs(self) -> None:
        spec = self.spec
        a = self.attrs
        a[(BASIC, 0x0000)] = (zcl.T_UINT8, 3)  # ZCL version
        a[(BASIC, 0x0004)] = (zcl.T_CHAR_STR, spec.manufacturer)
        a[(BASIC, 0x0005)] = (zcl.T_CHAR_STR, spec.model)
        a[(BASIC, 0x0007)] = (zcl.T_ENUM8, 0x01 if spec.mains else 0x03)  # power source
        if POWER_CFG in spec.in_clusters:
            a[(POWER_CFG, 0x0020)] = (zcl.T_UINT8, 30)  # 3.0 V, in 100 mV
            a[(POWER_CFG, 0x0021)] = (zcl.T_UINT8, 200)  # 100 %, in half percent
        if spec.zone_type is not None:
            a[(IAS_ZONE, 0x0000)] = (zcl.T_ENUM8, 0)  # zone state: not enrolled
            a[(IAS_ZONE, 0x0001)] = (zcl.T_ENUM16, spec.zone_type)
            a[(IAS_ZONE, 0x0002)] = (zcl.T_BITMAP16, 0)
            a[(IAS_ZONE, 0x0010)] = (zcl.T_EUI64, 0)
            a[(IAS_ZONE, 0x0011)] = (zcl.T_UINT8, 0xFF)
        if OCCUPANCY in spec.in_clusters:
            a[(OCCUPANCY, 0x0000)] = (zcl.T_BITMAP8, 0)
            a[(OCCUPANCY, 0x0001)] = (zcl.T_ENUM8, 0)  # PIR

    def next_tsn(self) -> int:
        self.tsn = (self.tsn + 1) & 0xFF
        return self.tsn

    # -- descriptors ------------------------------------------------------------------------------
    @property
    def mac_capabilities(self) -> int:
        return 0x8C if self.spec.mains else 0x80  # allocate address (+ mains, rx on when idle)

    def node_descriptor(self) -> bytes:
        return (
            bytes([0x02, 0x40, self.mac_capabilities])
            + u16(self.spec.manufacturer_code)
            + u8(0x52)
            + u16(0x52)
            + u16(0x0000)
            + u16(0x52)
            + u8(0x00)
        )

    def simple_descriptor(self) -> bytes:
        spec = self.spec
        return (
            u8(1)
            + u16(HA_PROFILE)
            + u16(spec.device_type)
            + u8(1)
            + u8(len(spec.in_clusters))
            + b"".join(u16(c) for c in spec.in_clusters)
            + u8(len(spec.out_clusters))
            + b"".join(u16(c) for c in spec.out_clusters)
        )

    # -- ZDO --------------------------------------------------------------------------------------
    def handle_zdo(self, cluster: int, payload: bytes) -> tuple[bytes | None, bool]:
        """Answer a ZDO request; returns (response payload or None, whether the device leaves)."""
        r = Reader(payload)
        nwk = u16(self.nwk)
        if cluster == 0x0002:
            return bytes([ZDO_STATUS_SUCCESS]) + nwk + self.node_descriptor(), False
        if cluster == 0x0005:
            return bytes([ZDO_STATUS_SUCCESS]) + nwk + bytes([1, 1]), False
        if cluster == 0x0004:
            r.u16()
            if r.u8() != 1:
                return bytes([ZDO_INVALID_EP]) + nwk + b"\x00", False
            desc = self.simple_descriptor()
            return bytes([ZDO_STATUS_SUCCESS]) + nwk + u8(len(desc)) + desc, False
        if cluster in (0x0000, 0x0001):
            return bytes([ZDO_STATUS_SUCCESS]) + u64(self.ieee) + nwk, False
        if cluster in (0x0021, 0x0022):  # Bind / Unbind
            r.u64()
            r.u8()
            bound = r.u16()
            (self.bindings.add if cluster == 0x0021 else self.bindings.discard)(bound)
            return bytes([ZDO_STATUS_SUCCESS]), False
        if cluster == 0x0034:  # Mgmt_Leave_req
            return bytes([ZDO_STATUS_SUCCESS]), True
        return bytes([ZDO_NOT_SUPPORTED]), False

    # -- ZCL --------------------------------------------------------------------------------------
    def handle_zcl(self, cluster: int, data: bytes) -> list[bytes]:
        """Answer a ZCL frame from the coordinator; returns the frames the device sends back."""
        frame = zcl.ZclFrame.parse(data)
        if frame.cluster_specific:
            return self._cluster_command(cluster, frame)
        r = Reader(frame.payload)
        if frame.command == zcl.READ_ATTRS:
            out = b""
            while r.remaining >= 2:
                attr = r.u16()
                found = self.attrs.get((cluster, attr))
                if found is None:
                    out += u16(attr) + u8(zcl.UNSUPPORTED_ATTRIBUTE)
                else:
                    out += u16(attr) + u8(zcl.SUCCESS) + u8(found[0]) + zcl.encode_value(*found)
            return [zcl.from_server(frame.tsn, zcl.READ_ATTRS_RSP, out)]
        if frame.command in (zcl.WRITE_ATTRS, zcl.WRITE_ATTRS_UNDIVIDED, zcl.WRITE_ATTRS_NO_RSP):
            while r.remaining >= 3:
                attr, dtype = r.u16(), r.u8()
                self.attrs[(cluster, attr)] = (dtype, zcl.decode_value(dtype, r))
                if (cluster, attr) == (IAS_ZONE, 0x0010) and not self.enrolled:
                    self.enroll_pending = True
            if frame.command == zcl.WRITE_ATTRS_NO_RSP:
                return []
            return [zcl.from_server(frame.tsn, zcl.WRITE_ATTRS_RSP, u8(zcl.SUCCESS))]
        if frame.command == zcl.CONFIGURE_REPORTING:
            return [zcl.from_server(frame.tsn, zcl.CONFIGURE_REPORTING_RSP, u8(zcl.SUCCESS))]
        if frame.command in (zcl.DEFAULT_RSP, zcl.READ_ATTRS_RSP, zcl.WRITE_ATTRS_RSP):
            return []
        return self._default_rsp(frame, zcl.UNSUP_GENERAL_COMMAND)

    def _cluster_command(self, cluster: int, frame: zcl.ZclFrame) -> list[bytes]:
        if cluster == IAS_ZONE and frame.command == 0x00 and self.spec.zone_type is not None:  # enroll response
            r = Reader(frame.payload)
            code, zone_id = r.u8(), r.u8()
            if code == 0x00:
                self.enrolled = True
                self.zone_id = zone_id
                self.attrs[(IAS_ZONE, 0x0000)] = (zcl.T_ENUM8, 1)
                self.attrs[(IAS_ZONE, 0x0011)] = (zcl.T_UINT8, zone_id)
            return self._default_rsp(frame, zcl.SUCCESS)
        if cluster == IDENTIFY and IDENTIFY in self.spec.in_clusters:
            return self._identify_command(frame)
        return self._default_rsp(frame, zcl.UNSUP_CLUSTER_COMMAND)

    def _identify_command(self, frame: zcl.ZclFrame) -> list[bytes]:
        """Identify (0x00, identify_time) and Trigger Effect (0x40); a real sensor would blink or beep."""
        if frame.command == 0x00:
            self.identify_requests.append(Reader(frame.payload).u16())
            return self._default_rsp(frame, zcl.SUCCESS)
        if frame.command == 0x40:
            return self._default_rsp(frame, zcl.SUCCESS)
        return self._default_rsp(frame, zcl.UNSUP_CLUSTER_COMMAND)

    @staticmethod
    def _default_rsp(frame: zcl.ZclFrame, status: int) -> list[bytes]:
        if not frame.wants_default_rsp:
            return []
        fc = zcl.FC_NO_DEFAULT_RSP | (zcl.FC_TO_CLIENT if not frame.frame_control & zcl.FC_TO_CLIENT else 0)
        return [zcl.ZclFrame(fc, frame.tsn, zcl.DEFAULT_RSP, bytes([frame.command, status])).encode()]

    @property
    def cie_written(self) -> bool:
        return bool(self.attrs.get((IAS_ZONE, 0x0010), (0, 0))[1])

    # -- what the device says on its own ----------------------------------------------------------
    def zone_status_notification(self) -> tuple[int, bytes]:
        self.attrs[(IAS_ZONE, 0x0002)] = (zcl.T_BITMAP16, self.zone_status)
        payload = u16(self.zone_status) + u8(0) + u8(self.zone_id & 0xFF) + u16(0)
        return IAS_ZONE, zcl.from_server(self.next_tsn(), 0x00, payload, cluster_specific=True)

    def enroll_request(self) -> tuple[int, bytes]:
        payload = u16(self.spec.zone_type or 0) + u16(self.spec.manufacturer_code)
        return IAS_ZONE, zcl.from_server(self.next_tsn(), 0x01, payload, cluster_specific=True)

    def attribute_report(self, cluster: int, *attr_ids: int) -> tuple[int, bytes]:
        payload = b""
        for attr in attr_ids:
            dtype, value = self.attrs[(cluster, attr)]
            payload += u16(attr) + u8(dtype) + zcl.encode_value(dtype, value)
        return cluster, zcl.from_server(self.next_tsn(), zcl.REPORT_ATTRS, payload)

    def set_battery(self, percent: int) -> tuple[int, bytes]:
        percent = max(0, min(100, percent))
        self.attrs[(POWER_CFG, 0x0021)] = (zcl.T_UINT8, percent * 2)
        self.attrs[(POWER_CFG, 0x0020)] = (zcl.T_UINT8, 21 + (percent * 9) // 100)
        return self.attribute_report(POWER_CFG, 0x0020, 0x0021)

    # -- persistence ------------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "ieee": self.ieee_hex,
            "nwk": self.nwk,
            "zone_status": self.zone_status,
            "enrolled": self.enrolled,
            "zone_id": self.zone_id,
            "cie": self.attrs.get((IAS_ZONE, 0x0010), (0, 0))[1],
        }

    @classmethod
    def load(cls, raw: dict[str, Any]) -> SimDevice:
        dev = cls(raw["name"], raw["kind"], int(raw["ieee"], 16), int(raw["nwk"]))
        dev.zone_status = int(raw.get("zone_status", 0))
        dev.enrolled = bool(raw.get("enrolled", False))
        dev.zone_id = int(raw.get("zone_id", 0xFF))
        if dev.spec.zone_type is not None:
            dev.attrs[(IAS_ZONE, 0x0010)] = (zcl.T_EUI64, int(raw.get("cie", 0)))
            dev.attrs[(IAS_ZONE, 0x0000)] = (zcl.T_ENUM8, 1 if dev.enrolled else 0)
        return dev


def ieee_bytes(ieee: int) -> bytes:
    return struct.pack("<Q", ieee)
