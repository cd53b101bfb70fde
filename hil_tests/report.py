"""The HIL report: one row per scenario (pass / fail / skipped with its reason, latency p50/p99, samples),
written as report.json and report.md — what a lab files with a hardware release."""

from __future__ import annotations

import json
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from gateway import __version__


@dataclass
class ScenarioResult:
    scenario: str
    outcome: Literal["passed", "failed", "skipped"] = "passed"
    reason: str = ""
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def p50_ms(self) -> float | None:
        return statistics.median(self.latencies_ms) if self.latencies_ms else None

    @property
    def p99_ms(self) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


class Report:
    def __init__(self, rig_name: str) -> None:
        self.rig = rig_name
        self.started = time.time()
        self.results: dict[str, ScenarioResult] = {}

    def result(self, scenario: str) -> ScenarioResult:
        return self.results.setdefault(scenario, ScenarioResult(scenario))

    def write(self, directory: Path) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        rows = []
        for r in self.results.values():
            row = asdict(r)
            row.update(p50_ms=r.p50_ms, p99_ms=r.p99_ms, samples=len(r.latencies_ms))
            rows.append(row)
        meta = {"rig": self.rig, "fbgw": __version__, "host": platform.node(), "python": platform.python_version(),
                "started": self.started, "duration_s": round(time.time() - self.started, 1)}
        json_path = directory / "report.json"
        json_path.write_text(json.dumps({"meta": meta, "scenarios": rows}, indent=2))
        counts = {k: sum(1 for r in self.results.values() if r.outcome == k) for k in ("passed", "failed", "skipped")}
        lines = [
            f"# fbgw hardware-in-the-loop report: rig `{self.rig}`",
            "",
            f"fbgw {__version__} on {meta['host']}, {time.strftime('%Y-%m-%d %H:%M', time.localtime(self.started))}, "
            f"{meta['duration_s']} s: {counts['passed']} passed, {counts['failed']} failed, "
            f"{counts['skipped']} skipped.",
            "",
            "Latency: from the stimulus at the rig's edge to the event's arrival at the platform-side subscriber.",
            "",
            "| scenario | result | latency p50 (ms) | latency p99 (ms) | samples | notes |",
            "|---|---|---|---|---|---|",
        ]
        for r in self.results.values():
            p50 = f"{r.p50_ms:.1f}" if r.p50_ms is not None else "–"
            p99 = f"{r.p99_ms:.1f}" if r.p99_ms is not None else "–"
            lines.append(f"| {r.scenario} | {r.outcome} | {p50} | {p99} | {len(r.latencies_ms)} | {r.reason} |")
        md_path = directory / "report.md"
        md_path.write_text("\n".join(lines) + "\n")
        return json_path, md_path
