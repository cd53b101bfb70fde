"""The demo: a simulated home, a local Mosquitto, the gateway, and a console view of what the platform receives.

Half a minute in, the broker is stopped for a while and started again, to show store-and-forward: events made
while it is away are kept in the outbox and arrive afterwards, with no gap in the sequence numbers. During the
outage the bedroom call button is pressed: the second path texts the guardian through the 4G modem (a mocked
ModemManager), the demo prints the SMS she got, she replies "收到", and the alarm is acknowledged by SMS; once the
broker is back the platform sees the alarm, ``alarm.sms_sent`` and ``alarm.acknowledged`` in order.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import aiomqtt

from gateway.tools.local_broker import Mosquitto, free_port
from gateway.tools.platform_view import Tally, watch
from gateway.tools.sim_control import ModemMockProcess, ZnpSimulatorProcess

REPO = Path(__file__).resolve().parents[2]
#: The guardian the second path texts during the outage (a mocked phone: nothing leaves the machine).
GUARDIAN = ("女儿", "+8613800138001")
#: The call button pressed during the outage (the morning's scenario never presses it, so it is a new alarm).
OUTAGE_BUTTON = "btn-bedroom"


def _say(text: str) -> None:
    print(f"\033[1;35m== {text}\033[0m" if sys.stdout.isatty() else f"== {text}", flush=True)


def _issue_signin_code(state: Path) -> str:
    """A fresh installer code for this demo run (only its hash is stored); reopens the install window."""
    out = subprocess.run(
        [sys.executable, "-m", "gateway.web.signin_code", "reset", "--state-dir", str(state), "--recommission"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


async def _wait_up(gateway: subprocess.Popen[bytes], url: str, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and gateway.poll() is None:
        try:
            await asyncio.to_thread(urllib.request.urlopen, url, timeout=1)
            return True
        except OSError:
            await asyncio.sleep(0.2)
    return False


async def _zigbee_story(stick: ZnpSimulatorProcess, broker_url: str, gateway_id: str) -> None:
    """Pair a Heiman-style smoke detector over Zigbee (permit-join sent as a platform command), then alarm."""
    await asyncio.sleep(3)
    _say("platform command permit_join(60 s, zigbee); a Zigbee smoke detector joins the network")
    cmd = {
        "id": f"demo-{int(time.time())}",
        "gateway": gateway_id,
        "cmd": "permit_join",
        "args": {"seconds": 60, "transport": "zigbee"},
        "expires_at": int(time.time() * 1000) + 60_000,
    }
    url = urlsplit(broker_url)
    async with aiomqtt.Client(url.hostname or "127.0.0.1", url.port or 1883) as client:
        await client.publish(f"fbgw/v1/{gateway_id}/cmd", json.dumps(cmd).encode(), qos=1)
    await asyncio.sleep(1)
    try:
        joined = await stick.send("join smoke")
        _say(f"zigbee: {joined}")
        ieee = re.search(r"ieee=([0-9a-f]{16})", joined)
        await asyncio.sleep(8)  # interview and IAS enrolment
        if ieee:  # the platform names it and puts it in its room, as an operator would after the install
            _say("platform pushes desired config: the new detector is the kitchen smoke detector")
            desired = {
                "version": int(time.time()),
                "devices": {f"zb-{ieee.group(1)}": {"name": "厨房烟感 (Zigbee)", "room": "kitchen"}},
            }
            async with aiomqtt.Client(url.hostname or "127.0.0.1", url.port or 1883) as client:
                await client.publish(
                    f"fbgw/v1/{gateway_id}/config/desired", json.dumps(desired).encode(), qos=1, retain=True
                )
        await asyncio.sleep(4)
        _say(f"zigbee: smoke detector alarms: {await stick.send('alarm smoke-1')}")
        await asyncio.sleep(4)
        _say(f"zigbee: {await stick.send('restore smoke-1')}")
    except (RuntimeError, OSError) as exc:  # the simulator said no (e.g. the network is still forming)
        _say(f"zigbee: {exc}")


def _reminder_soon(config: Path) -> str:
    """A medicine reminder due within the next minute (local time of the gateway), so the demo shows one."""
    doc = tomllib.loads(config.read_text(encoding="utf-8"))
    zone = ZoneInfo(doc.get("gateway", {}).get("timezone", "Asia/Shanghai"))
    due = datetime.now(zone) + timedelta(seconds=60)
    at = f"{due.hour:02d}:{due.minute:02d}"
    _say(f"care: a medicine reminder is due at {at} (acknowledged with the care button at 70 s)")
    return f'\n[[care.reminders]]\nname = "降压药"\nat = "{at}"\nack_within_min = 30\n'


async def _second_path_story(modem: ModemMockProcess, url: str) -> None:
    """The broker is down: the cord is pulled, the guardian gets the SMS and answers it."""
    await asyncio.sleep(1.0)
    before = len(modem.records("sms"))
    _say(f"the bedroom call button is pressed while the platform cannot be reached ({OUTAGE_BUTTON})")
    body = json.dumps({"device": OUTAGE_BUTTON, "capability": "press", "value": True, "trace": "outage-sms"}).encode()
    request = urllib.request.Request(url + "/api/sim/readings", body, {"Content-Type": "application/json"})

    def press() -> None:
        with urllib.request.urlopen(request, timeout=10) as resp:
            resp.read()

    await asyncio.to_thread(press)

    def texts() -> list[dict[str, Any]]:  # its SMS names the room (other open alarms may be texted too)
        return [r for r in modem.records("sms")[before:] if "卧室" in r["text"]]

    for _ in range(300):  # the SMS goes at once (the uplink is known down); 30 s at most
        if texts():
            break
        await asyncio.sleep(0.1)
    sent = texts()
    if not sent:
        _say("no SMS went out (see the gateway log)")
        return
    _say(f"SMS to the guardian ({GUARDIAN[0]}) through the 4G modem: {sent[0]['text']}")
    await asyncio.sleep(1.0)
    answer = await modem.send(f"inject {GUARDIAN[1].removeprefix('+86')} 收到")
    _say(f"the guardian replies “收到” ({answer}): the gateway records the alarm acknowledged by SMS")


async def run_demo(args: argparse.Namespace) -> int:
    work: Path = args.work
    marker = work / ".fbgw-demo"
    if work.exists() and any(work.iterdir()) and not marker.exists():
        _say(f"{work} is not empty and not a demo directory: refusing to empty it")
        return 2
    shutil.rmtree(work, ignore_errors=True)  # every demo starts from a newly installed box
    work.mkdir(parents=True, exist_ok=True)
    marker.write_text("scratch directory of ./scripts/demo, emptied at every start\n")
    state = work / "state"
    config = work / "demo.toml"
    text = args.config.read_text(encoding="utf-8") + _reminder_soon(args.config)
    stick = None
    extra = ""
    if args.zigbee:
        stick = ZnpSimulatorProcess(work)
        _say(f"zigbee: coordinator simulator on {stick.port}")
        extra += f'\n[drivers.zigbee]\nenabled = true\nport = "{stick.port}"\n'
    modem = None
    if args.modem:
        modem = ModemMockProcess(work)
        _say("4G modem: a mocked ModemManager with one modem on a private D-Bus")
        extra += (
            f'\n[drivers.modem]\nenabled = true\nbus_address = "{modem.bus}"\nstartup_grace_s = 0\n'
            f'\n[modem]\nenabled = true\nelder_name = "王奶奶"\nsms_after_s = 5\ncall_after_s = 600\n'
            f'[[modem.contacts]]\nlabel = "{GUARDIAN[0]}"\nnumber = "{GUARDIAN[1]}"\nrole = "guardian"\n'
        )
    config.write_text(text + extra, encoding="utf-8")
    broker = Mosquitto(port=args.broker_port or free_port())
    broker.start()
    _say(f"broker: Mosquitto on {broker.url}")
    http = f"127.0.0.1:{args.http_port}"
    log = work / "gateway.log"
    log.write_text("")
    cmd = [
        sys.executable,
        "-m",
        "gateway.cli",
        "run",
        "--config",
        str(config),
        "--state-dir",
        str(state),
        "--broker",
        broker.url,
        "--http",
        http,
    ]
    code = _issue_signin_code(state)
    gateway = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=open(log, "ab"))
    _say(f"gateway: {' '.join(cmd[2:])}  (log: {log})")
    _say(f"technician page: http://{http}/   sign-in code: {code}")
    if not await _wait_up(gateway, f"http://{http}/api/status"):
        _say(f"the gateway did not start; last lines of {log}:")
        print("\n".join(log.read_text(errors="replace").splitlines()[-15:]))
        gateway.kill()
        broker.close()
        if stick:
            stick.close()
        if modem:
            modem.close()
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    viewer = asyncio.create_task(watch(broker.url, "+", stop=stop, ack_calls_after_s=args.ack_after))

    async def outage() -> None:
        await asyncio.sleep(args.outage_at)
        _say(f"stopping the broker for {args.outage_for:g} s: the gateway keeps events in its outbox")
        broker.stop()
        t0 = time.monotonic()
        if modem is not None:
            await _second_path_story(modem, f"http://{http}")
        await asyncio.sleep(max(0.0, args.outage_for - (time.monotonic() - t0)))
        broker.start()
        _say("broker is back: the backlog drains, alarms first")

    outage_task = asyncio.create_task(outage()) if args.outage_at >= 0 else None
    gateway_id = tomllib.loads(config.read_text(encoding="utf-8"))["gateway"]["id"]
    zigbee_task = asyncio.create_task(_zigbee_story(stick, broker.url, gateway_id)) if stick else None
    try:
        if args.duration:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.duration)
        else:
            await stop.wait()
    finally:
        stop.set()
        for task in (outage_task, zigbee_task):
            if task:
                task.cancel()
        gateway.terminate()
        try:
            gateway.wait(15)
        except subprocess.TimeoutExpired:
            gateway.kill()
        await asyncio.sleep(0.5)
        viewer.cancel()
        tallies: dict[str, Tally] = {}
        with contextlib.suppress(asyncio.CancelledError):
            tallies = await viewer
        broker.close()
        if stick:
            stick.close()
        if modem:
            modem.close()
    for gw_id, tally in (tallies or {}).items():
        gaps = tally.gaps()
        _say(
            f"platform received {len(tally.seen)} events from {gw_id}; "
            f"gaps: {gaps[:10] if gaps else 'none'}; duplicates dropped: {tally.duplicates}"
        )
    return 0 if gateway.returncode in (0, -15) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description="fbgw demo: simulated home -> gateway -> local broker -> console")
    parser.add_argument("--config", type=Path, default=REPO / "config" / "demo.toml")
    parser.add_argument(
        "--work", type=Path, default=REPO / "var" / "demo", help="scratch directory, emptied at start (state, logs)"
    )
    parser.add_argument("--duration", type=float, default=0, help="seconds to run (default: until Ctrl-C)")
    parser.add_argument("--http-port", type=int, default=8080)
    parser.add_argument("--broker-port", type=int, default=0)
    parser.add_argument("--outage-at", type=float, default=35, help="stop the broker after N s (-1: never)")
    parser.add_argument("--outage-for", type=float, default=10)
    parser.add_argument(
        "--ack-after", type=float, default=5.0, help="the console operator acknowledges each call after N s"
    )
    parser.add_argument(
        "--no-modem",
        dest="modem",
        action="store_false",
        help="no 4G modem (mocked ModemManager): the outage then sends no SMS",
    )
    parser.add_argument(
        "--no-zigbee",
        dest="zigbee",
        action="store_false",
        help="do not run the Zigbee driver on the coordinator simulator",
    )
    return asyncio.run(run_demo(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
