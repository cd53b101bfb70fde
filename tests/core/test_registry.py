"""The paired-device registry when the card refuses a write."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from core.devices import Device
from gateway.registry import DeviceRegistry


def _refuse() -> None:
    raise OSError(errno.EROFS, "Read-only file system")


async def test_a_device_from_config_is_kept_in_memory_when_the_card_refuses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = DeviceRegistry(tmp_path / "devices.json")
    reg.open()
    monkeypatch.setattr(reg, "_persist", _refuse)
    cord = Device(id="gpio-cord", type="pull_cord", transport="gpio", capabilities=["press", "release"])
    await reg.upsert(cord, must_persist=False)  # a driver at start: the pull cord must still work
    assert reg.get("gpio-cord") is cord and reg.unsaved == 1
    await reg.update("gpio-cord", must_persist=False, room="bathroom")
    assert reg.get("gpio-cord").room == "bathroom" and reg.unsaved == 2  # type: ignore[union-attr]
    with pytest.raises(OSError):  # a technician's pairing is told it was not saved, and it did not happen
        await reg.upsert(Device(id="ble-btn", type="call_button", transport="ble"))
    assert reg.get("ble-btn") is None
    with pytest.raises(OSError):
        await reg.update("gpio-cord", name="x")
    assert reg.get("gpio-cord").name == ""  # type: ignore[union-attr]
    monkeypatch.undo()
    await reg.update("gpio-cord", name="卫生间拉绳")  # the card works again: everything in memory is written
    reg.close()
    again = DeviceRegistry(tmp_path / "devices.json")
    again.open()
    saved = again.get("gpio-cord")
    assert saved is not None and saved.room == "bathroom" and saved.name == "卫生间拉绳"
    assert again.get("ble-btn") is None
    again.close()
