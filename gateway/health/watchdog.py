"""systemd integration: READY / STATUS / WATCHDOG / STOPPING over ``$NOTIFY_SOCKET``.

The unit is ``Type=notify`` with ``WatchdogSec``. A watchdog pinged by a timer in a side thread
proves nothing; this one pings from the event loop, and only while the parts that carry alarms are alive:
the loop itself (a blocked loop cannot run the ping), the outbox writer task and its thread, the uplink
task and the rule ticker. When a core task has died the gateway cannot heal itself, so it also asks
systemd to act at once (``WATCHDOG=trigger``) instead of waiting out the full watchdog period.

The client is a few lines over an AF_UNIX datagram socket (the protocol is one datagram of
``KEY=value`` lines), so there is no dependency on libsystemd.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.context import ServiceContext
    from gateway.ports import CoreHealth

log = logging.getLogger(__name__)


class SdNotifier:
    """Sends state strings to systemd's notify socket. Never blocks, never raises on a send failure."""

    def __init__(self, address: str) -> None:
        if not address or address[0] not in "/@":
            raise ValueError(f"NOTIFY_SOCKET must be a path or an @abstract name, got {address!r}")
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._sock.setblocking(False)
        self.sent = 0
        self.failed = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SdNotifier | None:
        """A notifier if this process was started by systemd with a notify socket, else None."""
        address = (os.environ if env is None else env).get("NOTIFY_SOCKET", "")
        if not address:
            return None
        try:
            return cls(address)
        except ValueError as exc:
            log.warning("systemd notify disabled: %s", exc)
            return None

    def notify(self, *fields: str) -> bool:
        """Send ``fields`` (e.g. "READY=1", "STATUS=...") as one datagram; False if it could not be sent."""
        message = "\n".join(f.replace("\n", " ") for f in fields).encode()
        try:
            self._sock.sendto(message, self.address)
        except OSError as exc:  # socket gone or full: systemd will notice the silence, that is the point
            self.failed += 1
            log.debug("sd_notify %r failed: %s", fields, exc)
            return False
        self.sent += 1
        return True

    def close(self) -> None:
        self._sock.close()


def watchdog_interval(env: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """Seconds between pings (half of ``$WATCHDOG_USEC``), or None if systemd does not expect any."""
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC", "")
    want_pid = env.get("WATCHDOG_PID", "")
    if want_pid and want_pid.isdigit() and int(want_pid) != (os.getpid() if pid is None else pid):
        return None  # meant for another process (e.g. a wrapper); not ours to answer
    if not usec.isdigit() or int(usec) == 0:
        return None
    return int(usec) / 2 / 1_000_000


class WriterProbe:
    """Checks that the outbox writer thread still takes work (not wedged in a write that never returns)."""

    def __init__(self, core: CoreHealth, timeout_s: float) -> None:
        self.core = core
        self.timeout_s = timeout_s
        self._pending: asyncio.Future[None] | None = None
        self._since = 0.0

    def problem(self) -> str | None:
        """None if healthy; starts a new probe when the last one has finished."""
        now = time.monotonic()
        if self._pending is not None and not self._pending.done():
            return "outbox-writer-stalled" if now - self._since > self.timeout_s else None
        failed = self._pending is not None and self._pending.exception() is not None
        self._pending = None
        if failed:
            return "outbox-writer-thread"
        self._pending = self.core.probe_writer()
        if self._pending is None:  # the writer has been shut down
            return "outbox-writer-thread"
        self._since = now
        return None


class WatchdogService:
    """Says READY once the gateway runs, pings while it is healthy, says STOPPING on the way out."""

    name = "watchdog"

    def __init__(
        self,
        ctx: ServiceContext,
        core: CoreHealth,
        notifier: SdNotifier | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.ctx = ctx
        self.core = core
        self.settings = ctx.config().health
        self.notifier = notifier if notifier is not None else SdNotifier.from_env(env)
        self.interval = watchdog_interval(env) if self.settings.watchdog else None
        self.probe = WriterProbe(core, self.settings.watchdog_probe_timeout_s)
        self.pings = 0
        self.problems: list[str] = []
        self._triggered = False
        self._status = ""
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.notifier is None:
            return
        self._task = self.ctx.supervise(self._run(), name="watchdog")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.notifier is not None:
            self.notifier.notify("STOPPING=1", "STATUS=stopping: committing and closing the uplink")
            self.notifier.close()

    async def _wait_started(self) -> None:
        """Until the whole gateway (web server included) has started."""
        await self.core.started.wait()

    async def _run(self) -> None:
        assert self.notifier is not None
        await self._wait_started()
        self.notifier.notify("READY=1", f"STATUS={self.status_line()}", f"MAINPID={os.getpid()}")
        log.info("systemd: ready%s", f", watchdog every {self.interval:.1f}s" if self.interval else "")
        period = self.interval or 10.0  # without a watchdog, still keep STATUS fresh
        while True:
            self.tick()
            await asyncio.sleep(period)

    def check(self) -> list[str]:
        """Names of core parts that are not healthy right now (empty: healthy)."""
        problems = [name for name, task in self.core.core_tasks().items() if task is None or task.done()]
        writer = self.probe.problem()
        if writer:
            problems.append(writer)
        return problems

    def tick(self) -> None:
        """One watchdog round: check, then ping (healthy) or stay silent (not)."""
        assert self.notifier is not None
        problems = self.check()
        if problems != self.problems:
            if problems:
                log.error(
                    "watchdog: not healthy (%s): no more pings, systemd will restart the gateway",
                    ", ".join(problems),
                )
            else:
                log.info("watchdog: healthy again")
            self.problems = problems
        if problems:
            self._send_status(f"unhealthy: {', '.join(problems)}")
            dead = [p for p in problems if not p.startswith("outbox-writer-stalled")]
            if dead and self.interval and not self._triggered:
                self._triggered = True
                self.notifier.notify("WATCHDOG=trigger")
            return
        if self.interval and self.notifier.notify("WATCHDOG=1"):
            self.pings += 1
        self._send_status(self.status_line())

    def _send_status(self, text: str) -> None:
        assert self.notifier is not None
        if text != self._status:
            self._status = text
            self.notifier.notify(f"STATUS={text}")

    def status_line(self) -> str:
        """One line for ``systemctl status``: uplink, backlog, devices."""
        status = self.ctx.status()
        depth = status["outbox"]
        line = (
            f"uplink {status['uplink']['state']}, outbox {depth['rows']} events "
            f"({depth['alarms']} alarms), {status['devices']} devices"
        )
        if depth.get("storage_fault"):
            line += f", storage {depth['storage_fault']}: {depth.get('held')} events held in memory only"
        return line
