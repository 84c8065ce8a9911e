"""Compute: the projects a private flavor is shared with (nova's flavor_projects,
os-flavor-access).

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE IF NOT EXISTS flavor_projects (flavor_id TEXT NOT NULL, project_id TEXT NOT NULL,"
               " PRIMARY KEY (flavor_id, project_id))")


def downgrade() -> None:
    op.execute("DROP TABLE flavor_projects")
