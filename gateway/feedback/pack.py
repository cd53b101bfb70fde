"""Replacement prompt packs (a dialect recording), pushed by the platform: a tar of WAV files and its sha256.

The ``prompt_pack`` command names the language, an HTTPS (or, for tests, HTTP) URL and the archive's sha256.
The archive is fetched (bounded), checked against the sha256 before anything is unpacked, and only members
named ``<tag>.wav`` for a known prompt tag, regular files that parse as WAV, are taken; they replace
``<prompts dir>/pack/<lang>/`` as a whole (written beside, then renamed). ``sha256`` of an empty string
removes the pack (back to the rendered defaults).
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
import wave
from pathlib import Path

import aiohttp

from gateway.feedback.prompts import all_tags

MAX_PACK_BYTES = 32 * 1024 * 1024
FETCH_TIMEOUT_S = 120.0


class PackError(ValueError):
    """The pack was refused; the message says why."""


async def fetch(url: str, max_bytes: int = MAX_PACK_BYTES) -> bytes:
    if not url.startswith(("https://", "http://")):
        raise PackError("url must be http(s)")
    timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_S)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as resp:
            if resp.status != 200:
                raise PackError(f"download failed: HTTP {resp.status}")
            data = bytearray()
            async for chunk in resp.content.iter_chunked(64 * 1024):
                data += chunk
                if len(data) > max_bytes:
                    raise PackError(f"pack larger than {max_bytes} bytes")
            return bytes(data)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise PackError(f"download failed: {exc}") from None


def unpack(data: bytes, sha256: str, dest: Path) -> list[str]:
    """Check ``data`` against ``sha256`` and replace ``dest`` with its WAVs. Returns the tags installed.
    Blocking (disk): call it in a thread."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256.lower():
        raise PackError(f"sha256 mismatch: got {digest}")
    known = set(all_tags())
    tmp = dest.with_name(dest.name + ".new")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tags: list[str] = []
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar.getmembers():
                name = Path(member.name).name
                tag = name.removesuffix(".wav")
                if not member.isfile() or not name.endswith(".wav") or tag not in known:
                    continue
                extracted = tar.extractfile(member)
                if extracted is None:
                    continue
                body = extracted.read()
                try:
                    with wave.open(io.BytesIO(body)) as w:
                        w.getparams()
                except (wave.Error, EOFError) as exc:
                    raise PackError(f"{name} is not a WAV file: {exc}") from None
                (tmp / name).write_bytes(body)
                tags.append(tag)
    except tarfile.TarError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise PackError(f"not a tar archive: {exc}") from None
    except PackError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if not tags:
        shutil.rmtree(tmp, ignore_errors=True)
        raise PackError("no prompt WAV in the pack (names must be <kind>.<state>.wav or <state>.wav)")
    old = dest.with_name(dest.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        dest.rename(old)
    tmp.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
    return sorted(tags)
