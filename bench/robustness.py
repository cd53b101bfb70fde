"""``python -m bench --netfaults --soak``: the network-fault scenarios (:mod:`bench.netfaults`, needs root) and
the soak's figures (:mod:`bench.soak`: the last ``scripts/soak`` report, or a 2-minute soak)."""

from __future__ import annotations

import logging

from bench import netfaults as nf
from bench import soak as sk


async def robustness(*, netfaults: bool, soak: bool) -> int:
    for name in ("aiomqtt", "mqtt"):  # the platform subscriber's reconnects during faults are expected
        logging.getLogger(name).setLevel(logging.CRITICAL)
    if netfaults:
        print(nf.summary(await nf.run(list(nf.SCENARIOS), hole_s=30.0, rate=32_000)))
    if soak:
        print(await sk.for_bench())
    return 0
