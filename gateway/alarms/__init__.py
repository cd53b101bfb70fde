"""The alarm lifecycle: raised -> sent -> acknowledged -> resolved, with escalation (docs/alarm-lifecycle.md).

:mod:`gateway.alarms.book` decides (plain code, owned by the rule engine); :mod:`gateway.alarms.service`
connects it to the outbox, the uplink, the platform's acknowledgements and local feedback.
"""

# The rule engine owns the book and imports it; loading the rules first keeps that import order acyclic when
# this package is imported on its own.
import gateway.rules  # noqa: F401
