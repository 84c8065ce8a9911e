"""The console screen's buffer: carriage returns, backspaces and escape sequences as a
terminal applies them, so what is drawn is what a terminal would show."""
from __future__ import annotations

from tui.widgets.terminal import TermBuffer


def test_lines_carriage_return_and_backspace():
    t = TermBuffer()
    t.feed(b"/ # frob\b \bx\r\nsh: frox: not found\r\n/ # ")
    assert t.lines == ["/ # frox", "sh: frox: not found", "/ # "]
    t.feed(b"abc\rZ")
    assert t.lines[-1] == "Z # abc"


def test_escape_sequences_are_dropped_even_when_split_between_reads():
    t = TermBuffer()
    t.feed(b"\x1b[1;3")
    t.feed(b"1mred\x1b[0m plain\x1b]0;title\x07!")
    assert t.text == "red plain!"


def test_the_buffer_keeps_only_the_last_lines():
    t = TermBuffer(max_lines=3)
    t.feed("".join(f"{i}\n" for i in range(10)))
    assert t.lines == ["8", "9", ""]
