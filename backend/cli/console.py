"""`pocketstack server console attach NAME`: the guest's serial console in this terminal, as
`virsh console`: the terminal goes raw (every key to the guest, ctrl-C included), ctrl-]
detaches. The console is nova's remote-consoles URL (a WebSocket with a single-use token)."""
from __future__ import annotations

import os
import select
import sys
import termios
import threading
import tty

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import connect

from backend.cli.client import CliError, Client

ESCAPE = b"\x1d"  # ctrl-]
S = "compute"


def server_console_attach(c: Client, a) -> None:
    from backend.cli.cmd_compute import find_server
    s = find_server(c, a.server)
    rc = c.post(S, f"/servers/{s['id']}/remote-consoles",
                {"remote_console": {"protocol": "serial", "type": "serial"}}, ok=(200,))
    url = rc["remote_console"]["url"]
    try:
        ws = connect(url, subprotocols=["binary"], open_timeout=10, max_size=1 << 20)
    except (OSError, InvalidHandshake, InvalidURI) as e:
        raise CliError(f"cannot open the console of {s['name']}: {e}") from None
    out = sys.stdout.buffer
    out.write(f"Connected to {s['name']} ({s['id']})\r\nEscape character is ^] (Ctrl + ])\r\n".encode())
    out.flush()
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd) if os.isatty(fd) else None
    ended: list[str] = []

    def pump_out():
        try:
            for msg in ws:
                out.write(msg if isinstance(msg, bytes) else msg.encode())
                out.flush()
        except ConnectionClosed:
            pass
        ended.append(ws.close_rcvd)  # None when we closed it (detach)
        os.write(wake_w, b"x")

    wake_r, wake_w = os.pipe()
    reader = threading.Thread(target=pump_out, daemon=True)
    try:
        if saved is not None:
            tty.setraw(fd)
        reader.start()
        while not ended:
            r, _, _ = select.select([fd, wake_r], [], [])
            if fd not in r:
                continue
            data = os.read(fd, 1024)
            if not data or ESCAPE in data:
                data = data.split(ESCAPE, 1)[0]
                if data:
                    ws.send(data)
                break
            try:
                ws.send(data)
            except ConnectionClosed:
                break
    finally:
        if saved is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        ws.close()
        reader.join(5)
        os.close(wake_r)
        os.close(wake_w)
    closed = ended[0] if ended else None
    if closed is not None and closed.code >= 4000:  # refused: 4401 token, 4409 held by another
        raise CliError(f"console of {s['name']}: {closed.reason}")
    why = f" ({closed.reason})" if closed is not None and closed.reason else ""
    out.write(f"\r\nDetached from {s['name']}{why}\r\n".encode())
    out.flush()
