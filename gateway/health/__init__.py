"""Running unattended: heartbeat, watchdog, storage health."""
