"""Quotas: nova's quota classes (os-quota-class-sets); the class 'default' holds the limits
every project has unless it has its own.

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE IF NOT EXISTS quota_classes (class_name TEXT NOT NULL, resource TEXT NOT NULL,"
               " hard_limit INTEGER NOT NULL, updated_at TEXT, PRIMARY KEY (class_name, resource))")


def downgrade() -> None:
    op.execute("DROP TABLE quota_classes")
