"""Keeping secrets out of what the harness prints and records.

A value is secret when its variable's name looks secret (PASSWORD, SECRET, TOKEN, API_KEY,
ACCESS_KEY, PRIVATE, CREDENTIAL, DSN); passwords inside URLs are secret wherever they appear.

The rule for free text, whatever a secret's length: it is masked wherever it stands as a whole
token, that is not preceded or followed by a letter, a digit or one of ``_ . / -`` (so a password
"app" is masked in "user app", "pw=app", ":app@", '"app"' and "for%20app" (a URL-encoded
separator counts as one), but not in "application",
"app_1", "tests/app/x" or "app.py": an ordinary word survives in names and paths); one of
``ANYWHERE`` characters or more is masked wherever it appears, inside a longer word too.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

SECRET_WORDS = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|ACCESS_KEY|PRIVATE|CREDENTIAL|DSN", re.I)
MASK = "***"
ANYWHERE = 16  # this long, a value is no ordinary word: masked inside other words too
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]+@")


def is_secret(key: str) -> bool:
    return bool(SECRET_WORDS.search(key))


def secrets_of(env: Mapping[str, str]) -> tuple[str, ...]:
    """The secret values among ``env``, longest first (a value inside another is masked after it)."""
    return tuple(sorted({v for k, v in env.items() if v and is_secret(k)}, key=lambda v: (-len(v), v)))


@functools.lru_cache(maxsize=64)
def _pattern(values: tuple[str, ...]) -> re.Pattern[str] | None:
    # A URL-encoded separator (``%20``) before it counts as a separator, not as the digits it ends in.
    token = r"(?:(?<![\w./-])|(?<=%[0-9A-Fa-f]{{2}})){}(?![\w./-])"
    parts = [re.escape(v) if len(v) >= ANYWHERE else token.format(re.escape(v)) for v in values]
    return re.compile("|".join(parts)) if parts else None


def mask_env(env: Mapping[str, str]) -> dict[str, str]:
    """A copy safe to print or persist: secret-looking keys' values and URL passwords replaced."""
    return {k: (MASK if is_secret(k) and v else mask_text(v, env)) for k, v in env.items()}


def mask_text(text: str, env: Mapping[str, str]) -> str:
    """Remove secret values (and passwords inside URLs) from free text before it is shown."""
    pattern = _pattern(secrets_of(env))
    if pattern is not None:
        text = pattern.sub(MASK, text)
    return _URL_PASSWORD.sub(rf"\1{MASK}@", text)
