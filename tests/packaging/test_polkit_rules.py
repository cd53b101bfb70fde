"""The package's polkit rules, run in node the way polkit runs them: each grants the ``fbgw`` user exactly the
actions it names, and nothing to anyone else.

polkit evaluates ``.rules`` files as JavaScript and calls every function given to ``polkit.addRule`` with the
action and the subject; here a stub ``polkit`` object collects the functions and answers are compared.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[2] / "systemd"

#: Each rule file and the actions it must allow the fbgw user (and no others).
GRANTS = {
    "50-fbgw-power.rules": [
        "org.freedesktop.login1.power-off",
        "org.freedesktop.login1.power-off-multiple-sessions",
    ],
    "50-fbgw-network.rules": [
        "org.freedesktop.NetworkManager.settings.modify.system",
        "org.freedesktop.NetworkManager.network-control",
        "org.freedesktop.NetworkManager.wifi.share.protected",
    ],
    "50-fbgw-modem.rules": [
        "org.freedesktop.ModemManager1.Device.Control",
        "org.freedesktop.ModemManager1.Messaging",
        "org.freedesktop.ModemManager1.Voice",
    ],
}
#: Actions no rule may grant.
OTHERS = [
    "org.freedesktop.ModemManager1.Control",
    "org.freedesktop.ModemManager1.Firmware",
    "org.freedesktop.login1.reboot",
    "org.freedesktop.NetworkManager.settings.modify.own",
]

HARNESS = """
const fs = require("fs");
const rules = [];
const polkit = { Result: { YES: "yes", NO: "no" }, addRule: (f) => rules.push(f) };
eval(fs.readFileSync(process.argv[1], "utf8"));
const asks = JSON.parse(process.argv[2]);
const out = asks.map(([user, id]) => {
    for (const rule of rules) {
        const r = rule({ id: id }, { user: user });
        if (r !== undefined) return r;
    }
    return null;
});
console.log(JSON.stringify(out));
"""


def test_every_rule_the_package_installs_is_checked() -> None:
    package = (RULES.parent / "scripts" / "package").read_text()
    installed = {line.split("/systemd/")[1].split('"')[0] for line in package.splitlines() if '.rules"' in line}
    polkit = {name for name in installed if name.startswith("50-")}
    assert polkit == set(GRANTS)


@pytest.mark.parametrize("name", sorted(GRANTS))
def test_rule_grants_fbgw_exactly_its_actions(name: str) -> None:
    node = shutil.which("node") or shutil.which("nodejs")
    assert node, "node missing: ./scripts/setup installs npm (and node) for the page tests"
    grants = GRANTS[name]
    asks = [["fbgw", a] for a in grants + OTHERS] + [["pi", a] for a in grants] + [["root", grants[0]]]
    res = subprocess.run(
        [node, "-e", HARNESS, str(RULES / name), json.dumps(asks)], capture_output=True, text=True, timeout=30
    )
    assert res.returncode == 0, res.stderr
    answers = json.loads(res.stdout)
    assert answers == ["yes"] * len(grants) + [None] * (len(OTHERS) + len(grants) + 1)
