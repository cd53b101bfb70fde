"""Building test gateways: an in-process config, or a real `fbgw run` process that tests can kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from gateway.config import Config, parse_config
from tests.support.broker import free_port

REPO = Path(__file__).resolve().parents[2]

SIM_HOME: list[dict[str, str]] = [
    {"id": "btn-1", "type": "call_button", "room": "bedroom"},
    {"id": "btn-2", "type": "call_button", "room": "living"},
    {"id": "cord-1", "type": "pull_cord", "room": "bathroom"},
    {"id": "door-1", "type": "door", "room": "hall"},
    {"id": "pir-1", "type": "motion", "room": "living"},
    {"id": "smoke-1", "type": "smoke", "room": "kitchen"},
    {"id": "gas-1", "type": "gas", "room": "kitchen"},
    {"id": "leak-1", "type": "leak", "room": "kitchen"},
    {"id": "bed-1", "type": "mattress", "room": "bedroom"},
]


def config_dict(state_dir: Path, broker_url: str, gateway_id: str = "gw-test", **sections: Any) -> dict[str, Any]:
    """A config with the simulated home; keyword arguments replace/extend top-level sections."""
    raw: dict[str, Any] = {
        "gateway": {"id": gateway_id, "state_dir": str(state_dir)},
        "uplink": {"broker": broker_url, "backoff_initial_s": 0.1, "backoff_max_s": 2.0, "puback_timeout_s": 5},
        "http": {"listen": "127.0.0.1:0"},
        "clock": {"assume_synced": True},
        "drivers": {"sim": {"enabled": True, "devices": SIM_HOME}},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return raw


def make_config(state_dir: Path, broker_url: str, **sections: Any) -> Config:
    return parse_config(config_dict(state_dir, broker_url, **sections))


def write_toml(path: Path, raw: dict[str, Any]) -> Path:
    """Minimal TOML writer for test configs (tables, arrays of tables, scalars, lists of scalars)."""

    def scalar(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(scalar(x) for x in v) + "]"
        return json.dumps(str(v), ensure_ascii=False)

    lines: list[str] = []

    def table(prefix: str, d: dict[str, Any]) -> None:
        simple = {
            k: v
            for k, v in d.items()
            if not isinstance(v, dict) and not (isinstance(v, list) and v and isinstance(v[0], dict))
        }
        nested = {k: v for k, v in d.items() if k not in simple}
        if prefix:
            lines.append(f"[{prefix}]")
        for k, v in simple.items():
            lines.append(f"{k} = {scalar(v)}")
        for k, v in nested.items():
            name = f"{prefix}.{k}" if prefix else k
            if isinstance(v, dict):
                table(name, v)
            else:
                for item in v:
                    lines.append(f"[[{name}]]")
                    for ik, iv in item.items():
                        lines.append(f"{ik} = {scalar(iv)}")

    table("", raw)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tomllib.loads(path.read_text(encoding="utf-8"))  # fail here, not in the gateway, if the writer is wrong
    return path


class GatewayProcess:
    """`fbgw run` as a child process (so tests can SIGKILL it), with its HTTP API on a known port."""

    def __init__(
        self,
        config_path: Path,
        log_path: Path,
        http_port: int | None = None,
        global_args: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.config_path = config_path
        self.log_path = log_path
        self.http_port = http_port or free_port()
        self.global_args = global_args or []  # e.g. ["--log-level", "debug"]
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, timeout: float = 20.0) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.env)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway.cli",
                *self.global_args,
                "run",
                "--config",
                str(self.config_path),
                "--http",
                f"127.0.0.1:{self.http_port}",
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log_path, "ab"),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited {self.proc.returncode}: {self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.base_url + "/api/status", timeout=1) as resp:
                    drivers = json.load(resp)["drivers"]
                # The web server answers before the drivers have all started (a radio stack loads in the
                # background): up means every driver has started or failed.
                if not any(d["state"] == "starting" and d["detail"] == "loading" for d in drivers):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise RuntimeError("gateway did not come up")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self, timeout: float = 15.0) -> int:
        assert self.proc is not None
        self.proc.terminate()
        return self.proc.wait(timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
