"""MT commands the simulated coordinator understands, one module per MT subsystem."""

from sims.znp.commands import af, app_config, sys, util, zdo  # noqa: F401 - registers handlers
from sims.znp.commands.registry import TABLE, Handler

__all__ = ["TABLE", "Handler"]
