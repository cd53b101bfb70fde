"""An update package over HTTPS from a server that misbehaves, on 127.0.0.1 with a certificate made here and
trusted through ``[remote] update_ca_file``: a connection cut mid-file is resumed with a ``Range`` request; a
server that sends more than the announced size is cut off there; one that ignores ``Range`` starts over cleanly;
an untrusted certificate is refused."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from gateway.slots.install import UpdateError, fetch
from tests.packaging.https_server import make_pki, serve

PACKAGE = os.urandom(300_000)


@pytest.fixture
def pki(tmp_path: Path) -> tuple[Path, Path, Path]:
    return make_pki(tmp_path)


async def test_a_cut_download_resumes_with_range(pki: tuple[Path, Path, Path], tmp_path: Path) -> None:
    async for srv in serve("cut", pki, PACKAGE):
        dest = tmp_path / "package.part"
        got = await fetch(srv.url(), dest, len(PACKAGE), ca_file=pki[0], retry_delay_s=0.05)
        assert got == dest and hashlib.sha256(dest.read_bytes()).digest() == hashlib.sha256(PACKAGE).digest()
        # Resumed from what reached the disk (the last bytes before the cut may be lost with the connection).
        assert srv.ranges[0] is None and len(srv.ranges) == 2, srv.ranges
        resumed = int(str(srv.ranges[1]).removeprefix("bytes=").removesuffix("-"))
        assert srv.cut_at // 2 <= resumed <= srv.cut_at, srv.ranges


async def test_a_cut_download_resumes_in_the_next_command(pki: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """With one attempt per command the cut fails the command; the next command resumes the same file."""
    async for srv in serve("cut", pki, PACKAGE):
        dest = tmp_path / "package.part"
        with pytest.raises(UpdateError) as err:
            await fetch(srv.url(), dest, len(PACKAGE), ca_file=pki[0], attempts=1)
        kept = dest.stat().st_size
        assert err.value.reason == "failed" and 0 < kept <= srv.cut_at
        await fetch(srv.url(), dest, len(PACKAGE), ca_file=pki[0], attempts=1)
        assert dest.read_bytes() == PACKAGE and srv.ranges == [None, f"bytes={kept}-"]


async def test_more_than_the_announced_size_is_cut_off(pki: tuple[Path, Path, Path], tmp_path: Path) -> None:
    async for srv in serve("oversize", pki, PACKAGE):
        dest = tmp_path / "package.part"
        with pytest.raises(UpdateError) as err:
            await fetch(srv.url(), dest, len(PACKAGE), ca_file=pki[0], retry_delay_s=0.05)
        assert err.value.reason == "bad_package" and "exceeds the announced" in str(err.value)
        assert not dest.exists()  # not kept for a resume: it is not the announced package
        assert srv.ranges == [None]  # not retried


async def test_a_server_ignoring_range_restarts_cleanly(pki: tuple[Path, Path, Path], tmp_path: Path) -> None:
    async for srv in serve("no_range", pki, PACKAGE):
        dest = tmp_path / "package.part"
        dest.write_bytes(PACKAGE[:70_000])  # an earlier, cut attempt
        await fetch(srv.url(), dest, len(PACKAGE), ca_file=pki[0])
        assert dest.read_bytes() == PACKAGE  # the 200 body replaced the partial file, not appended to it
        assert srv.ranges == ["bytes=70000-"]


async def test_an_untrusted_certificate_is_refused(pki: tuple[Path, Path, Path], tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    wrong_ca = make_pki(other)[0]
    async for srv in serve("no_range", pki, PACKAGE):
        with pytest.raises(UpdateError) as err:
            await fetch(srv.url(), tmp_path / "p.part", len(PACKAGE), ca_file=wrong_ca, attempts=2, retry_delay_s=0)
        assert err.value.reason == "failed" and "certificate" in str(err.value).lower()
        assert not (tmp_path / "p.part").exists()
