"""Units of the sign-in machinery: code hashing, sessions, rate limiter, pairing state, county profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.devices import Device
from core.events import DeviceRef, Event, Priority
from drivers.base import PairingUpdate
from gateway.settings.web import WebSettings
from gateway.web import acceptance, testmode
from gateway.web.auth import LoginLimiter, Sessions
from gateway.web.i18n import EN, ZH, device_label, kind_name, reason_key, room_key, signal_band, translate
from gateway.web.pairing import MAX_CANDIDATES, PairingState
from gateway.web.record import Confirmation, InstallRecord
from gateway.web.signin_code import CodeError, CodeStore, generate_code, hash_code, main, verify_code

pytestmark = pytest.mark.timeout(30)


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_hash_roundtrip_and_salted() -> None:
    h1, h2 = hash_code("12345678"), hash_code("12345678")
    assert h1 != h2 and h1.startswith("scrypt$16384$8$1$")
    assert verify_code("12345678", h1) and not verify_code("12345679", h1)
    assert not verify_code("", h1) and not verify_code("x" * 65, h1)
    with pytest.raises(CodeError):
        verify_code("1", "scrypt$x$8$1$AAAA$AAAA")
    with pytest.raises(CodeError):
        hash_code("")


def test_generated_codes_are_random_digits() -> None:
    codes = {generate_code(8) for _ in range(50)}
    assert len(codes) == 50 and all(len(c) == 8 and c.isdigit() for c in codes)


def test_store_rejects_a_corrupt_file_by_issuing_a_new_code(tmp_path: Path) -> None:
    store = CodeStore(tmp_path, None)
    (tmp_path / "web").mkdir()
    store.path.write_text("garbage")
    code = store.load_or_create(8)
    assert code is not None and store.check(code)


def test_cli_reset_prints_a_code_that_works(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reset", "--state-dir", str(tmp_path)]) == 0
    code = capsys.readouterr().out.strip()
    store = CodeStore(tmp_path, None)
    assert store.load_or_create(8) is None and store.check(code)


def test_sessions_expire_and_are_bounded() -> None:
    clock = FakeClock()
    s = Sessions(60, now=clock)
    a = s.create("p")
    assert s.get(a.token) is a and s.get("nope") is None and s.get(None) is None
    clock.t += 61
    assert s.get(a.token) is None
    tokens = [s.create("p").token for _ in range(40)]
    assert len(s) == 32 and s.get(tokens[0]) is None and s.get(tokens[-1]) is not None


def test_limiter_window_slides() -> None:
    clock = FakeClock()
    lim = LoginLimiter(per_peer=2, total=5, window_s=60, now=clock)
    assert lim.retry_after("a") == 0
    lim.failed("a")
    lim.failed("a")
    assert lim.retry_after("a") == pytest.approx(60)
    assert lim.retry_after("b") == 0
    clock.t += 30
    assert lim.retry_after("a") == pytest.approx(30)
    clock.t += 31
    assert lim.retry_after("a") == 0
    for peer in "cdefg":
        lim.failed(peer)
    assert lim.retry_after("c") > 0  # over the total: a client with a failure waits...
    assert lim.retry_after("h") == 0  # ...but one with no failures never does
    lim.failed("h")
    assert lim.retry_after("h") > 0  # one try per fresh address while the ceiling holds
    clock.t += 61
    assert lim.retry_after("c") == 0


def test_global_ceiling_never_locks_out_a_client_with_no_failures() -> None:
    """Issue 18 item 8: 20 wrong codes from a few addresses must not keep the technician out."""
    clock = FakeClock()
    lim = LoginLimiter(per_peer=5, total=20, window_s=300, now=clock)
    for minute in range(30):  # an attacker keeps the total full, five addresses, every 5 minutes
        clock.t += 60
        for peer in ("192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"):
            if lim.retry_after(peer) == 0:
                lim.begin(peer)
        assert lim.retry_after("192.0.2.99") == 0, minute  # the technician's phone, never a failure
    assert lim.retry_after("192.0.2.1") > 0


def test_ipv6_clients_are_counted_per_prefix() -> None:
    clock = FakeClock()
    lim = LoginLimiter(per_peer=2, total=100, window_s=60, now=clock)
    lim.failed("2001:db8:1:2::10")
    lim.failed("2001:db8:1:2::11")  # same /64: the same client
    assert lim.retry_after("2001:db8:1:2::12") > 0
    assert lim.retry_after("2001:db8:1:3::10") == 0
    lim.failed("::ffff:192.0.2.7")
    lim.failed("192.0.2.7")
    assert lim.retry_after("192.0.2.7") > 0


def test_limiter_counts_an_attempt_before_its_check_and_a_right_code_takes_it_back() -> None:
    clock = FakeClock()
    lim = LoginLimiter(per_peer=2, total=3, window_s=60, now=clock)
    first = lim.begin("a")  # both checks still running...
    lim.begin("a")
    assert lim.retry_after("a") > 0  # ...and a third attempt already waits
    lim.succeeded("a", first)  # one of them was right
    assert lim.retry_after("a") == 0
    for _ in range(2):
        lim.succeeded("b", lim.begin("b"))  # right codes do not use up the total budget
    lim.failed("c")
    assert lim.retry_after("e") == 0
    lim.failed("d")
    assert lim.retry_after("c") > 0  # three failures in total (a's second attempt, c and d): c waits
    assert lim.retry_after("e") == 0  # a client with no failures is never held back


def _event(kind: str, dev_type: str = "call_button", device: str | None = "d1", **data: object) -> Event:
    ref = DeviceRef(device, dev_type, "bedroom", "sim") if device else None
    return Event("id-" + kind, "gw", 0, {}, kind, Priority.STATE, ref, dict(data), seq=None)


@pytest.mark.parametrize(
    ("event", "tested"),
    [
        (_event("alarm.emergency_call", event="press"), True),
        (_event("alarm.cancel_requested"), True),
        (_event("alarm.smoke", "smoke"), True),
        (_event("state.door", "door", event="asserted"), True),
        (_event("state.bed", "mattress"), True),
        (_event("state.motion", "motion"), True),
        (_event("device.tamper", "door"), True),
        (_event("telemetry.battery"), False),
        (_event("telemetry.vitals", "mattress"), False),  # a mattress is tested by lying on it
        (_event("telemetry.vitals", "heart_rate"), True),  # a heart-rate monitor can only measure
        (_event("device.offline"), False),
        (_event("device.online"), False),
        (_event("device.battery_low"), False),
        (_event("alarm.inactivity", "motion"), False),
        (_event("alarm.escalated"), False),
        (_event("state.door", "door", event="at_start"), False),  # the level a line had when the gateway started
        (_event("device.tamper", "pull_cord", event="loop_open_at_start"), False),
        (_event("gateway.heartbeat", device=None), False),
    ],
    ids=lambda v: v.kind + "/" + str(v.data.get("event", "")) if isinstance(v, Event) else str(v),
)
def test_only_a_technicians_action_marks_a_device_tested(event: Event, tested: bool) -> None:
    tracker = testmode.TestTracker()
    (rec,) = tracker.committed([event])
    assert rec.action is tested and rec.as_json()["action"] is tested
    assert ("d1" in tracker.tested) is tested
    assert tracker.log == [rec]  # shown live either way


def test_pairing_state_drops_an_adopted_candidate() -> None:
    st = PairingState("gpio")
    st.apply(PairingUpdate("gpio", "open", remaining_s=60))
    for line in ("5", "6"):
        st.apply(PairingUpdate("gpio", "candidate", info={"address": f"/dev/gpiochip0:{line}", "line": line}))
    st.apply(PairingUpdate("gpio", "ready", "gpio-spare", info={"address": "/dev/gpiochip0:5"}))
    out = st.as_json()
    assert [c["address"] for c in out["candidates"]] == ["/dev/gpiochip0:6"] and out["ready"] == ["gpio-spare"]


def test_pairing_state_keeps_strongest_first_and_bounds_candidates() -> None:
    st = PairingState("ble")
    st.apply(PairingUpdate("ble", "open", remaining_s=60))
    for i in range(MAX_CANDIDATES + 20):
        st.apply(
            PairingUpdate("ble", "candidate", info={"address": f"AA:{i}", "rssi": -100 + i % 50, "blob": object()})
        )
    st.apply(PairingUpdate("ble", "candidate", info={"rssi": -1}))  # no address: ignored
    out = st.as_json()
    assert len(out["candidates"]) == MAX_CANDIDATES and "blob" not in out["candidates"][0]
    rssis = [c["rssi"] for c in out["candidates"]]
    assert rssis == sorted(rssis, reverse=True)
    st.apply(PairingUpdate("ble", "open", remaining_s=60))
    assert st.as_json()["candidates"] == []


def test_shipped_county_profiles_load() -> None:
    youxi = acceptance.load_profile("youxi", None)
    keys = {i.key: i for i in youxi.items}
    assert keys["call_buttons"].min == 2 and keys["gateway"].gateway and keys["voice_video"].manual
    assert {"mattress", "nursing_bed", "heart_rate"} <= set(keys["bed_or_vitals"].types)
    assert keys["bed_or_vitals"].manual  # a manual nursing bed has no sensor: confirmed by hand
    assert all(i.required and i.plan for i in youxi.items)
    gaotai = {i.key: i for i in acceptance.load_profile("gaotai", None).items}
    assert {k for k, i in gaotai.items() if i.required} == {
        "gateway",
        "call_button",
        "smoke",
        "gas",
        "leak",
        "voice_video",
    }
    assert not gaotai["motion"].required and not gaotai["door"].required
    assert gaotai["voice_video"].manual and not gaotai["leak"].manual


def _dev(dev_id: str, dev_type: str, room: str = "bedroom") -> Device:
    return Device(id=dev_id, type=dev_type, transport="sim", room=room)


def test_a_manual_bed_confirmed_by_hand_passes_youxi() -> None:
    profile = acceptance.load_profile("youxi", None)
    tests = testmode.TestTracker()
    devices = [_dev("b1", "call_button"), _dev("b2", "pull_cord", "bathroom")]
    for d in devices:
        tests.tested[d.id] = testmode.TestRecord("e", 1, "alarm.emergency_call", d.id, 0.0, 0, 1, action=True)
    tests.uplink_verified_at = 1.0
    manual = {"voice_video": Confirmation("SN-1", "王师傅", 1.0)}
    chk = acceptance.evaluate(profile, devices, tests, manual, True)
    assert not chk["passed"] and chk["missing"] == ["护理床或生命体征监测床垫"]
    manual["bed_or_vitals"] = Confirmation("手动护理床", "王师傅", 2.0)
    chk = acceptance.evaluate(profile, devices, tests, manual, True)
    assert chk["passed"] and chk["items"][3]["confirmed"]["by"] == "王师傅"
    assert {d["name"] for d in chk["devices"]} == {"未命名的呼叫按钮", "未命名的拉绳报警"}  # never the raw id


def test_optional_items_never_hold_the_verdict_back() -> None:
    profile = acceptance.load_profile("gaotai", None)
    tests = testmode.TestTracker()
    devices = [_dev(t, t) for t in ("call_button", "smoke", "gas", "leak")]
    for d in devices:
        tests.tested[d.id] = testmode.TestRecord("e", 1, "alarm.smoke", d.id, 0.0, 0, 1, action=True)
    tests.uplink_verified_at = 1.0
    chk = acceptance.evaluate(profile, devices, tests, {"voice_video": Confirmation("SN", "李", 1.0)}, True, "en")
    assert chk["passed"] and {i["key"] for i in chk["items"] if not i["ok"]} == {"motion", "door"}


def test_every_word_has_the_same_placeholders_in_both_languages() -> None:
    assert set(ZH) == set(EN), set(ZH) ^ set(EN)
    for key in ZH:
        assert ZH[key].count("{") == EN[key].count("{"), key


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("bedroom", "bedroom"),
        ("卧室", "bedroom"),
        (" Bedroom ", "bedroom"),
        ("客厅", "living"),
        ("储藏室", "储藏室"),
        ("Store  room", "Store room"),
    ],
)
def test_a_room_is_one_key_whatever_its_language(typed: str, key: str) -> None:
    assert room_key(typed) == key


def test_words_for_codes() -> None:
    assert kind_name("zh", "alarm.emergency_call") == "紧急呼叫"
    assert kind_name("zh", "something.new") == "其他事件"
    assert reason_key("coordinator not available: FileNotFoundError: [Errno 2] No such file") == "reason.radio_down"
    assert reason_key("interview failed: no answer within 30 s") == "reason.interview_timeout"
    assert reason_key("whatever") == "reason.unknown"
    assert signal_band({"rssi": -58}) == ("good", "-58 dBm")
    assert signal_band({"lqi": 40}) == ("poor", "LQI 40")
    assert signal_band({"rssi": None}) is None and signal_band({}) is None
    assert device_label("zh", "zb-00124b0001a2b3c4", "zb-00124b0001a2b3c4", "smoke") == "未命名的烟感"
    assert device_label("zh", "Front door", "zb-1", "door") == "Front door"


async def test_installation_record_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "web" / "installation.json"
    rec = InstallRecord(path)
    rec.tests.tested["btn-1"] = testmode.TestRecord("e1", 7, "alarm.emergency_call", "btn-1", 5.0, 123, 4, 9, True)
    rec.tests.uplink_verified_at = 6.0
    rec.manual["voice_video"] = Confirmation("SN-1", "王师傅", 7.0)
    rec.household, rec.installer = "张秀英", "王师傅"
    rec.named.add("btn-1")
    rec.save_soon()
    await rec.flush()
    again = InstallRecord(path)
    again.load()
    assert again.tests.tested["btn-1"].kind == "alarm.emergency_call" and again.tests.uplink_verified_at == 6.0
    assert again.manual["voice_video"].by == "王师傅" and again.household == "张秀英" and again.named == {"btn-1"}
    again.clear()
    await again.flush()
    third = InstallRecord(path)
    third.load()
    assert not third.tests.tested and not third.manual and not third.household
    path.write_text("{broken")
    broken = InstallRecord(path)
    broken.load()  # logged and set aside, never fatal
    assert not broken.tests.tested and path.with_suffix(".damaged").exists()


def test_bad_county_profiles_are_reported(tmp_path: Path) -> None:
    with pytest.raises(acceptance.ProfileError, match="cannot read"):
        acceptance.load_profile("nowhere", tmp_path)
    (tmp_path / "x.toml").write_text("id = 'x'\nzh='x'\nen='x'\nitems = [{key='k', zh='k', en='k', oops=1}]\n")
    with pytest.raises(acceptance.ProfileError, match="oops"):
        acceptance.load_profile("x", tmp_path)
    (tmp_path / "y.toml").write_text("id = 'other'\nzh='x'\nen='x'\nitems = [{key='k', zh='k', en='k'}]\n")
    with pytest.raises(acceptance.ProfileError, match="file name"):
        acceptance.load_profile("y", tmp_path)


def test_settings_have_no_default_password() -> None:
    s = WebSettings()
    assert s.installer_code_hash is None
    with pytest.raises(ValueError):
        WebSettings(county="../../etc/passwd")
    with pytest.raises(ValueError):
        WebSettings(unknown=1)  # type: ignore[call-arg]


def test_both_languages_have_every_word() -> None:
    assert set(ZH) == set(EN)
    assert translate("en", "login.too_many", s=3) == "Too many attempts. Try again in 3 s."
    assert translate("fr", "nav.status") == ZH["nav.status"]


def test_every_event_kind_in_the_code_has_words() -> None:
    """The page shows event kinds in words; a new kind without words would show as "other event"."""
    import re

    root = Path(__file__).resolve().parents[2]
    health_states = {"online", "offline", "connecting", "stopped", "up", "down", "degraded", "starting"}
    kinds: set[str] = set()
    for folder in ("gateway", "drivers", "core"):
        for path in (root / folder).rglob("*.py"):
            kinds |= set(re.findall(r'"((?:alarm|alert|state|device|telemetry|install)\.[a-z_.]+)"', path.read_text()))
    kinds = {k for k in kinds if not (k.startswith("state.") and k.removeprefix("state.") in health_states)}
    assert kinds, "no event kinds found: the scan is broken"
    missing = sorted(k for k in kinds if f"kind.{k}" not in ZH)
    assert not missing, f"event kinds without words in gateway/web/i18n.py: {missing}"
