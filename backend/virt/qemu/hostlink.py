"""The SSH link to one compute host (paramiko).

One connection per host, opened on first use and kept (transport keepalive): a command over
the kept connection costs one channel round trip (~45 ms here) instead of a TCP + key
exchange + auth (~60 ms more). Every command and every SFTP transfer reuses it; a dead
connection is reopened with backoff.

A host cut off the network sends no RST: without more, an upload or a command in flight
would wait for its own timeout (a minute) and every retry for its connect timeout. So the
socket has TCP_USER_TIMEOUT (dead_after) and the transport sends a keepalive every few seconds:
data unacknowledged for dead_after makes the kernel abort the connection, which ends every
call in flight on it at once (LinkDead). For dead_after after that, calls fail at once without
reconnecting; the heartbeat's ping still tries, and a connect that succeeds clears it.

Host keys are checked only against the host's own known_hosts file with RejectPolicy: an
unknown or changed key is refused (HostUnreachable naming the host), never accepted.

Commands are argument lists; each argument is shlex-quoted, so names and other user input
never reach the remote shell unquoted.
"""
from __future__ import annotations

import errno
import logging
import os
import select
import shlex
import socket
import threading
import time

import paramiko
from tenacity import (RetryError, retry_if_exception, stop_after_attempt, wait_exponential,
                      Retrying)

from backend.virt.qemu.hostlink_files import HostFiles
from backend.virt.driver import DriverError, HostUnreachable

log = logging.getLogger(__name__)
# paramiko logs a lost connection at ERROR from its transport thread; with no logging set up
# that would go raw to stderr (over the app's screen). We report it as HostUnreachable instead;
# a configured root handler still receives paramiko's records.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


class CommandError(DriverError):
    """A remote command exited non-zero (check=True)."""

    def __init__(self, host: str, argv: list[str], rc: int, stderr: str):
        super().__init__(f"host {host}: {argv[0]} exited {rc}: {stderr.strip()[-500:]}")
        self.rc, self.stderr, self.argv = rc, stderr, argv


class CommandTimeout(DriverError):
    pass


class LinkDead(HostUnreachable):
    """The host stopped acknowledging (its link is cut, it froze), or a connect timed out."""


class _HostKeyRefused(Exception):
    pass


def _retryable(exc: BaseException) -> bool:
    # a refused host key or a failed login does not get better by retrying, nor does a host
    # that let a connect time out or has no route (it would only cost as long again)
    return not (isinstance(exc, (_HostKeyRefused, paramiko.AuthenticationException, TimeoutError))
                or _unanswered(exc))


_GONE = (errno.ETIMEDOUT, errno.EHOSTUNREACH, errno.ENETUNREACH)


def _unanswered(exc: BaseException | None) -> bool:
    """The kernel gave up on the host: TCP_USER_TIMEOUT (ETIMEDOUT, or the ICMP error it saw
    meanwhile), or no route to it; not a socket timeout of ours (socket.timeout is a
    TimeoutError too, with no errno). paramiko's NoValidConnectionsError holds one per address."""
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        return bool(exc.errors) and all(_unanswered(e) for e in exc.errors.values())
    return isinstance(exc, OSError) and exc.errno in _GONE


class _WatchedSocket(socket.socket):
    """The connection's socket, remembering why the kernel failed it: paramiko turns a failed
    send into a bare EOFError, and the errno (ETIMEDOUT: TCP_USER_TIMEOUT) is what tells a
    dead link from a closed connection."""
    failed: OSError | None = None

    def _watch(self, fn, *a):
        try:
            return fn(*a)
        except OSError as e:
            if e.errno is not None and e.errno != errno.EAGAIN:
                self.failed = e
            raise

    def send(self, *a):
        return self._watch(super().send, *a)

    def sendall(self, *a):
        return self._watch(super().sendall, *a)

    def recv(self, *a):
        return self._watch(super().recv, *a)


def _gone(t: paramiko.Transport | None) -> bool:
    """The transport died of its host not answering (as its socket or its thread saw it)."""
    return t is not None and (_unanswered(getattr(t, "saved_exception", None))
                              or _unanswered(getattr(t.sock, "failed", None)))


def _describe(e: BaseException) -> str:
    """An exception as text that is never empty: paramiko raises socket.timeout() and
    EOFError() without a message."""
    text = str(e).strip()
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def quote_argv(argv: list[str]) -> str:
    return " ".join(shlex.quote(str(a)) for a in argv)


class HostLink(HostFiles):
    MAX_CHANNELS = 8
    def __init__(self, host, connect_timeout: float = 10.0, command_timeout: float = 60.0,
                 keepalive: float = 2.0, connect_attempts: int = 3, dead_after: float = 10.0):
        self.host = host  # backend.core.hosts.HostConfig
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        # keepalive: so a silent connection has unacknowledged data when its host is gone;
        # dead_after: TCP_USER_TIMEOUT (kernel ACKs do not slow down when the host is busy)
        self.keepalive = keepalive
        self.dead_after = dead_after
        self.connect_attempts = connect_attempts
        self._dead: tuple[float, str] | None = None  # (monotonic time, why): see LinkDead
        self.bytes_sent = 0        # file/stdin payload bytes sent to the host
        self.connects = 0          # how many times a connection was opened
        self._client: paramiko.SSHClient | None = None
        # two SFTP channels: "transfer" (put, write_file, get: an image upload holds it for a
        # minute on a loaded host) and "reads" (read_file, exists, is_dir: console tails and
        # the other small reads of the driver, which then never wait behind an upload)
        self._sftp: dict[str, paramiko.SFTPClient | None] = {"transfer": None, "reads": None}
        # _conn_lock guards opening/replacing the connection; _sftp_locks one SFTP call at a
        # time per channel. Commands run on their own channels of the shared transport (paramiko's
        # Transport is thread-safe); sshd serialises them anyway.
        self._conn_lock = threading.Lock()
        self._sftp_locks = {"transfer": threading.Lock(), "reads": threading.Lock()}
        self._channels = threading.BoundedSemaphore(self.MAX_CHANNELS)

    @property
    def name(self) -> str:
        return self.host.name

    # ---- connection -----------------------------------------------------------------
    def _open(self, timeout: float) -> paramiko.SSHClient:
        kh = self.host.known_hosts
        if not kh or not os.path.exists(kh):
            raise _HostKeyRefused(f"host {self.name}: no known_hosts file ({kh or 'none configured'}); "
                                  "refusing to trust an unverified host key")
        client = paramiko.SSHClient()
        client.load_host_keys(kh)  # only this file: never ~/.ssh/known_hosts, never auto-add
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            sock = self._socket(timeout)
            client.connect(self.host.address, port=self.host.port, username=self.host.user, sock=sock,
                           key_filename=self.host.key, timeout=timeout,
                           banner_timeout=timeout, auth_timeout=timeout, channel_timeout=timeout,
                           # no key configured: the usual ~/.ssh keys and agent, as ssh does
                           allow_agent=self.host.key is None,
                           look_for_keys=self.host.key is None)
        except paramiko.BadHostKeyException as e:
            client.close()
            raise _HostKeyRefused(f"host {self.name}: host key CHANGED for {self.host.address}:"
                                  f"{self.host.port} (got {e.key.get_name()} "
                                  f"{e.key.get_fingerprint().hex()}); refused") from None
        except paramiko.SSHException as e:
            client.close()
            if "known_hosts" in str(e) or "not found in" in str(e):
                raise _HostKeyRefused(f"host {self.name}: host key of {self.host.address}:"
                                      f"{self.host.port} not in {kh}; refused") from None
            raise
        except BaseException:
            client.close()
            raise
        client.get_transport().set_keepalive(self.keepalive)
        self.connects += 1
        return client

    def _socket(self, timeout: float) -> _WatchedSocket:
        err: OSError = OSError(f"no address for {self.host.address}")
        for family, kind, proto, _, addr in socket.getaddrinfo(self.host.address, self.host.port,
                                                               type=socket.SOCK_STREAM):
            sock = _WatchedSocket(family, kind, proto)
            try:
                sock.settimeout(timeout)
                # a command is several small packets (open, exec, eof): without TCP_NODELAY,
                # Nagle holds each back until the server's delayed ACK (~40 ms per round trip)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(self.dead_after * 1000))
                sock.connect(addr)
                return sock
            except OSError as e:
                sock.close()
                err = e
        raise err

    def transport(self, attempts: int | None = None, timeout: float | None = None,
                  probe: bool = False) -> paramiko.Transport:
        """The kept connection, (re)opened when needed. While the link is dead (LinkDead, for
        dead_after seconds) only a probe (the heartbeat's ping) tries to connect."""
        if not probe:
            self._check_dead()
        with self._conn_lock:
            if self._client is not None:
                t = self._client.get_transport()
                if t is not None and t.is_active():
                    return t
                if _gone(t):
                    self._mark_dead(f"nothing acknowledged for {self.dead_after:g} s")
                self._drop_locked()
                if not probe:
                    self._check_dead()
            try:
                for attempt in Retrying(stop=stop_after_attempt(attempts or self.connect_attempts),
                                        wait=wait_exponential(multiplier=0.2, max=2),
                                        retry=retry_if_exception(_retryable), reraise=True):
                    with attempt:
                        self._client = self._open(timeout or self.connect_timeout)
                self._dead = None
            except OSError as e:  # not even a SYN answered, or no route: the host is gone
                if not (isinstance(e, TimeoutError) or _unanswered(e)):
                    raise HostUnreachable(f"host {self.name}: cannot connect to {self.host.address}:"
                                          f"{self.host.port}: {_describe(e)}") from None
                self._mark_dead("a connect timed out")
                raise LinkDead(f"host {self.name}: link dead: cannot connect to {self.host.address}:"
                               f"{self.host.port}: {_describe(e)}") from None
            except _HostKeyRefused as e:
                raise HostUnreachable(str(e)) from None
            except paramiko.AuthenticationException as e:
                raise HostUnreachable(f"host {self.name}: SSH login as {self.host.user} "
                                      f"refused: {_describe(e)}") from None
            except (EOFError, paramiko.SSHException, RetryError) as e:
                raise HostUnreachable(f"host {self.name}: cannot connect to {self.host.address}:"
                                      f"{self.host.port}: {_describe(e)}") from None
            return self._client.get_transport()

    def _mark_dead(self, why: str) -> None:
        self._dead = (time.monotonic(), why)

    def _check_dead(self) -> None:
        dead = self._dead
        if dead is not None and time.monotonic() - dead[0] < self.dead_after:
            raise LinkDead(f"host {self.name}: link dead ({dead[1]}, {time.monotonic() - dead[0]:.0f} s "
                           f"ago); not reconnecting for {self.dead_after:g} s")

    def _lost(self, what: str, e: BaseException, t: paramiko.Transport | None = None) -> HostUnreachable:
        """The connection failed under `what` ("SFTP put x failed"...), t: the transport it
        used (another thread may have dropped it already): dropped. When the kernel gave up on
        it (nothing acknowledged for dead_after) the link is dead: LinkDead, and the calls after
        fail at once instead of each waiting out a connect timeout."""
        if t is None and self._client is not None:
            t = self._client.get_transport()
        dead = _unanswered(e) or _gone(t)
        self.drop()
        if dead or self._dead is not None:
            self._mark_dead(f"nothing acknowledged for {self.dead_after:g} s")
            return LinkDead(f"host {self.name}: {what}: link dead, nothing acknowledged for "
                            f"{self.dead_after:g} s")
        return HostUnreachable(f"host {self.name}: {what}: {_describe(e)}")

    def _drop_locked(self):
        for obj in (*self._sftp.values(), self._client):
            try:
                if obj is not None:
                    obj.close()
            except Exception:
                pass
        self._sftp = {lane: None for lane in self._sftp}
        self._client = None

    def drop(self):
        """Forget the connection (the next call reconnects)."""
        with self._conn_lock:
            self._drop_locked()

    close = drop

    @property
    def connected(self) -> bool:
        c = self._client
        t = c.get_transport() if c else None
        return bool(t and t.is_active())

    # ---- commands -------------------------------------------------------------------
    def run(self, argv: list[str], timeout: float | None = None, check: bool = True,
            input: bytes | str | None = None) -> tuple[int, str, str]:
        """Run argv on the host; returns (rc, stdout, stderr). Raises CommandError when
        check and rc != 0, CommandTimeout past the timeout, HostUnreachable when the host
        cannot be reached."""
        cmd = quote_argv(argv)
        timeout = self.command_timeout if timeout is None else timeout
        # sshd allows MaxSessions (default 10) channels per connection; the two SFTP channels
        # take two, so at most MAX_CHANNELS (8) commands run at once and the rest wait here
        if not self._channels.acquire(timeout=timeout):
            raise CommandTimeout(f"host {self.name}: {argv[0]} waited {timeout:.0f}s for a channel")
        try:
            chan = self._open_channel()
            try:
                return self._exec(chan, cmd, argv, timeout, check, input)
            except (EOFError, OSError, paramiko.SSHException) as e:
                if isinstance(e, TimeoutError) and not _unanswered(e) and self.connected:
                    raise CommandTimeout(f"host {self.name}: {argv[0]} timed out: {_describe(e)}") from None
                raise self._lost(f"connection lost during {argv[0]}", e, chan.get_transport()) from None
            finally:
                chan.close()
        finally:
            self._channels.release()

    def _open_channel(self) -> paramiko.Channel:
        for attempt in (1, 2):
            t = self.transport()
            try:
                return t.open_session(timeout=self.connect_timeout)
            except paramiko.ChannelException as e:  # refused by sshd; the connection is fine
                raise DriverError(f"host {self.name}: sshd refused a channel: {_describe(e)}") from None
            except (paramiko.SSHException, EOFError, OSError) as e:
                # the kept connection died under us (sshd restarted...): reconnect once;
                # nothing has run yet, so a retry is safe (a dead link fails at once)
                lost = self._lost("cannot open a channel", e)
                if attempt == 2 or isinstance(lost, LinkDead):
                    raise lost from None

    def _exec(self, chan, cmd, argv, timeout, check, input):
        deadline = time.monotonic() + timeout
        chan.exec_command(cmd)
        if input is not None:
            data = input.encode() if isinstance(input, str) else input
            chan.sendall(data)
            self.bytes_sent += len(data)
        chan.shutdown_write()
        chan.setblocking(False)
        out, err = [], []
        while True:
            while chan.recv_ready():
                out.append(chan.recv(1 << 16))
            while chan.recv_stderr_ready():
                err.append(chan.recv_stderr(1 << 16))
            if chan.eof_received and not chan.recv_ready() and not chan.recv_stderr_ready():
                break
            if chan.closed and not chan.recv_ready() and not chan.recv_stderr_ready():
                raise EOFError("channel closed before the command's end")  # its transport died
            left = deadline - time.monotonic()
            if left <= 0:
                raise CommandTimeout(f"host {self.name}: {argv[0]} timed out after {timeout:.0f}s")
            select.select([chan], [], [], min(left, 1.0))  # the channel's pipe wakes us on data/EOF
        if not chan.status_event.wait(max(0.0, deadline - time.monotonic())):
            raise CommandTimeout(f"host {self.name}: {argv[0]} gave no exit status in {timeout:.0f}s")
        rc = chan.exit_status
        if rc == -1 and not self.connected:  # closed with no exit status: the transport died
            raise EOFError("connection closed before the exit status")
        so = b"".join(out).decode(errors="replace")
        se = b"".join(err).decode(errors="replace")
        if check and rc != 0:
            raise CommandError(self.name, [str(a) for a in argv], rc, se)
        return rc, so, se

    def sh(self, script: str, *args: str, timeout: float | None = None, check: bool = True,
           input: bytes | None = None) -> tuple[int, str, str]:
        """Run a constant sh script with positional arguments ($1...): the script is ours,
        every value travels as a quoted argument, never spliced into the script text."""
        return self.run(["sh", "-c", script, "sh", *args], timeout=timeout, check=check, input=input)

    def ping(self, timeout: float = 5.0) -> bool:
        """A cheap round trip over the kept connection (the heartbeat). One connection
        attempt only: a heartbeat must answer within its interval, not retry for long."""
        try:
            self.transport(attempts=1, timeout=min(timeout, self.connect_timeout), probe=True)
            self.run(["true"], timeout=timeout)
            return True
        except CommandTimeout:
            # not answered in time: down for this beat. The connection is not dropped here:
            # on a busy host `true` can be slow while an image upload is in flight on the same
            # connection, and dropping it cut that upload (EOFError). A dead connection shows
            # up as EOF on its channels, and those paths reconnect.
            return False
        except DriverError:
            return False
