"""A throwaway `pocketstack serve` on fake hosts for the conformance run: its own home and port,
the admin password from the environment, two images uploaded, and what the cloud offers
(flavors, networks, extensions, microversions) read back for tempest.conf."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
PASSWORD = "conformance-secret"
HOSTS = """hosts:
  - {name: fake-1, address: 127.0.0.1, driver: fake, vcpus: 64, memory_mb: 262144, disk_gb: 4000, availability_zone: nova}
  - {name: fake-2, address: 127.0.0.1, driver: fake, vcpus: 64, memory_mb: 262144, disk_gb: 4000, availability_zone: nova}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cloud:
    url: str
    proc: subprocess.Popen
    log: Path
    token: str = ""
    project_id: str = ""
    offers: dict = field(default_factory=dict)

    @property
    def auth_url(self) -> str:
        return f"{self.url}/identity/v3"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start(work: Path) -> Cloud:
    home, hosts = work / "home", work / "hosts.yaml"
    hosts.write_text(HOSTS)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update({"POCKETSTACK_HOME": str(home), "POCKETSTACK_HOSTS": str(hosts),
                "OS_PASSWORD": PASSWORD, "HOME": str(work)})
    subprocess.run([str(BIN / "pocketstack"), "init"], env=env, check=True, capture_output=True)
    log = work / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(BIN / "pocketstack"), "serve", "--port", str(port),
                                 "--hosts", str(hosts), "--max-connections", "2000"],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    cloud = Cloud(url, proc, log)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"pocketstack serve exited {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/identity/v3", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    else:
        cloud.stop()
        raise SystemExit(f"pocketstack serve did not answer at {url}")
    return cloud


def _login(cloud: Cloud) -> httpx.Client:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
    r = httpx.post(f"{cloud.auth_url}/auth/tokens", json=body, timeout=30)
    r.raise_for_status()
    cloud.token = r.headers["x-subject-token"]
    cloud.project_id = r.json()["token"]["project"]["id"]
    return httpx.Client(base_url=cloud.url, headers={"x-auth-token": cloud.token}, timeout=60)


def _upload(c: httpx.Client, name: str, size: int) -> str:
    r = c.post("/image/v2/images", json={"name": name, "disk_format": "raw",
                                          "container_format": "bare", "visibility": "public"})
    r.raise_for_status()
    iid = r.json()["id"]
    c.put(f"/image/v2/images/{iid}/file", content=os.urandom(size),
          headers={"content-type": "application/octet-stream"}).raise_for_status()
    return iid


def prepare(cloud: Cloud) -> dict:
    """Upload two images and read back what the cloud offers."""
    c = _login(cloud)
    images = [_upload(c, "conformance-image-1", 1 << 20), _upload(c, "conformance-image-2", 1 << 20)]
    # the network every test project's servers use (tempest's own per-project networks need
    # routers, which pocketstack does not have): shared, as devstack's "shared" network
    net = c.post("/network/v2.0/networks", json={"network": {"name": "conformance-shared",
                                                             "shared": True}})
    net.raise_for_status()
    c.post("/network/v2.0/subnets", json={"subnet": {
        "network_id": net.json()["network"]["id"], "name": "conformance-shared-subnet",
        "ip_version": 4, "cidr": "10.250.0.0/16"}}).raise_for_status()
    # devstack's public network: external, for routers' gateways and floating IPs
    pub = c.post("/network/v2.0/networks", json={"network": {"name": "public", "router:external": True}})
    pub.raise_for_status()
    c.post("/network/v2.0/subnets", json={"subnet": {
        "network_id": pub.json()["network"]["id"], "name": "public-subnet", "ip_version": 4,
        "cidr": "172.24.4.0/24"}}).raise_for_status()
    flavors = sorted(c.get("/compute/v2.1/flavors/detail").json()["flavors"],
                     key=lambda f: (f["ram"], f["vcpus"], f["disk"]))
    networks = c.get("/network/v2.0/networks").json()["networks"]
    exts = c.get("/network/v2.0/extensions").json()["extensions"]
    compute_versions = c.get("/compute/").json()
    v21 = next((v for v in compute_versions.get("versions", []) if v["id"] == "v2.1"), {})
    vol = c.get(f"/volume/v3").json()
    vol_v3 = vol.get("version") or next(iter(vol.get("versions", [])), {})
    azs = c.get("/compute/v2.1/os-availability-zone").json()["availabilityZoneInfo"]
    cloud.offers = {
        "images": images, "flavors": [f["id"] for f in flavors],
        "networks": [n["name"] for n in networks if n.get("shared") and not n.get("router:external")],
        "public_networks": [n["id"] for n in networks if n.get("router:external")],
        "network_extensions": sorted(e["alias"] for e in exts),
        "compute_min": v21.get("min_version") or "2.1",
        "compute_max": v21.get("version") or "2.1",
        "volume_min": vol_v3.get("min_version") or "3.0",
        "volume_max": vol_v3.get("version") or "3.0",
        "zone": next((z["zoneName"] for z in azs), "nova"),
    }
    c.close()
    return cloud.offers
