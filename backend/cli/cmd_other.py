"""CLI commands of the other services: image, network, subnet, volume, user, project, role,
token."""
from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from backend.cli.client import CliError, Client
from backend.cli.output import show_list, show_one

IMAGE_COLS = [("ID", "id"), ("Name", "name"), ("Status", "status"), ("Disk Format", "disk_format"),
              ("Size", "size"), ("Visibility", "visibility")]


def image_list(c: Client, a) -> None:
    images, url = [], "/images"
    while url:
        page = c.get("image", url)
        images += page["images"]
        url = page.get("next", "").removeprefix("/v2") or None
    show_list(a.format, IMAGE_COLS, images)


def image_show(c: Client, a) -> None:
    show_one(a.format, c.find("image", "/images", "image", a.image, wrapped=False))


def _file_chunks(path: Path, size: int = 1 << 20):
    with open(path, "rb") as f:
        while chunk := f.read(size):
            yield chunk


def image_create(c: Client, a) -> None:
    path = Path(a.file)
    if not path.is_file():
        raise CliError(f"image file {a.file} does not exist or is not a file")
    body = {"name": a.name, "disk_format": a.disk_format, "container_format": a.container_format,
            "visibility": "public" if a.public else "private"}
    for prop in a.property or []:
        k, sep, v = prop.partition("=")
        if not sep or not k:
            raise CliError(f"--property {prop!r} must look like key=value")
        body[k] = v
    for k in ("min_ram", "min_disk"):
        if getattr(a, k) is not None:
            body[k] = getattr(a, k)
    img = c.post("image", "/images", body, ok=(201,))
    try:
        c.request("image", "PUT", f"/images/{img['id']}/file", content=_file_chunks(path),
                  headers={"Content-Type": "application/octet-stream"})
    except CliError:
        c.delete("image", f"/images/{img['id']}")  # no half-made image left behind
        raise
    show_one(a.format, c.get("image", f"/images/{img['id']}"))


def image_delete(c: Client, a) -> None:
    for ref in a.image:
        img = c.find("image", "/images", "image", ref, wrapped=False)
        c.delete("image", f"/images/{img['id']}")


NET_COLS = [("ID", "id"), ("Name", "name"), ("Subnets", "subnets"), ("Shared", "shared")]
SUBNET_COLS = [("ID", "id"), ("Name", "name"), ("Network", "network_id"), ("Subnet", "cidr"),
               ("Gateway", "gateway_ip")]


def network_list(c: Client, a) -> None:
    nets = c.get("network", "/networks")["networks"]
    for n in nets:
        n["subnets"] = ", ".join(n["subnets"])
    show_list(a.format, NET_COLS, nets)


def network_show(c: Client, a) -> None:
    show_one(a.format, c.find("network", "/networks", "network", a.network))


def network_create(c: Client, a) -> None:
    body = {"name": a.name, "shared": a.share}
    show_one(a.format, c.post("network", "/networks", {"network": body})["network"])


def network_delete(c: Client, a) -> None:
    n = c.find("network", "/networks", "network", a.network)
    c.delete("network", f"/networks/{n['id']}")


def subnet_list(c: Client, a) -> None:
    show_list(a.format, SUBNET_COLS, c.get("network", "/subnets")["subnets"])


def subnet_create(c: Client, a) -> None:
    net = c.find("network", "/networks", "network", a.network)
    body = {"name": a.name, "network_id": net["id"], "cidr": a.subnet_range, "ip_version": 4}
    if a.gateway:
        body["gateway_ip"] = a.gateway
    show_one(a.format, c.post("network", "/subnets", {"subnet": body})["subnet"])


VOLUME_COLS = [("ID", "id"), ("Name", "name"), ("Status", "status"), ("Size", "size"),
               ("Attached to", "attached")]


def _volume(v: dict) -> dict:
    return {**v, "attached": ", ".join(f"{x['server_id']} on {x.get('device')}"
                                       for x in v.get("attachments", []))}


def volume_list(c: Client, a) -> None:
    show_list(a.format, VOLUME_COLS,
              [_volume(v) for v in c.get("block-storage", "/volumes/detail")["volumes"]])


def volume_show(c: Client, a) -> None:
    v = c.find("block-storage", "/volumes", "volume", a.volume, list_path="/volumes/detail")
    show_one(a.format, _volume(v))


def volume_create(c: Client, a) -> None:
    body = {"size": a.size, "name": a.name}
    if a.description:
        body["description"] = a.description
    v = c.post("block-storage", "/volumes", {"volume": body})["volume"]
    show_one(a.format, _volume(v))


def volume_delete(c: Client, a) -> None:
    for ref in a.volume:
        v = c.find("block-storage", "/volumes", "volume", ref, list_path="/volumes/detail")
        c.delete("block-storage", f"/volumes/{v['id']}")


def _new_password(a) -> str:
    """--password (as openstack takes it), or --password-prompt: asked twice, no echo, so the
    password never sits in argv where every user of the machine can read it."""
    if a.password is not None:
        return a.password
    if not sys.stdin.isatty():
        raise CliError("--password-prompt needs a terminal")
    pw = getpass.getpass("User Password: ")
    if not pw:
        raise CliError("the password must not be empty")
    if getpass.getpass("Repeat User Password: ") != pw:
        raise CliError("the two passwords differ; nothing was created")
    return pw


def user_create(c: Client, a) -> None:
    body = {"name": a.name, "password": _new_password(a), "domain_id": "default", "enabled": True}
    if a.project:
        body["default_project_id"] = c.find("identity", "/projects", "project", a.project)["id"]
    show_one(a.format, c.post("identity", "/users", {"user": body}, ok=(201,))["user"])


def user_list(c: Client, a) -> None:
    show_list(a.format, [("ID", "id"), ("Name", "name"), ("Enabled", "enabled")],
              c.get("identity", "/users")["users"])


def project_create(c: Client, a) -> None:
    body = {"name": a.name, "description": a.description or "", "domain_id": "default",
            "enabled": True}
    show_one(a.format, c.post("identity", "/projects", {"project": body}, ok=(201,))["project"])


def project_list(c: Client, a) -> None:
    show_list(a.format, [("ID", "id"), ("Name", "name")], c.get("identity", "/projects")["projects"])


def role_add(c: Client, a) -> None:
    p = c.find("identity", "/projects", "project", a.project)
    u = c.find("identity", "/users", "user", a.user)
    r = c.find("identity", "/roles", "role", a.role)
    c.request("identity", "PUT", f"/projects/{p['id']}/users/{u['id']}/roles/{r['id']}")


def token_issue(c: Client, a) -> None:
    t = c.authenticate()
    show_one(a.format, {"id": c.token, "expires": t["expires_at"],
                        "project_id": (t.get("project") or {}).get("id"), "user_id": t["user"]["id"]})


def register(groups, fmt: argparse.ArgumentParser) -> argparse._SubParsersAction:
    """Returns the image subcommands so main can add `image build-tiny` to them."""
    img = groups.add_parser("image", help="images").add_subparsers(dest="cmd", required=True)
    img.add_parser("list", parents=[fmt]).set_defaults(func=image_list)
    p = img.add_parser("show", parents=[fmt])
    p.add_argument("image")
    p.set_defaults(func=image_show)
    p = img.add_parser("create", parents=[fmt])
    p.add_argument("name")
    p.add_argument("--file", required=True)
    p.add_argument("--disk-format", default="raw")
    p.add_argument("--container-format", default="bare")
    p.add_argument("--property", action="append", metavar="KEY=VALUE")
    p.add_argument("--min-ram", type=int)
    p.add_argument("--min-disk", type=int)
    p.add_argument("--public", action="store_true")
    p.set_defaults(func=image_create)
    p = img.add_parser("delete")
    p.add_argument("image", nargs="+")
    p.set_defaults(func=image_delete)

    net = groups.add_parser("network", help="networks").add_subparsers(dest="cmd", required=True)
    net.add_parser("list", parents=[fmt]).set_defaults(func=network_list)
    p = net.add_parser("show", parents=[fmt])
    p.add_argument("network")
    p.set_defaults(func=network_show)
    p = net.add_parser("create", parents=[fmt])
    p.add_argument("name")
    p.add_argument("--share", action="store_true")
    p.set_defaults(func=network_create)
    p = net.add_parser("delete")
    p.add_argument("network")
    p.set_defaults(func=network_delete)

    sub = groups.add_parser("subnet", help="subnets").add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", parents=[fmt]).set_defaults(func=subnet_list)
    p = sub.add_parser("create", parents=[fmt])
    p.add_argument("name")
    p.add_argument("--network", required=True)
    p.add_argument("--subnet-range", required=True, metavar="CIDR")
    p.add_argument("--gateway")
    p.set_defaults(func=subnet_create)

    vol = groups.add_parser("volume", help="volumes").add_subparsers(dest="cmd", required=True)
    vol.add_parser("list", parents=[fmt]).set_defaults(func=volume_list)
    p = vol.add_parser("show", parents=[fmt])
    p.add_argument("volume")
    p.set_defaults(func=volume_show)
    p = vol.add_parser("create", parents=[fmt])
    p.add_argument("name")
    p.add_argument("--size", type=int, required=True, metavar="GB")
    p.add_argument("--description")
    p.set_defaults(func=volume_create)
    p = vol.add_parser("delete")
    p.add_argument("volume", nargs="+")
    p.set_defaults(func=volume_delete)

    usr = groups.add_parser("user", help="users (admin)").add_subparsers(dest="cmd", required=True)
    usr.add_parser("list", parents=[fmt]).set_defaults(func=user_list)
    p = usr.add_parser("create", parents=[fmt])
    p.add_argument("name")
    pw = p.add_mutually_exclusive_group(required=True)
    pw.add_argument("--password", help="seen by every local user in the process list: prefer --password-prompt")
    pw.add_argument("--password-prompt", action="store_true", help="ask for the password (twice, no echo)")
    p.add_argument("--project", help="default project")
    p.set_defaults(func=user_create)

    prj = groups.add_parser("project", help="projects (admin)").add_subparsers(dest="cmd", required=True)
    prj.add_parser("list", parents=[fmt]).set_defaults(func=project_list)
    p = prj.add_parser("create", parents=[fmt])
    p.add_argument("name")
    p.add_argument("--description")
    p.set_defaults(func=project_create)

    rol = groups.add_parser("role", help="role assignments (admin)").add_subparsers(dest="cmd", required=True)
    p = rol.add_parser("add")
    p.add_argument("role", help="admin, member or reader")
    p.add_argument("--project", required=True)
    p.add_argument("--user", required=True)
    p.set_defaults(func=role_add)

    tok = groups.add_parser("token", help="tokens").add_subparsers(dest="cmd", required=True)
    tok.add_parser("issue", parents=[fmt]).set_defaults(func=token_issue)
    return img
