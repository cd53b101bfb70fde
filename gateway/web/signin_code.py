"""The installer code: made at random, kept only as an scrypt hash, checked in constant time.

There is no default password anywhere. The code comes from the config (as a hash), from the platform
(:meth:`CodeStore.replace`), or is generated at first boot and printed once so the installer can read it.

Command line (for scripts and support staff)::

    python -m gateway.web.signin_code hash            # read a code on stdin, print its hash for the config
    python -m gateway.web.signin_code reset --state-dir DIR   # issue a new code, print it once
    python -m gateway.web.signin_code reset --state-dir DIR --recommission   # ...and reopen on next start
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import secrets
import sys
from pathlib import Path

from core.atomic import make_dirs, write_atomic
from gateway.web.window import FIRST_BOOT_MARKER

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
CODE_FILE = Path("web") / "installer_code"
MAX_CODE_LEN = 64


class CodeError(ValueError):
    """A code or stored hash cannot be used."""


def hash_code(code: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """``scrypt$n$r$p$salt$hash`` for a code (slow on purpose: run it off the event loop)."""
    if not code or len(code) > MAX_CODE_LEN:
        raise CodeError(f"a code must be 1-{MAX_CODE_LEN} characters")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(code.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${n}${r}${p}${b64(salt).decode()}${b64(digest).decode()}"


def verify_code(code: str, stored: str) -> bool:
    """True if ``code`` matches the stored hash (constant-time compare; slow on purpose)."""
    if not code or len(code) > MAX_CODE_LEN:
        return False
    try:
        tag, n, r, p, salt, digest = stored.split("$")
        if tag != "scrypt":
            raise ValueError(tag)
        want = base64.b64decode(digest, validate=True)
        got = hashlib.scrypt(
            code.encode(),
            salt=base64.b64decode(salt, validate=True),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(want),
        )
    except ValueError as exc:
        raise CodeError(f"stored installer code hash is malformed: {exc}") from exc
    return hmac.compare_digest(got, want)


def generate_code(digits: int = 8) -> str:
    """A random numeric code (typed on a phone keypad)."""
    return "".join(secrets.choice("0123456789") for _ in range(digits))


class CodeStore:
    """Where the hash lives: the config's hash wins, else ``<state_dir>/web/installer_code`` (mode 0600)."""

    def __init__(self, state_dir: Path, configured_hash: str | None) -> None:
        self.path = state_dir / CODE_FILE
        self.configured_hash = configured_hash
        self._hash: str | None = configured_hash

    def load_or_create(self, digits: int) -> str | None:
        """Load the stored hash; if there is none, make a code. Returns the new plain code, or None.

        Blocking (file I/O, scrypt): call it in a thread.
        """
        if self.configured_hash is not None:
            return None
        try:
            stored = self.path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            stored = ""
        except (OSError, UnicodeDecodeError) as exc:
            raise CodeError(f"{self.path}: cannot read: {exc}") from exc
        if stored.startswith("scrypt$") and stored.count("$") == 5:
            self._hash = stored
            return None
        code = generate_code(digits)
        self.replace(code)
        return code

    def replace(self, code: str) -> None:
        """Store a new code's hash (platform-issued or regenerated). Blocking: call it in a thread."""
        new_hash = hash_code(code)
        make_dirs(self.path.parent, mode=0o700)
        write_atomic(self.path, (new_hash + "\n").encode(), mode=0o600)
        self._hash = new_hash
        self.configured_hash = None

    def check_file(self, code: str) -> bool:
        """Whether ``code`` matches the stored hash file. Blocking (scrypt)."""
        try:
            stored = self.path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return False
        return stored.startswith("scrypt$") and verify_code(code, stored)

    def check(self, code: str) -> bool:
        """Blocking (scrypt): call it in a thread."""
        if self._hash is None:
            return False
        return verify_code(code, self._hash)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.web.signin_code", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("hash", help="read a code on stdin, print its hash for [web] installer_code_hash")
    reset = sub.add_parser("reset", help="issue a new random code into a state directory and print it once")
    reset.add_argument("--state-dir", type=Path, required=True)
    reset.add_argument("--digits", type=int, default=8)
    reset.add_argument(
        "--recommission",
        action="store_true",
        help="also forget that the box was commissioned: the next start opens the install window",
    )
    args = parser.parse_args(argv)
    if args.cmd == "hash":
        code = sys.stdin.readline().strip()
        try:
            print(hash_code(code))
        except CodeError as exc:
            print(exc, file=sys.stderr)
            return 2
        return 0
    code = generate_code(max(6, min(16, args.digits)))
    CodeStore(args.state_dir, None).replace(code)
    if args.recommission:
        (args.state_dir / FIRST_BOOT_MARKER).unlink(missing_ok=True)
    print(code)
    return 0


if __name__ == "__main__":
    sys.exit(main())
