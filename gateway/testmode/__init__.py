"""Installation test mode: a technician's test presses reach the platform flagged as tests and call nobody out."""
