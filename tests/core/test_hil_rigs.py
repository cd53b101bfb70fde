"""The shipped rig descriptions are valid, and a rig with a mistake is refused with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hil_tests.rig import RIGS, Rig, load_rig


@pytest.mark.parametrize("path", sorted(RIGS.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_rigs_load(path: Path) -> None:
    rig = load_rig(path)
    assert rig.devices


def test_a_gpio_device_without_its_output_line_is_refused() -> None:
    with pytest.raises(ValidationError, match="needs chip and line"):
        Rig.model_validate({"name": "x", "devices": [{"name": "c", "kind": "pull_cord", "edge": "gpio"}]})


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValidationError):
        Rig.model_validate({"name": "x", "brokr": {}})
