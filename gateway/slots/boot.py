"""The boot-time half of an update, run by ``fbgw run`` before anything else starts: count the new version's
starts while it is on trial and return to the previous slot when it crash-loops."""

from __future__ import annotations

import logging
from pathlib import Path

from gateway.slots import state as update_state
from gateway.slots.layout import Layout

log = logging.getLogger(__name__)


def boot_check(state_dir: Path, root: Path, max_boots: int) -> bool:
    """True if this start rolled back (the caller exits for systemd to start the previous slot)."""
    st = update_state.load(state_dir)
    if st is None or st.phase != "trial":
        return False
    layout = Layout(root)
    if layout.current() != st.to_slot:
        # Killed between writing the state and switching, or the package was reinstalled: nothing to try.
        st.phase, st.reason = "rolled_back", "interrupted before the switch"
        update_state.save(state_dir, st)
        return False
    st.boots += 1
    if st.boots > max_boots:
        log.error(
            "update to %s: %d starts without passing its check; back to slot %s",
            st.to_version,
            st.boots - 1,
            st.from_slot,
        )
        layout.switch(st.from_slot)
        st.phase, st.reason = "rolled_back", f"crash loop ({st.boots - 1} starts)"
        update_state.save(state_dir, st)
        return True
    update_state.save(state_dir, st)
    return False
