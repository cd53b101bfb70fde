"""The HIL report: one row per scenario (passed / failed / skipped with its reason, latency p50/p99, samples),
written as report.json and report.md — what a lab files with a hardware release."""

from __future__ import annotations

import json
import math
import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gateway import __version__

Outcome = Literal["passed", "failed", "skipped"]


def percentile(samples: list[float], q: float) -> float | None:
    """Nearest-rank percentile (the value below which ``q`` of the samples lie); None without samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class ScenarioResult:
    scenario: str
    outcome: Outcome = "passed"
    #: Skipped or failed: why. Passed: what the latency measures, when it is not "stimulus -> event".
    reason: str = ""
    latencies_ms: list[float] = field(default_factory=list)
    budget_ms: float | None = None

    @property
    def p50_ms(self) -> float | None:
        return statistics.median(self.latencies_ms) if self.latencies_ms else None

    @property
    def p99_ms(self) -> float | None:
        return percentile(self.latencies_ms, 0.99)

    def row(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 1)

        return {
            "scenario": self.scenario,
            "outcome": self.outcome,
            "reason": self.reason,
            "p50_ms": r(self.p50_ms),
            "p99_ms": r(self.p99_ms),
            "samples": len(self.latencies_ms),
            "budget_ms": self.budget_ms,
            "latencies_ms": [round(v, 2) for v in self.latencies_ms],
        }


class Report:
    def __init__(self, rig_name: str, rig_file: str = "") -> None:
        self.rig = rig_name
        self.started = time.time()
        self.results: dict[str, ScenarioResult] = {}
        self.meta: dict[str, Any] = {"rig": rig_name, "rig_file": rig_file}
        #: Latency budget (ms, on p99) per scenario, from the rig file's ``[budgets]`` (name or name before "[").
        self.budgets: dict[str, float] = {}

    def budget(self, scenario: str) -> float | None:
        return self.budgets.get(scenario, self.budgets.get(scenario.split("[", 1)[0]))

    def over_budget(self, res: ScenarioResult) -> str:
        """Why ``res`` is over its budget ("" if it has none or is within it)."""
        budget = self.budget(res.scenario)
        if budget is None or res.p99_ms is None or res.p99_ms <= budget:
            return ""
        return f"over budget: p99 {res.p99_ms:.0f} ms > {budget:g} ms"

    def result(self, scenario: str) -> ScenarioResult:
        return self.results.setdefault(scenario, ScenarioResult(scenario, budget_ms=self.budget(scenario)))

    def any_failed(self) -> bool:
        return any(r.outcome == "failed" for r in self.results.values())

    def counts(self) -> dict[str, int]:
        return {k: sum(1 for r in self.results.values() if r.outcome == k) for k in ("passed", "failed", "skipped")}

    def write(self, directory: Path) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        meta = {
            **self.meta,
            "fbgw": __version__,
            "host": platform.node(),
            "python": platform.python_version(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.started)),
            "duration_s": round(time.time() - self.started, 1),
            "counts": self.counts(),
        }
        json_path = directory / "report.json"
        doc = {"meta": meta, "scenarios": [r.row() for r in self.results.values()]}
        json_path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        md_path = directory / "report.md"
        md_path.write_text(self.markdown(meta), encoding="utf-8")
        return json_path, md_path

    def markdown(self, meta: dict[str, Any]) -> str:
        counts = meta["counts"]
        lines = [
            f"# fbgw hardware-in-the-loop report: rig `{self.rig}`",
            "",
            f"fbgw {meta['fbgw']} on {meta['host']} (Python {meta['python']}), {meta['started']}, "
            f"{meta['duration_s']} s: **{counts['passed']} passed, {counts['failed']} failed, "
            f"{counts['skipped']} skipped**. Rig file: `{meta['rig_file']}`.",
            "",
            "Latency: from the stimulus at the rig's edge to the event's arrival at the platform-side subscriber "
            "on the rig's broker, unless the notes say otherwise. p99 is nearest-rank: with fewer than 100 "
            "samples it is the largest one.",
            "",
            f"Events seen by the platform-side subscriber: {meta.get('events_seen', '–')}, "
            f"violating config/schema/event.schema.json: {meta.get('events_violating_schema', '–')}.",
            "",
            "| scenario | result | latency p50 (ms) | latency p99 (ms) | budget (ms) | samples | notes |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in self.results.values():
            p50 = f"{r.p50_ms:.1f}" if r.p50_ms is not None else "–"
            p99 = f"{r.p99_ms:.1f}" if r.p99_ms is not None else "–"
            result = r.outcome if r.outcome == "passed" else f"**{r.outcome}**"
            notes = r.reason.replace("|", "\\|").replace("\n", " ")
            budget = f"{r.budget_ms:g}" if r.budget_ms is not None else "–"
            lines.append(f"| {r.scenario} | {result} | {p50} | {p99} | {budget} | {len(r.latencies_ms)} | {notes} |")
        return "\n".join(lines) + "\n"
