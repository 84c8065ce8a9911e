"""`cluster up --database postgresql`: the cluster's PostgreSQL of our own
(backend/core/pgnode.py) under <state directory>/cluster/pg, kept across `down`/`up`."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from backend.core import db as dbm
from backend.core.config import Config
from backend.core.pgnode import PgError, PgNode


def start(config: Config, state: dict, log, allow: tuple[str, str] | None = None) -> str:
    """The cluster's PostgreSQL (made on the first `up`, kept by `down`); its URL. A database
    with no cloud yet gets one (`pocketstack init`'s work; the admin password: OS_PASSWORD).
    allow (address, cidr): also listen there for clients of that subnet (state's
    database_lab names the URL they use)."""
    from backend.cli import cluster as cl
    from backend.facade import Cloud
    pg = cl.cluster_dir(config) / "pg"
    old = (cl._state(config) or {}).get("postgres") or {}
    # the server runs as the postgres user: it must get through the state directory (0711:
    # through, not list; everything inside stays 0600/0700)
    for d in (config.home, cl.cluster_dir(config)):
        os.chmod(d, 0o711)
    node = PgNode(pg, port=old.get("port") if old.get("dir") == str(pg) else None)
    state["postgres"] = {"dir": str(pg), "port": node.port}
    if allow:
        node.allow(*allow)
    cl._save(config, state)
    log(f"postgresql: starting on 127.0.0.1:{node.port} ({pg})")
    try:
        node.start()
    except PgError as e:
        raise cl.ClusterError(f"{e} (the state directory's parents must be searchable by the postgres "
                           "user: set [DEFAULT] state_path or POCKETSTACK_HOME elsewhere, e.g. "
                           "/var/lib/pocketstack)") from None
    db = dbm.open_db(node.url)
    try:
        new = dbm.row(db, "SELECT count(*) n FROM users")["n"] == 0
    finally:
        db.close()
    if new:
        password = os.environ.get("OS_PASSWORD")
        if not password:
            raise cl.ClusterError("the PostgreSQL database has no cloud yet: set OS_PASSWORD (the admin's "
                               "password) and run `cluster up --database postgresql` again")
        Cloud.init(dataclasses.replace(config, database_connection=node.url), password)
        for d in (config.home, cl.cluster_dir(config)):  # init closes the state directory again
            os.chmod(d, 0o711)
    if allow:
        state["database_lab"] = node.url_at(allow[0])
    return node.url


def stop(state: dict, log) -> None:
    pg = state.get("postgres")
    if pg and Path(pg["dir"]).exists():
        node = PgNode(Path(pg["dir"]), port=pg["port"])
        node.stop()
        log(f"postgresql: stopped (data kept in {pg['dir']})")
