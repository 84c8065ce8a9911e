"""Attach to a real guest's serial port over the host's SSH link: type into the tiny image's
shell, read its answer, detach; the session goes into the capped log as before."""
from __future__ import annotations

import asyncio
import time

import pytest

from backend.virt.driver import DriverError
from real.test_qemu_driver import guest, wait_marker

pytestmark = pytest.mark.real


async def read_until(session, text: bytes, timeout: float = 30.0) -> bytes:
    got = b""
    end = time.monotonic() + timeout
    while text not in got:
        left = end - time.monotonic()
        assert left > 0, f"{text!r} not seen in {timeout}s; got {got[-500:]!r}"
        try:
            chunk = await asyncio.wait_for(session.read(), left)
        except asyncio.TimeoutError:
            continue
        assert chunk, f"the session ended before {text!r}; got {got[-500:]!r}"
        got += chunk
    return got


async def test_attach_type_hostname_and_read_it_back(drivers, tiny):
    d = drivers("lab-1")
    g = guest(tiny, hostname="console-vm-7", ip="10.0.0.37", mac="fa:16:3e:00:00:37")
    await d.spawn(g)
    try:
        await wait_marker(d, g.uuid)
        s = await d.attach_console(g.uuid)
        await s.write(b"\r")  # a fresh prompt: the shell may have printed its own before we came
        await read_until(s, b"# ")
        await s.write(b"hostname\r")
        out = await read_until(s, b"console-vm-7\r\n")
        assert b"hostname" in out  # the tty echoed what was typed
        await s.write(b"echo $((6*7))\r")
        await read_until(s, b"42\r\n")
        await s.close()
        assert await asyncio.wait_for(_until_end(s), 30) == b""
        log = await d.get_console_output(g.uuid)
        assert "console-vm-7" in log and "42" in log
        # a second attach after the detach works (nothing held)
        s2 = await d.attach_console(g.uuid)
        await s2.write(b"echo again\r")
        await read_until(s2, b"again\r\n")
        await s2.close()
        # a stopped guest has no console
        await d.power_off(g.uuid, timeout=10)
        with pytest.raises(DriverError, match="not running"):
            await d.attach_console(g.uuid)
    finally:
        await d.destroy(g.uuid)


async def _until_end(s) -> bytes:
    while True:
        chunk = await s.read()
        if not chunk:
            return chunk


async def test_attached_to_a_flooding_guest_the_log_cap_holds_and_rotation_is_followed(drivers, tmp_path):
    """The attached client follows the log across the logger's rotations (the older part's end,
    then the new file), while neither file grows past the cap; detaching ends the relay."""
    from pathlib import Path

    from backend.lab.guestimage import file_sha256
    from backend.virt.driver import GuestSpec, ImageFile
    from real.test_console_log import CAP, FLOOD_BOOT, processes_with
    import uuid as uuidlib
    d = drivers("lab-2")
    d.console_log_max = CAP
    disk = tmp_path / "flood.raw"
    disk.write_bytes(FLOOD_BOOT.ljust(1 << 20, b"\0"))
    img = ImageFile(id="flood", path=str(disk), sha256=file_sha256(disk), size=1 << 20, disk_format="raw")
    g = GuestSpec(uuid=str(uuidlib.uuid4()), name="flood", hostname="flood", project_id="p1",
                  availability_zone="nova", vcpus=1, memory_mb=96, root_gb=1, image=img, network_info=[])
    await d.spawn(g)
    idir = Path(d._idir(g.uuid))
    try:
        s = await d.attach_console(g.uuid)
        got = 0
        end = time.monotonic() + 120
        while got <= 4 * CAP:  # more than a file can ever hold: the relay crossed rotations
            assert time.monotonic() < end, f"only {got} bytes through the console"
            chunk = await asyncio.wait_for(s.read(), 30)
            assert chunk and set(chunk) <= {ord("x"), ord("\n")}, chunk[:80]
            got += len(chunk)
            for f in (idir / "console.log", idir / "console.log.0"):
                try:
                    assert f.stat().st_size <= CAP
                except FileNotFoundError:
                    pass  # between the logger's rename and its next write
        assert (idir / "console.log.0").exists()
        relays = [p for p in processes_with(g.uuid) if b"attached" in Path(f"/proc/{p}/cmdline").read_bytes()]
        assert relays, "no relay process on the host"
        await s.close()
        for _ in range(200):  # bounded: the relay ends on the channel's EOF
            if not [p for p in relays if _alive(p)]:
                break
            await asyncio.sleep(0.05)
        assert not [p for p in relays if _alive(p)], "the relay outlived the detach"
    finally:
        await d.destroy(g.uuid)


def _alive(pid: int) -> bool:
    from pathlib import Path
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


from real.test_cloud_real import _console_has, real_cloud, status_is, until  # noqa: E402,F401


async def test_the_whole_stack_attaches_to_a_real_guest(real_cloud):
    """facade -> compute API -> bus -> compute manager -> qemu driver -> SSH relay -> guest."""
    from backend.core.errors import Conflict
    cloud, tok = real_cloud
    s = (await cloud.create_server(tok, "console-web", "tiny", "m1.nano"))[0]
    s = await status_is(cloud, tok, s["id"], "ACTIVE")
    await until(lambda: _console_has(cloud, tok, s["id"]), "boot marker")
    session = await cloud.attach_console(tok, s["id"])
    try:
        with pytest.raises(Conflict, match="in use by user admin"):
            await cloud.create_remote_console(tok, s["id"])
        await session.write(b"hostname\r")
        await read_until(session, f"{s['hostname']}\r\n".encode())
    finally:
        await session.close()
    made = await cloud.create_remote_console(tok, s["id"])  # free again after the detach
    assert made["token"]
