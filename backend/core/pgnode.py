"""A PostgreSQL cluster of our own: Debian's postgresql binaries on a free loopback port, with
its data directory (and its socket) under a state directory. The machine's system service, its
clusters and its port are never touched.

initdb and the server refuse to run as root: as root they run as the `postgres` user, who
then owns the data directory. Every connection authenticates (scram-sha-256) with a password
made at initdb and kept in the cluster's directory (0600): the cluster may listen on an address
the lab's namespaces reach, and other local users must not get at the cloud's database."""
from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

BIN = Path(os.environ.get("POCKETSTACK_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PgError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgNode:
    """start() / stop() / restart(); url is the `[database] connection` clients use. The port is
    chosen once, so a restarted cluster comes back where its clients left it."""

    def __init__(self, base: Path, dbname: str = "pocketstack", port: int | None = None,
                 listen: str = "127.0.0.1"):
        if not (BIN / "initdb").exists():
            raise PgError(f"PostgreSQL is not installed ({BIN}/initdb missing; scripts/setup.sh installs it)")
        self.base = Path(base)
        self.data = self.base / "data"
        self.port = port or free_port()
        self.listen = listen
        self.dbname = dbname
        self.user = "postgres"

    @property
    def password(self) -> str:
        return (self.base / "password").read_text().strip()

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.listen}:{self.port}/{self.dbname}"

    @property
    def local_url(self) -> str:
        """The same database over the cluster's Unix socket: for processes on this machine
        (a round trip costs about a third less than over loopback TCP)."""
        return f"postgresql://{self.user}:{self.password}@/{self.dbname}?host={self.base}&port={self.port}"

    def _as_owner(self, argv: list[str], **kw) -> subprocess.CompletedProcess:
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            kw["user"], kw["group"], kw["extra_groups"] = pw.pw_uid, pw.pw_gid, []
            kw["env"] = {"PATH": os.environ.get("PATH", ""), "HOME": pw.pw_dir, "LANG": "C.UTF-8"}
        pwfile = self.base / "password"
        if pwfile.exists():
            kw["env"] = dict(kw.get("env") or os.environ, PGPASSWORD=pwfile.read_text().strip())
        return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, **kw)

    def _prepare(self):
        self.base.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            return
        pw = pwd.getpwnam("postgres")
        os.chown(self.base, pw.pw_uid, pw.pw_gid)
        os.chmod(self.base, 0o700)
        for parent in self.base.resolve().parents:  # the server runs as that user: it must get there
            st = parent.stat()
            if not (st.st_mode & 0o001 or (st.st_uid == pw.pw_uid and st.st_mode & 0o100)):
                raise PgError(f"the postgres user cannot reach {self.base}: {parent} is not searchable "
                              "by others; put the cluster's directory elsewhere")

    def start(self, timeout: float = 60.0) -> "PgNode":
        self._prepare()
        if not (self.data / "PG_VERSION").exists():
            pwfile = self.base / "password"
            pwfile.write_text(secrets.token_hex(16) + "\n")
            pwfile.chmod(0o600)
            if os.geteuid() == 0:
                pw = pwd.getpwnam("postgres")
                os.chown(pwfile, pw.pw_uid, pw.pw_gid)
            # C collation: text sorts by bytes, as SQLite's default BINARY collation does
            r = self._as_owner([str(BIN / "initdb"), "-D", str(self.data), "-A", "scram-sha-256",
                                f"--pwfile={pwfile}", "-U", self.user, "-E", "UTF8", "--locale=C", "--no-sync"],
                               timeout=timeout)
            if r.returncode != 0:
                raise PgError(f"initdb failed: {(r.stderr or r.stdout).strip()[-300:]}")
        self._allow_hba()
        # synchronous_commit=off, as the SQLite file's synchronous=NORMAL: a commit does not
        # wait for its fsync (3-5 ms here, per state change); the WAL is flushed within
        # 3 x wal_writer_delay, a crash loses at most that and never corrupts
        listen = ",".join((self.listen, *getattr(self, "also_listen", ())))
        opts = (f"-p {self.port} -k {self.base} -c listen_addresses={listen}"
                " -c max_connections=200 -c synchronous_commit=off")
        r = self._as_owner([str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.base / "server.log"),
                            "-o", opts, "-w", "-t", str(int(timeout)), "start"], timeout=timeout + 10)
        if r.returncode != 0:
            log = (self.base / "server.log")
            tail = log.read_text(errors="replace")[-400:] if log.exists() else ""
            raise PgError(f"PostgreSQL on port {self.port} did not start: "
                          f"{(r.stderr or r.stdout).strip()[-200:]} {tail}".strip())
        self._create_database()
        return self

    def allow(self, address: str, cidr: str) -> "PgNode":
        """Also listen on `address` and let clients from `cidr` in with the password
        (scram-sha-256), e.g. compute processes in the lab's namespaces; call before start()."""
        self.also_listen = (*getattr(self, "also_listen", ()), address)
        self.allowed = (*getattr(self, "allowed", ()), cidr)
        return self

    def url_at(self, address: str) -> str:
        return f"postgresql://{self.user}:{self.password}@{address}:{self.port}/{self.dbname}"

    def _allow_hba(self):
        hba = self.data / "pg_hba.conf"
        text = hba.read_text()
        lines = [f"host all all {c} scram-sha-256" for c in getattr(self, "allowed", ())]
        new = [ln for ln in lines if ln not in text.splitlines()]
        if new:
            hba.write_text(text.rstrip("\n") + "\n" + "\n".join(new) + "\n")

    def _create_database(self):
        r = self._as_owner([str(BIN / "psql"), "-h", str(self.base), "-p", str(self.port), "-U", self.user,
                            "-d", "postgres", "-tAc", f"SELECT 1 FROM pg_database WHERE datname='{self.dbname}'"],
                           timeout=30)
        if r.stdout.strip() == "1":
            return
        r = self._as_owner([str(BIN / "createdb"), "-h", str(self.base), "-p", str(self.port), "-U", self.user,
                            self.dbname], timeout=30)
        if r.returncode != 0:
            raise PgError(f"createdb {self.dbname} failed: {r.stderr.strip()[-300:]}")

    def running(self) -> bool:
        r = self._as_owner([str(BIN / "pg_ctl"), "-D", str(self.data), "status"], timeout=30)
        return r.returncode == 0

    def stop(self, mode: str = "fast"):
        """fast: clients are disconnected, open transactions roll back (what a restart does to
        the cloud's processes); immediate: as a crash."""
        if not (self.data / "postmaster.pid").exists():
            return
        r = self._as_owner([str(BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"], timeout=90)
        if r.returncode != 0 and (self.data / "postmaster.pid").exists():
            raise PgError(f"PostgreSQL on port {self.port} did not stop: {r.stderr.strip()[-300:]}")

    def restart(self, mode: str = "fast"):
        self.stop(mode)
        self.start()

    def destroy(self):
        """Stop the cluster and remove its directory."""
        self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)


def wait_until_up(url: str, timeout: float = 30.0):
    """Poll until the cluster at url answers (for processes started elsewhere)."""
    import psycopg
    end = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            return
        except psycopg.OperationalError as e:
            if time.monotonic() > end:
                raise PgError(f"PostgreSQL at {url} does not answer: {e}") from None
            time.sleep(0.1)
