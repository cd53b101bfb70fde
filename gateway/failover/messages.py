"""The SMS texts: who, what, where, when, and how to acknowledge — in plain zh-CN (or English).

Short enough to read on a locked phone screen; ModemManager splits longer text into parts by itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

#: Alarm kind -> what happened, as a guardian would say it.
KINDS: dict[str, dict[str, str]] = {
    "alarm.emergency_call": {"zh": "按下了紧急呼叫", "en": "pressed the emergency call"},
    "alarm.smoke": {"zh": "家中烟雾报警", "en": "smoke alarm at home"},
    "alarm.gas": {"zh": "家中燃气泄漏报警", "en": "gas leak alarm at home"},
    "alarm.leak": {"zh": "家中漏水报警", "en": "water leak alarm at home"},
    "alarm.inactivity": {"zh": "长时间没有活动", "en": "no movement for a long time"},
    "alarm.bed_exit": {"zh": "夜间离床未归", "en": "left the bed at night and has not returned"},
    "alarm.door_left_open": {"zh": "家门长时间未关", "en": "the door has been left open"},
    "alarm.heart_rate_abnormal": {"zh": "心率异常", "en": "abnormal heart rate"},
    "alarm.breath_rate_abnormal": {"zh": "呼吸频率异常", "en": "abnormal breathing rate"},
    "alarm.no_breathing": {"zh": "未检测到呼吸", "en": "no breathing detected"},
}
ROOMS: dict[str, dict[str, str]] = {
    "bedroom": {"zh": "卧室", "en": "bedroom"},
    "living": {"zh": "客厅", "en": "living room"},
    "kitchen": {"zh": "厨房", "en": "kitchen"},
    "bathroom": {"zh": "卫生间", "en": "bathroom"},
    "hall": {"zh": "门厅", "en": "hall"},
    "balcony": {"zh": "阳台", "en": "balcony"},
}
_ELDER = {"zh": "老人", "en": "The elder"}


def _when(ts_ms: int, timezone: str) -> str:
    try:
        zone: ZoneInfo | None = ZoneInfo(timezone)
    except (KeyError, ValueError):
        zone = None
    moment = datetime.fromtimestamp(ts_ms / 1000, tz=UTC).astimezone(zone) if zone else None
    return moment.strftime("%m-%d %H:%M") if moment else "--:--"


def what(kind: str, lang: str) -> str:
    known = KINDS.get(kind)
    if known:
        return known[lang]
    return ("报警：" if lang == "zh" else "alarm: ") + kind.removeprefix("alarm.")


def room_name(room: str, lang: str) -> str:
    return ROOMS.get(room, {}).get(lang, room)


def alarm_sms(*, elder: str, kind: str, room: str, ts_ms: int, timezone: str, lang: str, synced: bool) -> str:
    """The alarm SMS. ``synced=False``: the box's clock may be wrong, so the time is marked as approximate."""
    who = elder or _ELDER[lang]
    when = _when(ts_ms, timezone) + ("" if synced else ("（时间可能不准）" if lang == "zh" else " (clock unsure)"))
    place = room_name(room, lang)
    if lang == "zh":
        where = f"在{place}" if place else ""
        return (
            f"【家庭养老床位报警】{who}{where}{what(kind, lang)}，{when}。"
            "平台暂时联系不上，请尽快电话或上门查看。回复1表示收到。"
        )
    where = f" in the {place}" if place else ""
    return (
        f"[Home care alarm] {who}{where}: {what(kind, lang)}, {when}. The care platform cannot be reached; "
        "please call or visit now. Reply 1 to confirm."
    )


def resolved_sms(*, elder: str, kind: str, lang: str, by: str) -> str:
    """The short "resolved" SMS sent to everyone who got the alarm SMS."""
    who = elder or _ELDER[lang]
    if lang == "zh":
        return f"【家庭养老床位】{who}的{what(kind, lang).removeprefix('按下了')}已处理完毕（{by}）。"
    return f"[Home care] {who}: {what(kind, lang)} — resolved ({by})."


def always_sms(*, elder: str, kind: str, room: str, ts_ms: int, timezone: str, lang: str, synced: bool) -> str:
    """The SMS guardians get at once where the county has no guardian app (the platform has it too)."""
    text = alarm_sms(elder=elder, kind=kind, room=room, ts_ms=ts_ms, timezone=timezone, lang=lang, synced=synced)
    if lang == "zh":
        return text.replace("平台暂时联系不上，", "平台已收到，")
    return text.replace("The care platform cannot be reached; ", "The care platform has been told; ")
