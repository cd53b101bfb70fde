"""The documented contracts match the code: AsyncAPI topics, the event schema, the example payloads."""

from __future__ import annotations

from pathlib import Path

import yaml

from gateway.topics import Topics
from tests.support.schema import event_validator

REPO = Path(__file__).resolve().parents[2]


def _asyncapi() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((REPO / "docs" / "asyncapi.yaml").read_text(encoding="utf-8"))


def test_every_topic_in_the_code_is_documented_and_vice_versa() -> None:
    doc = _asyncapi()
    documented = {ch["address"] for ch in doc["channels"].values()}
    t = Topics("{gateway}")
    in_code = {t.alarms, t.events, t.status, t.alarm_ack, t.config_desired, t.config_reported, t.cmd, t.cmd_result}
    in_code |= {t.devices, t.availability("{device}")}
    assert documented == in_code


def test_documented_event_examples_match_the_schema() -> None:
    doc = _asyncapi()
    examples = doc["components"]["messages"]["eventBatch"]["examples"]
    assert examples
    for example in examples:
        for event in example["payload"]:
            event_validator().validate(event)


def test_every_operation_uses_qos_1() -> None:
    for name, op in _asyncapi()["operations"].items():
        assert op["bindings"]["mqtt"]["qos"] == 1, name


def test_example_commands_match_the_documented_command_payload() -> None:
    import json

    import jsonschema

    schema = _asyncapi()["components"]["messages"]["command"]["payload"]
    examples = sorted((REPO / "config" / "examples").glob("cmd-*.json"))
    assert examples
    for path in examples:
        jsonschema.validate(json.loads(path.read_text()), schema)


def test_update_event_kinds_are_documented() -> None:
    """The outcome events of a signed update are in the event list the platform reads, with their data keys."""
    from gateway.update.service import FAILED, UPDATED

    text = _asyncapi()["components"]["messages"]["eventBatch"]["description"]
    for kind in (UPDATED, FAILED):
        assert f"`{kind}`" in text, kind
    assert "`reason`" in text.split(f"`{FAILED}`")[1]
