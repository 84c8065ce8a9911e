"""Identity: hashing, tokens (scope, expiry, revocation), roles, isolation between projects."""
from __future__ import annotations

import asyncio
import sqlite3

import pytest

from backend.core.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from cloudhelp import wait_for


async def test_password_is_bcrypt_hashed_and_tokens_are_not_stored(cloud, config):
    tok = (await cloud.login("admin", "secret", "admin"))["token"]
    con = sqlite3.connect(config.db_path)
    (h,) = con.execute("SELECT password_hash FROM users WHERE name='admin'").fetchone()
    assert h.startswith("$2b$") and "secret" not in h
    # the rows only: a column's name (app_credentials.secret_hash) is no leak
    dump = "\n".join(line for line in con.iterdump() if line.startswith("INSERT"))
    assert tok not in dump and "secret" not in dump
    con.close()


async def test_unscoped_then_scoped(cloud):
    un = await cloud.login("admin", "secret")
    assert un["project"] is None and un["roles"] == []
    projects = await cloud.auth_projects(un["token"])
    assert [p["name"] for p in projects] == ["admin"]
    with pytest.raises(Forbidden, match="not scoped"):
        await cloud.list_servers(un["token"])
    sc = await cloud.scope(un["token"], "admin")
    assert sc["project"]["name"] == "admin"
    assert {r["name"] for r in sc["roles"]} == {"admin", "member", "reader"}
    assert sc["expires_at"] <= un["expires_at"]
    assert await cloud.list_servers(sc["token"]) == []


async def test_wrong_password_and_unknown_user_look_the_same(cloud):
    with pytest.raises(Unauthorized) as a:
        await cloud.login("admin", "nope")
    with pytest.raises(Unauthorized) as b:
        await cloud.login("ghost", "nope")
    assert a.value.message == b.value.message


async def test_revoked_token_is_refused(cloud, admin):
    other = (await cloud.login("admin", "secret", "admin"))["token"]
    await cloud.revoke_token(admin, other)
    with pytest.raises(Unauthorized, match="revoked"):
        await cloud.list_servers(other)
    assert await cloud.list_servers(admin) == []


async def test_expired_token_is_refused(tmp_path):
    from cloudhelp import make_config
    from backend.facade import Cloud
    cfg = make_config(tmp_path, token_ttl=1)
    Cloud.init(cfg, "secret")
    c = Cloud(cfg)
    await c.start()
    try:
        tok = (await c.login("admin", "secret", "admin"))["token"]
        await c.list_servers(tok)
        loop = asyncio.get_running_loop()
        end = loop.time() + 10
        while True:  # until the second has passed (a token that never expires fails here)
            try:
                await c.list_servers(tok)
            except Unauthorized as e:
                assert "expired" in e.message
                break
            assert loop.time() < end, "the token is still accepted 10 s after its 1 s expiry"
            await asyncio.sleep(0.05)
    finally:
        await c.stop()


async def test_garbage_token(cloud):
    for bad in ("", "x", "A" * 43):
        with pytest.raises(Unauthorized):
            await cloud.list_servers(bad)


async def setup_two_projects(cloud, admin):
    for p in ("alpha", "beta"):
        await cloud.create_project(admin, p)
    await cloud.create_user(admin, "alice", "pw-alice")
    await cloud.create_user(admin, "bob", "pw-bob")
    await cloud.create_user(admin, "rita", "pw-rita")
    await cloud.grant_role(admin, "alpha", "alice", "member")
    await cloud.grant_role(admin, "beta", "bob", "member")
    await cloud.grant_role(admin, "alpha", "rita", "reader")
    alice = (await cloud.login("alice", "pw-alice", "alpha"))["token"]
    bob = (await cloud.login("bob", "pw-bob", "beta"))["token"]
    rita = (await cloud.login("rita", "pw-rita", "alpha"))["token"]
    return alice, bob, rita


async def test_projects_are_isolated(cloud, admin, image, config):
    alice, bob, _ = await setup_two_projects(cloud, admin)
    s = (await cloud.create_server(alice, "mine", image, "m1.nano"))[0]
    await wait_for(cloud, alice, s["id"], "ACTIVE")
    assert [x["name"] for x in await cloud.list_servers(alice)] == ["mine"]
    assert await cloud.list_servers(bob) == []
    assert await cloud.list_servers(bob, all_projects=True) == []  # not admin: ignored
    for call in (cloud.get_server, cloud.delete_server, cloud.stop_server, cloud.list_instance_actions,
                 cloud.explain_server, cloud.get_trace, cloud.get_console_output):
        with pytest.raises(NotFound):
            await call(bob, s["id"])
    with pytest.raises(Unauthorized):
        await cloud.login("bob", "pw-bob", "alpha")  # no role there
    vol = await cloud.create_volume(alice, 1, "data")
    with pytest.raises(NotFound):
        await cloud.delete_volume(bob, vol["id"])
    assert await cloud.list_volumes(bob) == []
    ports = await cloud.list_ports(bob)
    assert ports == []
    assert (await cloud.get_server(alice, s["id"]))["status"] == "ACTIVE"
    assert len(await cloud.list_servers(admin, all_projects=True)) == 1


async def test_reader_cannot_change_anything(cloud, admin, image):
    alice, _, rita = await setup_two_projects(cloud, admin)
    s = (await cloud.create_server(alice, "mine", image, "m1.nano"))[0]
    await wait_for(cloud, alice, s["id"], "ACTIVE")
    assert [x["name"] for x in await cloud.list_servers(rita)] == ["mine"]
    for coro in (cloud.create_server(rita, "x", image, "m1.nano"), cloud.delete_server(rita, s["id"]),
                 cloud.stop_server(rita, s["id"]), cloud.reboot_server(rita, s["id"], True),
                 cloud.create_volume(rita, 1), cloud.create_network(rita, "n"),
                 cloud.create_image(rita, "i"), cloud.create_server_group(rita, "g", "affinity")):
        with pytest.raises(Forbidden, match="reader"):
            await coro
    with pytest.raises(Forbidden):
        await cloud.create_flavor(alice, "f", 1, 1, 1)
    with pytest.raises(Forbidden):
        await cloud.create_user(alice, "eve", "pw")
    assert (await cloud.get_server(alice, s["id"]))["status"] == "ACTIVE"


async def test_revoking_a_role_invalidates_tokens(cloud, admin):
    alice, _, _ = await setup_two_projects(cloud, admin)
    await cloud.list_servers(alice)
    await cloud.revoke_role(admin, "alpha", "alice", "member")
    with pytest.raises(Unauthorized, match="no longer has a role"):
        await cloud.list_servers(alice)


async def test_identity_admin_validation(cloud, admin):
    with pytest.raises(Conflict):
        await cloud.create_user(admin, "admin", "x")
    with pytest.raises(BadRequest):
        await cloud.create_user(admin, "", "x")
    with pytest.raises(BadRequest):
        await cloud.create_user(admin, "long", "p" * 100)
    with pytest.raises(NotFound):
        await cloud.grant_role(admin, "nope", "admin", "member")
    with pytest.raises(NotFound):
        await cloud.grant_role(admin, "admin", "admin", "superuser")
    with pytest.raises(Conflict):
        await cloud.create_project(admin, "admin")


async def test_init_is_idempotent(config):
    from backend.facade import Cloud
    Cloud.init(config, "secret")
    again = Cloud.init(config, "other")
    assert again["created"] == []
    c = Cloud(config)
    await c.start()
    try:
        await c.login("admin", "secret", "admin")  # password unchanged by the second init
        tok = (await c.login("admin", "secret", "admin"))["token"]
        assert [f["name"] for f in await c.list_flavors(tok)] == ["m1.nano", "m1.micro", "m1.tiny", "m1.small"]
        nets = await c.list_networks(tok)
        assert [n["name"] for n in nets] == ["private"]
        sub = await c.get_subnet(tok, nets[0]["subnets"][0])
        assert sub["cidr"] == "10.0.0.0/24"
    finally:
        await c.stop()
    import stat
    assert stat.S_IMODE(config.db_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.home.stat().st_mode) == 0o700


async def test_second_backend_on_same_home_is_refused(cloud, config):
    from backend.core.errors import AlreadyRunning
    from backend.facade import Cloud
    with pytest.raises(AlreadyRunning, match="already running"):
        await Cloud(config).start()


async def test_update_user_and_project(cloud, admin):
    alice, _, _ = await setup_two_projects(cloud, admin)
    # a user changes their own password: old tokens are revoked, the new password works
    with pytest.raises(BadRequest, match="current password"):
        await cloud.update_user(alice, "alice", password="new-pw")
    with pytest.raises(Unauthorized, match="wrong"):
        await cloud.update_user(alice, "alice", password="new-pw", original_password="guess")
    await cloud.update_user(alice, "alice", password="new-pw", original_password="pw-alice")
    with pytest.raises(Unauthorized):
        await cloud.list_servers(alice)
    with pytest.raises(Unauthorized):
        await cloud.login("alice", "pw-alice", "alpha")
    alice = (await cloud.login("alice", "new-pw", "alpha"))["token"]
    with pytest.raises(Forbidden):
        await cloud.update_user(alice, "alice", enabled=False)
    with pytest.raises(NotFound):
        await cloud.update_user(alice, "bob", password="x", original_password="pw-bob")
    await cloud.update_user(admin, "alice", enabled=False)
    with pytest.raises(Unauthorized, match="disabled"):
        await cloud.login("alice", "new-pw", "alpha")
    p = await cloud.update_project(admin, "beta", description="the b team", name="beta2")
    assert (p["name"], p["description"]) == ("beta2", "the b team")
    await cloud.update_project(admin, "beta2", enabled=False)
    with pytest.raises(Unauthorized, match="disabled"):
        await cloud.login("bob", "pw-bob", "beta2")
    with pytest.raises(Conflict):
        await cloud.update_project(admin, "admin", enabled=False)
