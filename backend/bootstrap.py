"""`pocketstack init`: the state directory, database, admin, default flavors and network.
Idempotent: running it again changes nothing that exists."""
from __future__ import annotations

import ipaddress
import os
import uuid

from backend.core import db as dbm
from backend.core.config import Config
from backend.core.errors import CloudError
from backend.identity import ROLE_NAMES, IdentityService

FLAVORS = [  # id, name, vcpus, ram MB, disk GB
    ("1", "m1.nano", 1, 128, 1),
    ("2", "m1.micro", 1, 192, 1),
    ("3", "m1.tiny", 1, 512, 1),
    ("4", "m1.small", 1, 2048, 20),
]


def init(config: Config, admin_password: str) -> dict:
    if not admin_password:
        raise ValueError("an admin password is needed (OS_PASSWORD, or the prompt of pocketstack init)")
    home = config.home
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(home, 0o700)
    config.images_dir.mkdir(exist_ok=True, mode=0o700)
    db = dbm.open_db(getattr(config, "database_connection", "") or config.db_path)
    ident = IdentityService(db, config)
    created = []
    with dbm.transaction(db):
        for name in ROLE_NAMES:
            if not dbm.row(db, "SELECT 1 x FROM roles WHERE name=?", (name,)):
                db["roles"].insert({"id": uuid.uuid4().hex, "name": name})
                created.append(f"role {name}")
        proj = dbm.row(db, "SELECT * FROM projects WHERE name='admin'")
        if not proj:
            proj = {"id": uuid.uuid4().hex, "name": "admin", "domain_id": "default",
                    "description": "Bootstrap project", "enabled": 1, "created_at": dbm.now_iso()}
            db["projects"].insert(proj)
            created.append("project admin")
        user = dbm.row(db, "SELECT * FROM users WHERE name='admin'")
        if not user:
            user = {"id": uuid.uuid4().hex, "name": "admin", "domain_id": "default",
                    "password_hash": ident.hash_password(admin_password), "enabled": 1,
                    "default_project_id": proj["id"], "created_at": dbm.now_iso()}
            db["users"].insert(user)
            created.append("user admin")
        admin_role = dbm.row(db, "SELECT id FROM roles WHERE name='admin'")
        db.conn.execute("INSERT OR IGNORE INTO assignments VALUES (?,?,?)",
                        (user["id"], proj["id"], admin_role["id"]))
        for fid, name, vcpus, ram, disk in FLAVORS:
            if not dbm.row(db, "SELECT 1 x FROM flavors WHERE id=? OR name=?", (fid, name)):
                db["flavors"].insert({"id": fid, "name": name, "vcpus": vcpus, "ram": ram, "disk": disk,
                                      "is_public": 1, "created_at": dbm.now_iso()})
                created.append(f"flavor {name}")
        if not dbm.row(db, "SELECT 1 x FROM networks WHERE name='private'"):
            net_id = str(uuid.uuid4())
            db["networks"].insert({"id": net_id, "name": "private", "project_id": proj["id"], "shared": 1,
                                   "status": "ACTIVE", "created_at": dbm.now_iso()})
            cidr = ipaddress.ip_network("10.0.0.0/24")
            db["subnets"].insert({"id": str(uuid.uuid4()), "network_id": net_id, "name": "private-subnet",
                                  "project_id": proj["id"], "cidr": str(cidr), "gateway_ip": "10.0.0.1",
                                  "ip_version": 4, "pool_start": "10.0.0.2", "pool_end": "10.0.0.254",
                                  "created_at": dbm.now_iso()})
            created.append("network private (10.0.0.0/24)")
    db.conn.close()
    return {"home": str(home), "created": created}


def db_sync(config: Config, revision: str = "head") -> dict:
    """`pocketstack db sync`: the database's schema upgraded to revision (as nova-manage db
    sync); a file made before migrations is adopted in place. Returns the revisions."""
    target = getattr(config, "database_connection", "") or config.db_path
    if not isinstance(target, str) and not target.exists():
        raise CloudError(f"no cloud in {config.home}: run `pocketstack init` first")
    try:
        db = dbm.open_db(target, migrate=False)
    except dbm.DatabaseError as e:
        raise CloudError(str(e)) from None
    try:
        before = dbm.current_revision(db)
        dbm.upgrade(db, revision)
        return {"database": db.url if db.engine == "sqlite" else dbm.safe_url(db.url),
                "before": before or "none (made before migrations)", "after": dbm.current_revision(db)}
    finally:
        db.close()
