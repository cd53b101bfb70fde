"""The soak harness (``scripts/soak``, :mod:`bench.soak`) in one minute: a real gateway, broker outages of both
kinds, resources sampled, and nothing lost. The hour-long soak is not part of the default run."""

from __future__ import annotations

from pathlib import Path

from bench import soak


async def test_one_minute_soak_loses_nothing_and_samples_every_resource(tmp_path: Path) -> None:
    report = await soak.soak(
        minutes=1.0, rate_x=50.0, outage_every=20.0, outage_s=5.0, sample_s=1.0, seed=3, work=tmp_path
    )
    print("\n" + soak.summary(report))
    assert [o["kind"] for o in report["outages"]] == ["stopped", "frozen"]
    assert report["readings_accepted"] > 100 and not report["refused"], report["refused"]
    assert report["lost"] == 0 and report["seq_gaps"] == [], report
    assert report["drained_after_s"] is not None and report["exit_code"] == 0
    assert report["final"]["outbox_rows"] == 0 and report["final"]["uplink"] == "online"
    for key in ("rss_mb", "fds", "threads", "tasks", "db_kb", "wal_kb"):
        series = report["resources"][key]
        assert series["min"] > 0 and series["slope_per_h"] == series["slope_per_h"], (key, series)  # not NaN
