"""`pocketstack db sync`: a state directory's database made before migrations is upgraded in
place and says from which revision to which; a missing cloud is named."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from backend.core import db as dbm

OLD_DUMP = Path(__file__).with_name("made_before_migrations.sql")


def run_cli(home: Path, *args):
    env = dict(os.environ, POCKETSTACK_HOME=str(home))
    env.pop("POCKETSTACK_DATABASE_CONNECTION", None)
    return subprocess.run([sys.executable, "-m", "backend.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_db_sync_upgrades_a_file_from_before_migrations(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    c = sqlite3.connect(home / "pocketstack.db")
    c.executescript(OLD_DUMP.read_text())
    c.close()
    r = run_cli(home, "db", "sync")
    assert r.returncode == 0, r.stderr
    assert "before: none (made before migrations)" in r.stdout and f"after: {dbm.HEAD}" in r.stdout
    db = dbm.open_db(home / "pocketstack.db", migrate=False)
    assert dbm.current_revision(db) == dbm.HEAD
    assert dbm.row(db, "SELECT count(*) n FROM instances")["n"] == 1
    again = run_cli(home, "db", "sync")
    assert again.returncode == 0 and f"before: {dbm.HEAD}" in again.stdout


def test_db_sync_without_a_cloud_says_so(tmp_path):
    r = run_cli(tmp_path / "nothing", "db", "sync")
    assert r.returncode == 1 and "no cloud in" in r.stderr and "pocketstack init" in r.stderr
    assert not (tmp_path / "nothing").exists()
