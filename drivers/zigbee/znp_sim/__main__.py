"""``python -m drivers.zigbee.znp_sim`` still starts the simulator, which now lives in ``sims.znp``."""

import runpy

runpy.run_module("sims.znp", run_name="__main__", alter_sys=True)
