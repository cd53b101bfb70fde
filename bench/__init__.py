"""Benchmarks: `python -m bench` prints the figures the gateway is held to."""
