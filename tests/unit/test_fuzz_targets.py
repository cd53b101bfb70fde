"""A short coverage-guided run of every fuzz target (the long one is ./scripts/fuzz, a million inputs)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from fuzz.targets import SEEDS, TARGETS

REPO = Path(__file__).resolve().parents[2]


def test_every_target_has_seeds() -> None:
    assert set(SEEDS) == set(TARGETS)
    for name in TARGETS:
        assert SEEDS[name], name
        for seed in SEEDS[name]:
            TARGETS[name](seed)  # a valid input is accepted without error


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_a_short_fuzz_run_finds_nothing(name: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fuzz", name, "-runs=3000", "-timeout=10", f"-artifact_prefix={tmp_path}/"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    done = re.search(r"Done (\d+) runs", result.stderr)
    assert done and int(done.group(1)) == 3000, result.stderr[-1000:]


#: Inputs the fuzzers found that once raised an uncaught exception (kept as regressions).
FOUND = [
    # An IAS Zone attribute report whose zone status has the ZCL type NoData: TypeError in inbound.decode.
    ("zcl_frame", bytes.fromhex("18010a21002001020000")),
]


#: Inputs that once took over a second of the event loop each (nested ZCL sets parsed by zigpy).
SLOW = [
    (
        "zcl_frame",  # records of the "unknown" type 0xFF, one after another
        bytes.fromhex(
            "18010a20ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff00000000ffffffffffffffffffff"
            "51515151515151ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff25002020"
        ),
    ),
    (
        "zcl_frame",
        bytes.fromhex(
            "18000affffffffff50505070505050505050505050505050505050505050505050505050505050505050505050505050"
            "505050505050505050505050505050505050505050505050505050505050505050505050505050505050500000000050"
            "5050505050505050505050505050ffffffffffffffffffffffffffffffffff00000006ffffffffffffffffffffff5050"
            "505050505050ffffffff"
        ),
    ),
]


@pytest.mark.parametrize(("name", "data"), FOUND)
def test_inputs_found_by_fuzzing_stay_harmless(name: str, data: bytes) -> None:
    TARGETS[name](data)


@pytest.mark.parametrize(("name", "data"), SLOW)
def test_inputs_found_by_fuzzing_stay_fast(name: str, data: bytes) -> None:
    import time

    TARGETS[name](b"")  # imports done before the clock starts
    started = time.monotonic()
    TARGETS[name](data)
    assert time.monotonic() - started < 0.2
