"""``needs_readoption``: a driver's word that a device is deaf until adopted again becomes an alert at once."""

from __future__ import annotations

from pathlib import Path

from core.events import Priority
from core.vocabulary import ANY_DEVICE_CAPABILITIES, VALUE_CHECKS
from tests.rules.support import Harness


def test_needs_readoption_is_an_alert_each_time_the_driver_says_so(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    first = h.read("btn-1", "needs_readoption", True, reason="encryption counter restarted")
    assert [(d.kind, d.priority) for d in first] == [("device.needs_readoption", Priority.ALERT)]
    assert first[0].data["reason"] == "encryption counter restarted"
    assert first[0].device is not None and first[0].device.id == "btn-1"
    # the driver says it once per restart; a second restart (after re-adoption) is a new alert
    assert [d.kind for d in h.read("btn-1", "needs_readoption", True)] == ["device.needs_readoption"]


def test_any_device_may_report_it() -> None:
    assert "needs_readoption" in ANY_DEVICE_CAPABILITIES
    assert VALUE_CHECKS["needs_readoption"](True) and not VALUE_CHECKS["needs_readoption"](False)
