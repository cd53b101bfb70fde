"""``python -m fuzz TARGET [libFuzzer flags]``: fuzz one target with atheris (coverage of our own code).

The target's seeds (:data:`fuzz.targets.SEEDS`) are written to a fresh corpus directory that libFuzzer starts
from; libFuzzer prints ``Done N runs`` at the end."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        from fuzz.targets import TARGETS

        print("usage: python -m fuzz TARGET [-runs=N] [-max_total_time=S] ...; targets: " + ", ".join(TARGETS))
        raise SystemExit(2)
    import atheris

    name = sys.argv.pop(1)
    with atheris.instrument_imports(include=["core", "drivers", "gateway"]):
        from fuzz.targets import SEEDS, TARGETS

        target = TARGETS[name]
        import drivers.ble.bthome
        import drivers.ble.mibeacon
        import drivers.zigbee.inbound  # noqa: F401
        import gateway.config
        import gateway.failover.replies
        import gateway.remote.commands
        import gateway.web.core_api  # noqa: F401

    corpus = Path(tempfile.mkdtemp(prefix=f"fbgw-fuzz-{name}-"))
    for i, seed in enumerate(SEEDS.get(name, [])):
        (corpus / f"seed-{i}").write_bytes(seed)
    atheris.Setup([*sys.argv, str(corpus)], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
