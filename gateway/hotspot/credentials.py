"""The box's own access-point name and password: made once, kept in the state directory, printed on the label.

Per box, so a password read off one label opens no other box. The password is kept in clear (0600) because
NetworkManager needs it to run the access point; it is registered with the log redactor whenever it is loaded.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from core.atomic import write_atomic
from core.secrets import add_secret

WIFI_FILE = Path("hotspot") / "wifi.json"
#: No 0/o, 1/l/i: read off a printed label and typed on a phone.
PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
PASSWORD_LEN = 12  # about 59 bits; WPA2-PSK takes 8 to 63 characters
SSID_MAX_BYTES = 32


class CredentialsError(ValueError):
    """The stored access-point name or password cannot be used."""


@dataclass(frozen=True, slots=True)
class WifiCredentials:
    ssid: str
    password: str


def ssid_for(gateway_id: str) -> str:
    """``fbgw-<id>``, cut to the 32 bytes an SSID may have."""
    raw = f"fbgw-{gateway_id}".encode()[:SSID_MAX_BYTES]
    return raw.decode("utf-8", errors="ignore")


def load_or_create(state_dir: Path, gateway_id: str) -> WifiCredentials:
    """The stored credentials, or new ones written atomically (0600). Blocking: call it in a thread."""
    path = state_dir / WIFI_FILE
    if path.exists():
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            creds = WifiCredentials(str(doc["ssid"]), str(doc["password"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise CredentialsError(f"{path}: not readable ({type(exc).__name__}); remove it to make new ones") from exc
        if not 1 <= len(creds.ssid.encode()) <= SSID_MAX_BYTES or not 8 <= len(creds.password) <= 63:
            raise CredentialsError(f"{path}: SSID must be 1-32 bytes and the password 8-63 characters")
    else:
        password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LEN))
        creds = WifiCredentials(ssid_for(gateway_id), password)
        doc = {"ssid": creds.ssid, "password": creds.password}
        write_atomic(path, (json.dumps(doc, ensure_ascii=False) + "\n").encode(), mode=0o600)
    add_secret(creds.password)
    return creds
