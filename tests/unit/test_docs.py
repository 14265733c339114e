"""The docs stay true: the stack.toml reference names every key the loader accepts, every page is
in the site's navigation, and the README's links lead somewhere."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from harness.config.conventions import Conventions
from harness.config.models import Ready, ServiceModel
from harness.config.schema import Profile, StackSettings, Step, Suite
from harness.kinds import KINDS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
REFERENCE = DOCS / "stack-toml.md"  # holds the "| table | keys (default) |" table
MKDOCS = ROOT / "mkdocs.yml"
README = ROOT / "README.md"


def test_every_key_is_in_the_docs_reference():
    text = REFERENCE.read_text()
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
    assert missing == [], f"keys {REFERENCE.relative_to(ROOT)}'s reference lacks: {missing}"


def _nav_pages(entries: object) -> list[str]:
    """Every page path in an mkdocs `nav:` (a list of paths, `{title: path}` and `{title: [...]}`)."""
    if isinstance(entries, str):
        return [entries]
    if isinstance(entries, list):
        return [page for entry in entries for page in _nav_pages(entry)]
    if isinstance(entries, dict):
        return [page for value in entries.values() for page in _nav_pages(value)]
    return []


def test_every_page_is_in_the_nav():
    config = yaml.safe_load(MKDOCS.read_text())
    listed = [p for p in _nav_pages(config["nav"]) if "://" not in p]
    pages = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    assert sorted(set(pages) - set(listed)) == [], "pages under docs/ missing from mkdocs.yml's nav"
    assert sorted(set(listed) - set(pages)) == [], "mkdocs.yml's nav names pages that do not exist"


def test_readme_links_point_to_existing_files():
    text = re.sub(r"```.*?```", "", README.read_text(), flags=re.DOTALL)  # code blocks hold no links
    text = re.sub(r"`[^`\n]*`", "", text)
    targets = re.findall(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", text)
    targets += re.findall(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", text, flags=re.MULTILINE)
    relative = [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]
    assert relative, "the README links into docs/"
    broken = [t for t in relative if not (ROOT / t.split("#", 1)[0]).exists()]
    assert broken == [], f"README links to missing files: {broken}"
