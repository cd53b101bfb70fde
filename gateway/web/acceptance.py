"""County acceptance profiles and the installation checklist built from them.

A county inspects each bed before it pays for it. Its list of devices lives in ``gateway/web/counties/<county>.toml``,
each item citing the county plan's wording. The checklist counts only devices *tested during this installation*
(kept across install windows, see :mod:`gateway.web.record`), and needs the uplink verified (an event acknowledged
by the broker). Items no sensor can prove (a stand-alone voice/video terminal, a manual nursing bed) may be marked
``manual``: the technician confirms them with a note (serial number) and their name, and the report says so.
Items the plan makes optional are shown but never hold the verdict back.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.devices import Device
from gateway.web.i18n import device_label
from gateway.web.record import Confirmation
from gateway.web.testmode import TestTracker

#: Shipped profiles: package data next to this module, so an installed wheel finds them.
DEFAULT_COUNTIES_DIR = Path(__file__).resolve().parent / "counties"


class ProfileError(ValueError):
    """A county profile is missing or invalid; the message names the file and the problem."""


class Requirement(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str = Field(pattern=r"^[a-z0-9_]{1,32}$")
    zh: str = Field(min_length=1, max_length=80)
    en: str = Field(min_length=1, max_length=80)
    #: Satisfied by the gateway itself (online, uplink verified).
    gateway: bool = False
    #: Device types that count towards this item, and how many tested devices are needed.
    types: list[str] = Field(default_factory=list)
    min: int = Field(default=1, ge=0, le=50)
    #: The technician may confirm this item by hand (devices the gateway does not pair or cannot test).
    manual: bool = False
    #: False: the plan makes this item optional; shown, but it never holds the verdict back.
    required: bool = True
    #: The county plan's wording for this item (shown on the report; empty where the plan text was not at hand).
    plan: str = Field(default="", max_length=400)


class CountyProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z0-9_-]{1,32}$")
    zh: str = Field(min_length=1, max_length=80)
    en: str = Field(min_length=1, max_length=80)
    #: Every paired device must have been tested, not only the mandatory ones.
    require_all_tested: bool = True
    #: Which plan the items come from (document title and date, as the county published it).
    source: str = Field(default="", max_length=400)
    items: list[Requirement] = Field(min_length=1, max_length=50)


def load_profile(county: str, directory: Path | None) -> CountyProfile:
    """Read ``<directory>/<county>.toml`` (blocking; small file)."""
    path = (directory or DEFAULT_COUNTIES_DIR) / f"{county}.toml"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        profile = CountyProfile.model_validate(raw)
    except OSError as exc:
        raise ProfileError(f"county profile {path}: cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"county profile {path}: not valid TOML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ProfileError(f"county profile {path}: {problems}") from exc
    if profile.id != county:
        raise ProfileError(f"county profile {path}: id {profile.id!r} does not match its file name")
    return profile


def evaluate(
    profile: CountyProfile,
    devices: Iterable[Device],
    tests: TestTracker,
    manual: dict[str, Confirmation],
    uplink_online: bool,
    lang: str = "zh",
) -> dict[str, Any]:
    """The checklist: each item with what satisfies it, every device's test state, and the verdict."""
    devs = sorted(devices, key=lambda d: (d.room, d.name or d.id))
    tested = {d.id for d in devs if d.id in tests.tested}
    labels = {d.id: device_label(lang, d.name, d.id, d.type, d.address) for d in devs}
    uplink_ok = uplink_online and tests.uplink_verified_at is not None
    items = []
    for req in profile.items:
        label = req.zh if lang == "zh" else req.en
        base = {"key": req.key, "label": label, "required": req.required, "plan": req.plan, "manual": req.manual}
        if req.gateway:
            items.append(
                base
                | {"ok": uplink_ok, "have": int(uplink_ok), "need": 1, "devices": [], "names": [], "confirmed": None}
            )
            continue
        matching = [d.id for d in devs if d.type in req.types and d.id in tested]
        conf = manual.get(req.key) if req.manual else None
        ok = len(matching) >= req.min or conf is not None
        items.append(
            base
            | {
                "ok": ok,
                "have": len(matching),
                "need": req.min,
                "devices": matching,
                "names": [labels[m] for m in matching],
                "confirmed": {"note": conf.note, "by": conf.by, "at": conf.at} if conf else None,
            }
        )
    device_rows = []
    for d in devs:
        rec = tests.tested.get(d.id)
        device_rows.append(
            {
                "id": d.id,
                "name": labels[d.id],
                "room": d.room,
                "type": d.type,
                "transport": d.transport,
                "tested": rec is not None,
                "kind": rec.kind if rec else None,
                "tested_at": rec.at if rec else None,
                "to_outbox_ms": rec.to_outbox_ms if rec else None,
                "to_broker_ms": rec.to_broker_ms if rec else None,
            }
        )
    all_tested = all(r["tested"] for r in device_rows) if profile.require_all_tested else True
    passed = all(i["ok"] for i in items if i["required"]) and all_tested and uplink_ok
    missing = [i["label"] for i in items if i["required"] and not i["ok"]]
    return {
        "county": {"id": profile.id, "name": profile.zh if lang == "zh" else profile.en, "source": profile.source},
        "items": items,
        "devices": device_rows,
        "require_all_tested": profile.require_all_tested,
        "all_tested": all_tested,
        "uplink": {"ok": uplink_ok, "online": uplink_online, "verified_at": tests.uplink_verified_at},
        "missing": missing,
        "passed": passed,
    }
