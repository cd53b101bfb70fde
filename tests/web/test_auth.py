"""Sign-in, sessions, CSRF, rate limiting and the install window, through the real HTTP API."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from pathlib import Path

import pytest

from gateway.config import ConfigError, parse_config
from gateway.web.signin_code import hash_code
from tests.support.broker import Mosquitto
from tests.support.gateway import REPO, config_dict
from tests.web.conftest import client_for, code_of, hdr, prelogin, running_gateway, sign_in

pytestmark = pytest.mark.timeout(60)


async def test_pages_and_api_need_sign_in(client) -> None:
    resp = await client.get("/", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/login"
    for path in ("/api/overview", "/api/acceptance", "/api/tests", "/api/live", "/api/transports"):
        resp = await client.get(path)
        assert resp.status == 401, path
        assert "sign in" in (await resp.json())["error"]
    resp = await client.patch("/api/devices/btn-1", json={"name": "x"})
    assert resp.status == 401


async def test_form_sign_in_sets_strict_httponly_cookie_and_signs_out(gw, client) -> None:
    token = await prelogin(client)
    resp = await client.post("/login", data={"_csrf": token, "code": code_of(gw)}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/"
    cookie = next(v for k, v in resp.headers.items() if k == "Set-Cookie" and v.startswith("fbgw_session="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    page = await client.get("/")
    assert page.status == 200
    html = await page.text()
    assert "gw-test" in html
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    csrf = html.split('name="csrf-token" content="')[1].split('"')[0]
    # sign-out needs the CSRF token too
    assert (await client.post("/logout", data={})).status == 403
    resp = await client.post("/logout", data={"_csrf": csrf}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/login"
    assert (await client.get("/api/overview")).status == 401


async def test_wrong_code_and_missing_prelogin_token(gw, client) -> None:
    token = await prelogin(client)
    resp = await client.post("/login", data={"_csrf": token, "code": "00000000"})
    assert resp.status == 401
    assert "安装码不正确" in await resp.text()  # Chinese by default
    resp = await client.post("/login", data={"code": code_of(gw)}, headers={"Accept": "application/json"})
    assert resp.status == 403
    resp = await client.post("/login", data={"_csrf": "forged", "code": code_of(gw)})
    assert resp.status == 403
    resp = await client.post("/login", data={"_csrf": token, "code": "9" * 65}, headers={"Accept": "application/json"})
    assert resp.status == 400
    resp = await client.post("/login", data=b"\xff\xfe", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status in (400, 403)


async def test_login_rate_limit_per_client_and_in_total(gw) -> None:
    """3 failures (test setting) lock a client out, even with the right code; other clients are unaffected."""
    async with client_for(gw, peer="192.0.2.10") as a, client_for(gw, peer="192.0.2.11") as b:
        token = await prelogin(a)
        for _ in range(3):
            resp = await a.post("/login", data={"_csrf": token, "code": "11111111"})
            assert resp.status == 401
        resp = await a.post(
            "/login", data={"_csrf": token, "code": code_of(gw)}, headers={"Accept": "application/json"}
        )
        assert resp.status == 429
        assert int(resp.headers["Retry-After"]) > 0
        assert "Too many" in (await resp.json())["error"]
        assert await sign_in(b, code_of(gw))  # another address still gets in


async def test_parallel_wrong_codes_from_one_client_are_counted_before_the_slow_check(gw, monkeypatch) -> None:
    """30 wrong codes sent at once: only the limit (3) reach scrypt, the rest wait; no right code slips in."""
    svc = gw.services.web
    checked: list[str] = []
    real_check = svc.codes.check

    def counting_check(code: str) -> bool:
        checked.append(code)
        return real_check(code)

    monkeypatch.setattr(svc.codes, "check", counting_check)
    async with client_for(gw, peer="192.0.2.20") as a, client_for(gw, peer="192.0.2.21") as b:
        token = await prelogin(a)
        json_accept = {"Accept": "application/json"}
        resps = await asyncio.gather(
            *(a.post("/login", data={"_csrf": token, "code": f"wrong-{i}"}, headers=json_accept) for i in range(30))
        )
        statuses = [r.status for r in resps]
        assert statuses.count(401) == 3 and statuses.count(429) == 27, statuses
        assert len(checked) == 3
        limited = next(r for r in resps if r.status == 429)
        assert int(limited.headers["Retry-After"]) > 0 and "Too many" in (await limited.json())["error"]
        resp = await a.post("/login", data={"_csrf": token, "code": code_of(gw)}, headers=json_accept)
        assert resp.status == 429  # still locked out, even with the right code
        await sign_in(b, code_of(gw))  # another address is not
    assert svc.limiter.retry_after("192.0.2.21") == 0


async def test_total_limit_stops_address_spraying(tmp_path: Path, broker: Mosquitto) -> None:
    """Over the total, every address that already failed waits (even with the right code), a fresh address gets
    one try, and the technician's phone, which never failed, always gets in."""
    async with running_gateway(tmp_path, broker, login_max_failures_total=4) as gw:
        for i in range(4):
            async with client_for(gw, peer=f"198.51.100.{i}") as c:
                assert (await c.post("/login", data={"_csrf": await prelogin(c), "code": "1"})).status == 401
        async with client_for(gw, peer="198.51.100.0") as c:
            resp = await c.post("/login", data={"_csrf": await prelogin(c), "code": code_of(gw)})
            assert resp.status == 429
        async with client_for(gw, peer="198.51.100.50") as c:
            token = await prelogin(c)
            assert (await c.post("/login", data={"_csrf": token, "code": "2"})).status == 401
            assert (await c.post("/login", data={"_csrf": token, "code": "3"})).status == 429
        async with client_for(gw, peer="198.51.100.99") as c:
            assert await sign_in(c, code_of(gw))


async def test_csrf_on_every_change(gw, client) -> None:
    csrf = await sign_in(client, code_of(gw))
    assert (await client.patch("/api/devices/btn-1", json={"name": "A"})).status == 403
    assert (await client.patch("/api/devices/btn-1", json={"name": "A"}, headers=hdr("wrong"))).status == 403
    resp = await client.patch(
        "/api/devices/btn-1", json={"name": "A"}, headers={**hdr(csrf), "Origin": "http://evil.example"}
    )
    assert resp.status == 403 and "Origin" in (await resp.json())["error"]
    for method, path in (
        ("POST", "/api/acceptance/submit"),
        ("DELETE", "/api/devices/btn-2"),
        ("POST", "/api/pairing/sim/start"),
        ("POST", "/api/window"),
    ):
        resp = await client.request(method, path, json={})
        assert resp.status == 403, (method, path)
    assert gw.registry.get("btn-2") is not None
    resp = await client.patch("/api/devices/btn-1", json={"name": "床头按钮"}, headers=hdr(csrf))
    assert resp.status == 200
    assert gw.registry.get("btn-1").name == "床头按钮"


async def test_core_api_open_on_loopback_signed_in_elsewhere(gw, client) -> None:
    # loopback (rigs, benchmarks): no sign-in, and the sim endpoint needs no CSRF token
    assert (await client.get("/api/devices")).status == 200
    assert (await client.get("/api/status")).status == 200
    resp = await client.post("/api/sim/readings", json={"device": "btn-1", "capability": "press", "value": True})
    assert resp.status == 200 and (await resp.json())["accepted"] == 1
    async with client_for(gw, peer="192.0.2.7") as lan:
        assert (await lan.get("/api/devices")).status == 401
        assert (await lan.get("/api/status")).status == 401
        assert (await lan.post("/api/sim/readings", json={})).status == 401
        await sign_in(lan, code_of(gw))
        assert (await lan.get("/api/devices")).status == 200
        assert (await lan.get("/api/status")).status == 200
        assert (
            await lan.post("/api/sim/readings", json={"device": "btn-1", "capability": "press", "value": True})
        ).status == 403


async def test_code_is_hashed_at_rest_and_shown_once(tmp_path: Path, broker: Mosquitto) -> None:
    state = tmp_path / "state"
    async with running_gateway(state, broker) as gw:
        code = code_of(gw)
        assert len(code) == 8 and code.isdigit()
    stored = state / "web" / "installer_code"
    assert stat.S_IMODE(os.stat(stored).st_mode) == 0o600
    assert stored.read_text().startswith("scrypt$")
    for path in state.rglob("*"):
        if path.is_file():
            assert code.encode() not in path.read_bytes(), path
    async with running_gateway(state, broker) as gw2:  # second boot: same code, not shown again
        assert gw2.services.web.signin_code_for_console is None
        async with client_for(gw2) as c:
            assert not gw2.services.web.window.is_open  # not first boot any more
            gw2.services.web.open_install_window(60)
            assert await sign_in(c, code)


async def test_configured_hash_and_platform_issued_code(tmp_path: Path, broker: Mosquitto) -> None:
    configured = await asyncio.to_thread(hash_code, "24681357")
    async with running_gateway(tmp_path / "s", broker, installer_code_hash=configured) as gw:
        svc = gw.services.web
        assert svc.signin_code_for_console is None
        assert not (tmp_path / "s" / "web" / "installer_code").exists()
        async with client_for(gw) as c:
            await sign_in(c, "24681357")
            await svc.set_installer_code("98765432")  # issued by the platform: sessions end
            assert (await c.get("/api/overview")).status == 401
            token = await prelogin(c)
            assert (await c.post("/login", data={"_csrf": token, "code": "24681357"})).status == 401
            await sign_in(c, "98765432")
        with pytest.raises(ValueError):
            await svc.set_installer_code("12")
    with pytest.raises(ConfigError, match="scrypt"):
        parse_config(config_dict(tmp_path, "mqtt://127.0.0.1:1", web={"installer_code_hash": "hunter2"}))


async def test_install_window_opens_first_boot_closes_itself_and_ends_sessions(
    tmp_path: Path, broker: Mosquitto
) -> None:
    async with running_gateway(tmp_path / "a", broker, open_on_first_boot=False) as gw:
        svc = gw.services.web
        assert not svc.window.is_open
        async with client_for(gw) as c:
            token = await prelogin(c)
            resp = await c.post(
                "/login", data={"_csrf": token, "code": code_of(gw)}, headers={"Accept": "application/json"}
            )
            assert resp.status == 403 and "install window" in (await resp.json())["error"]
            page = await c.get("/login")
            assert "安装窗口未开启" in await page.text()
            svc.open_install_window(0.6, by="gpio long press")
            csrf = await sign_in(c, code_of(gw))
            assert (await c.get("/api/overview")).status == 200
            await asyncio.sleep(0.9)
            assert not svc.window.is_open
            assert (await c.get("/api/overview")).status == 401  # the window closed by itself
            svc.open_install_window(30)
            csrf = await sign_in(c, code_of(gw))
            resp = await c.post("/api/window", json={"seconds": 120}, headers=hdr(csrf))
            assert resp.status == 200 and (await resp.json())["seconds"] == 120
            assert (await c.post("/api/window", json={"seconds": 5}, headers=hdr(csrf))).status == 400
            svc.close_install_window()
            assert (await c.get("/api/overview")).status == 401
            assert svc.open_install_window(10**9) == svc.settings.install_window_max_s  # capped
            with pytest.raises(ValueError):
                svc.open_install_window(0)
    async with running_gateway(tmp_path / "b", broker) as gw:
        assert gw.services.web.window.is_open  # first boot of a fresh box
        assert gw.services.web.window.opened_by == "first boot"


class FakeClock:
    def __init__(self) -> None:
        self.t = 5000.0

    def __call__(self) -> float:
        return self.t


async def test_technician_cannot_keep_extending_the_window(tmp_path: Path, broker: Mosquitto) -> None:
    """Each grant (platform, install button) allows install_window_max_s; extending never goes past it."""
    async with running_gateway(tmp_path, broker, install_window_max_s=600) as gw, client_for(gw) as c:
        svc = gw.services.web
        svc.close_install_window()
        clock = FakeClock()
        svc.window.now = clock
        svc.open_install_window(300, by="platform")
        csrf = await sign_in(c, code_of(gw))

        async def extend(seconds: int) -> tuple[int, dict]:
            resp = await c.post("/api/window", json={"seconds": seconds}, headers=hdr(csrf))
            return resp.status, await resp.json()

        assert await extend(600) == (200, {"open": True, "seconds": 600, "extendable_s": 600})
        clock.t += 300
        status, body = await extend(600)  # would end 300 s past the allowance: nothing to gain
        assert status == 409 and "at most 10 minutes" in body["error"] and body["extendable_s"] == 300
        assert svc.window.remaining_s() == 300
        assert await extend(120) == (200, {"open": True, "seconds": 120, "extendable_s": 300})  # shorter is fine
        assert (await extend(3600))[1]["seconds"] == 300  # back up to the allowance, no further
        clock.t += 299
        assert (await extend(60))[0] == 409
        overview = await (await c.get("/api/overview")).json()
        assert overview["window"]["remaining_s"] == 1 and overview["window"]["extendable_s"] == 1
        svc.open_install_window(60, by="platform")  # a new grant: a new allowance
        assert (await extend(600))[1]["seconds"] == 600
        assert svc.window.opened_by == "platform"
        for bad in (59, 24 * 3600 + 1, "ten", 1.5, None):
            resp = await c.post("/api/window", json={"seconds": bad}, headers=hdr(csrf))
            assert resp.status == 400 and "seconds" in (await resp.json())["error"], bad


async def test_language_switch_and_safe_redirect(gw, client) -> None:
    resp = await client.get("/lang?to=en&next=/login", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/login"
    assert "Installer sign-in" in await (await client.get("/login")).text()
    resp = await client.get("/lang?to=en&next=//evil.example/x", allow_redirects=False)
    assert resp.headers["Location"] == "/"
    assert (await client.get("/lang?to=fr")).status == 400


async def test_reset_with_recommission_reopens_the_window(tmp_path: Path, broker: Mosquitto) -> None:
    state = tmp_path / "state"
    async with running_gateway(state, broker) as gw:
        assert gw.services.web.window.is_open
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.web.signin_code",
        "reset",
        "--state-dir",
        str(state),
        "--recommission",
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO,
    )
    out, _ = await proc.communicate()
    code = out.decode().strip()
    assert proc.returncode == 0 and len(code) == 8
    async with running_gateway(state, broker) as gw, client_for(gw) as c:
        assert gw.services.web.window.is_open and gw.services.web.signin_code_for_console is None
        assert await sign_in(c, code)
