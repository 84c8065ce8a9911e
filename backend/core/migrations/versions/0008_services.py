"""Cluster: nova's services table (one row per process of a cluster: role, service name, pid,
node, heartbeat) and host_mappings (which compute process owns a host; lost_at once the
conductor took its builds over). The same DDL on both engines: no identity column, no
engine-specific type. IF NOT EXISTS adopts a file whose tables were made on first use before
this revision.

Revision ID: 0008
Revises: 0007
"""
from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE IF NOT EXISTS services (role TEXT NOT NULL, host TEXT NOT NULL, pid BIGINT NOT NULL,"
               " node TEXT NOT NULL, started_at DOUBLE PRECISION NOT NULL,"
               " updated_at DOUBLE PRECISION NOT NULL, stopped BIGINT NOT NULL DEFAULT 0,"
               " PRIMARY KEY (role, host))")
    op.execute("CREATE TABLE IF NOT EXISTS host_mappings (host TEXT PRIMARY KEY, service_role TEXT NOT NULL,"
               " service_host TEXT NOT NULL, lost_at DOUBLE PRECISION)")


def downgrade() -> None:
    op.execute("DROP TABLE host_mappings")
    op.execute("DROP TABLE services")
