"""Both database engines for the tests: a PostgreSQL cluster of the tests' own (initdb/pg_ctl
on a free port under a temporary directory, once per session), a fresh database per test
made from a migrated template, and the modules whose tests run on both engines."""
from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest

from backend.core import db as dbm
from backend.core.pgnode import PgNode

# these modules' tests that take the `config` fixture run on SQLite and on PostgreSQL
BOTH_ENGINES = {"test_flow", "test_services", "test_quota", "test_concurrency", "test_engines",
                "test_pg_restart"}
TEMPLATE = "pocketstack_template"


def pytest_generate_tests(metafunc):
    if "db_engine" in metafunc.fixturenames and metafunc.module.__name__.rsplit(".", 1)[-1] in BOTH_ENGINES:
        metafunc.parametrize("db_engine", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def db_engine(request):
    # POCKETSTACK_TEST_DATABASE=postgresql: every other test that takes `config` on PostgreSQL
    return getattr(request, "param", os.environ.get("POCKETSTACK_TEST_DATABASE", "sqlite"))


@pytest.fixture(scope="session")
def pg_cluster():
    """One cluster for the session, under a directory the postgres user can reach."""
    base = Path(tempfile.mkdtemp(prefix="pocketstack-pg-", dir="/tmp"))
    base.chmod(0o755)
    node = PgNode(base / "cluster", dbname=TEMPLATE).start()
    dbm.open_db(node.url).close()  # the template at the newest revision
    yield node
    node.destroy()
    base.rmdir()


def fresh_database(node: PgNode) -> str:
    name = "t_" + uuid.uuid4().hex[:16]
    with psycopg.connect(node.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    return node.url.rsplit("/", 1)[0] + "/" + name


def drop_database(node: PgNode, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(node.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_connection(db_engine, request):
    """'' (the state directory's SQLite file, the default) or a fresh PostgreSQL database."""
    if db_engine == "sqlite":
        yield ""
        return
    node = request.getfixturevalue("pg_cluster")
    url = fresh_database(node)
    yield url
    drop_database(node, url)


def on_database(config, url: str):
    """The config with its database: '' = the state directory's SQLite file."""
    config.database_connection = url
    return config


def dbconnect(config):
    """A connection of the data-access layer to the config's database (either engine), for
    tests that look at the rows."""
    return dbm.open_db(getattr(config, "database_connection", "") or config.db_path).conn
