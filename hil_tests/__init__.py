"""Hardware-in-the-loop suite: the same end-to-end scenarios on any rig described by a TOML file."""
