"""Instances by project: the compute quota check of every create counts the project's live
instances and sums their cores and RAM (nova's counted usage), which scanned the whole instances
table's rows found by instances_project; an index holding those columns answers it from the
index alone (0.25 -> 0.10 ms at 1,500 instances). It starts with instances_project's columns,
so it takes that index's place.

Revision ID: 0010
Revises: 0009
"""
from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # both engines take the same CREATE INDEX
    op.execute("CREATE INDEX IF NOT EXISTS instances_project_usage"
               " ON instances(project_id, deleted, vcpus, memory_mb)")
    op.execute("DROP INDEX IF EXISTS instances_project")


def downgrade() -> None:
    op.execute("CREATE INDEX IF NOT EXISTS instances_project ON instances(project_id, deleted)")
    op.execute("DROP INDEX IF EXISTS instances_project_usage")
