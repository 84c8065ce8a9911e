"""The fake driver's serial console: a tiny shell that answers `hostname`, `echo ...` and
says `not found` for anything else, with a tty's echo and line editing (backspace), so the
app, the CLI and the REST console run without qemu. What it prints also goes to the guest's
console log, as the real serial log records a session."""
from __future__ import annotations

import asyncio
import shlex

from backend.virt.driver import ConsoleSession

PROMPT = "/ # "


class FakeShell:
    def __init__(self, hostname: str):
        self.hostname = hostname

    def run(self, line: str) -> str:
        try:
            words = shlex.split(line)
        except ValueError as e:
            return f"sh: syntax error: {e}\r\n"
        if not words:
            return ""
        cmd, args = words[0], words[1:]
        if cmd == "hostname":
            return self.hostname + "\r\n"
        if cmd == "echo":
            return " ".join(args) + "\r\n"
        return f"sh: {cmd}: not found\r\n"


class FakeConsole(ConsoleSession):
    def __init__(self, guest, on_close=None):
        self.guest = guest            # backend.virt.fake.FakeGuest
        self.shell = FakeShell(guest.spec.hostname)
        self._out: asyncio.Queue[bytes] = asyncio.Queue()
        self._line = ""
        self._closed = False
        self._on_close = on_close
        self._emit("\r\n" + PROMPT)

    def _emit(self, text: str) -> None:
        self._out.put_nowait(text.encode())
        log = self.guest.console
        parts = text.replace("\r", "").split("\n")
        if log and parts:
            log[-1] += parts[0]
            parts = parts[1:]
        log.extend(parts)

    async def read(self) -> bytes:
        if self._closed and self._out.empty():
            return b""
        return await self._out.get()

    async def write(self, data: bytes) -> None:
        if self._closed:
            return
        for ch in data.decode(errors="replace"):
            if ch in "\r\n":
                line, self._line = self._line, ""
                self._emit("\r\n" + self.shell.run(line) + PROMPT)
            elif ch in "\x7f\b":
                if self._line:
                    self._line = self._line[:-1]
                    self._emit("\b \b")
            elif ch == "\x03":  # ^C: the line is dropped, as a tty's intr
                self._line = ""
                self._emit("^C\r\n" + PROMPT)
            elif ch >= " ":
                self._line += ch
                self._emit(ch)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._out.put_nowait(b"")
            if self._on_close:
                self._on_close()

    def guest_gone(self) -> None:
        """The guest stopped or went: the session ends."""
        if not self._closed:
            self._closed = True
            self._out.put_nowait(b"")
