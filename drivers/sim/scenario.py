"""The demo scenario: an ordinary morning in a simulated home, with an emergency in the middle, a caregiver's
visit (badge seen from 32 s to 40 s) and the medicine reminder acknowledged with the care button at 70 s.

A table of steps; the driver plays them in time order. Device ids refer to ``config/demo.toml``.
"""

from __future__ import annotations

from drivers.sim.config import SimStep

DEMO_STEPS: list[SimStep] = [
    SimStep(at_s=1, device="bed", capability="in_bed", value=False, note="grandmother gets up"),
    SimStep(at_s=2, device="pir-bedroom", capability="motion", value=True),
    SimStep(at_s=4, device="pir-living", capability="motion", value=True),
    SimStep(at_s=6, device="door-front", capability="contact", value="open", note="front door opened"),
    SimStep(at_s=9, device="door-front", capability="contact", value="closed"),
    SimStep(at_s=11, device="cord-bathroom", capability="press", value=True, note="pull cord in the bathroom!"),
    SimStep(at_s=14, device="leak-kitchen", capability="leak", value=True, note="kitchen tap left running"),
    SimStep(at_s=18, device="leak-kitchen", capability="leak", value=False),
    SimStep(at_s=20, device="btn-bedroom", capability="battery", value=15, note="call button battery low"),
    SimStep(at_s=23, device="bed", capability="in_bed", value=True, note="back to bed"),
    SimStep(at_s=25, device="smoke-kitchen", capability="smoke", value=True, note="smoke in the kitchen!"),
    SimStep(at_s=28, device="smoke-kitchen", capability="smoke", value=False),
    SimStep(at_s=30, device="btn-living", capability="press", value=True, note="call button in the living room"),
    SimStep(at_s=32, device="badge-caregiver", capability="beacon", value=True, note="the caregiver arrives"),
    SimStep(at_s=36, device="badge-caregiver", capability="beacon", value=True),
    SimStep(at_s=40, device="badge-caregiver", capability="beacon", value=True),
    SimStep(at_s=70, device="care-btn", capability="checkin", value=True, note="medicine taken: care button"),
]
