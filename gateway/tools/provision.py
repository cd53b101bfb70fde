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

Without a provisioning bench, the first start of ``fbgw run`` does the same (:func:`first_boot`): when the box has
no identity yet it makes the key, the CSR, the page's certificate and Wi-Fi name when configured, and the label (in
``<state>/label``, readable by the service user only) and logs where the label is. It keeps an installer code that
already exists (set in the config or stored) rather than invalidate one a technician may know.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.atomic import make_dirs, write_atomic
from core.secrets import add_secret
from gateway.config import Config, ConfigError, load_config
from gateway.hotspot.credentials import WIFI_FILE, WifiCredentials, load_or_create
from gateway.web.signin_code import CodeStore, generate_code
from gateway.web.tls import TLS_DIR, BoxCertificate, ensure_certificate

log = logging.getLogger(__name__)
DEFAULT_CONFIG = Path("/etc/fbgw/fbgw.toml")
#: Where the first start puts the label, under the state directory.
LABEL_DIR = "label"
KEEP_CODE = "(unchanged: the code already set; fbgw installer-code --reset prints a new one)"


def first_boot(cfg: Config, state: Path) -> list[Path] | None:
    """Provision the box if it has no identity yet (no ``identity/key.pem``); None if it had one. Idempotent: a
    start killed half-way makes the missing parts at the next start, the key last so it marks completion.
    Blocking: run it in a thread."""
    if (state / "identity" / "key.pem").exists():
        return None
    out = state / LABEL_DIR
    code = KEEP_CODE
    files: list[Path] | None = None
    if cfg.web.installer_code_hash is None:
        store = CodeStore(state, None)
        earlier = _label_code(out / f"{cfg.gateway.id}.txt")  # a start killed after the code was stored
        if not store.path.exists():
            code = generate_code(cfg.web.generated_code_digits)
            files = _write_private_label(state, cfg, code)  # the label first: a stored code nobody can read is useless
            store.replace(code)
            add_secret(code)
            log.warning(
                "a new installer sign-in code was generated for gateway %s (only its hash is stored; it is on the "
                "label)",
                cfg.gateway.id,
            )
        elif earlier is not None and store.check_file(earlier):
            code = earlier
    if files is None:
        files = _write_private_label(state, cfg, code)
    key, csr = ensure_identity(state, cfg.gateway.id)
    log.warning(
        "first start: box identity made (key %s, CSR for the county CA %s); label for the technician's sheet: %s",
        key,
        csr,
        files[0].parent,
    )
    return files


def _write_private_label(state: Path, cfg: Config, code: str) -> list[Path]:
    """The label in ``<state>/label``, readable by the service user only (it holds the code in clear), with the
    page's certificate and the access point's name and password when the config has them (made if missing)."""
    out = state / LABEL_DIR
    make_dirs(out, mode=0o700)
    out.chmod(0o700)
    cert = ensure_certificate(state, cfg.gateway.id, [cfg.hotspot.ip]) if cfg.http.https_listen else None
    wifi = load_or_create(state, cfg.gateway.id) if cfg.hotspot.enabled else None
    return write_label(out, label_for(cfg, code, cert, wifi), private=True)


def _label_code(txt: Path) -> str | None:
    try:
        text = txt.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    for line in text.splitlines():
        if line.startswith("installer code: ") and line != f"installer code: {KEEP_CODE}":
            return line.removeprefix("installer code: ").strip()
    return None


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


def write_label(out: Path, label: Label, private: bool = False) -> list[Path]:
    """The label files. ``private`` (on the box): mode 0600, each written durably, since the stored code's
    hash is durable too (a power cut leaves the whole file or the one before it)."""
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
    codes = [(label.gateway_id, qr)]
    if label.wifi is not None:
        join = helpers.make_wifi(ssid=label.wifi.ssid, password=label.wifi.password, security="WPA")
        codes.append((f"{label.gateway_id}-wifi", join))
    files: list[tuple[Path, bytes]] = []
    for stem, code in codes:
        for ext, scale in (("svg", 4), ("png", 6)):
            buf = io.BytesIO()
            code.save(buf, kind=ext, scale=scale, border=2)
            files.append((out / f"{stem}.{ext}", buf.getvalue()))
    files.append((out / f"{label.gateway_id}.txt", ("\n".join(lines) + "\n").encode("utf-8")))
    for path, data in files:
        if private:
            write_atomic(path, data, mode=0o600)
        else:  # --out: a USB stick (FAT: no modes), taken off the box
            path.write_bytes(data)
    return [path for path, _ in files]


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
