"""The README's stack.toml reference names every key the loader accepts (so the docs stay true)."""

from __future__ import annotations

import re
from pathlib import Path

from harness.config import Profile, StackSettings, Step, Suite
from harness.conventions import Conventions
from harness.kinds import KINDS
from harness.kinds.base import Ready, ServiceModel

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_key_is_in_the_readme_reference():
    text = README.read_text()
    table = text[text.index("| table | keys (default) |") :]
    table = table[: table.index("\n\n")]
    rows = {line.split("|")[1].strip(): line.split("|")[2] for line in table.splitlines()[2:]}
    expected = {
        "`[stack]`": StackSettings,
        "`[tests]`": Conventions,
        "`[services.X]` (every kind)": ServiceModel,
        "`ready` (process)": Ready,
        "`[steps.X]`": Step,
        "`[profiles.X]`": Profile,
        "`[suites.X]`": Suite,
        **{f'`kind = "{k.name}"`': k.model for k in KINDS.values()},
    }
    missing = []
    for row, model in expected.items():
        listed = set(re.findall(r"`(\w+)`", rows.get(row, "")))
        fields = set(model.model_fields) - (set(ServiceModel.model_fields) if row.startswith("`kind") else set())
        missing += [f"{row} {name}" for name in sorted(fields - listed - {"kind"})]
    assert missing == [], f"keys the README's reference lacks: {missing}"
