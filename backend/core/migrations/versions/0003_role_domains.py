"""Identity: a role may belong to a domain (keystone's domain-specific roles, roles.domain_id;
NULL: a global role).

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "domain_id" not in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("roles")}:
        op.execute("ALTER TABLE roles ADD COLUMN domain_id TEXT")


def downgrade() -> None:
    op.execute("ALTER TABLE roles DROP COLUMN domain_id")
