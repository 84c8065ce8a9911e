"""Bad input through the REST API: bodies, names, sizes, ids and tokens (expired, revoked,
unscoped, another project's). Each answers 4xx with a clear message, and nothing is written:
every database table (one sha256 over its sorted rows), the state directory's files and the
hypervisors' guests and volumes are the same after as before (apihelp.Env.state)."""
from __future__ import annotations

import json
import uuid

import pytest
import pytest_asyncio

from apihelp import AUTH, password_body

pytestmark = pytest.mark.asyncio(loop_scope="module")
V = "/compute/v2.1/servers"
RANDOM = str(uuid.uuid4())


def srv(**over):
    body = {"name": "bad", "imageRef": "{image}", "flavorRef": "1"}
    body.update(over)
    return {"server": {k: v for k, v in body.items() if v is not ...}}


def bdm(**over):
    d = {"boot_index": 0, "uuid": "{image}", "source_type": "image", "destination_type": "volume",
         "volume_size": 1}
    d.update(over)
    return srv(block_device_mapping_v2=[d], imageRef="")


PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}

# (id, who, method, path, body, code(s), words the message must hold)
CASES = [
    # ---- tokens
    ("no-token", None, "GET", V, None, 401, "token"),
    ("garbage-token", "garbage", "GET", V, None, 401, ""),
    ("revoked-token", "revoked", "GET", V, None, 401, ""),
    ("expired-token", "expired", "GET", V, None, 401, "expired"),
    ("unscoped-token-create", "unscoped", "POST", V, srv(), (401, 403), ""),
    ("other-project-show", "bob", "GET", V + "/{server}", None, 404, ""),
    ("other-project-delete", "bob", "DELETE", V + "/{server}", None, 404, ""),
    ("other-project-stop", "bob", "POST", V + "/{server}/action", {"os-stop": None}, 404, ""),
    ("other-project-image-delete", "bob", "DELETE", "/image/v2/images/{image}", None, (403, 404), ""),
    ("reader-create", "rita", "POST", V, srv(), 403, ""),
    ("reader-stop", "rita", "POST", V + "/{server}/action", {"os-stop": None}, 403, ""),
    ("reader-delete", "rita", "DELETE", V + "/{server}", None, 403, ""),
    ("reader-network", "rita", "POST", "/network/v2.0/networks", {"network": {"name": "r"}}, 403, ""),
    ("reader-volume", "rita", "POST", "/volume/v3/{pa}/volumes", {"volume": {"size": 1}}, 403, ""),
    ("reader-image", "rita", "POST", "/image/v2/images", {"name": "r"}, 403, ""),
    # ---- keystone bodies
    ("wrong-password", None, "POST", AUTH, password_body("admin", "nope", "admin"), 401, ""),
    ("unknown-user", None, "POST", AUTH, password_body("ghost", "x", "admin"), 401, ""),
    ("project-without-role", None, "POST", AUTH, password_body("bob", "bob-pw", "admin"), 401, ""),
    ("auth-not-json", None, "POST", AUTH, b"{nope", 400, "json"),
    ("auth-missing", None, "POST", AUTH, {"identity": {}}, 400, "auth"),
    ("auth-unknown-field", None, "POST", AUTH, {"auth": {"identity": {"methods": ["password"]},
                                                         "colour": 1}}, 400, "colour"),
    ("auth-no-methods", None, "POST", AUTH, {"auth": {"identity": {"methods": []}}}, 400, "methods"),
    ("auth-totp", None, "POST", AUTH, {"auth": {"identity": {"methods": ["totp"]}}}, 401, "totp"),
    ("auth-domain-scope", None, "POST", AUTH, {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {"name": "admin", "password": "secret"}}},
        "scope": {"domain": {"id": "default"}}}}, 401, "no role on domain"),
    ("user-no-name", "admin", "POST", "/identity/v3/users", {"user": {"password": "x"}}, 400, "name"),
    # keystone keeps other attributes as given, scalars only here
    ("user-nested-attribute", "admin", "POST", "/identity/v3/users",
     {"user": {"name": "n", "password": "x", "nickname": {"a": "y"}}}, 400, "user.nickname"),
    ("user-duplicate", "admin", "POST", "/identity/v3/users", {"user": {"name": "bob", "password": "x"}},
     409, "bob"),
    ("project-is-domain", "admin", "POST", "/identity/v3/projects",
     {"project": {"name": "d", "is_domain": True}}, 400, "is_domain"),
    # ---- nova bodies, names, sizes, ids
    ("server-not-json", "admin", "POST", V, b"not json", 400, "json"),
    ("server-unknown-field", "admin", "POST", V, srv(colour="red"), 400, "colour"),
    ("server-no-name", "admin", "POST", V, srv(name=...), 400, "name"),
    ("server-empty-name", "admin", "POST", V, srv(name="  "), 400, "name"),
    ("server-long-name", "admin", "POST", V, srv(name="x" * 256), 400, "name"),
    ("server-no-flavor", "admin", "POST", V, srv(flavorRef=...), 400, "flavor"),
    ("server-unknown-flavor", "admin", "POST", V, srv(flavorRef="nope"), (400, 404), "nope"),
    ("server-unknown-image", "admin", "POST", V, srv(imageRef=RANDOM), (400, 404), "image"),
    ("server-min-count-text", "admin", "POST", V, srv(min_count="abc"), 400, "min_count"),
    ("server-min-count-zero", "admin", "POST", V, srv(min_count=0), 400, "min_count"),
    ("server-min-over-max", "admin", "POST", V, srv(min_count=3, max_count=2), 400, "max_count"),
    ("server-networks-type", "admin", "POST", V, srv(networks={"uuid": "x"}), 400, "networks"),
    ("server-network-not-uuid", "admin", "POST", V, srv(networks=[{"uuid": "private"}]), 400, "private"),
    ("server-network-unknown", "admin", "POST", V, srv(networks=[{"uuid": RANDOM}]), (400, 404), "network"),
    ("server-key-name", "admin", "POST", V, srv(key_name="mykey"), 400, "key"),
    ("server-bdm-snapshot", "admin", "POST", V, bdm(source_type="snapshot"), 400, "source_type"),
    ("server-bdm-size-zero", "admin", "POST", V, bdm(volume_size=0), 400, "volume_size"),
    ("server-bdm-size-negative", "admin", "POST", V, bdm(volume_size=-5), 400, "volume_size"),
    ("server-metadata-type", "admin", "POST", V, srv(metadata=["a"]), 400, "metadata"),
    ("server-bad-group-hint", "admin", "POST", V, {**srv(), "os:scheduler_hints": {"group": "g"}}, 400, "group"),
    ("server-over-quota", "admin", "POST", V, srv(min_count=50, max_count=50), (400, 403), "quota"),
    ("server-too-big-body", "admin", "POST", V, srv(metadata={"k": "v" * 200}, name="y" * 10,
                                                   colour="z" * 300_000), 413, "limit"),
    ("action-unknown", "admin", "POST", V + "/{server}/action", {"shelve": None}, 400, "shelve"),
    ("action-two-keys", "admin", "POST", V + "/{server}/action", {"os-stop": None, "os-start": None}, 400, "one"),
    ("reboot-type", "admin", "POST", V + "/{server}/action", {"reboot": {"type": "MEDIUM"}}, 400, "SOFT"),
    ("console-length", "admin", "POST", V + "/{server}/action", {"os-getConsoleOutput": {"length": "x"}},
     400, "length"),
    ("server-name-as-id", "admin", "GET", V + "/target", None, 404, "target"),
    ("server-unknown-id", "admin", "DELETE", V + "/" + RANDOM, None, 404, ""),
    ("list-limit-negative", "admin", "GET", V + "?limit=-1", None, 400, "limit"),
    ("list-limit-text", "admin", "GET", V + "/detail?limit=ten", None, 400, "limit"),
    ("list-unknown-marker", "admin", "GET", V + "?marker=" + RANDOM, None, 400, "marker"),
    ("flavor-ram-zero", "admin", "POST", "/compute/v2.1/flavors",
     {"flavor": {"name": "z", "ram": 0, "vcpus": 1, "disk": 1}}, 400, "ram"),
    ("flavor-vcpus-text", "admin", "POST", "/compute/v2.1/flavors",
     {"flavor": {"name": "z", "ram": 64, "vcpus": "two", "disk": 1}}, 400, "vcpus"),
    ("flavor-duplicate", "admin", "POST", "/compute/v2.1/flavors",
     {"flavor": {"name": "m1.nano", "ram": 64, "vcpus": 1, "disk": 1}}, 409, "m1.nano"),
    ("flavor-member", "mia", "POST", "/compute/v2.1/flavors",
     {"flavor": {"name": "q", "ram": 64, "vcpus": 1, "disk": 1}}, 403, ""),
    # ---- glance
    ("image-read-only", "admin", "POST", "/image/v2/images", {"name": "i", "status": "active"}, 403, "status"),
    ("image-disk-format", "admin", "POST", "/image/v2/images", {"name": "i", "disk_format": "exe"}, 400, "exe"),
    ("image-id-not-uuid", "admin", "POST", "/image/v2/images", {"name": "i", "id": "abc"}, 400, "uuid"),
    ("image-min-ram", "admin", "POST", "/image/v2/images", {"name": "i", "min_ram": -1}, 400, "min_ram"),
    ("image-property-type", "admin", "POST", "/image/v2/images", {"name": "i", "foo": 5}, 400, "foo"),
    ("image-patch-ctype", "admin", "PATCH", "/image/v2/images/{image}", [], 415, "patch"),
    ("image-patch-id", "admin", "PATCH+", "/image/v2/images/{image}",
     [{"op": "replace", "path": "/id", "value": RANDOM}], 403, "id"),
    ("image-upload-again", "admin", "PUT", "/image/v2/images/{image}/file", b"xx", 409, ""),
    ("image-data-not-its-format", "admin", "PUT", "/image/v2/images/{queued}/file", b"\0" * 70000, 400,
     "qcow2"),
    ("image-name-as-id", "admin", "GET", "/image/v2/images/cirros", None, 404, "cirros"),
    # ---- neutron
    ("network-unknown-field", "admin", "POST", "/network/v2.0/networks",
     {"network": {"name": "n", "vlan": 5}}, 400, "vlan"),
    ("subnet-bad-cidr", "admin", "POST", "/network/v2.0/subnets",
     {"subnet": {"network_id": "{net}", "cidr": "10.9.0.0/33"}}, 400, "cidr"),
    ("subnet-host-bits", "admin", "POST", "/network/v2.0/subnets",
     {"subnet": {"network_id": "{net}", "cidr": "10.9.0.5/24"}}, 400, "cidr"),
    ("subnet-ipv6", "admin", "POST", "/network/v2.0/subnets",
     {"subnet": {"network_id": "{net}", "cidr": "10.9.0.0/24", "ip_version": 6}}, 400, "ip_version"),
    ("subnet-unknown-network", "admin", "POST", "/network/v2.0/subnets",
     {"subnet": {"network_id": RANDOM, "cidr": "10.9.0.0/24"}}, 404, ""),
    ("subnet-overlap", "admin", "POST", "/network/v2.0/subnets",
     {"subnet": {"network_id": "{net}", "cidr": "10.0.0.0/24"}}, (400, 409), ""),
    ("port-bad-ip", "admin", "POST", "/network/v2.0/ports",
     {"port": {"network_id": "{net}", "fixed_ips": [{"ip_address": "10.0.0.300"}]}}, 400, "10.0.0.300"),
    ("port-ip-outside", "admin", "POST", "/network/v2.0/ports",
     {"port": {"network_id": "{net}", "fixed_ips": [{"ip_address": "172.16.0.9"}]}}, (400, 409), ""),
    ("network-name-as-id", "admin", "GET", "/network/v2.0/networks/private", None, 404, "private"),
    # ---- cinder
    ("volume-size-zero", "admin", "POST", "/volume/v3/{pa}/volumes", {"volume": {"size": 0}}, 400, "size"),
    ("volume-size-text", "admin", "POST", "/volume/v3/{pa}/volumes", {"volume": {"size": "big"}}, 400, "size"),
    ("volume-size-huge", "admin", "POST", "/volume/v3/{pa}/volumes", {"volume": {"size": 10 ** 9}}, 400, "size"),
    ("volume-no-size", "admin", "POST", "/volume/v3/{pa}/volumes", {"volume": {"name": "v"}}, 400, "size"),
    ("volume-other-project-url", "bob", "POST", "/volume/v3/{pa}/volumes", {"volume": {"size": 1}}, 400, "project"),
    ("volume-image-ref", "admin", "POST", "/volume/v3/{pa}/volumes",
     {"volume": {"size": 1, "imageRef": "0b3c5a2e-0000-4000-8000-000000000000"}}, 400, "image"),
    ("volume-type", "admin", "POST", "/volume/v3/{pa}/volumes",
     {"volume": {"size": 1, "volume_type": "ssd"}}, 404, "ssd"),  # cinder: VolumeTypeNotFound
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bad(env):
    """Tokens gone bad, and a server of mia's (project admin) to aim at."""
    tokens = {"garbage": "gAAAAnot-a-token"}
    tokens["revoked"] = await env.login("mia", "mia-pw", "admin")
    await env.http.delete(AUTH, headers={"X-Auth-Token": env.tokens["admin"],
                                         "X-Subject-Token": tokens["revoked"]})
    r = await env.http.post(AUTH, json=password_body("mia", "mia-pw"))
    tokens["unscoped"] = r.headers["X-Subject-Token"]
    ttl = env.cloud.config.token_ttl
    env.cloud.config.token_ttl = 0  # expires the moment it is issued: no waiting for a clock
    try:
        tokens["expired"] = await env.login("mia", "mia-pw", "admin")
    finally:
        env.cloud.config.token_ttl = ttl
    r = await env.post(V, {"server": {"name": "target", "imageRef": env.ids["image"], "flavorRef": "1"}},
                       who="mia")
    sid = r.json()["server"]["id"]
    await env.wait_status(sid, "ACTIVE")
    r = await env.post("/image/v2/images", {"name": "empty", "disk_format": "qcow2", "container_format": "bare"})
    assert r.status_code == 201, r.text
    env.tokens.update(tokens)
    return {"server": sid, "image": env.ids["image"], "net": env.ids["network"],
            "pa": env.ids["project_admin"], "queued": r.json()["id"]}


def _fill(obj, ids):
    if isinstance(obj, str):
        return obj.format(**ids) if "{" in obj else obj
    if isinstance(obj, list):
        return [_fill(x, ids) for x in obj]
    if isinstance(obj, dict):
        return {k: _fill(v, ids) for k, v in obj.items()}
    return obj


def _message(body) -> str:
    if isinstance(body, dict):
        if isinstance(body.get("message"), str):
            return body["message"]
        for v in body.values():
            if isinstance(v, dict) and v.get("message"):
                return v["message"]
    return ""


async def test_there_are_at_least_40_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
async def test_bad_input_is_refused_and_writes_nothing(env, bad, case):
    _, who, method, path, body, codes, words = case
    codes = codes if isinstance(codes, tuple) else (codes,)
    headers = {"X-Auth-Token": env.tokens[who]} if who else {}
    if method == "PATCH+":
        method, headers = "PATCH", {**headers, **PATCH}
    kw = {}
    if isinstance(body, bytes):
        kw["content"] = body
        headers.setdefault("Content-Type", "application/json" if method == "POST" else
                           "application/octet-stream")
    elif body is not None:
        kw["content"] = json.dumps(_fill(body, bad)).encode()
        headers.setdefault("Content-Type", "application/json")
    before = await env.state()
    r = await env.http.request(method, _fill(path, bad), headers=headers, **kw)
    assert r.status_code in codes, f"{r.status_code} {r.text[:300]}"
    msg = _message(r.json())
    assert msg, f"no message in {r.text[:300]}"
    for w in words.split():
        assert w.lower() in msg.lower(), f"{w!r} not in {msg!r}"
    after = await env.state()
    assert after["files"] == before["files"]
    assert after["hypervisors"] == before["hypervisors"]
    changed = sorted(t for t in before["db"].keys() | after["db"].keys()
                     if before["db"].get(t) != after["db"].get(t))
    assert changed == [], f"tables written by a refused request: {changed}"
    # the target is untouched by every refused request
    s = (await env.get(f"{V}/{bad['server']}")).json()["server"]
    assert s["status"] == "ACTIVE"
