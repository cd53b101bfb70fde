"""ThingsBoard RPC requests as fbgw commands (the ``thingsboard`` profile, ``rpc_commands = true`` only).

Two documented shapes arrive (https://thingsboard.io/docs/reference/gateway-mqtt-api/ and the device MQTT API):

- to a device behind the gateway, on ``v1/gateway/rpc``: ``{"device": name, "data": {"id", "method",
  "params"}}``, answered on the same topic with ``{"device": name, "id": id, "data": result}``;
- to the gateway itself, on ``v1/devices/me/rpc/request/{id}``: ``{"method", "params"}``, answered on
  ``v1/devices/me/rpc/response/{id}`` with the result.

``method`` is the fbgw command name and ``params`` its arguments; the answer is the body fbgw publishes on
``cmd/result`` (``status`` ok / rejected / error, ``reason``, ``detail``, ``result``). Such a request carries no
signature: the only proof of origin is that the broker let the publisher in. That is why it is off by default.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from gateway.remote.inbound import Rejection

DEVICE_RPC = "v1/gateway/rpc"
OWN_RPC = "v1/devices/me/rpc/request/+"
_OWN_PREFIX = "v1/devices/me/rpc/request/"
_OWN_REPLY = "v1/devices/me/rpc/response/"


@dataclass(frozen=True, slots=True)
class RpcRequest:
    topic: str
    device: str | None  # None: addressed to the gateway itself
    rpc_id: str
    method: str
    params: dict[str, Any]

    @property
    def command_id(self) -> str:
        """A command id for the replay memory: the RPC id is only a counter, so the request's content is in it
        too (a repeated delivery is a duplicate; a new request that reuses a counter value is not)."""
        digest = hashlib.sha256(
            json.dumps([self.device, self.rpc_id, self.method, self.params], sort_keys=True).encode()
        ).hexdigest()[:16]
        return f"tb.{digest}.{self.rpc_id}"[:128]

    def reply(self, result: dict[str, Any]) -> tuple[str, bytes]:
        """Topic and payload of the answer."""
        if self.device is None:
            return _OWN_REPLY + self.rpc_id, _json(result)
        return DEVICE_RPC, _json({"device": self.device, "id": _id_value(self.rpc_id), "data": result})


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _id_value(rpc_id: str) -> int | str:
    return int(rpc_id) if rpc_id.isdigit() else rpc_id


def is_request(topic: str, payload: dict[str, Any]) -> bool:
    """On ``v1/gateway/rpc`` the gateway's own answers come back too (it is subscribed): skip those."""
    return topic != DEVICE_RPC or (isinstance(payload.get("data"), dict) and "method" in payload["data"])


def parse(topic: str, obj: dict[str, Any]) -> RpcRequest:
    """The request in ``obj`` (already a JSON object); :class:`Rejection` if it is not one."""
    if topic == DEVICE_RPC:
        device, data = obj.get("device"), obj.get("data")
        if not isinstance(device, str) or not device or not isinstance(data, dict):
            raise Rejection("schema_invalid", "a gateway RPC needs a device name and a data object")
        rpc_id = data.get("id")
    elif topic.startswith(_OWN_PREFIX):
        device, data = None, obj
        rpc_id = topic.removeprefix(_OWN_PREFIX)
    else:
        raise Rejection("schema_invalid", f"not an RPC topic: {topic[:80]!r}")
    if isinstance(rpc_id, bool) or not isinstance(rpc_id, int | str) or not str(rpc_id) or len(str(rpc_id)) > 64:
        raise Rejection("schema_invalid", "the RPC id must be a number or a short string")
    method, params = data.get("method"), data.get("params", {})
    if not isinstance(method, str) or not method:
        raise Rejection("schema_invalid", "the RPC has no method")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise Rejection("schema_invalid", "RPC params must be an object (the command's arguments)")
    return RpcRequest(topic, device, str(rpc_id), method, params)
