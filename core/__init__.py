"""The shared vocabulary of the gateway: every other package may import it; it imports nothing of ours.

``vocabulary`` (capabilities, device types, value checks), ``devices`` (``Device``, ``DeviceRef``), ``events``
(``Event``, ``EventDraft``, ``Priority``), ``clock``, ``atomic`` (crash-safe file writes), ``secrets`` (the log
redactor) and ``signal`` (``Signal[T]``, the one way to subscribe to news).
"""
