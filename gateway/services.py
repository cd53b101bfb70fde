"""The wiring list: which services the gateway runs, what each is handed, and the order they start in.

Each service is built from the :class:`gateway.context.ServiceContext` and the ports (:mod:`gateway.ports`) it
needs, never from the gateway or another service; this module (with :mod:`gateway.app`) is the only one that
imports service packages. Services start after the core (outbox, uplink) in the order of
:meth:`Services.in_start_order` and stop in reverse; the drivers start, in the background, between
:meth:`Services.before_drivers` and :meth:`Services.after_drivers`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from gateway.alarms.service import AlarmService
from gateway.care.service import CareService
from gateway.discovery import DiscoveryService
from gateway.failover.cellular import DriverCellular
from gateway.failover.service import SecondPath
from gateway.feedback import Feedback
from gateway.health.heartbeat import HeartbeatService
from gateway.health.log_level import LoggingService
from gateway.health.storage import StorageMonitor
from gateway.health.watchdog import WatchdogService
from gateway.hotspot import HotspotService
from gateway.inventory.service import Inventory
from gateway.ports import CoreHealth, Reconfigure, Restart
from gateway.power.service import PowerService
from gateway.remote.commands import CommandService
from gateway.remote.config_sync import ConfigSync
from gateway.testmode.service import TestModeService
from gateway.update.service import UpdateService
from gateway.web.server import WebServer
from gateway.web.service import TechnicianService

if TYPE_CHECKING:
    from gateway.config import Config
    from gateway.context import ServiceContext


@runtime_checkable
class Service(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@runtime_checkable
class Reconfigurable(Service, Protocol):
    async def reconfigure(self, config: Config) -> None:
        """Switch to a new, already validated config without a restart."""


class CorePorts(CoreHealth, Reconfigure, Restart, Protocol):
    """What the gateway's core offers to services (implemented by :class:`gateway.app.Gateway`)."""


#: The first service started once every driver has: the device list and the remote config need the devices the
#: drivers register, and an update is confirmed only once everything has started. The services before it (what
#: handles a reading, platform commands, the web server) start before the drivers.
AFTER_DRIVERS = "inventory"


@dataclass(frozen=True, slots=True)
class Services:
    """The running services, by name. Field order is start order; the drivers start before ``AFTER_DRIVERS``."""

    logging: LoggingService
    feedback: Feedback
    test_mode: TestModeService
    alarms: AlarmService
    second_path: SecondPath
    storage: StorageMonitor
    power: PowerService
    care: CareService
    heartbeat: HeartbeatService
    web: TechnicianService
    remote_commands: CommandService
    discovery: DiscoveryService  # before the web server: it advertises when the server says where it listens
    hotspot: HotspotService
    http: WebServer
    inventory: Inventory
    remote_config: ConfigSync
    update: UpdateService
    watchdog: WatchdogService

    def in_start_order(self) -> list[Service]:
        return [getattr(self, f.name) for f in fields(self)]

    def before_drivers(self) -> list[Service]:
        """What starts before the drivers (readings are handled, the web server answers)."""
        names = [f.name for f in fields(self)]
        return self.in_start_order()[: names.index(AFTER_DRIVERS)]

    def after_drivers(self) -> list[Service]:
        """What starts once every driver has started (or failed to)."""
        names = [f.name for f in fields(self)]
        return self.in_start_order()[names.index(AFTER_DRIVERS) :]


def build_services(ctx: ServiceContext, core: CorePorts) -> Services:
    """Build every service and hand each exactly what it uses."""
    feedback = Feedback(  # LED / buzzer / voice prompts; the alarm lifecycle signals it
        ctx.config().feedback,
        prompts_root=ctx.state_dir / "prompts",
        report=ctx.emit,  # device.speaker_fault
        local_now=lambda: datetime.now(ZoneInfo(ctx.config().gateway.timezone)),
    )
    test_mode = TestModeService(ctx)  # installation test mode: test-flagged events, no escalation, ends by itself
    alarms = AlarmService(ctx, feedback)  # alarm lifecycle: sent, acknowledged, escalated, resolved
    web = TechnicianService(ctx, test_mode)  # technician page: sign-in, install window, pairing, acceptance
    http = WebServer(ctx, web)  # the local HTTP server: core API, and the technician page's routes
    # The modem driver, looked up when the second path needs it (drivers start after the services).
    cellular = DriverCellular(ctx.drivers, ctx.driver_started) if ctx.config().driver_enabled("modem") else None
    return Services(
        logging=LoggingService(ctx),  # secrets masked in logs; log_level follows config changes
        feedback=feedback,
        test_mode=test_mode,
        alarms=alarms,
        second_path=SecondPath(ctx, alarms, cellular, test_mode),  # SMS and calls when the platform cannot be reached
        storage=StorageMonitor(ctx),  # gateway.storage_degraded / storage_restored
        care=CareService(ctx, feedback),  # reminders, check-in, caregiver visits, daily activity summary
        power=PowerService(ctx),  # power.mains_lost/restored, battery_low, shutdown (UPower); power.downtime
        heartbeat=HeartbeatService(ctx),  # gateway.heartbeat every [health] heartbeat_interval_s
        inventory=Inventory(ctx),  # device.* events; retained device list and availability
        web=web,
        discovery=DiscoveryService(ctx, window=web, http=http),  # mDNS while the install window is open
        hotspot=HotspotService(ctx, window=web),  # Wi-Fi access point for the install window (no LAN)
        remote_config=ConfigSync(
            ctx, reconfigure=core, counties=web
        ),  # desired config: validated, applied atomically, reported
        remote_commands=CommandService(
            ctx, alarms=alarms, window=web, codes=web, restart=core, test_mode=test_mode, packs=feedback
        ),  # cmd, cmd/result
        update=UpdateService(ctx, restart=core),  # after a signed update: confirm the new version or roll back
        http=http,
        watchdog=WatchdogService(ctx, core),  # systemd READY/STATUS/WATCHDOG/STOPPING; last so READY means all up
    )
