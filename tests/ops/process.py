"""Helpers for tests that run ``fbgw run`` as a real child process and load it over HTTP."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.gateway import GatewayProcess, config_dict, write_toml


class OpsGateway(GatewayProcess):
    """A :class:`GatewayProcess` whose ``stop`` is a SIGKILL that tolerates an already-dead process."""

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(10)


def write_config(path: Path, state: Path, broker_url: str, **sections: Any) -> Path:
    sections.setdefault("health", {"heartbeat_interval_s": 0})
    return write_toml(path, config_dict(state, broker_url, **sections))


def post_readings(base_url: str, readings: list[dict[str, Any]], timeout: float = 10.0) -> tuple[int, Any]:
    """POST to the sim readings API; (status, body) or (0, error text) if the gateway did not answer."""
    req = urllib.request.Request(
        base_url + "/api/sim/readings",
        data=json.dumps(readings).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
        return 0, str(exc)


class Load:
    """Threads posting batches of uniquely traced readings; remembers which traces were answered 200."""

    DEVICES = (
        ("btn-1", "press", True),
        ("btn-2", "press", True),
        ("cord-1", "press", True),
        ("pir-1", "motion", True),
    )

    def __init__(self, base_url: str, threads: int = 4, batch: int = 25) -> None:
        self.base_url = base_url
        self.batch = batch
        self.accepted: set[str] = set()
        self.refused: dict[int, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)

    def _run(self, worker: int) -> None:
        n = 0
        while not self._stop.is_set():
            readings = []
            for _ in range(self.batch):
                dev, cap, value = self.DEVICES[n % len(self.DEVICES)]
                readings.append({"device": dev, "capability": cap, "value": value, "trace": f"w{worker}-{n}"})
                n += 1
            status, _body = post_readings(self.base_url, readings)
            with self._lock:
                if status == 200:
                    self.accepted.update(r["trace"] for r in readings)
                else:
                    self.refused[status] = self.refused.get(status, 0) + 1
            if status == 0:
                time.sleep(0.02)
