"""Helpers shared by the test suites: a real Mosquitto, a subscriber that collects events, a gateway process."""
