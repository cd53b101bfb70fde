"""A line-based command language for the mocked ModemManager (stdin or the loopback control port).

One command per line, one reply: ``ok ...`` or ``error ...`` (``sms``/``calls``/``records`` reply ``ok N`` and then
N JSON lines, one per record).

    sms | calls | incoming | records              what the mock recorded (SMS sent, calls placed, SMS injected)
    inject NUMBER TEXT...                        an SMS arrives from NUMBER (any script, any length)
    modem remove|add                             unplug / plug the 4G module
    sim ok|missing|pin                           SIM present, missing, or locked (PIN required)
    register home|roaming|denied|searching|idle  network registration
    signal PERCENT                               signal quality
    send ok|fail|hang|remove [DELAY_MS]          how the next SMS sends end (remove: modem unplugged mid-send)
    call answer|no_answer|busy|fail [AFTER_MS]   what the called phone does, AFTER_MS into ringing
    hangup                                       the far end hangs up
    mm stop|start                                kill / restart the mocked ModemManager
    reset | address | help
"""

from __future__ import annotations

import json
import shlex

from sims.modem.control import REGISTRATION, ControlError, ModemControl
from sims.modem.harness import HarnessError, MockModemProcesses


class Console:
    """Executes commands against one mocked ModemManager (``procs`` for ``mm stop|start`` and ``address``)."""

    def __init__(self, procs: MockModemProcesses, ctl: ModemControl) -> None:
        self.procs = procs
        self.ctl = ctl

    async def execute(self, line: str) -> str:
        try:
            words = shlex.split(line)
        except ValueError as exc:
            return f"error {exc}"
        if not words:
            return "ok"
        try:
            return await self._run(words[0], words[1:])
        except (ControlError, HarnessError, ValueError, IndexError) as exc:
            return f"error {str(exc).splitlines()[0][:300]}"

    async def _run(self, cmd: str, args: list[str]) -> str:
        ctl = self.ctl
        if cmd in ("sms", "calls", "incoming", "records"):
            kind = {"sms": "sms", "calls": "call", "incoming": "incoming"}.get(cmd)
            rows = ctl.records(kind)
            return "\n".join([f"ok {len(rows)}", *(json.dumps(r, ensure_ascii=False) for r in rows)])
        if cmd == "inject":
            await ctl.inject_sms(args[0], " ".join(args[1:]))
            return "ok"
        if cmd == "modem":
            if args[0] == "remove":
                await ctl.remove_modem()
                return "ok"
            if args[0] == "add":
                return f"ok {await ctl.add_modem()}"
            raise ValueError("modem remove|add")
        if cmd == "sim":
            await ctl.set_sim(args[0])
            return "ok"
        if cmd == "register":
            if args[0] not in REGISTRATION:
                raise ValueError("register " + "|".join(REGISTRATION))
            await ctl.set_registration(args[0])
            return "ok"
        if cmd == "signal":
            await ctl.set_signal(int(args[0]))
            return "ok"
        if cmd == "send":
            await ctl.set_send_mode(args[0], int(args[1]) if len(args) > 1 else 50)
            return "ok"
        if cmd == "call":
            await ctl.set_call_mode(args[0], int(args[1]) if len(args) > 1 else 300)
            return "ok"
        if cmd == "hangup":
            await ctl.hangup_remote()
            return "ok"
        if cmd == "mm":
            if args[0] == "stop":
                self.procs.stop_mm()
            elif args[0] == "start":
                self.procs.start_mm()
            else:
                raise ValueError("mm stop|start")
            return "ok"
        if cmd == "reset":
            await ctl.reset()
            return "ok"
        if cmd == "address":
            return f"ok {self.procs.address}"
        if cmd == "help":
            doc = (__doc__ or "").splitlines()
            return "ok " + " | ".join(ln.strip().split("  ")[0] for ln in doc if ln.startswith("    "))
        raise ValueError(f"unknown command {cmd!r} (try help)")
