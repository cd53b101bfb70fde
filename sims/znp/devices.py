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
from sims.znp.descriptor import Descriptor, Endpoint, bundled
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

    def descriptor(self, family: str) -> Descriptor:
        attrs: dict[tuple[int, int], tuple[int, Any]] = {}
        if self.zone_type is not None:
            attrs[(IAS_ZONE, 0x0001)] = (zcl.T_ENUM16, self.zone_type)
        endpoint = Endpoint(1, HA_PROFILE, self.device_type, self.in_clusters, self.out_clusters)
        return Descriptor(
            family, self.manufacturer, self.model, self.manufacturer_code, (endpoint,), self.mains, attributes=attrs
        )


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


def families() -> dict[str, Descriptor]:
    """Every device the simulator can join by name: the built-in kinds and the shipped descriptors."""
    found = {name: kind.descriptor(name) for name, kind in KINDS.items()}
    found.update(bundled())
    return found


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
    #: What the device is; None: the built-in kind ``kind``.
    desc: Descriptor | None = None
    #: (warning bitmap, duration) of every IAS WD Start Warning received, oldest first.
    warnings: list[tuple[int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.desc is None:
            self.desc = KINDS[self.kind].descriptor(self.kind)
        if not self.attrs:
            self._default_attrs()

    @property
    def spec(self) -> Descriptor:
        assert self.desc is not None
        return self.desc

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
        a.update(spec.attributes)

    def next_tsn(self) -> int:
        self.tsn = (self.tsn + 1) & 0xFF
        return self.tsn

    # -- descriptors ------------------------------------------------------------------------------
    @property
    def mac_capabilities(self) -> int:
        return self.spec.mac_caps

    def node_descriptor(self) -> bytes:
        node = self.spec.node
        return (
            bytes([self.spec.logical_type & 0x07, 0x40, self.mac_capabilities])
            + u16(self.spec.manufacturer_code)
            + u8(node.get("max_buffer", 0x52))
            + u16(node.get("max_in", 0x52))
            + u16(node.get("server_mask", 0x0000))
            + u16(node.get("max_out", 0x52))
            + u8(node.get("descriptor_capability", 0x00))
        )

    def simple_descriptor(self, endpoint: int = 1) -> bytes | None:
        for ep in self.spec.endpoints:
            if ep.id == endpoint:
                return (
                    u8(ep.id)
                    + u16(ep.profile)
                    + u16(ep.device_type)
                    + u8(ep.version)
                    + u8(len(ep.in_clusters))
                    + b"".join(u16(c) for c in ep.in_clusters)
                    + u8(len(ep.out_clusters))
                    + b"".join(u16(c) for c in ep.out_clusters)
                )
        return None

    # -- ZDO --------------------------------------------------------------------------------------
    def handle_zdo(self, cluster: int, payload: bytes) -> tuple[bytes | None, bool]:
        """Answer a ZDO request; returns (response payload or None, whether the device leaves)."""
        r = Reader(payload)
        nwk = u16(self.nwk)
        if cluster == 0x0002:
            return bytes([ZDO_STATUS_SUCCESS]) + nwk + self.node_descriptor(), False
        if cluster == 0x0005:
            eps = [ep.id for ep in self.spec.endpoints]
            return bytes([ZDO_STATUS_SUCCESS]) + nwk + bytes([len(eps), *eps]), False
        if cluster == 0x0004:
            r.u16()
            desc = self.simple_descriptor(r.u8())
            if desc is None:
                return bytes([ZDO_INVALID_EP]) + nwk + b"\x00", False
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
        # A request to one of the device's client clusters (OTA's version read) is answered from the client side.
        answer = zcl.from_client if frame.frame_control & zcl.FC_TO_CLIENT else zcl.from_server
        r = Reader(frame.payload)
        if frame.command == zcl.READ_ATTRS:
            out = b""
            while r.remaining >= 2:
                attr = r.u16()
                found = self.attrs.get((cluster, attr))
                if (cluster, attr) == (IAS_ZONE, 0x0002) and found is not None:
                    found = (zcl.T_BITMAP16, self.zone_status)  # what the zone is now, notified or not
                if found is None:
                    out += u16(attr) + u8(zcl.UNSUPPORTED_ATTRIBUTE)
                else:
                    out += u16(attr) + u8(zcl.SUCCESS) + u8(found[0]) + zcl.encode_value(*found)
            return [answer(frame.tsn, zcl.READ_ATTRS_RSP, out)]
        if frame.command in (zcl.WRITE_ATTRS, zcl.WRITE_ATTRS_UNDIVIDED, zcl.WRITE_ATTRS_NO_RSP):
            while r.remaining >= 3:
                attr, dtype = r.u16(), r.u8()
                self.attrs[(cluster, attr)] = (dtype, zcl.decode_value(dtype, r))
                if (cluster, attr) == (IAS_ZONE, 0x0010) and not self.enrolled:
                    self.enroll_pending = True
            if frame.command == zcl.WRITE_ATTRS_NO_RSP:
                return []
            return [answer(frame.tsn, zcl.WRITE_ATTRS_RSP, u8(zcl.SUCCESS))]
        if frame.command == zcl.CONFIGURE_REPORTING:
            return [answer(frame.tsn, zcl.CONFIGURE_REPORTING_RSP, u8(zcl.SUCCESS))]
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
        if cluster == IAS_WD and IAS_WD in self.spec.in_clusters and frame.command == 0x00:  # start warning
            r = Reader(frame.payload)
            self.warnings.append((r.u8(), r.u16()))
            return self._default_rsp(frame, zcl.SUCCESS)
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
            "descriptor": self.spec.source or None,
        }

    @classmethod
    def load(cls, raw: dict[str, Any]) -> SimDevice:
        desc = Descriptor.parse(raw["descriptor"]) if raw.get("descriptor") else None
        dev = cls(raw["name"], raw["kind"], int(raw["ieee"], 16), int(raw["nwk"]), desc=desc)
        dev.zone_status = int(raw.get("zone_status", 0))
        dev.enrolled = bool(raw.get("enrolled", False))
        dev.zone_id = int(raw.get("zone_id", 0xFF))
        if dev.spec.zone_type is not None:
            dev.attrs[(IAS_ZONE, 0x0010)] = (zcl.T_EUI64, int(raw.get("cie", 0)))
            dev.attrs[(IAS_ZONE, 0x0000)] = (zcl.T_ENUM8, 1 if dev.enrolled else 0)
        return dev


def ieee_bytes(ieee: int) -> bytes:
    return struct.pack("<Q", ieee)
