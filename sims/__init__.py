"""Simulators of the hardware around the gateway, for the demo, the tests and the simulated HIL rig.

``sims.znp`` is a TI Z-Stack (ZNP) coordinator on a pseudo-terminal; ``sims.bluez`` a mocked BlueZ on a private
D-Bus; ``sims.netfault`` a broken WAN (a network namespace behind a veth that can go dark, a TCP proxy for
latency, loss and a slow link). The product (``core``, ``drivers``, ``gateway``) never imports this package;
the demo and tools do.
"""
