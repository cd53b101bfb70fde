"""The uplink over TLS with client certificates, against a real Mosquitto speaking TLS (certificates made here).

mTLS connects and delivers; a wrong CA and an expired client certificate are refused with a clear status; a
rotated broker certificate (same CA) is taken on reconnect; credentials never reach a log line.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import logging
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.app import Gateway
from tests.support.broker import Mosquitto
from tests.support.gateway import make_config

PASSWORD = "s3cret-uplink-pw-7781"
NOW = dt.datetime.now(dt.UTC)


@dataclass
class Pki:
    dir: Path

    def key(self) -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    def write(self, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
        crt, pem = self.dir / f"{name}.crt", self.dir / f"{name}.key"
        crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        pem.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        pem.chmod(0o644)  # mosquitto drops to its own user
        return crt, pem

    def ca(self, name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, Path]:
        key = self.key()
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(ski, critical=False)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(key, hashes.SHA256())
        )
        crt, _ = self.write(name, cert, key)
        return cert, key, crt

    def leaf(
        self,
        name: str,
        ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey, Path],
        *,
        server: bool,
        expired: bool = False,
        legacy: bool = False,
    ) -> tuple[Path, Path]:
        """``legacy``: without key identifiers, as CAs made with older tools issue them."""
        key = self.key()
        start = NOW - dt.timedelta(days=10 if expired else 1)
        end = NOW - dt.timedelta(days=1) if expired else NOW + dt.timedelta(days=30)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca[0].subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH if server else x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if not legacy:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca[1].public_key()), critical=False
            ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
            )
        return self.write(name, builder.sign(ca[1], hashes.SHA256()), key)


@pytest.fixture
def bare_broker() -> Iterator[Mosquitto]:
    broker = Mosquitto()
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture
def pki(bare_broker: Mosquitto) -> Pki:
    d = bare_broker.dir / "pki"  # mosquitto drops to its own user: its files must be where it can read them
    d.mkdir()
    d.chmod(0o755)
    return Pki(d)


def tls_conf(pki: Pki, ca: Path, cert: Path, key: Path) -> str:
    passwords = pki.dir / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "gw", PASSWORD], check=True, capture_output=True)
    passwords.chmod(0o644)
    return "\n".join(
        [
            f"cafile {ca}",
            f"certfile {cert}",
            f"keyfile {key}",
            "require_certificate true",
            "tls_version tlsv1.2",
            "allow_anonymous false",
            f"password_file {passwords}",
        ]
    )


@pytest.fixture
def world(pki: Pki, bare_broker: Mosquitto) -> dict[str, object]:
    ca = pki.ca("county-ca")
    server = pki.leaf("broker", ca, server=True)
    client = pki.leaf("gw-tls", ca, server=False)
    bare_broker.extra_conf = tls_conf(pki, ca[2], *server)
    bare_broker.start()
    return {"ca": ca, "server": server, "client": client, "broker": bare_broker}


def uplink_cfg(tmp_path: Path, broker: Mosquitto, ca: Path, cert: Path, key: Path) -> dict[str, object]:
    return {
        "broker": f"mqtts://127.0.0.1:{broker.port}",
        "ca_file": str(ca),
        "cert_file": str(cert),
        "key_file": str(key),
        "username": "gw",
        "password": PASSWORD,
        "backoff_initial_s": 0.1,
        "backoff_max_s": 1.0,
        "puback_timeout_s": 5,
    }


async def platform_messages(broker: Mosquitto, pki: Pki, ca: Path, topic: str, want: int) -> list[bytes]:
    """A platform subscriber over mTLS (its own client certificate from the same CA)."""
    context = ssl.create_default_context(cafile=str(ca))
    crt, key = pki.dir / "platform.crt", pki.dir / "platform.key"
    context.load_cert_chain(str(crt), str(key))
    got: list[bytes] = []
    async with aiomqtt.Client(
        "127.0.0.1", broker.port, tls_context=context, username="gw", password=PASSWORD, identifier="platform-tls"
    ) as client:
        await client.subscribe(topic, qos=1)
        async with asyncio.timeout(15):
            async for message in client.messages:
                got.append(bytes(message.payload))  # type: ignore[arg-type]
                if len(got) >= want:
                    return got
    return got


async def wait_state(gw: Gateway, state: str, timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while gw.uplink.stats.state != state:
            await asyncio.sleep(0.05)


async def test_mutual_tls_delivers_and_never_logs_credentials(
    tmp_path: Path, pki: Pki, world: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    broker = world["broker"]
    assert isinstance(broker, Mosquitto)
    ca = world["ca"]
    pki.leaf("platform", ca, server=False)  # type: ignore[arg-type]
    cert, key = world["client"]  # type: ignore[misc]
    cfg = make_config(tmp_path / "state", broker.url, uplink=uplink_cfg(tmp_path, broker, ca[2], cert, key))  # type: ignore[index]
    caplog.set_level(logging.DEBUG)
    async with Gateway(cfg) as gw:
        await wait_state(gw, "online")
        listen = asyncio.create_task(platform_messages(broker, pki, ca[2], gw.uplink.topics.alarms, 1))  # type: ignore[index]
        await asyncio.sleep(0.5)
        await gw.drivers["sim"].inject("btn-1", "press", True, trace="tls-call")  # type: ignore[attr-defined]
        [payload] = await listen
        assert b"tls-call" in payload and b"alarm.emergency_call" in payload
    key_text = Path(key).read_text()
    assert PASSWORD not in caplog.text
    assert key_text.splitlines()[1] not in caplog.text


async def test_a_wrong_ca_is_refused_with_a_clear_status(tmp_path: Path, pki: Pki, world: dict[str, object]) -> None:
    broker = world["broker"]
    assert isinstance(broker, Mosquitto)
    other = pki.ca("someone-else")
    cert, key = world["client"]  # type: ignore[misc]
    cfg = make_config(tmp_path / "state", broker.url, uplink=uplink_cfg(tmp_path, broker, other[2], cert, key))
    async with Gateway(cfg) as gw:
        async with asyncio.timeout(15):
            while not gw.uplink.stats.last_error:
                await asyncio.sleep(0.05)
        assert gw.uplink.stats.state != "online"
        assert "CERTIFICATE_VERIFY_FAILED" in gw.uplink.stats.last_error
        assert gw.status()["uplink"]["last_error"] == gw.uplink.stats.last_error


async def test_an_expired_client_certificate_is_refused_with_a_clear_status(
    tmp_path: Path, pki: Pki, world: dict[str, object]
) -> None:
    broker = world["broker"]
    assert isinstance(broker, Mosquitto)
    ca = world["ca"]
    cert, key = pki.leaf("gw-expired", ca, server=False, expired=True)  # type: ignore[arg-type]
    cfg = make_config(tmp_path / "state", broker.url, uplink=uplink_cfg(tmp_path, broker, ca[2], cert, key))  # type: ignore[index]
    async with Gateway(cfg) as gw:
        async with asyncio.timeout(15):
            while not gw.uplink.stats.last_error:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        assert gw.uplink.stats.state != "online" and gw.uplink.stats.connects == 0
        error = gw.uplink.stats.last_error or ""
        assert "client certificate gw-expired.crt expired on" in error, error


async def test_a_rotated_broker_certificate_is_taken_on_reconnect(
    tmp_path: Path, pki: Pki, world: dict[str, object]
) -> None:
    broker = world["broker"]
    assert isinstance(broker, Mosquitto)
    ca = world["ca"]
    cert, key = world["client"]  # type: ignore[misc]
    cfg = make_config(tmp_path / "state", broker.url, uplink=uplink_cfg(tmp_path, broker, ca[2], cert, key))  # type: ignore[index]
    async with Gateway(cfg) as gw:
        await wait_state(gw, "online")
        connects = gw.uplink.stats.connects
        broker.stop()
        new_cert, new_key = pki.leaf("broker-2027", ca, server=True, legacy=True)  # an older tool's certificate  # type: ignore[arg-type]
        broker.extra_conf = broker.extra_conf.replace(str(world["server"][0]), str(new_cert)).replace(  # type: ignore[index]
            str(world["server"][1]),
            str(new_key),  # type: ignore[index]
        )
        broker.start()
        async with asyncio.timeout(20):
            while gw.uplink.stats.connects <= connects or gw.uplink.stats.state != "online":
                await asyncio.sleep(0.05)
        await gw.drivers["sim"].inject("btn-1", "press", True, trace="after-rotation")  # type: ignore[attr-defined]
        async with asyncio.timeout(10):
            while gw.outbox.depth()["alarms"]:
                await asyncio.sleep(0.05)
