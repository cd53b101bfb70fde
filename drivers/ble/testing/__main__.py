"""``python -m drivers.ble.testing`` still starts the simulator, which now lives in ``sims.bluez``."""

import runpy

runpy.run_module("sims.bluez", run_name="__main__", alter_sys=True)
