"""Optional parts of the gateway (alarm lifecycle, feedback, heartbeat, remote config, discovery...).

Each is a :class:`Service`: built from the running gateway, started after the core (outbox, uplink, drivers)
and stopped before it, in reverse order. :func:`build_services` is the one list of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from gateway.alarms.service import AlarmService
from gateway.discovery import DiscoveryService
from gateway.feedback import Feedback
from gateway.health.heartbeat import HeartbeatService
from gateway.health.storage import StorageMonitor
from gateway.health.watchdog import WatchdogService
from gateway.logsetup import LoggingService
from gateway.remote.commands import CommandService
from gateway.remote.config_sync import ConfigSync
from gateway.web.service import TechnicianService

if TYPE_CHECKING:
    from gateway.app import Gateway
    from gateway.config import Config


@runtime_checkable
class Service(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@runtime_checkable
class Reconfigurable(Protocol):
    async def reconfigure(self, config: Config) -> None:
        """Switch to a new, already validated config without a restart."""


def build_services(gw: Gateway) -> list[Service]:
    """The services of a gateway, in start order."""
    services: list[Service] = []
    services.append(LoggingService(gw))  # secrets masked in logs; log_level follows config changes
    services.append(Feedback(gw.config.feedback))  # LED / buzzer / voice; the alarm lifecycle signals it
    services.append(AlarmService(gw))  # alarm lifecycle: sent, acknowledged, escalated, resolved
    services.append(StorageMonitor(gw))  # gateway.storage_degraded / storage_restored
    services.append(HeartbeatService(gw))  # gateway.heartbeat every [health] heartbeat_interval_s
    services.append(TechnicianService(gw))  # technician page: sign-in, install window, pairing, acceptance
    services.append(DiscoveryService(gw))  # mDNS: fbgw-<id>.local, _http._tcp
    services.append(ConfigSync(gw))  # platform desired config: validated, applied atomically, reported
    services.append(CommandService(gw))  # platform commands on cmd, results on cmd/result
    services.append(WatchdogService(gw))  # systemd READY/STATUS/WATCHDOG/STOPPING; last so READY means all up
    return services
