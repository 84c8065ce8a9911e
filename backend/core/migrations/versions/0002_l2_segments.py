"""L2: a VXLAN segmentation id per network (unique in the cloud, Neutron's
provider:segmentation_id) and, per port, the VIF type and VXLAN endpoint of the host it is
bound to (Neutron's binding:vif_type; the endpoint is what l2population's flooding lists name).

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


COLUMNS = (("networks", "segmentation_id", "INTEGER"), ("ports", "binding_vif_type", "TEXT"),
           ("ports", "binding_vtep", "TEXT"))


def upgrade() -> None:
    # both engines: plain ALTER TABLE ... ADD COLUMN and CREATE INDEX work on SQLite and PostgreSQL.
    # A SQLite file of the version before migrations may have the columns already (adopted by 0001).
    inspector = sa.inspect(op.get_bind())
    for table, col, ctype in COLUMNS:
        if col not in {c["name"] for c in inspector.get_columns(table)}:
            op.execute(f"ALTER TABLE {table} ADD COLUMN {col} {ctype}")
    op.execute("CREATE UNIQUE INDEX IF NOT EXISTS networks_segmentation_id ON networks(segmentation_id)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS networks_segmentation_id")
    for table, col, _ in reversed(COLUMNS):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {col}")
