"""`pocketstack server console attach NAME` in a real terminal (a pty) against a real
`pocketstack serve` on the fake driver: keys reach the guest's shell, its answers come back,
ctrl-] detaches and the terminal is as it was."""
from __future__ import annotations

import os
import select
import subprocess
import termios
import time

from e2ehelp import BIN


class Term:
    """The master side of a pty; what was read past a match stays for the next read."""

    def __init__(self, fd: int):
        self.fd, self.buf = fd, b""

    def read_until(self, text: bytes, timeout: float = 20.0) -> bytes:
        got = read_until(self.fd, text, timeout, self.buf)
        cut = got.index(text) + len(text)
        self.buf = got[cut:]
        return got[:cut]


def read_until(fd: int, text: bytes, timeout: float = 20.0, got: bytes = b"") -> bytes:
    end = time.monotonic() + timeout
    while text not in got:
        left = end - time.monotonic()
        assert left > 0, f"{text!r} not seen; got {got[-400:]!r}"
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the other side of the pty is gone
                chunk = b""
            assert chunk, f"the terminal closed before {text!r}; got {got[-400:]!r}"
            got += chunk
    return got


def test_attach_type_and_detach_with_ctrl_bracket(server):
    p = server.run("pocketstack", "server", "create", "--image", "cirros-con", "--flavor", "m1.nano",
                   "--network", "private", "--wait", "con-vm", check=False)
    if p.returncode != 0:  # the module's server has no image yet: upload one
        img = server.home.parent / "con.raw"
        img.write_bytes(b"\0" * 65536)
        server.run("pocketstack", "image", "create", "cirros-con", "--file", str(img))
        server.run("pocketstack", "server", "create", "--image", "cirros-con", "--flavor", "m1.nano",
                   "--network", "private", "--wait", "con-vm")
    master, slave = os.openpty()
    term = Term(master)
    before = termios.tcgetattr(slave)
    proc = subprocess.Popen([str(BIN / "pocketstack"), "server", "console", "attach", "con-vm"],
                            env=server.env, stdin=slave, stdout=slave, stderr=slave)
    try:
        term.read_until(b"Escape character is ^]")
        term.read_until(b"/ # ")
        # raw terminal: the guest's tty echoes, not ours; ctrl-C goes to the guest, not the CLI
        os.write(master, b"hostname\r")
        out = term.read_until(b"con-vm\r\n")
        assert out.count(b"hostname") == 1
        os.write(master, b"not-a-command\x03")
        term.read_until(b"^C")
        os.write(master, b"echo still here\r")
        term.read_until(b"still here\r\n")
        assert proc.poll() is None
        os.write(master, b"\x1d")  # ctrl-]
        term.read_until(b"Detached from con-vm")
        assert proc.wait(20) == 0
        assert termios.tcgetattr(slave) == before  # the terminal is cooked again
        # the console is free again: attach once more and leave at once
        again = subprocess.Popen([str(BIN / "pocketstack"), "server", "console", "attach", "con-vm"],
                                 env=server.env, stdin=slave, stdout=slave, stderr=slave)
        term.read_until(b"/ # ")
        os.write(master, b"\x1d")
        assert again.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
        os.close(slave)


def test_the_openstack_cli_gets_a_serial_console_url_that_attaches(server):
    """`openstack console url show --serial` (nova 2.1's os-getSerialConsole action) answers a
    URL whose token attaches once."""
    import json
    from websockets.sync.client import connect
    server.run("pocketstack", "server", "show", "con-vm")  # made by the test above
    got = json.loads(server.run("openstack", "console", "url", "show", "--serial", "con-vm",
                                "-f", "json").stdout)
    assert got["type"] == "serial" and got["url"].startswith(f"ws://127.0.0.1:{server.port}/pocketstack/v1/console?token=")
    with connect(got["url"], open_timeout=10) as ws:
        ws.send(b"hostname\r")
        seen = b""
        while b"con-vm\r\n" not in seen:
            seen += ws.recv(timeout=10)
    with connect(got["url"], open_timeout=10) as ws:  # used: closed 4401
        try:
            ws.recv(timeout=10)
            raise AssertionError("a used token attached")
        except Exception as e:  # ConnectionClosedError
            assert getattr(getattr(e, "rcvd", None), "code", None) == 4401, e
