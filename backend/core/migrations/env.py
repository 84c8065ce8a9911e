"""Alembic's environment: the connection comes from backend.core.db (config.attributes) or,
run by hand, from POCKETSTACK_DATABASE_CONNECTION / -x url=..."""
from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

config = context.config


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get("POCKETSTACK_DATABASE_CONNECTION")
    if not url:
        raise SystemExit("name the database: POCKETSTACK_DATABASE_CONNECTION=postgresql://... or -x url=...")
    from backend.core.db import sqlalchemy_url
    return sqlalchemy_url(url)


def run() -> None:
    conn = config.attributes.get("connection")
    if conn is None:
        with create_engine(_url()).connect() as conn:
            context.configure(connection=conn, target_metadata=None)
            with context.begin_transaction():
                context.run_migrations()
            conn.commit()
        return
    context.configure(connection=conn, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) mode is not supported: the baseline adapts to the file it meets")
run()
