"""Regular expressions a user writes (stack.toml rules, marker arguments), checked one way.

Every place that takes a pattern from a user compiles it here, so a bad one is refused with
the same words wherever it was written. Pure Python: it travels with the plugin.
"""

from __future__ import annotations

import re


def compile_regex(value: object, where: str = "") -> re.Pattern[str]:
    """``value`` compiled; a ValueError naming ``where`` (when given) and what is wrong otherwise."""
    prefix = f"{where}: " if where else ""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{prefix}{value!r} is not a regular expression (a non-empty string)")
    try:
        return re.compile(value)
    except re.error as exc:
        raise ValueError(f"{prefix}{value!r} is not a valid regular expression ({exc})") from None
