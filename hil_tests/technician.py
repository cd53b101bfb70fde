"""The technician's phone on the gateway's page: sign in with the installer code, then pair a device.

Used where a device is added the way a technician adds it on site (BLE: the page's "add device" flow, which
needs the device's advert and its bindkey; Zigbee: pairing opened on the page, the joining device named and
placed there). The install window is opened first by the platform's
``open_install_window`` command, as the county's operator would for a technician on the phone.
"""

from __future__ import annotations

import re
from types import TracebackType
from typing import Any

import aiohttp

from gateway.web.signin_code import generate_code, hash_code

_CSRF_FIELD = re.compile(r'name="_csrf" value="([^"]+)"')


def installer_code() -> tuple[str, str]:
    """A fresh installer code and its scrypt hash (the hash goes into ``[web] installer_code_hash``)."""
    code = generate_code(8)
    return code, hash_code(code)


class Technician:
    """A signed-in session on the gateway's page (cookies and the session's CSRF token)."""

    def __init__(self, base_url: str, code: str, timeout: float = 30.0) -> None:
        self.base_url = base_url
        self.code = code
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.csrf = ""
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Technician:
        # unsafe=True: keep cookies for an IP address host (the gateway under test is on 127.0.0.1)
        self._http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), timeout=self.timeout)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._http is not None:
            await self._http.close()

    @property
    def http(self) -> aiohttp.ClientSession:
        assert self._http is not None, "use Technician as an async context manager"
        return self._http

    async def sign_in(self) -> None:
        """The login form: its double-submit token, then the code; raises with the page's answer if refused."""
        async with self.http.get(self.base_url + "/login") as resp:
            match = _CSRF_FIELD.search(await resp.text())
        if match is None:
            raise RuntimeError(f"no sign-in form at {self.base_url}/login (HTTP {resp.status})")
        form = {"_csrf": match.group(1), "code": self.code}
        headers = {"Accept": "application/json"}
        async with self.http.post(self.base_url + "/login", data=form, headers=headers) as resp:
            if resp.status != 200:
                raise RuntimeError(f"sign-in refused: HTTP {resp.status} {(await resp.text())[:200]}")
            self.csrf = str((await resp.json())["csrf"])

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """A JSON POST on the page's API with the session's CSRF token: (status, answer)."""
        return await self.call("POST", path, body)

    async def get(self, path: str) -> tuple[int, dict[str, Any]]:
        """A GET on the page's API (what the page polls: pairing progress, a device)."""
        return await self.call("GET", path)

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        """Any request on the page's API (PATCH a device's name and room, DELETE it...): (status, answer)."""
        headers = {"X-CSRF-Token": self.csrf}
        async with self.http.request(method, self.base_url + path, json=body, headers=headers) as resp:
            return resp.status, dict(await resp.json(content_type=None))
