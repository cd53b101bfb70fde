"""A/B installation slots for signed updates: where an update is fetched, how it becomes the inactive slot, and the
small state file that lets the next boot confirm it or roll it back.

Layout under the slots root (``[remote] update_root``, ``/opt/fbgw`` on a box):
``slots/a`` and ``slots/b`` are virtualenvs, ``current`` a symlink to one of them (the unit runs
``current/bin/fbgw``). An update package is the same ``.deb`` that ``scripts/package`` builds: its
``opt/fbgw/slots/a`` tree is extracted into the inactive slot and re-pointed at that slot's path. Plain code, no
service: :mod:`gateway.remote.actions` installs, :mod:`gateway.update` confirms or rolls back after the restart.
"""
