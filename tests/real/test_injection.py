"""Shell and qemu metacharacters in every value that reaches a host: they arrive as data, never
as code. A canary file in a directory the lab user can write is named by every hostile value;
it must never appear. The quoting itself round-trips through a real `sh -c` (this machine's
sh and bash, and the host's login shell over SSH) for thousands of hostile strings, and the
same checks are shown to fail with the quoting removed."""
from __future__ import annotations

import asyncio
import random
import subprocess
import uuid as uuidlib
from pathlib import Path

import pytest

import backend.virt.qemu.hostlink
from backend.lab.guestimage import MARKER
from backend.virt.qemu.hostlink import HostLink, quote_argv
from backend.virt.driver import DriverError, GuestSpec
from backend.virt.qemu.driver import QemuDriver

pytestmark = pytest.mark.real

FRAGMENTS = [";", "&&", "||", "|", "&", "$(", ")", "`", "'", '"', "\\", "\n", "\t", " ", ",", "=",
             ",,", "$HOME", "${IFS}", "$0", "$1", "$@", "*", "?", "[a]", "{a,b}", "<", ">", ">>",
             "#", "~", "!", "%s", "%n", "-", "--", "-rf", "\r", "é", "\u202e", "\x7f", "\x01",
             "file=/etc/passwd", "x", "", "'\"'\"'", "\\'", "\\\"", "$'\\n'"]


def hostile_strings(n: int = 3000, seed: int = 7) -> list[str]:
    """Every fragment alone and in pairs, then n seeded random joins of 1-10 fragments (the
    same list every run: a failure is reproducible)."""
    rnd = random.Random(seed)
    out = list(FRAGMENTS) + [a + b for a in FRAGMENTS for b in FRAGMENTS]
    out += ["".join(rnd.choice(FRAGMENTS) for _ in range(rnd.randint(1, 10))) for _ in range(n)]
    return out


def attacks(canary: Path) -> list[str]:
    c = str(canary)
    return [f";touch {c}", f"x; touch {c}; y", f"$(touch {c})", f"`touch {c}`", f"'; touch {c}; '",
            f"\"; touch {c}; \"", f"\ntouch {c}\n", f"x && touch {c}", f"x | touch {c}",
            f"$(touch${{IFS}}{c})", f"';touch {c};'", f"\\';touch {c};#", f"a,b=c;touch {c}"]


def printf_round_trip(run_sh, batch: list[str], quote=quote_argv) -> list[str]:
    """What a shell hands to printf for batch, each as quote quoted it."""
    out = run_sh(quote(["printf", "%s\\0", *batch]))
    return out.split("\0")[:-1]


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_quoting_round_trips_through_a_local_shell(shell):
    strings = hostile_strings()
    for i in range(0, len(strings), 500):
        batch = strings[i:i + 500]

        def run_sh(cmd):
            return subprocess.run([shell, "-c", cmd], capture_output=True, check=True).stdout.decode()
        assert printf_round_trip(run_sh, batch) == batch


def test_quoting_round_trips_through_the_hosts_login_shell(hosts):
    link = HostLink(hosts["lab-1"])
    try:
        strings = hostile_strings()
        for i in range(0, len(strings), 500):
            batch = strings[i:i + 500]
            _, out, _ = link.run(["printf", "%s\\0", *batch])
            assert out.split("\0")[:-1] == batch
    finally:
        link.close()


def test_the_checks_fail_without_quoting(hosts, monkeypatch):
    """The same strings, joined without quoting (or wrapped in quotes without escaping): the
    round trip breaks and every attack makes the canary appear. (What the tests above and
    below would see if quote_argv were gone or sloppy.)"""
    h = hosts["lab-1"]
    canary = Path(h.state_dir) / f"canary-{uuidlib.uuid4().hex}"

    def run_sh(cmd):
        return subprocess.run(["sh", "-c", cmd], capture_output=True).stdout.decode(errors="replace")

    def naive(argv):
        return " ".join(str(a) for a in argv)
    batch = hostile_strings()[:500]
    assert printf_round_trip(run_sh, batch, quote=naive) != batch
    sloppy = [naive, lambda argv: " ".join(f"'{a}'" for a in argv),
              lambda argv: " ".join(f'"{a}"' for a in argv)]
    link = HostLink(h)
    try:
        for attack in attacks(canary):
            broke = 0
            for quote in sloppy:
                monkeypatch.setattr(backend.virt.qemu.hostlink, "quote_argv", quote)
                link.run(["echo", attack], check=False)
                if canary.exists():
                    broke += 1
                    canary.unlink()
            assert broke, f"{attack!r} got through none of the sloppy quotings"
    finally:
        link.close()
        canary.unlink(missing_ok=True)


async def test_hostile_values_through_the_driver_stay_data(hosts, tiny, tmp_path):
    """A state dir full of metacharacters (commas and '=' too: qemu splits options on them),
    a guest whose name, hostname and kernel command line are attacks, and hostile ids:
    the guest boots, the ids are refused, nothing ever runs."""
    h = hosts["lab-1"]
    canary = Path(h.state_dir) / f"canary-{uuidlib.uuid4().hex}"
    evil = attacks(canary)
    state = f"{h.state_dir}/st;$(touch {canary}) `touch {canary}` 'q\"x,y=z,file=a"
    d = QemuDriver(h.model_copy(update={"state_dir": state}), None)
    g = GuestSpec(uuid=str(uuidlib.uuid4()), name=" ".join(evil), hostname="evil-host",
                  project_id="p1;" + evil[0], availability_zone="nova" + evil[2], vcpus=1,
                  memory_mb=128, root_gb=1, image=tiny["disk"], kernel=tiny["kernel"],
                  ramdisk=tiny["ramdisk"],
                  kernel_cmdline=tiny["cmdline"] + " x=" + evil[2].replace(" ", "_") + " y=a,b=c",
                  network_info=[{"port_id": "p;" + evil[3], "mac_address": "fa:16:3e:00:00:51",
                                 "fixed_ip": "10.0.0.51", "network_id": evil[1],
                                 "cidr": "10.0.0.0/24", "gateway": "10.0.0.1", "prefixlen": 24}])
    try:
        await d.spawn(g)
        for _ in range(300):
            if MARKER in await d.get_console_output(g.uuid):
                break
            await asyncio.sleep(0.1)
        assert f"{MARKER} evil-host 10.0.0.51" in await d.get_console_output(g.uuid)
        assert Path(d._state_dir()) == Path(state)  # the directory made is the one named
        for value in evil:
            for call in (lambda v: d.destroy(v), lambda v: d.get_power_state(v),
                         lambda v: d.create_volume(v, 1), lambda v: d.attach_volume(g.uuid, v, "/dev/vdb"),
                         lambda v: d.delete_volume(v)):
                with pytest.raises(DriverError, match="invalid"):
                    await call(value)
        with pytest.raises(DriverError, match="invalid MAC"):
            await d.spawn(GuestSpec(**{**g.__dict__, "uuid": str(uuidlib.uuid4()), "network_info": [
                {**g.network_info[0], "mac_address": f"fa:16:3e:00:00:52,{evil[0]}"}]}))
    finally:
        await d.destroy(g.uuid)
        await d.close()
    assert not canary.exists()
    assert not list(Path(h.state_dir).glob("canary-*"))


async def test_hostile_values_through_the_cloud_stay_data(lab_home, hosts, tiny_build, tmp_path):
    """The same through the facade on the lab: a server name, metadata, an image's name and
    properties (its kernel command line among them) and a volume name carry the attacks; the
    guest boots with the volume attached, and the canary never appears on either host."""
    from backend.cli.tiny import register_with_cloud
    from backend.core.config import Config
    from backend.facade import Cloud
    from backend.lab import lab
    canary = Path(hosts["lab-1"].state_dir) / f"canary-{uuidlib.uuid4().hex}"
    evil = attacks(canary)
    flat = [a.replace("\n", " ") for a in evil]  # names refuse control characters (400)
    config = Config(home=tmp_path / "home", hosts_path=lab.hosts_file(lab_home),
                    password_hash_rounds=4, heartbeat_interval=0.5, power_sync_interval=1.0,
                    service_down_time=5.0)
    Cloud.init(config, "secret")
    cloud = Cloud(config)
    await cloud.start()
    tok = (await cloud.login("admin", "secret", "admin"))["token"]
    try:
        ids = await register_with_cloud(cloud, tok, tiny_build)
        props = {"kernel_id": ids["kernel"], "ramdisk_id": ids["ramdisk"],
                 "os_command_line": tiny_build.cmdline + " x=" + flat[2].replace(" ", "_") + " y=a,b=c",
                 **{f"p{i}": v for i, v in enumerate(flat)}}
        img = await cloud.create_image(tok, flat[0][:250], disk_format="raw", visibility="public",
                                       properties=props)
        await cloud.upload_image(tok, img["id"], Path(tiny_build.disk))
        s = (await cloud.create_server(tok, flat[1][:250], img["id"], "m1.nano",
                                       metadata={f"k{i}": v[:250] for i, v in enumerate(flat)}))[0]
        for _ in range(600):
            got = await cloud.get_server(tok, s["id"])
            assert got["status"] != "ERROR", got.get("fault")
            if got["status"] == "ACTIVE" and got["task_state"] is None:
                break
            await asyncio.sleep(0.2)
        assert got["status"] == "ACTIVE"
        vol = await cloud.create_volume(tok, 1, name=flat[3][:250], description=flat[4])
        await cloud.attach_volume(tok, s["id"], vol["id"])
        for _ in range(300):
            if (await cloud.get_volume(tok, vol["id"]))["status"] == "in-use":
                break
            await asyncio.sleep(0.2)
        assert (await cloud.get_volume(tok, vol["id"]))["status"] == "in-use"
        for _ in range(300):
            if MARKER in await cloud.get_console_output(tok, s["id"]):
                break
            await asyncio.sleep(0.2)
        assert MARKER in await cloud.get_console_output(tok, s["id"])
    finally:
        for srv in await cloud.list_servers(tok, all_projects=True):
            await cloud.delete_server(tok, srv["id"])
        await cloud.stop()
    for h in hosts.values():
        assert not list(Path(h.state_dir).glob("canary-*"))
