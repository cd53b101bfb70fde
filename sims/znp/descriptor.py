"""A simulated device described as the real one is: descriptors, Basic strings, attributes, and what it sends.

A descriptor is a JSON document (``sims/znp/devices/*.json`` ship one per supported family, written from the
devices' published signatures)::

    {
      "family": "tuya-smoke",                   name used by ``join``
      "manufacturer": "_TZE284_n4ttsck2", "model": "TS0601", "manufacturer_code": 4417,
      "power": "battery",                       or "mains"
      "node": {"logical_type": 2, "mac_capabilities": 128, "max_buffer": 127, "max_in": 100, "max_out": 100,
               "server_mask": 0, "descriptor_capability": 0},   optional; defaults from power
      "ieee": "a4c1380000000001", "nwk": 4660,  optional: random when absent
      "endpoints": [{"id": 1, "profile": 260, "device_type": 81, "in": [0, 4, 5, 61184], "out": [25, 10]}],
      "attributes": [{"cluster": 1280, "attr": 1, "type": 49, "value": 40}],
      "actions": {"alarm": [FRAME...], "restore": [...], "battery": [...], "press": [...], ...}
    }

A FRAME (also what the ``send`` control command takes, as JSON) is one of::

    {"zcl": {"cluster": 6, "command": 2, "specific": true, "from": "client", "payload": "", "manufacturer": null}}
    {"report": {"cluster": 6, "attributes": [[0, 16, 1]], "manufacturer": null}}
    {"dp": {"dp": 1, "type": "enum", "value": 0}}          Tuya data point (cluster 0xEF00)
    {"zone": {"set": ["alarm1"], "clear": []}}            IAS Zone status change notification
    {"ace": "emergency"}                                   IAS ACE command from the device (emergency/fire/panic)
    {"xiaomi": {"battery_mv": 3000}}                      Xiaomi 0xFF01 report on Basic (manufacturer 0x115F)

Numbers may be written as "0x.." strings; a value "{percent}", "{half}", "{mv}", "{decivolts}" or "{tuya_level}"
(Tuya's battery state: 0 full, 1 high, 2 medium, 3 low) is filled in from the ``battery`` action's percentage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEVICES_DIR = Path(__file__).with_name("devices")
HA_PROFILE = 0x0104


class DescriptorError(ValueError):
    """A descriptor or frame that does not make sense (the message names the field)."""


def num(value: Any, what: str = "number") -> int:
    """An int from an int or a "0x.."/decimal string."""
    if isinstance(value, bool):
        raise DescriptorError(f"{what}: expected a number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            pass
    raise DescriptorError(f"{what}: expected a number, got {value!r}")


@dataclass(frozen=True)
class Endpoint:
    id: int
    profile: int
    device_type: int
    in_clusters: tuple[int, ...]
    out_clusters: tuple[int, ...] = ()
    version: int = 1


@dataclass(frozen=True)
class Descriptor:
    """What a family of device is; see the module docstring for the JSON form."""

    family: str
    manufacturer: str
    model: str
    manufacturer_code: int
    endpoints: tuple[Endpoint, ...]
    mains: bool = False
    logical_type: int = 2  # 0 coordinator, 1 router, 2 end device
    mac_capabilities: int | None = None
    #: (cluster, attribute) -> (ZCL type, initial value)
    attributes: dict[tuple[int, int], tuple[int, Any]] = field(default_factory=dict)
    actions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ieee: int | None = None
    nwk: int | None = None
    #: node descriptor fields beyond type and MAC capabilities: max buffer, max in/out transfer, server mask...
    node: dict[str, int] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def in_clusters(self) -> tuple[int, ...]:
        """Input clusters of every endpoint (which ones a device answers for)."""
        return tuple(c for ep in self.endpoints for c in ep.in_clusters)

    @property
    def zone_type(self) -> int | None:
        found = self.attributes.get((0x0500, 0x0001))
        return int(found[1]) if found is not None else None

    @property
    def mac_caps(self) -> int:
        if self.mac_capabilities is not None:
            return self.mac_capabilities
        return 0x8E if self.mains else 0x80  # allocate address (+ mains, rx on when idle, FFD)

    def endpoint_of(self, cluster: int, *, client: bool = False) -> int:
        """The endpoint that has ``cluster`` (as an output cluster when ``client``); the first one otherwise."""
        for ep in self.endpoints:
            if cluster in (ep.out_clusters if client else ep.in_clusters):
                return ep.id
        return self.endpoints[0].id

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Descriptor:
        try:
            endpoints = tuple(
                Endpoint(
                    num(ep["id"], "endpoint id"),
                    num(ep.get("profile", HA_PROFILE), "profile"),
                    num(ep["device_type"], "device_type"),
                    tuple(num(c, "in cluster") for c in ep.get("in", [])),
                    tuple(num(c, "out cluster") for c in ep.get("out", [])),
                    num(ep.get("version", 1), "version"),
                )
                for ep in raw["endpoints"]
            )
            if not endpoints:
                raise DescriptorError("endpoints: at least one is needed")
            attrs = {
                (num(a["cluster"], "attribute cluster"), num(a["attr"], "attribute id")): (
                    num(a["type"], "attribute type"),
                    a["value"] if num(a["type"]) == 0x42 else num(a["value"], "value"),
                )
                for a in raw.get("attributes", [])
            }
            power = raw.get("power", "battery")
            if power not in ("battery", "mains"):
                raise DescriptorError(f"power: 'battery' or 'mains', not {power!r}")
            node = raw.get("node", {})
            return cls(
                family=str(raw["family"]),
                manufacturer=str(raw["manufacturer"]),
                model=str(raw["model"]),
                manufacturer_code=num(raw.get("manufacturer_code", 0), "manufacturer_code"),
                endpoints=endpoints,
                mains=power == "mains",
                logical_type=num(node.get("logical_type", 1 if power == "mains" else 2), "logical_type"),
                mac_capabilities=num(node["mac_capabilities"], "mac_capabilities")
                if "mac_capabilities" in node
                else None,
                attributes=attrs,
                actions={str(k): list(v) for k, v in raw.get("actions", {}).items()},
                ieee=int(str(raw["ieee"]).replace(":", ""), 16) if raw.get("ieee") else None,
                nwk=num(raw["nwk"], "nwk") if raw.get("nwk") is not None else None,
                node={k: num(v, f"node.{k}") for k, v in node.items()},
                source=raw,
            )
        except KeyError as exc:
            raise DescriptorError(f"descriptor: missing field {exc}") from exc
        except TypeError as exc:
            raise DescriptorError(f"descriptor: {exc}") from exc

    @classmethod
    def load(cls, path: Path) -> Descriptor:
        try:
            raw = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DescriptorError(f"{path}: {exc}") from exc
        return cls.parse(raw)


def bundled() -> dict[str, Descriptor]:
    """The descriptors shipped in ``sims/znp/devices/``, by family."""
    found = {}
    for path in sorted(DEVICES_DIR.glob("*.json")):
        desc = Descriptor.load(path)
        found[desc.family] = desc
    return found
