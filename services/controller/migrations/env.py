"""Alembic environment: the URL comes from DATABASE_URL only."""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from services.controller.models import Base
from sqlalchemy import create_engine

if context.config.config_file_name:
    fileConfig(context.config.config_file_name)

url = os.environ.get("DATABASE_URL")
if not url:
    raise SystemExit("DATABASE_URL is not set: run migrations through the harness (`invoke migrate`)")

connectable = create_engine(url)
with connectable.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()
