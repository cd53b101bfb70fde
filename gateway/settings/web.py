"""The ``[web]`` section: the technician's page (sign-in, install window, county acceptance profile, mDNS).

There is no default password. When ``installer_code_hash`` is not set, the gateway makes a random code at
first boot, keeps only its scrypt hash in the state directory and prints the code once to the log.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: A stored code hash: ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>`` (see gateway.web.signin_code).
_HASH_PREFIX = "scrypt$"


class WebSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: scrypt hash of the installer code, as made by ``python -m gateway.web.signin_code hash``. When unset,
    #: the code kept in ``<state_dir>/web/installer_code`` is used (made at first boot, or issued by the
    #: platform).
    installer_code_hash: str | None = Field(default=None, repr=False)
    #: Digits in a generated installer code (typed on a phone keypad).
    generated_code_digits: int = Field(default=8, ge=6, le=16)
    #: How long a signed-in session lasts at most (it also ends when the install window closes).
    session_lifetime_s: int = Field(default=2 * 3600, ge=60, le=24 * 3600)
    #: How long the install window stays open when opened without a length (first boot, GPIO long press).
    install_window_s: int = Field(default=3600, ge=60, le=24 * 3600)
    #: Longest window the platform or a technician may ask for.
    install_window_max_s: int = Field(default=8 * 3600, ge=60, le=7 * 24 * 3600)
    #: Open the install window on the very first boot (no devices commissioned yet).
    open_on_first_boot: bool = True
    #: Failed sign-ins allowed per client address within ``login_window_s`` before it must wait.
    login_max_failures: int = Field(default=5, ge=1, le=1000)
    #: Failed sign-ins allowed from all clients together within ``login_window_s``; beyond it, every client
    #: with a failure waits too (a client with no failures never does).
    login_max_failures_total: int = Field(default=20, ge=1, le=10_000)
    login_window_s: float = Field(default=300.0, gt=0, le=24 * 3600)
    #: County acceptance profile: a file name (without .toml) in ``counties_dir``.
    county: str = Field(default="youxi", pattern=r"^[a-z0-9_-]{1,32}$")
    #: Where county profiles live; default: the ``gateway/web/counties`` folder shipped with fbgw.
    counties_dir: Path | None = None
    #: Default pairing window offered on the page, seconds.
    pairing_s: int = Field(default=120, ge=10, le=600)
    #: Advertise the page over mDNS (``fbgw-<id>.local``, ``_http._tcp``).
    discovery: bool = True
    #: Interfaces (IP addresses) to advertise on. Empty: follow ``http.listen`` (a loopback listener
    #: advertises on 127.0.0.1 only, a wildcard one on every interface, a specific address on that address).
    discovery_interfaces: list[str] = Field(default_factory=list, max_length=16)
    #: Page language when the browser has not chosen one.
    default_lang: str = Field(default="zh", pattern=r"^(zh|en)$")

    @field_validator("installer_code_hash")
    @classmethod
    def _looks_like_hash(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith(_HASH_PREFIX) or value.count("$") != 5):
            raise ValueError(
                "installer_code_hash must be an scrypt hash (make one with "
                "`python -m gateway.web.signin_code hash`); never put the plain code in the config"
            )
        return value
