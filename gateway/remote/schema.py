"""Generate ``config/schema/desired-config.schema.json`` from :class:`DesiredDocument`.

Run ``python -m gateway.remote.schema`` after changing the document model (or a local settings model it
reuses, such as ``[rules]``); a test fails while the shipped file differs from the generated one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from gateway.remote.desired import DesiredDocument

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "config" / "schema" / "desired-config.schema.json"


def desired_schema() -> dict[str, Any]:
    schema = DesiredDocument.model_json_schema()
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://fbgw.example/schema/desired-config.schema.json",
        **schema,
        "title": "fbgw desired config document",
        "description": (
            "Pushed retained on fbgw/v1/{gateway}/config/desired. Keys present override the local config; "
            "absent keys keep it. See docs/remote.md."
        ),
    }
    return schema


def render() -> str:
    return json.dumps(desired_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else SCHEMA_PATH
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
