"""Configuration from the environment only (the harness derives it from stack.toml)."""

from __future__ import annotations

import os


class MissingSetting(RuntimeError):
    pass


def need(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise MissingSetting(f"environment variable {name} is not set (start services through the harness)")
    return value


def get(name: str, default: str) -> str:
    return os.environ.get(name) or default
