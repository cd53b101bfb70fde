"""A package server for update tests: HTTPS on 127.0.0.1 written by hand (so each misbehaviour is exact), with a
CA and a server certificate made by the test."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


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
    package), ``no_range`` (always 200 with the whole package), ``stall`` (the first response stops after ``cut_at``
    bytes and hangs until ``release`` is set)."""

    mode: str
    data: bytes
    cut_at: int = 100_000
    extra: int = 50_000
    ranges: list[str | None] = field(default_factory=list)
    sent: int = 0
    port: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)

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
        body = self.data[start:]
        if self.mode == "oversize":
            body += os.urandom(self.extra)
        if start:
            status = f"206 Partial Content\r\nContent-Range: bytes {start}-{len(self.data) - 1}/{len(self.data)}"
        else:
            status = "200 OK"
        writer.write(f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode())
        if self.mode in ("cut", "stall") and first:
            body = body[: self.cut_at]  # then the connection drops mid-file (or hangs first)
        writer.write(body)
        self.sent += len(body)
        try:
            await writer.drain()
            if self.mode == "stall" and first:
                await self.release.wait()
        except ConnectionError:
            pass
        writer.close()

    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/fbgw_2.0.0_amd64.deb"


async def serve(mode: str, pki: tuple[Path, Path, Path], data: bytes) -> AsyncIterator[Server]:
    """The server running (one item: ``async for srv in serve(...)``), stopped afterwards."""
    srv = Server(mode, data)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(pki[1], pki[2])
    server = await asyncio.start_server(srv.handle, "127.0.0.1", 0, ssl=tls)
    srv.port = server.sockets[0].getsockname()[1]
    try:
        yield srv
    finally:
        srv.release.set()
        server.close()
        await server.wait_closed()
