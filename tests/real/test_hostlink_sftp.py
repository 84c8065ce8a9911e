"""HostLink's SFTP channel shared by an image upload and console reads (real sshd)."""
from __future__ import annotations

import hashlib
import os
import threading
import time

import paramiko.sftp_file
import pytest

from backend.virt.qemu.hostlink import HostLink

pytestmark = pytest.mark.real


def test_put_while_console_tail_reads_loop(hosts, tmp_path, monkeypatch):
    """An image upload (put) while another thread keeps reading the tail of a growing
    console log, as the app does when it shows a guest's console during a first boot.

    Before the fix read_file used paramiko's prefetch(), whose thread sends read requests
    outside any lock and can outlive the read; its packets landed inside the put's
    multi-part writes and the server dropped the SFTP channel ("SFTP put ...part...
    failed:", seen 2 runs in 6 on a loaded 2-core machine). The lag of a thread starved of
    the GIL is made certain here by slowing paramiko's prefetch thread down."""
    started = []
    orig = paramiko.sftp_file.SFTPFile._prefetch_thread

    def starved(self, chunks, max_requests):
        started.append(len(chunks))
        orig(self, chunks[:1], max_requests)
        time.sleep(0.03)  # no GIL for a moment: the reader has finished and closed meanwhile
        orig(self, chunks[1:], max_requests)
    monkeypatch.setattr(paramiko.sftp_file.SFTPFile, "_prefetch_thread", starved)

    h = hosts["lab-1"]
    link, writer = HostLink(h), HostLink(h)  # writer: the guest's side, its own connection
    # in the host's state dir: the lab user's home is root's, not writable
    _, d, _ = link.sh('mkdir -p "$1/sftp-race" && cd "$1/sftp-race" && pwd', h.state_dir)
    d = d.strip()
    log = f"{d}/console.log"
    big = tmp_path / "image.raw"
    payload = os.urandom(24 << 20)
    big.write_bytes(payload)
    link.write_file(log, b"boot\n" * 20000)  # > 64 KiB from the start
    stop = threading.Event()
    errors, reads = [], [0]

    def grow():
        writer.sh('while [ ! -e "$2" ]; do echo "console line $(date +%s%N) ......................" >> "$1";'
                  ' sleep 0.002; done', log, f"{d}/stop", timeout=300, check=False)

    def tail_reader():
        while not stop.is_set():
            try:
                data = link.read_file(log, tail_bytes=65536)
                assert len(data) >= 65536 and data.endswith(b"\n"), len(data)
                reads[0] += 1
            except Exception as e:  # noqa: BLE001 - every failure is the finding
                errors.append(f"read: {type(e).__name__}: {e}")
    threads = [threading.Thread(target=grow, daemon=True), threading.Thread(target=tail_reader, daemon=True)]
    try:
        for t in threads:
            t.start()
        for i in range(8):
            try:
                link.put(big, f"{d}/image.part.{i}")
                _, out, _ = link.run(["sha256sum", f"{d}/image.part.{i}"])
                assert out.split()[0] == hashlib.sha256(payload).hexdigest()
            except Exception as e:  # noqa: BLE001
                errors.append(f"put {i}: {type(e).__name__}: {e}")
            link.run(["rm", "-f", f"{d}/image.part.{i}"], check=False)
        link.get(log, tmp_path / "console.log")  # a whole file, without prefetch too
        assert (tmp_path / "console.log").stat().st_size > 100000
    finally:
        stop.set()
        writer.run(["touch", f"{d}/stop"], check=False)
        for t in threads:
            t.join(60)
        link.run(["rm", "-rf", d], check=False)
        link.close()
        writer.close()
    assert not errors, errors
    assert reads[0] >= 8
    assert started == []  # no prefetch thread ever shares the channel


def test_sftp_errors_are_never_empty(hosts, tmp_path):
    """paramiko raises EOFError() and socket.timeout() without a message, and OSError
    "Socket is closed" when the channel died: the error still says what happened, and the
    link recovers on the next call."""
    import socket

    from backend.virt.driver import HostUnreachable
    link = HostLink(hosts["lab-1"])
    part = f"{hosts['lab-1'].state_dir}/x.part"
    src = tmp_path / "x"
    src.write_bytes(b"x" * 100000)

    def dies(s):
        s.get_channel().close()  # the channel dies under the put
        s.putfo(open(src, "rb"), part)

    def raiser(exc):
        def fn(s):
            raise exc
        return fn
    try:
        for fn, name in ((dies, "OSError"), (raiser(EOFError()), "EOFError"),
                         (raiser(socket.timeout()), "TimeoutError")):
            with pytest.raises(HostUnreachable) as e:
                link._sftp_call("put x.part", fn)
            reason = str(e.value).split("SFTP put x.part failed:", 1)[1].strip()
            assert reason.startswith(name), str(e.value)
            assert link.exists("/")  # reconnected
        with pytest.raises(FileNotFoundError):  # a server status stays what it is
            link.read_file("no-such-file")
        assert link.exists("/")
    finally:
        link.run(["rm", "-f", part], check=False)
        link.close()


def test_console_read_does_not_wait_for_an_upload(hosts, tmp_path):
    """Reads (console tails, exists) have an SFTP channel of their own: while an image upload
    is in progress -- held still here, halfway -- they answer at once instead of after it."""
    link = HostLink(hosts["lab-1"])
    d = hosts["lab-1"].state_dir
    part, log = f"{d}/upload.part", f"{d}/console.log"
    big = tmp_path / "image.raw"
    big.write_bytes(os.urandom(8 << 20))
    halfway, release = threading.Event(), threading.Event()

    def progress(done, total):
        if done >= total // 2 and not halfway.is_set():
            halfway.set()
            release.wait(30)
    up = threading.Thread(target=link.put, args=(big, part), kwargs={"callback": progress})
    try:
        link.write_file(log, b"x" * 100 + b"\nlast line\n")
        up.start()
        assert halfway.wait(30)
        got = []
        reader = threading.Thread(target=lambda: got.append(link.read_file(log, 20)))
        reader.start()
        reader.join(5)
        assert got == [b"x" * 9 + b"\nlast line\n"]  # while the put is still halfway
        assert link.exists(log) and up.is_alive()
    finally:
        release.set()
        if up.ident is not None:
            up.join(60)
        link.run(["rm", "-f", part, log], check=False)
        link.close()
