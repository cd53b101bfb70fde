"""Rules: readings in, event drafts out.

:class:`RuleEngine` is what the gateway calls; it runs the rule set built from ``[rules]``
(:mod:`~gateway.rules.settings`, defaults in ``config/rules.md``). One module per rule, all plain code with
injected time, so they are tested in milliseconds:

- :mod:`~gateway.rules.immediate` — the capability → event table (calls, smoke, gas, leak, wet pad, tamper);
- :mod:`~gateway.rules.inactivity` — no activity for too long inside the day windows;
- :mod:`~gateway.rules.door_open` — door left open; door opened at night;
- :mod:`~gateway.rules.bed_exit` — out of bed at night and not back;
- :mod:`~gateway.rules.vitals` — heart/breathing rate out of range, no breathing;
- :mod:`~gateway.rules.device_health` — offline/online, silent devices;
- :mod:`~gateway.rules.windows` (local time, windows), :mod:`~gateway.rules.state` (saved state).

Alarm drafts go through the alarm book (:mod:`gateway.rules.alarm_book`) for the lifecycle.
"""

from gateway.rules.engine import RuleEngine
from gateway.rules.immediate import READING_EVENTS, VALUE_CHECKS, ImmediateRules

__all__ = ["READING_EVENTS", "VALUE_CHECKS", "ImmediateRules", "RuleEngine"]
