"""``fbgw provision``: a box's identity and its label, at the county's provisioning bench (root).

- ``<state>/identity/key.pem`` (EC P-256, 0600, made once and kept) and ``<state>/identity/box.csr`` (subject
  CN = gateway id) for the county CA to sign: the signed certificate becomes ``[uplink] cert_file``.
- a new installer sign-in code (only its hash stays on the box, as with ``fbgw installer-code --reset``);
- with ``[http] https_listen``: the page's certificate (``<state>/web/tls``, key 0600), whose SHA-256 fingerprint
  goes on the label; with ``[hotspot] enabled``: the box's access-point name and password (``<state>/hotspot``);
- the label for the technician's sheet in ``--out``: ``<id>.svg`` and ``<id>.png`` (a QR code of the gateway id,
  code and page address, and the fingerprint and Wi-Fi name and password when there are), ``<id>-wifi.svg`` /
  ``.png`` (a QR code a phone's camera joins the access point with) and ``<id>.txt`` with all of it in words.
  The label holds the code and the Wi-Fi password in clear: print it and keep the files off the box.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.atomic import write_atomic
from gateway.config import Config, ConfigError, load_config
from gateway.hotspot.credentials import WIFI_FILE, WifiCredentials, load_or_create
from gateway.web.signin_code import CodeStore, generate_code
from gateway.web.tls import TLS_DIR, BoxCertificate, ensure_certificate

DEFAULT_CONFIG = Path("/etc/fbgw/fbgw.toml")


def ensure_identity(state: Path, gateway_id: str) -> tuple[Path, Path]:
    """The box's key (made once) and a CSR for it. Blocking (small files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = state / "identity"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_path, csr_path = folder / "key.pem", folder / "box.csr"
    if key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        write_atomic(key_path, pem, mode=0o600)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, gateway_id)]))
        .sign(key, hashes.SHA256())
    )
    write_atomic(csr_path, csr.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return key_path, csr_path


@dataclass(frozen=True, slots=True)
class Label:
    gateway_id: str
    code: str
    page: str
    fingerprint: str | None = None  # SHA-256 of the page's certificate (HTTPS)
    wifi: WifiCredentials | None = None  # the install access point
    wifi_page: str | None = None  # the page's address from the access point


def label_for(cfg: Config, code: str, cert: BoxCertificate | None, wifi: WifiCredentials | None) -> Label:
    gw = cfg.gateway.id
    if cfg.http.https_port is not None:
        page = f"https://fbgw-{gw}.local:{cfg.http.https_port}/"
        wifi_page = f"https://{cfg.hotspot.ip}:{cfg.http.https_port}/"
    else:
        page = f"http://fbgw-{gw}.local:{cfg.http.port}/"
        wifi_page = f"http://{cfg.hotspot.ip}:{cfg.http.port}/"
    fp = cert.fingerprint if cert is not None else None
    return Label(gw, code, page, fp, wifi, wifi_page if wifi is not None else None)


def write_label(out: Path, label: Label) -> list[Path]:
    import segno
    from segno import helpers

    out.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"gw": label.gateway_id, "code": label.code, "url": label.page}
    lines = [f"gateway: {label.gateway_id}", f"installer code: {label.code}", f"page: {label.page}"]
    if label.fingerprint:
        doc["fp"] = label.fingerprint
        lines.append(f"certificate SHA-256: {label.fingerprint}")
    if label.wifi is not None:
        doc["wifi"] = {"ssid": label.wifi.ssid, "psk": label.wifi.password}
        lines += [
            f"Wi-Fi (hold the install button): {label.wifi.ssid}",
            f"Wi-Fi password: {label.wifi.password}",
            f"page on that Wi-Fi: {label.wifi_page}",
        ]
    qr = segno.make(json.dumps(doc, separators=(",", ":"), ensure_ascii=False), error="m")
    stem = label.gateway_id
    svg, png, txt = out / f"{stem}.svg", out / f"{stem}.png", out / f"{stem}.txt"
    qr.save(str(svg), scale=4, border=2)
    qr.save(str(png), scale=6, border=2)
    files = [svg, png, txt]
    if label.wifi is not None:
        join = helpers.make_wifi(ssid=label.wifi.ssid, password=label.wifi.password, security="WPA")
        wsvg, wpng = out / f"{stem}-wifi.svg", out / f"{stem}-wifi.png"
        join.save(str(wsvg), scale=4, border=2)
        join.save(str(wpng), scale=6, border=2)
        files[2:2] = [wsvg, wpng]
    txt.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return files


async def run(args: argparse.Namespace) -> int:
    if os.geteuid() != 0 and args.state_dir is None:
        print("fbgw provision: run as root (sudo)", file=sys.stderr)
        return 2
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"fbgw provision: {exc}", file=sys.stderr)
        return 2
    state = args.state_dir or cfg.gateway.state_dir
    state.mkdir(parents=True, exist_ok=True)
    key, csr = ensure_identity(state, cfg.gateway.id)
    code = generate_code(8)
    store = CodeStore(state, None)
    store.replace(code)
    made = [key.parent, key, csr, store.path.parent, store.path]
    cert = wifi = None
    if cfg.http.https_listen:
        cert = ensure_certificate(state, cfg.gateway.id, [cfg.hotspot.ip])
        made += [(state / TLS_DIR).parent, state / TLS_DIR, cert.cert, cert.key]
    if cfg.hotspot.enabled:
        wifi = load_or_create(state, cfg.gateway.id)
        made += [(state / WIFI_FILE).parent, state / WIFI_FILE]
    if os.geteuid() == 0:  # what root made must stay readable by the service user
        st = state.stat()
        for p in made:
            os.chown(p, st.st_uid, st.st_gid)
    files = write_label(args.out, label_for(cfg, code, cert, wifi))
    print(f"identity: {key} (kept), CSR for the county CA: {csr}")
    if cert is not None:
        print(f"page certificate: {cert.cert} (kept), SHA-256 {cert.fingerprint}")
    if wifi is not None:
        print(f"install Wi-Fi: {wifi.ssid} (kept; password on the label)")
    print("label: " + ", ".join(str(f) for f in files))
    return 0


def add_subcommand(sub: Any) -> None:
    p = sub.add_parser("provision", help="box key pair, CSR, a new installer code and the printed label (root)")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=f"default: {DEFAULT_CONFIG}")
    p.add_argument("--state-dir", type=Path, help="default: the config's gateway.state_dir")
    p.add_argument("--out", type=Path, required=True, help="where the label files go (off the box afterwards)")
    p.set_defaults(func=run)
