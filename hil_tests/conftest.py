"""The rig for the whole session (``--rig FILE``, default the simulated rig) and the report it writes.

One rig per session: brought up once (broker, simulators, fake wiring, the gateway under test), shared by
every scenario, torn down at the end. Scenarios run on the session's event loop.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from hil_tests.bringup import RigEdges, pair_zigbee
from hil_tests.edges import RAISE
from hil_tests.harness import RigRunner
from hil_tests.observe import Platform, broker_address
from hil_tests.report import Report, ScenarioResult
from hil_tests.rig import SIMULATED, Rig, load_rig
from tests.support.collector import Collector

REPO = Path(__file__).resolve().parents[1]
#: The radios a rig may be able to take away and give back.
RADIOS = ("zigbee", "ble")
_report: Report | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fbgw hardware-in-the-loop")
    group.addoption("--rig", default=os.environ.get("FBGW_RIG", str(SIMULATED)), help="rig description (TOML)")
    group.addoption(
        "--hil-report",
        default=os.environ.get("FBGW_HIL_REPORT", str(REPO / "reports" / "hil")),
        help="directory for report.json and report.md",
    )


def _rig(config: pytest.Config) -> Rig:
    return load_rig(Path(config.getoption("--rig")))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Per-device and per-edge scenarios take their parameters from the rig file."""
    rig = _rig(metafunc.config)
    if "rig_device" in metafunc.fixturenames:
        metafunc.parametrize("rig_device", [d.name for d in rig.devices if d.kind in RAISE])
    if "tamper_edge" in metafunc.fixturenames:
        metafunc.parametrize("tamper_edge", sorted(rig.edges()))
    if "radio" in metafunc.fixturenames:
        metafunc.parametrize("radio", RADIOS)


@pytest.fixture(scope="session")
def report(request: pytest.FixtureRequest) -> Iterator[Report]:
    global _report
    rig_path = Path(request.config.getoption("--rig"))
    _report = Report(_rig(request.config).name, str(rig_path))
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
async def platform(rig: RigRunner) -> AsyncIterator[Platform]:
    """The platform side: a subscriber on the rig's broker (every event checked against the JSON Schema)."""
    host, port = broker_address(rig.broker_url)
    async with Collector(host, port, gateway=rig.gateway_id) as col:
        yield Platform(rig.broker_url, rig.gateway_id, col)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def edges(rig: RigRunner, platform: Platform, report: Report) -> AsyncIterator[RigEdges]:
    """The rig's edges; the simulated Zigbee devices join first (their ids are known only then)."""
    built = RigEdges(rig)
    if built.zigbee is not None:
        joining = [d for d in rig.rig.devices_on("zigbee") if d.name not in rig.device_ids]
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
    if _report is None or rep.when not in ("setup", "call"):
        return rep
    name = item.name.removeprefix("test_")
    if rep.skipped:
        res = _report.result(name)
        res.outcome = "skipped"
        res.reason = str(rep.longrepr[2]) if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        res.reason = res.reason.removeprefix("Skipped: ")
    elif rep.failed:
        res = _report.result(name)
        res.outcome = "failed"
        lines = [ln for ln in rep.longreprtext.strip().splitlines() if ln.startswith("E ")]
        res.reason = (lines[0] if lines else rep.longreprtext.strip().splitlines()[-1]).removeprefix("E").strip()[:300]
    elif rep.when == "call":
        _report.result(name)
    return rep
