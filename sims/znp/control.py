"""A line-oriented control language for the simulated world (stdin or a loopback TCP port).

One command per line; the answer is one line starting with ``ok`` or ``error``::

    join FAMILY [name]         a device of a kind or shipped family joins (permit join must be open)
    join-file PATH [name]      a device described by a descriptor JSON file joins (sims/znp/descriptor.py)
    send NAME JSON             the device sends one frame: {"zcl": ...}, {"dp": ...}, {"ace": "emergency"},
                               {"report": ...}, {"zone": ...}, {"xiaomi": ...} (see sims/znp/descriptor.py)
    act NAME ACTION [PERCENT]  one of the descriptor's scripted actions (press, press_double, press_long...)
    warnings NAME              the IAS WD Start Warning commands the device received
    alarm NAME | restore NAME  main alarm on / off (smoke, gas, water, door open, motion, SOS)
    tamper NAME on|off         also: battery_low, trouble, mains_fault, alarm2
    battery NAME PERCENT       battery report (Power Configuration)
    enroll NAME                the device sends a Zone Enroll Request
    silent NAME on|off         out of range: no answers, no reports (off: it announces itself)
    leave NAME                 the device leaves the network
    bad NAME                   the device sends a malformed ZCL frame
    garbage [BYTES]            random noise on the serial line
    unplug | replug            pull the stick out / plug it back in
    list | status | kinds | help      kinds: every family ``join`` knows
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path

from sims.znp.descriptor import DescriptorError
from sims.znp.devices import families
from sims.znp.network import SimError
from sims.znp.simulator import STATUS_BITS, ZnpSimulator

ON = {"on": True, "1": True, "true": True, "off": False, "0": False, "false": False}


def _flag(word: str) -> bool:
    if word.lower() not in ON:
        raise SimError(f"expected on/off, got {word!r}")
    return ON[word.lower()]


def _list(sim: ZnpSimulator) -> str:
    rows = [
        f"{d.name}:{d.kind}:{d.ieee_hex}:0x{d.nwk:04x}:{'enrolled' if d.enrolled else 'not-enrolled'}"
        f"{':silent' if d.silent else ''}"
        for d in sim.devices.values()
    ]
    return " ".join(rows) or "(no devices)"


def _status(sim: ZnpSimulator) -> str:
    return (
        f"port={sim.path if sim.port.is_open else '(unplugged)'} running={sim.running} "
        f"permit_open={sim.permit_open} devices={len(sim.devices)}"
    )


Action = Callable[[ZnpSimulator, list[str]], str]


def _join(sim: ZnpSimulator, a: list[str]) -> str:
    dev = sim.join(a[0], a[1] if len(a) > 1 else None)
    return f"joined {dev.name} ieee={dev.ieee_hex} nwk=0x{dev.nwk:04x}"


def _unplug(sim: ZnpSimulator) -> str:
    sim.unplug()
    return "unplugged"


def _replug(sim: ZnpSimulator) -> str:
    sim.replug()
    return f"plugged in at {sim.path}"


def _flag_action(bit: str) -> Action:
    return lambda s, a: f"{bit} {s.set_status(a[0], bit, _flag(a[1])).name} {a[1]}"


def _join_file(sim: ZnpSimulator, a: list[str]) -> str:
    dev = sim.join_file(Path(a[0]), a[1] if len(a) > 1 else None)
    return f"joined {dev.name} ieee={dev.ieee_hex} nwk=0x{dev.nwk:04x}"


def _send(sim: ZnpSimulator, a: list[str]) -> str:
    try:
        frame = json.loads(a[1])
    except json.JSONDecodeError as exc:
        raise SimError(f"frame is not JSON: {exc}") from exc
    return f"sent by {sim.send(a[0], frame).name}"


def _act(sim: ZnpSimulator, a: list[str]) -> str:
    dev = sim.act(a[0], a[1], int(a[2]) if len(a) > 2 else None)
    return f"{a[1]} {dev.name}"


ACTIONS: dict[str, tuple[int, Action]] = {
    "join": (1, _join),
    "join-file": (1, _join_file),
    "send": (2, _send),
    "act": (2, _act),
    "warnings": (1, lambda s, a: " ".join(f"{w:02x}/{t}" for w, t in s.device(a[0]).warnings) or "(none)"),
    "alarm": (1, lambda s, a: f"alarm {s.alarm(a[0]).name}"),
    "restore": (1, lambda s, a: f"restore {s.restore(a[0]).name}"),
    "battery": (2, lambda s, a: f"battery {s.battery(a[0], int(a[1])).name} {int(a[1])}%"),
    "enroll": (1, lambda s, a: f"enroll request from {s.enroll_request(a[0]).name}"),
    "silent": (2, lambda s, a: f"silent {s.silence(a[0], _flag(a[1])).name} {a[1]}"),
    "leave": (1, lambda s, a: f"left {s.leave(a[0]).name}"),
    "bad": (1, lambda s, a: f"malformed frame from {s.bad_frame(a[0]).name}"),
    "garbage": (0, lambda s, a: f"sent {len(s.inject_garbage(size=int(a[0]) if a else 64))} bytes"),
    "unplug": (0, lambda s, a: _unplug(s)),
    "replug": (0, lambda s, a: _replug(s)),
    "list": (0, lambda s, a: _list(s)),
    "status": (0, lambda s, a: _status(s)),
    "kinds": (0, lambda s, a: " ".join(families())),
    "help": (0, lambda s, a: "commands: " + " ".join(sorted({*ACTIONS, *STATUS_BITS}))),
}
for _bit in STATUS_BITS:
    if _bit != "alarm":
        ACTIONS[_bit] = (2, _flag_action(_bit))


def execute(sim: ZnpSimulator, line: str) -> str:
    """Run one control line; never raises for bad input."""
    head = line.strip().split(None, 2)
    try:
        # send: the frame is JSON, taken as it is (shell-style splitting would eat its quotes)
        words = head if head and head[0].lower() == "send" else shlex.split(line)
    except ValueError as exc:
        return f"error {exc}"
    if not words:
        return "error empty command"
    entry = ACTIONS.get(words[0].lower())
    if entry is None:
        return f"error unknown command {words[0]!r} (try help)"
    arity, action = entry
    if len(words) - 1 < arity:
        return f"error {words[0]} needs {arity} argument(s)"
    try:
        return "ok " + action(sim, words[1:])
    except (SimError, DescriptorError, ValueError, KeyError, TypeError) as exc:
        return f"error {exc}"
