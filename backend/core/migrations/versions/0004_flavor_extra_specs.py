"""Compute: a flavor's extra specs (nova's os-extra_specs), a JSON object of string pairs on
the flavor (flavors.extra_specs; NULL: none).

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "extra_specs" not in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("flavors")}:
        op.execute("ALTER TABLE flavors ADD COLUMN extra_specs TEXT")


def downgrade() -> None:
    op.execute("ALTER TABLE flavors DROP COLUMN extra_specs")
