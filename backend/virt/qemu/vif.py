"""The qemu driver's VIFs: a tap per port on the network's bridge, made on the host by the
privileged helper (backend/privileged, installed at HELPER_DIR) through `sudo -n` over the
kept SSH link, every argument quoted. qemu stays unprivileged: the tap is made for the SSH
user, and qemu opens it by name (`-netdev tap,ifname=...,script=no,downscript=no`).

Hosts whose hosts.yaml entry says `vif: user` keep qemu's user-mode NIC and wire nothing."""
from __future__ import annotations

import json
import re

from backend.privileged import INSTALL_DIR, SUDO_ARGV
from backend.privileged.l2 import bridge_name, tap_name
from backend.virt.driver import DriverError

HELPER_DIR, HELPER = INSTALL_DIR, SUDO_ARGV


_TAP = re.compile(r"^tap[a-z0-9-]{1,11}$")


def checked_tap(port_id: str) -> str:
    """The port's tap name, refused unless plain (it goes into qemu's comma-separated -netdev
    and to the helper, which checks it again)."""
    name = tap_name(str(port_id))
    if not _TAP.fullmatch(name):
        raise DriverError(f"port id {port_id!r} makes no valid tap name", reschedulable=False)
    return name


def netdev_args(i: int, vif: dict) -> list[str]:
    """qemu's -netdev for a port plugged as a tap (script=no: qemu runs nothing as root)."""
    return ["-netdev", f"tap,id=net{i},ifname={checked_tap(vif['port_id'])},script=no,downscript=no"]


def bridged(network_info: list[dict]) -> list[dict]:
    """The vifs bound as taps on bridges (binding:vif_type bridge); others use qemu's NIC."""
    return [v for v in network_info if v.get("vif_type") == "bridge"]


class QemuVifs:
    """Mixed into QemuDriver (it has host, link and _thread)."""

    @property
    def vif_type(self) -> str:
        return "bridge" if self.host.vif == "bridge" else "other"

    def _helper(self, *args: str) -> str:
        rc, out, err = self.link.run(HELPER + list(args), timeout=60, check=False)
        if rc == 0:
            return out
        err = err.strip()
        if "sudo" in err and ("password" in err or "not allowed" in err or "not in the sudoers" in err):
            missing = f"sudo rights for {self.host.user} to run {' '.join(HELPER[2:])}"
        elif "can't find '__main__'" in err or "No such file" in err or rc == 127:
            missing = f"the privileged helper at {HELPER_DIR}"
        else:
            raise DriverError(f"host {self.host.name}: privileged helper {args[0]} failed ({rc}): "
                              f"{err[-400:]}", reschedulable=False)
        raise DriverError(f"host {self.host.name} has vif 'bridge' but lacks {missing} "
                          f"(see docs/real-compute.md): {err[-200:]}", reschedulable=False)

    def _local_ip(self) -> str:
        ip = self.host.vtep
        if not ip:
            raise DriverError(f"host {self.host.name} has vif 'bridge' but no VXLAN address: set local_ip "
                              "in its hosts.yaml entry", reschedulable=False)
        return ip

    def _plug_sync(self, network_info: list[dict]) -> None:
        local = self._local_ip()
        try:
            for vif in network_info:
                self._helper("plug-port", bridge_name(vif["network_id"]), str(int(vif["segmentation_id"])),
                             local, checked_tap(vif["port_id"]), self.host.user, *vif.get("peers", []))
        except Exception:
            self._unplug_sync(network_info, quiet=True)  # what this call made goes again
            raise

    def _unplug_sync(self, network_info: list[dict], quiet: bool = False) -> list[str]:
        """Returns the bridges removed with their last port."""
        gone = []
        for vif in network_info:
            if vif.get("segmentation_id") is None:
                continue
            try:
                out = self._helper("unplug-port", checked_tap(vif["port_id"]), bridge_name(vif["network_id"]),
                                   str(int(vif["segmentation_id"])))
            except DriverError:
                if quiet:
                    continue
                raise
            if json.loads(out or "{}").get("removed"):
                gone.append(bridge_name(vif["network_id"]))
        return gone

    async def plug_vifs(self, uuid: str, network_info: list[dict]) -> None:
        if bridged(network_info):
            await self._thread(self._plug_sync, bridged(network_info))

    async def unplug_vifs(self, uuid: str, network_info: list[dict]) -> None:
        if bridged(network_info):
            await self._thread(self._unplug_sync, bridged(network_info))

    async def update_network_peers(self, network_id: str, segmentation_id: int, peers: list[str]) -> None:
        if self.vif_type == "bridge":
            await self._thread(self._helper, "set-flood", str(int(segmentation_id)), *peers)

    async def list_plumbing(self) -> dict:
        """The helper's `list` on this host (what tests check is left behind)."""
        return json.loads(await self._thread(self._helper, "list"))
