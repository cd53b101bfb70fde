"""The box's own HTTPS certificate: self-signed, made once (at provisioning or first start), kept in the state dir.

No public CA can vouch for ``fbgw-<id>.local`` or an address on the box's access point, so the browser warns;
the technician compares the SHA-256 fingerprint it shows with the one printed on the box's label. The key is
EC P-256, written 0600 and never leaves the box; the certificate lasts the box's service life (20 years) and is
made again only if its files are missing or unreadable.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

from core.atomic import write_atomic

log = logging.getLogger(__name__)

TLS_DIR = Path("web") / "tls"
VALID_DAYS = 20 * 365


@dataclass(frozen=True, slots=True)
class BoxCertificate:
    cert: Path
    key: Path
    #: SHA-256 of the certificate (DER), as colon-separated upper-case hex pairs (what browsers show).
    fingerprint: str

    def server_context(self) -> ssl.SSLContext:
        """A TLS 1.2+ server context with this certificate (blocking: reads two small files)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert, self.key)
        return context


def fingerprint_of(der: bytes) -> str:
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def ensure_certificate(state_dir: Path, gateway_id: str, addresses: list[str] | None = None) -> BoxCertificate:
    """The stored certificate, or a new self-signed one for ``fbgw-<id>.local``, ``localhost`` and ``addresses``
    (e.g. the access point's address). Blocking: call it in a thread."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder = state_dir / TLS_DIR
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    if cert_path.exists() and key_path.exists():
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            return BoxCertificate(cert_path, key_path, fingerprint_of(cert.public_bytes(serialization.Encoding.DER)))
        except ValueError as exc:
            log.error("https: stored certificate unreadable (%s); making a new one", exc)
    name = f"fbgw-{gateway_id}"
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    alt: list[x509.GeneralName] = [x509.DNSName(f"{name}.local"), x509.DNSName("localhost")]
    alt += [x509.IPAddress(ipaddress.ip_address(a)) for a in ["127.0.0.1", *(addresses or [])]]
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))  # a box whose clock is not synchronised yet
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_atomic(key_path, key_pem, mode=0o600)
    write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    fp = fingerprint_of(cert.public_bytes(serialization.Encoding.DER))
    log.warning("https: made the box's certificate for %s.local (SHA-256 %s)", name, fp)
    return BoxCertificate(cert_path, key_path, fp)
