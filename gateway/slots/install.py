"""Fetch an update package (HTTPS with resume and a size cap, or a file already on the box), check its size and
sha256, and unpack it into the inactive slot. Never touches the running slot."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import ssl
from pathlib import Path

import aiohttp

from gateway.slots.layout import PACKAGED_SLOT, Layout

log = logging.getLogger(__name__)


class UpdateError(Exception):
    """The update cannot go on; ``reason`` is the cmd/result code, the message says why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


async def fetch(
    url: str,
    dest: Path,
    size: int,
    *,
    timeout_s: float = 600.0,
    ca_file: Path | None = None,
    attempts: int = 4,
    retry_delay_s: float = 2.0,
) -> Path:
    """The package as a local file of exactly ``size`` bytes. ``file:`` URLs and absolute paths are used in
    place. An HTTPS download resumes a ``dest`` left by an earlier attempt or command (``Range``), restarts
    from zero when the server ignores the range, and never writes more than ``size`` bytes: a server that sends
    more is cut off there and the partial file dropped. A cut connection is resumed up to ``attempts`` times."""
    if url.startswith("file://") or url.startswith("/"):
        path = Path(url.removeprefix("file://"))
        try:
            got = (await asyncio.to_thread(path.stat)).st_size
        except OSError as exc:
            raise UpdateError("failed", f"package {path}: {exc.strerror}") from None
        if got != size:
            raise UpdateError("bad_package", f"package is {got} bytes, expected {size}")
        return path
    if not url.startswith("https://"):
        raise UpdateError("bad_package", "url must be https:// or a file on the box")
    tls = await asyncio.to_thread(ssl.create_default_context, cafile=str(ca_file) if ca_file else None)
    for attempt in range(1, attempts + 1):
        try:
            return await _download(url, dest, size, tls, timeout_s)
        except UpdateError as exc:
            if exc.reason != "interrupted" or attempt == attempts:
                raise UpdateError("failed" if exc.reason == "interrupted" else exc.reason, str(exc)) from None
            log.warning("update download: %s; resuming (attempt %d of %d)", exc, attempt + 1, attempts)
            await asyncio.sleep(retry_delay_s)
    raise AssertionError("unreachable")


async def _download(url: str, dest: Path, size: int, tls: ssl.SSLContext, timeout_s: float) -> Path:
    have = await asyncio.to_thread(_partial, dest, size)
    if have == size:
        return dest
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s, sock_read=60)) as http,
            http.get(url, headers=headers, ssl=tls) as resp,
        ):
            if resp.status == 200:
                have = 0  # the server ignored the range (or there was none): start over
            elif resp.status != 206:
                raise UpdateError("failed", f"download: HTTP {resp.status}")
            elif not resp.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
                await asyncio.to_thread(dest.unlink, missing_ok=True)
                raise UpdateError("failed", f"download: a range that does not start at {have}: start over")
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if have else os.O_TRUNC), 0o600)
            try:
                async for chunk in resp.content.iter_any():  # what arrived, so a cut loses little
                    if have + len(chunk) > size:
                        await asyncio.to_thread(dest.unlink)  # what follows is not the announced package
                        raise UpdateError("bad_package", f"download exceeds the announced {size} bytes: cut off")
                    await asyncio.to_thread(os.write, fd, chunk)
                    have += len(chunk)
            finally:
                os.close(fd)
    except aiohttp.ClientConnectorCertificateError as exc:  # not transient: no retry
        raise UpdateError("failed", f"download: the server's certificate is not trusted: {exc}") from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise UpdateError("interrupted", f"download stopped at {have} bytes: {exc}") from None
    if have != size:
        raise UpdateError("interrupted", f"download ended at {have} bytes, expected {size}")
    return dest


def _partial(dest: Path, size: int) -> int:
    """Bytes of an earlier attempt to resume from (0: none, or one longer than the package)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    have = dest.stat().st_size if dest.exists() else 0
    if have > size:
        dest.unlink()
        have = 0
    return have


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


async def verify(path: Path, sha256: str) -> None:
    got = await asyncio.to_thread(_sha256, path)
    if got != sha256.lower():
        raise UpdateError("bad_package", f"sha256 mismatch (got {got[:16]}...)")


def relocate(slot_dir: Path, new_prefix: str) -> None:
    """Re-point the venv's scripts (shebangs, activate) from the packaged path to where the slot lives."""
    for p in (slot_dir / "bin").iterdir():
        if p.is_symlink() or not p.is_file():
            continue
        data = p.read_bytes()
        if PACKAGED_SLOT.encode() in data[:4096] or (p.name.startswith("activate") and PACKAGED_SLOT.encode() in data):
            p.write_bytes(data.replace(PACKAGED_SLOT.encode(), new_prefix.encode()))


async def _run(*argv: str, timeout_s: float = 300.0) -> str:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise UpdateError("failed", f"{argv[0]} timed out") from None
    if proc.returncode != 0:
        raise UpdateError("bad_package", f"{Path(argv[0]).name}: {err.decode(errors='replace').strip()[-300:]}")
    return out.decode(errors="replace")


def _work_dir(final: Path) -> Path:
    work = final.with_name(f"{final.name}.new")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    return work


def _place(work: Path, final: Path) -> None:
    """Move the unpacked venv over the inactive slot (``.staged`` then renames; a crash leaves a ``.new`` or
    ``.staged`` the next attempt removes, never a half-written slot under the final name)."""
    venv = work / PACKAGED_SLOT.lstrip("/")
    if not (venv / "bin" / "python").exists():
        shutil.rmtree(work, ignore_errors=True)
        raise UpdateError("bad_package", "the package holds no fbgw slot")
    staged = final.with_name(f"{final.name}.staged")
    shutil.rmtree(staged, ignore_errors=True)
    venv.rename(staged)
    shutil.rmtree(work, ignore_errors=True)
    relocate(staged, str(final))
    old = final.with_name(f"{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    staged.rename(final)
    shutil.rmtree(old, ignore_errors=True)


async def unpack(package: Path, layout: Layout, version: str) -> str:
    """Unpack the package into the inactive slot and check that it reports ``version``. Returns the slot name.
    The running slot is never touched."""
    target = layout.inactive()
    final = layout.slot(target)
    work = await asyncio.to_thread(_work_dir, final)
    await _run("dpkg-deb", "-x", str(package), str(work))
    await asyncio.to_thread(_place, work, final)
    # -I: the slot's own code only (not the working directory, not PYTHONPATH).
    out = await _run(str(final / "bin" / "python"), "-I", "-m", "gateway.cli", "--version", timeout_s=60)
    if out.strip() != f"fbgw {version}":
        raise UpdateError("bad_package", f"the package runs as {out.strip()!r}, not fbgw {version}")
    return target
