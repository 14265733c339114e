"""Engine and session from ``DATABASE_URL``, and the one way an episode changes status."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from services.common import settings
from services.controller.models import ACTIVE, Episode, Event


@cache
def engine() -> Engine:
    return create_engine(settings.need("DATABASE_URL"), pool_pre_ping=True, pool_size=10, max_overflow=20)


@contextmanager
def session() -> Iterator[Session]:
    with sessionmaker(engine(), expire_on_commit=False)() as s, s.begin():
        yield s


def add_event(s: Session, episode_id: str, kind: str, /, **data: Any) -> None:
    s.add(Event(episode_id=episode_id, kind=kind, data=data))


def transition(
    s: Session,
    episode: Episode,
    status: str,
    reason: str | None = None,
    only_from: tuple[str, ...] | None = None,
    **data: Any,
) -> bool:
    """Move the episode to ``status`` and record it as an event; refused outside ``only_from``."""
    if only_from is not None and episode.status not in only_from:
        return False
    previous = episode.status
    episode.status = status
    if reason is not None:
        episode.reason = reason
    add_event(s, episode.id, "status", **{"from": previous, "to": status, "reason": reason, **data})
    return True


def locked_episode(s: Session, episode_id: str) -> Episode | None:
    return s.execute(select(Episode).where(Episode.id == episode_id).with_for_update()).scalar_one_or_none()


def finish(episode_id: str, status: str, reason: str | None = None, **data: Any) -> bool:
    """Final status, unless the episode already ended (an interrupt wins over a late result)."""
    with session() as s:
        episode = locked_episode(s, episode_id)
        if episode is None:
            return False
        return transition(s, episode, status, reason, only_from=ACTIVE, **data)
