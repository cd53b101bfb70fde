"""Fixtures for the technician page: an in-process gateway with the simulated home, and HTTP clients."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import drivers.gpio
from gateway.app import Gateway
from gateway.web.server import create_app
from tests.drivers.gpio.conftest import CHIP, cord
from tests.drivers.gpio.fakes import FakeLines
from tests.support.broker import Mosquitto
from tests.support.gateway import make_config

#: Fast scrypt checks and small limits keep the suite quick; the real defaults are tested in test_auth_units.
FAST_WEB: dict[str, Any] = {"login_max_failures": 3, "login_max_failures_total": 50, "discovery": False}


@contextlib.asynccontextmanager
async def running_gateway(
    state_dir: Path,
    broker: Mosquitto,
    gateway_id: str = "gw-test",
    drivers: dict[str, Any] | None = None,
    **web_settings: Any,
) -> AsyncIterator[Gateway]:
    """A gateway with the simulated home (plus ``drivers`` sections); ``web_settings`` go to ``[web]``."""
    extra = {"drivers": drivers} if drivers else {}
    cfg = make_config(state_dir, broker.url, gateway_id=gateway_id, web={**FAST_WEB, **web_settings}, **extra)
    async with Gateway(cfg) as gw:
        yield gw


@pytest.fixture
async def gw(tmp_path: Path, broker: Mosquitto) -> AsyncIterator[Gateway]:
    async with running_gateway(tmp_path / "state", broker) as g:
        yield g


def fake_peer(address: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    """A middleware that makes every request look as if it came from ``address`` (non-loopback peers)."""

    @web.middleware
    async def mw(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        return await handler(request.clone(remote=address))

    return mw


@contextlib.asynccontextmanager
async def client_for(gateway: Gateway, peer: str | None = None) -> AsyncIterator[TestClient[Any, Any]]:
    assert gateway.services is not None
    app = create_app(gateway.service_context(), gateway.services.web, loopback_only=gateway.web.loopback_only)
    if peer is not None:
        app.middlewares.insert(0, fake_peer(peer))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


@pytest.fixture
async def client(gw: Gateway) -> AsyncIterator[TestClient[Any, Any]]:
    async with client_for(gw) as c:
        yield c


def code_of(gateway: Gateway) -> str:
    code = gateway.services.web.signin_code_for_console  # type: ignore[union-attr]
    assert code, "expected a generated installer code"
    return str(code)


async def prelogin(client: TestClient[Any, Any]) -> str:
    resp = await client.get("/login")
    assert resp.status == 200
    m = re.search(r'name="_csrf" value="([^"]+)"', await resp.text())
    assert m
    return m.group(1)


async def sign_in(client: TestClient[Any, Any], code: str) -> str:
    """Sign in through the form (JSON answer); returns the session's CSRF token."""
    token = await prelogin(client)
    resp = await client.post("/login", data={"_csrf": token, "code": code}, headers={"Accept": "application/json"})
    body = await resp.json()
    assert resp.status == 200, body
    return str(body["csrf"])


def hdr(csrf: str) -> dict[str, str]:
    return {"X-CSRF-Token": csrf}


#: The spare call-button terminal of :data:`GPIO_INPUTS`, as the GPIO driver offers it.
GPIO_SPARE = f"{CHIP}:5"
#: The bathroom cord is added at start; two spare terminals wait for a technician; the box's install button.
GPIO_INPUTS = [
    cord("bath-cord", 17),
    cord("spare", 5, kind="call_button", room="", contact="no", pairing="manual"),
    cord("spare-door", 4, kind="door", room="hall", contact="nc", pairing="manual"),
    cord("install", 6, kind="install_button", room="", contact="no"),
]


@pytest.fixture
def gpio_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLines]:
    fake = FakeLines()
    fake.add(CHIP, 17, level=True)  # NC loop closed
    fake.add(CHIP, 5, level=False)  # NO button idle
    fake.add(CHIP, 4, level=True)  # door shut
    fake.add(CHIP, 6, level=False)
    monkeypatch.setattr(drivers.gpio, "default_line_factory", fake)
    yield fake
    fake.close()


@contextlib.asynccontextmanager
async def gpio_gateway(state: Path, broker: Mosquitto) -> AsyncIterator[Gateway]:
    """The simulated home plus :data:`GPIO_INPUTS` (use with the ``gpio_lines`` fixture)."""
    async with running_gateway(state, broker, drivers={"gpio": {"enabled": True, "inputs": GPIO_INPUTS}}) as gw:
        yield gw
