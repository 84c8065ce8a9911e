"""The schema as it stood when migrations began (both engines).

A SQLite file made before migrations (no alembic_version table) is adopted here: the columns
added since it was made appear (the only kind of change before migrations) and an old ports
table is relaxed, rows kept; tables it lacks are made. PostgreSQL gets the same tables and
columns with types that fit (BIGINT for integers, DOUBLE PRECISION for reals, identity ids)
and the triggers in PL/pgSQL.

Revision ID: 0001
Revises:
"""
from __future__ import annotations

import re
import sqlite3

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, name TEXT NOT NULL, domain_id TEXT NOT NULL,
  password_hash TEXT NOT NULL, enabled INTEGER NOT NULL DEFAULT 1, default_project_id TEXT,
  created_at TEXT NOT NULL, extra TEXT NOT NULL DEFAULT '{}', UNIQUE(domain_id, name));
CREATE TABLE IF NOT EXISTS projects (id TEXT PRIMARY KEY, name TEXT NOT NULL, domain_id TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '', enabled INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL,
  tags TEXT NOT NULL DEFAULT '[]', parent_id TEXT, UNIQUE(domain_id, name));
CREATE TABLE IF NOT EXISTS roles (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT);
-- keystone's domains; 'default' always exists (users and projects live in it)
CREATE TABLE IF NOT EXISTS domains (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '', enabled INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL);
INSERT OR IGNORE INTO domains VALUES ('default', 'Default', 'The default domain', 1, '');
CREATE TABLE IF NOT EXISTS groups (id TEXT PRIMARY KEY, name TEXT NOT NULL, domain_id TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL, extra TEXT NOT NULL DEFAULT '{}',
  UNIQUE(domain_id, name));
CREATE TABLE IF NOT EXISTS group_members (group_id TEXT NOT NULL REFERENCES groups(id),
  user_id TEXT NOT NULL REFERENCES users(id), PRIMARY KEY (group_id, user_id));
CREATE TABLE IF NOT EXISTS assignments (user_id TEXT NOT NULL REFERENCES users(id),
  project_id TEXT NOT NULL REFERENCES projects(id), role_id TEXT NOT NULL REFERENCES roles(id),
  PRIMARY KEY (user_id, project_id, role_id));
CREATE TABLE IF NOT EXISTS tokens (id_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, project_id TEXT,
  methods TEXT NOT NULL, issued_at REAL NOT NULL, expires_at REAL NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0, system INTEGER NOT NULL DEFAULT 0, domain_id TEXT, app_cred_id TEXT);
CREATE INDEX IF NOT EXISTS tokens_user ON tokens(user_id);
CREATE TABLE IF NOT EXISTS system_assignments (user_id TEXT NOT NULL REFERENCES users(id),
  role_id TEXT NOT NULL REFERENCES roles(id), PRIMARY KEY (user_id, role_id));
-- keystone's other role assignments: to groups, on domains, on the system for groups, and
-- OS-INHERIT's (inherited=1: held on every project below the target, not on the target)
CREATE TABLE IF NOT EXISTS grants (actor_type TEXT NOT NULL, actor_id TEXT NOT NULL,
  target_type TEXT NOT NULL, target_id TEXT NOT NULL, role_id TEXT NOT NULL REFERENCES roles(id),
  inherited INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (actor_type, actor_id, target_type, target_id, role_id, inherited));
CREATE TABLE IF NOT EXISTS implied_roles (prior_role_id TEXT NOT NULL REFERENCES roles(id),
  implied_role_id TEXT NOT NULL REFERENCES roles(id), PRIMARY KEY (prior_role_id, implied_role_id));
-- keystone's credentials: the blob is Fernet-encrypted with a key kept beside the database
CREATE TABLE IF NOT EXISTS credentials (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, project_id TEXT,
  type TEXT NOT NULL, blob TEXT NOT NULL, created_at TEXT NOT NULL);
-- application credentials: only the secret's bcrypt hash is kept
CREATE TABLE IF NOT EXISTS app_credentials (id TEXT PRIMARY KEY, name TEXT NOT NULL, user_id TEXT NOT NULL,
  project_id TEXT NOT NULL, description TEXT, secret_hash TEXT NOT NULL, expires_at REAL,
  unrestricted INTEGER NOT NULL DEFAULT 0, roles TEXT NOT NULL, created_at TEXT NOT NULL, UNIQUE(user_id, name));
CREATE TABLE IF NOT EXISTS flavors (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, vcpus INTEGER NOT NULL,
  ram INTEGER NOT NULL, disk INTEGER NOT NULL, is_public INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL, swap INTEGER NOT NULL DEFAULT 0, ephemeral_gb INTEGER NOT NULL DEFAULT 0,
  rxtx_factor REAL NOT NULL DEFAULT 1.0);
CREATE TABLE IF NOT EXISTS images (id TEXT PRIMARY KEY, name TEXT NOT NULL, owner TEXT NOT NULL,
  status TEXT NOT NULL, disk_format TEXT, container_format TEXT, size INTEGER, checksum TEXT,
  sha256 TEXT, visibility TEXT NOT NULL, min_ram INTEGER NOT NULL DEFAULT 0,
  min_disk INTEGER NOT NULL DEFAULT 0, properties TEXT NOT NULL DEFAULT '{}', path TEXT,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, tags TEXT NOT NULL DEFAULT '[]');
-- glance's image members: projects an image is shared with, and whether they took it
CREATE TABLE IF NOT EXISTS image_members (image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  member_id TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL, PRIMARY KEY (image_id, member_id));
CREATE TABLE IF NOT EXISTS networks (id TEXT PRIMARY KEY, name TEXT NOT NULL, project_id TEXT NOT NULL,
  shared INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL DEFAULT 'ACTIVE', created_at TEXT NOT NULL,
  external INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS subnets (id TEXT PRIMARY KEY, network_id TEXT NOT NULL REFERENCES networks(id),
  name TEXT NOT NULL, project_id TEXT NOT NULL, cidr TEXT NOT NULL, gateway_ip TEXT, ip_version INTEGER NOT NULL,
  pool_start TEXT NOT NULL, pool_end TEXT NOT NULL, created_at TEXT NOT NULL,
  dns_nameservers TEXT NOT NULL DEFAULT '[]', host_routes TEXT NOT NULL DEFAULT '[]');
CREATE TABLE IF NOT EXISTS ports (id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '',
  network_id TEXT NOT NULL REFERENCES networks(id), subnet_id TEXT REFERENCES subnets(id),
  project_id TEXT NOT NULL, mac_address TEXT NOT NULL UNIQUE, ip_address TEXT,
  device_id TEXT NOT NULL DEFAULT '', device_owner TEXT NOT NULL DEFAULT '', binding_host TEXT,
  created_for TEXT, status TEXT NOT NULL DEFAULT 'DOWN', created_at TEXT NOT NULL, UNIQUE(subnet_id, ip_address));
CREATE INDEX IF NOT EXISTS ports_device ON ports(device_id);
-- neutron's routers (the gateway is a port with device_owner network:router_gateway) and
-- floating IPs (an address held by a network:floatingip port on the external network)
CREATE TABLE IF NOT EXISTS routers (id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '',
  project_id TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT 'ACTIVE',
  gw_port_id TEXT, enable_snat INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  admin_state_up INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS floatingips (id TEXT PRIMARY KEY, project_id TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '', floating_network_id TEXT NOT NULL REFERENCES networks(id),
  floating_port_id TEXT NOT NULL, floating_ip_address TEXT NOT NULL, port_id TEXT, fixed_ip_address TEXT,
  router_id TEXT, status TEXT NOT NULL DEFAULT 'DOWN', created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  UNIQUE(port_id, fixed_ip_address));
CREATE TABLE IF NOT EXISTS volumes (id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '',
  description TEXT NOT NULL DEFAULT '', project_id TEXT NOT NULL, size INTEGER NOT NULL,
  status TEXT NOT NULL, host TEXT, bootable INTEGER NOT NULL DEFAULT 0, image_id TEXT,
  attached_to TEXT, device TEXT, delete_on_termination INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, user_id TEXT,
  metadata TEXT NOT NULL DEFAULT '{}', volume_type_id TEXT);
-- cinder's volume types beyond __DEFAULT__ (which is built in): admins make them
CREATE TABLE IF NOT EXISTS volume_types (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,
  description TEXT, is_public INTEGER NOT NULL DEFAULT 1, extra_specs TEXT NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS volumes_attached ON volumes(attached_to);
CREATE TABLE IF NOT EXISTS instances (uuid TEXT PRIMARY KEY, name TEXT NOT NULL, hostname TEXT NOT NULL,
  project_id TEXT NOT NULL, user_id TEXT NOT NULL, image_id TEXT, flavor_id TEXT NOT NULL,
  vcpus INTEGER NOT NULL, memory_mb INTEGER NOT NULL, root_gb INTEGER NOT NULL, flavor_name TEXT NOT NULL,
  vm_state TEXT NOT NULL, task_state TEXT, power_state INTEGER NOT NULL DEFAULT 0, host TEXT,
  availability_zone TEXT, requested_az TEXT, requested_networks TEXT NOT NULL DEFAULT '"auto"',
  boot_volume_size INTEGER, boot_volume_id TEXT, server_group_id TEXT, reservation_id TEXT,
  metadata TEXT NOT NULL DEFAULT '{}', attempts TEXT NOT NULL DEFAULT '[]',
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, launched_at TEXT, terminated_at TEXT,
  deleted INTEGER NOT NULL DEFAULT 0, build_started REAL, key_name TEXT, key_data TEXT,
  access_ip_v4 TEXT, access_ip_v6 TEXT, user_data TEXT, description TEXT,
  launch_index INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS instances_project ON instances(project_id, deleted);
CREATE INDEX IF NOT EXISTS instances_listing ON instances(deleted, created_at, uuid);
CREATE INDEX IF NOT EXISTS instances_host ON instances(host, deleted);
-- nova's server tags (microversion 2.26): at most 50 per server, each 1-60 characters
CREATE TABLE IF NOT EXISTS server_tags (instance_uuid TEXT NOT NULL, tag TEXT NOT NULL,
  PRIMARY KEY (instance_uuid, tag));
CREATE INDEX IF NOT EXISTS server_tags_tag ON server_tags(tag);
CREATE TABLE IF NOT EXISTS claims (instance_uuid TEXT PRIMARY KEY, host TEXT NOT NULL,
  vcpus INTEGER NOT NULL, memory_mb INTEGER NOT NULL, disk_gb INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS claims_host ON claims(host);
CREATE TABLE IF NOT EXISTS instance_actions (id INTEGER PRIMARY KEY, instance_uuid TEXT NOT NULL,
  action TEXT NOT NULL, request_id TEXT NOT NULL, user_id TEXT, project_id TEXT, start_time TEXT NOT NULL,
  finish_time TEXT, message TEXT);
CREATE INDEX IF NOT EXISTS actions_instance ON instance_actions(instance_uuid);
CREATE TABLE IF NOT EXISTS instance_action_events (id INTEGER PRIMARY KEY, action_id INTEGER NOT NULL,
  event TEXT NOT NULL, start_time TEXT NOT NULL, finish_time TEXT, result TEXT, host TEXT, details TEXT);
CREATE INDEX IF NOT EXISTS events_action ON instance_action_events(action_id);
CREATE TABLE IF NOT EXISTS instance_faults (id INTEGER PRIMARY KEY, instance_uuid TEXT NOT NULL,
  code INTEGER NOT NULL, message TEXT NOT NULL, details TEXT, host TEXT, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS faults_instance ON instance_faults(instance_uuid);
CREATE TABLE IF NOT EXISTS scheduler_decisions (id INTEGER PRIMARY KEY, instance_uuid TEXT NOT NULL,
  attempt INTEGER NOT NULL, data TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS decisions_instance ON scheduler_decisions(instance_uuid);
CREATE TABLE IF NOT EXISTS compute_nodes (host TEXT PRIMARY KEY, address TEXT, driver TEXT NOT NULL,
  availability_zone TEXT NOT NULL, vcpus INTEGER NOT NULL DEFAULT 0, memory_mb INTEGER NOT NULL DEFAULT 0,
  disk_gb INTEGER NOT NULL DEFAULT 0, hypervisor_type TEXT, hypervisor_version TEXT,
  cpu_arch TEXT, accelerator TEXT, disabled INTEGER NOT NULL DEFAULT 0, disabled_reason TEXT,
  last_heartbeat REAL, down_reason TEXT, failed_builds INTEGER NOT NULL DEFAULT 0,
  configured INTEGER NOT NULL DEFAULT 1, vcpus_used INTEGER NOT NULL DEFAULT 0,
  memory_mb_used INTEGER NOT NULL DEFAULT 0, disk_gb_used INTEGER NOT NULL DEFAULT 0,
  running_vms INTEGER NOT NULL DEFAULT 0);
-- usage per host follows the claims exactly (triggers), so the scheduler reads it in O(hosts)
CREATE TRIGGER IF NOT EXISTS claims_add AFTER INSERT ON claims BEGIN
  UPDATE compute_nodes SET vcpus_used=vcpus_used+NEW.vcpus, memory_mb_used=memory_mb_used+NEW.memory_mb,
    disk_gb_used=disk_gb_used+NEW.disk_gb, running_vms=running_vms+1 WHERE host=NEW.host; END;
CREATE TRIGGER IF NOT EXISTS claims_drop AFTER DELETE ON claims BEGIN
  UPDATE compute_nodes SET vcpus_used=vcpus_used-OLD.vcpus, memory_mb_used=memory_mb_used-OLD.memory_mb,
    disk_gb_used=disk_gb_used-OLD.disk_gb, running_vms=running_vms-1 WHERE host=OLD.host; END;
-- nova's key_pairs: per user; the private half of a generated key is never stored
CREATE TABLE IF NOT EXISTS key_pairs (id INTEGER PRIMARY KEY, name TEXT NOT NULL, user_id TEXT NOT NULL,
  fingerprint TEXT NOT NULL, public_key TEXT NOT NULL, type TEXT NOT NULL DEFAULT 'ssh',
  created_at TEXT NOT NULL, UNIQUE(user_id, name));
CREATE TABLE IF NOT EXISTS server_groups (id TEXT PRIMARY KEY, name TEXT NOT NULL, project_id TEXT NOT NULL,
  user_id TEXT NOT NULL, policy TEXT NOT NULL, created_at TEXT NOT NULL);
-- per-project quota overrides (nova's/cinder's quotas table); absent rows mean the default
CREATE TABLE IF NOT EXISTS quotas (project_id TEXT NOT NULL, resource TEXT NOT NULL,
  hard_limit INTEGER NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (project_id, resource));
CREATE TABLE IF NOT EXISTS trace (id INTEGER PRIMARY KEY, ts REAL NOT NULL, request_id TEXT,
  instance_uuid TEXT, service TEXT NOT NULL, kind TEXT NOT NULL, topic TEXT, method TEXT, step TEXT,
  phase TEXT, duration_ms REAL, detail TEXT);
CREATE INDEX IF NOT EXISTS trace_instance ON trace(instance_uuid);
-- neutron's security groups and rules: stored and shown, not yet enforced on the wire
CREATE TABLE IF NOT EXISTS security_groups (id TEXT PRIMARY KEY, name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '', project_id TEXT NOT NULL, stateful INTEGER NOT NULL DEFAULT 1,
  is_default INTEGER NOT NULL DEFAULT 0, revision_number INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
-- one default group per project (neutron's default_security_group table)
CREATE UNIQUE INDEX IF NOT EXISTS security_groups_default ON security_groups(project_id) WHERE is_default=1;
CREATE TABLE IF NOT EXISTS security_group_rules (id TEXT PRIMARY KEY,
  security_group_id TEXT NOT NULL REFERENCES security_groups(id) ON DELETE CASCADE,
  project_id TEXT NOT NULL, direction TEXT NOT NULL, ethertype TEXT NOT NULL, protocol TEXT,
  port_range_min INTEGER, port_range_max INTEGER, remote_ip_prefix TEXT,
  remote_group_id TEXT REFERENCES security_groups(id) ON DELETE CASCADE,
  description TEXT NOT NULL DEFAULT '', revision_number INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sg_rules_group ON security_group_rules(security_group_id);
CREATE TABLE IF NOT EXISTS port_security_groups (port_id TEXT NOT NULL REFERENCES ports(id) ON DELETE CASCADE,
  security_group_id TEXT NOT NULL REFERENCES security_groups(id), PRIMARY KEY (port_id, security_group_id));
CREATE INDEX IF NOT EXISTS port_sg_group ON port_security_groups(security_group_id);
-- ports whose port_security_enabled is false (absent: true, neutron's default)
CREATE TABLE IF NOT EXISTS port_security_off (port_id TEXT PRIMARY KEY REFERENCES ports(id) ON DELETE CASCADE);
-- the groups a server asked for (nova's instance.security_groups), given to the ports made for it
CREATE TABLE IF NOT EXISTS instance_security_groups (instance_uuid TEXT NOT NULL,
  security_group_id TEXT NOT NULL REFERENCES security_groups(id), position INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (instance_uuid, security_group_id));
CREATE INDEX IF NOT EXISTS instance_sg_group ON instance_security_groups(security_group_id);
"""


# PostgreSQL's versions of the SQLite triggers: usage per host follows the claims, and a row
# that a server view shows changes -> NOTIFY ps_view_dirty with the instance (or '*'), which
# each process's view cache listens to (SQLite: temporary triggers per connection, made by
# backend.core.instances).
PG_FUNCTIONS = [
    """CREATE OR REPLACE FUNCTION claims_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE compute_nodes SET vcpus_used=vcpus_used+NEW.vcpus, memory_mb_used=memory_mb_used+NEW.memory_mb,
      disk_gb_used=disk_gb_used+NEW.disk_gb, running_vms=running_vms+1 WHERE host=NEW.host;
  ELSE
    UPDATE compute_nodes SET vcpus_used=vcpus_used-OLD.vcpus, memory_mb_used=memory_mb_used-OLD.memory_mb,
      disk_gb_used=disk_gb_used-OLD.disk_gb, running_vms=running_vms-1 WHERE host=OLD.host;
  END IF;
  RETURN NULL;
END $$""",
    "CREATE TRIGGER claims_add AFTER INSERT ON claims FOR EACH ROW EXECUTE FUNCTION claims_usage()",
    "CREATE TRIGGER claims_drop AFTER DELETE ON claims FOR EACH ROW EXECUTE FUNCTION claims_usage()",
    """CREATE OR REPLACE FUNCTION ps_view_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE k text; v text;
BEGIN
  FOREACH k IN ARRAY TG_ARGV LOOP
    IF k = '*' THEN v := '*';
    ELSIF left(k, 4) = 'NEW.' THEN v := to_jsonb(NEW) ->> substr(k, 5);
    ELSE v := to_jsonb(OLD) ->> substr(k, 5);
    END IF;
    IF v IS NOT NULL AND v <> '' THEN PERFORM pg_notify('ps_view_dirty', v); END IF;
  END LOOP;
  RETURN NULL;
END $$""",
]
VIEW_TRIGGERS = [
    ("instances", "UPDATE", ["NEW.uuid"]), ("instances", "DELETE", ["OLD.uuid"]),
    ("ports", "INSERT", ["NEW.device_id"]), ("ports", "UPDATE", ["OLD.device_id", "NEW.device_id"]),
    ("ports", "DELETE", ["OLD.device_id"]),
    ("volumes", "INSERT", ["NEW.attached_to"]), ("volumes", "UPDATE", ["OLD.attached_to", "NEW.attached_to"]),
    ("volumes", "DELETE", ["OLD.attached_to"]),
    ("instance_faults", "INSERT", ["NEW.instance_uuid"]), ("instance_faults", "DELETE", ["OLD.instance_uuid"]),
    ("images", "UPDATE", ["*"]), ("images", "DELETE", ["*"]), ("networks", "UPDATE", ["*"]),
    ("floatingips", "INSERT", ["*"]), ("floatingips", "UPDATE", ["*"]), ("floatingips", "DELETE", ["*"]),
    ("instance_security_groups", "INSERT", ["NEW.instance_uuid"]),
    ("instance_security_groups", "DELETE", ["OLD.instance_uuid"]), ("security_groups", "UPDATE", ["*"]),
]


def statements(script: str) -> list[str]:
    """The script's statements, one each (a trigger's body keeps its semicolons)."""
    out, cur = [], ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        cur += line
        if sqlite3.complete_statement(cur):
            out.append(cur.strip().rstrip(";"))
            cur = ""
    return out


def pg_statements() -> list[str]:
    """SCHEMA in PostgreSQL's words: integers are BIGINT (sizes in bytes overflow INTEGER),
    reals DOUBLE PRECISION (timestamps), an INTEGER PRIMARY KEY an identity column."""
    out = []
    for s in statements(SCHEMA):
        if s.startswith("CREATE TRIGGER"):
            continue  # PG_FUNCTIONS has them
        s = re.sub(r"\bINTEGER PRIMARY KEY\b", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", s)
        s = re.sub(r"\bINTEGER\b", "BIGINT", s)
        s = re.sub(r"\bREAL\b", "DOUBLE PRECISION", s)
        if s.startswith("INSERT OR IGNORE INTO"):
            s = s.replace("INSERT OR IGNORE INTO", "INSERT INTO", 1) + " ON CONFLICT DO NOTHING"
        out.append(s)
    out += PG_FUNCTIONS
    for table, op_, keys in VIEW_TRIGGERS:
        args = ", ".join(f"'{k}'" for k in keys)
        out.append(f"CREATE TRIGGER view_{table}_{op_.lower()} AFTER {op_} ON {table} FOR EACH ROW "
                   f"EXECUTE FUNCTION ps_view_dirty({args})")
    return out


def adopt_legacy_sqlite(conn: sqlite3.Connection) -> None:
    """A file made before migrations: the columns added since it was made (the only kind of
    schema change then) and a relaxed ports table; the tables it lacks come from SCHEMA."""
    want = sqlite3.connect(":memory:")
    want.executescript(SCHEMA)
    have_tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    for (table,) in want.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
        if table not in have_tables:
            continue
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        for _, col, ctype, notnull, default, _pk in want.execute(f"PRAGMA table_info({table})"):
            if col not in have:
                dflt = f" DEFAULT {default}" if default is not None else ""
                null = " NOT NULL" if notnull and default is not None else ""
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {col} {ctype}{null}{dflt}")
    want.close()
    _ports_without_address(conn)


def _ports_without_address(conn: sqlite3.Connection) -> None:
    """A port on a network without a subnet has no subnet and no address (neutron): a file
    made before that had ports.subnet_id and ip_address NOT NULL, which SQLite cannot relax in
    place, so the table is rebuilt from SCHEMA's definition, rows kept."""
    cols = {r[1]: r[3] for r in conn.execute("PRAGMA table_info(ports)")}
    if not cols.get("subnet_id"):
        return  # no ports table yet (SCHEMA makes it) or already relaxed
    ddl = re.search(r"CREATE TABLE IF NOT EXISTS ports \(.*?\);\n", SCHEMA, re.S).group(0)
    names = ", ".join(cols)
    conn.execute("PRAGMA foreign_keys=OFF")  # a no-op inside a transaction: set before it
    try:
        conn.executescript(
            "BEGIN IMMEDIATE;" + ddl.replace("IF NOT EXISTS ports", "ports_relaxed") +
            f"INSERT INTO ports_relaxed ({names}) SELECT {names} FROM ports;"
            "DROP TABLE ports; ALTER TABLE ports_relaxed RENAME TO ports; COMMIT;")
    finally:
        conn.execute("PRAGMA foreign_keys=ON")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        raw = bind.connection.driver_connection
        if raw.execute("SELECT count(*) FROM sqlite_master WHERE type='table' AND name != 'alembic_version'"
                       ).fetchone()[0]:
            adopt_legacy_sqlite(raw)
        raw.executescript(SCHEMA)
    else:
        for s in pg_statements():
            bind.exec_driver_sql(s)


def downgrade() -> None:
    bind = op.get_bind()
    tables = [m.group(1) for m in re.finditer(r"CREATE TABLE IF NOT EXISTS (\w+)", SCHEMA)]
    cascade = "" if bind.dialect.name == "sqlite" else " CASCADE"
    for t in reversed(tables):
        bind.exec_driver_sql(f"DROP TABLE IF EXISTS {t}{cascade}")
    if bind.dialect.name != "sqlite":
        bind.exec_driver_sql("DROP FUNCTION IF EXISTS claims_usage() CASCADE")
        bind.exec_driver_sql("DROP FUNCTION IF EXISTS ps_view_dirty() CASCADE")
