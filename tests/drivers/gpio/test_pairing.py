"""Adding configured lines from the page (pairing candidates, adopt) and removing them, across restarts."""

from __future__ import annotations

import asyncio
import errno
import json

import pytest

import drivers.gpio.pairing
from drivers.base import DriverConfigError
from drivers.gpio import create_driver
from drivers.gpio.lines import LineError
from tests.drivers.gpio.conftest import CHIP, Rig, cord

pytestmark = pytest.mark.timeout(20)

SPARE = f"{CHIP}:5"


def spare(**overrides: object) -> dict[str, object]:
    """A call button on a spare terminal of the harness, added only when a technician picks it."""
    return cord("spare", 5, kind="call_button", room="", contact="no", pairing="manual", **overrides)


def requested(rig: Rig, line: int) -> int:
    return sum(1 for chip, ln, _ in rig.lines.requests if (chip, ln) == (CHIP, str(line)))


async def test_manual_line_is_offered_then_added_with_name_and_room_and_works(rig: Rig) -> None:
    rig.lines.add(CHIP, 17, level=True)
    pipe = rig.lines.add(CHIP, 5, level=False)
    driver = rig.build([cord(), spare()])
    await driver.start()
    assert rig.registry.get("gpio-spare") is None and requested(rig, 5) == 0  # the line is left free
    assert driver.health().state == "up" and "1 line(s) not added" in driver.health().detail

    await driver.start_pairing(30)
    stages = [(p.stage, p.info.get("address")) for p in rig.sink.pairings]
    assert stages == [("open", None), ("candidate", SPARE)]  # the added cord is not offered
    info = rig.sink.pairings[1].info
    assert (info["kind"], info["line"], info["chip"], info["needs_bindkey"]) == ("call_button", "5", CHIP, False)

    dev = await driver.adopt(SPARE, {"type": "call_button", "name": "床头按钮", "room": "bedroom"})
    assert (dev.id, dev.name, dev.room, dev.type) == ("gpio-spare", "床头按钮", "bedroom", "call_button")
    assert rig.registry.get("gpio-spare") == dev and requested(rig, 5) == 1
    ready = rig.sink.pairings[-1]
    assert (ready.stage, ready.device, ready.info["address"]) == ("ready", "gpio-spare", SPARE)
    assert "not added" not in driver.health().detail

    pipe.edge(True)  # the technician presses it
    await rig.sink.wait_for(lambda s: len(s.of("press", "gpio-spare")) == 1)

    await driver.stop()  # a restart: the added line is added again at start, with the technician's name
    again = rig.build([cord(), spare()])
    await again.start()
    assert requested(rig, 5) == 2
    restarted = rig.registry.get("gpio-spare")
    assert restarted is not None and (restarted.name, restarted.room) == ("床头按钮", "bedroom")


async def test_adopt_refuses_what_cannot_be_added(rig: Rig) -> None:
    rig.lines.add(CHIP, 17, level=True)
    rig.lines.add(CHIP, 5, level=False)
    driver = rig.build([cord(), spare()])
    await driver.start()
    cases = [
        ("/dev/gpiochip-fake0:99", {}, f"lines that can be added: {SPARE}"),
        (f"{CHIP}:17", {}, "already added as gpio-cord"),
        (SPARE, {"type": "door"}, "type is call_button, not door"),
        (SPARE, {"type": "call_button", "secret": "0" * 32}, "no bindkey"),
    ]
    for address, options, words in cases:
        with pytest.raises(DriverConfigError, match=words):
            await driver.adopt(address, options)
    assert rig.registry.get("gpio-spare") is None and requested(rig, 5) == 0
    dev = await driver.adopt("spare", {})  # by the input's name; name and room default to the config
    assert (dev.name, dev.room) == ("spare", "")


async def test_a_busy_line_is_not_added_and_stays_on_offer(rig: Rig) -> None:
    rig.lines.add(CHIP, 5, level=False)
    busy = LineError(errno.EBUSY, f"gpio input 'spare' ({CHIP} line 5): line is busy (used by 'other')")
    rig.lines.failures[(CHIP, "5")] = busy
    driver = rig.build([spare()])
    await driver.start()
    with pytest.raises(LineError, match="line is busy"):
        await driver.adopt(SPARE, {"name": "x"})
    assert rig.registry.get("gpio-spare") is None
    assert driver.health().state == "up"  # a line nobody added is not a fault
    assert not (rig.ctx.state_dir / "gpio" / "inputs.json").exists()
    rig.sink.pairings.clear()
    await driver.start_pairing(30)
    assert [p.stage for p in rig.sink.pairings] == ["open", "candidate"]


async def test_remove_frees_the_line_and_survives_a_restart_until_added_again(rig: Rig) -> None:
    pipe = rig.lines.add(CHIP, 17, level=True)
    driver = rig.build([cord()])
    await driver.start()
    await driver.remove("gpio-cord")
    assert pipe.closed and rig.registry.get("gpio-cord") is None
    assert driver.channel("cord") is None and driver.health().state == "up"
    saved = json.loads((rig.ctx.state_dir / "gpio" / "inputs.json").read_text())
    assert saved == {"added": {"cord": False}}

    await driver.stop()
    again = rig.build([cord()])
    await again.start()
    assert rig.registry.get("gpio-cord") is None
    assert requested(rig, 17) == 1  # the line stays free
    await again.start_pairing(30)
    assert rig.sink.pairings[-1].info["address"] == f"{CHIP}:17"
    await again.adopt(f"{CHIP}:17", {"name": "卫生间拉绳", "room": "bathroom"})
    assert requested(rig, 17) == 2 and rig.registry.get("gpio-cord") is not None
    fresh = rig.lines.lines[(CHIP, "17")]
    fresh.edge(False)  # pulled
    await rig.sink.wait_for(lambda s: len(s.of("press", "gpio-cord")) == 1)


async def test_a_removal_cut_short_by_a_crash_does_not_bring_the_device_back(rig: Rig) -> None:
    rig.lines.add(CHIP, 17, level=True)
    driver = rig.build([cord()])
    await driver.start()
    await driver.stop()
    path = rig.ctx.state_dir / "gpio" / "inputs.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"added": {"cord": False}}))  # written, then power lost before the registry
    again = rig.build([cord()])
    await again.start()
    assert rig.registry.get("gpio-cord") is None and requested(rig, 17) == 1


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"added": 3}', "\udcff"])
async def test_a_damaged_state_file_lets_every_input_follow_its_config(rig: Rig, content: str) -> None:
    rig.lines.add(CHIP, 17, level=True)
    path = rig.ctx.state_dir / "gpio" / "inputs.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    driver = rig.build([cord()])
    await driver.start()
    assert rig.registry.get("gpio-cord") is not None and requested(rig, 17) == 1


async def test_the_install_button_cannot_be_removed_or_left_to_manual_pairing(rig: Rig) -> None:
    rig.lines.add(CHIP, 6, level=False)
    button = cord("install", 6, kind="install_button", contact="no")
    driver = rig.build([button])
    await driver.start()
    with pytest.raises(DriverConfigError, match="installer's button"):
        await driver.remove("gpio-install")
    assert rig.registry.get("gpio-install") is not None and driver.channel("install") is not None
    with pytest.raises(DriverConfigError, match="pairing must be auto"):
        create_driver({"inputs": [{**button, "pairing": "manual"}]}, rig.ctx)


async def test_pairing_offers_lines_again_while_open_then_closes(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drivers.gpio.pairing, "ANNOUNCE_S", 0.05)
    rig.lines.add(CHIP, 5, level=False)
    driver = rig.build([spare()])
    await driver.start()
    await driver.start_pairing(1)
    await asyncio.sleep(0.3)
    assert [p.stage for p in rig.sink.pairings].count("candidate") >= 3  # the page forgets stale candidates
    await asyncio.sleep(1.0)
    assert rig.sink.pairings[-1].stage == "closed"
    rig.sink.pairings.clear()
    await driver.start_pairing(60)
    await driver.stop_pairing()
    assert [p.stage for p in rig.sink.pairings] == ["open", "candidate", "closed"]
