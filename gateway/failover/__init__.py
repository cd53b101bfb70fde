"""The second alarm path: when the platform cannot be reached, an alarm still reaches a person by SMS and call.

:mod:`messages` writes the SMS, :mod:`replies` reads the answers, :mod:`ledger` remembers what was sent (so a
restart sends nothing twice and forgets nothing), :mod:`budget` keeps the counts, and :mod:`service` decides
when, from the alarm lifecycle's events and the uplink's PUBACKs. The modem is reached through the
:class:`gateway.ports.Cellular` port (the ``modem`` driver implements it).
"""
