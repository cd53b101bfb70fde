"""The rig for the whole session (``--rig FILE``, default the simulated rig) and the report it writes.

One rig per session: brought up once (broker, simulators, fake wiring, the gateway under test), shared by
every scenario, torn down at the end. Scenarios run on the session's event loop.
"""

from __future__ import annotations

import os
import tomllib
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from pydantic import ValidationError

from hil_tests.bringup import NO_DEVICE, RigEdges, pair_zigbee
from hil_tests.edges import BEDS, VITALS, ZIGBEE_KINDS
from hil_tests.harness import RigRunner
from hil_tests.observe import Platform, broker_address
from hil_tests.report import Report, ScenarioResult
from hil_tests.rig import SIMULATED, Rig, load_rig
from tests.support.collector import Collector

REPO = Path(__file__).resolve().parents[1]
#: The radios a rig may be able to take away and give back, and pair new devices on.
RADIOS = ("zigbee", "ble", "rf433")
_report: Report | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fbgw hardware-in-the-loop")
    group.addoption("--rig", default=os.environ.get("FBGW_RIG", str(SIMULATED)), help="rig description (TOML)")
    group.addoption(
        "--hil-report",
        default=os.environ.get("FBGW_HIL_REPORT", str(REPO / "reports" / "hil")),
        help="directory for report.json and report.md",
    )


_RIG = pytest.StashKey[Rig]()


def pytest_configure(config: pytest.Config) -> None:
    """Read the rig file once; a mistake in it stops the run with the key named, before anything starts."""
    path = Path(config.getoption("--rig"))
    try:
        config.stash[_RIG] = load_rig(path)
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise pytest.UsageError(f"rig file {path}: {exc}") from exc


def _rig(config: pytest.Config) -> Rig:
    return config.stash[_RIG]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Per-device and per-edge scenarios take their parameters from the rig file: every device is a row, one
    the rig cannot drive is skipped with the reason."""
    rig = _rig(metafunc.config)
    if "rig_device" in metafunc.fixturenames:
        metafunc.parametrize("rig_device", [d.name for d in rig.devices])
    if "vitals_device" in metafunc.fixturenames:
        metafunc.parametrize("vitals_device", [d.name for d in rig.devices if d.kind in VITALS] or [NO_DEVICE])
    if "bed_device" in metafunc.fixturenames:
        metafunc.parametrize("bed_device", [d.name for d in rig.devices if d.kind in BEDS] or [NO_DEVICE])
    if "tamper_edge" in metafunc.fixturenames:
        metafunc.parametrize("tamper_edge", sorted(rig.edges()))
    if "radio" in metafunc.fixturenames:
        metafunc.parametrize("radio", RADIOS)
    if "transport" in metafunc.fixturenames:
        metafunc.parametrize("transport", RADIOS)


@pytest.fixture(scope="session")
def report(request: pytest.FixtureRequest) -> Iterator[Report]:
    global _report
    rig_path = Path(request.config.getoption("--rig"))
    _report = Report(_rig(request.config).name, str(rig_path))
    _report.budgets = dict(_rig(request.config).budgets)
    yield _report
    json_path, md_path = _report.write(Path(request.config.getoption("--hil-report")))
    print(f"\nHIL report: {md_path} and {json_path}")


@pytest.fixture(scope="session")
def rig(request: pytest.FixtureRequest, report: Report) -> Iterator[RigRunner]:
    runner = RigRunner(_rig(request.config))
    report.meta["work_dir"] = str(runner.work)
    try:
        runner.start()
        yield runner
    finally:
        runner.close()
        if not report.any_failed():
            runner.remove_work()  # kept (with every process's log) when a scenario failed


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def platform(rig: RigRunner, report: Report) -> AsyncIterator[Platform]:
    """The platform side: a subscriber on the rig's broker (every event checked against the JSON Schema)."""
    host, port = broker_address(rig.broker_url)
    # A persistent session, so a call the gateway delivers in the instant after a broker restart is not missed
    # while this subscriber is still reconnecting.
    col = Collector(host, port, gateway=rig.gateway_id, client_id=f"hil-platform-{uuid.uuid4().hex[:12]}")
    try:
        async with col:
            yield Platform(rig.broker_url, rig.gateway_id, col)
    finally:
        report.meta["events_seen"] = len(col.events)
        report.meta["events_violating_schema"] = len(col.schema_errors)
        schema = report.result("every event matches config/schema/event.schema.json")
        if col.schema_errors:  # the subscriber's own check fails the run too, but only after the report is written
            schema.outcome = "failed"
            schema.reason = f"{len(col.schema_errors)} of {len(col.events)}: " + "; ".join(col.schema_errors[:3])
        else:
            schema.reason = f"{len(col.events)} events checked"


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def edges(rig: RigRunner, platform: Platform, report: Report) -> AsyncIterator[RigEdges]:
    """The rig's edges; the simulated Zigbee devices join first (their ids are known only then)."""
    built = RigEdges(rig)
    if built.zigbee is not None:
        joining = [d for d in rig.rig.devices_on("zigbee") if d.name not in rig.device_ids and d.kind in ZIGBEE_KINDS]
        times = await pair_zigbee(rig, platform, built.zigbee, joining)
        report.meta["zigbee_join_ms"] = [round(t, 1) for t in times]
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def result(report: Report, request: pytest.FixtureRequest) -> ScenarioResult:
    """This scenario's row of the report (its latency samples go here)."""
    return report.result(request.node.name.removeprefix("test_"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Every scenario's outcome goes into the report; a skip keeps its reason (never counted as a pass)."""
    rep: pytest.TestReport = yield
    if _report is None or "rig" not in getattr(item, "fixturenames", ()):
        return rep  # only scenarios on the rig are rows of the report
    name = item.name.removeprefix("test_")
    if rep.when == "teardown":
        if rep.failed:  # e.g. an event that broke the JSON Schema, found when the subscriber closed
            res = _report.result(f"teardown after {name}")
            res.outcome = "failed"
            res.reason = _failure_line(rep)
        return rep
    if rep.skipped:
        res = _report.result(name)
        res.outcome = "skipped"
        res.reason = str(rep.longrepr[2]) if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        res.reason = res.reason.removeprefix("Skipped: ")
    elif rep.failed:
        res = _report.result(name)
        res.outcome = "failed"
        res.reason = _failure_line(rep)
    elif rep.when == "call":
        res = _report.result(name)
        over = _report.over_budget(res)
        if over:  # a row over its latency budget fails, in the report and in the run
            res.outcome = "failed"
            res.reason = f"{over}; {res.reason}" if res.reason else over
            rep.outcome = "failed"
            rep.longrepr = f"E   {over}"
    return rep


def _failure_line(rep: pytest.TestReport) -> str:
    """The first ``E`` line of the last exception raised (its type and message), for the report's notes."""
    text = rep.longreprtext.strip()
    text = text.split("The above exception was the direct cause of the following exception:")[-1]
    lines = [ln for ln in text.splitlines() if ln.startswith("E ")]
    return (lines[0] if lines else (text.splitlines() or [""])[-1]).removeprefix("E").strip()[:300]
