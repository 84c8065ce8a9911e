"""RemoteAdapter: the app over a running `pocketstack serve`, through its OpenStack REST API
(keystone v3, nova v2.1, glance v2, neutron v2.0, cinder v3), answering with the facade's
views. Events come pushed on the API's event stream (tui/remote_stream.py), never polled."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from backend.core import errors
from backend.core.errors import BadRequest, CloudError
from backend.facade.network_wiring import wiring_of
from tui.adapter import Adapter, Event
from tui.remote_stream import EventStream
from tui.whathappened import Call, file_label, mask
from tui.whathappened_rest import create_server_body

POWER = {0: "NOSTATE", 1: "Running", 3: "Paused", 4: "Shutdown", 6: "Crashed", 7: "Suspended"}
ERRORS = {400: errors.BadRequest, 401: errors.Unauthorized, 403: errors.Forbidden,
          404: errors.NotFound, 409: errors.Conflict, 413: errors.RequestTooLarge}


def _message(body: Any) -> str | None:
    """keystone {"error": {...}}, nova {"itemNotFound": {...}}, neutron {"NeutronError": {...}}."""
    if isinstance(body, dict):
        if isinstance(body.get("message"), str):
            return body["message"]
        for v in body.values():
            m = _message(v)
            if m:
                return m
    return None


class RemoteAdapter(Adapter):
    in_process = False  # the journal records the HTTP requests really sent

    def __init__(self, url: str, transport: httpx.AsyncBaseTransport | None = None,
                 backoff: tuple[float, float] = (0.25, 10.0)) -> None:
        self._stream: EventStream | None = None
        super().__init__()
        self.url = url.rstrip("/")
        self.where = f"remote {self.url}"
        self.journal.auth_url = f"{self.url}/identity/v3"  # for the `openstack` command lines
        self.pushes_details = True  # trace and action events come on the stream too
        self.http = httpx.AsyncClient(base_url=self.url, transport=transport, timeout=30)
        self._subscribers: list[Callable[[Event], None]] = []
        self._names: dict[str, dict[str, dict]] = {"flavors": {}, "images": {}}
        # id -> project of the instances seen, so a reload can say which are gone
        self._known: dict[str, str | None] = {}
        # read in a thread of its own, unless a custom transport (tests' in-process ASGI app)
        self._stream = EventStream(self.http, self._emit, self._reload, backoff, threaded=transport is None)

    @property
    def token(self) -> dict | None:
        return self._token

    @token.setter
    def token(self, view: dict | None) -> None:
        before, self._token = getattr(self, "_token", None), view
        if self._stream is not None:
            # the same user and project (a renewed token) resumes where the stream was
            same = bool(before and view and before.get("project") == view.get("project")
                        and before["user"]["id"] == view["user"]["id"])
            self._stream.set_token(view["token"] if view and view.get("project") else None, resume=same)

    @property
    def stream(self) -> EventStream:
        assert self._stream is not None
        return self._stream

    # ---- transport ----------------------------------------------------------------------
    async def _req(self, verb: str, path: str, token: str | None = None, label: str | None = None,
                   **kw) -> httpx.Response:
        headers = kw.pop("headers", {})
        if token:
            headers["X-Auth-Token"] = token
        # what the journal shows of the body: JSON with secrets masked, a file by its name
        body = mask(kw["json"]) if "json" in kw else (
            f"<the bytes of {label or file_label(kw['content'])}>" if "content" in kw else None)
        try:
            r = await self.http.request(verb, path, headers=headers, **kw)
        except httpx.HTTPError as e:
            self.journal.record(Call(verb, path, None, None, body, str(e)))
            raise CloudError(f"cannot reach {self.url}: {e}") from None
        rid = r.headers.get("x-openstack-request-id")
        if r.status_code >= 400:
            try:
                msg = _message(r.json())
            except ValueError:
                msg = None
            msg = msg or f"HTTP {r.status_code} from {path}"
            self.journal.record(Call(verb, path, r.status_code, rid, body, msg))
            raise ERRORS.get(r.status_code, CloudError)(msg)
        self.journal.record(Call(verb, path, r.status_code, rid, body))
        return r

    async def _get(self, path: str, token: str, key: str, **params):
        return (await self._req("GET", path, token, params=params or None)).json()[key]

    async def _invoke(self, method: str, *args, **kwargs) -> Any:
        fn = getattr(self, f"r_{method}", None)
        if fn is None:
            raise BadRequest(f"'{method}' is not available over --url")
        return await fn(*args, **kwargs)

    async def close(self) -> None:
        await self.stream.close()
        await self.http.aclose()

    def close_sync(self) -> None:
        self.stream.stop()
        try:
            asyncio.run(self.http.aclose())
        except RuntimeError:
            pass

    # ---- pushed events (tui/remote_stream.py) -------------------------------------------
    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        self._subscribers.append(callback)
        self.stream.start()
        return lambda: self._subscribers.remove(callback)

    def _emit(self, event: Event) -> None:
        if event.get("type") == "instance":
            s = event["server"]
            if s.get("vm_state") == "deleted" or s.get("status") == "DELETED":
                self._known.pop(s["id"], None)
            else:
                self._known[s["id"]] = s.get("project_id")
        for cb in list(self._subscribers):
            cb(event)

    async def _reload(self) -> None:
        """After a reset (the events missed are no longer kept): the lists again, pushed as
        events, and the instances no longer listed pushed as deleted."""
        if not self.token:
            return
        pid = self.project_id
        try:
            servers = await self.call("list_servers")
            hosts = await self.call("list_hypervisors") if self.token.get("is_admin") else []
        except CloudError:
            return  # the stream breaks too, and the next reset asks again
        listed = {s["id"] for s in servers}
        for s in servers:
            self._emit({"type": "instance", "server": s})
        # the stream's thread adds to _known meanwhile: list() copies it in one step
        for sid in [k for k, p in list(self._known.items()) if p == pid and k not in listed]:
            self._emit({"type": "instance", "server": {"id": sid, "vm_state": "deleted",
                                                       "status": "DELETED", "project_id": pid}})
        for h in hosts:
            self._emit({"type": "host", "host": h})

    # ---- identity -----------------------------------------------------------------------
    async def _auth(self, body: dict) -> dict:
        r = await self._req("POST", "/identity/v3/auth/tokens", json={"auth": body})
        tok = r.json()["token"]
        roles = tok.get("roles") or []
        return {"token": r.headers["X-Subject-Token"], "issued_at": tok.get("issued_at"),
                "expires_at": tok.get("expires_at"), "methods": tok.get("methods", []),
                "user": tok["user"], "project": tok.get("project"), "roles": roles,
                "is_admin": any(x["name"] == "admin" for x in roles)}

    async def r_login(self, username, password, project=None, domain="Default", **_):
        body = {"identity": {"methods": ["password"], "password": {"user": {
            "name": username, "domain": {"name": domain}, "password": password}}}}
        if project:
            body["scope"] = {"project": {"name": project, "domain": {"name": domain}}}
        return await self._auth(body)

    async def r_scope(self, token, project):
        return await self._auth({"identity": {"methods": ["token"], "token": {"id": token}},
                                 "scope": {"project": {"id": project}}})

    async def r_auth_projects(self, token):
        return await self._get("/identity/v3/auth/projects", token, "projects")

    async def r_revoke_token(self, token, subject=None):
        await self._req("DELETE", "/identity/v3/auth/tokens", token,
                        headers={"X-Subject-Token": subject or token})

    # ---- compute ------------------------------------------------------------------------
    async def _lookup(self, token, kind: str, ident: str) -> dict:
        if ident not in self._names[kind]:
            items = await (self.r_list_flavors(token) if kind == "flavors" else self.r_list_images(token))
            self._names[kind].update({i["id"]: i for i in items})
        return self._names[kind].get(ident, {"id": ident, "name": ident})

    async def _server(self, token, s: dict) -> dict:
        f = await self._lookup(token, "flavors", s["flavor"]["id"])
        img = await self._lookup(token, "images", s["image"]["id"]) if s.get("image") else None
        return {
            "id": s["id"], "name": s["name"], "hostname": s["name"], "project_id": s.get("tenant_id"),
            "user_id": s.get("user_id"), "status": s["status"],
            "vm_state": s.get("OS-EXT-STS:vm_state"), "task_state": s.get("OS-EXT-STS:task_state"),
            "power_state": s.get("OS-EXT-STS:power_state", 0),
            "power_state_name": POWER.get(s.get("OS-EXT-STS:power_state", 0), "?"),
            "host": s.get("OS-EXT-SRV-ATTR:host"),
            "availability_zone": s.get("OS-EXT-AZ:availability_zone"),
            "flavor": {k: f.get(k) for k in ("id", "name", "vcpus", "ram", "disk")},
            "image": {"id": img["id"], "name": img.get("name")} if img else None,
            "addresses": {net: [{"addr": a["addr"], "mac": a.get("OS-EXT-IPS-MAC:mac_addr"),
                                 "version": a.get("version", 4), "type": a.get("OS-EXT-IPS:type")}
                                for a in addrs] for net, addrs in (s.get("addresses") or {}).items()},
            "created": s.get("created"), "updated": s.get("updated"),
            "launched_at": s.get("OS-SRV-USG:launched_at"), "terminated_at": s.get("OS-SRV-USG:terminated_at"),
            "boot_volume_id": None,
            "volumes_attached": s.get("os-extended-volumes:volumes_attached") or [],
            "fault": s.get("fault"), "reservation_id": None, "metadata": s.get("metadata") or {},
        }

    async def r_list_servers(self, token, all_projects=False, filters=None, limit=None, marker=None):
        params = dict(filters or {})
        if all_projects:
            params["all_tenants"] = "1"
        if limit is not None:
            params["limit"] = limit
        if marker:
            params["marker"] = marker
        out: list[dict] = []
        while True:  # nova pages at 1,000 (osapi_max_limit): follow the next links
            body = (await self._req("GET", "/compute/v2.1/servers/detail", token, params=params)).json()
            out += [await self._server(token, s) for s in body["servers"]]
            more = any(link.get("rel") == "next" for link in body.get("servers_links") or [])
            if limit is not None or not more or not body["servers"]:
                return out
            params["marker"] = body["servers"][-1]["id"]

    async def r_get_server(self, token, sid):
        return await self._server(token, await self._get(f"/compute/v2.1/servers/{sid}", token, "server"))

    async def r_create_server(self, token, name, image, flavor, networks=None, boot_volume_size=None,
                              availability_zone=None, min_count=1, max_count=1, **_):
        body = create_server_body(name, image, flavor, networks, boot_volume_size, availability_zone,
                                  min_count, max_count)  # one body, also what-just-happened's
        r = await self._req("POST", "/compute/v2.1/servers", token, json=body)
        # nova answers with the first server only; the others arrive on the event stream
        return [await self.r_get_server(token, r.json()["server"]["id"])]

    async def _action(self, token, sid, body):
        return await self._req("POST", f"/compute/v2.1/servers/{sid}/action", token, json=body)

    async def r_delete_server(self, token, sid):
        await self._req("DELETE", f"/compute/v2.1/servers/{sid}", token)

    async def r_stop_server(self, token, sid):
        await self._action(token, sid, {"os-stop": None})

    async def r_start_server(self, token, sid):
        await self._action(token, sid, {"os-start": None})

    async def r_reboot_server(self, token, sid, hard=False):
        await self._action(token, sid, {"reboot": {"type": "HARD" if hard else "SOFT"}})

    async def r_get_console_output(self, token, sid, length=None):
        r = await self._action(token, sid, {"os-getConsoleOutput": {"length": length}})
        return r.json()["output"]

    async def _open_console(self, token, server_id):
        from tui.console_link import WsConsole
        r = await self._req("POST", f"/compute/v2.1/servers/{server_id}/remote-consoles", token,
                            json={"remote_console": {"protocol": "serial", "type": "serial"}})
        try:
            return await WsConsole.open(r.json()["remote_console"]["url"])
        except OSError as e:
            raise CloudError(f"cannot open the console: {e}") from None

    async def r_list_instance_actions(self, token, sid):
        return await self._get(f"/compute/v2.1/servers/{sid}/os-instance-actions", token, "instanceActions")

    async def r_get_instance_action(self, token, sid, rid):
        return await self._get(f"/compute/v2.1/servers/{sid}/os-instance-actions/{rid}", token, "instanceAction")

    async def r_glossary(self, token):
        return await self._get("/pocketstack/v1/glossary", token, "glossary")

    async def r_explain_server(self, token, sid):
        return await self._get(f"/compute/v2.1/servers/{sid}/os-pocketstack-explain", token, "decisions")

    async def r_get_trace(self, token, sid):
        return await self._get(f"/compute/v2.1/servers/{sid}/os-pocketstack-trace", token, "trace")

    async def r_list_flavors(self, token):
        items = await self._get("/compute/v2.1/flavors/detail", token, "flavors")
        return [{"id": f["id"], "name": f["name"], "vcpus": f["vcpus"], "ram": f["ram"],
                 "disk": f["disk"], "is_public": f.get("os-flavor-access:is_public", True)} for f in items]

    async def r_create_flavor(self, token, name, vcpus, ram, disk, flavor_id=None, is_public=True):
        await self._req("POST", "/compute/v2.1/flavors", token, json={"flavor": {
            "name": name, "vcpus": vcpus, "ram": ram, "disk": disk, "os-flavor-access:is_public": is_public}})

    async def r_delete_flavor(self, token, flavor):
        await self._req("DELETE", f"/compute/v2.1/flavors/{flavor}", token)

    async def r_list_hypervisors(self, token):
        # nova's view plus pocketstack's keys (zone, driver, allocation ratios)
        items = await self._get("/compute/v2.1/os-pocketstack-hypervisors", token, "hypervisors")
        return [{"id": h["id"], "name": h["hypervisor_hostname"], "state": h["state"], "status": h["status"],
                 "driver": h.get("pocketstack:driver"), "address": h.get("host_ip"),
                 "availability_zone": h.get("pocketstack:availability_zone"), "vcpus": h["vcpus"],
                 "memory_mb": h["memory_mb"], "disk_gb": h["local_gb"], "vcpus_used": h["vcpus_used"],
                 "memory_mb_used": h["memory_mb_used"], "disk_gb_used": h["local_gb_used"],
                 "running_vms": h["running_vms"],
                 "cpu_allocation_ratio": h.get("pocketstack:cpu_allocation_ratio") or 1,
                 "ram_allocation_ratio": h.get("pocketstack:ram_allocation_ratio") or 1,
                 "reserved_host_memory_mb": h.get("pocketstack:reserved_host_memory_mb") or 0,
                 "disk_allocation_ratio": h.get("pocketstack:disk_allocation_ratio") or 1,
                 "hypervisor_type": h.get("hypervisor_type"), "accelerator": h.get("pocketstack:accelerator"),
                 "down_reason": (h.get("service") or {}).get("disabled_reason")} for h in items]

    # ---- image, network, volume ---------------------------------------------------------
    async def r_list_images(self, token, filters=None):
        return await self._get("/image/v2/images", token, "images")

    async def r_create_image(self, token, name, disk_format="raw", container_format="bare",
                             visibility="private", min_ram=0, min_disk=0, properties=None, image_id=None):
        r = await self._req("POST", "/image/v2/images", token, json={
            "name": name, "disk_format": disk_format, "container_format": container_format,
            "visibility": visibility, "min_ram": min_ram, "min_disk": min_disk, **(properties or {})})
        return r.json()

    async def r_upload_image(self, token, image, data):
        """PUT the file as glance takes it, streamed in 1 MiB chunks (a path or bytes)."""
        if isinstance(data, (bytes, bytearray)):
            content, label = bytes(data), None
        else:
            path = Path(data)

            async def chunks():
                with open(path, "rb") as f:
                    while chunk := await asyncio.to_thread(f.read, 1 << 20):
                        yield chunk
            content, label = chunks(), str(path)
        await self._req("PUT", f"/image/v2/images/{image}/file", token, content=content, label=label,
                        headers={"Content-Type": "application/octet-stream"})
        return await self._get_image(token, image)

    async def _get_image(self, token, image):
        return (await self._req("GET", f"/image/v2/images/{image}", token)).json()

    async def r_delete_image(self, token, image):
        await self._req("DELETE", f"/image/v2/images/{image}", token)

    async def r_list_networks(self, token, filters=None):
        return await self._get("/network/v2.0/networks", token, "networks")

    async def r_create_network(self, token, name, shared=False):
        r = await self._req("POST", "/network/v2.0/networks", token, json={"network": {"name": name}})
        return r.json()["network"]

    async def r_delete_network(self, token, network):
        await self._req("DELETE", f"/network/v2.0/networks/{network}", token)

    async def r_create_subnet(self, token, network, cidr, name=""):
        await self._req("POST", "/network/v2.0/subnets", token, json={"subnet": {
            "network_id": network, "cidr": cidr, "name": name, "ip_version": 4}})

    async def r_list_subnets(self, token, filters=None):
        return await self._get("/network/v2.0/subnets", token, "subnets")

    async def r_list_ports(self, token, filters=None):
        return await self._get("/network/v2.0/ports", token, "ports", **(filters or {}))

    async def r_list_network_wiring(self, token):
        """The facade's view from neutron's (a router leg's host, the network node, is not in it)."""
        nets = await self._get("/network/v2.0/networks", token, "networks")
        ports = await self._get("/network/v2.0/ports", token, "ports")
        fips = await self._get("/network/v2.0/floatingips", token, "floatingips")
        routers = await self._get("/network/v2.0/routers", token, "routers")
        nets = [dict(n, external=n.get("router:external", False)) for n in nets]
        return wiring_of(nets, ports, fips, routers, bool((self.token or {}).get("is_admin")))

    async def _vol(self, token) -> str:
        return f"/volume/v3/{self.project_id}/volumes"

    async def r_list_volumes(self, token, all_projects=False):
        items = await self._get(f"{await self._vol(token)}/detail", token, "volumes")
        return [{"id": v["id"], "name": v.get("name") or "", "size": v["size"], "status": v["status"],
                 "bootable": str(v.get("bootable")).lower() == "true",
                 "host": v.get("os-vol-host-attr:host"),
                 "attachments": v.get("attachments") or []} for v in items]

    async def r_create_volume(self, token, size, name="", description=""):
        r = await self._req("POST", await self._vol(token), token,
                            json={"volume": {"size": size, "name": name, "description": description}})
        return r.json()["volume"]

    async def r_delete_volume(self, token, volume):
        await self._req("DELETE", f"{await self._vol(token)}/{volume}", token)

    async def r_attach_volume(self, token, sid, volume):
        r = await self._req("POST", f"/compute/v2.1/servers/{sid}/os-volume_attachments", token,
                            json={"volumeAttachment": {"volumeId": volume}})
        return r.json()["volumeAttachment"]

    async def r_detach_volume(self, token, sid, volume):
        await self._req("DELETE", f"/compute/v2.1/servers/{sid}/os-volume_attachments/{volume}", token)
