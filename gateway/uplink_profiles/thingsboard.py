"""The ``thingsboard`` profile: the ThingsBoard IoT Gateway MQTT API.

Message shapes as ThingsBoard documents them (https://thingsboard.io/docs/reference/gateway-mqtt-api/):

- ``v1/gateway/connect`` ``{"device": name, "type": profile}`` before a device's first data in a session;
- ``v1/gateway/telemetry`` ``{name: [{"ts": ms, "values": {...}}, ...], ...}`` — every event of the batch;
- ``v1/gateway/attributes`` ``{name: {...}}`` — device attributes on connect, and the alarm attribute;
- ``v1/gateway/disconnect`` ``{"device": name}`` when a device is removed, or renamed / moved so that its
  ThingsBoard name changes (its events go to a new ThingsBoard device from then on);
- the gateway's own events (no device) on the device API, ``v1/devices/me/telemetry`` ``[{"ts", "values"}]``.

One batch of rows becomes a few messages published back to back on the one connection (so they arrive in
order); the rows are deleted once every message's PUBACK is in. Event values are flat: ``event`` (the kind),
``event_id``, ``seq``, ``priority``, ``trace`` and the event's ``data`` keys. An alarm also sets the attribute
named by its kind to a ThingsBoard-style alarm object (``type``, ``severity``, ``status`` ACTIVE_UNACK /
ACTIVE_ACK / CLEARED_UNACK / CLEARED_ACK, ``id``, ``ts``), updated by ``alarm.acknowledged`` /
``alarm.resolved`` / ``alarm.escalated``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from gateway.outbox import Row

if TYPE_CHECKING:
    import aiomqtt

    from gateway.config import ThingsBoardSection, UplinkSection
    from gateway.uplink_profiles.base import Carrier, Directory

CONNECT = "v1/gateway/connect"
DISCONNECT = "v1/gateway/disconnect"
TELEMETRY = "v1/gateway/telemetry"
ATTRIBUTES = "v1/gateway/attributes"
RPC = "v1/gateway/rpc"
OWN_TELEMETRY = "v1/devices/me/telemetry"

#: Lifecycle steps that change an open alarm's ThingsBoard status rather than raise one.
_ALARM_STEPS = {"alarm.acknowledged", "alarm.resolved", "alarm.escalated"}
#: Lifecycle events after which a device may have another ThingsBoard name.
_RENAMING = {"device.renamed", "device.moved", "device.replaced"}
#: Alarm-kind events that are bookkeeping, not an alarm of their own.
_NOT_ALARMS = {"alarm.sent", "alarm.repeated", "alarm.cancel_requested", "alarm.sms_sent", "alarm.call_placed"}


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def values(event: dict[str, Any]) -> dict[str, Any]:
    """One event as flat ThingsBoard telemetry values."""
    out: dict[str, Any] = {
        "event": event.get("kind"),
        "event_id": event.get("id"),
        "seq": event.get("seq"),
        "priority": event.get("priority"),
    }
    if event.get("trace"):
        out["trace"] = event["trace"]
    data = event.get("data")
    if isinstance(data, dict):
        for key, value in data.items():
            out.setdefault(str(key), value)
    return out


def alarm_attribute(event: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """``(attribute name, ThingsBoard-style alarm)`` for an alarm or a lifecycle step of one; else None."""
    kind = str(event.get("kind", ""))
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    assert isinstance(data, dict)
    if kind in _ALARM_STEPS:
        alarm_kind = str(data.get("kind", ""))
        if not alarm_kind.startswith("alarm."):
            return None
        if kind == "alarm.acknowledged":
            status = "ACTIVE_ACK"
        elif kind == "alarm.resolved":
            status = "CLEARED_ACK" if data.get("state") == "acknowledged" else "CLEARED_UNACK"
        else:
            status = "ACTIVE_UNACK"
        alarm = {"type": alarm_kind, "severity": "CRITICAL", "status": status, "id": data.get("alarm")}
        alarm["ts"] = event.get("ts")
        if kind == "alarm.escalated":
            alarm["escalation"] = data.get("escalation")
        return alarm_kind, alarm
    if event.get("priority") == "alarm" and kind.startswith("alarm.") and kind not in _NOT_ALARMS:
        return kind, {
            "type": kind,
            "severity": "CRITICAL",
            "status": "ACTIVE_UNACK",
            "id": event.get("id"),
            "ts": event.get("ts"),
        }
    return None


class Namer:
    """ThingsBoard device names and types from the registry (what the home calls the device and where it is)."""

    def __init__(self, settings: ThingsBoardSection, gateway_id: str, devices: Directory | None) -> None:
        self.settings, self.gateway_id, self.devices = settings, gateway_id, devices
        self._names: dict[str, str] = {}  # device id -> name given this session
        self._taken: dict[str, str] = {}  # name -> device id

    def fields(self, ref: dict[str, Any], data: dict[str, Any]) -> dict[str, str]:
        device_id = str(ref.get("id", ""))
        known = self.devices.get(device_id) if self.devices is not None else None
        name = known.name if known is not None and known.name else str(data.get("name") or "") or device_id
        room = known.room if known is not None else str(ref.get("room", ""))
        dtype = known.type if known is not None else str(ref.get("type", ""))
        return {"gateway": self.gateway_id, "room": room, "name": name, "id": device_id, "type": dtype}

    def name(self, ref: dict[str, Any], data: dict[str, Any]) -> str:
        device_id = str(ref.get("id", ""))
        if device_id in self._names:
            return self._names[device_id]
        name = " ".join(self.settings.device_name.format(**self.fields(ref, data)).split())
        if self._taken.get(name, device_id) != device_id:
            name = f"{name} #{device_id}"
        self._names[device_id] = name
        self._taken[name] = device_id
        return name

    def forget(self, device_id: str) -> None:
        """The device was renamed, moved or replaced: its next event is named afresh."""
        name = self._names.pop(device_id, None)
        if name is not None and self._taken.get(name) == device_id:
            del self._taken[name]

    def type(self, ref: dict[str, Any], data: dict[str, Any]) -> str:
        return self.settings.device_type.format(**self.fields(ref, data))


def messages(rows: Sequence[Row], namer: Namer, connected: set[str]) -> list[tuple[str, bytes]]:
    """The MQTT messages (topic, payload) for one batch, in the order they must be published."""
    connects: list[tuple[str, bytes]] = []
    attributes: dict[str, dict[str, Any]] = {}
    telemetry: dict[str, list[dict[str, Any]]] = {}
    own: list[dict[str, Any]] = []
    disconnects: list[tuple[str, bytes]] = []
    for row in rows:
        event = json.loads(row.body)
        point = {"ts": event.get("ts"), "values": values(event)}
        ref = event.get("device")
        if not isinstance(ref, dict):
            own.append(point)
            continue
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        name = namer.name(ref, data)
        if name not in connected:
            connected.add(name)
            connects.append((CONNECT, _json({"device": name, "type": namer.type(ref, data)})))
            f = namer.fields(ref, data)
            attributes.setdefault(name, {}).update(
                fbgw_id=f["id"],
                fbgw_gateway=f["gateway"],
                room=f["room"],
                device_type=f["type"],
                transport=ref.get("transport"),
            )
        telemetry.setdefault(name, []).append(point)
        alarm = alarm_attribute(event)
        if alarm is not None:
            attributes.setdefault(name, {})[alarm[0]] = alarm[1]
        if event.get("kind") == "device.removed":
            connected.discard(name)
            disconnects.append((DISCONNECT, _json({"device": name})))
        elif event.get("kind") in _RENAMING:
            namer.forget(str(ref.get("id", "")))
            if namer.name(ref, data) != name:  # from now on a new ThingsBoard device; the old one is left
                connected.discard(name)
                disconnects.append((DISCONNECT, _json({"device": name})))
    out = connects
    if telemetry:
        out.append((TELEMETRY, _json(telemetry)))
    if attributes:
        out.append((ATTRIBUTES, _json(attributes)))
    if own:
        out.append((OWN_TELEMETRY, _json(own)))
    return out + disconnects


class ThingsBoardCarrier:
    def __init__(self, client: aiomqtt.Client, namer: Namer, timeout: float) -> None:
        self.client, self.namer, self.timeout = client, namer, timeout
        #: Devices announced with v1/gateway/connect on this connection.
        self.connected: set[str] = set()

    async def deliver(self, rows: Sequence[Row], *, alarms: bool) -> None:
        # Every publish is handed to the client before the first PUBACK is awaited, in order, so a batch's
        # messages (and the next batch's) keep their order on the connection. Any failure ends the session.
        out = messages(rows, self.namer, self.connected)
        await asyncio.gather(*(self.client.publish(t, p, qos=1, timeout=self.timeout) for t, p in out))


class ThingsBoardProfile:
    name = "thingsboard"
    mqtt = True
    sequential = False

    def __init__(self, settings: ThingsBoardSection, gateway_id: str, devices: Directory | None) -> None:
        self.settings, self.gateway_id, self.devices = settings, gateway_id, devices

    def carries(self, topic: str) -> bool:
        """ThingsBoard's own topics only: fbgw's side channels (status, config, cmd) would be refused."""
        return topic.startswith("v1/")

    def mqtt_carrier(self, client: aiomqtt.Client, settings: UplinkSection) -> Carrier:
        namer = Namer(self.settings, self.gateway_id, self.devices)
        return ThingsBoardCarrier(client, namer, settings.puback_timeout_s)

    @contextlib.asynccontextmanager
    async def open(self, settings: UplinkSection) -> AsyncIterator[Carrier]:
        raise NotImplementedError("the thingsboard profile runs over MQTT")
        yield  # pragma: no cover
