"""config/default.toml documents every setting with its real default, and loads as it is."""

from __future__ import annotations

from pathlib import Path

from gateway.config import Config, load_config
from gateway.tools.default_config import render

DEFAULT = Path(__file__).resolve().parents[2] / "config" / "default.toml"


def test_shipped_default_config_is_the_generated_one() -> None:
    assert DEFAULT.read_text(encoding="utf-8") == render(), (
        "config/default.toml is stale: run .venv/bin/python -m gateway.tools.default_config > config/default.toml"
    )


def test_default_config_loads_and_equals_the_model_defaults() -> None:
    loaded = load_config(DEFAULT)
    assert loaded == Config.model_validate({"gateway": {"id": loaded.gateway.id}})


def test_demo_config_loads() -> None:
    cfg = load_config(DEFAULT.with_name("demo.toml"))
    assert cfg.driver_enabled("sim")
