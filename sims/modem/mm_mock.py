"""dbusmock template that completes python-dbusmock's ``modemmanager`` with what an alarm gateway uses.

Loaded *into the mock process* (``python -m dbusmock --system --template <this file>``), so it may import only
``dbus``, ``dbusmock`` and the standard library. It loads ``modemmanager`` (the manager object and its
``GetManagedObjects``) and adds, on ``org.freedesktop.DBus.Mock`` at ``/org/freedesktop/ModemManager1``:

* ``AddModem(a{sv})``: a modem at ``/org/freedesktop/ModemManager1/Modem/N`` with the ``Modem``, ``Modem3gpp``,
  ``Messaging`` and ``Voice`` interfaces and a ``Sim`` object, announced with ``InterfacesAdded``;
* ``Messaging.Create`` / ``Sms.Send`` with the real state sequence (unknown → sending → sent), ``Added``;
* ``Voice.CreateCall`` / ``Call.Start`` / ``Call.Hangup`` with ``StateChanged`` (dialing → ringing-out →
  active, or terminated with a reason), the far end's behaviour set by ``SetCallMode``;
* faults: ``RemoveModem``, ``SetSim`` (ok / missing / pin), ``SetRegistration``, ``SetSendMode`` (fail, hang,
  remove the modem mid-send);
* ``InjectSms``: an incoming SMS (``Added`` with state receiving, then received);
* every SMS sent and every call placed is appended as one JSON line to ``parameters["record"]``.

Timers use GLib's main loop (the one dbusmock runs) through ``ctypes``, so a slow send or a ringing phone
never blocks the mock.
"""

from __future__ import annotations

import ctypes
import itertools
import json
import time
import traceback
from collections.abc import Callable
from typing import Any

import dbus
import dbus.service
from dbusmock import MOCK_IFACE, OBJECT_MANAGER_IFACE, mockobject

BUS_NAME = "org.freedesktop.ModemManager1"
MAIN_OBJ = "/org/freedesktop/ModemManager1"
MAIN_IFACE = "org.freedesktop.ModemManager1"
SYSTEM_BUS = True
IS_OBJECT_MANAGER = False

MODEM = "org.freedesktop.ModemManager1.Modem"
MODEM_3GPP = "org.freedesktop.ModemManager1.Modem.Modem3gpp"
MESSAGING = "org.freedesktop.ModemManager1.Modem.Messaging"
VOICE = "org.freedesktop.ModemManager1.Modem.Voice"
SIM = "org.freedesktop.ModemManager1.Sim"
SMS = "org.freedesktop.ModemManager1.Sms"
CALL = "org.freedesktop.ModemManager1.Call"

# MMModemState, MMModemStateFailedReason, MMModemLock, MMSmsState, MMCallState, MMCallStateReason
STATE_FAILED, STATE_LOCKED, STATE_ENABLED, STATE_SEARCHING, STATE_REGISTERED = -1, 2, 6, 7, 8
FAILED_NONE, FAILED_SIM_MISSING = 0, 2
LOCK_NONE, LOCK_SIM_PIN = 1, 2
SMS_UNKNOWN, SMS_RECEIVING, SMS_RECEIVED, SMS_SENDING, SMS_SENT = 0, 2, 3, 4, 5
CALL_UNKNOWN, CALL_DIALING, CALL_RINGING_OUT, CALL_ACTIVE, CALL_TERMINATED = 0, 1, 2, 4, 7
REASON_OUTGOING_STARTED, REASON_ACCEPTED, REASON_TERMINATED, REASON_BUSY, REASON_ERROR = 1, 3, 4, 5, 6
REG_HOME, REG_ROAMING = 1, 5
TECH_LTE = 1 << 14

#: Mutable behaviour of the mock (one modem at a time, like a gateway with one 4G module).
CONFIG: dict[str, Any] = {
    "record": "",
    "send_mode": "ok",  # ok | fail | hang | remove
    "send_delay_ms": 50,
    "call_mode": "answer",  # answer | no_answer | busy | fail
    "call_after_ms": 300,
    "modem": "",
}
_ids = itertools.count(1)

# ---- timers on dbusmock's GLib main loop ----

_glib = ctypes.CDLL("libglib-2.0.so.0")
_SOURCE_FUNC = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
_glib.g_timeout_add.argtypes = [ctypes.c_uint, _SOURCE_FUNC, ctypes.c_void_p]
_glib.g_timeout_add.restype = ctypes.c_uint
_timers: list[tuple[Any, list[bool]]] = []  # callbacks must outlive their call; purged once done


def later(ms: int, fn: Callable[[], None]) -> None:
    """Run ``fn`` on the main loop after ``ms`` milliseconds."""
    done = [False]

    def fire(_data: Any) -> int:
        try:
            fn()
        except Exception:
            traceback.print_exc()
        done[0] = True
        return 0  # G_SOURCE_REMOVE

    _timers[:] = [t for t in _timers if not t[1][0]]
    callback = _SOURCE_FUNC(fire)
    _timers.append((callback, done))
    _glib.g_timeout_add(max(0, int(ms)), callback, None)


# ---- helpers ----


def _manager() -> Any:
    return mockobject.objects[MAIN_OBJ]


def _record(entry: dict[str, Any]) -> None:
    if not CONFIG["record"]:
        return
    entry = {"t": round(time.time(), 3), **entry}
    with open(CONFIG["record"], "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, ensure_ascii=False) + "\n")


def _modem() -> Any | None:
    path = CONFIG["modem"]
    return mockobject.objects.get(path) if path else None


def _update(obj: Any, interface: str, props: dict[str, Any]) -> None:
    """Store and announce property changes with their exact D-Bus types (dbusmock's UpdateProperties cannot wrap
    object paths)."""
    for name, value in props.items():
        obj.props.setdefault(interface, {})[name] = value
    changed = {name: _variant(value) for name, value in props.items()}
    obj.EmitSignal(
        dbus.PROPERTIES_IFACE,
        "PropertiesChanged",
        "sa{sv}as",
        [interface, dbus.Dictionary(changed, signature="sv"), dbus.Array([], signature="s")],
    )


def _variant(value: Any) -> Any:
    if isinstance(value, dbus.ObjectPath):
        return dbus.ObjectPath(value, variant_level=1)
    if isinstance(value, dbus.Struct):
        return dbus.Struct(value, signature=value.signature, variant_level=1)
    if isinstance(value, dbus.Array):
        return dbus.Array(value, signature=value.signature, variant_level=1)
    return type(value)(value, variant_level=1)


def _paths(prefix: str) -> list[str]:
    return sorted(p for p in mockobject.objects if p.startswith(prefix))


def _remove_object(path: str) -> None:
    obj = mockobject.objects.get(path)
    if obj is None:
        return
    _manager().EmitSignal(
        OBJECT_MANAGER_IFACE,
        "InterfacesRemoved",
        "oas",
        [dbus.ObjectPath(path), dbus.Array(list(obj.props.keys()), signature="s")],
    )
    _manager().RemoveObject(path)


def _owned(prefix: str) -> list[dbus.ObjectPath]:
    return [dbus.ObjectPath(p) for p in _paths(prefix)]


def _refresh_lists() -> None:
    modem = _modem()
    if modem is None:
        return
    _update(modem, MESSAGING, {"Messages": dbus.Array(_owned(MAIN_OBJ + "/SMS/"), signature="o")})
    _update(modem, VOICE, {"Calls": dbus.Array(_owned(MAIN_OBJ + "/Call/"), signature="o")})


# ---- SMS objects ----


class SmsMock(mockobject.DBusMockObject):  # type: ignore[misc]
    """One SMS; ``Send`` replies only once the (possibly slow, failing or never-ending) send is over."""

    @dbus.service.method(SMS, in_signature="", out_signature="", async_callbacks=("ok", "err"))
    def Send(self, ok: Callable[[], None], err: Callable[[Exception], None]) -> None:
        self.log("Send")
        mode = CONFIG["send_mode"]
        props = self.props[SMS]
        _update(self, SMS, {"State": dbus.UInt32(SMS_SENDING)})

        def finish() -> None:
            if self.path not in mockobject.objects:
                return  # the modem went away with it: no reply, as when ModemManager loses the device
            if mode == "fail":
                _update(self, SMS, {"State": dbus.UInt32(SMS_UNKNOWN)})
                _record({"kind": "sms", "status": "failed", "number": str(props["Number"]), "text": str(props["Text"])})
                err(
                    dbus.exceptions.DBusException(
                        "Network timeout", name="org.freedesktop.ModemManager1.Error.MessageError.NetworkTimeout"
                    )
                )
                return
            _update(self, SMS, {"State": dbus.UInt32(SMS_SENT)})
            _record({"kind": "sms", "status": "sent", "number": str(props["Number"]), "text": str(props["Text"])})
            ok()

        if mode == "hang":
            return
        if mode == "remove":
            later(CONFIG["send_delay_ms"], _remove_modem)
            return
        later(CONFIG["send_delay_ms"], finish)

    @dbus.service.method(SMS, in_signature="u", out_signature="")
    def Store(self, _storage: int) -> None:
        _update(self, SMS, {"Storage": dbus.UInt32(2)})


def _sms_props(number: str, text: str, state: int) -> dict[str, Any]:
    return {
        "State": dbus.UInt32(state),
        "PduType": dbus.UInt32(0),
        "Number": dbus.String(number),
        "Text": dbus.String(text),
        "Data": dbus.Array([], signature="y"),
        "SMSC": dbus.String(""),
        "Timestamp": dbus.String(""),
        "Storage": dbus.UInt32(0),
        "DeliveryReportRequest": dbus.Boolean(False),
        "MessageReference": dbus.UInt32(0),
    }


def _new_sms(number: str, text: str, state: int) -> str:
    path = f"{MAIN_OBJ}/SMS/{next(_ids)}"
    _manager().AddObject(path, SMS, _sms_props(number, text, state), [], mock_class=SmsMock)
    return path


def _messaging_create(_modem_obj: Any, props: dict[str, Any]) -> dbus.ObjectPath:
    number, text = str(props.get("number", "")), str(props.get("text", ""))
    if not number or not text:
        raise dbus.exceptions.DBusException(
            "number and text required", name="org.freedesktop.ModemManager1.Error.Core.InvalidArgs"
        )
    path = _new_sms(number, text, SMS_UNKNOWN)
    _modem_obj.EmitSignal(MESSAGING, "Added", "ob", [dbus.ObjectPath(path), dbus.Boolean(False)])
    _refresh_lists()
    return dbus.ObjectPath(path)


def _messaging_delete(modem_obj: Any, path: str) -> None:
    if str(path) not in mockobject.objects:
        raise dbus.exceptions.DBusException("no such SMS", name="org.freedesktop.ModemManager1.Error.Core.NotFound")
    _manager().RemoveObject(str(path))
    modem_obj.EmitSignal(MESSAGING, "Deleted", "o", [dbus.ObjectPath(path)])
    _refresh_lists()


# ---- calls ----


class CallMock(mockobject.DBusMockObject):  # type: ignore[misc]
    """One voice call; the far end answers, rings forever or is busy as ``SetCallMode`` says."""

    def _set(self, state: int, reason: int) -> None:
        old = int(self.props[CALL]["State"])
        if old == CALL_TERMINATED:
            return
        _update(self, CALL, {"State": dbus.Int32(state), "StateReason": dbus.UInt32(reason)})
        self.EmitSignal(CALL, "StateChanged", "iiu", [dbus.Int32(old), dbus.Int32(state), dbus.UInt32(reason)])
        if state == CALL_TERMINATED:
            self._log_end(reason)

    def _log_end(self, reason: int) -> None:
        outcome = getattr(self, "outcome", "no_answer")
        if outcome == "answered":
            pass
        elif reason == REASON_BUSY:
            outcome = "busy"
        elif reason == REASON_ERROR:
            outcome = "failed"
        _record({"kind": "call", "number": str(self.props[CALL]["Number"]), "outcome": outcome})

    @dbus.service.method(CALL, in_signature="", out_signature="")
    def Start(self) -> None:
        self.log("Start")
        mode, after = CONFIG["call_mode"], CONFIG["call_after_ms"]
        self.outcome = "no_answer"
        self._set(CALL_DIALING, REASON_OUTGOING_STARTED)
        later(20, lambda: self._set(CALL_RINGING_OUT, REASON_OUTGOING_STARTED))
        if mode == "answer":

            def answer() -> None:
                if int(self.props[CALL]["State"]) == CALL_RINGING_OUT:
                    self.outcome = "answered"
                    self._set(CALL_ACTIVE, REASON_ACCEPTED)

            later(after, answer)
        elif mode == "busy":
            later(after, lambda: self._set(CALL_TERMINATED, REASON_BUSY))
        elif mode == "fail":
            later(after, lambda: self._set(CALL_TERMINATED, REASON_ERROR))

    @dbus.service.method(CALL, in_signature="", out_signature="")
    def Hangup(self) -> None:
        self.log("Hangup")
        self._set(CALL_TERMINATED, REASON_TERMINATED)

    def remote_hangup(self) -> None:
        self._set(CALL_TERMINATED, REASON_TERMINATED)


def _voice_create(modem_obj: Any, props: dict[str, Any]) -> dbus.ObjectPath:
    number = str(props.get("number", ""))
    if not number:
        raise dbus.exceptions.DBusException(
            "number required", name="org.freedesktop.ModemManager1.Error.Core.InvalidArgs"
        )
    path = f"{MAIN_OBJ}/Call/{next(_ids)}"
    call_props = {
        "State": dbus.Int32(CALL_UNKNOWN),
        "StateReason": dbus.UInt32(0),
        "Direction": dbus.UInt32(2),  # outgoing
        "Number": dbus.String(number),
        "Multiparty": dbus.Boolean(False),
        "AudioPort": dbus.String(""),
    }
    _manager().AddObject(path, CALL, call_props, [], mock_class=CallMock)
    modem_obj.EmitSignal(VOICE, "CallAdded", "o", [dbus.ObjectPath(path)])
    _refresh_lists()
    return dbus.ObjectPath(path)


def _voice_delete(modem_obj: Any, path: str) -> None:
    if str(path) not in mockobject.objects:
        raise dbus.exceptions.DBusException("no such call", name="org.freedesktop.ModemManager1.Error.Core.NotFound")
    _manager().RemoveObject(str(path))
    modem_obj.EmitSignal(VOICE, "CallDeleted", "o", [dbus.ObjectPath(path)])
    _refresh_lists()


def _hangup_all(_modem_obj: Any) -> None:
    for path in _paths(MAIN_OBJ + "/Call/"):
        mockobject.objects[path].Hangup()


# ---- the template ----


def load(mock: Any, parameters: dict[str, Any]) -> None:
    """Load ``modemmanager`` underneath; add a modem unless ``parameters["modem"]`` is false."""
    mock.AddTemplate("modemmanager", parameters)
    mockobject.objects.setdefault(MAIN_OBJ, mock)
    # modemmanager lists only ``.../Modems/*``; ModemManager itself names its modems ``.../Modem/N``.
    code = f"ret = {{dbus.ObjectPath(k): objects[k].props for k in objects if k.startswith('{MAIN_OBJ}/Modem/')}}"
    mock.AddMethod(OBJECT_MANAGER_IFACE, "GetManagedObjects", "", "a{oa{sa{sv}}}", code)
    CONFIG["record"] = str(parameters.get("record", ""))
    if parameters.get("modem", True):
        AddModem(mock, dbus.Dictionary({}, signature="sv"))


@dbus.service.method(MOCK_IFACE, in_signature="a{sv}", out_signature="o")
def AddModem(self: Any, options: dict[str, Any]) -> dbus.ObjectPath:
    """Plug a modem in: registered at home on LTE, signal 75 %, SIM ready (``options`` may override
    ``registration`` (u), ``signal`` (u), ``technology`` (u), ``sim`` ("ok"|"missing"|"pin"), ``imei`` (s))."""
    if _modem() is not None:
        raise dbus.exceptions.DBusException("a modem is present", name="org.freedesktop.DBus.Mock.NameError")
    n = next(_ids)
    path, sim_path = f"{MAIN_OBJ}/Modem/{n}", f"{MAIN_OBJ}/SIM/{n}"
    registration = int(options.get("registration", REG_HOME))
    modem_props = {
        "Sim": dbus.ObjectPath(sim_path),
        "State": dbus.Int32(STATE_REGISTERED if registration in (REG_HOME, REG_ROAMING) else STATE_SEARCHING),
        "StateFailedReason": dbus.UInt32(FAILED_NONE),
        "UnlockRequired": dbus.UInt32(LOCK_NONE),
        "AccessTechnologies": dbus.UInt32(int(options.get("technology", TECH_LTE))),
        "SignalQuality": dbus.Struct(
            (dbus.UInt32(int(options.get("signal", 75))), dbus.Boolean(True)), signature="(ub)"
        ),
        "Manufacturer": dbus.String("Quectel"),
        "Model": dbus.String("EC25"),
        "Revision": dbus.String("EC25EFAR06A06M4G"),
        "EquipmentIdentifier": dbus.String(str(options.get("imei", "861234050000001"))),
        "OwnNumbers": dbus.Array([], signature="s"),
        "PowerState": dbus.UInt32(3),
    }
    self.AddObject(path, MODEM, modem_props, [("Enable", "b", "", "")])
    modem = mockobject.objects[path]
    props_3gpp = {
        "Imei": dbus.String(str(options.get("imei", "861234050000001"))),
        "RegistrationState": dbus.UInt32(registration),
        "OperatorCode": dbus.String("46000"),
        "OperatorName": dbus.String("CHINA MOBILE"),
    }
    props_messaging = {
        "Messages": dbus.Array([], signature="o"),
        "SupportedStorages": dbus.Array([dbus.UInt32(2), dbus.UInt32(3)], signature="u"),
        "DefaultStorage": dbus.UInt32(3),
    }
    props_voice = {"Calls": dbus.Array([], signature="o"), "EmergencyOnly": dbus.Boolean(False)}
    modem.AddProperties(MODEM_3GPP, props_3gpp)
    modem.AddProperties(MESSAGING, props_messaging)
    modem.AddMethods(
        MESSAGING,
        [
            ("Create", "a{sv}", "o", _messaging_create),
            ("Delete", "o", "", _messaging_delete),
            ("List", "", "ao", lambda _m: _owned(MAIN_OBJ + "/SMS/")),
        ],
    )
    modem.AddProperties(VOICE, props_voice)
    modem.AddMethods(
        VOICE,
        [
            ("CreateCall", "a{sv}", "o", _voice_create),
            ("DeleteCall", "o", "", _voice_delete),
            ("ListCalls", "", "ao", lambda _m: _owned(MAIN_OBJ + "/Call/")),
            ("HangupAll", "", "", _hangup_all),
        ],
    )
    CONFIG["modem"] = path
    self.AddObject(
        sim_path,
        SIM,
        {
            "Active": dbus.Boolean(True),
            "SimIdentifier": dbus.String("89860000000000000001"),
            "Imsi": dbus.String("460001234567890"),
            "OperatorName": dbus.String("CHINA MOBILE"),
        },
        [],
    )
    self.EmitSignal(
        OBJECT_MANAGER_IFACE,
        "InterfacesAdded",
        "oa{sa{sv}}",
        [dbus.ObjectPath(path), dbus.Dictionary(modem.props, signature="sa{sv}")],
    )
    sim = str(options.get("sim", "ok"))
    if sim != "ok":
        SetSim(self, sim)
    return dbus.ObjectPath(path)


def _remove_modem() -> None:
    """Unplug the modem: it, its SIM, its messages and calls vanish (InterfacesRemoved)."""
    for path in _paths(MAIN_OBJ + "/SMS/") + _paths(MAIN_OBJ + "/Call/") + _paths(MAIN_OBJ + "/SIM/"):
        _manager().RemoveObject(path)
    path = CONFIG["modem"]
    CONFIG["modem"] = ""
    if path:
        _remove_object(path)


@dbus.service.method(MOCK_IFACE, in_signature="", out_signature="")
def RemoveModem(self: Any) -> None:
    """Unplug the modem (no error when none is present)."""
    _remove_modem()


@dbus.service.method(MOCK_IFACE, in_signature="s", out_signature="")
def SetSim(self: Any, state: str) -> None:
    """``ok``, ``missing`` (modem failed: SIM missing, no Sim object) or ``pin`` (locked, SIM-PIN required)."""
    modem = _modem()
    if modem is None:
        raise dbus.exceptions.DBusException("no modem", name="org.freedesktop.DBus.Mock.NameError")
    n = CONFIG["modem"].rsplit("/", 1)[1]
    if state == "ok":
        reg = int(modem.props[MODEM_3GPP]["RegistrationState"])
        modem_state = STATE_REGISTERED if reg in (REG_HOME, REG_ROAMING) else STATE_SEARCHING
        props = {
            "State": dbus.Int32(modem_state),
            "StateFailedReason": dbus.UInt32(FAILED_NONE),
            "UnlockRequired": dbus.UInt32(LOCK_NONE),
            "Sim": dbus.ObjectPath(f"{MAIN_OBJ}/SIM/{n}"),
        }
    elif state == "missing":
        props = {
            "State": dbus.Int32(STATE_FAILED),
            "StateFailedReason": dbus.UInt32(FAILED_SIM_MISSING),
            "UnlockRequired": dbus.UInt32(LOCK_NONE),
            "Sim": dbus.ObjectPath("/"),
        }
    elif state == "pin":
        props = {
            "State": dbus.Int32(STATE_LOCKED),
            "StateFailedReason": dbus.UInt32(FAILED_NONE),
            "UnlockRequired": dbus.UInt32(LOCK_SIM_PIN),
        }
    else:
        raise dbus.exceptions.DBusException(f"unknown SIM state {state}", name="org.freedesktop.DBus.Mock.NameError")
    _update(modem, MODEM, props)


@dbus.service.method(MOCK_IFACE, in_signature="u", out_signature="")
def SetRegistration(self: Any, state: int) -> None:
    """MMModem3gppRegistrationState: 0 idle, 1 home, 2 searching, 3 denied, 5 roaming..."""
    modem = _modem()
    if modem is None:
        raise dbus.exceptions.DBusException("no modem", name="org.freedesktop.DBus.Mock.NameError")
    _update(modem, MODEM_3GPP, {"RegistrationState": dbus.UInt32(state)})
    if int(modem.props[MODEM]["State"]) >= STATE_ENABLED:
        registered = state in (REG_HOME, REG_ROAMING)
        _update(modem, MODEM, {"State": dbus.Int32(STATE_REGISTERED if registered else STATE_SEARCHING)})


@dbus.service.method(MOCK_IFACE, in_signature="uu", out_signature="")
def SetSignal(self: Any, percent: int, technology: int) -> None:
    """Signal quality in percent and the access technology bitmask (0: leave it)."""
    modem = _modem()
    if modem is None:
        raise dbus.exceptions.DBusException("no modem", name="org.freedesktop.DBus.Mock.NameError")
    props: dict[str, Any] = {"SignalQuality": dbus.Struct((dbus.UInt32(percent), dbus.Boolean(True)), signature="(ub)")}
    if technology:
        props["AccessTechnologies"] = dbus.UInt32(technology)
    _update(modem, MODEM, props)


@dbus.service.method(MOCK_IFACE, in_signature="su", out_signature="")
def SetSendMode(self: Any, mode: str, delay_ms: int) -> None:
    """How ``Sms.Send`` ends after ``delay_ms``: ok, fail (network timeout), hang (never replies), remove
    (the modem is unplugged mid-send)."""
    if mode not in ("ok", "fail", "hang", "remove"):
        raise dbus.exceptions.DBusException(f"unknown send mode {mode}", name="org.freedesktop.DBus.Mock.NameError")
    CONFIG["send_mode"], CONFIG["send_delay_ms"] = mode, int(delay_ms)


@dbus.service.method(MOCK_IFACE, in_signature="su", out_signature="")
def SetCallMode(self: Any, mode: str, after_ms: int) -> None:
    """What the called phone does ``after_ms`` after it starts ringing: answer, busy, fail, or no_answer."""
    if mode not in ("answer", "no_answer", "busy", "fail"):
        raise dbus.exceptions.DBusException(f"unknown call mode {mode}", name="org.freedesktop.DBus.Mock.NameError")
    CONFIG["call_mode"], CONFIG["call_after_ms"] = mode, int(after_ms)


@dbus.service.method(MOCK_IFACE, in_signature="", out_signature="")
def HangupRemote(self: Any) -> None:
    """The far end of every active call hangs up."""
    for path in _paths(MAIN_OBJ + "/Call/"):
        mockobject.objects[path].remote_hangup()


@dbus.service.method(MOCK_IFACE, in_signature="ssu", out_signature="o")
def InjectSms(self: Any, number: str, text: str, receive_ms: int) -> dbus.ObjectPath:
    """An SMS arrives: ``Added(path, true)`` in state receiving, then received after ``receive_ms``."""
    modem = _modem()
    if modem is None:
        raise dbus.exceptions.DBusException("no modem", name="org.freedesktop.DBus.Mock.NameError")
    path = _new_sms(number, text, SMS_RECEIVING if receive_ms else SMS_RECEIVED)
    modem.EmitSignal(MESSAGING, "Added", "ob", [dbus.ObjectPath(path), dbus.Boolean(True)])
    _refresh_lists()
    _record({"kind": "incoming", "number": number, "text": text})
    if receive_ms:

        def received() -> None:
            obj = mockobject.objects.get(path)
            if obj is not None:
                _update(obj, SMS, {"State": dbus.UInt32(SMS_RECEIVED)})

        later(receive_ms, received)
    return dbus.ObjectPath(path)


@dbus.service.method(MOCK_IFACE, in_signature="", out_signature="")
def ResetModem(self: Any) -> None:
    """Back to one healthy modem, default behaviours, no messages or calls (the record file is kept)."""
    _remove_modem()
    CONFIG.update(send_mode="ok", send_delay_ms=50, call_mode="answer", call_after_ms=300)
    AddModem(self, dbus.Dictionary({}, signature="sv"))
