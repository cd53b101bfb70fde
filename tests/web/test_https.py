"""The technician's page over HTTPS with the box's own certificate, and plain HTTP on loopback only.

A real ``fbgw run`` process makes its certificate at first start; the client trusts exactly that certificate
(the file, and its SHA-256 fingerprint as printed on the label) and nothing else.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import socket
import ssl
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
from cryptography import x509

from gateway.app import Gateway
from gateway.config import parse_config
from gateway.discovery import HTTPS_SERVICE_TYPE
from gateway.web.auth import SESSION_COOKIE
from gateway.web.tls import TLS_DIR, ensure_certificate, fingerprint_of
from tests.support.broker import Mosquitto, free_port
from tests.support.gateway import REPO, GatewayProcess, config_dict, make_config, write_toml
from tests.web.conftest import FAST_WEB

pytestmark = pytest.mark.timeout(90)


def pinned(cert: Path) -> ssl.SSLContext:
    """Trust only the box's certificate (it names 127.0.0.1, so host checking stays on)."""
    return ssl.create_default_context(cafile=str(cert))


def peer_fingerprint(port: int) -> str:
    """SHA-256 of the certificate the server presents, fetched without trusting anything."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, ctx.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return fingerprint_of(der)


def listening(pid: int) -> set[tuple[str, int]]:
    return {
        (c.laddr.ip, c.laddr.port)
        for c in psutil.Process(pid).net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN
    }


async def test_page_over_https_with_the_box_certificate_and_http_on_loopback(tmp_path: Path, broker: Mosquitto) -> None:
    https_port = free_port()
    state = tmp_path / "state"
    raw = config_dict(state, broker.url, http={"listen": "127.0.0.1:0", "https_listen": f"127.0.0.1:{https_port}"})
    gp = GatewayProcess(write_toml(tmp_path / "gw.toml", raw), tmp_path / "gw.log")
    gp.start()
    assert gp.proc is not None
    try:
        cert_file, key_file = state / TLS_DIR / "cert.pem", state / TLS_DIR / "key.pem"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        fingerprint = fingerprint_of(cert.public_bytes(serialization_der()))
        assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", fingerprint)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "fbgw-gw-test.local" in names.get_values_for_type(x509.DNSName)
        assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} >= {"127.0.0.1", "10.42.0.1"}

        async with aiohttp.ClientSession() as http:
            async with http.get(f"{gp.base_url}/api/status") as resp:  # plain HTTP, loopback: local tools
                status = await resp.json()
            assert status["https"] == {"port": https_port, "fingerprint_sha256": fingerprint, "error": ""}
            assert status["hotspot"]["state"] == "disabled"

            base = f"https://127.0.0.1:{https_port}"
            async with http.get(f"{base}/login", ssl=pinned(cert_file)) as resp:
                assert resp.status == 200 and "text/html" in resp.headers["Content-Type"]
                assert 'name="_csrf"' in await resp.text()
                assert "Secure" in resp.headers["Set-Cookie"]  # the sign-in cookies never go back over HTTP
            async with http.get(f"{base}/api/status", ssl=pinned(cert_file)) as resp:
                assert (await resp.json())["gateway"] == "gw-test"
            with pytest.raises(aiohttp.ClientConnectorCertificateError):  # not a certificate anyone vouches for
                async with http.get(f"{base}/login", ssl=ssl.create_default_context()):
                    pass
            with pytest.raises(aiohttp.ClientError):  # no plain HTTP on the HTTPS port
                async with http.get(f"http://127.0.0.1:{https_port}/login"):
                    pass
        assert await asyncio.to_thread(peer_fingerprint, https_port) == fingerprint  # what the label pins

        status_text = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-m",
                "gateway.cli",
                "status",
                "--config",
                str(tmp_path / "gw.toml"),
                "--url",
                gp.base_url,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=REPO,
        )
        assert f"https:   port {https_port}, certificate SHA-256 {fingerprint}" in status_text.stdout, status_text

        sockets = listening(gp.proc.pid)
        assert ("127.0.0.1", gp.http_port) in sockets and ("127.0.0.1", https_port) in sockets
        assert all(ip == "127.0.0.1" for ip, _ in sockets)  # nothing on a wildcard or public address

        gp.terminate()
        gp.start()  # a restart keeps the certificate (the label stays right)
        assert await asyncio.to_thread(peer_fingerprint, https_port) == fingerprint
    finally:
        if gp.alive():
            gp.terminate()


def serialization_der() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


async def test_sign_in_over_https_sets_secure_cookies(tmp_path: Path, broker: Mosquitto) -> None:
    cfg = make_config(tmp_path / "state", broker.url, web=FAST_WEB, http={"https_listen": "127.0.0.1:0"})
    async with Gateway(cfg) as gw:
        assert gw.services is not None
        http_server = gw.services.http
        assert http_server.certificate is not None and http_server.https_port
        code = gw.services.web.signin_code_for_console
        assert code
        ctx = pinned(http_server.certificate.cert)
        base = f"https://127.0.0.1:{http_server.https_port}"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(f"{base}/login", ssl=ctx) as resp:
                token = re.search(r'name="_csrf" value="([^"]+)"', await resp.text())
            assert token
            async with http.post(
                f"{base}/login",
                data={"_csrf": token.group(1), "code": code},
                headers={"Accept": "application/json", "Origin": base},
                ssl=ctx,
            ) as resp:
                assert resp.status == 200, await resp.text()
                [session] = [c for c in resp.headers.getall("Set-Cookie") if c.startswith(f"{SESSION_COOKIE}=")]
            assert "Secure" in session and "HttpOnly" in session
            async with http.get(f"{base}/", ssl=ctx, allow_redirects=False) as resp:
                assert resp.status == 200  # signed in over HTTPS


def test_https_listen_is_checked() -> None:
    raw = {"gateway": {"id": "gw-1"}, "http": {"https_listen": "nowhere"}}
    with pytest.raises(ValueError, match="listen must be HOST:PORT"):
        parse_config(raw)
    assert parse_config({"gateway": {"id": "gw-1"}}).http.https_port is None


def test_the_package_config_serves_https_and_keeps_http_on_loopback() -> None:
    text = (REPO / "debian" / "fbgw.toml.in").read_text().replace("@GATEWAY_ID@", "gw-0042")
    cfg = parse_config(tomllib.loads(text))
    assert cfg.http.host == "127.0.0.1"
    assert cfg.http.https_listen == "0.0.0.0:8443"
    assert cfg.hotspot.enabled


def test_certificate_is_made_once(tmp_path: Path) -> None:
    first = ensure_certificate(tmp_path, "gw-1", ["10.42.0.1"])
    again = ensure_certificate(tmp_path, "gw-1", ["10.42.0.1"])
    assert first == again
    assert first.fingerprint == fingerprint_of(
        x509.load_pem_x509_certificate(first.cert.read_bytes()).public_bytes(serialization_der())
    )
    first.cert.write_text("garbage")  # unreadable: a new one is made
    assert ensure_certificate(tmp_path, "gw-1").fingerprint != first.fingerprint


async def test_mdns_advertises_the_https_page(tmp_path: Path, broker: Mosquitto) -> None:
    """With HTTPS, the phone is pointed at the HTTPS port (``_https._tcp``), not at the loopback-only HTTP one."""
    gw_id = f"gw-mdns-{secrets.token_hex(4)}"
    cfg = make_config(
        tmp_path / "state",
        broker.url,
        gateway_id=gw_id,
        web={**FAST_WEB, "discovery": True},
        http={"https_listen": "127.0.0.1:0"},
    )
    async with Gateway(cfg) as gw:
        assert gw.services is not None
        disc = gw.services.discovery
        await asyncio.wait_for(disc.registered.wait(), 15)
        assert disc.info is not None
        assert disc.info.type == HTTPS_SERVICE_TYPE and disc.info.name == f"fbgw-{gw_id}.{HTTPS_SERVICE_TYPE}"
        assert disc.info.port == gw.services.http.https_port != gw.services.http.port


async def test_https_that_cannot_listen_is_reported_and_the_gateway_runs(tmp_path: Path, broker: Mosquitto) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        cfg = make_config(tmp_path / "state", broker.url, web=FAST_WEB, http={"https_listen": f"127.0.0.1:{port}"})
        async with Gateway(cfg) as gw, aiohttp.ClientSession() as http:
            assert gw.services is not None
            async with http.get(f"http://127.0.0.1:{gw.services.http.port}/api/status") as resp:
                status = await resp.json()
            assert status["https"]["fingerprint_sha256"] is None
            assert "in use" in status["https"]["error"], status["https"]
            assert status["uplink"]["state"] in ("online", "connecting")
            assert gw.services.http.page_scheme == "http"
