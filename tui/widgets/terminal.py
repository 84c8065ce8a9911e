"""A small terminal screen buffer for a serial console: what the guest prints, with \r, \n and
backspace applied and escape sequences dropped (the tiny guest's shell prints none; a real
distribution's colours would only be noise here). Drawn as plain text, never markup."""
from __future__ import annotations

import re

_ESCAPE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")


class TermBuffer:
    def __init__(self, max_lines: int = 2000):
        self.lines: list[str] = [""]
        self.col = 0
        self.max_lines = max_lines
        self._pending = ""  # an escape sequence cut between two reads

    def feed(self, data: bytes | str) -> None:
        text = data.decode(errors="replace") if isinstance(data, bytes) else data
        text = self._pending + text
        self._pending = ""
        cut = text.rfind("\x1b")
        if cut != -1 and not _ESCAPE.match(text, cut) and len(text) - cut < 32:
            text, self._pending = text[:cut], text[cut:]
        for ch in _ESCAPE.sub("", text):
            if ch == "\n":
                self.lines.append("")
                self.col = 0
            elif ch == "\r":
                self.col = 0
            elif ch == "\b":
                self.col = max(0, self.col - 1)
            elif ch == "\t":
                self._put(" " * (8 - self.col % 8))
            elif ch >= " " or ch == "\x1b":
                self._put(ch if ch != "\x1b" else "^[")
        if len(self.lines) > self.max_lines:
            del self.lines[: len(self.lines) - self.max_lines]

    def _put(self, s: str) -> None:
        line = self.lines[-1]
        if self.col > len(line):
            line += " " * (self.col - len(line))
        self.lines[-1] = line[: self.col] + s + line[self.col + len(s):]
        self.col += len(s)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)
