"""Power: mains and battery through UPower, an orderly shutdown before the battery runs out, and the downtime
reported after a power cut."""
