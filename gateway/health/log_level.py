"""The ``logging`` service: keeps logging in step with the running config (secrets to mask, the log level), and
writes out the summaries of collapsed warnings (:class:`gateway.logsetup.CollapsingHandler`) as their window ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from core.secrets import add_secret
from gateway.logsetup import SUMMARY_CHECK_S, flush_collapsed, register_config_secrets, set_level

if TYPE_CHECKING:
    from gateway.config import Config
    from gateway.context import ServiceContext


class LoggingService:
    """Keeps logging in step with the gateway: registers its secrets, applies a new ``log_level`` at once."""

    name = "logging"

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.level = self.ctx.config().log_level
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        register_config_secrets(self.ctx.config())
        for device in self.ctx.registry:
            add_secret(device.secret)
        self._task = self.ctx.supervise(self._summaries(), name="log-summaries")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        flush_collapsed()

    async def _summaries(self) -> None:
        while True:
            await asyncio.sleep(SUMMARY_CHECK_S)
            flush_collapsed()

    async def reconfigure(self, config: Config) -> None:
        register_config_secrets(config)
        if config.log_level != self.level:
            self.level = config.log_level
            set_level(config.log_level)
            logging.getLogger(__name__).warning("log level is now %s", config.log_level)
