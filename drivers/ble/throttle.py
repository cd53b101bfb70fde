"""How often steady telemetry is passed on.

BTHome sensors repeat their battery level in every advert and a mattress notifies vitals every second;
each reading of those becomes a platform event. Battery is reported when it changes or after
``battery_every_s``; heart and breath rate at most every ``vitals_every_s``. Everything else passes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

Policy = tuple[Literal["on_change", "interval"], float]


class ReportFilter:
    """Decides per (device, capability) whether a reading goes out now.

    Args:
        policies: capability -> ("on_change", s): changes always, repeats after s seconds; or
            ("interval", s): at most once per s seconds.
    """

    def __init__(self, policies: Mapping[str, Policy]) -> None:
        self.policies = dict(policies)
        self._last: dict[tuple[str, str], tuple[float, Any]] = {}

    def allow(self, device_id: str, capability: str, value: Any, now: float) -> bool:
        policy = self.policies.get(capability)
        if policy is None:
            return True
        mode, every = policy
        key = (device_id, capability)
        last = self._last.get(key)
        ok = last is None or now - last[0] >= every or (mode == "on_change" and value != last[1])
        if ok:
            self._last[key] = (now, value)
        return ok

    def forget(self, device_id: str) -> None:
        for key in [k for k in self._last if k[0] == device_id]:
            del self._last[key]
