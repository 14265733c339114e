"""Keeping secrets out of what the harness prints and records.

A value is secret when its variable's name looks secret (PASSWORD, SECRET, TOKEN, API_KEY,
ACCESS_KEY, PRIVATE, CREDENTIAL, DSN); passwords inside URLs are secret wherever they appear.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

SECRET_WORDS = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|ACCESS_KEY|PRIVATE|CREDENTIAL|DSN", re.I)
MASK = "***"
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]+@")
MIN_HUNTED = 8  # shorter values ("app", "harness") are words too common to hunt for in free text


def is_secret(key: str) -> bool:
    return bool(SECRET_WORDS.search(key))


def mask_env(env: Mapping[str, str]) -> dict[str, str]:
    """A copy safe to print or persist: secret-looking keys' values and URL passwords replaced."""
    return {k: (MASK if is_secret(k) and v else _URL_PASSWORD.sub(rf"\1{MASK}@", v)) for k, v in env.items()}


def mask_text(text: str, env: Mapping[str, str]) -> str:
    """Remove secret values (and passwords inside URLs) from free text before it is shown."""
    for key, value in env.items():
        if is_secret(key) and value and len(value) >= MIN_HUNTED:
            text = text.replace(value, MASK)
    return _URL_PASSWORD.sub(rf"\1{MASK}@", text)
