"""MT commands the simulated coordinator understands, one module per MT subsystem."""

from drivers.zigbee.znp_sim.commands import af, app_config, sys, util, zdo  # noqa: F401 - registers handlers
from drivers.zigbee.znp_sim.commands.registry import TABLE, Handler

__all__ = ["TABLE", "Handler"]
