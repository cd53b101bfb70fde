"""ModemManager's D-Bus names and enumerations, as tables (ModemManager-Flags-and-Enumerations)."""

from __future__ import annotations

from collections.abc import Mapping

BUS_NAME = "org.freedesktop.ModemManager1"
ROOT = "/org/freedesktop/ModemManager1"
MODEM_PREFIX = ROOT + "/Modem/"

MODEM = "org.freedesktop.ModemManager1.Modem"
MODEM_3GPP = "org.freedesktop.ModemManager1.Modem.Modem3gpp"
MESSAGING = "org.freedesktop.ModemManager1.Modem.Messaging"
VOICE = "org.freedesktop.ModemManager1.Modem.Voice"
SIM = "org.freedesktop.ModemManager1.Sim"
SMS = "org.freedesktop.ModemManager1.Sms"
CALL = "org.freedesktop.ModemManager1.Call"
OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
PROPERTIES = "org.freedesktop.DBus.Properties"

#: MMModemState
MODEM_STATES: Mapping[int, str] = {
    -1: "failed",
    0: "unknown",
    1: "initializing",
    2: "locked",
    3: "disabled",
    4: "disabling",
    5: "enabling",
    6: "enabled",
    7: "searching",
    8: "registered",
    9: "disconnecting",
    10: "connecting",
    11: "connected",
}
STATE_FAILED, STATE_LOCKED, STATE_DISABLED, STATE_REGISTERED = -1, 2, 3, 8

#: MMModemStateFailedReason -> our not-ready reason
FAILED_REASONS: Mapping[int, str] = {
    0: "modem_failed",
    1: "modem_failed",
    2: "sim_missing",
    3: "sim_error",
    4: "modem_failed",
    5: "sim_error",  # eSIM without profiles
}

#: MMModemLock (1 = none)
LOCKS: Mapping[int, str] = {
    0: "unknown",
    1: "none",
    2: "sim-pin",
    3: "sim-pin2",
    4: "sim-puk",
    5: "sim-puk2",
    6: "ph-sp-pin",
    7: "ph-sp-puk",
    8: "ph-net-pin",
    9: "ph-net-puk",
    10: "ph-sim-pin",
}
LOCK_UNKNOWN, LOCK_NONE = 0, 1

#: MMModem3gppRegistrationState -> (name, registered, roaming)
REGISTRATION: Mapping[int, tuple[str, bool, bool]] = {
    0: ("idle", False, False),
    1: ("home", True, False),
    2: ("searching", False, False),
    3: ("denied", False, False),
    4: ("unknown", False, False),
    5: ("roaming", True, True),
    6: ("home_sms_only", True, False),
    7: ("roaming_sms_only", True, True),
    8: ("emergency_only", False, False),
    9: ("home_csfb_not_preferred", True, False),
    10: ("roaming_csfb_not_preferred", True, True),
    11: ("attached_rlos", False, False),
}

#: MMModemAccessTechnology bits, best first (the modem reports a mask; we show the best one).
TECHNOLOGIES: tuple[tuple[int, str], ...] = (
    (1 << 15, "5gnr"),
    (1 << 14, "lte"),
    (1 << 16, "lte-cat-m"),
    (1 << 17, "lte-nb-iot"),
    (1 << 9, "hspa+"),
    (1 << 8, "hspa"),
    (1 << 7, "hsupa"),
    (1 << 6, "hsdpa"),
    (1 << 5, "umts"),
    (1 << 13, "evdob"),
    (1 << 12, "evdoa"),
    (1 << 11, "evdo0"),
    (1 << 10, "1xrtt"),
    (1 << 4, "edge"),
    (1 << 3, "gprs"),
    (1 << 2, "gsm-compact"),
    (1 << 1, "gsm"),
    (1 << 0, "pots"),
)

#: MMSmsState
SMS_STATES: Mapping[int, str] = {0: "unknown", 1: "stored", 2: "receiving", 3: "received", 4: "sending", 5: "sent"}
SMS_RECEIVING, SMS_RECEIVED, SMS_SENDING, SMS_SENT = 2, 3, 4, 5

#: MMCallState
CALL_DIALING, CALL_RINGING_OUT, CALL_ACTIVE, CALL_TERMINATED = 1, 2, 4, 7

#: MMCallStateReason -> outcome of a call that ended before it was answered
CALL_END_OUTCOMES: Mapping[int, str] = {
    0: "no_answer",  # unknown
    4: "no_answer",  # terminated (the far end or the network dropped it)
    5: "busy",  # refused or busy
    6: "failed",  # error
    7: "failed",  # audio setup failed
}


def technology(mask: int) -> str:
    """The best access technology in a MMModemAccessTechnology mask ("" when none)."""
    return next((name for bit, name in TECHNOLOGIES if mask & bit), "")
