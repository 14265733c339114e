"""Where a service is reached, as the placeholders ``{name.field}`` of stack.toml see it.

Each kind extends :class:`Endpoint` with its own fields (a database's ``dsn``, a display's
``display``); an unknown field raises an error that lists the fields there are.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar


class Ports:
    """``{name.ports.console}``: a service's named extra ports, with errors that list the names."""

    def __init__(self, owner: str, ports: Mapping[str, int]) -> None:
        self._owner, self._ports = owner, dict(ports)

    def __getattr__(self, key: str) -> int:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self._ports[key]
        except KeyError:
            raise AttributeError(f"{self._owner}.ports has {', '.join(self._ports) or 'no named ports'}") from None

    def items(self) -> list[tuple[str, int]]:
        return list(self._ports.items())

    def values(self) -> list[int]:
        return list(self._ports.values())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ports) and other._ports == self._ports

    def __repr__(self) -> str:
        return f"Ports({self._ports!r})"


@dataclass(frozen=True)
class Endpoint:
    """Where a service is reached; every field is a ``{name.field}`` placeholder."""

    name: str
    kind: str
    host: str
    port: int | None
    ports: Ports
    url: str
    data_dir: str
    log: str

    def fields(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self)]

    @classmethod
    def extend(cls: type[E], base: Endpoint, **values: object) -> E:
        """A kind's endpoint: ``base``'s fields, some replaced (``url``), and the kind's own."""
        common = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)}
        return cls(**{**common, **values})

    def __getattr__(self, key: str) -> object:
        # Only reached for unknown attributes: the message lists what the placeholder could be.
        if key.startswith("_"):
            raise AttributeError(key)
        raise AttributeError(f"{self.name} has {', '.join(self.fields())}")


@dataclass(frozen=True)
class DatabaseEndpoint(Endpoint):
    """A database server's endpoint: the app's user, password and database, and the DSN of them
    (``{db.user}``, ``{db.dsn}``...); each kind adds its administrator's password."""

    user: str = ""
    password: str = ""
    database: str = ""
    dsn: str = ""


E = TypeVar("E", bound=Endpoint)
