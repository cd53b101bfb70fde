"""The composition root: builds the gateway from its config and owns every part's lifetime.

``async with Gateway(cfg) as gw:`` opens the registry and the outbox, connects the uplink, starts the services
(:mod:`gateway.services`, the wiring list; the local web server among them) and then the drivers, in the
background (a radio stack loads for seconds; readings and the web page do not wait for it); leaving the
block stops them in reverse order (intake first, uplink last, so queued events are committed before the
connection closes). Long-lived tasks run in one TaskGroup: a crashed task is seen, not lost.

Services never see this object: each gets a :class:`gateway.context.ServiceContext` and the ports it needs;
the gateway itself implements the ports that belong to the core (:class:`gateway.ports.CoreHealth`,
:class:`gateway.ports.Reconfigure`, :class:`gateway.ports.Restart`).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import sqlite3
from pathlib import Path
from types import MappingProxyType
from typing import Any

from core.atomic import make_dirs
from core.clock import Clock
from core.events import Event, EventDraft, Priority
from core.signal import Signal
from drivers.base import Driver, DriverConfigError, DriverContext, DriverHealth
from gateway import memory
from gateway.config import Config, UplinkSection
from gateway.context import ServiceContext
from gateway.intake import Intake
from gateway.outbox import Outbox, is_storage_fault
from gateway.ports import EXIT_RESTART, ReconfigureIncomplete, Undo
from gateway.registry import DeviceRegistry
from gateway.rules import RuleEngine
from gateway.services import Reconfigurable, Services, build_services
from gateway.storage_recovery import quarantine, recovery_report, salvage_outbox
from gateway.uplink import Uplink
from gateway.web.server import WebServer

log = logging.getLogger(__name__)

#: How often at most a ``gateway.data_dropped`` event summarises drops (drops in between are added up).
DROP_REPORT_INTERVAL_S = 10.0
RULES_TICK_S = 1.0
#: When the freed heap is first handed back after start-up (a radio's network is up by then), and how often after.
MEMORY_TRIM_FIRST_S = 10.0
MEMORY_TRIM_EVERY_S = 600.0


class Gateway:
    """One running gateway. See the module docstring."""

    def __init__(self, config: Config, *, clock: Clock | None = None) -> None:
        self.config = config
        self.id = config.gateway.id
        self.state_dir = Path(config.gateway.state_dir)
        self.clock = clock or Clock(assume_synced=config.clock.assume_synced)
        self.registry = DeviceRegistry(self.state_dir / "devices.json")
        self.outbox = self._new_outbox()
        self.rules = RuleEngine(config.rules, self.clock, self.state_dir, timezone=config.gateway.timezone)
        self.intake = Intake(self.id, self.clock, self.registry, self.rules, self.outbox)
        self.uplink = Uplink(config.uplink, self.id, self.outbox, self.registry)
        self.drivers: dict[str, Driver] = {}
        self.driver_errors: dict[str, str] = {}
        #: The services, by name, once started (tests and tools look at them; services never do).
        self.services: Services | None = None
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._stack = contextlib.AsyncExitStack()
        self._drops: dict[str, int] = {}
        self._drop_task: asyncio.Task[None] | None = None
        self._drivers_starting: asyncio.Task[None] | None = None
        #: The name of each driver once it has started (services look a driver up when it is there).
        self.driver_started: Signal[str] = Signal("driver_started")
        self.stopping = asyncio.Event()
        #: Process exit status for ``fbgw run`` (the restart command sets 75, EX_TEMPFAIL, for systemd).
        self.exit_code = 0
        #: Set once every enabled driver has started or failed to (the device list is complete from then on).
        self.drivers_loaded = asyncio.Event()
        #: Set once every part has started (the watchdog says READY=1 only then).
        self.started = asyncio.Event()

    # ------------------------------------------------------------------ lifetime

    async def __aenter__(self) -> Gateway:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stopping.set()
        await self._stack.aclose()

    async def _start(self) -> None:
        await asyncio.to_thread(make_dirs, self.state_dir)
        recovered = await self._open_registry()
        self._stack.callback(self.registry.close)
        recovered += await self._open_outbox()
        self._stack.push_async_callback(self.outbox.close)
        self.rules.restore_exact(self.outbox.saved_state)  # before any reading: what was committed with events

        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()
        self._stack.push_async_exit(self._exit_taskgroup)
        self.create_task(self.uplink.run(), name="uplink")
        self._stack.push_async_callback(self.uplink.close)

        self._stack.push_async_callback(self.rules.flush)  # after the drivers stop: the last rule state on disk
        self._stack.push_async_callback(self._stop_drivers)  # stopped after the services, as they start before
        self.create_task(self._tick_rules(), name="rules-tick")

        # What handles a reading (alarm lifecycle, second path...) and the web server start first: none needs a
        # driver to start (the modem is looked up when the second path first needs it), and every listener of
        # committed events is in place before the first reading. Then the drivers start side by side, each
        # imported off the event loop: a light one (sim, GPIO) takes readings while a radio stack (zigpy, bleak,
        # the Zigbee device library: seconds on a small board) is still loading. The services that need the
        # devices the drivers register (device list, remote config) start once every driver has started.
        self.services = build_services(self.service_context(), core=self)
        for service in self.services.before_drivers():
            await service.start()
            self._stack.push_async_callback(service.stop)
        self._drivers_starting = asyncio.create_task(self._start_drivers(), name="drivers-start")
        if recovered:
            await self.emit([EventDraft("gateway.storage_recovered", Priority.ALERT, None, r) for r in recovered])
        await self._drivers_starting
        for service in self.services.after_drivers():
            await service.start()
            self._stack.push_async_callback(service.stop)
        self.started.set()
        self.create_task(self._trim_memory(), name="memory-trim")
        log.info("gateway %s running (state %s)", self.id, self.state_dir)

    async def _open_registry(self) -> list[dict[str, Any]]:
        """Open the device registry; a corrupt one is moved aside and the gateway starts with none."""
        try:
            await asyncio.to_thread(self.registry.open)
            return []
        except (ValueError, OSError) as exc:  # json.JSONDecodeError is a ValueError
            moved = await asyncio.to_thread(quarantine, self.registry.path)
            self.registry = DeviceRegistry(self.registry.path)
            self.intake.registry = self.registry
            await asyncio.to_thread(self.registry.open)
            return [
                recovery_report(
                    "registry",
                    self.registry.path,
                    str(exc),
                    moved,
                    lost="paired devices must be re-added (transport drivers re-register what they can)",
                )
            ]

    def _new_outbox(self) -> Outbox:
        """The outbox in the state directory, with ``[outbox]``'s cap, TTLs, reserve, held-queue bound and retry."""
        outbox = Outbox(self.state_dir / "outbox.sqlite3", self.config.outbox)
        outbox.dropped.connect(self._dropped)
        return outbox

    async def _open_outbox(self) -> list[dict[str, Any]]:
        """Open the outbox; a corrupt one is moved aside, its readable rows salvaged into a fresh one.

        A card that is read-only or failing is not corruption: the outbox opens degraded by itself (alarms and
        alerts held in memory, the card retried) and nothing is moved aside. A corrupt file on a card that also
        refuses to let it be moved cannot be used or replaced: the outbox starts degraded without it, and it is
        moved aside at the first start after the card is repaired.
        """
        try:
            await self.outbox.open()
            return []
        except sqlite3.DatabaseError as exc:
            path = self.outbox.path
            try:
                moved = await asyncio.to_thread(quarantine, path)
            except OSError as refused:
                if not is_storage_fault(refused):
                    raise
                log.error("storage: %s is damaged (%s) and cannot be moved aside (%s)", path.name, exc, refused)
                self._replace_outbox()
                await self.outbox.open(unusable=refused)
                return []
            rows, salvage_error = await asyncio.to_thread(salvage_outbox, path.with_name(moved[0]))
            self._replace_outbox()
            await self.outbox.open()
            kept = await self.outbox.import_rows(rows)
            return [
                recovery_report("outbox", path, str(exc), moved, salvaged_events=kept, salvage_stopped_by=salvage_error)
            ]

    def _replace_outbox(self) -> None:
        """A new outbox object (one that failed to open cannot be opened again), wired where the old one was."""
        self.outbox = self._new_outbox()
        self.intake.outbox = self.outbox
        self.uplink.outbox = self.outbox

    async def _exit_taskgroup(self, *exc: object) -> bool | None:
        tg, self._tg = self._tg, None
        if tg is None:
            return None
        for task in self._tasks:  # by now everything has been told to stop; long-lived loops are cancelled
            task.cancel()
        await tg.__aexit__(*exc)  # type: ignore[arg-type]
        return None

    @property
    def web(self) -> WebServer:
        """The local HTTP server (its bound ``host`` and ``port``)."""
        assert self.services is not None, "gateway not started"
        return self.services.http

    def service_context(self) -> ServiceContext:
        """What every service may use (see :mod:`gateway.context`)."""
        return ServiceContext(
            gateway_id=self.id,
            state_dir=self.state_dir,
            clock=self.clock,
            config=lambda: self.config,
            registry=self.registry,
            intake=self.intake,
            rules=self.rules,
            outbox=self.outbox,
            uplink=self.uplink,
            drivers=MappingProxyType(self.drivers),
            driver_started=self.driver_started,
            drivers_loaded=self.drivers_loaded,
            started=self.started,
            driver_health=self.driver_health,
            emit=self.emit,
            supervise=self.create_task,
            committed=self.outbox.committed,
            delivered=self.uplink.delivered,
            pairing=self.intake.pairing_updates,
            status=self.status,
        )

    # ------------------------------------------------------------------ ports the core implements

    def core_tasks(self) -> dict[str, asyncio.Task[Any] | None]:
        """The tasks without which the gateway is not doing its job (:class:`gateway.ports.CoreHealth`)."""
        by_name = {t.get_name(): t for t in self._tasks}
        return {
            "outbox-writer": self.outbox.writer_task,
            "uplink": by_name.get("uplink"),
            "rules-tick": by_name.get("rules-tick"),
        }

    def probe_writer(self) -> asyncio.Future[None] | None:
        """A no-op on the outbox writer thread (:class:`gateway.ports.CoreHealth`)."""
        return self.outbox.probe_writer()

    def request_restart(self) -> None:
        """Stop as systemd does (SIGTERM: a clean shutdown), exiting with ``EXIT_RESTART`` (a Restart port)."""
        self.exit_code = EXIT_RESTART  # returned by `fbgw run` (see docs/remote.md)
        log.warning("restart requested; exiting with status %d", EXIT_RESTART)
        signal.raise_signal(signal.SIGTERM)

    def create_task(self, coro: Any, name: str) -> asyncio.Task[Any]:
        """Run a long-lived task under the gateway's supervision."""
        assert self._tg is not None, "gateway not started"
        task = self._tg.create_task(coro, name=name)
        self._tasks.append(task)
        return task

    # ------------------------------------------------------------------ drivers

    def _driver_context(self) -> DriverContext:
        return DriverContext(gateway_id=self.id, state_dir=self.state_dir, sink=self.intake, registry=self.registry)

    async def _start_drivers(self) -> None:
        """Every enabled driver, each on its own: a light one (sim, GPIO) is taking readings while a radio
        stack is still being imported (off the event loop, so the loop keeps serving meanwhile)."""
        enabled = [(name, section) for name, section in self.config.drivers.items() if section.get("enabled", False)]
        try:
            await asyncio.gather(*(self._start_driver(name, section) for name, section in enabled))
        finally:
            self.drivers_loaded.set()

    async def _start_driver(self, name: str, section: dict[str, Any]) -> None:
        try:
            module = await asyncio.to_thread(importlib.import_module, f"drivers.{name}")
            driver: Driver = module.create_driver(section, self._driver_context())
            await driver.start()
        except (DriverConfigError, ImportError, OSError) as exc:
            self.driver_errors[name] = str(exc)
            log.error("driver %s not started: %s", name, exc)
            return
        self.drivers[name] = driver
        log.info("driver %s started", name)
        self.driver_started.emit(name)

    async def _stop_drivers(self) -> None:
        if self._drivers_starting is not None:  # a start that failed half-way: let the drivers finish starting
            with contextlib.suppress(Exception):
                await self._drivers_starting
        for name, driver in reversed(list(self.drivers.items())):
            try:
                await driver.stop()
            except (OSError, RuntimeError) as exc:
                log.warning("driver %s did not stop cleanly: %s", name, exc)

    def driver_health(self) -> list[DriverHealth]:
        out = [d.health() for d in self.drivers.values()]
        out += [DriverHealth(name, "down", err) for name, err in self.driver_errors.items()]
        loading = [n for n in self.config.drivers if self.config.driver_enabled(n) and n not in self.drivers]
        out += [DriverHealth(n, "starting", "loading") for n in loading if n not in self.driver_errors]
        return out

    async def reconfigure(self, new: Config) -> Undo:
        """Switch to a new validated config: rules, every service that can reconfigure itself, the uplink (which
        decides itself whether the change needs a reconnect). :class:`gateway.ports.Reconfigure`.

        Returns what puts the old config back. If a step fails, everything is put back before the error is
        raised (each undo step is tried even if another fails; what could not be undone is logged and raised
        as :class:`ReconfigureIncomplete`).
        """
        old = self.config
        old_uplink = old.uplink  # not uplink.settings: a trial of pushed connection settings may be running
        try:
            await self._switch(new)
        except Exception as exc:  # any failure (a service's bug included) must put the old config back
            problems = await self._restore(old, old_uplink)
            if problems:
                raise ReconfigureIncomplete(problems) from exc
            raise

        async def undo() -> None:
            problems = await self._restore(old, old_uplink)
            if problems:
                raise ReconfigureIncomplete(problems)

        return undo

    def _reconfigurable(self) -> list[Reconfigurable]:
        services = self.services.in_start_order() if self.services is not None else []
        return [s for s in services if isinstance(s, Reconfigurable)]

    async def _switch(self, new: Config) -> None:
        self.config = new
        self.rules.reconfigure(new.rules)
        for service in self._reconfigurable():
            await service.reconfigure(new)
        self.uplink.apply_settings(new.uplink)

    async def _restore(self, old: Config, old_uplink: UplinkSection) -> list[str]:
        """Every part back on ``old``, one by one, so one that fails does not leave the others on the new."""
        problems: list[str] = []
        self.config = old
        try:
            self.rules.reconfigure(old.rules)
        except Exception as exc:  # report, and go on with the rest
            problems.append(f"rules: {exc}")
        for service in self._reconfigurable():
            try:
                await service.reconfigure(old)
            except Exception as exc:  # report, and go on with the rest
                problems.append(f"service {service.name}: {exc}")
        self.uplink.apply_settings(old_uplink)
        for problem in problems:
            log.error("reconfigure: could not go back: %s", problem)
        return problems

    async def _trim_memory(self) -> None:
        """Hand the heap freed by the start-up (imports, a radio's network start) back to the kernel, then do
        the same now and then: a long-running gateway's RSS stays what it uses (:mod:`gateway.memory`)."""
        await asyncio.sleep(MEMORY_TRIM_FIRST_S)
        while True:
            await asyncio.to_thread(memory.trim)
            await asyncio.sleep(MEMORY_TRIM_EVERY_S)

    async def _tick_rules(self) -> None:
        """Timed rules (inactivity, door left open...) are evaluated once a second."""
        while True:
            await asyncio.sleep(RULES_TICK_S)
            drafts = self.rules.tick()
            if drafts:
                try:
                    await self.intake.commit(drafts)
                except RuntimeError as exc:  # OutboxError: logged by the outbox; retried next tick by the rule
                    log.error("timed rule events not stored: %s", exc)

    # ------------------------------------------------------------------ events

    async def emit(self, drafts: list[EventDraft]) -> list[Event]:
        """Commit gateway-made events (heartbeat, acceptance, lifecycle steps)."""
        return await self.intake.commit(drafts)

    def _dropped(self, counts: dict[str, int]) -> None:
        for key, n in counts.items():
            self._drops[key] = self._drops.get(key, 0) + n
        log.warning("outbox dropped events: %s", counts)
        if self._drop_task is None or self._drop_task.done():
            self._drop_task = asyncio.get_running_loop().create_task(self._report_drops())

    async def _report_drops(self) -> None:
        """One ``gateway.data_dropped`` event per interval, with the counts since the last one."""
        await asyncio.sleep(0)  # let the commit that dropped finish first
        while self._drops:
            counts, self._drops = self._drops, {}
            draft = EventDraft(
                "gateway.data_dropped",
                Priority.ALERT,
                None,
                {"dropped": counts, "total": sum(counts.values()), "outbox": self.outbox.depth()},
            )
            try:
                await self.intake.commit([draft])
            except RuntimeError as exc:
                log.error("could not report dropped data: %s", exc)
                return
            await asyncio.sleep(DROP_REPORT_INTERVAL_S)

    def status(self) -> dict[str, Any]:
        """A snapshot for pages, the CLI and the heartbeat."""
        up = self.uplink.stats
        return {
            "gateway": self.id,
            "uplink": {
                "state": up.state,
                "broker": self.config.uplink.broker,
                "profile": self.uplink.profile.name,
                "endpoint": self.uplink.endpoint,
                "permanent_error": up.permanent_error,
                "connects": up.connects,
                "reconnects": up.reconnects,
                "stall_aborts": up.stall_aborts,
                "pacing_budget_bytes": up.pacing_budget_bytes,
                "last_error": up.last_error,
                "published_events": up.published_events,
                "inbound": self.uplink.inbound.counters(),
            },
            "outbox": self.outbox.depth(),
            "clock": {"synced": self.clock.synced(), "boot": self.clock.boot_id},
            "drivers": [
                {"transport": h.transport, "state": h.state, "detail": h.detail, "counters": h.counters}
                for h in self.driver_health()
            ],
            "devices": len(self.registry),
            "https": self.services.http.https_status() if self.services is not None else None,
            "hotspot": self.services.hotspot.status() if self.services is not None else None,
        }
