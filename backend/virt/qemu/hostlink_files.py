"""The SFTP half of HostLink (backend.virt.qemu.hostlink): file transfers and small reads over the
host's kept connection, on two SFTP channels ("transfer" and "reads"), one call at a time on
each. A mixin: it uses the link's transport(), _lost() and drop()."""
from __future__ import annotations

import os
import socket
import stat as stat_mod

import paramiko


def _transport_of(s: paramiko.SFTPClient) -> paramiko.Transport | None:
    ch = s.get_channel()
    return ch.get_transport() if ch is not None else None


class HostFiles:
    def sftp(self, lane: str = "transfer") -> paramiko.SFTPClient:
        t = self.transport()
        s = self._sftp[lane]
        if s is None or s.get_channel() is None or s.get_channel().closed:
            try:
                s = paramiko.SFTPClient.from_transport(t)
            except (paramiko.SSHException, EOFError, OSError) as e:
                raise self._lost("cannot open SFTP", e) from None
            s.get_channel().settimeout(self.command_timeout)
            self._sftp[lane] = s
        return s

    def _sftp_call(self, what: str, fn, lane: str = "transfer"):
        """One SFTP operation, alone on its lane's SFTP channel (_sftp_locks[lane]).

        The lock only holds if nothing outlives the call: paramiko's SFTPFile.prefetch()
        sends its read requests from a thread of its own, outside any lock, and that thread
        can still be sending after the file was read and closed (its "done" flag is set
        as soon as the responses so far are in, before it has sent them all; a thread
        starved of the GIL on a busy machine lags by milliseconds). Its packets then land
        in the middle of the next caller's multi-part SFTP write (a put), the server reads
        garbage and drops the channel: "SFTP put ... failed". So reads here never prefetch
        (get() neither: paramiko's getfo prefetches by default).
        """
        with self._sftp_locks[lane]:
            s = self.sftp(lane)
            try:
                return fn(s)
            except (EOFError, paramiko.SSHException, paramiko.SFTPError, socket.timeout) as e:
                raise self._lost(f"SFTP {what} failed", e, _transport_of(s)) from None
            except OSError as e:
                ch = s.get_channel()
                if ch is None or ch.closed or not self.connected:  # the channel died under us
                    raise self._lost(f"SFTP {what} failed", e, _transport_of(s)) from None
                raise  # a status from the server (no such file, permission denied...)

    def put(self, local_path: str | os.PathLike, remote_path: str, callback=None) -> int:
        size = os.path.getsize(local_path)

        def _put(s):
            with open(local_path, "rb") as f:
                s.putfo(f, remote_path, file_size=size, callback=callback, confirm=True)
        self._sftp_call(f"put {remote_path}", _put)
        self.bytes_sent += size
        return size

    def write_file(self, remote_path: str, data: bytes, mode: int | None = None) -> None:
        def _w(s):
            with s.open(remote_path, "wb") as f:
                f.write(data)
            if mode is not None:
                s.chmod(remote_path, mode)
        self._sftp_call(f"write {remote_path}", _w)
        self.bytes_sent += len(data)

    def get(self, remote_path: str, local_path: str | os.PathLike) -> None:
        # no prefetch: its thread would share the channel outside the lock (see _sftp_call)
        self._sftp_call(f"get {remote_path}",
                        lambda s: s.get(remote_path, str(local_path), prefetch=False))

    def read_file(self, remote_path: str, tail_bytes: int | None = None) -> bytes:
        """The file's content (its last tail_bytes only, when given: never more, even of a
        file growing meanwhile). Plain sequential reads in this thread, never prefetch() (see
        _sftp_call): the files read here are small (launch.json, console tails), a 64 KiB
        tail is two 32 KiB requests."""
        def _r(s):
            with s.open(remote_path, "rb") as f:
                left = None
                if tail_bytes is not None:
                    size = f.stat().st_size
                    f.seek(max(0, size - tail_bytes))
                    left = tail_bytes
                chunks = []
                while left is None or left > 0:  # to EOF, or tail_bytes
                    data = f.read(1 << 15 if left is None else min(1 << 15, left))
                    if not data:
                        break
                    chunks.append(data)
                    if left is not None:
                        left -= len(data)
                return b"".join(chunks)
        return self._sftp_call(f"read {remote_path}", _r, lane="reads")

    def exists(self, remote_path: str) -> bool:
        def _e(s):
            try:
                s.stat(remote_path)
                return True
            except FileNotFoundError:
                return False
        return self._sftp_call(f"stat {remote_path}", _e, lane="reads")

    def is_dir(self, remote_path: str) -> bool:
        def _d(s):
            try:
                return stat_mod.S_ISDIR(s.stat(remote_path).st_mode)
            except FileNotFoundError:
                return False
        return self._sftp_call(f"stat {remote_path}", _d, lane="reads")
