"""A technician pairing and naming a device on the page during a power-cut trial.

Opening the install window takes the platform's ``open_install_window`` command (a restart closes it); the
installer code is one the platform set with ``set_installer_code``, so it must sign in after every cut. A
``PATCH`` answered 200 means the registry has the new name on disk: after a cut it must still be there, or a
name whose request was still in flight at the cut.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

CODE = "powercut-Install-42"


@dataclass
class Names:
    """Device names acknowledged (PATCH answered 200) and those asked for after the last acknowledgement."""

    acked: dict[str, str] = field(default_factory=dict)
    in_flight: dict[str, set[str]] = field(default_factory=dict)

    def asked(self, device: str, name: str) -> None:
        self.in_flight.setdefault(device, set()).add(name)

    acknowledged: int = 0

    def answered(self, device: str, name: str) -> None:
        self.acked[device] = name
        self.in_flight[device] = set()
        self.acknowledged += 1

    def problems(self, devices: list[dict[str, Any]]) -> list[str]:
        """What the registry lost, given ``GET /api/devices`` after a cut."""
        names = {d["id"]: d["name"] for d in devices}
        out = []
        for device, name in self.acked.items():
            allowed = {name} | self.in_flight.get(device, set())
            if names.get(device) not in allowed:
                out.append(f"device {device} is named {names.get(device)!r} after a cut, acknowledged as {name!r}")
            else:  # what the medium has is now the last word, and the next check starts from it
                self.acked[device] = names[device]
                self.in_flight[device] = set()
        return out


async def sign_in(session: aiohttp.ClientSession, base_url: str) -> str:
    """Sign in with :data:`CODE`; returns the session's CSRF token. Raises ``PermissionError`` if refused."""
    async with session.get(f"{base_url}/login") as resp:
        m = re.search(r'name="_csrf" value="([^"]+)"', await resp.text())
    if m is None:
        raise PermissionError("no sign-in form")
    form = {"_csrf": m.group(1), "code": CODE}
    async with session.post(f"{base_url}/login", data=form, headers={"Accept": "application/json"}) as resp:
        body = await resp.json()
        if resp.status != 200:
            raise PermissionError(f"sign-in refused ({resp.status}): {body}")
    return str(body["csrf"])


async def pair_and_name(
    base_url: str, trial: int, names: Names, open_window: Callable[[], Awaitable[None]], problems: list[str]
) -> None:
    """Open the window, sign in, pair a simulated call button, then name it; stops quietly when the power goes."""
    try:
        await open_window()
        jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
        async with aiohttp.ClientSession(cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=10)) as session:
            try:
                csrf = await sign_in(session, base_url)
            except PermissionError as exc:
                problems.append(f"cut {trial}: the installer code set by the platform does not sign in: {exc}")
                return
            hdr = {"X-CSRF-Token": csrf}
            async with session.post(f"{base_url}/api/pairing/sim/start", json={"seconds": 30}, headers=hdr) as r:
                r.raise_for_status()
            device = None
            for _ in range(100):
                async with session.get(f"{base_url}/api/pairing/sim") as r:
                    ready = (await r.json())["ready"]
                if ready:
                    device = ready[-1]
                    break
                await asyncio.sleep(0.05)
            if device is None:
                problems.append(f"cut {trial}: pairing did not finish")
                return
            name = f"paired in trial {trial}"
            names.asked(device, name)
            async with session.patch(f"{base_url}/api/devices/{device}", json={"name": name}, headers=hdr) as r:
                if r.status == 200:
                    names.answered(device, name)
    except (aiohttp.ClientError, ConnectionError, TimeoutError):
        return  # the cut came first
