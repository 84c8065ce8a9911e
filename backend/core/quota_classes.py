"""nova's quota classes (os-quota-class-sets): named sets of compute limits, read and set by
admins. The class 'default' is what every project has where it has no limit of its own
(backend.core.quota reads it over the configured defaults). Other classes are kept and shown
only, as nova keeps them (nothing assigns a project to a class).

nova 2.1 shows and takes the network proxies' keys (floating_ips, fixed_ips, security_groups,
security_group_rules) and the file-injection ones; pocketstack enforces neither (the network
service has its own quotas, there is no file injection), so their class values are kept and
shown, and act on nothing."""
from __future__ import annotations

from backend.core import db as dbm
from backend.core.errors import BadRequest, Forbidden
from backend.core.quota import FIXED, UNLIMITED, _limit_value, defaults

# what a class shows for the keys pocketstack does not enforce, until a class sets them
INERT = {"floating_ips": UNLIMITED, "fixed_ips": UNLIMITED, "security_groups": UNLIMITED,
         "security_group_rules": UNLIMITED, **FIXED["compute"]}


def overrides(db, class_name: str = "default") -> dict[str, int]:
    return {r["resource"]: r["hard_limit"] for r in dbm.rows(
        db, "SELECT resource, hard_limit FROM quota_classes WHERE class_name=?", (class_name,))}


def _check_class(class_name) -> str:
    if not isinstance(class_name, str) or not 0 < len(class_name) <= 255:
        raise BadRequest("a quota class name is 1 to 255 characters")
    return class_name


def show(db, config, ctx, class_name: str) -> dict[str, int]:
    """Every compute key of the class: its own value, else the default's."""
    if not ctx.is_admin:
        raise Forbidden("only an admin may read quota classes")
    out = {**defaults(config, "compute"), **INERT, **overrides(db, "default")}
    out.update(overrides(db, _check_class(class_name)))
    return out


def update(db, config, ctx, class_name: str, values: dict, keys) -> dict[str, int]:
    """Set some of `keys` (the ones the caller's microversion takes); all or nothing."""
    if not ctx.is_admin:
        raise Forbidden("only an admin may change quota classes")
    _check_class(class_name)
    if not isinstance(values, dict):
        raise BadRequest("'quota_class_set' must be an object of resource to limit")
    clean = {}
    for k, v in values.items():
        if k not in keys:
            raise BadRequest(f"Additional properties are not allowed ('{k}' was unexpected): "
                             f"the keys are {', '.join(sorted(keys))}")
        clean[k] = _limit_value(k, v)  # an integer from -1, or a string of digits, as nova
    with dbm.transaction(db):
        for k, v in clean.items():
            db.conn.execute("INSERT INTO quota_classes (class_name, resource, hard_limit, updated_at)"
                            " VALUES (?,?,?,?) ON CONFLICT(class_name, resource) DO UPDATE"
                            " SET hard_limit=excluded.hard_limit, updated_at=excluded.updated_at",
                            (class_name, k, v, dbm.now_iso()))
    return show(db, config, ctx, class_name)
