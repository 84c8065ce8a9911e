"""The facade, how each network is wired (read only): its VXLAN segment, the hosts it spans,
its ports with their host, MAC, addresses and status, its routers and floating IPs. A part of
Cloud (backend/facade/__init__.py): self.rt and self.ctx are Cloud's.

`wiring_of` is pure, over neutron-shaped views, so a client of the REST API (the app's remote
adapter) builds the same answer from GET /v2.0/networks, /ports, /routers and /floatingips.
What neutron's policy shows admins only (provider:* attributes, binding:host_id and
binding:vif_type) is None for anyone else: a client says it is not shown, never guesses."""
from __future__ import annotations

DHCP = "network:dhcp"
# the legs of routers and floating IPs live in the network node's namespaces
NODE_OWNERS = ("network:router_interface", "network:router_gateway", "network:floatingip")


def wiring_of(networks: list[dict], ports: list[dict], floatingips: list[dict], routers: list[dict],
              admin: bool, node: str | None = None) -> list[dict]:
    """One view per network: {id, name, project_id, status, shared, external, network_type,
    segmentation_id, hosts, ports, routers}. `node`: the network node's host name (its router
    legs carry no binding of their own), None when the deployment has none or it is unknown."""
    fip = {f["port_id"]: f["floating_ip_address"] for f in floatingips if f.get("port_id")}
    router_names = {r["id"]: r for r in routers}
    by_net: dict[str, list[dict]] = {}
    for p in ports:
        by_net.setdefault(p["network_id"], []).append(p)
    out = []
    for n in networks:
        mine = [_port(p, fip, admin, node) for p in by_net.get(n["id"], [])]
        mine.sort(key=lambda p: (p["device_owner"], p["ip_addresses"], p["id"]))
        legs = sorted({p["device_id"] for p in mine if p["device_owner"] in NODE_OWNERS[:2]})
        out.append({
            "id": n["id"], "name": n["name"], "project_id": n.get("project_id"),
            "status": n.get("status"), "shared": bool(n.get("shared")), "external": bool(n.get("external")),
            "network_type": n.get("provider:network_type") if admin else None,
            "segmentation_id": n.get("provider:segmentation_id") if admin else None,
            "hosts": sorted({p["host"] for p in mine if p["host"]}) if admin else None,
            "ports": mine,
            "routers": [{"id": r, "name": router_names[r]["name"], "status": router_names[r]["status"]}
                        for r in legs if r in router_names],
        })
    return out


def _port(p: dict, fip: dict, admin: bool, node: str | None) -> dict:
    host = p.get("binding:host_id") or None
    if host is None and p.get("device_owner") in NODE_OWNERS:
        host = node
    return {"id": p["id"], "name": p.get("name") or "", "device_id": p.get("device_id") or "",
            "device_owner": p.get("device_owner") or "", "mac_address": p["mac_address"],
            "ip_addresses": [ip["ip_address"] for ip in p.get("fixed_ips") or []],
            "status": p.get("status"), "host": host if admin else None,
            "vif_type": p.get("binding:vif_type") if admin else None,
            "floating_ip": fip.get(p["id"])}


class NetworkWiringFacade:
    wiring_of = staticmethod(wiring_of)

    async def list_network_wiring(self, token: str) -> list[dict]:
        """Every network the caller sees, wired (wiring_of's view)."""
        ctx = await self.ctx(token)
        net = self.rt.network
        node = net.dhcp.host if net.l2.node is not None else None
        return wiring_of(net.list_networks(ctx, {}), net.list_ports(ctx, {}), net.list_floatingips(ctx, {}),
                         net.list_routers(ctx, {}), ctx.is_admin, node)
