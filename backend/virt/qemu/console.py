"""The serial console of a qemu guest, attached over the host's kept SSH connection.

qemu's serial port is `-chardev pipe`: it reads console.in and writes console.out, which the
logger (remote.CONSOLE_LOGGER) drains into console.log with its cap. An attached client does
not touch that path: a relay (CONSOLE_RELAY_PY, python3 on the host, one SSH channel running
it) writes the client's bytes into console.in and follows console.log from its end, across the
logger's rotation (the rest of the old file first, then the new one), so the log keeps every
byte of the session and its cap holds. The relay ends when its stdin closes (detach) or when
this guest's qemu exits."""
from __future__ import annotations

import asyncio
import threading

import paramiko

from backend.virt.driver import ConsoleSession, DriverError

# argv: the guest's uuid. cwd: the instance directory. Exit 3: the guest is not running.
CONSOLE_RELAY_PY = r"""
import os, select, sys
uuid = sys.argv[1]
def qemu_pid():
    try:
        pid = int(open("qemu.pid").read().split()[0])
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            if ("guest=" + uuid).encode() in f.read():
                return pid
    except (OSError, ValueError, IndexError):
        pass
    return None
def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
pid = qemu_pid()
if pid is None:
    sys.stderr.write("the guest is not running\n")
    sys.exit(3)
port = os.open("console.in", os.O_RDWR)   # a FIFO: O_RDWR never waits for the other end
def open_log(at_end):
    try:
        fd = os.open("console.log", os.O_RDONLY)
    except FileNotFoundError:
        return None, None
    if at_end:
        os.lseek(fd, 0, os.SEEK_END)
    return fd, os.fstat(fd).st_ino
log, ino = open_log(True)
sys.stderr.write("attached\n")
sys.stderr.flush()
def drain(fd, limit=None):
    # limit: a flooding guest must not keep the loop from the client's keys for long
    sent = 0
    while fd is not None and (limit is None or sent < limit):
        data = os.read(fd, 65536)
        if not data:
            return
        os.write(1, data)
        sent += len(data)
idle = 0
while True:
    r, _, _ = select.select([0], [], [], 0.03)
    if r:
        data = os.read(0, 4096)
        if not data:
            break                             # the client detached
        os.write(port, data)
    drain(log, 1 << 18)
    try:
        now = os.stat("console.log").st_ino
    except FileNotFoundError:
        now = None
    if now is not None and now != ino:        # the logger rotated: the new file from its start
        drain(log)
        if log is not None:
            os.close(log)
        log, ino = open_log(False)
        drain(log)
    idle += 1
    if idle >= 10:
        idle = 0
        if not alive(pid):
            drain(log)
            break
"""


class QemuConsole(ConsoleSession):
    """One relay channel; a reader thread hands the guest's bytes to the loop."""

    def __init__(self, link, chan: paramiko.Channel, loop: asyncio.AbstractEventLoop):
        self.link, self.chan, self.loop = link, chan, loop
        self._out: asyncio.Queue[bytes] = asyncio.Queue()
        self._closed = False
        self._released = False
        threading.Thread(target=self._reader, name=f"console-{link.name}", daemon=True).start()

    def _reader(self) -> None:
        try:
            while True:
                data = self.chan.recv(65536)
                if not data:
                    break
                self.loop.call_soon_threadsafe(self._out.put_nowait, data)
        except (OSError, EOFError, paramiko.SSHException):
            pass
        finally:
            self._release()
            self.loop.call_soon_threadsafe(self._out.put_nowait, b"")

    def _release(self) -> None:
        if not self._released:
            self._released = True
            self.chan.close()
            self.link._channels.release()

    async def read(self) -> bytes:
        data = await self._out.get()
        if not data:
            self._out.put_nowait(b"")  # every later read sees the end too
        return data

    async def write(self, data: bytes) -> None:
        if self._closed or self.chan.closed:
            return
        try:
            await asyncio.to_thread(self.chan.sendall, data)
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the reader sees the channel end

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.chan.shutdown_write()  # the relay reads EOF and ends; then the channel closes
        except (OSError, EOFError, paramiko.SSHException):
            self._release()


def open_console(link, idir: str, uuid: str, loop: asyncio.AbstractEventLoop,
                 has_python3: bool) -> QemuConsole:
    """Blocking (run it in the host's pool). Holds one of the link's command channels for as
    long as the session lasts."""
    from backend.virt.qemu import remote as R
    from backend.virt.qemu.hostlink import quote_argv
    if not has_python3:
        raise DriverError(f"host {link.name} has no python3: the serial console needs it",
                          reschedulable=False)
    if not link._channels.acquire(timeout=30):
        raise DriverError(f"host {link.name}: no free channel for a console", reschedulable=False)
    try:
        chan = link._open_channel()
        chan.exec_command(quote_argv(["sh", "-c", R.IN_DIR, "sh", idir, "python3", "-u", "-c",
                                      CONSOLE_RELAY_PY, uuid]))
    except BaseException:
        link._channels.release()
        raise
    # the relay says "attached" on stderr once it follows the log, or refuses a stopped guest
    chan.settimeout(30)
    err = b""
    try:
        while b"\n" not in err:
            more = chan.recv_stderr(4096)
            if not more:
                break
            err += more
    except (OSError, EOFError, paramiko.SSHException) as e:
        err += f"no answer from the console relay ({type(e).__name__})".encode()
    if err.strip() != b"attached":
        chan.close()
        link._channels.release()
        why = err.decode(errors="replace").strip().splitlines()
        raise DriverError(f"guest {uuid}: {why[-1] if why else 'the console relay ended'}",
                          reschedulable=False)
    chan.settimeout(None)
    return QemuConsole(link, chan, loop)
