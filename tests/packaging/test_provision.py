"""``fbgw provision``: the box's key (kept across runs) and CSR, a new installer code, and a label whose QR code
holds the gateway id, that code and the page address."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import segno
from cryptography import x509
from cryptography.x509.oid import NameOID

from gateway.web.signin_code import CODE_FILE, verify_code
from tests.support.gateway import config_dict, write_toml


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
