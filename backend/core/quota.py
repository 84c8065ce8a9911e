"""Quotas, as upstream names and defaults them: nova's (instances, cores, ram, metadata_items,
server_groups, server_group_members), neutron's (network, subnet, port), cinder's (volumes,
gigabytes, per_volume_gigabytes) and glance's unified limits (image_count_total,
image_size_total in MiB).

One place for the defaults, the per-project overrides (table `quotas`, one row per project and
resource, as nova's and cinder's `quotas` tables), usage counting and the check. Usage is
counted from the resources themselves (nova's counting quotas), never kept as a separate tally
that could drift. The check runs inside the caller's write transaction, just before its
insert, so two concurrent creates cannot both take the last unit (BEGIN IMMEDIATE holds the
database's write lock from the count to the commit)."""
from __future__ import annotations

import re

from backend.core import db as dbm
from backend.core.errors import BadRequest, Forbidden, OverLimit, OverQuota, RequestTooLarge

MIB = 1024 * 1024
UNLIMITED = -1
MAX_LIMIT = 2 ** 31 - 1   # nova's db.MAX_INT

# resource -> (service, default). Names are unique across services, so one table holds all.
DEFAULTS: dict[str, tuple[str, int]] = {
    "instances": ("compute", 10), "cores": ("compute", 20), "ram": ("compute", 51200),
    "metadata_items": ("compute", 128), "server_groups": ("compute", 10),
    "server_group_members": ("compute", 10), "key_pairs": ("compute", 100),
    "network": ("network", 100), "subnet": ("network", 100), "port": ("network", 500),
    "router": ("network", 10), "floatingip": ("network", 50),
    "security_group": ("network", 10), "security_group_rule": ("network", 100),
    "volumes": ("volume", 10), "gigabytes": ("volume", 1000), "per_volume_gigabytes": ("volume", -1),
    # shown with cinder's defaults; snapshots, backups and groups do not exist here
    "snapshots": ("volume", 10), "backups": ("volume", 10), "backup_gigabytes": ("volume", 1000),
    "groups": ("volume", 10),
    # glance has no defaults (limits are registered in keystone); these are pocketstack's
    "image_count_total": ("image", 100), "image_size_total": ("image", 51200),
}
# nova shows these; pocketstack has no file injection, so 0 and read-only
FIXED = {"compute": {"injected_files": 0, "injected_file_content_bytes": 0,
                     "injected_file_path_bytes": 0}}
SERVICES = ("compute", "network", "volume", "image")

# usage per project; per-instance, per-user and per-group resources (metadata_items,
# key_pairs, server_group_members) and the ones that do not exist count 0 here, as nova shows them
_COUNT = {  # resource -> (aggregate, the rows it aggregates): one statement counts them all
    "instances": ("count(*)", "instances WHERE project_id=? AND deleted=0"),
    "cores": ("coalesce(sum(vcpus),0)", "instances WHERE project_id=? AND deleted=0"),
    "ram": ("coalesce(sum(memory_mb),0)", "instances WHERE project_id=? AND deleted=0"),
    "server_groups": ("count(*)", "server_groups WHERE project_id=?"),
    "network": ("count(*)", "networks WHERE project_id=?"),
    "subnet": ("count(*)", "subnets WHERE project_id=?"),
    "port": ("count(*)", "ports WHERE project_id=?"),
    "security_group": ("count(*)", "security_groups WHERE project_id=?"),
    "security_group_rule": ("count(*)", "security_group_rules WHERE project_id=?"),
    "router": ("count(*)", "routers WHERE project_id=?"),
    "floatingip": ("count(*)", "floatingips WHERE project_id=?"),
    "volumes": ("count(*)", "volumes WHERE project_id=?"),
    "gigabytes": ("coalesce(sum(size),0)", "volumes WHERE project_id=?"),
    "image_count_total": ("count(*)", "images WHERE owner=?"),
    # MiB, rounded up: a byte over a MiB counts as the next MiB
    # an upload's size counts from its claim (claim_image_size) while still 'saving'
    "image_size_total": (f"coalesce(sum((size + {MIB} - 1) / {MIB}),0)",
                         "images WHERE owner=? AND size IS NOT NULL AND status IN ('active', 'saving')"),
}


def defaults(config, service: str | None = None) -> dict[str, int]:
    """Upstream defaults, then the config's (quota_instances/cores/ram and quota_defaults)."""
    out = {r: d for r, (s, d) in DEFAULTS.items() if service in (None, s)}
    for r in ("instances", "cores", "ram"):
        if r in out:
            out[r] = getattr(config, f"quota_{r}")
    for r, v in (getattr(config, "quota_defaults", None) or {}).items():
        if r in out:
            out[r] = v
    return out


def class_defaults(db, config, service: str | None = None) -> dict[str, int]:
    """defaults() under nova's quota class 'default' (os-quota-class-sets, set by admins)."""
    out = defaults(config, service)
    for r in dbm.rows(db, "SELECT resource, hard_limit FROM quota_classes WHERE class_name='default'"):
        if r["resource"] in out:
            out[r["resource"]] = r["hard_limit"]
    return out


def limits(db, config, project_id: str, service: str | None = None) -> dict[str, int]:
    """The limits in force: defaults, under the class 'default', under the project's own
    (both overrides read by one statement, the project's last so they win)."""
    out = defaults(config, service)
    for r in db.conn.execute(
            "SELECT resource, hard_limit FROM (SELECT 0 o, resource, hard_limit FROM quota_classes"
            " WHERE class_name='default' UNION ALL SELECT 1 o, resource, hard_limit FROM quotas"
            " WHERE project_id=?) q ORDER BY o", (project_id,)).fetchall():
        if r[0] in out:
            out[r[0]] = r[1]
    return out


def usage(db, project_id: str, resources) -> dict[str, int]:
    """Each resource's usage by the project, all in one statement (resources counted from
    the same rows share one aggregate; ones with nothing to count are 0)."""
    out = {r: 0 for r in resources}
    groups: dict[str, list[str]] = {}
    for r in out:
        if r in _COUNT:
            groups.setdefault(_COUNT[r][1], []).append(r)
    if not groups:
        return out
    # one row: each table's aggregates in a one-row derived table, joined side by side
    sql = "SELECT * FROM " + ", ".join(f"(SELECT {', '.join(_COUNT[r][0] for r in rs)} FROM {src}) t{i}"
                                       for i, (src, rs) in enumerate(groups.items()))
    values = db.conn.execute(sql, (project_id,) * len(groups)).fetchone()
    for r, v in zip((r for rs in groups.values() for r in rs), values):
        out[r] = v
    return out


def fit(db, config, project_id: str, per_unit: dict[str, int], min_units: int, max_units: int,
        service: str, used: dict[str, int] | None = None) -> int:
    """How many units (instances, ports, ...) fit, each taking per_unit of every resource;
    at most max_units. Fewer than min_units: the service's over-quota error, naming each
    resource that does not fit with its limit, usage and the amount requested. used
    overrides counted usage (per-group or per-instance resources). Call it inside the write
    transaction that inserts what it allowed."""
    per_unit = {r: n for r, n in per_unit.items() if n > 0}
    lim = limits(db, config, project_id)
    # an unlimited resource needs no count: neither the room nor the error reads its usage
    have = usage(db, project_id, [r for r in per_unit if r not in (used or {}) and lim[r] != UNLIMITED])
    have.update(used or {})
    room = max_units
    for r, n in per_unit.items():
        if lim[r] != UNLIMITED:
            room = min(room, max(lim[r] - have[r], 0) // n)
    if room < min_units:
        over = [(r, lim[r], have[r], min_units * n) for r, n in per_unit.items()
                if lim[r] != UNLIMITED and have[r] + min_units * n > lim[r]]
        raise over_quota(service, project_id, over)
    return room


def check(db, config, project_id: str, deltas: dict[str, int], service: str,
          used: dict[str, int] | None = None) -> None:
    """deltas more of each resource must fit, or the service's over-quota error."""
    fit(db, config, project_id, deltas, 1, 1, service, used)


def over_quota(service: str, project_id: str, over: list[tuple[str, int, int, int]]):
    """The error each upstream service gives, with the resource, limit, used and requested."""
    if service == "network":
        names = [r for r, *_ in over]
        return OverQuota(f"Quota exceeded for resources: {names}. " + "; ".join(
            f"{r}: limit {lim}, used {used}, requested {req}" for r, lim, used, req in over))
    if service == "volume":
        msgs = []
        for r, lim, used, req in over:
            if r == "gigabytes":
                msgs.append(f"Requested volume or snapshot exceeds allowed gigabytes quota. Requested {req}G, "
                            f"quota is {lim}G and {used}G has been consumed.")
            elif r == "per_volume_gigabytes":
                msgs.append(f"Requested volume size {req}G is larger than maximum allowed limit {lim}G.")
            else:
                msgs.append(f"VolumeLimitExceeded: Maximum number of {r} allowed ({lim}) exceeded for "
                            f"quota '{r}' ({used} used, {req} requested).")
        return RequestTooLarge(" ".join(msgs))
    if service == "image":
        return RequestTooLarge(f"Project {project_id} is over a limit for " + ", ".join(
            f"[Resource {r} is over limit of {lim} due to current usage {used} and delta {req}]"
            for r, lim, used, req in over))
    return OverLimit("; ".join(f"Quota exceeded for {r}: Requested {req}, but already used {used} of {lim} {r}"
                               for r, lim, used, req in over))


class QuotaService:
    """The quota APIs: members read their own project's quotas, admins read and set any
    project's; -1 means unlimited."""

    def __init__(self, db, config):
        self.db, self.config = db, config

    def _project(self, ctx, project_id, write=False) -> str:
        if not ctx.project_id:
            raise Forbidden("the token is not scoped to a project")
        if write and not ctx.is_admin:
            raise Forbidden("only an admin may change quotas")
        if not ctx.is_admin and project_id != ctx.project_id:
            raise Forbidden("quotas of another project are for admins only")
        if not isinstance(project_id, str) or not dbm.row(self.db, "SELECT 1 x FROM projects WHERE id=?",
                                                          (project_id,)):
            raise BadRequest(f"Project ID {project_id} is not a valid project.")
        return project_id

    @staticmethod
    def _service(service):
        if service not in SERVICES:
            raise BadRequest(f"unknown quota service {service!r}: one of {', '.join(SERVICES)}")
        return service

    def show(self, ctx, project_id, service) -> dict:
        """{resource: {"limit", "in_use"}} of one service, fixed resources included."""
        pid = self._project(ctx, project_id)
        lim = limits(self.db, self.config, pid, self._service(service))
        used = usage(self.db, pid, lim)
        out = {r: {"limit": lim[r], "in_use": used[r]} for r in lim}
        out.update({r: {"limit": v, "in_use": 0} for r, v in FIXED.get(service, {}).items()})
        return out

    def show_defaults(self, ctx, service) -> dict:
        if not ctx.project_id:
            raise Forbidden("the token is not scoped to a project")
        return {**class_defaults(self.db, self.config, self._service(service)), **FIXED.get(service, {})}

    def update(self, ctx, project_id, service, values: dict, force: bool = True) -> dict:
        """Set limits (nothing is written unless every value is good). force=False refuses a
        limit below the current usage, as nova without 'force'."""
        pid = self._project(ctx, project_id, write=True)
        known = defaults(self.config, self._service(service))
        if not isinstance(values, dict):
            raise BadRequest("quota values must be a mapping of resource to limit")
        clean = {}
        for k, v in values.items():
            if k in FIXED.get(service, {}):
                raise BadRequest(f"quota {k!r} cannot be changed in pocketstack (it is always "
                                 f"{FIXED[service][k]})")
            if k not in known:
                raise BadRequest(f"unknown {service} quota {k!r}: one of {', '.join(sorted(known))}")
            clean[k] = _limit_value(k, v)
        if not force:
            used = usage(self.db, pid, clean)
            for k, v in clean.items():
                if v != UNLIMITED and v < used[k]:
                    raise BadRequest(f"Quota limit {v} for {k} must be greater than or equal to already used "
                                     f"and reserved {used[k]}.")
        with dbm.transaction(self.db):
            for k, v in clean.items():
                self.db.conn.execute("INSERT INTO quotas (project_id, resource, hard_limit, updated_at)"
                                     " VALUES (?,?,?,?) ON CONFLICT(project_id, resource) DO UPDATE"
                                     " SET hard_limit=excluded.hard_limit, updated_at=excluded.updated_at",
                                     (pid, k, v, dbm.now_iso()))
        return self.show(ctx, pid, service)

    def delete(self, ctx, project_id, service) -> None:
        """Back to the defaults."""
        pid = self._project(ctx, project_id, write=True)
        names = list(defaults(self.config, self._service(service)))
        self.db.conn.execute(f"DELETE FROM quotas WHERE project_id=? AND resource IN "
                             f"({','.join('?' * len(names))})", (pid, *names))


def _limit_value(key, v) -> int:
    """An integer from -1 up (a JSON number, or a string of ASCII digits as nova accepts)."""
    if isinstance(v, str) and re.fullmatch(r"-?[0-9]{1,10}", v.strip()):
        v = int(v.strip())
    if isinstance(v, bool) or not isinstance(v, int):
        raise BadRequest(f"Invalid input for field/attribute {key}. Value: {v!r}. It must be an integer.")
    if not UNLIMITED <= v <= MAX_LIMIT:
        raise BadRequest(f"Invalid input for field/attribute {key}. Value: {v}. It must be from -1 "
                         f"(unlimited) to {MAX_LIMIT}.")
    return v


# ---- glance's image_size_total while an upload streams in, and at its end ------------------
def image_mib(size: int) -> int:
    return (size + MIB - 1) // MIB


async def limit_upload(chunks, db, config, owner: str):
    """Pass the chunks through, refusing (413) as soon as the data would take the project
    past image_size_total, so a too-large upload stops early instead of filling the disk."""
    lim = limits(db, config, owner, "image")["image_size_total"]
    used = usage(db, owner, ["image_size_total"])["image_size_total"]
    room = None if lim == UNLIMITED else (lim - used) * MIB
    if room is not None and room <= 0:
        raise over_quota("image", owner, [("image_size_total", lim, used, 1)])
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if room is not None and size > room:
            raise over_quota("image", owner, [("image_size_total", lim, used, image_mib(size))])
        yield chunk


def claim_image_size(db, config, image_id: str, owner: str, size: int) -> None:
    """The last word, in one transaction: the stored size counts towards usage only if it
    fits, so two uploads finishing together cannot both take the last MiBs."""
    with dbm.transaction(db):
        check(db, config, owner, {"image_size_total": image_mib(size)}, "image")
        db.conn.execute("UPDATE images SET size=? WHERE id=?", (size, image_id))
