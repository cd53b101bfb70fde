"""Command replay: remembered ids and the floor survive restarts, and an unsynchronised clock replays nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.clock import Clock
from gateway.app import Gateway
from gateway.remote.commands import CommandService
from gateway.remote.store import RemoteStore
from gateway.tools.local_broker import Mosquitto
from tests.remote.platform import Platform, command_body
from tests.support.collector import Collector
from tests.support.gateway import make_config

pytestmark = pytest.mark.timeout(60)

HOUR_S = 3600


class SettableClock(Clock):
    """A wall clock the test can shift and declare synchronised or not (the Pi has no RTC)."""

    def __init__(self, *, synced: bool, offset_s: float = 0) -> None:
        super().__init__()
        self.is_synced = synced
        self.offset_ms = int(offset_s * 1000)

    def synced(self) -> bool:
        return self.is_synced

    def wall_ms(self) -> int:
        return super().wall_ms() + self.offset_ms


def commands_of(gw: Gateway) -> CommandService:
    service = gw.services.remote_commands
    assert isinstance(service, CommandService)
    return service


async def answer(p: Platform, body: dict[str, Any], n: int = 1) -> dict[str, Any]:
    await p.send(body)
    return await p.result(body["id"], n=n)


def window_is_open(gw: Gateway) -> bool:
    return bool(gw.services.web.window.is_open)  # type: ignore[union-attr]


async def test_forgotten_ids_are_refused_after_a_reboot_before_time_sync(broker: Mosquitto, tmp_path: Path) -> None:
    """An expired ``open_install_window`` that ran once, was forgotten on a synchronised clock, and is replayed
    after a reboot without NTP, is refused; so is a stale command never seen; a new command still runs."""
    cfg = make_config(tmp_path / "state", broker.url, web={"open_on_first_boot": False})
    async with Collector(broker.host, broker.port) as col:
        p = Platform(broker.host, broker.port, "gw-test", col)
        captured = p.command("open_install_window", {"seconds": 600}, cmd_id="captured-1", ttl_s=-HOUR_S)
        clock = SettableClock(synced=True, offset_s=-2 * HOUR_S)  # synchronised, two hours back: still valid
        async with Gateway(cfg, clock=clock) as gw:
            assert (await answer(p, captured))["status"] == "ok"
            assert window_is_open(gw)
            gw.services.web.close_install_window()  # type: ignore[union-attr]
            clock.offset_ms = 0  # time moves on: captured-1 has expired on a synchronised clock
            kept = p.command("ping", cmd_id="kept-1")
            assert (await answer(p, kept))["status"] == "ok"
            service = commands_of(gw)
            assert "captured-1" not in service.seen  # provably expired, so forgotten...
            assert service.memory.floor_ms > captured["expires_at"]  # ...and below the floor
        on_disk = json.loads(RemoteStore(tmp_path / "state").commands_path.read_bytes())
        assert set(on_disk["ids"]) == {"kept-1"} and on_disk["floor_ms"] > captured["expires_at"]

        async with Gateway(cfg, clock=SettableClock(synced=False)) as gw2:  # rebooted, no NTP yet
            replay = await answer(p, captured, n=2)
            assert (replay["status"], replay["reason"], replay["clock_synced"]) == ("rejected", "expired", False)
            assert not window_is_open(gw2)  # not run
            stale = await answer(p, p.command("open_install_window", cmd_id="never-seen", ttl_s=-600))
            assert (stale["status"], stale["reason"]) == ("rejected", "expired")
            again = await answer(p, kept, n=2)  # still remembered across the restart
            assert (again["status"], again["reason"]) == ("rejected", "duplicate")
            fresh = await answer(p, p.command("open_install_window", {"seconds": 60}))
            assert (fresh["status"], fresh["clock_synced"]) == ("ok", False)
            assert window_is_open(gw2)


async def test_unsynced_clock_keeps_every_id_it_cannot_prove_expired(broker: Mosquitto, tmp_path: Path) -> None:
    """A wall clock that says it is two days later, but is not synchronised, forgets nothing and raises no
    floor (which would refuse every command once the clock is right)."""
    cfg = make_config(tmp_path / "state", broker.url)
    async with Collector(broker.host, broker.port) as col:
        p = Platform(broker.host, broker.port, "gw-test", col)
        async with Gateway(cfg, clock=SettableClock(synced=False, offset_s=48 * HOUR_S)) as gw:
            first = p.command("ping", cmd_id="first")
            await answer(p, first)
            await answer(p, p.command("ping", cmd_id="second"))
            assert set(commands_of(gw).seen) == {"first", "second"}
            assert commands_of(gw).memory.floor_ms == 0
        async with Gateway(cfg):  # synchronised now: first is refused, and its id is still known
            dup = await answer(p, first, n=2)
            assert (dup["status"], dup["reason"]) == ("rejected", "duplicate")


async def test_a_full_memory_never_lets_a_forgotten_id_run_again(broker: Mosquitto, tmp_path: Path) -> None:
    """With more unexpired ids than ``remembered_commands``, the one expiring soonest is dropped, and it (and
    anything expiring no later) is refused from then on instead of running a second time."""
    cfg = make_config(tmp_path / "state", broker.url, remote={"remembered_commands": 10})
    async with Gateway(cfg) as gw:
        service = commands_of(gw)
        sim: Any = gw.drivers["sim"]
        join = {"seconds": 30}
        bodies = [command_body(gw.id, "permit_join", join, cmd_id=f"join-{i}", ttl_s=600 + i) for i in range(11)]
        for body in bodies:
            assert (await service.handle(json.dumps(body).encode()))["status"] == "ok"
        assert sim._pair_counter == 11
        assert "join-0" not in service.seen and len(service.seen) == 10
        replay = await service.handle(json.dumps(bodies[0]).encode())
        assert (replay["status"], replay["reason"]) == ("rejected", "expired")
        assert sim._pair_counter == 11  # not run twice
        newest = await service.handle(json.dumps(bodies[10]).encode())
        assert newest["reason"] == "duplicate"


async def test_a_command_whose_id_cannot_be_stored_does_not_run(broker: Mosquitto, tmp_path: Path) -> None:
    """Without its id on disk a command could run again after a restart: it is not run, except a read-only one
    (ping, self_test, upload_logs), so a full disk stays diagnosable."""
    cfg = make_config(tmp_path / "state", broker.url)
    async with Gateway(cfg) as gw:
        service = commands_of(gw)
        restarts: list[int] = []
        service.restarter = lambda: restarts.append(1)

        async def disk_full(data: dict[str, Any]) -> None:
            raise OSError(28, "No space left on device")

        service.store.save_commands = disk_full  # type: ignore[method-assign]
        restart = command_body(gw.id, "restart")
        refused = await service.handle(json.dumps(restart).encode())
        assert (refused["status"], refused["reason"]) == ("error", "failed") and "not run" in refused["detail"]
        assert restarts == []
        again = await service.handle(json.dumps(restart).encode())  # still refused as a duplicate in this run
        assert (again["status"], again["reason"]) == ("rejected", "duplicate")
        pong = await service.handle(json.dumps(command_body(gw.id, "ping")).encode())
        assert pong["status"] == "ok"
        assert restarts == []


async def test_ids_stored_by_the_first_layout_are_still_refused(broker: Mosquitto, tmp_path: Path) -> None:
    """``commands.json`` written as a bare ``{id: record}`` object: its ids stay known, and commands that had
    expired when it was last written are refused even before the clock is synchronised."""
    state = tmp_path / "state"
    known = command_body("gw-test", "restart", cmd_id="old-restart", ttl_s=300)
    record = {"cmd": "restart", "status": "ok", "reason": None, "at": known["expires_at"] - 300_000}
    store = RemoteStore(state)
    store.dir.mkdir(parents=True)
    store.commands_path.write_text(json.dumps({"old-restart": {**record, "exp": known["expires_at"]}}))
    async with Gateway(make_config(state, broker.url), clock=SettableClock(synced=False)) as gw:
        service = commands_of(gw)
        restarts: list[int] = []
        service.restarter = lambda: restarts.append(1)
        dup = await service.handle(json.dumps(known).encode())
        assert (dup["status"], dup["reason"]) == ("rejected", "duplicate")
        # Expired three minutes before that file was last written (skew 60 s): it may have been forgotten.
        forgotten = command_body("gw-test", "restart", cmd_id="forgotten-restart", ttl_s=-3 * 60)
        assert (await service.handle(json.dumps(forgotten).encode()))["reason"] == "expired"
        assert restarts == []
        assert (await service.handle(json.dumps(command_body("gw-test", "ping")).encode()))["status"] == "ok"
