"""What a hostile member of another project tries through the REST API: validating someone
else's token, over-long passwords, host-name oracles, the console as a reader, networks in
another project, orphaning a project's resources, a forged Host header, names that carry
terminal or bidi controls, integers and JSON that used to end in a 500."""
from __future__ import annotations

import asyncio

import httpx
import pytest
import pytest_asyncio

from apihelp import AUTH, Env, password_body
from backend.api import create_app

pytestmark = pytest.mark.asyncio(loop_scope="module")
V = "/compute/v2.1"
N = "/network/v2.0"


def _message(r: httpx.Response) -> str:
    body = r.json()
    if isinstance(body.get("message"), str):
        return body["message"]
    for v in body.values():
        if isinstance(v, dict) and v.get("message"):
            return v["message"]
    raise AssertionError(f"no message in {r.text[:300]}")


async def _user(env: Env, name: str, project: str, role: str, password: str | None = None) -> str:
    """A new user with role on project (a name in env.ids); logs in and keeps the token."""
    password = password or f"{name}-pw"
    r = await env.post("/identity/v3/users", {"user": {"name": name, "password": password}})
    assert r.status_code == 201, r.text
    env.ids["user_" + name] = r.json()["user"]["id"]
    roles = {x["name"]: x["id"] for x in (await env.get("/identity/v3/roles")).json()["roles"]}
    r = await env.http.put(f"/identity/v3/projects/{env.ids['project_' + project]}/users/"
                           f"{env.ids['user_' + name]}/roles/{roles[role]}", headers=env.h())
    assert r.status_code == 204, r.text
    env.tokens[name] = await env.login(name, password, project)
    env.ids["project_" + name] = env.ids["project_" + project]
    return env.tokens[name]


async def _project(env: Env, name: str) -> str:
    r = await env.post("/identity/v3/projects", {"project": {"name": name}})
    assert r.status_code == 201, r.text
    env.ids["project_" + name] = r.json()["project"]["id"]
    return env.ids["project_" + name]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(env):
    """An ACTIVE server of mia's (project admin)."""
    r = await env.post(f"{V}/servers", {"server": {"name": "target", "imageRef": env.ids["image"],
                                                    "flavorRef": "1"}}, who="mia")
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    await env.wait_status(sid, "ACTIVE", who="mia")
    return sid


# ---- 1. token validation is for admins and the token's owner -------------------------
async def test_a_token_cannot_validate_another_users_token(env):
    for method in ("GET", "HEAD"):
        r = await env.http.request(method, AUTH, headers={"X-Auth-Token": env.tokens["bob"],
                                                          "X-Subject-Token": env.tokens["mia"]})
        assert r.status_code == 403, (method, r.status_code, r.text)
    r = await env.http.get(AUTH, headers={"X-Auth-Token": env.tokens["bob"],
                                          "X-Subject-Token": env.tokens["mia"]})
    assert "token" in _message(r).lower()
    assert env.ids["user_mia"] not in r.text
    # the owner (with another of their tokens) and an admin may
    other_mia = await env.login("mia", "mia-pw")
    for who_token in (other_mia, env.tokens["admin"]):
        for method in ("GET", "HEAD"):
            r = await env.http.request(method, AUTH, headers={"X-Auth-Token": who_token,
                                                              "X-Subject-Token": env.tokens["mia"]})
            assert r.status_code == 200, (method, r.text)
    assert r.headers["X-Subject-Token"] == env.tokens["mia"]


async def test_a_revoked_or_expired_subject_token_is_not_found(env):
    revoked = await env.login("bob", "bob-pw", "other")
    r = await env.http.delete(AUTH, headers={"X-Auth-Token": revoked, "X-Subject-Token": revoked})
    assert r.status_code == 204
    ttl = env.cloud.config.token_ttl
    env.cloud.config.token_ttl = 1
    try:
        expired = await env.login("bob", "bob-pw", "other")
    finally:
        env.cloud.config.token_ttl = ttl
    loop = asyncio.get_running_loop()
    end = loop.time() + 10
    while True:  # until the one-second token has expired
        try:
            await env.cloud.validate_token(env.tokens["admin"], expired)
        except Exception:
            break
        assert loop.time() < end, "a one-second token did not expire in 10 s"
        await asyncio.sleep(0.1)
    for subject in (revoked, expired):
        for who in ("admin", "bob"):
            for method in ("GET", "HEAD"):
                r = await env.http.request(method, AUTH, headers={"X-Auth-Token": env.tokens[who],
                                                                  "X-Subject-Token": subject})
                assert r.status_code == 404, (who, method, r.status_code)
        r = await env.http.delete(AUTH, headers={"X-Auth-Token": env.tokens["admin"],
                                                 "X-Subject-Token": subject})
        assert r.status_code == 404
    # the caller's own bad token is still a 401
    r = await env.http.get(AUTH, headers={"X-Auth-Token": revoked, "X-Subject-Token": env.tokens["bob"]})
    assert r.status_code == 401


# ---- 2. bcrypt reads 72 bytes: longer passwords are refused, never truncated ----------
async def test_a_password_is_compared_whole(env):
    pw = "p" * 72
    await _user(env, "longpw", "other", "member", password=pw)
    for tail in ("x", "anything at all"):
        r = await env.http.post(AUTH, json=password_body("longpw", pw + tail, "other"))
        assert r.status_code == 401, tail
    r = await env.http.post(AUTH, json=password_body("longpw", pw, "other"))
    assert r.status_code == 201


async def test_a_password_over_72_bytes_is_refused_with_the_limit(env):
    for pw in ("q" * 73, "é" * 37):  # 73 and 74 bytes in UTF-8
        r = await env.post("/identity/v3/users", {"user": {"name": "toolong", "password": pw}})
        assert r.status_code == 400 and "72 bytes" in _message(r), r.text
        r = await env.http.patch(f"/identity/v3/users/{env.ids['user_bob']}",
                                 json={"user": {"password": pw}}, headers=env.h())
        assert r.status_code == 400 and "72 bytes" in _message(r), r.text
    names = [u["name"] for u in (await env.get("/identity/v3/users")).json()["users"]]
    assert "toolong" not in names
    assert await env.login("bob", "bob-pw", "other")


# ---- 3. ?host= is an admin filter; others' is ignored (nova) ------------------------
async def test_non_admin_host_filter_is_ignored(env, server):
    plain = {s["id"] for s in (await env.get(f"{V}/servers", who="mia")).json()["servers"]}
    assert server in plain
    for host in ("fake-1", "fake-2", "no-such-host"):
        r = await env.get(f"{V}/servers/detail?host={host}", who="mia")
        assert r.status_code == 200
        assert {s["id"] for s in r.json()["servers"]} == plain, host
    # admins still filter by host
    admin_host = (await env.get(f"{V}/servers/{server}")).json()["server"]["OS-EXT-SRV-ATTR:host"]
    other = "fake-2" if admin_host == "fake-1" else "fake-1"
    ids = {s["id"] for s in (await env.get(f"{V}/servers?host={other}")).json()["servers"]}
    assert server not in ids
    ids = {s["id"] for s in (await env.get(f"{V}/servers?host={admin_host}")).json()["servers"]}
    assert server in ids


# ---- 4. console output needs member --------------------------------------------------
async def test_a_reader_cannot_read_console_output(env, server):
    body = {"os-getConsoleOutput": {"length": 10}}
    r = await env.post(f"{V}/servers/{server}/action", body, who="rita")
    assert r.status_code == 403, r.text
    assert "console" in _message(r).lower()
    r = await env.post(f"{V}/servers/{server}/action", body, who="mia")
    assert r.status_code == 200 and "output" in r.json()


# ---- 5. a network body's project ---------------------------------------------------
async def test_network_project_is_honoured_for_admins_only(env):
    other = env.ids["project_other"]
    for key in ("project_id", "tenant_id"):
        r = await env.post(f"{N}/networks", {"network": {"name": f"sneaky-{key}", key: other}}, who="mia")
        assert r.status_code == 403, r.text
        assert key in _message(r)
        r = await env.post(f"{N}/networks", {"network": {"name": f"given-{key}", key: other}})
        assert r.status_code == 201, r.text
        assert r.json()["network"]["project_id"] == other
        nets = (await env.get(f"{N}/networks", who="bob")).json()["networks"]
        assert f"given-{key}" in [n["name"] for n in nets]
    # naming one's own project is fine; naming two different ones is not
    r = await env.post(f"{N}/networks", {"network": {"name": "own", "project_id": env.ids["project_admin"]}},
                       who="mia")
    assert r.status_code == 201 and r.json()["network"]["project_id"] == env.ids["project_admin"]
    r = await env.post(f"{N}/networks", {"network": {"name": "two", "project_id": other,
                                                     "tenant_id": env.ids["project_admin"]}})
    assert r.status_code == 400
    r = await env.post(f"{N}/networks", {"network": {"name": "ghost", "project_id": "f" * 32}})
    assert r.status_code in (400, 404) and "f" * 32 in _message(r)
    names = [n["name"] for n in (await env.get(f"{N}/networks")).json()["networks"]]
    assert not {"sneaky-project_id", "sneaky-tenant_id", "two", "ghost"} & set(names)


# ---- 6. a project that still owns things is not deleted ----------------------------
async def test_deleting_a_project_that_owns_resources_is_a_conflict(env):
    pid = await _project(env, "busy")
    await _user(env, "busyuser", "busy", "member")
    r = await env.post(f"{N}/networks", {"network": {"name": "busynet"}}, who="busyuser")
    assert r.status_code == 201
    net = r.json()["network"]["id"]
    r = await env.post(f"/volume/v3/{pid}/volumes", {"volume": {"size": 1, "name": "busyvol"}}, who="busyuser")
    assert r.status_code == 202, r.text
    vol = r.json()["volume"]["id"]
    r = await env.post("/image/v2/images", {"name": "busyimg"}, who="busyuser")
    assert r.status_code == 201
    img = r.json()["id"]
    r = await env.delete(f"/identity/v3/projects/{pid}")
    assert r.status_code == 409, r.text
    msg = _message(r)
    for word in ("network", "volume", "image"):
        assert word in msg, msg
    assert (await env.get(f"/identity/v3/projects/{pid}")).status_code == 200
    assert (await env.get(f"{N}/networks/{net}", who="busyuser")).status_code == 200
    for path in (f"{N}/networks/{net}", f"/volume/v3/{pid}/volumes/{vol}", f"/image/v2/images/{img}"):
        assert (await env.delete(path, who="busyuser")).status_code in (202, 204), path
    loop = asyncio.get_running_loop()
    end = loop.time() + 10
    while (await env.get(f"/volume/v3/{pid}/volumes/{vol}", who="busyuser")).status_code != 404:
        assert loop.time() < end, "the volume was not deleted"
        await asyncio.sleep(0.05)
    r = await env.delete(f"/identity/v3/projects/{pid}")
    assert r.status_code == 204, r.text


# ---- 7. the catalog comes from the configured public URL --------------------------
async def test_a_forged_host_header_does_not_change_any_url(env):
    app = create_app(env.cloud, public_url="https://cloud.example:13000")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8774") as c:
        r = await c.post(AUTH, json=password_body("admin", "secret", "admin"),
                         headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"})
        assert r.status_code == 201
        urls = [e["url"] for c_ in r.json()["token"]["catalog"] for e in c_["endpoints"]]
        assert urls and all(u.startswith("https://cloud.example:13000/") for u in urls), urls
        tok = r.headers["X-Subject-Token"]
        for path in ("/", "/identity/v3", f"{V}/servers?limit=1", "/identity/v3/users", "/compute"):
            r = await c.get(path, headers={"Host": "evil.example", "X-Auth-Token": tok})
            assert r.status_code == 200, path
            assert "evil" not in r.text, (path, r.text[:300])
        r = await c.get(f"{V}/servers", headers={"Host": "evil.example"})
        assert r.status_code == 401 and "evil" not in r.headers["www-authenticate"]
    # without a configured URL, the address the connection reached (not the Host header)
    r = await env.http.post(AUTH, json=password_body("admin", "secret", "admin"), headers={"Host": "evil.example"})
    urls = [e["url"] for c_ in r.json()["token"]["catalog"] for e in c_["endpoints"]]
    assert all(u.startswith("http://pocketstack.test/") for u in urls), urls


# ---- 8. names refuse control, C1 and bidi-override characters ---------------------
BAD_CHARS = ["\x07", "\x1b[31m", "\x7f", "\x9b", "\u202e", "\u202a", "\u2066", "\u2069", "\u2028",
             "\ud800"]


@pytest.mark.parametrize("ch", BAD_CHARS, ids=[f"U+{ord(c[0]):04X}" for c in BAD_CHARS])
async def test_names_refuse_control_and_bidi_characters(env, ch):
    name = f"inv{ch}oice.pdf"
    pid = env.ids["project_admin"]
    cases = [(f"{V}/servers", {"server": {"name": name, "imageRef": env.ids["image"], "flavorRef": "1"}},
              "name"),
             (f"/volume/v3/{pid}/volumes", {"volume": {"size": 1, "name": name}}, "name"),
             (f"{N}/networks", {"network": {"name": name}}, "name"),
             ("/image/v2/images", {"name": name}, "name"),
             (f"{V}/os-server-groups", {"server_group": {"name": name, "policy": "affinity"}}, "name"),
             ("/identity/v3/projects", {"project": {"name": name}}, "name"),
             ("/identity/v3/users", {"user": {"name": name, "password": "x"}}, "name")]
    before = await env.state()
    for path, body, field in cases:
        r = await env.http.post(path, content=_dumps(body), headers=env.h(**{"Content-Type": "application/json"}))
        assert r.status_code == 400, (path, r.status_code, r.text[:200])
        msg = _message(r)
        if ch == "\ud800":  # not text at all: refused as the body is read
            assert "surrogate" in msg, (path, msg)
        else:
            assert field in msg and (f"U+{ord(ch[0]):04X}" in msg), (path, msg)
    assert await env.state() == before


def _dumps(obj) -> bytes:
    # json.dumps escapes lone surrogates as \\ud800 (valid JSON text); orjson would refuse them
    import json
    return json.dumps(obj).encode()


async def test_ordinary_unicode_names_still_work(env):
    for name in ("café-1", "サーバー", "x y", "ünïcødé ✓"):
        r = await env.post(f"{N}/networks", {"network": {"name": name}}, who="mia")
        assert r.status_code == 201, (name, r.text)
        assert r.json()["network"]["name"] == name
        assert (await env.delete(f"{N}/networks/{r.json()['network']['id']}", who="mia")).status_code == 204


# ---- 11. integers, nesting, microversions: 400, never 500 --------------------------
ODD_INTS = ["²", "٣", "１", "1" * 5000, "0x10", "1e3", "1_000", " ", "-", "+", "१०"]


@pytest.mark.parametrize("v", ODD_INTS, ids=[f"i{n}" for n in range(len(ODD_INTS))])
async def test_odd_integers_in_queries_are_400(env, v):
    pid = env.ids["project_admin"]
    for path in (f"{V}/servers?limit={v}", f"{V}/servers/detail?limit={v}", f"{V}/flavors?limit={v}",
                 f"{V}/flavors/detail?minRam={v}", f"{V}/flavors?minDisk={v}", f"/image/v2/images?limit={v}",
                 f"{N}/networks?limit={v}", f"/volume/v3/{pid}/volumes?limit={v}",
                 f"/volume/v3/{pid}/volumes/detail?limit={v}"):
        r = await env.get(path)
        assert r.status_code == 400, (path, r.status_code, r.text[:200])
        assert "limit" in _message(r) or "min" in _message(r), (path, _message(r))


@pytest.mark.parametrize("v", ODD_INTS + [[1], {"a": 1}, 1.5, True, 10 ** 40],
                         ids=[f"j{n}" for n in range(len(ODD_INTS) + 5)])
async def test_odd_integers_in_bodies_are_400(env, server, v):
    pid = env.ids["project_admin"]
    before = await env.state()
    cases = [(f"{V}/servers", {"server": {"name": "n", "imageRef": env.ids["image"], "flavorRef": "1",
                                          "min_count": v}}, "min_count"),
             (f"{V}/servers", {"server": {"name": "n", "imageRef": env.ids["image"], "flavorRef": "1",
                                          "max_count": v}}, "max_count"),
             (f"{V}/servers", {"server": {"name": "n", "flavorRef": "1", "block_device_mapping_v2": [
                 {"boot_index": 0, "uuid": env.ids["image"], "source_type": "image",
                  "destination_type": "volume", "volume_size": v}]}}, "volume_size"),
             (f"{V}/servers/{server}/action", {"os-getConsoleOutput": {"length": v}}, "length"),
             (f"/volume/v3/{pid}/volumes", {"volume": {"size": v}}, "size"),
             (f"{V}/flavors", {"flavor": {"name": "odd", "ram": v, "vcpus": 1, "disk": 1}}, "ram"),
             ("/image/v2/images", {"name": "odd", "min_ram": v}, "min_ram")]
    for path, body, field in cases:
        r = await env.post(path, body)
        assert r.status_code == 400, (path, field, r.status_code, r.text[:200])
        assert field in _message(r), (path, _message(r))
    assert await env.state() == before


async def test_deeply_nested_json_is_400(env):
    for depth in (50_000, 2_000, 100):
        raw = b'{"server": ' + b"[" * depth + b"]" * depth + b"}"
        for path in (f"{V}/servers", AUTH, f"{N}/networks", "/image/v2/images"):
            r = await env.http.post(path, content=raw, headers=env.h(**{"Content-Type": "application/json"}))
            assert r.status_code == 400, (depth, path, r.status_code)
            assert "nest" in _message(r) or "deep" in _message(r), _message(r)
    # a normal body is still fine at the usual depth
    r = await env.post(f"{N}/networks", {"network": {"name": "shallow"}}, who="mia")
    assert r.status_code == 201


MICROVERSIONS = [
    ("OpenStack-API-Version", "compute 2.x", 400),
    ("OpenStack-API-Version", "compute ²", 400),
    ("OpenStack-API-Version", "compute 2.٣", 400),
    ("OpenStack-API-Version", "compute " + "9" * 5000 + ".1", 400),
    ("OpenStack-API-Version", "compute 2.01", 400),
    ("OpenStack-API-Version", "compute 2.1.1", 400),
    ("OpenStack-API-Version", "compute 2.90", 406),
    ("OpenStack-API-Version", "compute 3.0", 406),
    ("X-OpenStack-Nova-API-Version", "banana", 400),
    ("X-OpenStack-Nova-API-Version", "2.²", 400),
    ("X-OpenStack-Nova-API-Version", "2.99", 406),
    ("OpenStack-API-Version", "volume 3.x", 400),
    ("OpenStack-API-Version", "volume 3.99", 406),
]


@pytest.mark.parametrize("header,value,code", MICROVERSIONS, ids=[f"v{n}" for n in range(len(MICROVERSIONS))])
async def test_malformed_microversion_headers(env, header, value, code):
    path = f"{V}/servers" if "volume" not in value else f"/volume/v3/{env.ids['project_admin']}/volumes"
    r = await env.http.get(path, headers=env.h(**{header: value.encode()}))
    assert r.status_code == code, (r.status_code, r.text[:200])
    assert _message(r)
    r = await env.http.get(path, headers=env.h(**{header: value.replace(value.split()[-1], "latest")
                                                  if " " in value else "latest"}))
    assert r.status_code == 200


# ---- 12. networks auto never picks a network without a subnet ----------------------
async def test_networks_auto_skips_a_network_without_subnet(env):
    await _project(env, "lonely")
    await _user(env, "lonelyuser", "lonely", "member")
    r = await env.post(f"{N}/networks", {"network": {"name": "no-subnet"}}, who="lonelyuser")
    assert r.status_code == 201
    r = await env.post(f"{V}/servers", {"server": {"name": "auto", "imageRef": env.ids["image"],
                                                    "flavorRef": "1", "networks": "auto"}}, who="lonelyuser")
    assert r.status_code == 202, r.text
    s = await env.wait_status(r.json()["server"]["id"], "ACTIVE", who="lonelyuser")
    assert list(s["addresses"]) == ["private"]
