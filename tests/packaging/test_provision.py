"""``fbgw provision``: the box's key (kept across runs) and CSR, a new installer code, and a label whose QR code
holds the gateway id, that code and the page address (and, when configured, the HTTPS certificate's fingerprint
and the install Wi-Fi)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
import segno
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from segno import helpers

from gateway.app import Gateway
from gateway.hotspot.credentials import WIFI_FILE, WifiCredentials
from gateway.web.signin_code import CODE_FILE, verify_code
from gateway.web.tls import TLS_DIR, fingerprint_of
from tests.support.broker import Mosquitto
from tests.support.gateway import GatewayProcess, config_dict, make_config, write_toml


def provision(cfg: Path, out: Path, state: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "gateway.cli", "provision", "--config", str(cfg), "--out", str(out)]
    if os.geteuid() != 0:
        argv += ["--state-dir", str(state)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_provision_makes_identity_csr_code_and_label(tmp_path: Path) -> None:
    state = tmp_path / "state"
    cfg = write_toml(tmp_path / "gw.toml", config_dict(state, "mqtt://127.0.0.1:1", gateway_id="gw-0042"))
    res = provision(cfg, tmp_path / "labels", state)
    assert res.returncode == 0, res.stderr
    key = (state / "identity/key.pem").read_bytes()
    assert (state / "identity/key.pem").stat().st_mode & 0o777 == 0o600
    csr = x509.load_pem_x509_csr((state / "identity/box.csr").read_bytes())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "gw-0042"

    text = (tmp_path / "labels/gw-0042.txt").read_text()
    code = text.split("installer code: ")[1].split()[0]
    assert verify_code(code, (state / CODE_FILE).read_text().strip())
    page = "http://fbgw-gw-0042.local:0/"  # the config's http.listen port
    assert f"page: {page}" in text
    # The QR code encodes exactly the id, this code and the page: the same symbol segno makes of that payload.
    expected = segno.make(json.dumps({"gw": "gw-0042", "code": code, "url": page}, separators=(",", ":")), error="m")
    buf = io.BytesIO()
    expected.save(buf, kind="svg", scale=4, border=2)
    assert (tmp_path / "labels/gw-0042.svg").read_bytes() == buf.getvalue()
    assert (tmp_path / "labels/gw-0042.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert code not in (state / CODE_FILE).read_text()

    # A second run keeps the key (the county CA may already have signed it) and issues a new code.
    res = provision(cfg, tmp_path / "labels", state)
    assert res.returncode == 0, res.stderr
    assert (state / "identity/key.pem").read_bytes() == key
    assert not verify_code(code, (state / CODE_FILE).read_text().strip())


async def test_label_holds_the_certificate_fingerprint_and_the_install_wifi(
    tmp_path: Path, broker: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With HTTPS and the access point configured (as the package's config has them), the label carries the
    certificate's fingerprint and the Wi-Fi name and password, and the box then serves exactly that certificate
    and runs exactly that network."""
    state = tmp_path / "state"
    raw = config_dict(
        state,
        broker.url,
        gateway_id="gw-0042",
        http={"listen": "127.0.0.1:0", "https_listen": "127.0.0.1:8443"},
        hotspot={"enabled": True},
    )
    res = provision(write_toml(tmp_path / "gw.toml", raw), tmp_path / "labels", state)
    assert res.returncode == 0, res.stderr
    text = (tmp_path / "labels/gw-0042.txt").read_text()
    fields = dict(line.split(": ", 1) for line in text.splitlines())
    wifi = json.loads((state / WIFI_FILE).read_text())
    assert (state / WIFI_FILE).stat().st_mode & 0o777 == 0o600
    assert (state / TLS_DIR / "key.pem").stat().st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate((state / TLS_DIR / "cert.pem").read_bytes())
    fingerprint = fingerprint_of(cert.public_bytes(Encoding.DER))
    assert fields["certificate SHA-256"] == fingerprint
    assert fields["page"] == "https://fbgw-gw-0042.local:8443/"
    assert fields["Wi-Fi (hold the install button)"] == wifi["ssid"] == "fbgw-gw-0042"
    assert fields["Wi-Fi password"] == wifi["password"]
    assert fields["page on that Wi-Fi"] == "https://10.42.0.1:8443/"

    code = fields["installer code"]
    doc = {
        "gw": "gw-0042",
        "code": code,
        "url": "https://fbgw-gw-0042.local:8443/",
        "fp": fingerprint,
        "wifi": {"ssid": wifi["ssid"], "psk": wifi["password"]},
    }
    assert_svg(tmp_path / "labels/gw-0042.svg", segno.make(json.dumps(doc, separators=(",", ":")), error="m"))
    join = helpers.make_wifi(ssid=wifi["ssid"], password=wifi["password"], security="WPA")  # a phone camera joins it
    assert_svg(tmp_path / "labels/gw-0042-wifi.svg", join)
    assert (tmp_path / "labels/gw-0042-wifi.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")  # never the machine's own
    cfg = make_config(
        state, broker.url, gateway_id="gw-0042", http={"https_listen": "127.0.0.1:0"}, hotspot={"enabled": True}
    )
    async with Gateway(cfg) as gw:  # the box's first start keeps what provisioning made
        assert gw.services is not None
        assert gw.services.http.certificate is not None
        assert gw.services.http.certificate.fingerprint == fingerprint
        assert gw.services.hotspot.credentials == WifiCredentials(wifi["ssid"], wifi["password"])
    assert json.loads((state / WIFI_FILE).read_text()) == wifi


def assert_svg(path: Path, qr: segno.QRCode) -> None:
    buf = io.BytesIO()
    qr.save(buf, kind="svg", scale=4, border=2)
    assert path.read_bytes() == buf.getvalue()


def label_code(state: Path, gateway_id: str) -> str:
    return (state / "label" / f"{gateway_id}.txt").read_text().split("installer code: ")[1].splitlines()[0]


async def test_first_start_provisions_the_box_once(tmp_path: Path, broker: Mosquitto) -> None:
    """No ``fbgw provision`` at a bench: the first ``fbgw run`` makes the key, the CSR and the label (with a new
    code that signs in), logs where the label is, and later starts change nothing."""
    state = tmp_path / "state"
    cfg = write_toml(tmp_path / "gw.toml", config_dict(state, broker.url, gateway_id="gw-0077"))
    gw = GatewayProcess(cfg, tmp_path / "gw.log")
    await asyncio.to_thread(gw.start, 60)
    try:
        key = (state / "identity/key.pem").read_bytes()
        csr = x509.load_pem_x509_csr((state / "identity/box.csr").read_bytes())
        assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "gw-0077"
        code = label_code(state, "gw-0077")
        assert verify_code(code, (state / CODE_FILE).read_text().strip())
        for name in ("gw-0077.txt", "gw-0077.svg", "gw-0077.png"):
            assert (state / "label" / name).stat().st_mode & 0o777 == 0o600
        assert (state / "label").stat().st_mode & 0o777 == 0o700
        log = (tmp_path / "gw.log").read_text()
        assert f"label for the technician's sheet: {state / 'label'}" in log
        assert code not in log  # the code is on the label, never in the journal
        # The page signs in with the label's code (the web service kept the code first start made).
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(f"{gw.base_url}/login") as resp:
                m = re.search(r'name="_csrf" value="([^"]+)"', await resp.text())
            assert m
            form = {"_csrf": m.group(1), "code": code}
            async with http.post(f"{gw.base_url}/login", data=form, headers={"Accept": "application/json"}) as resp:
                assert resp.status == 200, await resp.text()
    finally:
        await asyncio.to_thread(gw.terminate)
    await asyncio.to_thread(gw.start, 60)
    await asyncio.to_thread(gw.terminate)
    assert (state / "identity/key.pem").read_bytes() == key and label_code(state, "gw-0077") == code
    assert (tmp_path / "gw.log").read_text().count("first start: box identity made") == 1


def test_first_start_keeps_an_existing_code_and_resumes_after_a_kill(tmp_path: Path) -> None:
    """Killed after the code was stored but before the key: the next start finds the label's code still valid and
    keeps it; a box that already had a code (an older install) keeps it too, and its label says so."""
    from gateway.tools.provision import KEEP_CODE, first_boot
    from gateway.web.signin_code import CodeStore, hash_code

    state = tmp_path / "state"
    cfg = make_config(state, "mqtt://127.0.0.1:1", gateway_id="gw-0078")
    files = first_boot(cfg, state)
    assert files is not None
    code = label_code(state, "gw-0078")
    (state / "identity/key.pem").unlink()  # as if killed before the key was written
    assert first_boot(cfg, state) is not None
    assert label_code(state, "gw-0078") == code and CodeStore(state, None).check_file(code)
    assert first_boot(cfg, state) is None  # provisioned: nothing more

    other = tmp_path / "older"
    (other / "web").mkdir(parents=True)
    (other / CODE_FILE).write_text(hash_code("known-to-the-technician") + "\n")
    assert first_boot(cfg, other) is not None
    assert label_code(other, "gw-0078") == KEEP_CODE
    assert CodeStore(other, None).check_file("known-to-the-technician")
