"""Whether a test carries a marker, asked once or twice per test of suites of thousands.

``item.get_closest_marker`` walks the test's markers and every parent's on each call; here a
parent's marker names are gathered once (a module's, a class's, a directory's) and a test's own
are few, so the answer is a dict lookup and a short loop. Pure pytest: travels with the plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from _pytest.nodes import Node

_inherited: dict[str, frozenset[str]] = {}  # a collector's node id: its markers' and its parents' names


def has_marker(item: pytest.Item, name: str) -> bool:
    """True when the test, its class, module or a parent package carries marker ``name``."""
    return any(m.name == name for m in item.own_markers) or name in _names_above(item.parent)


def _names_above(node: Node | None) -> frozenset[str]:
    if node is None:
        return frozenset()
    names = _inherited.get(node.nodeid)
    if names is None:
        names = frozenset(m.name for m in node.own_markers) | _names_above(node.parent)
        _inherited[node.nodeid] = names
    return names
