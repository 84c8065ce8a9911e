"""`pocketstack image build-tiny`: build the tiny guest (backend.lab.guestimage) and register it
in the image service as three images: `tiny-kernel` (aki), `tiny-ramdisk` (ari) and `tiny`
(raw disk; properties kernel_id, ramdisk_id, os_command_line). Idempotent: files are cached
and images already registered with the same checksum are reused.

Registration goes through the in-process facade when no server holds the state directory,
else through the running server's HTTP API (OS_* variables, as every other CLI command).
"""
from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from backend.lab.guestimage import TinyImage, build_tiny, file_sha256

PUBLIC = "public"


def add_arguments(p) -> None:
    p.add_argument("--cache-dir", help="default: <home>/cache/tiny")
    p.add_argument("--no-register", action="store_true", help="only build the files")
    p.add_argument("--name", default="tiny", help="name of the disk image (default: tiny)")


def _specs(img: TinyImage, name: str) -> list[dict]:
    return [
        {"key": "kernel", "name": f"{name}-kernel", "path": img.kernel, "disk_format": "aki",
         "container_format": "aki"},
        {"key": "ramdisk", "name": f"{name}-ramdisk", "path": img.ramdisk, "disk_format": "ari",
         "container_format": "ari"},
        {"key": "disk", "name": name, "path": img.disk, "disk_format": "raw",
         "container_format": "bare"},
    ]


def _disk_props(ids: dict, img: TinyImage) -> dict:
    return {"kernel_id": ids["kernel"], "ramdisk_id": ids["ramdisk"],
            "os_command_line": img.cmdline, "architecture": "x86_64",
            "hypervisor_type": "qemu", "os_distro": "pocketstack-tiny"}


async def _admin_token(cloud, password: str | None) -> str:
    if password:
        return (await cloud.login("admin", password, "admin"))["token"]
    # without a password: this process owns the state directory, so it is the operator
    return await cloud.operator_token()


async def register_with_cloud(cloud, token: str, img: TinyImage, name: str = "tiny") -> dict:
    """Register (or find, same checksum and properties) the three images through the facade.
    Returns {"kernel": id, "ramdisk": id, "disk": id}."""
    ids = {}
    for s in _specs(img, name):
        sha = file_sha256(s["path"])
        props = _disk_props(ids, img) if s["key"] == "disk" else {}
        same = [i for i in await cloud.list_images(token, {"name": s["name"]})
                if i.get("status") == "active" and i.get("sha256", i.get("os_hash_value")) == sha
                and all(i.get("properties", {}).get(k) == v for k, v in props.items())]
        if same:
            ids[s["key"]] = same[0]["id"]
            continue
        new = await cloud.create_image(token, s["name"], disk_format=s["disk_format"],
                                       container_format=s["container_format"],
                                       visibility=PUBLIC, properties=props)
        await cloud.upload_image(token, new["id"], Path(s["path"]))
        ids[s["key"]] = new["id"]
    return ids


async def _register_facade(img: TinyImage, name: str, password: str | None) -> dict:
    from backend.core.config import Config
    from backend.facade import Cloud
    cloud = Cloud(Config())
    await cloud.start()
    try:
        return await register_with_cloud(cloud, await _admin_token(cloud, password), img, name)
    finally:
        await cloud.stop()


def _register_http(img: TinyImage, name: str) -> dict:
    from backend.cli.client import Client
    from backend.cli.cmd_other import _file_chunks
    c = Client()
    c.authenticate()
    ids = {}
    for s in _specs(img, name):
        sha = file_sha256(s["path"])
        props = _disk_props(ids, img) if s["key"] == "disk" else {}
        same = [i for i in c.get("image", "/images", params={"name": s["name"]})["images"]
                if i.get("status") == "active" and i.get("os_hash_value") == sha
                and all(i.get(k) == v for k, v in props.items())]
        if same:
            ids[s["key"]] = same[0]["id"]
            continue
        body = {"name": s["name"], "disk_format": s["disk_format"],
                "container_format": s["container_format"], "visibility": PUBLIC, **props}
        new = c.post("image", "/images", body, ok=(201,))
        c.request("image", "PUT", f"/images/{new['id']}/file", content=_file_chunks(Path(s["path"])),
                  headers={"Content-Type": "application/octet-stream"})
        ids[s["key"]] = new["id"]
    return ids


def run(args) -> int:
    img = build_tiny(getattr(args, "cache_dir", None), log=lambda m: print(m, flush=True))
    print(f"kernel  {img.kernel}\nramdisk {img.ramdisk}\ndisk    {img.disk}")
    if getattr(args, "no_register", False):
        return 0
    name = getattr(args, "name", None) or "tiny"
    password = os.environ.get("OS_PASSWORD")
    try:
        try:
            ids = asyncio.run(_register_facade(img, name, password))
        except Exception as e:
            # a running server holds the state directory: register through its API instead
            if "lock" not in str(e).lower() and "running" not in str(e).lower():
                raise
            if not password:
                raise RuntimeError("a server is running: set OS_PASSWORD to register through it")
            ids = _register_http(img, name)
    except Exception as e:
        msg = getattr(e, "message", None) or str(e)
        print(f"pocketstack: error: cannot register the tiny image: {msg}", file=sys.stderr)
        return 1
    print(f"registered: {name} {ids['disk']} (kernel_id {ids['kernel']}, "
          f"ramdisk_id {ids['ramdisk']})")
    return 0
