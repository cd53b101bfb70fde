"""The home's device list for the platform: ``device.*`` lifecycle events and retained device topics."""
