"""Ports by network: l2population's members of a network (every bind and unbind of an instance's
ports asks which hosts have ports on it), the DHCP agent's and the address checks all select ports
by network_id, which scanned the whole ports table (a build's slowest statement at 1,000 ports).

Revision ID: 0009
Revises: 0008
"""
from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # both engines take the same CREATE INDEX
    op.execute("CREATE INDEX IF NOT EXISTS ports_network_host ON ports(network_id, binding_host)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ports_network_host")
