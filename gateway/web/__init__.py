"""The local HTTP server: the technician's page and the JSON API (aiohttp, same event loop as everything)."""
