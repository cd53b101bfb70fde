"""The rig for the whole session (``--rig FILE``, default the simulated rig) and the report it writes."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from hil_tests.harness import RigRunner
from hil_tests.report import Report
from hil_tests.rig import SIMULATED, Rig, load_rig
from tests.support.collector import Collector

REPO = Path(__file__).resolve().parents[1]
_report: Report | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fbgw hardware-in-the-loop")
    group.addoption("--rig", default=os.environ.get("FBGW_RIG", str(SIMULATED)), help="rig description (TOML)")
    group.addoption("--hil-report", default=os.environ.get("FBGW_HIL_REPORT", str(REPO / "reports" / "hil")),
                    help="directory for report.json and report.md")


def _rig(config: pytest.Config) -> Rig:
    return load_rig(Path(config.getoption("--rig")))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Scenarios that take ``rig_device`` run once per device on the rig."""
    if "rig_device" in metafunc.fixturenames:
        rig = _rig(metafunc.config)
        names = [d.name for d in rig.devices if d.kind in ("call_button", "pull_cord", "smoke", "gas", "leak", "door")]
        metafunc.parametrize("rig_device", names)


@pytest.fixture(scope="session")
def report(request: pytest.FixtureRequest) -> Iterator[Report]:
    global _report
    rig = _rig(request.config)
    _report = Report(rig.name)
    yield _report
    json_path, md_path = _report.write(Path(request.config.getoption("--hil-report")))
    print(f"\nHIL report: {md_path} and {json_path}")


@pytest.fixture(scope="module")
def rig(request: pytest.FixtureRequest) -> Iterator[RigRunner]:
    runner = RigRunner(_rig(request.config))
    try:
        runner.start()
        yield runner
    finally:
        runner.close()


@pytest_asyncio.fixture(loop_scope="module")
async def platform(rig: RigRunner) -> AsyncIterator[Collector]:
    """The platform side: a subscriber on the rig's broker."""
    from urllib.parse import urlsplit

    url = urlsplit(rig.broker_url)
    async with Collector(url.hostname or "127.0.0.1", url.port or 1883, gateway=rig.gateway_id) as col:
        yield col


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Every scenario's outcome goes into the report; a skip keeps its reason (never counted as a pass)."""
    outcome = yield
    rep = outcome.get_result()
    if _report is None or rep.when not in ("setup", "call"):
        return
    name = item.name.removeprefix("test_")
    if rep.skipped:
        res = _report.result(name)
        res.outcome = "skipped"
        res.reason = str(rep.longrepr[2]) if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
    elif rep.failed:
        res = _report.result(name)
        res.outcome = "failed"
        res.reason = (rep.longreprtext.strip().splitlines() or [""])[-1][:200]
    elif rep.when == "call":
        _report.result(name)
