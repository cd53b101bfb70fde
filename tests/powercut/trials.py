"""Power-cut trials of a whole gateway: its state directory on the power-cut filesystem, cut at random moments.

Each trial mounts the medium, checks that every file on it reads back, starts ``fbgw run`` on it (it must start
unaided), waits until every event acknowledged so far (listed in the HTTP 200 of ``POST /api/sim/readings``) has
reached the platform's subscriber, then puts it under load: several clients posting readings and alarms, a
remote config push that also renames devices in the registry, a platform command, and a technician pairing a
device and naming it. At a random moment the gateway is killed with SIGKILL and the filesystem unmounted,
dropping every write not yet fsynced: a power cut. The retained desired document is then cleared, so the next
start shows what the gateway had stored, not what the broker still holds.

Checked, per cut and at the end:

* every acknowledged reading's event (by trace) reaches the subscriber, before or after the cut;
* every state file parses (JSON documents, the SQLite outbox's ``integrity_check``) and nothing is quarantined;
* a config version reported ``applied`` before a cut still runs after it, registry names included;
* a device paired and named on the technician page (name answered 200) keeps that name; the installer code
  the platform set still signs in;
* a command answered before a cut and delivered again after it is refused as a duplicate, not run twice;
* the installer sign-in code made at first boot is never made again (a cut did not lose it);
* sequence numbers have no gaps and are never reused for another event; an event delivered before a cut may be
  delivered again (same id and seq, within what was in flight), never re-created under a new id.

Run ``./scripts/powercut N`` for N cuts with a summary; ``tests/powercut/test_trials.py`` runs a short series.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt

from gateway.topics import Topics
from tests.powercut.mount import PowerCutMount
from tests.powercut.technician import CODE, Names, pair_and_name
from tests.remote.platform import command_body
from tests.support.broker import Mosquitto
from tests.support.collector import Collector
from tests.support.gateway import GatewayProcess, config_dict, write_toml

GATEWAY = "gw-cut"
WRITERS = 4
#: What the load posts: ordinary readings and alarms (call button, smoke), with their expected event kinds.
#: Steady values (smoke still true, door still open) make no event; the 200's body lists the events made.
READINGS: list[tuple[str, str, list[Any]]] = [
    ("btn-1", "press", [True]),
    ("smoke-1", "smoke", [True, False]),
    ("pir-1", "motion", [True]),
    ("door-1", "contact", ["open", "closed"]),
    ("bed-1", "heart_rate", [70, 72]),
]
UPLINK = {"max_inflight_messages": 4, "batch_max_events": 25}
#: An event may come again after a cut only if it was in flight (published, its PUBACK not yet on disk): at most
#: this many per cut. The uplink's own window is larger ((4 ordinary + 16 alarm slots) x 25 events); this bound is
#: deliberately tighter, 8 full messages, so a cut that loses the deletion of a whole backlog would show.
INFLIGHT_WINDOW = 8 * UPLINK["batch_max_events"]


def desired(version: int) -> dict[str, Any]:
    """Config version ``n``: a rule threshold and two device names/rooms (a registry change) follow n."""
    return {
        "version": version,
        "rules": {"battery_low_pct": 10 + version % 40},
        "devices": {
            "btn-1": {"name": f"button v{version}", "room": f"room v{version}"},
            "smoke-1": {"name": f"smoke v{version}", "room": "kitchen"},
        },
    }


@dataclass
class Tally:
    """What the trials saw; ``problems`` is empty when nothing acknowledged was lost or broken."""

    cuts: int = 0
    accepted: int = 0
    events_checked: int = 0
    deliveries: int = 0
    duplicates: int = 0
    max_duplicates_per_cut: int = 0
    config_pushes: int = 0
    config_applied: int = 0
    commands_replayed: int = 0
    pairings: int = 0
    files_checked: int = 0
    leftover_temp_files: int = 0
    torn: bool = False
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"power cuts: {self.cuts}{' (torn writes)' if self.torn else ''} in {self.seconds:.0f} s",
            f"events acknowledged (listed in an HTTP 200): {self.accepted}; found at the subscriber: "
            f"{self.events_checked}",
            f"events delivered: {self.deliveries}, of them again after a cut: {self.duplicates} "
            f"(most after one cut: {self.max_duplicates_per_cut}; window {INFLIGHT_WINDOW})",
            f"config pushes: {self.config_pushes}, reported applied before a cut: {self.config_applied}; "
            f"commands answered before a cut and sent again after it: {self.commands_replayed}",
            f"devices paired and named on the technician page before a cut: {self.pairings}",
            f"state files read back after cuts: {self.files_checked} (temp files left over: "
            f"{self.leftover_temp_files})",
            f"problems: {len(self.problems)}",
            *(f"  - {p}" for p in self.problems[:30]),
        ]
        return "\n".join(lines)


def check_files(root: Path, tally: Tally) -> None:
    """Every state file must read back: JSON documents parse, the outbox passes SQLite's integrity check."""
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root)
        name = path.name
        if ".corrupt-" in name:
            tally.problems.append(f"quarantined after a cut: {rel}")
            continue
        if name.startswith(".") and name.endswith(".tmp"):
            tally.leftover_temp_files += 1  # a write_atomic cut before its rename: harmless, replaced next time
            continue
        tally.files_checked += 1
        try:
            if name.endswith(".json"):
                json.loads(path.read_bytes())
            elif name.endswith(".sqlite3"):
                conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
                try:
                    result = conn.execute("PRAGMA integrity_check").fetchone()[0]
                finally:
                    conn.close()
                if result != "ok":
                    tally.problems.append(f"{rel}: integrity_check says {result}")
            elif name.endswith(("-wal", "-shm")):
                pass  # checked with their database
            else:
                path.read_bytes()
        except (OSError, ValueError, sqlite3.Error) as exc:
            tally.problems.append(f"{rel} does not read back after a cut: {exc}")


async def load(base_url: str, trial: int, accepted: dict[str, str], rng: random.Random) -> None:
    """Clients posting readings until the gateway dies; a 200 means the events it lists are on the medium.
    ``accepted`` maps each such event's id to its reading's trace."""

    async def writer(session: aiohttp.ClientSession, w: int) -> None:
        n = 0
        while True:
            device, cap, values = rng.choice(READINGS)
            value = rng.choice(values)
            trace = f"c{trial}-{w}-{n}-{cap}"
            n += 1
            body = {"device": device, "capability": cap, "value": value, "trace": trace}
            try:
                async with session.post(f"{base_url}/api/sim/readings", json=body) as resp:
                    if resp.status == 200:
                        for ev in (await resp.json())["events"]:
                            accepted[ev["id"]] = trace
            except (aiohttp.ClientError, ConnectionError, TimeoutError):
                return

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        await asyncio.gather(*(writer(session, w) for w in range(WRITERS)))


def reports(col: Collector) -> list[dict[str, Any]]:
    topic = Topics(GATEWAY).config_reported
    return [json.loads(p) for t, p, _ in col.messages if t == topic and p]


def results(col: Collector) -> list[dict[str, Any]]:
    topic = Topics(GATEWAY).cmd_result
    return [json.loads(p) for t, p, _ in col.messages if t == topic]


def results_for(cmd_id: str, n: int, col: Collector) -> bool:
    return sum(1 for r in results(col) if r["id"] == cmd_id) >= n


def reported_since(mark: int, col: Collector) -> bool:
    return len(reports(col)) > mark


async def publish(broker: Mosquitto, topic: str, payload: bytes, retain: bool = True) -> None:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.publish(topic, payload, qos=1, retain=retain)


async def command(broker: Mosquitto, col: Collector, cmd: str, args: dict[str, Any], cmd_id: str) -> dict[str, Any]:
    """Send a platform command and wait for its result (``TimeoutError`` if none comes)."""
    body = command_body(GATEWAY, cmd, args, cmd_id=cmd_id, ttl_s=600)
    await publish(broker, Topics(GATEWAY).cmd, json.dumps(body).encode(), retain=False)
    await col.wait_for(functools.partial(results_for, cmd_id, 1), timeout=15)
    return next(r for r in results(col) if r["id"] == cmd_id)


async def devices(base_url: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(f"{base_url}/api/devices") as resp:
        return list((await resp.json())["devices"])


async def check_commands_remembered(
    broker: Mosquitto, col: Collector, sent: dict[str, bytes], trial: int, tally: Tally
) -> None:
    """A command answered before a cut, delivered again after it, is refused as a duplicate, not run twice."""
    answered = {r["id"] for r in results(col)} & sent.keys()
    for cmd_id in answered:
        n = sum(1 for r in results(col) if r["id"] == cmd_id)
        await publish(broker, Topics(GATEWAY).cmd, sent.pop(cmd_id), retain=False)
        tally.commands_replayed += 1
        try:
            await col.wait_for(functools.partial(results_for, cmd_id, n + 1), timeout=30)
        except TimeoutError:
            tally.problems.append(f"cut {trial}: no answer to command {cmd_id} delivered again")
            continue
        again = [r for r in results(col) if r["id"] == cmd_id][-1]
        if again["reason"] != "duplicate":
            tally.problems.append(f"cut {trial}: command {cmd_id} run again after a cut: {again}")
    sent.clear()


def check_config(report: dict[str, Any], at_least: int, trial: int, tally: Tally) -> None:
    """The gateway runs a version no older than the last one it reported applied, all of it."""
    applied = (report.get("applied") or {}).get("version") or 0
    if applied < at_least:
        tally.problems.append(f"cut {trial}: runs config v{applied} after reporting v{at_least} applied")
        return
    if applied:
        want = desired(applied)
        effective = report["effective"]
        got_devices = {k: effective["devices"].get(k) for k in want["devices"]}
        if got_devices != want["devices"] or effective["rules"]["battery_low_pct"] != want["rules"]["battery_low_pct"]:
            tally.problems.append(f"cut {trial}: config v{applied} runs only in part: {effective}")


class Delivered:
    """The ids the subscriber has seen, kept up to date cheaply (the predicate runs on every message)."""

    def __init__(self, col: Collector) -> None:
        self.col, self.ids, self._done = col, set[str](), 0

    def __call__(self) -> set[str]:
        for ev in self.col.events[self._done :]:
            self.ids.add(ev["id"])
        self._done = len(self.col.events)
        return self.ids


def check_first_boot_once(log_path: Path, tally: Tally) -> None:
    """The installer code made at first boot (the one on the technician's sheet) survives every later cut."""
    text = log_path.read_text(encoding="utf-8", errors="replace")
    made = text.count("a new installer sign-in code was generated")
    if made != 1:
        tally.problems.append(f"the installer sign-in code was generated {made} times (a cut lost it)")


def check_events(col: Collector, accepted: dict[str, str], tally: Tally) -> None:
    """Sequence numbers without gaps or reuse; no acknowledged reading's event re-created under a new id."""
    events = [ev for ev in col.events if ev.get("gateway") == GATEWAY]
    by_seq: dict[int, set[str]] = defaultdict(set)
    by_id: dict[str, set[int]] = defaultdict(set)
    ids_by_trace_kind: dict[tuple[str, str], set[str]] = defaultdict(set)
    traces = set(accepted.values())
    for ev in events:
        if ev["kind"] in ("gateway.storage_recovered", "gateway.data_dropped"):
            tally.problems.append(f"{ev['kind']} after a cut: {ev.get('data')}")
        by_seq[ev["seq"]].add(ev["id"])
        by_id[ev["id"]].add(ev["seq"])
        if ev.get("trace") in traces:
            ids_by_trace_kind[(ev["trace"], ev["kind"])].add(ev["id"])
        if ev["id"] in accepted and ev.get("trace") != accepted[ev["id"]]:
            tally.problems.append(f"event {ev['id']} carries trace {ev.get('trace')}, not {accepted[ev['id']]}")
    for seq, ids in by_seq.items():
        if len(ids) > 1:
            tally.problems.append(f"seq {seq} used for {len(ids)} different events")
    for event_id, seqs in by_id.items():
        if len(seqs) > 1:
            tally.problems.append(f"event {event_id} delivered again with another seq: {sorted(seqs)}")
    if by_seq:
        missing = sorted(set(range(min(by_seq), max(by_seq) + 1)) - set(by_seq))
        if missing:
            tally.problems.append(f"{len(missing)} seq gaps, first {missing[:10]}")
    for (trace, kind), ids in ids_by_trace_kind.items():
        if len(ids) > 1:
            tally.problems.append(f"reading {trace} made {len(ids)} {kind} events (re-created after a cut)")
    tally.deliveries = len(events)
    tally.events_checked = len(accepted.keys() & {ev["id"] for ev in events})


async def run_trials(cuts: int, workdir: Path, seed: int, torn: bool = False, log: Any = None) -> Tally:
    """``cuts`` power cuts of one gateway under load; returns what was seen (``problems`` lists failures)."""
    rng = random.Random(seed)
    tally = Tally(torn=torn)
    started = time.monotonic()
    accepted: dict[str, str] = {}
    version = 0
    applied_before_cut = 0
    lost: set[str] = set()
    commands: dict[str, bytes] = {}  # sent during the last trial: id -> payload
    names = Names()
    broker = Mosquitto()
    broker.start()
    mnt_dir = workdir / "mnt"
    medium = PowerCutMount(
        workdir / "medium", mnt_dir, workdir / "fs.log", torn_seed=rng.randrange(1 << 30) if torn else None
    )
    raw = config_dict(mnt_dir, broker.url, gateway_id=GATEWAY, uplink=UPLINK)
    cfg = write_toml(workdir / "gw.toml", raw)
    topics = Topics(GATEWAY)
    gw: GatewayProcess | None = None
    try:
        async with Collector(broker.host, broker.port, gateway=GATEWAY, client_id="platform-powercut") as col:
            delivered = Delivered(col)
            for trial in range(cuts + 1):
                medium.mount()
                if trial:
                    check_files(mnt_dir, tally)
                gw = GatewayProcess(cfg, workdir / "gw.log")
                mark = len(reports(col))
                try:
                    await asyncio.to_thread(gw.start, 30.0)
                except RuntimeError as exc:
                    tally.problems.append(f"cut {trial}: the gateway did not start unaided: {exc}")
                    break
                try:
                    await col.wait_for(lambda c: accepted.keys() - lost <= delivered(), timeout=60)
                    if trial:
                        await col.wait_for(functools.partial(reported_since, mark), timeout=30)
                        check_config(reports(col)[-1], applied_before_cut, trial, tally)
                        await check_commands_remembered(broker, col, commands, trial, tally)
                        tally.problems += [f"cut {trial}: {p}" for p in names.problems(await devices(gw.base_url))]
                    else:
                        done = await command(broker, col, "set_installer_code", {"code": CODE}, "set-code")
                        if done["status"] != "ok":
                            tally.problems.append(f"set_installer_code failed: {done}")
                except TimeoutError:
                    missing = sorted(accepted[i] for i in accepted.keys() - lost - delivered())
                    lost.update(accepted.keys() - delivered())  # each loss is reported once
                    if missing:
                        tally.problems.append(f"cut {trial}: {len(missing)} acknowledged readings lost: {missing[:5]}")
                    else:
                        tally.problems.append(f"cut {trial}: no config report after restart")
                if trial == cuts:
                    gw.terminate()
                    medium.cut()
                    break
                # Load, a config push at a random moment, and the cut.
                injector = asyncio.create_task(load(gw.base_url, trial, accepted, rng))
                cut_at = rng.uniform(0.1, 1.5)
                if rng.random() < 0.5:
                    body = command_body(GATEWAY, "ping", cmd_id=f"ping-{trial}", ttl_s=3600)
                    commands[body["id"]] = json.dumps(body).encode()
                    await publish(broker, topics.cmd, commands[body["id"]], retain=False)
                technician = None
                if rng.random() < 0.5:

                    async def open_window(t: int = trial) -> None:
                        await command(broker, col, "open_install_window", {"seconds": 600}, f"window-{t}")

                    technician = asyncio.create_task(
                        pair_and_name(gw.base_url, trial, names, open_window, tally.problems)
                    )
                if rng.random() < 0.6:
                    push_at = rng.uniform(0, cut_at)
                    await asyncio.sleep(push_at)
                    version += 1
                    tally.config_pushes += 1
                    await publish(broker, topics.config_desired, json.dumps(desired(version)).encode())
                    await asyncio.sleep(cut_at - push_at)
                else:
                    await asyncio.sleep(cut_at)
                gw.kill9()
                await injector
                if technician is not None:
                    technician.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await technician
                medium.cut()
                tally.cuts += 1
                applied = [r["version"] for r in reports(col) if r.get("state") == "applied"]
                if applied and max(applied) > applied_before_cut:
                    tally.config_applied += 1
                    applied_before_cut = max(applied)
                await publish(broker, topics.config_desired, b"")  # the restart shows what it stored
                if log is not None and (trial + 1) % 10 == 0:
                    print(f"  {trial + 1} cuts, {len(accepted)} events acknowledged", file=log, flush=True)
                # Duplicates: events delivered again since the previous cut.
                counts = Counter(ev["id"] for ev in col.events if ev.get("gateway") == GATEWAY)
                again = sum(n - 1 for n in counts.values()) - tally.duplicates
                tally.duplicates += again
                tally.max_duplicates_per_cut = max(tally.max_duplicates_per_cut, again)
            tally.accepted = len(accepted)
            check_first_boot_once(workdir / "gw.log", tally)
            tally.pairings = names.acknowledged
            check_events(col, accepted, tally)
            if tally.max_duplicates_per_cut > INFLIGHT_WINDOW:
                tally.problems.append(
                    f"{tally.max_duplicates_per_cut} events delivered again after one cut (window {INFLIGHT_WINDOW})"
                )
    finally:
        if gw is not None and gw.alive():  # an error above: the gateway goes with the medium
            gw.kill9()
        with contextlib.suppress(Exception):
            medium.cut()
        broker.close()
    tally.seconds = time.monotonic() - started
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description="Power-cut trials of a gateway under load; prints a summary.")
    parser.add_argument("cuts", type=int, nargs="?", default=100)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--torn", action="store_true", help="cuts leave torn writes (sector-sized prefixes)")
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print(f"powercut: {args.cuts} cuts, seed {seed}", flush=True)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        tally = asyncio.run(run_trials(args.cuts, args.keep, seed, args.torn, log=sys.stdout))
    else:
        with tempfile.TemporaryDirectory(prefix="fbgw-powercut-") as tmp:
            tally = asyncio.run(run_trials(args.cuts, Path(tmp), seed, args.torn, log=sys.stdout))
    print(tally.summary())
    sys.exit(1 if tally.problems else 0)


if __name__ == "__main__":
    main()
