"""Listen to the clusters of a (quirked) zigpy device that the mapping table knows, and pass what they say on.

Readings come from the clusters rather than from raw frames because quirks rewrite what a device says: a
Tuya 0xEF00 data point arrives as an IAS Zone ``zone_status`` update, a Xiaomi click as a ``zha_send_event``
on a Multistate Input cluster. zigpy calls these listeners synchronously while it routes a packet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from zigpy.zcl import AttributeReportedEvent, AttributeUpdatedEvent

from drivers.zigbee import mapping

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Said:
    """One thing a cluster said: an attribute update, a command, or a quirk's event."""

    endpoint: int
    key: tuple[int, mapping.Side]
    what: str  # "attribute" | "command" | "event"
    id: int | str
    value: Any = None


Callback = Callable[[Said], None]

#: zigpy's events for a new attribute value: set by a quirk (Tuya data point -> IAS zone status) or reported.
ATTRIBUTE_EVENTS = (AttributeUpdatedEvent.event_type, AttributeReportedEvent.event_type)


class _ClusterListener:
    """zigpy listener of one cluster (method names are zigpy's and zha-quirks')."""

    def __init__(self, endpoint: int, key: tuple[int, mapping.Side], callback: Callback) -> None:
        self._endpoint = endpoint
        self._key = key
        self._callback = callback

    def attribute_event(self, event: Any) -> None:
        """zigpy's AttributeUpdatedEvent (a quirk set it) or AttributeReportedEvent (the device reported it)."""
        self._callback(Said(self._endpoint, self._key, "attribute", int(event.attribute_id), event.value))

    def cluster_command(self, tsn: int, command_id: int, args: Any) -> None:
        self._callback(Said(self._endpoint, self._key, "command", int(command_id), args))

    def zha_send_event(self, command: str, args: Any) -> None:
        self._callback(Said(self._endpoint, self._key, "event", str(command), args))


def clusters_of(zdev: Any) -> set[tuple[int, mapping.Side]]:
    """Every (cluster id, side) of the device's application endpoints."""
    found: set[tuple[int, mapping.Side]] = set()
    for ep_id, ep in zdev.endpoints.items():
        if ep_id == 0:
            continue
        found.update((int(c), "server") for c in ep.in_clusters)
        found.update((int(c), "client") for c in ep.out_clusters)
    return found


def attach(zdev: Any, callback: Callback) -> Callable[[], None]:
    """Listen to every cluster of ``zdev`` the table has a rule for; returns the function that stops it."""
    attached: list[tuple[Any, _ClusterListener]] = []
    unsubscribe: list[Callable[[], None]] = []
    for ep_id, ep in zdev.endpoints.items():
        if ep_id == 0:
            continue
        sides: tuple[tuple[mapping.Side, dict[int, Any]], ...] = (
            ("server", ep.in_clusters),
            ("client", ep.out_clusters),
        )
        for side, clusters in sides:
            for cluster_id, cluster in clusters.items():
                key = (int(cluster_id), side)
                if key not in mapping.TABLE:
                    continue
                listener = _ClusterListener(int(ep_id), key, callback)
                cluster.add_listener(listener)
                attached.append((cluster, listener))
                for event in ATTRIBUTE_EVENTS:
                    unsubscribe.append(cluster.on_event(event, listener.attribute_event))

    def detach() -> None:
        for cluster, listener in attached:
            cluster.remove_listener(listener)
        attached.clear()
        for unsub in unsubscribe:
            unsub()
        unsubscribe.clear()

    return detach
