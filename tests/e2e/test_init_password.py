"""`pocketstack init` takes the admin password from OS_PASSWORD or asks for it on the terminal;
never from the command line, where every user of the machine can read it (ps)."""
from __future__ import annotations

import os
import pty
import select
import sqlite3
import subprocess
import time

import bcrypt
import pytest

from e2ehelp import BIN


def _env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update({"POCKETSTACK_HOME": str(tmp_path / "home"), "HOME": str(tmp_path)})
    return env


def _admin_hash(tmp_path) -> bytes:
    db = sqlite3.connect(tmp_path / "home" / "pocketstack.db")
    try:
        return db.execute("SELECT password_hash FROM users WHERE name='admin'").fetchone()[0].encode()
    finally:
        db.close()


def test_init_refuses_a_password_on_the_command_line(tmp_path):
    p = subprocess.run([str(BIN / "pocketstack"), "init", "--admin-password", "s3cret"], env=_env(tmp_path),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "--admin-password" in p.stderr
    assert not (tmp_path / "home").exists()


def test_init_without_a_password_or_terminal_says_how(tmp_path):
    p = subprocess.run([str(BIN / "pocketstack"), "init"], env=_env(tmp_path), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "OS_PASSWORD" in p.stderr
    assert not (tmp_path / "home" / "pocketstack.db").exists()


def test_init_reads_os_password(tmp_path):
    p = subprocess.run([str(BIN / "pocketstack"), "init"], env=dict(_env(tmp_path), OS_PASSWORD="from-env"),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert bcrypt.checkpw(b"from-env", _admin_hash(tmp_path))


def _converse(argv, env, answers: list[str], timeout: float = 60) -> tuple[int, str]:
    """Run argv on a new pseudo-terminal, typing each answer after each 'password'/'Repeat'
    prompt; returns the exit status and everything shown on the terminal."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: its controlling terminal is the pty, as in a shell
        os.execve(argv[0], argv, env)
    shown, pending = b"", list(answers)
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
            tail = shown.rsplit(b"\n", 1)[-1].lower()
            if pending and tail.rstrip().endswith(b":"):
                os.write(fd, pending.pop(0).encode() + b"\n")
        else:
            os.kill(pid, 9)
            raise AssertionError(f"init did not finish in {timeout} s: {shown!r}")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def test_init_asks_on_the_terminal_and_does_not_echo(tmp_path):
    rc, shown = _converse([str(BIN / "pocketstack"), "init"], _env(tmp_path), ["typed-pw", "typed-pw"])
    assert rc == 0, shown
    assert "password" in shown.lower() and "typed-pw" not in shown
    assert bcrypt.checkpw(b"typed-pw", _admin_hash(tmp_path))


@pytest.mark.parametrize("answers", [["one", "two"], ["", ""]], ids=["differ", "empty"])
def test_init_refuses_a_mistyped_or_empty_password(tmp_path, answers):
    rc, shown = _converse([str(BIN / "pocketstack"), "init"], _env(tmp_path), answers)
    assert rc == 1, shown
    assert not (tmp_path / "home" / "pocketstack.db").exists()


def test_user_create_asks_for_the_password_on_the_terminal(server):
    """openstack's --password-prompt habit: the new user's password never sits in argv."""
    argv = [str(BIN / "pocketstack"), "user", "create", "prompted-user", "--password-prompt", "-f", "json"]
    rc, shown = _converse(argv, server.env, ["typed-pw-3", "typed-pw-3"])
    assert rc == 0, shown
    assert "password" in shown.lower() and "typed-pw-3" not in shown
    db = sqlite3.connect(str(server.home / "pocketstack.db"))
    (hashed,) = db.execute("SELECT password_hash FROM users WHERE name='prompted-user'").fetchone()
    db.close()
    assert bcrypt.checkpw(b"typed-pw-3", hashed.encode())
    rc, shown = _converse(argv[:3] + ["other-user", "--password-prompt"], server.env, ["a", "b"])
    assert rc != 0 and "differ" in shown
