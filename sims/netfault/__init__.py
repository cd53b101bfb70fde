"""Real network faults between the gateway and its broker, for tests and ``bench.netfaults``.

``NetnsLink`` puts the gateway in a network namespace behind a veth pair whose far side can go dark (a black
hole: TCP half-open) and whose host names resolve through a hosts file the test controls; ``FaultProxy`` is a
TCP proxy on that path for latency, jitter, loss and a rate limit (this kernel has no ``tc netem``).
"""

from sims.netfault.netns import NetnsLink
from sims.netfault.proxy import FaultProxy, Impairment, ProxyStats

__all__ = ["FaultProxy", "Impairment", "NetnsLink", "ProxyStats"]
