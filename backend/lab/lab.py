"""The local lab: N compute hosts on this machine, each a real OpenSSH sshd.

Control side, <home>/lab/:    hosts.yaml (what the server reads), known_hosts, id_ed25519
                              (the client key), lab.json, lab-N/{sshd_config, host key, pid, log}
Host side:                    /var/lib/pocketstack-lab/<labid>/lab-N/{authorized_keys, state/}
                              (sshd reads authorized_keys as that user, and the temporary
                              POCKETSTACK_HOME of a test is not readable by it)

Root writes host-side only into directories root owns (0755): every directory down to lab-N
and authorized_keys are root's; the lab user owns state/ and nothing above it, so it can
plant no link where root writes. Paths are walked with O_NOFOLLOW from a directory fd, and a
lab made by an earlier version (lab user's directories) is taken back, links removed unfollowed.

Each host gets its own network namespace (veth on a bridge, own address, sshd on port 22)
when that works, else its own loopback port. Logins are as the dedicated user `pocketstack`
with shell /bin/sh: root's shell start-up files cost ~90 ms per command here.
"""
from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

from backend.core.config import default_home
from backend.lab.helper_install import InstallError, install_helper
from backend.lab.labfs import open_dir, root_dir

LAB_USER = "pocketstack"
LAB_ROOT = Path("/var/lib/pocketstack-lab")
SSHD = "/usr/sbin/sshd"


class LabError(RuntimeError):
    pass


def _sh(argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run(argv, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise LabError(f"{' '.join(argv)}: {p.stderr.strip() or p.returncode}")
    return p


def lab_dir(home: Path | None = None) -> Path:
    return Path(home or default_home()) / "lab"


def lab_id(home: Path | None = None) -> str:
    """'default' for the default state directory (so the repo's hosts.yaml can name it),
    else 6 hex digits of the state directory's path (labs of different homes never collide)."""
    home = Path(home or default_home()).resolve()
    if home == (Path.home() / ".local/share/pocketstack").resolve():
        return "default"
    return hashlib.sha1(str(home).encode()).hexdigest()[:6]


def _names(labid: str, i: int) -> dict:
    idx = 0 if labid == "default" else 1 + int(labid, 16) % 240
    return {"netns": f"ps-{labid}-{i}", "bridge": f"psb{labid}"[:15], "veth": f"psv{labid}{i}"[:15],
            "subnet": idx, "address": f"10.251.{idx}.{10 + i}", "gateway": f"10.251.{idx}.1",
            "port": (2200 if labid == "default" else 30000 + (int(labid, 16) % 2000) * 10) + i}


def ensure_user() -> pwd.struct_passwd:
    try:
        pw = pwd.getpwnam(LAB_USER)
    except KeyError:
        LAB_ROOT.mkdir(parents=True, exist_ok=True)
        made = _sh(["useradd", "--system", "--shell", "/bin/sh", "--home-dir", str(LAB_ROOT),
                    "--no-create-home", LAB_USER], check=False)
        if made.returncode not in (0, 9):  # 9: a concurrent `lab up` made it first
            raise LabError(f"useradd {LAB_USER}: {made.stderr.strip()}")
        # '*' = no password but not locked: with UsePAM no, sshd refuses a locked ('!') account
        _sh(["usermod", "-p", "*", LAB_USER])
        # let the accelerator probe try /dev/kvm; it falls back to TCG anyway
        _sh(["usermod", "-aG", "kvm", LAB_USER], check=False)
        pw = pwd.getpwnam(LAB_USER)
    os.close(root_dir(LAB_ROOT, LAB_ROOT))  # root's: the lab user's home, but not theirs to change
    return pw


def _host_side(side: Path, pw, pub: str) -> None:
    """lab-N/ (root's) with authorized_keys (root's, 0644: written to a temporary name and
    renamed, O_NOFOLLOW|O_EXCL) and state/ (the lab user's: their guests write there)."""
    fd = root_dir(side, LAB_ROOT)
    try:
        os.close(open_dir(fd, "state", (pw.pw_uid, pw.pw_gid), 0o755))
        tmp = f".authorized_keys.{os.getpid()}"
        try:
            os.unlink(tmp, dir_fd=fd)
        except FileNotFoundError:
            pass
        kfd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                      0o644, dir_fd=fd)
        with os.fdopen(kfd, "w") as f:
            f.write(pub)
        os.rename(tmp, "authorized_keys", src_dir_fd=fd, dst_dir_fd=fd)
    finally:
        os.close(fd)


def _alive(pidfile: Path, needle: str, uid: int | None = None) -> int | None:
    """The pid in pidfile when that process runs with needle in its command line (and as
    uid, when given: a pidfile the lab user wrote must never make root signal another
    user's process)."""
    try:
        pid = int(pidfile.read_text().split()[0])
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\x00", b" ").decode()
        stat = Path(f"/proc/{pid}/stat").read_text()
        owner = os.stat(f"/proc/{pid}").st_uid
    except (OSError, ValueError, IndexError):
        return None
    if needle not in cmd or stat.rsplit(")", 1)[1].split()[0] == "Z":
        return None
    if uid is not None and owner != uid:
        return None
    return pid


def _netns_setup(n: dict) -> None:
    if _sh(["ip", "link", "show", n["bridge"]], check=False).returncode != 0:
        _sh(["ip", "link", "add", n["bridge"], "type", "bridge"])
        _sh(["ip", "addr", "add", f"{n['gateway']}/24", "dev", n["bridge"]])
    _sh(["ip", "link", "set", n["bridge"], "up"])
    if n["netns"] not in _sh(["ip", "netns", "list"]).stdout.split():
        _sh(["ip", "netns", "add", n["netns"]])
    if _sh(["ip", "link", "show", n["veth"]], check=False).returncode != 0:
        _sh(["ip", "link", "add", n["veth"], "type", "veth", "peer", "name", "eth0",
             "netns", n["netns"]])
        _sh(["ip", "-n", n["netns"], "addr", "add", f"{n['address']}/24", "dev", "eth0"])
        # a host made again has a new MAC: an old neighbour entry would send to the old one
        _sh(["ip", "neigh", "flush", "to", n["address"], "dev", n["bridge"]], check=False)
    _sh(["ip", "link", "set", n["veth"], "master", n["bridge"], "up"])
    _sh(["ip", "-n", n["netns"], "link", "set", "eth0", "up"])
    _sh(["ip", "-n", n["netns"], "link", "set", "lo", "up"])


def _subnet_taken(n: dict) -> bool:
    """Another interface than our bridge already routes our /24: do not fight over it."""
    out = _sh(["ip", "-4", "-o", "addr", "show"], check=False).stdout
    prefix = n["gateway"].rsplit(".", 1)[0] + "."
    return any(prefix in line and f" {n['bridge']} " not in f" {line.split()[1]} "
               for line in out.splitlines())


def _sshd_config(hdir: Path, side: Path, listen: str, port: int) -> str:
    return "\n".join([
        f"ListenAddress {listen}:{port}",
        f"HostKey {hdir / 'ssh_host_ed25519_key'}",
        f"PidFile {hdir / 'sshd.pid'}",
        f"AuthorizedKeysFile {side / 'authorized_keys'}",
        f"AllowUsers {LAB_USER}",
        "StrictModes no", "UsePAM no", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "PubkeyAuthentication yes", "PermitRootLogin no",
        "Subsystem sftp internal-sftp", "X11Forwarding no", "PrintMotd no", "PrintLastLog no",
        "UseDNS no", "MaxSessions 128", "MaxStartups 64:30:128", "LogLevel INFO", ""])


def up(home: Path | None = None, hosts: int = 2, log=print) -> list[dict]:
    """Start (or reuse) hosts lab-1..lab-N; write hosts.yaml, known_hosts and the client key.
    Idempotent: hosts already running are kept as they are."""
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, sshd on port 22, useradd)")
    if not Path(SSHD).exists():
        raise LabError(f"{SSHD} missing: install openssh-server (scripts/setup.sh does)")
    d = lab_dir(home)
    d.mkdir(parents=True, exist_ok=True)
    labid = lab_id(home)
    pw = ensure_user()
    try:
        install_helper()
    except (InstallError, OSError) as e:
        raise LabError(f"cannot install the privileged network helper: {e}") from None
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    key = d / "id_ed25519"
    if not key.exists():
        _sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"pocketstack-lab-{labid}",
             "-f", str(key)])
    pub = (d / "id_ed25519.pub").read_text()
    old = _read_state(d)
    for extra in old.get("hosts", [])[hosts:]:  # shrinking: stop hosts past N
        _stop_host(d, extra, log)
    mode = old.get("mode")
    state_hosts, known = [], []
    for i in range(1, hosts + 1):
        name, n = f"lab-{i}", _names(labid, i)
        hdir, side = d / name, LAB_ROOT / labid / name
        hdir.mkdir(exist_ok=True)
        _host_side(side, pw, pub)
        hk = hdir / "ssh_host_ed25519_key"
        if not hk.exists():
            _sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(hk)])
        if mode is None:  # decide once per lab: namespaces where they work
            try:
                if _subnet_taken(n):
                    raise LabError(f"10.251.{n['subnet']}.0/24 is in use")
                _netns_setup(n)
                mode = "netns"
            except LabError as e:
                log(f"network namespaces unavailable ({e}); using loopback ports")
                if not _subnet_taken(n):  # undo what the attempt made, if anything
                    _sh(["ip", "netns", "del", n["netns"]], check=False)
                    _sh(["ip", "link", "del", n["bridge"]], check=False)
                mode = "loopback"
        elif mode == "netns":
            _netns_setup(n)
        addr, port = (n["address"], 22) if mode == "netns" else ("127.0.0.1", n["port"])
        cfg = hdir / "sshd_config"
        cfg.write_text(_sshd_config(hdir, side, addr, port))
        pid = _alive(hdir / "sshd.pid", str(cfg))
        if pid is None:
            _sh([SSHD, "-t", "-f", str(cfg)])
            prefix = ["ip", "netns", "exec", n["netns"]] if mode == "netns" else []
            _sh(prefix + [SSHD, "-f", str(cfg), "-E", str(hdir / "sshd.log")])
            for _ in range(100):  # sshd writes its pidfile just after it forks
                pid = _alive(hdir / "sshd.pid", str(cfg))
                if pid:
                    break
                time.sleep(0.02)
            if not pid:
                raise LabError(f"{name}: sshd did not start; see {hdir / 'sshd.log'}")
            log(f"{name}: sshd started ({addr}:{port}, pid {pid})")
        else:
            log(f"{name}: sshd already running ({addr}:{port}, pid {pid})")
        hostkey = (hdir / "ssh_host_ed25519_key.pub").read_text().split()
        known.append(f"{addr if port == 22 else f'[{addr}]:{port}'} {hostkey[0]} {hostkey[1]}")
        state_hosts.append({"name": name, "address": addr, "port": port, "user": LAB_USER,
                            "key": str(key), "known_hosts": str(d / "known_hosts"),
                            "availability_zone": "nova", "driver": "qemu",
                            "state_dir": str(side / "state"),
                            # in their namespaces hosts get taps on VXLAN bridges; on loopback
                            # ports they would share one namespace, so qemu's user-mode NIC
                            **({"netns": n["netns"], "vif": "bridge"} if mode == "netns" else {})})
    (d / "known_hosts").write_text("\n".join(known) + "\n")
    # the control machine is the network node: its VXLAN endpoint is the lab bridge's address
    node = {"local_ip": _names(labid, 1)["gateway"]} if mode == "netns" else None
    _write_hosts_yaml(d / "hosts.yaml", state_hosts, node)
    _write_state(d, {"labid": labid, "mode": mode, "hosts": state_hosts,
                     "bridge": _names(labid, 1)["bridge"] if mode == "netns" else None})
    return status(home)


def _write_hosts_yaml(path: Path, hosts: list[dict], network_node: dict | None = None) -> None:
    import yaml
    text = ("# Written by `pocketstack lab up`: the local lab's compute hosts.\n" +
            yaml.safe_dump({"hosts": hosts, **({"network_node": network_node} if network_node else {})},
                           sort_keys=False))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _read_state(d: Path) -> dict:
    try:
        return json.loads((d / "lab.json").read_text())
    except (OSError, ValueError):
        return {}


def _write_state(d: Path, st: dict) -> None:
    (d / "lab.json").write_text(json.dumps(st, indent=1))


def _kill(pid: int, wait: float = 3.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    end = time.monotonic() + wait
    while time.monotonic() < end:
        try:
            st = Path(f"/proc/{pid}/stat").read_text()
            if st.rsplit(")", 1)[1].split()[0] == "Z":
                return
        except OSError:
            return
        time.sleep(0.02)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _descendants(pid: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                ppid = int(p.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            kids.setdefault(ppid, []).append(int(p.name))
    out, todo = [], [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _kill_sshd(hdir: Path) -> int | None:
    """The listener and its per-connection children: those keep serving open connections
    after the listener is gone, so a host 'down' must lose them too."""
    pid = _alive(hdir / "sshd.pid", str(hdir / "sshd_config"))
    if pid:
        kids = _descendants(pid)
        _kill(pid)
        for k in kids:
            try:
                os.kill(k, signal.SIGKILL)
            except ProcessLookupError:
                pass
    (hdir / "sshd.pid").unlink(missing_ok=True)
    return pid


def _stop_host(d: Path, h: dict, log) -> None:
    """Kill the host's guests (by their qemu pidfiles), its sshd, and its namespace."""
    state = Path(h["state_dir"])
    try:
        uid = pwd.getpwnam(h.get("user") or LAB_USER).pw_uid
    except KeyError:
        uid = None
    for pf in list(state.glob("instances/*/qemu.pid")) + list(state.glob("probe/*.pid")):
        # the lab user's files: only that user's qemu is stopped through them
        pid = _alive(pf, "qemu", uid) if uid is not None else None
        if pid:
            _kill(pid)
            log(f"{h['name']}: stopped guest {pf.parent.name} (pid {pid})")
    pid = _kill_sshd(d / h["name"])
    if pid:
        log(f"{h['name']}: sshd stopped (pid {pid})")
    if h.get("netns"):
        _sh(["ip", "netns", "del", h["netns"]], check=False)


def down(home: Path | None = None, purge: bool = False, log=print) -> None:
    """Stop every sshd and qemu the lab started and remove its namespaces. purge also removes
    the hosts' state (image cache, instances, volumes) and the control-side lab directory."""
    d = lab_dir(home)
    st = _read_state(d)
    for h in st.get("hosts", []):
        _stop_host(d, h, log)
    if st.get("bridge"):
        _sh(["ip", "link", "del", st["bridge"]], check=False)
    if purge:
        labid = st.get("labid") or lab_id(home)
        shutil.rmtree(LAB_ROOT / labid, ignore_errors=True)
        shutil.rmtree(d, ignore_errors=True)
        log("lab state removed")


def status(home: Path | None = None) -> list[dict]:
    d = lab_dir(home)
    out = []
    for h in _read_state(d).get("hosts", []):
        hdir = d / h["name"]
        pid = _alive(hdir / "sshd.pid", str(hdir / "sshd_config"))
        guests = sum(1 for pf in Path(h["state_dir"]).glob("instances/*/qemu.pid")
                     if _alive(pf, "qemu"))
        out.append({"name": h["name"], "address": h["address"], "port": h["port"],
                    "netns": h.get("netns"), "state": "up" if pid else "down",
                    "sshd_pid": pid, "guests": guests, "state_dir": h["state_dir"]})
    return out


def hosts_file(home: Path | None = None) -> Path:
    return lab_dir(home) / "hosts.yaml"


def stop_sshd(home: Path | None, name: str) -> None:
    """Stop one host's sshd only (its guests keep running): a host gone unreachable."""
    _kill_sshd(lab_dir(home) / name)
