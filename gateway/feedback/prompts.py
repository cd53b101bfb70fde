"""What the gateway says, per alarm kind and per lifecycle state, in zh-CN and English: one table.

A prompt only claims what has happened. "Sending" until the broker has the alarm; "reached the service centre"
after its PUBACK; "sent by text message" only after ``alarm.sms_sent``; "help is on the way" only after the
platform acknowledged; "no answer yet, still trying" when it escalates; and with the uplink down and nothing
sent, "the call could not be sent, use the phone". Fire, gas and leak prompts carry what to do first.

Each alarm prompt is the kind's headline, its advice, and the state's sentence (``{call}`` reads "呼叫"/"your call"
for a call button, "报警"/"the alarm" for a sensor). :data:`PROMPTS` spells out every combination, so the docs,
the audio builder and the tests read the same table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

from gateway.settings.feedback import Language, PromptKind

LANGUAGES: tuple[Language, ...] = get_args(Language)
#: The alarm kinds the elder is told apart; :func:`prompt_kind` maps event kinds onto them.
KINDS: tuple[PromptKind, ...] = get_args(PromptKind)

#: Lifecycle states that speak about one alarm.
AlarmState = Literal["raised", "call_sent", "sms_sent", "call_received", "escalated", "not_sent"]
ALARM_STATES: tuple[AlarmState, ...] = get_args(AlarmState)

#: States that say the same whatever the alarm ("" = silent: light only).
PLAIN: Mapping[str, Mapping[Language, str]] = {
    "normal": {"zh-CN": "", "en": ""},
    "uplink_down": {"zh-CN": "", "en": ""},
    "test_received": {"zh-CN": "测试信号已收到。", "en": "Test received."},
    "reminder": {
        "zh-CN": "该吃药了。吃完请按一下平安键。",
        "en": "Time for your medicine. Press the care button when you have taken it.",
    },
    "checkin_received": {"zh-CN": "已收到您的平安信号，谢谢。", "en": "Thank you, your check-in was received."},
    "cancelled": {
        "zh-CN": "已请求取消呼叫，等待平台确认。",
        "en": "Cancelling your call. Waiting for the service centre to confirm.",
    },
}

_EVENT_KINDS: Mapping[str, PromptKind] = {
    "alarm.emergency_call": "call",
    "alarm.fall": "fall",
    "alarm.inactivity": "fall",
    "alarm.smoke": "smoke",
    "alarm.gas": "gas",
    "alarm.leak": "leak",
    "alarm.bed_exit": "bed_exit",
    "alarm.heart_rate_abnormal": "vitals",
    "alarm.breath_rate_abnormal": "vitals",
    "alarm.no_breathing": "vitals",
}

_HEADLINE: Mapping[PromptKind, Mapping[Language, str]] = {
    "call": {"zh-CN": "", "en": ""},
    "fall": {"zh-CN": "可能发生了跌倒，或很久没有活动。", "en": "A possible fall, or no movement for a long time."},
    "smoke": {"zh-CN": "检测到烟雾。", "en": "Smoke detected."},
    "gas": {"zh-CN": "检测到燃气泄漏。", "en": "Gas detected."},
    "leak": {"zh-CN": "检测到漏水。", "en": "Water leak detected."},
    "bed_exit": {"zh-CN": "离床时间过长。", "en": "You have been out of bed for a long time."},
    "vitals": {"zh-CN": "心率或呼吸异常。", "en": "Heart or breathing readings are unusual."},
    "other": {"zh-CN": "检测到异常。", "en": "Something unusual was detected."},
}

_ADVICE: Mapping[PromptKind, Mapping[Language, str]] = {
    "smoke": {"zh-CN": "请马上离开家，不要乘电梯。", "en": "Leave the home now. Do not use the lift."},
    "gas": {
        "zh-CN": "不要开关任何电器，打开窗户，马上离开家。",
        "en": "Do not switch anything on or off. Open the windows and leave the home.",
    },
    "leak": {"zh-CN": "如果安全，请关闭水龙头。", "en": "If it is safe, turn off the tap."},
}

_STATUS: Mapping[AlarmState, Mapping[Language, str]] = {
    "raised": {"zh-CN": "正在发送{call}，请稍候。", "en": "Sending {call}, please wait."},
    "call_sent": {
        "zh-CN": "{call}已送达服务平台，正在等待回应。",
        "en": "{Call} has reached the service centre. Waiting for an answer.",
    },
    "sms_sent": {
        "zh-CN": "已用短信发出{call}，正在等待回应。",
        "en": "{Call} was sent by text message. Waiting for an answer.",
    },
    "call_received": {
        "zh-CN": "工作人员已收到{call}，救助正在赶来，请保持冷静。",
        "en": "Staff have answered. Help is on the way. Please stay calm.",
    },
    "escalated": {"zh-CN": "暂时没有回应，正在继续呼叫。", "en": "No answer yet. Still trying."},
    "not_sent": {
        "zh-CN": "网络不通，{call}没能发出，请用电话求助。",
        "en": "The network is down. {Call} could not be sent. Please use the phone.",
    },
}

_NOUN: Mapping[Language, tuple[str, str]] = {"zh-CN": ("呼叫", "报警"), "en": ("your call", "the alarm")}


def prompt_kind(event_kind: str | None) -> PromptKind:
    """The prompt kind of an alarm's event kind (``None``: a call; unknown alarm kinds: "other")."""
    if event_kind is None:
        return "call"
    return _EVENT_KINDS.get(event_kind, "other")


def _compose(kind: PromptKind, state: AlarmState, language: Language) -> str:
    noun = _NOUN[language][0 if kind == "call" else 1]
    status = _STATUS[state][language].format(call=noun, Call=noun[:1].upper() + noun[1:])
    sep = "" if language == "zh-CN" else " "
    parts = [_HEADLINE[kind][language], _ADVICE.get(kind, {}).get(language, ""), status]
    return sep.join(p for p in parts if p)


#: (kind, state) -> language -> sentence, for every alarm kind and state.
PROMPTS: Mapping[tuple[PromptKind, AlarmState], Mapping[Language, str]] = {
    (kind, state): {lang: _compose(kind, state, lang) for lang in LANGUAGES} for kind in KINDS for state in ALARM_STATES
}


def prompt_tag(state: str, kind: PromptKind | None) -> str:
    """The stable name of one prompt ("smoke.call_sent", "test_received"): audio file stem and override key."""
    return f"{kind}.{state}" if state in ALARM_STATES and kind is not None else state


def prompt_text(state: str, kind: PromptKind | None, language: Language) -> str:
    """The sentence for ``state`` of an alarm of ``kind`` ("" = say nothing; unknown state: "")."""
    if state in ALARM_STATES:
        return PROMPTS[(kind or "call", state)][language]  # type: ignore[index]
    plain = PLAIN.get(state)
    return plain[language] if plain else ""


def prompt_keys() -> list[tuple[str, PromptKind | None]]:
    """Every (state, kind) that says something by default."""
    keys: list[tuple[str, PromptKind | None]] = [(state, kind) for kind, state in PROMPTS]
    return keys + [(state, None) for state, text in PLAIN.items() if text["zh-CN"]]


def all_tags() -> list[str]:
    """Every prompt that says something (what the audio builder renders)."""
    return [prompt_tag(state, kind) for state, kind in prompt_keys()]
