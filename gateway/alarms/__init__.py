"""The alarm lifecycle service: raised -> sent -> acknowledged -> resolved, with escalation (docs/alarm-lifecycle.md).

:mod:`gateway.rules.alarm_book` decides (plain code, owned and persisted by the rule engine);
:mod:`gateway.alarms.service` connects it to the outbox, the uplink, the platform's acknowledgements and local
feedback.
"""
