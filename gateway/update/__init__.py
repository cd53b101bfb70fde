"""Service ``update``: after a signed update switched slots, confirm the new version or roll it back."""
