"""Network: a subnet's enable_dhcp and IPv6 modes (ipv6_ra_mode, ipv6_address_mode), a
port's admin_state_up, and a port's further fixed IPs (neutron's IPAllocation rows beyond
the first, which stays in ports.subnet_id/ip_address).

Revision ID: 0007
Revises: 0006
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


COLUMNS = (("subnets", "enable_dhcp", "INTEGER NOT NULL DEFAULT 1"), ("subnets", "ipv6_ra_mode", "TEXT"),
           ("subnets", "ipv6_address_mode", "TEXT"), ("ports", "admin_state_up", "INTEGER NOT NULL DEFAULT 1"))


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table, col, ctype in COLUMNS:
        if col not in {c["name"] for c in inspector.get_columns(table)}:
            op.execute(f"ALTER TABLE {table} ADD COLUMN {col} {ctype}")
    # an address is taken once per subnet, whichever table holds it (the service checks both)
    op.execute("CREATE TABLE IF NOT EXISTS port_ips (port_id TEXT NOT NULL REFERENCES ports(id) ON DELETE CASCADE,"
               " subnet_id TEXT NOT NULL REFERENCES subnets(id), ip_address TEXT NOT NULL, seq INTEGER NOT NULL,"
               " PRIMARY KEY (subnet_id, ip_address))")
    op.execute("CREATE INDEX IF NOT EXISTS port_ips_port ON port_ips(port_id)")


def downgrade() -> None:
    op.execute("DROP TABLE port_ips")
    for table, col, _ in reversed(COLUMNS):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {col}")
