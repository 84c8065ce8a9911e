"""The serial log of a guest that floods its console: capped on the host (rotated at the cap,
one older part kept, as virtlogd does for nova), and only a bounded tail is read back."""
from __future__ import annotations

import asyncio
import uuid as uuidlib
from pathlib import Path

from backend.lab.guestimage import file_sha256
from backend.virt.driver import GuestSpec, ImageFile
from backend.virt.qemu.driver import MAX_CONSOLE_BYTES

# a boot sector that writes "x\n" to COM1 (port 0x3f8) for ever, as fast as TCG runs it:
#   mov dx,0x3f8 / l: mov al,'x' / out dx,al / mov al,10 / out dx,al / jmp l
FLOOD_BOOT = bytes.fromhex("baf803b078eeb00aeeebf8").ljust(510, b"\0") + b"\x55\xaa"
CAP = 64 << 10


def qemu_io_written(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("no wchar in /proc/<pid>/io")


def processes_with(text: str) -> list[int]:
    found = []
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and text.encode() in (p / "cmdline").read_bytes():
                found.append(int(p.name))
        except OSError:
            pass
    return found


async def test_a_flooding_guest_never_grows_its_log_past_the_cap(drivers, tmp_path):
    d = drivers("lab-2")
    d.console_log_max = CAP
    disk = tmp_path / "flood.raw"
    disk.write_bytes(FLOOD_BOOT.ljust(1 << 20, b"\0"))
    img = ImageFile(id="flood", path=str(disk), sha256=file_sha256(disk), size=1 << 20,
                    disk_format="raw")
    g = GuestSpec(uuid=str(uuidlib.uuid4()), name="flood", hostname="flood", project_id="p1",
                  availability_zone="nova", vcpus=1, memory_mb=96, root_gb=1, image=img,
                  network_info=[])
    await d.spawn(g)
    idir = Path(d._idir(g.uuid))
    log, older = idir / "console.log", idir / "console.log.0"
    try:
        pid = int((idir / "qemu.pid").read_text())
        written = 0
        for _ in range(1200):  # bounded: until qemu has written 16 caps into the serial FIFO
            written = qemu_io_written(pid)
            if written > 16 * CAP:
                break
            await asyncio.sleep(0.1)
        assert written > 16 * CAP, f"the guest wrote only {written} bytes"
        assert older.exists()  # rotated
        for _ in range(20):  # while it goes on flooding (console.log is briefly missing
            # between a rotation and the next write: it is made by the logger's next copy)
            sizes = [p.stat().st_size for p in (log, older) if p.exists()]
            assert sizes and all(s <= CAP for s in sizes), sizes
            await asyncio.sleep(0.05)
        # the tail as the API reads it, with the guest paused (reads during a rotation may
        # join two parts that were not next to each other)
        assert d._qmp(g.uuid, "stop")["return"] == {}
        before = None
        for _ in range(100):  # until the logger has drained the FIFO
            now = [(p.stat().st_size if p.exists() else -1) for p in (log, older)]
            if now == before:
                break
            before = now
            await asyncio.sleep(0.1)
        assert (await d.get_console_output(g.uuid, tail=3)).splitlines() == ["x", "x", "x"]
        whole = await d.get_console_output(g.uuid)
        assert 0 < len(whole) <= MAX_CONSOLE_BYTES and set(whole.split("\n")) <= {"x", ""}
        assert len(processes_with(f"console-logger\0{CAP}\0{idir}")) == 1
    finally:
        await d.destroy(g.uuid)
    for _ in range(100):  # its logger ends with its qemu (EOF on the FIFO)
        if not processes_with(str(idir)):
            break
        await asyncio.sleep(0.05)
    assert processes_with(str(idir)) == []
