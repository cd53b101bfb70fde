"""An update package over HTTPS from a server that misbehaves, on 127.0.0.1 with a certificate made here and
trusted through ``[remote] update_ca_file``: a connection cut mid-file is resumed with a ``Range`` request; a
server that sends more than the announced size is cut off there; one that ignores ``Range`` starts over cleanly;
an untrusted certificate is refused."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import ipaddress
import os
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.slots.install import UpdateError, fetch

PACKAGE = os.urandom(300_000)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_pki(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 it signs: (ca.pem, server.pem, server.key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("test update CA"))
        .issuer_name(_name("test update CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@dataclass
class Server:
    """HTTP/1.1 over TLS written by hand, so each misbehaviour is exact. ``mode``: ``cut`` (the first response
    stops after ``cut_at`` bytes, later ones honour Range), ``oversize`` (sends ``extra`` bytes past the
    package), ``no_range`` (always 200 with the whole package)."""

    mode: str
    cut_at: int = 100_000
    extra: int = 50_000
    ranges: list[str | None] = field(default_factory=list)
    sent: int = 0
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        rng = next((ln.split(":", 1)[1].strip() for ln in head.split("\r\n") if ln.lower().startswith("range:")), None)
        self.ranges.append(rng)
        first = len(self.ranges) == 1
        start = int(rng.removeprefix("bytes=").split("-")[0]) if rng and self.mode != "no_range" else 0
        body = PACKAGE[start:]
        if self.mode == "oversize":
            body += os.urandom(self.extra)
        if start:
            status = f"206 Partial Content\r\nContent-Range: bytes {start}-{len(PACKAGE) - 1}/{len(PACKAGE)}"
        else:
            status = "200 OK"
        writer.write(f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode())
        if self.mode == "cut" and first:
            body = body[: self.cut_at]  # then the connection drops mid-file
        writer.write(body)
        self.sent += len(body)
        try:
            await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/fbgw_2.0.0_amd64.deb"


@pytest.fixture
def pki(tmp_path: Path) -> tuple[Path, Path, Path]:
    return make_pki(tmp_path)


async def serve(mode: str, pki: tuple[Path, Path, Path]) -> AsyncIterator[Server]:
    srv = Server(mode)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(pki[1], pki[2])
    server = await asyncio.start_server(srv.handle, "127.0.0.1", 0, ssl=tls)
    srv.port = server.sockets[0].getsockname()[1]
    try:
        yield srv
    finally:
        server.close()
        await server.wait_closed()


async def test_a_cut_download_resumes_with_range(pki: tuple[Path, Path, Path], tmp_path: Path) -> None:
    async for srv in serve("cut", pki):
        dest = tmp_path / "package.part"
        got = await fetch(srv.url(), dest, len(PACKAGE), ca_file=pki[0], retry_delay_s=0.05)
        assert got == dest and hashlib.sha256(dest.read_bytes()).digest() == hashlib.sha256(PACKAGE).digest()
        # Resumed from what reached the disk (the last bytes before the cut may be lost with the connection).
        assert srv.ranges[0] is None and len(srv.ranges) == 2, srv.ranges
        resumed = int(str(srv.ranges[1]).removeprefix("bytes=").removesuffix("-"))
        assert srv.cut_at // 2 <= resumed <= srv.cut_at, srv.ranges


async def test_a_cut_download_resumes_in_the_next_command(pki: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """With one attempt per command the cut fails the command; the next command resumes the same file."""
    async for srv in serve("cut", pki):
        dest = tmp_path / "package.part"
        with pytest.raises(UpdateError) as err:
            await fetch(srv.url(), dest, len(PACKAGE), ca_file=pki[0], attempts=1)
        kept = dest.stat().st_size
        assert err.value.reason == "failed" and 0 < kept <= srv.cut_at
        await fetch(srv.url(), dest, len(PACKAGE), ca_file=pki[0], attempts=1)
        assert dest.read_bytes() == PACKAGE and srv.ranges == [None, f"bytes={kept}-"]


async def test_more_than_the_announced_size_is_cut_off(pki: tuple[Path, Path, Path], tmp_path: Path) -> None:
    async for srv in serve("oversize", pki):
        dest = tmp_path / "package.part"
        with pytest.raises(UpdateError) as err:
            await fetch(srv.url(), dest, len(PACKAGE), ca_file=pki[0], retry_delay_s=0.05)
        assert err.value.reason == "bad_package" and "exceeds the announced" in str(err.value)
        assert not dest.exists()  # not kept for a resume: it is not the announced package
        assert srv.ranges == [None]  # not retried


async def test_a_server_ignoring_range_restarts_cleanly(pki: tuple[Path, Path, Path], tmp_path: Path) -> None:
    async for srv in serve("no_range", pki):
        dest = tmp_path / "package.part"
        dest.write_bytes(PACKAGE[:70_000])  # an earlier, cut attempt
        await fetch(srv.url(), dest, len(PACKAGE), ca_file=pki[0])
        assert dest.read_bytes() == PACKAGE  # the 200 body replaced the partial file, not appended to it
        assert srv.ranges == ["bytes=70000-"]


async def test_an_untrusted_certificate_is_refused(pki: tuple[Path, Path, Path], tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    wrong_ca = make_pki(other)[0]
    async for srv in serve("no_range", pki):
        with pytest.raises(UpdateError) as err:
            await fetch(srv.url(), tmp_path / "p.part", len(PACKAGE), ca_file=wrong_ca, attempts=2, retry_delay_s=0)
        assert err.value.reason == "failed" and "certificate" in str(err.value).lower()
        assert not (tmp_path / "p.part").exists()
