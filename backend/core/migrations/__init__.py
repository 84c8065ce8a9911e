"""Versioned schema migrations (Alembic, as nova has them): one revision per schema change, for
both engines. backend.core.db upgrades a database to the head when it opens it; `alembic -c
alembic.ini upgrade head` (with POCKETSTACK_DATABASE_CONNECTION) does it by hand."""
