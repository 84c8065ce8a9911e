"""The REST request each facade call of an action is over the API: the in-process adapter
records these (what the remote adapter really sends for the same call, the status the API
answers; tests/tui/test_what_happened_units.py compares the two)."""
from __future__ import annotations

from typing import Any

from tui.whathappened import MASK, Step, file_label, mask

NOVA = "/compute/v2.1"


def create_server_body(name, image, flavor, networks=None, boot_volume_size=None,
                       availability_zone=None, min_count=1, max_count=1, **_) -> dict:
    body: dict = {"name": name, "imageRef": image, "flavorRef": flavor,
                  "networks": networks or "auto", "min_count": min_count, "max_count": max_count}
    if boot_volume_size:
        body["block_device_mapping_v2"] = [{"boot_index": 0, "uuid": image, "source_type": "image",
                                            "destination_type": "volume",
                                            "volume_size": boot_volume_size}]
        body["imageRef"] = ""
    if availability_zone:
        body["availability_zone"] = availability_zone
    return {"server": body}


def equivalent(s: Step, project_id: str | None, user: str | None) -> tuple[str, str, int, Any] | None:
    """(method, path, status the API answers, body) of the REST request for this facade call."""
    a, kw = s.args, s.kwargs
    vol = f"/volume/v3/{project_id}/volumes"
    if s.method == "login":
        return ("POST", "/identity/v3/auth/tokens", 201, {"auth": {"identity": {
            "methods": ["password"], "password": {"user": {
                "name": user, "domain": {"name": "Default"}, "password": MASK}}}}})
    if s.method == "scope":
        return ("POST", "/identity/v3/auth/tokens", 201, {"auth": {
            "identity": {"methods": ["token"], "token": {"id": MASK}}, "scope": {"project": {"id": a[0]}}}})
    table = {
        "auth_projects": ("GET", "/identity/v3/auth/projects", 200, None),
        "create_server": ("POST", f"{NOVA}/servers", 202, lambda: create_server_body(*a, **kw)),
        "delete_server": ("DELETE", f"{NOVA}/servers/{a[0] if a else ''}", 204, None),
        "stop_server": ("POST", f"{NOVA}/servers/{a[0] if a else ''}/action", 202, {"os-stop": None}),
        "start_server": ("POST", f"{NOVA}/servers/{a[0] if a else ''}/action", 202, {"os-start": None}),
        "reboot_server": ("POST", f"{NOVA}/servers/{a[0] if a else ''}/action", 202,
                          {"reboot": {"type": "HARD" if kw.get("hard") else "SOFT"}}),
        "attach_volume": ("POST", f"{NOVA}/servers/{a[0] if a else ''}/os-volume_attachments", 200,
                          lambda: {"volumeAttachment": {"volumeId": a[1]}}),
        "detach_volume": ("DELETE", f"{NOVA}/servers/{a[0] if a else ''}/os-volume_attachments/"
                          f"{a[1] if len(a) > 1 else ''}", 202, None),
        "create_volume": ("POST", vol, 202, lambda: {"volume": {
            "size": a[0], "name": kw.get("name", ""), "description": kw.get("description", "")}}),
        "delete_volume": ("DELETE", f"{vol}/{a[0] if a else ''}", 202, None),
        "create_image": ("POST", "/image/v2/images", 201, lambda: {
            "name": a[0], "disk_format": kw.get("disk_format", "raw"),
            "container_format": kw.get("container_format", "bare"),
            "visibility": kw.get("visibility", "private"), "min_ram": kw.get("min_ram", 0),
            "min_disk": kw.get("min_disk", 0), **(kw.get("properties") or {})}),
        "upload_image": ("PUT", f"/image/v2/images/{a[0] if a else ''}/file", 204,
                         lambda: f"<the bytes of {file_label(a[1])}>"),
        "delete_image": ("DELETE", f"/image/v2/images/{a[0] if a else ''}", 204, None),
        "create_flavor": ("POST", f"{NOVA}/flavors", 200, lambda: {"flavor": {
            "name": a[0], "vcpus": a[1], "ram": a[2], "disk": a[3],
            "os-flavor-access:is_public": kw.get("is_public", True)}}),
        "delete_flavor": ("DELETE", f"{NOVA}/flavors/{a[0] if a else ''}", 202, None),
        "create_network": ("POST", "/network/v2.0/networks", 201, lambda: {"network": {"name": a[0]}}),
        "create_subnet": ("POST", "/network/v2.0/subnets", 201, lambda: {"subnet": {
            "network_id": a[0], "cidr": a[1], "name": kw.get("name", ""), "ip_version": 4}}),
        "delete_network": ("DELETE", f"/network/v2.0/networks/{a[0] if a else ''}", 204, None),
    }
    got = table.get(s.method)
    if got is None:
        return None
    verb, path, status, body = got
    return verb, path, status, mask(body() if callable(body) else body)
