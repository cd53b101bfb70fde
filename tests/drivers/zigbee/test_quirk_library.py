"""The device library (zha-quirks) loads a vendor's quirks only when a device of it is known or pairing opens.

Each check runs in a fresh interpreter: quirks register themselves process-wide on import, so what another
test loaded would hide what this one must see.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from drivers.zigbee.quirks import FAMILIES, families_of

REPO = Path(__file__).resolve().parents[3]


def _run(code: str) -> object:
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_each_familys_names_cover_every_manufacturer_its_quirks_register() -> None:
    """A device is given no vendor's quirks unless its manufacturer name is claimed: this is what makes that
    safe (and fails when a zha-quirks update adds a white-label name a family does not claim yet)."""
    registered = _run(
        "import json, zha.quirks\n"
        "from drivers.zigbee.quirks import FAMILIES, library\n"
        "seen, out = set(), {}\n"
        "for family in FAMILIES:\n"
        "    library().load({family})\n"
        "    names = {k.manufacturer for k in zha.quirks.DEVICE_REGISTRY._registry} - seen\n"
        "    seen |= names\n"
        "    out[family] = sorted(names)\n"
        "print(json.dumps(out))"
    )
    assert isinstance(registered, dict)
    for family, names in registered.items():
        assert names, f"{family}: its modules registered no quirk"
        unclaimed = [n for n in names if family not in families_of(n)]
        assert not unclaimed, f"{family} quirks register {unclaimed}, which FAMILIES[{family!r}] does not claim"


def test_a_home_without_tuya_or_sonoff_never_imports_the_zha_application_package() -> None:
    loaded = _run(
        "import json, sys\n"
        "from types import SimpleNamespace\n"
        "import zha.quirks\n"
        "from drivers.zigbee.quirks import library\n"
        "zha.quirks.DEVICE_REGISTRY.resolve = lambda zdev: zdev  # what was loaded is the question here\n"
        "lib = library()\n"
        "lib.load_for(['LUMI', 'HEIMAN', None, 'Texas Instruments'])\n"
        "lib.resolve(SimpleNamespace(manufacturer='IKEA of Sweden', model='TRADFRI motion sensor'))\n"
        "print(json.dumps([sorted(lib.loaded), 'zha.application' in sys.modules, 'bellows' in sys.modules]))"
    )
    assert loaded == [["heiman", "ikea", "xiaomi"], False, False]


def test_pairing_loads_every_family_and_unknown_makes_need_none() -> None:
    assert families_of(None) == set()
    assert families_of("Texas Instruments") == set()  # the coordinator itself
    assert families_of("_TZE200_aycxwiau") == {"tuya"}
    assert families_of("LUMI") == {"xiaomi"}
    loaded = _run(
        "import json\n"
        "from drivers.zigbee.quirks import library\n"
        "library().load_all()\n"
        "print(json.dumps(sorted(library().loaded)))"
    )
    assert loaded == sorted(FAMILIES)
